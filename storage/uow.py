"""Async unit of work: one session and transaction, explicit commit, rollback on exit."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage import repos, sqlite_inline
from storage.db import create_reader_engine, session_factory
from storage.group_commit import GroupCommit
from storage.pg_inline import Link

T = TypeVar("T")


class UnitOfWork:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self._sessions = sessions

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        # the inline sqlite3 connection, None when there is none; False: not looked up yet
        self._raw: sqlite3.Connection | Literal[False] | None = False
        self._link: Link | Literal[False] | None = False  # the same, of asyncpg's connection
        await self.session.begin()
        s = self.session
        self.users = repos.Users(s, self)
        self.refs = repos.References(s, self)
        self.listings = repos.Listings(s, self)
        self.orders = repos.Orders(s, self)
        self.prices = repos.Prices(s, self)
        self.requests = repos.BuyRequests(s, self)
        self.subscriptions = repos.Subscriptions(s, self)
        self.conversations = repos.Conversations(s, self)
        self.inbound = repos.Inbound(s, self)
        self.outbox = repos.Outboxes(s, self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        # close() rolls back whatever was not committed and detaches the objects with their
        # loaded values intact (a rollback would expire them first).
        await self.session.close()

    async def raw(self) -> sqlite3.Connection | None:
        """The sqlite3 connection of this transaction when statements may run on it inline
        (storage/fast.py): SQLite through storage/sqlite_inline.py; None otherwise."""
        if self._raw is False:
            conn = await self.session.connection()  # begins the transaction (BEGIN IMMEDIATE)
            sync = conn.sync_connection  # set once the transaction has begun
            driver = None if sync is None else sync.connection.driver_connection
            self._raw = driver.sqlite if isinstance(driver, sqlite_inline.Connection) else None
        return self._raw

    async def postgres(self) -> Link | None:
        """asyncpg's connection of this transaction (storage/pg_inline.py) on PostgreSQL;
        None otherwise."""
        if self._link is False:
            conn = await self.session.connection()
            self._link = Link(conn) if conn.dialect.name == "postgresql" else None
        return self._link

    async def commit(self) -> None:
        self._link = False
        self._raw = False  # the connection goes back to the pool: look it up again after
        await self.session.commit()

    async def rollback(self) -> None:
        self._link = False
        self._raw = False
        await self.session.rollback()


class Database:
    """The engine plus a factory of units of work; one per process."""

    def __init__(self, engine: AsyncEngine, transaction_pooling: bool = False):
        self.engine = engine
        # PostgreSQL through a pooler in transaction mode: no session state outlives a
        # transaction (storage/db.create_engine, storage/schedule.leader_for)
        self.transaction_pooling = transaction_pooling
        self._sessions = session_factory(engine)
        self._read_engine: AsyncEngine | None = None
        self._reader_sessions: async_sessionmaker[AsyncSession] | None = None
        # SQLite: writes that arrive together share a transaction (storage/group_commit.py)
        self.group = GroupCommit(self.uow) if engine.dialect.name == "sqlite" else None

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self._sessions)

    def reader(self) -> UnitOfWork:
        """A unit of work that only reads (the dashboard's pages and the API's GETs). On a
        SQLite file it runs off the event loop on a connection of its own, in a transaction
        that does not take the write lock (storage.db.create_reader_engine), so a long read
        delays no message; elsewhere it is an ordinary unit of work."""
        if self._reader_sessions is None:
            self._read_engine = create_reader_engine(self.engine)
            self._reader_sessions = (
                self._sessions if self._read_engine is None else session_factory(self._read_engine)
            )
        return UnitOfWork(self._reader_sessions)

    async def transact(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """work(uow), committed when this returns: in the next shared transaction on SQLite,
        in a transaction of its own on PostgreSQL. work must not commit, nor call transact."""
        if self.group is not None:
            return await self.group.run(work)
        for attempt in range(2):
            async with self.uow() as uow:
                try:
                    value = await work(uow)
                except DBAPIError as exc:
                    # the connection died under the work (a server restart, a connection cut
                    # while idle): nothing was committed, so the work runs again, once, on a
                    # new connection. Never after COMMIT was sent: that may have landed.
                    if attempt or not exc.connection_invalidated:
                        raise
                    continue
                await uow.commit()
                return value
        raise AssertionError("unreachable")  # pragma: no cover

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def close(self) -> None:
        if self._read_engine is not None:
            await self._read_engine.dispose()
        await self.engine.dispose()
