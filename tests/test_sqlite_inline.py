"""The inline SQLite driver: real files, real locks between two engines, loop never blocked."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from storage import sqlite_inline
from storage.db import create_engine


async def _engine(path, **kwargs):
    engine = create_engine(f"sqlite+aiosqlite:///{path}", **kwargs)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS t (n INTEGER)"))
    return engine


async def test_statements_run_and_wal_is_on(tmp_path):
    engine = await _engine(tmp_path / "a.db")
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t VALUES (1), (2)"))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT sum(n) FROM t"))).scalar() == 3
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    await engine.dispose()


async def test_rollback_discards(tmp_path):
    engine = await _engine(tmp_path / "a.db")
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (7)"))
            raise RuntimeError("boom")
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0
    await engine.dispose()


async def test_waiting_for_another_writer_does_not_block_the_loop(tmp_path):
    """A second engine's BEGIN IMMEDIATE waits for the first writer while the loop keeps
    running."""
    path = tmp_path / "a.db"
    first, second = await _engine(path), await _engine(path)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    tick_task = asyncio.create_task(ticker())
    holding = asyncio.Event()

    async def hold_lock():
        async with first.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            holding.set()
            await asyncio.sleep(0.3)

    async def write_after():
        await holding.wait()
        start = time.monotonic()
        async with second.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (2)"))
        return time.monotonic() - start

    _, waited = await asyncio.gather(hold_lock(), write_after())
    tick_task.cancel()
    assert waited >= 0.2  # it really waited for the lock
    assert ticks >= 20  # and the loop ran other tasks meanwhile (0.3 s / 5 ms = 60 at best)
    async with second.connect() as conn:
        assert (
            await conn.execute(text("SELECT group_concat(n) FROM t ORDER BY n"))
        ).scalar() == "1,2"
    await first.dispose()
    await second.dispose()


async def test_gives_up_after_the_busy_timeout(tmp_path):
    path = tmp_path / "a.db"
    first = await _engine(path)
    second = create_engine(
        f"sqlite+aiosqlite:///{path}",
        async_creator=sqlite_inline.creator(str(path), busy_timeout=0.2),
    )
    async with first.begin() as conn:
        await conn.execute(text("INSERT INTO t VALUES (1)"))
        start = time.monotonic()
        with pytest.raises(OperationalError, match="locked"):
            async with second.begin() as conn2:
                await conn2.execute(text("INSERT INTO t VALUES (2)"))
        assert 0.15 <= time.monotonic() - start < 2
    await first.dispose()
    await second.dispose()


async def test_other_errors_are_not_retried(tmp_path):
    engine = await _engine(tmp_path / "a.db")
    start = time.monotonic()
    with pytest.raises(OperationalError, match="no such table"):
        async with engine.connect() as conn:
            await conn.execute(text("SELECT * FROM missing"))
    assert time.monotonic() - start < 0.5
    await engine.dispose()


def test_busy_detection():
    assert sqlite_inline._busy(sqlite3.OperationalError("database is locked"))
    assert not sqlite_inline._busy(sqlite3.OperationalError("no such table: x"))


async def test_a_waiting_writer_gets_the_lock_as_soon_as_it_is_let_go(tmp_path):
    """The writer-lock file hands the turn over at once (a sleeping BUSY retry took up to
    50 ms)."""
    path = tmp_path / "a.db"
    first, second = await _engine(path), await _engine(path)
    holding = asyncio.Event()
    released_at = 0.0

    async def hold_lock():
        nonlocal released_at
        async with first.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            holding.set()
            await asyncio.sleep(0.35)  # the waiter's backoff would be at its 50 ms ceiling by now
        released_at = time.monotonic()

    async def write_after():
        await holding.wait()
        async with second.begin() as conn:
            got_it = time.monotonic()
            await conn.execute(text("INSERT INTO t VALUES (2)"))
        return got_it

    _, got_it = await asyncio.gather(hold_lock(), write_after())
    assert 0 <= got_it - released_at < 0.025
    await first.dispose()
    await second.dispose()


def test_a_dead_writer_s_turn_is_released_by_the_kernel(tmp_path):
    """A process killed inside a transaction does not keep the writer lock."""
    import os
    import signal
    import subprocess
    import sys

    path = tmp_path / "a.db"
    code = (
        f"import asyncio, sys, time; sys.path.insert(0, {os.getcwd()!r})\n"
        "from sqlalchemy import text\nfrom storage.db import create_engine\n"
        "async def main():\n"
        f"    e = create_engine('sqlite+aiosqlite:///{path}')\n"
        "    async with e.begin() as c:\n"
        "        await c.execute(text('CREATE TABLE IF NOT EXISTS t (n INTEGER)'))\n"
        "    async with e.begin() as c:\n"
        "        await c.execute(text('INSERT INTO t VALUES (1)'))\n"
        "        print('holding', flush=True); time.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None  # stdout=PIPE
        assert proc.stdout.readline().strip() == "holding"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

        async def write():
            engine = create_engine(
                f"sqlite+aiosqlite:///{path}",
                async_creator=sqlite_inline.creator(str(path), busy_timeout=2),
            )
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES (2)"))
            async with engine.connect() as conn:
                values = (await conn.execute(text("SELECT group_concat(n) FROM t"))).scalar()
            await engine.dispose()
            return values

        assert asyncio.run(write()) == "2"  # the killed transaction's row is gone, the lock too
    finally:
        proc.kill()
