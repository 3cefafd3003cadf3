"""SQLite for the async engine without a thread hop per statement.

aiosqlite runs every statement on its own thread and hands the result back through the event
loop. A farmchat message makes about ten small statements; each hop costs a few hundred
microseconds of thread wake-ups and GIL hand-offs, which is far more than SQLite's own work on
an indexed row (a few microseconds). This module gives SQLAlchemy's aiosqlite dialect (through
its documented ``async_creator`` hook) a connection with aiosqlite's coroutine interface that
runs each statement directly on the event-loop thread.

The one thing that must not block the loop is waiting for another process's write lock, so the
connection runs with ``busy_timeout = 0`` and a busy statement is retried after an
``asyncio.sleep`` with backoff, up to ``busy_timeout`` seconds in all. SQLITE_BUSY means the
statement did not run, so retrying it is safe.
See https://docs.sqlalchemy.org/en/20/core/engines.html#sqlalchemy.create_engine.params.async_creator
and https://www.sqlite.org/rescode.html#busy.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any

SQLITE_BUSY = {sqlite3.SQLITE_BUSY, getattr(sqlite3, "SQLITE_LOCKED", 6)}
FIRST_WAIT, MAX_WAIT = 0.001, 0.05


def _busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in SQLITE_BUSY or "locked" in str(exc)


async def _retry_busy(call: Callable[[], Any], timeout: float) -> Any:
    """Run call(); while SQLite answers BUSY, yield to the loop and try again."""
    wait, deadline = FIRST_WAIT, None
    while True:
        try:
            return call()
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
            now = time.monotonic()
            deadline = deadline or now + timeout
            if now >= deadline:
                raise
            await asyncio.sleep(wait)
            wait = min(wait * 2, MAX_WAIT)


class Cursor:
    """aiosqlite.Cursor's interface over a sqlite3 cursor, run inline."""

    def __init__(self, cursor: sqlite3.Cursor, timeout: float):
        self._cursor, self._timeout = cursor, timeout

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        await _retry_busy(lambda: self._cursor.execute(sql, parameters), self._timeout)
        return self

    async def executemany(self, sql: str, parameters: Any) -> Cursor:
        await _retry_busy(lambda: self._cursor.executemany(sql, parameters), self._timeout)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self):
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class Connection:
    """aiosqlite.Connection's interface over a sqlite3 connection, run inline."""

    def __init__(self, conn: sqlite3.Connection, timeout: float):
        self._conn, self._timeout = conn, timeout

    @property
    def sqlite(self) -> sqlite3.Connection:
        """The sqlite3 connection itself, for statements run inside a transaction that already
        holds the write lock (storage/fast.py), where SQLITE_BUSY cannot happen."""
        return self._conn

    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn  # SQLAlchemy's adapter checks this before commit/rollback

    def cursor(self) -> Cursor:
        return Cursor(self._conn.cursor(), self._timeout)

    async def commit(self) -> None:
        await _retry_busy(self._conn.commit, self._timeout)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()

    def stop(self) -> None:
        self._conn.close()

    async def create_function(self, *args, **kwargs) -> None:
        self._conn.create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def creator(path: str, uri: bool = False, busy_timeout: float = 30.0) -> Callable[[], Awaitable[Connection]]:
    """An ``async_creator`` for create_async_engine: one inline connection to the file at path."""

    async def connect() -> Connection:
        # isolation_level=None: SQLAlchemy's "begin" event issues BEGIN IMMEDIATE itself.
        conn = sqlite3.connect(path, uri=uri, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 0")  # waiting happens in _retry_busy, off the loop
        return Connection(conn, busy_timeout)

    return connect
