"""Prebuilt statements for the per-message path, run straight on the driver's connection.

Through SQLAlchemy a small indexed statement costs 100-250 µs of Python (execution context,
compiled-cache lookup, result set-up, a greenlet switch per driver call), while SQLite does
the work itself in about 7 µs. A message runs about ten such statements, so on SQLite the
statements the gateway runs for every message are compiled for SQLite once and executed on
the DB-API connection of the unit of work, inside its transaction, with the column types' own
bind and result processors (so values go in and come out exactly as SQLAlchemy would convert
them). On PostgreSQL the same statement, compiled once for the engine's dialect, runs on
asyncpg's connection of the unit of work (storage/pg_inline.py), its result columns converted
by their types' converters for the types PostgreSQL reports. On an SQLite connection that is
not the inline one (storage/sqlite_inline.py), it goes through SQLAlchemy as usual.

Only statements with explicit columns belong here: no ORM entities, no expanding IN lists,
no Python-side column defaults (those are applied by SQLAlchemy's execution context, which
this path skips, so every inserted column is given).
"""

from __future__ import annotations

import functools
import operator
import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, cast

from sqlalchemy import Date, DateTime
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.types import TypeEngine

# TypeVar with a default: typing has it from Python 3.13; typing_extensions is SQLAlchemy's own
from typing_extensions import TypeVar

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect

    from storage.db import InsertFn
    from storage.pg_inline import Link


class Transaction(Protocol):
    """What a statement needs of a unit of work (storage/uow.py): its session, and the
    connection statements may run on inline when there is one (SQLite's own, or asyncpg's;
    None otherwise)."""

    session: AsyncSession

    async def raw(self) -> sqlite3.Connection | None: ...

    async def postgres(self) -> Link | None: ...


_SQLITE = sqlite.dialect(paramstyle="qmark")
# told of every statement run here, past SQLAlchemy's own events (storage/stats.count_work)
on_statement: Callable[[], None] | None = None

# What a statement here is: a SELECT, or an INSERT, UPDATE or DELETE (with or without RETURNING)
Statement = Select[*tuple[Any, ...]] | UpdateBase
# A statement's parameters by bind name, as SQLAlchemy's execute takes them
Params = Mapping[str, Any]
# A column type's bind or result converter
Processor = Callable[[Any], Any]
# The row a statement reads: a Protocol of its column names (storage/repos.py's), or Any
R = TypeVar("R", default=Any)


class _RowClass(Protocol):
    """A namedtuple class made at run time from a statement's column keys."""

    def _make(self, iterable: Iterable[Any]) -> tuple[Any, ...]: ...


def _memo(type_: TypeEngine[Any], processor: Processor | None) -> Processor | None:
    """A datetime column's converter remembers its last results: a message binds the same
    "now" several times and reads back the same few timestamps, and SQLite's datetime
    conversions (string formatting and parsing) are the dearest of the converters. Both
    directions are pure functions of a hashable value."""
    if processor is None or not issubclass(type_._type_affinity or object, (DateTime, Date)):
        return processor
    return functools.lru_cache(maxsize=512)(processor)


def _picker(names: list[str]) -> Callable[[Params], Sequence[Any]]:
    """The bind values in SQLite's order, by one itemgetter."""
    if len(names) > 1:
        return operator.itemgetter(*names)
    if names:
        name = names[0]
        return lambda p: (p[name],)
    return lambda p: ()


def _key(column: ColumnElement[Any], sql: str) -> str:
    """The name a column is read by (a namedtuple field, a Row attribute)."""
    if column.key is None:
        raise ValueError(f"a column without a name cannot be read by name: {sql}")
    return column.key


