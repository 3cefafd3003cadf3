"""What timed work reads and writes: scheduled broadcasts, daily digests, expiries, the
broadcasts a shell lists, and the lock that makes one process the scheduler's leader.

Every write here is conditional, so a job that runs twice (a restart, a second process)
changes nothing the second time.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import uuid
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import select, text, update
from sqlalchemy.engine import CursorResult, make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import insert_for
from storage.models import Broadcast, BuyRequest, Subscription
from storage.uow import Database, UnitOfWork

log = logging.getLogger(__name__)
LOCK_KEY = 0x66636873  # "fchs": farmchat scheduler


async def _count(uow: UnitOfWork, stmt: Any) -> int:
    """The number of rows an UPDATE or INSERT touched."""
    return cast(CursorResult[Any], await uow.session.execute(stmt)).rowcount


# broadcasts ------------------------------------------------------------------------------
async def scheduled(uow: UnitOfWork) -> dict[int, datetime | None]:
    """Each scheduled broadcast's id and send time."""
    q = select(Broadcast.id, Broadcast.send_at).where(Broadcast.status == "scheduled")
    return dict((await uow.session.execute(q)).all())


async def fire(uow: UnitOfWork, broadcast_id: int, until: datetime) -> bool:
    """A scheduled broadcast due by `until` becomes queued; False if it was not (any more)."""
    stmt = (
        update(Broadcast)
        .where(
            Broadcast.id == broadcast_id,
            Broadcast.status == "scheduled",
            Broadcast.send_at <= until,
        )
        .values(status="queued")
    )
    return await _count(uow, stmt) == 1


async def daily_products(uow: UnitOfWork) -> list[str]:
    """The products someone has an active daily digest of, sorted."""
    q = (
        select(Subscription.product)
        .where(
            Subscription.active.is_(True),
            Subscription.mode == "daily",
            Subscription.product.is_not(None),
        )
        .distinct()
    )
    return sorted(p for p in (await uow.session.execute(q)).scalars() if p is not None)


async def add_digest(
    uow: UnitOfWork, key: str, product: str, texts: dict[str, str], now: datetime
) -> bool:
    """Queue a digest broadcast under its unique key; False if that key exists already."""
    stmt = (
        insert_for(uow.session, Broadcast)
        .values(
            kind="digest",
            key=key,
            status="queued",
            product=product,
            texts=texts,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return await _count(uow, stmt) == 1


async def recent(uow: UnitOfWork, broadcast_id: int | None = None) -> list[Broadcast]:
    """The ten newest broadcasts, or the one asked for (none if it does not exist)."""
    q = select(Broadcast).order_by(Broadcast.id.desc()).limit(10)
    if broadcast_id is not None:
        q = select(Broadcast).where(Broadcast.id == broadcast_id)
    return list((await uow.session.execute(q)).scalars())


# expiries --------------------------------------------------------------------------------
async def expire_requests(uow: UnitOfWork, now: datetime) -> int:
    """Open buy requests past their time are expired; how many."""
    stmt = update(BuyRequest).where(BuyRequest.status == "open", BuyRequest.expires_at <= now)
    return await _count(uow, stmt.values(status="expired"))


# the scheduler's leader ------------------------------------------------------------------
class Leader(Protocol):
    """A lock at most one process holds; the holder runs the scheduler."""

    async def acquire(self) -> bool: ...

    async def alive(self) -> bool: ...

    async def release(self) -> None: ...


class PostgresLeader:
    """pg_try_advisory_lock on a connection of its own, held while this process leads (the
    server drops it when the process or its connection dies)."""

    def __init__(self, db: Database):
        self.db = db
        self.conn: AsyncConnection | None = None

    async def acquire(self) -> bool:
        conn = await self.db.engine.connect()
        try:
            got = (
                await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY})
            ).scalar()
            await conn.commit()  # a session lock outlives the transaction; no idle transaction
        except Exception:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self.conn = conn
        return True

    async def alive(self) -> bool:
        if self.conn is None:
            return False
        try:
            await self.conn.execute(text("SELECT 1"))
            await self.conn.commit()
            return True
        except Exception:
            log.warning("lost the scheduler's database connection")
            return False

    async def release(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await self.conn.invalidate()  # closed, not pooled: the lock ends with the session
                await self.conn.close()
            self.conn = None


class LeaseLeader:
    """The holder of the scheduler_lease row until its lease runs out, each check renewing it
    (migration 0014): what works through a pooler in transaction mode, where a session's lock
    would stay with a server connection that serves other clients next. A process that dies
    holds it until the lease runs out (ttl seconds by PostgreSQL's clock); then another leads."""

    # taken when free or run out, renewed by its holder: one statement, one transaction
    TAKE = text(
        "UPDATE scheduler_lease SET holder = :me, expires_at = now() + make_interval(secs => :ttl)"
        " WHERE name = 'scheduler' AND (holder = :me OR expires_at < now())"
    )
    GIVE_UP = text(
        "UPDATE scheduler_lease SET holder = '', expires_at = now() - interval '1 second'"
        " WHERE name = 'scheduler' AND holder = :me"
    )

    def __init__(self, db: Database, ttl: float):
        self.db, self.ttl = db, ttl
        self.me = f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.held = False

    async def _take(self) -> bool:
        async with self.db.engine.begin() as conn:
            result = await conn.execute(self.TAKE, {"me": self.me, "ttl": self.ttl})
        return cast(CursorResult[Any], result).rowcount == 1

    async def acquire(self) -> bool:
        self.held = await self._take()
        return self.held

    async def alive(self) -> bool:
        if not self.held:
            return False
        try:
            self.held = await self._take()
        except Exception:
            log.warning("could not renew the scheduler's lease")
            self.held = False
        return self.held

    async def release(self) -> None:
        if self.held:
            self.held = False
            with contextlib.suppress(Exception):
                async with self.db.engine.begin() as conn:
                    await conn.execute(self.GIVE_UP, {"me": self.me})


class FileLeader:
    """An exclusive flock on a file beside the SQLite database; the kernel drops it at exit."""

    def __init__(self, path: str):
        self.path = path
        self.fd: int | None = None

    async def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    async def alive(self) -> bool:
        return self.fd is not None

    async def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def leader_for(db: Database, lease_seconds: float = 15) -> Leader:
    """The leader lock for the database's kind: behind a pooler in transaction mode a lease of
    lease_seconds, renewed at each check."""
    if db.dialect == "postgresql":
        return LeaseLeader(db, lease_seconds) if db.transaction_pooling else PostgresLeader(db)
    path = make_url(str(db.engine.url)).database or "farmchat.db"
    return FileLeader(f"{path}.scheduler-lock")
