"""Async unit of work: one session and transaction, explicit commit, rollback on exit."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from storage import repos
from storage.db import session_factory


class UnitOfWork:
    def __init__(self, sessions: async_sessionmaker):
        self._sessions = sessions

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        await self.session.begin()
        s = self.session
        self.users = repos.Users(s)
        self.refs = repos.References(s)
        self.listings = repos.Listings(s)
        self.orders = repos.Orders(s)
        self.prices = repos.Prices(s)
        self.requests = repos.BuyRequests(s)
        self.subscriptions = repos.Subscriptions(s)
        self.conversations = repos.Conversations(s)
        self.inbound = repos.Inbound(s)
        self.outbox = repos.Outboxes(s)
        return self

    async def __aexit__(self, *exc) -> None:
        # close() rolls back whatever was not committed and detaches the objects with their
        # loaded values intact (a rollback would expire them first).
        await self.session.close()

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()


class Database:
    """The engine plus a factory of units of work; one per process."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self._sessions = session_factory(engine)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self._sessions)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def close(self) -> None:
        await self.engine.dispose()