class _Form:
    """A statement compiled for one dialect: its SQL, how its values go in (by one itemgetter,
    then the positions that need a converter) and how its rows come out."""

    def __init__(self, stmt: Statement, dialect: Dialect, memo: bool):
        compiled = stmt.compile(dialect=dialect)
        self.sql = compiled.string
        self._dialect, self._memo = dialect, memo
        names = list(compiled.positiontup or ())
        binds = [compiled.binds[n] for n in names]
        if any(b.expanding for b in binds):
            raise ValueError(f"an IN list cannot be prepared here (write it with OR): {self.sql}")
        # literal values given in .values()/.where() (status="active", LIMIT 5) are binds too
        self._fixed = {
            n: b.value
            for n, b in zip(names, binds, strict=True)
            if b.value is not None or not b.required
        }
        # the types' own converters (UTC datetimes, Decimal, JSON, booleans); semi-private,
        # but the same ones SQLAlchemy's compiled statement uses
        bind = [self._converter(b.type, b.type._cached_bind_processor(dialect)) for b in binds]
        self.columns: list[ColumnElement[Any]] = list(
            getattr(stmt, "selected_columns", None)
            or getattr(stmt, "exported_columns", None)
            or ()
        )
        self._values = _picker(names)
        self._bind_at = [(i, p) for i, p in enumerate(bind) if p is not None]
        self._result_at: list[tuple[int, Processor]] | None = None
        self._make: Callable[[Iterable[Any]], Any] | None = None

    def _converter(self, type_: TypeEngine[Any], processor: Processor | None) -> Processor | None:
        return _memo(type_, processor) if self._memo else processor

    def read_as(self, make: Callable[[Iterable[Any]], Any] | None, types: Sequence[Any]) -> None:
        """Rows made by make, each column converted by its type's result converter for the
        driver's type code of it (SQLite: none; asyncpg: the column's type oid)."""
        result = [
            self._converter(c.type, c.type._cached_result_processor(self._dialect, t))
            for c, t in zip(self.columns, types, strict=True)
        ]
        self._make = make
        self._result_at = [(i, p) for i, p in enumerate(result) if p is not None]

    @property
    def reads_as(self) -> bool:
        return self._result_at is not None

    def args(self, params: Params) -> Sequence[Any]:
        values = self._values({**self._fixed, **params} if self._fixed else params)
        if not self._bind_at:
            return values
        converted = list(values)
        for i, proc in self._bind_at:
            converted[i] = proc(converted[i])
        return converted

    def rows(self, rows: Sequence[Sequence[Any]]) -> list[Any]:
        make = self._make
        if make is None:
            raise TypeError(f"this statement reads no rows: {self.sql}")
        if not self._result_at:
            return [make(r) for r in rows]
        out = []
        for r in rows:
            values = list(r)
            for i, proc in self._result_at:
                values[i] = proc(values[i])
            out.append(make(values))
        return out


