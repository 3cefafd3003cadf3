"""Tables in memory with the database's rules for rows, and transactions over them.

Rows live in dicts, one per table, as the database keeps them (quantities to 3 places,
prices to the cent, JSON as JSON). A transaction reads and writes its own copy and makes it
the store's on commit; leaving without a commit loses what it did. Objects read in a
transaction are the ORM model classes, one object per row (as an identity map keeps them); a
change made to one is written when the transaction commits or an add flushes (only the
attributes that changed), and a query filters on the rows as written so far, as SQL would.
Messages run one after another here: two transactions open at once do not wait for each
other as SQLite's writers do, the later commit simply wins.
"""

from __future__ import annotations

import copy
import json
from collections import namedtuple
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from storage.models import (
    Base,
    Broadcast,
    BuyRequest,
    Conversation,
    InboundLog,
    Listing,
    MarketPrice,
    Order,
    Outbox,
    Reference,
    Subscription,
    User,
)

M = TypeVar("M", bound=Base)
Row = dict[str, Any]
MODELS: tuple[type[Base], ...] = (
    User,
    Reference,
    Listing,
    Order,
    MarketPrice,
    Subscription,
    BuyRequest,
    Conversation,
    InboundLog,
    Outbox,
    Broadcast,
)
# the unique constraints a second row would break (users.channel+address, the dedupe key)
UNIQUE = {"users": ("channel", "address"), "inbound_messages": ("channel", "message_id")}


class Duplicate(Exception):
    """A row with the same unique key exists (the database's IntegrityError)."""


def _table(model: type[Base]) -> str:
    return str(model.__tablename__)


def _columns(model: type[Base]) -> list[str]:
    return [c.key for c in model.__table__.c]


def _key_column(model: type[Base]) -> str:
    return next(c.key for c in model.__table__.c if c.primary_key)


def _stored(model: type[Base], column: str, value: Any) -> Any:
    """A value as the column keeps it: Numeric rounded to its scale (half up, as PostgreSQL
    does; handlers round before writing, so SQLite's float never sees an exact half), JSON
    as JSON."""
    kind = model.__table__.c[column].type
    scale = getattr(kind, "scale", None)
    if isinstance(value, Decimal) and scale is not None:
        return value.quantize(Decimal(1).scaleb(-scale), ROUND_HALF_UP)
    if isinstance(value, dict | list):
        return json.loads(json.dumps(value))  # what a JSON column can hold, and a copy
    return value


_LIGHT: dict[str, Any] = {}


def light(model: type[Base], row: Row) -> Any:
    """A read-only row with the table's columns as fields (what a prepared SELECT returns)."""
    name = _table(model)
    if name not in _LIGHT:
        _LIGHT[name] = namedtuple(f"{model.__name__}Row", _columns(model))
    return _LIGHT[name](**{c: row.get(c) for c in _columns(model)})


class Store:
    """The committed rows of every table."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Any, Row]] = {_table(m): {} for m in MODELS}

    def rows(self, model: type[Base]) -> list[Any]:
        """A table's committed rows, in key order, as model objects (for assertions)."""
        table = self.tables[_table(model)]
        return [model(**copy.deepcopy(table[k])) for k in sorted(table)]


