"""Engine, sessions and schema migrations (Alembic) for SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql._typing import _DMLTableArgument

try:  # SQLAlchemy 2.1 (await_only is its older name)
    from sqlalchemy.util.concurrency import await_ as await_only
except ImportError:  # pragma: no cover - SQLAlchemy 2.0
    from sqlalchemy.util import await_only

from storage import sqlite_inline

MIGRATIONS = Path(__file__).parent / "migrations"
# PostgreSQL's pool, per process (database.pool_size, database.max_overflow): connections kept
# open, and more opened under a burst and closed when it ends
POOL_SIZE, MAX_OVERFLOW = 16, 0
# a pooled connection idle this long is pinged before it is used again
PING_AFTER_IDLE_SECONDS = 10.0
S = TypeVar("S")
# INSERT ... ON CONFLICT of either dialect, and the insert() that makes one
Upsert = postgresql.Insert | sqlite.Insert
InsertFn = Callable[[_DMLTableArgument], Upsert]


class SchemaError(Exception):
    """The database schema is missing or older than this version of farmchat."""


class _SQLiteConnection(Protocol):
    """The DB-API connection SQLite's drivers hand to the "connect" event."""

    isolation_level: str | None

    def cursor(self) -> DBAPICursor: ...


def _sqlite_pragmas(dbapi_connection: _SQLiteConnection, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite/aiosqlite would defer it);
    # see https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl
    if dbapi_connection.isolation_level is not None:  # the inline driver connects with None
        dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin_immediate(conn: Connection) -> None:
    # BEGIN IMMEDIATE takes the write lock up front, so concurrent writers queue on
    # busy_timeout instead of failing with SQLITE_BUSY when a read turns into a write.
    driver = conn.connection.driver_connection
    if isinstance(driver, sqlite_inline.Connection):  # its turn at the writer lock first
        try:
            await_only(
                driver.begin_immediate()
            )  # in SQLAlchemy's greenlet: the loop runs meanwhile
        except (
            sqlite3.Error
        ) as exc:  # as exec_driver_sql would raise it (OperationalError: locked)
            raise DBAPIError.instance("BEGIN IMMEDIATE", (), exc, sqlite3.Error) from exc
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(
    url: str,
    transaction_pooling: bool = False,
    pool_size: int = POOL_SIZE,
    max_overflow: int = MAX_OVERFLOW,
    **kwargs: Any,
) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys, serialized writes and no thread hops;
    PostgreSQL gets a pool of pool_size connections (and max_overflow more in a burst), and
    behind a pooler in transaction mode keeps no prepared statement."""
    # statements' values are users' numbers and words: never in an exception's text or a log
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        # One connection per process: SQLite runs one write transaction at a time anyway, and
        # queueing for the pool is FIFO and prompt, whereas connections competing for the
        # write lock sleep in SQLite's busy handler (up to 100 ms a try), a convoy under load.
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", 60)
        path = make_url(url).database
        if path and path != ":memory:" and "async_creator" not in kwargs:
            kwargs["async_creator"] = sqlite_inline.creator(path)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
        return engine
    if transaction_pooling:
        # A pooler in transaction mode (PgBouncer's pool_mode = transaction) gives each
        # transaction whichever server connection is free: a statement prepared and kept on one
        # is unknown on the next, and a kept name may be taken there by another client. So none
        # is kept, by asyncpg or by SQLAlchemy, and none is named.
        kwargs["connect_args"] = {
            **kwargs.get("connect_args", {}),
            "statement_cache_size": 0,
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": _statement_name,
        }
    idle = kwargs.pop("ping_after_idle_seconds", PING_AFTER_IDLE_SECONDS)
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=max_overflow, **kwargs)
    _ping_after_idle(engine, idle)
    return engine


def _ping_after_idle(engine: AsyncEngine, seconds: float) -> None:
    """Ask a pooled connection whether it is alive only when it has lain idle for `seconds`:
    one in steady use has just answered, and SQLAlchemy's pool_pre_ping would cost three
    round trips (BEGIN, a ping, ROLLBACK) at every checkout. A dead one is replaced before
    use; one that dies between its last use and the next is found by the statement, and
    Database.transact runs the work again on a new connection."""

    def checkin(_dbapi: object, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    def checkout(dbapi: Any, record: ConnectionPoolEntry, _proxy: object) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < seconds:
            return
        try:
            engine.dialect.do_ping(dbapi)
        except Exception as exc:  # the pool opens a new connection in its place
            raise DisconnectionError("the pooled connection did not answer") from exc

    event.listen(engine.sync_engine, "checkin", checkin)
    event.listen(engine.sync_engine, "checkout", checkout)


def _statement_name() -> str:
    """The unnamed statement: each Parse replaces the one before on its server connection, in
    the transaction that uses it, so none is left behind (a named one would stay on whichever
    server connection prepared it, its Close sent later perhaps to another)."""
    return ""


def _reader_pragmas(dbapi_connection: _SQLiteConnection, _record: ConnectionPoolEntry) -> None:
    dbapi_connection.isolation_level = None  # BEGIN comes from the "begin" event below
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only = ON")  # a write here is a bug: refuse it
    cursor.execute("PRAGMA busy_timeout = 5000")  # in the connection's thread, not the loop's
    cursor.close()


def _sqlite_begin_deferred(conn: Connection) -> None:
    # A deferred transaction that only reads never takes the write lock: in WAL mode it reads
    # one snapshot beside the writer. https://www.sqlite.org/wal.html#concurrency
    conn.exec_driver_sql("BEGIN")


def create_reader_engine(engine: AsyncEngine) -> AsyncEngine | None:
    """For a SQLite file: an engine for long reads (the dashboard's), whose statements run on
    aiosqlite's own thread per connection, in read-only transactions that never take the write
    lock, so that a page's SQL neither stops the event loop nor holds up the messages' writes.
    None for PostgreSQL (its reads never block writers) and in-memory SQLite (one connection)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    reader = create_async_engine(
        url.set(drivername="sqlite+aiosqlite"),
        pool_size=2,
        max_overflow=0,
        pool_timeout=60,
        hide_parameters=True,
    )
    event.listen(reader.sync_engine, "connect", _reader_pragmas)
    event.listen(reader.sync_engine, "begin", _sqlite_begin_deferred)
    return reader


# the two dialects with INSERT ... ON CONFLICT
INSERTS: dict[str, InsertFn] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def insert_for(session: AsyncSession, table: _DMLTableArgument) -> Upsert:
    """The INSERT of the session's dialect (it has on_conflict_do_nothing / _do_update)."""
    bind = session.bind
    if bind is None:
        raise RuntimeError("the session is not bound to a database")
    return INSERTS[bind.dialect.name](table)


def per_dialect(build: Callable[[InsertFn], S]) -> dict[str, S]:
    """A statement built once per dialect from that dialect's insert(); look it up by
    session.bind.dialect.name on a hot path instead of building it per call."""
    return {name: build(insert) for name, insert in INSERTS.items()}


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    """The newest migration (None only for a tree without any)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _upgrade(conn: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current_revision)


MIGRATION_LOCK = 0x6661726D  # "farm": the advisory lock migrations on PostgreSQL hold


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration (creates it on an empty database). On
    PostgreSQL the migration runs under a transaction-scoped advisory lock (which a pooler in
    transaction mode keeps too), so hosts that start together on one database migrate it once:
    the others wait, then find it current."""
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        await conn.run_sync(_upgrade)


async def ensure_schema(engine: AsyncEngine, auto_upgrade: bool) -> None:
    """Upgrade when allowed; otherwise refuse to run on an old schema with a clear message."""
    if await current_revision(engine) == head_revision():
        return
    if not auto_upgrade:
        raise SchemaError(
            "the database schema is not up to date; run `farmchat db upgrade` "
            "(or set database.auto_upgrade: true)"
        )
    await upgrade(engine)
