"""Stopping `farmchat serve` with two workers, on SQLite and PostgreSQL, in the middle of a
broadcast: SIGTERM to the supervisor, or to every process at once (systemd's default
KillMode), exits 0 with nothing raised; the send in flight finishes and is recorded, and rows
claimed but not sent go back to pending. A worker that crashes still fails the supervisor."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.fakes.twilio import FakeTwilio
from storage.models import Outbox
from storage.uow import Database
from tests.test_broadcast_process import (
    SID,
    TOKEN,
    queue_broadcast,
    received,
    seed,
    server_env,
    until,
)
from tests.test_cli import free_port, get_health

HANG = 3.0  # seconds the fake holds one send: SIGTERM comes while it is in flight
# what a clean stop never prints
TROUBLE = (
    "Traceback",
    " ERROR ",
    "Exception closing connection",
    "already running",
    "Task was destroyed",
    "Event loop is closed",
    "Unclosed",
    "never awaited",
    "Exception ignored",
)


class Serve:
    """`farmchat serve` with server.workers: 2, its output in a file."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path, port: int):
        self.proc, self.log, self.port = proc, log, port
        self._seen: set[int] = set()

    @classmethod
    async def launch(cls, env: dict[str, str], log: Path) -> Serve:
        with open(log, "wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "serve", env=env, stdout=out, stderr=out
            )
        return cls(proc, log, int(env["FARMCHAT_SERVER__PORT"]))

    @classmethod
    async def start(cls, env: dict[str, str], log: Path) -> Serve:
        """Launched, and both workers answering (or killed)."""
        serve = await cls.launch(env, log)
        try:
            await until(serve.answering, "both workers answering", 90)
        except BaseException:
            serve.kill()
            raise
        return serve

    async def answering(self) -> bool:
        """Whether each worker has answered a health check by now."""
        health = await get_health(self.port)  # a new connection: either worker may take it
        if health:
            self._seen.add(health["worker"])
        return self._seen == {0, 1}

    def workers(self) -> dict[int, int]:
        """Worker number: pid, from the supervisor's children."""
        pid = self.proc.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        found = {}
        for child in children:
            with contextlib.suppress(OSError, ValueError):  # not a worker, or gone
                argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
                found[int(argv[argv.index(b"--worker") + 1])] = int(child)
        return found

    def signal_all(self, sig: int) -> None:
        """sig to the supervisor and its workers at once, as systemd's KillMode=control-group."""
        for pid in [self.proc.pid, *self.workers().values()]:
            os.kill(pid, sig)

    async def wait(self) -> int:
        return await asyncio.wait_for(self.proc.wait(), 120)

    def kill(self) -> None:
        """SIGKILL whatever is left (a failed test), the workers first."""
        if self.proc.returncode is not None:
            return  # it reaped its workers
        pids = [self.proc.pid]
        with contextlib.suppress(OSError):
            pids[:0] = self.workers().values()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def two_workers(db_url: str, nlu_cache: str, fake: FakeTwilio, tmp_path: Path) -> dict:
    return server_env(
        db_url,
        nlu_cache,
        fake,
        FARMCHAT_SERVER__WORKERS="2",
        FARMCHAT_BROADCAST__RATES='{"sms": 40}',
        FARMCHAT_BROADCAST__CONCURRENCY="4",
        # the held send is not stale: it is never sent twice
        FARMCHAT_BROADCAST__CLAIM_TIMEOUT_SECONDS="120",
        FARMCHAT_DASHBOARD__KEY_FILE=str(tmp_path / "session.key"),
    )


async def held(fake: FakeTwilio) -> str | None:
    """The recipient of the send the fake holds (received, not yet answered)."""
    waiting = [dict(a["form"])["To"] for a in fake.attempts if "status" not in a]
    return waiting[0] if waiting else None


async def outbox(db: Database) -> dict[str, str]:
    """Each broadcast row's status, by recipient."""
    async with db.uow() as uow:
        rows = await uow.session.execute(select(Outbox.address, Outbox.status))
        return dict(rows.all())


def assert_clean(output: str) -> None:
    found = [marker for marker in TROUBLE if marker in output]
    assert not found, f"{found} in:\n{output[-4000:]}"


async def _sent(fake: FakeTwilio, n: int) -> bool:
    return len(fake.messages) >= n


async def _logged(serve: Serve, text: str) -> bool:
    return text in serve.output()