class Prepared(Generic[R]):
    """One Core statement: compiled once per dialect, executed inline when the unit of work
    allows (SQLite's own connection, or asyncpg's through storage/pg_inline.py).

    R is the row it reads, declared where it is built (`X: Prepared[SomeRow] = Prepared(...)`):
    a namedtuple of its columns inline, SQLAlchemy's Row otherwise, both read by column name."""

    def __init__(self, stmt: Statement, by_dialect: dict[str, Statement] | None = None):
        """stmt: the statement (for SQLite, and for every dialect unless by_dialect names one);
        by_dialect: a dialect's own version of it (storage.db.per_dialect for INSERT ... ON
        CONFLICT)."""
        self.stmt, self.by_dialect = stmt, by_dialect or {}
        self._sqlite = _Form(stmt, _SQLITE, memo=True)
        self.sql = self._sqlite.sql
        columns = self._sqlite.columns
        self.Row = (
            namedtuple("Row", [_key(c, self.sql) for c in columns], rename=True)
            if columns
            else None
        )
        # the namedtuple stands for R: the same column names (storage/repos.py's Protocols)
        self._make = (
            cast("Callable[[Iterable[Any]], R]", cast(_RowClass, self.Row)._make)
            if self.Row is not None
            else None
        )
        self._sqlite.read_as(self._make, [None] * len(columns))
        self._postgres: _Form | None = None  # compiled for the engine's dialect at first use

    # SQLite, inline -------------------------------------------------------------------
    def _execute(self, raw: sqlite3.Connection, params: Params) -> sqlite3.Cursor:
        args = self._sqlite.args(params)
        if on_statement is not None:
            on_statement()
        try:
            return raw.execute(self.sql, args)
        except (
            sqlite3.Error
        ) as exc:  # the same exception SQLAlchemy would raise (IntegrityError, ...)
            raise DBAPIError.instance(self.sql, args, exc, sqlite3.Error) from exc

    # PostgreSQL, on asyncpg's connection ----------------------------------------------
    async def _on(self, link: Link, params: Params) -> tuple[list[Any], int]:
        form = self._postgres
        if form is None:
            stmt = self.by_dialect.get(link.dialect.name, self.stmt)
            form = self._postgres = _Form(stmt, link.dialect, memo=False)
        if on_statement is not None:
            on_statement()
        rows, count, attributes = await link.run(form.sql, form.args(params))
        if not form.columns:  # no RETURNING, or only the primary key PostgreSQL's INSERT adds
            return list(rows), count
        if not form.reads_as:  # the columns' types are known once it has run
            form.read_as(self._make, [a.type.oid for a in attributes])
        return form.rows(rows), count

    # the unit of work's side ----------------------------------------------------------
    @classmethod
    def per_dialect(cls, build: Callable[[InsertFn], Statement]) -> Prepared[Any]:
        """build(insert) for each dialect's insert() (storage.db.per_dialect)."""
        from storage.db import per_dialect

        versions = per_dialect(build)
        return cls(versions["sqlite"], versions)

    async def _through_sqlalchemy(
        self, uow: Transaction, params: Params
    ) -> CursorResult[*tuple[Any, ...]]:
        conn = await uow.session.connection()
        return await conn.execute(self.by_dialect.get(conn.dialect.name, self.stmt), params)

    async def all(self, uow: Transaction, params: Params) -> list[R]:
        raw = await uow.raw()
        if raw is not None:
            return cast("list[R]", self._sqlite.rows(self._execute(raw, params).fetchall()))
        link = await uow.postgres()
        if link is not None:
            return cast("list[R]", (await self._on(link, params))[0])
        rows = (await self._through_sqlalchemy(uow, params)).all()
        # SQLAlchemy's Rows are read by the same column names as the namedtuple
        return cast("list[R]", list(rows))

    async def first(self, uow: Transaction, params: Params) -> R | None:
        rows = await self.all(uow, params)
        return rows[0] if rows else None

    async def run(self, uow: Transaction, params: Params) -> int:
        """An INSERT, UPDATE or DELETE without RETURNING; the number of rows it touched."""
        raw = await uow.raw()
        if raw is not None:
            return self._execute(raw, params).rowcount
        link = await uow.postgres()
        if link is not None:
            return (await self._on(link, params))[1]
        return (await self._through_sqlalchemy(uow, params)).rowcount

    async def insert(self, uow: Transaction, params: Params) -> int:
        """An INSERT of one row; its new primary key."""
        raw = await uow.raw()
        if raw is not None:
            row_id = self._execute(raw, params).lastrowid
            assert row_id is not None, "SQLite gives the rowid of the row an INSERT has just made"
            return row_id
        link = await uow.postgres()
        if link is not None:  # compiled for PostgreSQL, an INSERT returns its primary key
            rows, _ = await self._on(link, params)
            new_id: int = rows[0][0]
            return new_id
        key = (await self._through_sqlalchemy(uow, params)).inserted_primary_key
        assert key is not None, "an INSERT's result has the primary key it inserted"
        primary: int = key[0]
        return primary
