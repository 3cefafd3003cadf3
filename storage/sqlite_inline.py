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

Backoff alone is unfair under load: a process that commits and begins again at once keeps the
lock while the others sleep, so a second serve worker got a quarter of the first one's share.
So every transaction first takes its turn at ``<database>-writer.lock`` with flock(2): free,
it costs one system call; taken, a thread waits in the kernel, which wakes it the moment the
holder commits or rolls back (or dies: the kernel drops a dead process's flock). BEGIN
IMMEDIATE and its BUSY retry still guard against writers that do not use the lock file.
See https://man7.org/linux/man-pages/man2/flock.2.html.
See https://docs.sqlalchemy.org/en/20/core/engines.html#sqlalchemy.create_engine.params.async_creator
and https://www.sqlite.org/rescode.html#busy.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
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

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        await _retry_busy(lambda: self._cursor.execute(sql, parameters), self._timeout)
        return self

    async def executemany(self, sql: str, parameters: Any) -> Cursor:
        await _retry_busy(lambda: self._cursor.executemany(sql, parameters), self._timeout)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:  # DB-API: a tuple of 7-tuples per column, or None
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


class WriterTurn:
    """One connection's place in the line for the database's write lock (flock on a side file)."""

    def __init__(self, path: str):
        self._fd = os.open(f"{path}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
        self.held = False

    async def acquire(self, timeout: float) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            await self._wait(timeout)
        self.held = True

    async def _wait(self, timeout: float) -> None:
        gave_up = threading.Event()

        def wait() -> bool:  # in a thread: the kernel wakes it when the holder lets go
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            if gave_up.is_set():
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                return False
            return True

        turn = asyncio.get_running_loop().run_in_executor(None, wait)
        try:
            await asyncio.wait_for(asyncio.shield(turn), timeout)
        except BaseException as exc:  # timed out or cancelled: whenever the turn comes, pass it on
            gave_up.set()

            def pass_on(done: asyncio.Future[bool]) -> None:
                if done.result():
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

            turn.add_done_callback(pass_on)
            if isinstance(exc, asyncio.TimeoutError):
                raise sqlite3.OperationalError(
                    "database is locked (waited for the writer lock)"
                ) from None
            raise

    def release(self) -> None:
        if self.held:
            self.held = False
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self.release()
        os.close(self._fd)


class Connection:
    """aiosqlite.Connection's interface over a sqlite3 connection, run inline."""

    def __init__(self, conn: sqlite3.Connection, timeout: float, turn: WriterTurn | None = None):
        self._conn, self._timeout, self._turn = conn, timeout, turn

    async def begin_immediate(self) -> None:
        """BEGIN IMMEDIATE after this connection's turn at the writer lock."""
        if self._turn is not None:
            await self._turn.acquire(self._timeout)
        try:
            await _retry_busy(lambda: self._conn.execute("BEGIN IMMEDIATE"), self._timeout)
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        if self._turn is not None:
            self._turn.release()

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
        self._release()

    async def rollback(self) -> None:
        try:
            self._conn.rollback()
        finally:
            self._release()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        try:
            self._conn.close()
        finally:
            if self._turn is not None:
                self._turn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def creator(
    path: str, uri: bool = False, busy_timeout: float = 30.0
) -> Callable[[], Awaitable[Connection]]:
    """An ``async_creator`` for create_async_engine: one inline connection to the file at path."""

    async def connect() -> Connection:
        # isolation_level=None: SQLAlchemy's "begin" event issues BEGIN IMMEDIATE itself.
        conn = sqlite3.connect(path, uri=uri, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 0")  # waiting happens in _retry_busy, off the loop
        return Connection(conn, busy_timeout, None if uri else WriterTurn(path))

    return connect