@pytest.mark.parametrize("to", ["supervisor", "every process"])
async def test_sigterm_finishes_the_send_in_flight_and_hands_back_the_rest(
    db_url, to, nlu_cache, real_nlu, tmp_path
):
    db, everyone = await seed(db_url, 400, opted_out_every=1)  # nobody opted out
    await queue_broadcast(db)
    async with FakeTwilio(SID, TOKEN) as fake:
        serve = await Serve.start(two_workers(db_url, nlu_cache, fake, tmp_path), tmp_path / "log")
        try:
            await until(lambda: _sent(fake, 20), "20 sent", 60)
            fake.hang_next(HANG)
            in_flight = await until(lambda: held(fake), "a send held by the fake", 30)
            if to == "every process":
                assert len(serve.workers()) == 2
                serve.signal_all(signal.SIGTERM)
            else:
                os.kill(serve.proc.pid, signal.SIGTERM)
            assert await held(fake) == in_flight  # the signals came while it was held
            code = await serve.wait()
        finally:
            serve.kill()
    output = serve.output()
    assert code == 0, output[-4000:]
    assert_clean(output)
    rows = await outbox(db)
    await db.close()
    assert set(rows) == everyone  # nothing lost
    assert rows[in_flight] == "sent"  # finished and recorded during the stop
    assert set(rows.values()) == {"sent", "pending"}  # none left "sending"; the rest to send
    got = received(fake)
    assert {to for to, status in rows.items() if status == "sent"} == set(got)
    assert set(got.values()) == {1}


async def test_sigterm_to_every_process_during_start_up_stops_cleanly(
    db_url, nlu_cache, real_nlu, tmp_path
):
    async with FakeTwilio(SID, TOKEN) as fake:
        env = two_workers(db_url, nlu_cache, fake, tmp_path)
        serve = await Serve.launch(env, tmp_path / "log")
        try:
            # written by the first worker's create_app: then its services start, the NLU model
            # loads and the database opens, while the other worker is not far behind
            await until(lambda: _logged(serve, "made a session key"), "a worker starting", 60)
            serve.signal_all(signal.SIGTERM)
            code = await serve.wait()
        finally:
            serve.kill()
    output = serve.output()
    assert code == 0, output[-4000:]
    assert_clean(output)
    assert await get_health(serve.port) is None


# a worker whose start-up fails just as the stop signal arrives: the signal's handler runs
# after the failure has stopped the loop, so aiohttp's run_app meets the stop while unwinding
FAILING_START = """
import asyncio, os, signal, sys
from aiohttp import web
import bot.app, bot.cli

def create_app(settings, **_):
    app = web.Application()

    async def failing(app):
        asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGTERM)
        raise RuntimeError("the database went away")

    app.on_startup.append(failing)
    return app

bot.app.create_app = create_app
sys.exit(bot.cli.main(["serve"]))
"""


def test_a_stop_that_meets_a_failed_start_up_exits_cleanly_and_says_what_failed(
    sqlite_url, tmp_path
):
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "FARMCHAT_DATABASE__URL": sqlite_url,
        "FARMCHAT_SERVER__PORT": str(free_port()),
    }
    done = subprocess.run(
        [sys.executable, "-c", FAILING_START], env=env, capture_output=True, text=True, timeout=60
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "stopped while starting" in output and "the database went away" in output, output
    assert "Traceback" not in output, output


async def test_a_worker_that_crashes_stops_the_other_and_the_supervisor_fails(
    sqlite_url, nlu_cache, real_nlu, tmp_path
):
    db, everyone = await seed(sqlite_url, 400, opted_out_every=1)
    await queue_broadcast(db)
    async with FakeTwilio(SID, TOKEN) as fake:
        serve = await Serve.start(
            two_workers(sqlite_url, nlu_cache, fake, tmp_path), tmp_path / "log"
        )
        try:
            await until(lambda: _sent(fake, 20), "20 sent", 60)
            os.kill(serve.workers()[1], signal.SIGKILL)  # the worker without the broadcasts
            code = await serve.wait()
        finally:
            serve.kill()
    output = serve.output()
    assert code == 128 + signal.SIGKILL, output[-4000:]
    assert "worker 1 ended with status -9; stopping the others" in output
    rows = await outbox(db)
    await db.close()
    assert set(rows) == everyone
    assert set(rows.values()) == {"sent", "pending"}  # worker 0 stopped cleanly
    assert Counter(rows.values())["sent"] == len(fake.messages)
