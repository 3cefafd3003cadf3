"""Group commit for SQLite: the messages that arrive together share one write transaction.

SQLite runs one write transaction at a time per database, and each one costs far more in
fixed work (BEGIN IMMEDIATE, COMMIT, a session, taking the lock from another process) than a
message's own statements. So the gateway hands each message's work to this class: the work
that queued up while one transaction ran goes into the next one, each piece in its own
SAVEPOINT, so a piece that fails is undone alone and the others still commit. Every caller
gets its result only after the COMMIT, so no reply is sent for a change that could still be
lost. Under light load a batch holds one message and this is a plain transaction per message.

The ORM session is shared by a batch: after each piece, pending ORM changes are flushed
inside its savepoint and the session is emptied (expunge_all), so the next piece reads
fresh rows and a failed piece leaves no half-made objects behind.

See https://www.sqlite.org/lang_savepoint.html (savepoints nest inside BEGIN IMMEDIATE).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, Protocol, TypeVar

from storage.fast import Transaction

log = logging.getLogger(__name__)
T = TypeVar("T")


class Batch(Transaction, Protocol):
    """What a batch needs of a unit of work (storage/uow.py): a statement's needs and a commit."""

    async def commit(self) -> None: ...


U = TypeVar("U", bound=Batch)
# a piece of work and the future its caller waits on
Piece = tuple[Callable[[U], Awaitable[Any]], asyncio.Future[Any]]
# what a piece gave: (error, None) or (None, value)
Outcome = tuple[BaseException | None, Any]
MAX_BATCH = 64  # bounds a batch: its replies wait for its COMMIT, and other processes for the lock


class GroupCommit(Generic[U]):
    """begin: opens a unit of work (Database.uow), one per batch."""

    def __init__(
        self, begin: Callable[[], AbstractAsyncContextManager[U]], max_batch: int = MAX_BATCH
    ):
        self.begin, self.max_batch = begin, max_batch
        self._queue: deque[Piece[U]] = deque()
        self._task: asyncio.Task[None] | None = None
        self.batches = self.pieces = 0  # for tests and benchmarks

    async def run(self, work: Callable[[U], Awaitable[T]]) -> T:
        """work(uow) in the next transaction, which commits before this returns (or raises)."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((work, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="group-commit")
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(len(self._queue), self.max_batch))]
            try:
                outcomes = await self._transaction(batch)
            except Exception as exc:  # the transaction itself failed: every piece of it is lost
                log.exception("a group commit of %s messages failed", len(batch))
                outcomes = [(exc, None)] * len(batch)
            except BaseException as exc:  # cancelled (shutdown): nobody may wait forever
                for _, future in [*batch, *self._queue]:
                    if not future.done():
                        future.set_exception(
                            RuntimeError("stopped before the transaction committed")
                        )
                self._queue.clear()
                raise exc
            for (_, future), (error, value) in zip(batch, outcomes, strict=True):
                if future.done():  # the caller gave up (cancelled)
                    continue
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(value)

    async def _transaction(self, batch: list[Piece[U]]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        async with self.begin() as uow:
            savepoint = await _savepoints(uow)
            for work, _ in batch:
                await savepoint("SAVEPOINT piece")
                try:
                    value = await work(uow)
                    s = uow.session
                    if s.new or s.dirty or s.deleted:
                        await s.flush()
                except Exception as exc:
                    await savepoint("ROLLBACK TO piece")
                    outcomes.append((exc, None))
                else:
                    outcomes.append((None, value))
                finally:
                    await savepoint("RELEASE piece")
                    uow.session.expunge_all()
            await uow.commit()
        self.batches += 1
        self.pieces += len(batch)
        return outcomes


async def _savepoints(uow: Transaction) -> Callable[[str], Awaitable[None]]:
    """A way to run SAVEPOINT statements: inline on SQLite's own connection when there is one."""
    raw = await uow.raw()
    if raw is not None:

        async def inline(sql: str) -> None:
            raw.execute(sql)

        return inline
    conn = await uow.session.connection()

    async def through_sqlalchemy(sql: str) -> None:
        await conn.exec_driver_sql(sql)

    return through_sqlalchemy
