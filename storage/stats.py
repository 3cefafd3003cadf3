"""What the database says about the service's work right now, for GET /metrics: the outbox by
channel and status, and the progress of every broadcast not yet over."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import event, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import fast
from storage.db import head_revision
from storage.models import Broadcast, Outbox

if TYPE_CHECKING:
    from storage.uow import Database, UnitOfWork

OPEN_BROADCASTS = ("queued", "sending")  # a broadcast under way (storage.broadcasts)


class OutboxCount(NamedTuple):
    channel: str
    status: str
    rows: int


class BroadcastCount(NamedTuple):
    broadcast_id: int
    kind: str
    status: str  # an outbox row's: pending, sending, sent, failed, skipped
    rows: int


class Snapshot(NamedTuple):
    outbox: list[OutboxCount]
    broadcasts: list[BroadcastCount]
    broadcasts_by_status: dict[str, int]


async def snapshot(uow: UnitOfWork) -> Snapshot:
    """The outbox's rows by (channel, status) off ix_outbox_queue, and each open broadcast's
    rows by status."""
    session = uow.session
    outbox = [
        OutboxCount(channel, status, int(n))
        for status, channel, n in (
            await session.execute(
                select(Outbox.status, Outbox.channel, func.count()).group_by(
                    Outbox.status, Outbox.channel
                )
            )
        ).all()
    ]
    by_status = {
        status: int(n)
        for status, n in (
            await session.execute(
                select(Broadcast.status, func.count()).group_by(Broadcast.status)
            )
        ).all()
    }
    open_ = (
        select(Broadcast.id, Broadcast.kind)
        .where(Broadcast.status.in_(OPEN_BROADCASTS))
        .subquery("open_broadcasts")
    )
    progress = (
        select(open_.c.id, open_.c.kind, Outbox.status, func.count())
        .join(Outbox, Outbox.broadcast_id == open_.c.id)
        .group_by(open_.c.id, open_.c.kind, Outbox.status)
    )
    broadcasts = [
        BroadcastCount(int(b), kind, status, int(n))
        for b, kind, status, n in (await session.execute(progress)).all()
    ]
    return Snapshot(outbox, broadcasts, by_status)


class Readiness(NamedTuple):
    database: bool  # reachable: a statement answered
    migrations: bool  # at the revision this code expects
    revision: str | None  # the database's (None: not migrated, or not reachable)
    expected: str | None


@functools.cache
def _expected() -> str | None:
    return head_revision()  # read off the migration scripts once


async def readiness(db: Database) -> Readiness:
    """Whether the database answers and its schema is the one this code was written for
    (`farmchat db upgrade` brings it there); never raises for a database that is down."""
    expected = _expected()
    try:
        async with db.uow() as uow:
            await uow.session.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        return Readiness(False, False, None, expected)
    try:
        async with db.uow() as uow:
            found = await uow.session.execute(text("SELECT version_num FROM alembic_version"))
            revision = found.scalar()
    except SQLAlchemyError:  # no alembic_version: never migrated
        revision = None
    return Readiness(True, revision is not None and revision == expected, revision, expected)


def count_work(
    engine: AsyncEngine, statement: Callable[[], None], commit: Callable[[], None]
) -> None:
    """statement() at every SQL statement the engine runs (storage/fast.py's inline ones on
    SQLite included), commit() at every commit it makes: what messages cost the database,
    counted by the process that sends them (bot/metrics.py)."""
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *_: statement())
    event.listen(engine.sync_engine, "commit", lambda _conn: commit())
    fast.on_statement = statement


def is_database_error(exc: BaseException) -> bool:
    """Whether an exception came from the database (for counting, where bot/ may not look
    at SQLAlchemy's types)."""
    return isinstance(exc, SQLAlchemyError)
