"""Prebuilt statements for the per-message path, run straight on SQLite's own connection.

Through SQLAlchemy a small indexed statement costs 100-250 µs of Python (execution context,
compiled-cache lookup, result set-up, a greenlet switch per driver call), while SQLite does
the work itself in about 7 µs. A message runs about ten such statements, so on SQLite the
statements the gateway runs for every message are compiled for SQLite once and executed on
the DB-API connection of the unit of work, inside its transaction, with the column types' own
bind and result processors (so values go in and come out exactly as SQLAlchemy would convert
them). On PostgreSQL, or on an SQLite connection that is not the inline one
(storage/sqlite_inline.py), the same statement goes through SQLAlchemy as usual.

Only statements with explicit columns belong here: no ORM entities, no expanding IN lists,
no Python-side column defaults (those are applied by SQLAlchemy's execution context, which
this path skips, so every inserted column is given).
"""

from __future__ import annotations

import functools
import operator
import sqlite3
from collections import namedtuple
from typing import Any

from sqlalchemy import Date, DateTime
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError

_SQLITE = sqlite.dialect(paramstyle="qmark")


def _memo(type_, processor):
    """A datetime column's converter remembers its last results: a message binds the same
    "now" several times and reads back the same few timestamps, and SQLite's datetime
    conversions (string formatting and parsing) are the dearest of the converters. Both
    directions are pure functions of a hashable value."""
    dated = processor is not None and issubclass(type_._type_affinity or object, (DateTime, Date))
    return functools.lru_cache(maxsize=512)(processor) if dated else processor


class Prepared:
    """One Core statement: compiled for SQLite once, executed inline when the unit of work allows."""

    def __init__(self, stmt, by_dialect: dict | None = None):
        """stmt: the statement (for SQLite, and for every dialect unless by_dialect names one);
        by_dialect: a dialect's own version of it (storage.db.per_dialect for INSERT ... ON CONFLICT)."""
        self.stmt, self.by_dialect = stmt, by_dialect or {}
        compiled = stmt.compile(dialect=_SQLITE)
        self.sql = compiled.string
        names = list(compiled.positiontup or ())
        binds = [compiled.binds[n] for n in names]
        if any(b.expanding for b in binds):
            raise ValueError(f"an IN list cannot be prepared here (write it with OR): {self.sql}")
        # literal values given in .values()/.where() (status="active", LIMIT 5) are binds too
        self._fixed = {
            n: b.value for n, b in zip(names, binds) if b.value is not None or not b.required
        }
        # the types' own converters (UTC datetimes, Decimal, JSON, booleans); semi-private,
        # but the same ones SQLAlchemy's compiled statement uses
        bind = [_memo(b.type, b.type._cached_bind_processor(_SQLITE)) for b in binds]
        columns = list(
            getattr(stmt, "selected_columns", None)
            or getattr(stmt, "exported_columns", None)
            or ()
        )
        result = [_memo(c.type, c.type._cached_result_processor(_SQLITE, None)) for c in columns]
        self.Row = namedtuple("Row", [c.key for c in columns], rename=True) if columns else None
        # the hot path only touches what needs work: the values by one itemgetter, then the
        # positions that have a converter
        self._values = (
            operator.itemgetter(*names)
            if len(names) > 1
            else ((lambda p, n=names[0]: (p[n],)) if names else (lambda p: ()))
        )
        self._bind_at = [(i, p) for i, p in enumerate(bind) if p is not None]
        self._result_at = [(i, p) for i, p in enumerate(result) if p is not None]

    # SQLite, inline -------------------------------------------------------------------
    def _args(self, params: dict) -> tuple | list:
        values = self._values({**self._fixed, **params} if self._fixed else params)
        if not self._bind_at:
            return values
        values = list(values)
        for i, proc in self._bind_at:
            values[i] = proc(values[i])
        return values

    def _rows(self, cursor) -> list:
        rows, make = cursor.fetchall(), self.Row._make
        if not self._result_at:
            return [make(r) for r in rows]
        out = []
        for r in rows:
            r = list(r)
            for i, proc in self._result_at:
                r[i] = proc(r[i])
            out.append(make(r))
        return out

    def _execute(self, raw, params: dict):
        args = self._args(params)
        try:
            return raw.execute(self.sql, args)
        except (
            sqlite3.Error
        ) as exc:  # the same exception SQLAlchemy would raise (IntegrityError, ...)
            raise DBAPIError.instance(self.sql, args, exc, sqlite3.Error) from exc

    # the unit of work's side ----------------------------------------------------------
    @classmethod
    def per_dialect(cls, build) -> Prepared:
        """build(insert) for each dialect's insert() (storage.db.per_dialect)."""
        from storage.db import per_dialect

        versions = per_dialect(build)
        return cls(versions["sqlite"], versions)

    async def _through_sqlalchemy(self, uow, params: dict):
        conn = await uow.session.connection()
        return await conn.execute(self.by_dialect.get(conn.dialect.name, self.stmt), params)

    async def all(self, uow, params: dict) -> list:
        raw = await uow.raw()
        if raw is None:
            return list((await self._through_sqlalchemy(uow, params)).all())
        return self._rows(self._execute(raw, params))

    async def first(self, uow, params: dict) -> Any:
        rows = await self.all(uow, params)
        return rows[0] if rows else None

    async def run(self, uow, params: dict) -> int:
        """An INSERT, UPDATE or DELETE without RETURNING; the number of rows it touched."""
        raw = await uow.raw()
        if raw is None:
            return (await self._through_sqlalchemy(uow, params)).rowcount
        return self._execute(raw, params).rowcount

    async def insert(self, uow, params: dict) -> int:
        """An INSERT of one row; its new primary key."""
        raw = await uow.raw()
        if raw is None:
            return (await self._through_sqlalchemy(uow, params)).inserted_primary_key[0]
        return self._execute(raw, params).lastrowid
