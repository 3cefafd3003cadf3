"""A server with nothing to do logs nothing: the background loops (sweeper, broadcast
dispatcher, the scheduler's leadership and its sync of scheduled broadcasts) run at INFO,
many times over, in the time compressed from minutes to a second or two; at DEBUG the
scheduler's runs show."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator

import pytest

from bot import logs, scheduler, supervisor
from bot.bootstrap import services
from tests.conftest import make_settings

QUIET = {  # every loop of a process's background work, many times a second
    "FARMCHAT_MARKET__SWEEP_INTERVAL_SECONDS": "0.05",
    "FARMCHAT_BROADCAST__POLL_SECONDS": "0.05",
}
NAMED = ("sqlalchemy.engine", "aiosqlite", "alembic", "apscheduler")


@pytest.fixture
def operator_log() -> Iterator[io.StringIO]:
    """What `farmchat serve` would print to stderr, for the log level a test sets up."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, {n: logging.getLogger(n).level for n in NAMED})
    out = io.StringIO()
    yield out
    root.handlers[:], root.level = saved[0], saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


def set_up(level: str, out: io.StringIO) -> None:
    logs.setup(level)
    logging.getLogger().handlers[:] = [logs.handler(out)]


async def run_idle(sqlite_url: str, nlu_cache: str, nlu, seconds: float) -> None:
    """A process's background work, leading the scheduler, for `seconds` with nothing to do."""
    settings = make_settings(sqlite_url, nlu_cache, **QUIET)
    async with services(settings, nlu=nlu) as svc, supervisor.background(svc) as work:
        for _ in range(100):  # bounded: until this process leads
            if work.scheduler.aps is not None:
                break
            await asyncio.sleep(0.05)
        assert work.scheduler.aps is not None
        await asyncio.sleep(seconds)


@pytest.fixture
def fast_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scheduler's sync every 0.05 s instead of 30 s, its bid to lead every 0.05 s."""
    monkeypatch.setattr(scheduler, "SYNC_SECONDS", 0.05)
    monkeypatch.setattr(supervisor, "LEADER_RETRY_SECONDS", 0.05)


@pytest.mark.usefixtures("fast_scheduler")
async def test_an_idle_server_logs_nothing_again_and_again_at_info(
    sqlite_url, nlu_cache, real_nlu, operator_log
):
    set_up("INFO", operator_log)
    await run_idle(sqlite_url, nlu_cache, real_nlu, 1.5)
    lines = operator_log.getvalue().splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "INFO bot.scheduler: this process runs the scheduler"  # once, when it starts leading
    ]


@pytest.mark.usefixtures("fast_scheduler")
async def test_the_scheduler_runs_show_at_debug(sqlite_url, nlu_cache, real_nlu, operator_log):
    set_up("DEBUG", operator_log)
    await run_idle(sqlite_url, nlu_cache, real_nlu, 0.5)
    runs = [line for line in operator_log.getvalue().splitlines() if "Scheduler.sync" in line]
    assert len(runs) >= 4 and any("executed successfully" in line for line in runs)
