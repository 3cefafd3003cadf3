"""The unit tier's conversations over a real SQLite file (FARMCHAT_UNIT_DB=sqlite): the same
faces as the in-memory market, so every conversation test also checks the fake's answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db import create_engine, upgrade
from storage.models import Base
from storage.uow import Database


class SqliteMarket(Database):
    """storage.uow.Database over a migrated file, with the rows readable for assertions."""

    def __init__(self, path: Path):
        super().__init__(create_engine(f"sqlite+aiosqlite:///{path}"))
        self._reader = create_sync_engine(f"sqlite:///{path}")

    async def __aenter__(self) -> SqliteMarket:
        await upgrade(self.engine)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._reader.dispose()
        await self.close()

    def rows(self, model: type[Base]) -> list[Any]:
        """A table's committed rows in key order, as model objects."""
        key = [c for c in model.__table__.c if c.primary_key]
        with Session(self._reader) as s:
            return list(s.scalars(select(model).order_by(*key)))