class Transaction:
    """One transaction: its own copy of the rows, committed whole or not at all."""

    def __init__(self, store: Store):
        self._store = store

    async def __aenter__(self) -> Transaction:
        self._begin()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._objects.clear()

    @property
    def session(self) -> Any:
        raise AttributeError(
            "the in-memory market runs no SQL: read and write through a repository"
        )

    async def raw(self) -> None:
        return None  # no SQLite connection to run statements on

    async def postgres(self) -> None:
        return None  # nor asyncpg's

    async def commit(self) -> None:
        self.flush()
        self._store.tables = copy.deepcopy(self._rows)

    async def rollback(self) -> None:
        self._begin()

    def _begin(self) -> None:
        self._rows = copy.deepcopy(self._store.tables)
        self._objects: dict[tuple[str, Any], Base] = {}
        self._loaded: dict[tuple[str, Any], Row] = {}  # each object's values as last written

    # rows ---------------------------------------------------------------------------------
    def table(self, model: type[Base]) -> dict[Any, Row]:
        return self._rows[_table(model)]

    def where(self, model: type[Base], test: Callable[[Row], bool]) -> list[Row]:
        """The rows that pass test, in key order (SQLite's order of a table scan)."""
        rows = self.table(model)
        return [rows[k] for k in sorted(rows) if test(rows[k])]

    def insert(self, model: type[Base], values: Row) -> Any:
        """Write a new row (columns not given are NULL); its key."""
        rows, key_col = self.table(model), _key_column(model)
        row = {c: _stored(model, c, values.get(c)) for c in _columns(model)}
        if row[key_col] is None:
            row[key_col] = max(rows, default=0) + 1
        unique = UNIQUE.get(_table(model))
        if unique and any(all(r[c] == row[c] for c in unique) for r in rows.values()):
            raise Duplicate(f"{_table(model)}: {[row[c] for c in unique]}")
        if row[key_col] in rows:
            raise Duplicate(f"{_table(model)}: {row[key_col]}")
        rows[row[key_col]] = row
        return row[key_col]

    def update(
        self, model: type[Base], rows: Iterable[Row], sync: bool = True, **change: Any
    ) -> int:
        """Set columns of rows (a value, or a function of the row); how many rows changed.
        sync: objects already read see the new values (an ORM UPDATE does, a prepared one not)."""
        count = 0
        for row in list(rows):
            for column, value in change.items():
                row[column] = _stored(model, column, value(row) if callable(value) else value)
            if sync:
                self._refresh(model, row, change)
            count += 1
        return count

    def _refresh(self, model: type[Base], row: Row, columns: Iterable[str]) -> None:
        key = (_table(model), row[_key_column(model)])
        obj = self._objects.get(key)
        for column in columns if obj is not None else ():
            setattr(obj, column, row[column])
            self._loaded[key][column] = row[column]

    # objects ------------------------------------------------------------------------------
    def load(self, model: type[M], key: Any) -> M | None:
        """The object for a row (the same one each time in this unit of work), or None."""
        found = self._objects.get((_table(model), key))
        if found is not None:
            return found  # type: ignore[return-value]
        row = self.table(model).get(key)
        return None if row is None else self._track(model(**copy.deepcopy(row)))

    def select(self, model: type[M], test: Callable[[Row], bool]) -> list[M]:
        found = (self.load(model, r[_key_column(model)]) for r in self.where(model, test))
        return [x for x in found if x is not None]

    def add(self, obj: M) -> M:
        """Insert obj with its model's defaults (as a flush would) and keep it as loaded."""
        model = type(obj)
        for column in model.__table__.c:
            default = column.default
            if getattr(obj, column.key) is None and default is not None and default.is_scalar:
                setattr(obj, column.key, default.arg)
        key = self.insert(model, {c: getattr(obj, c) for c in _columns(model)})
        setattr(obj, _key_column(model), key)
        return self._track(obj)

    def _track(self, obj: M) -> M:
        model = type(obj)
        key = (_table(model), getattr(obj, _key_column(model)))
        self._objects[key] = obj
        self._loaded[key] = {c: _stored(model, c, getattr(obj, c)) for c in _columns(model)}
        return obj

    def flush(self) -> None:
        """Write what changed on the objects read or added (only the changed attributes)."""
        for (table, key), obj in self._objects.items():
            model, before = type(obj), self._loaded[(table, key)]
            row = self._rows[table].get(key)
            for column in _columns(model):
                now = _stored(model, column, getattr(obj, column))
                if row is not None and now != before[column]:
                    row[column] = before[column] = now
