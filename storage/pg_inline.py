"""PostgreSQL's side of storage/fast.py: a prebuilt statement run on asyncpg's own connection.

Through SQLAlchemy a small statement costs a few hundred µs of Python in the worker (execution
context, compiled-cache lookup, result set-up, a greenlet switch per driver call): on the
2-core test machine most of a message's CPU in the worker. Here the statement compiled once
for the engine's dialect is handed straight to the connection that SQLAlchemy's asyncpg
adapter holds for the unit of work, inside its transaction (begun as the adapter would),
through the adapter's own cache of prepared statements (none kept with
`database.transaction_pooling`, as for SQLAlchemy's statements). A failure is raised as
SQLAlchemy would raise it, and a lost connection is invalidated as SQLAlchemy would.

This leans on the adapter's semi-private parts (`_transaction`, `_start_transaction`,
`_prepare`, `_execute_mutex`, `_handle_exception`), which tests/test_dependencies.py checks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

try:  # SQLAlchemy 2.1
    from sqlalchemy.util.concurrency import greenlet_spawn
except ImportError:  # pragma: no cover - SQLAlchemy 2.0
    from sqlalchemy.util import greenlet_spawn

# the rows a command touched, from its status ("UPDATE 3", "INSERT 0 1", "DELETE 1")
_COUNT = re.compile(r"(?:SELECT|UPDATE|DELETE|INSERT \d+) (\d+)")


class Link:
    """The unit of work's asyncpg connection, as SQLAlchemy's adapter holds it."""

    def __init__(self, conn: AsyncConnection):
        sync = conn.sync_connection
        assert sync is not None, "a unit of work's connection is begun before it is used"
        self._sync = sync
        self._adapted: Any = sync.connection.dbapi_connection
        self.dialect = sync.dialect

    async def run(self, sql: str, args: Sequence[Any]) -> tuple[list[Any], int, list[Any]]:
        """(rows, rows touched, the result's column attributes) of one statement."""
        adapted = self._adapted
        async with adapted._execute_mutex:
            try:
                if adapted._transaction is None:  # BEGIN, as the adapter's first statement does
                    await adapted._start_transaction()
                stmt, attributes = await adapted._prepare(
                    sql, adapted._invalidate_schema_cache_asof
                )
                rows = await stmt.fetch(*args)
            except Exception as error:
                await self._raise(error, sql, args)
                raise  # pragma: no cover - _raise always raises
        found = _COUNT.match(stmt.get_statusmsg() or "")
        return rows, int(found.group(1)) if found else -1, attributes

    async def _raise(self, error: Exception, sql: str, args: Sequence[Any]) -> None:
        """Raise what SQLAlchemy would: its exception class for the driver's error (an
        IntegrityError for a unique violation), the connection invalidated if it was lost."""

        def translate() -> None:
            try:
                self._adapted._handle_exception(error)  # the DB-API error the adapter raises
            except Exception as dbapi_error:
                self._sync._handle_dbapi_exception(dbapi_error, sql, tuple(args), None, None)
            raise error  # pragma: no cover - both of the above raise

        await greenlet_spawn(translate)  # invalidating a connection closes it, from a greenlet
