"""The broadcast engine in real `farmchat serve` processes against the fake Twilio over HTTP:
SIGKILL and SIGTERM mid-send, two processes on one PostgreSQL, a schedule across restarts."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from bot.fakes.twilio import FakeTwilio
from handlers import broadcasts as broadcast
from storage.db import create_engine, upgrade
from storage.models import Broadcast, Outbox, Subscription, User
from storage.uow import Database
from tests.conftest import PG_URL, postgres_ready, reset_postgres
from tests.test_cli import free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN, SID, NUMBER = "test-auth-token-0123456789", "AC" + "2" * 32, "+15005550006"


def number(i: int) -> str:
    return f"+86137{i:08d}"


async def seed(url: str, count: int, opted_out_every: int = 50) -> tuple[Database, set[str]]:
    """count SMS users subscribed to apple (every n-th opted out); return the db and who may
    get it."""
    engine = create_engine(url)
    await upgrade(engine)
    db = Database(engine)
    now = datetime.now(UTC)
    users = [
        {
            "id": i + 1,
            "channel": "sms",
            "address": number(i),
            "language": "zh" if i % 2 else "en",
            "role": "user",
            "opted_out": i % opted_out_every == 7,
            "created_at": now,
            "last_seen_at": now,
        }
        for i in range(count)
    ]
    async with db.uow() as uow:
        await uow.session.execute(insert(User), users)
        await uow.session.execute(
            insert(Subscription),
            [
                {
                    "user_id": u["id"],
                    "product": "apple",
                    "active": True,
                    "mode": "instant",
                    "created_at": now,
                }
                for u in users
            ],
        )
        await uow.commit()
    return db, {str(u["address"]) for u in users if not u["opted_out"]}


async def queue_broadcast(db: Database, send_at: datetime | None = None) -> int:
    async with db.uow() as uow:
        bc = broadcast.new_announcement(
            "Apple buyers at Wudu market Friday",
            datetime.now(UTC),
            None,
            by_lang={"zh": "周五武都市场收苹果"},
        )
        uow.session.add(bc)
        await broadcast.queue(uow, bc, send_at)
        await uow.commit()
        return bc.id


class Server:
    """One `farmchat serve` process, its output in a file."""

    def __init__(self, env: dict[str, str], log: Path):
        self.env, self.log = env, log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> Server:
        with open(self.log, "ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "serve", env=self.env, stdout=out, stderr=out
            )
        return self

    async def signal(self, sig: int) -> int:
        assert self.proc is not None, "not started"
        self.proc.send_signal(sig)
        return await asyncio.wait_for(self.proc.wait(), 60)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def server_env(db_url: str, nlu_cache: str, fake: FakeTwilio, **extra) -> dict:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FARMCHAT_CONFIG": str(ROOT / "config.yaml"),
        "FARMCHAT_DATABASE__URL": db_url,
        "FARMCHAT_NLU__CACHE_DIR": nlu_cache,
        "FARMCHAT_SERVER__PORT": str(free_port()),
        "FARMCHAT_TWILIO__ACCOUNT_SID": SID,
        "FARMCHAT_TWILIO__AUTH_TOKEN": TOKEN,
        "FARMCHAT_TWILIO__FROM_NUMBER": NUMBER,
        "FARMCHAT_TWILIO__API_BASE": fake.url,
        "FARMCHAT_BROADCAST__RATES": '{"sms": 400}',
        "FARMCHAT_BROADCAST__CONCURRENCY": "16",
        "FARMCHAT_BROADCAST__POLL_SECONDS": "0.5",
        "FARMCHAT_BROADCAST__CLAIM_TIMEOUT_SECONDS": "3",
        "FARMCHAT_BROADCAST__DIGEST_TIME": "",
        **extra,
    }


async def until(predicate, what: str, seconds: float = 180):
    """Poll (bounded) until predicate() is true."""
    for _ in range(int(seconds / 0.2)):
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"never {what}")


async def status_of(db: Database, broadcast_id: int) -> str:
    async with db.uow() as uow:
        bc = await uow.session.get(Broadcast, broadcast_id)
        assert bc is not None
        return bc.status


async def in_flight(db: Database) -> set[str]:
    """Addresses of rows claimed but without a recorded outcome (being sent at a kill)."""
    async with db.uow() as uow:
        q = select(Outbox.address).where(Outbox.status == "sending")
        return set((await uow.session.execute(q)).scalars())


def received(*fakes: FakeTwilio) -> Counter:
    return Counter(m["To"] for fake in fakes for m in fake.messages)


@pytest.fixture
async def fake():
    async with FakeTwilio(SID, TOKEN) as fake:
        yield fake


@pytest.fixture
def sqlite_file(tmp_path):
    return f"sqlite+aiosqlite:///{tmp_path / 'farm.db'}"


async def test_sigkill_mid_send_then_restart_reaches_everyone_repeating_only_in_flight(
    sqlite_file, nlu_cache, real_nlu, fake, tmp_path
):
    db, expected = await seed(sqlite_file, 5000)
    broadcast_id = await queue_broadcast(db)
    env = server_env(sqlite_file, nlu_cache, fake)
    first = await Server(env, tmp_path / "first.log").start()
    await until(lambda: _at_least(fake, 1500), "1,500 sent before the kill")
    assert await first.signal(signal.SIGKILL) == -signal.SIGKILL
    cut_off = await in_flight(db)
    sent_before = len(fake.messages)
    assert sent_before < len(expected), "the kill came after the end; nothing was tested"
    second = await Server(env, tmp_path / "second.log").start()
    try:
        await until(lambda: _is(db, broadcast_id, "done"), "done after the restart")
    finally:
        await second.signal(signal.SIGTERM)
    got = received(fake)
    assert set(got) == expected  # everyone reached, no opted-out user
    if cut_off:
        assert "cut off mid-send are sent again" in second.output()
    twice = {to for to, n in got.items() if n > 1}
    assert twice <= cut_off, (
        f"repeated outside the {len(cut_off)} in flight: {sorted(twice - cut_off)[:5]}"
    )
    assert max(got.values()) <= 2
    texts = {m["To"]: m["Body"] for m in fake.messages}
    assert (
        texts[number(0)] == "Apple buyers at Wudu market Friday"
        and texts[number(1)] == "周五武都市场收苹果"
    )
    async with db.uow() as uow:
        bc = await uow.session.get(Broadcast, broadcast_id)
        assert bc is not None
        assert bc.summary == {"sent": len(expected), "failed": 0, "skipped": 0}
    await db.close()


async def test_sigterm_mid_send_stops_cleanly_and_the_restart_repeats_nothing(
    sqlite_file, nlu_cache, real_nlu, fake, tmp_path
):
    db, expected = await seed(sqlite_file, 3000)
    broadcast_id = await queue_broadcast(db)
    env = server_env(sqlite_file, nlu_cache, fake)
    first = await Server(env, tmp_path / "first.log").start()
    await until(lambda: _at_least(fake, 800), "800 sent before SIGTERM")
    assert await first.signal(signal.SIGTERM) == 0, first.output()[-2000:]
    assert await in_flight(db) == set()  # every claimed row was sent and recorded, or handed back
    assert len(fake.messages) < len(expected), "SIGTERM came after the end; nothing was tested"
    second = await Server(env, tmp_path / "second.log").start()
    try:
        await until(lambda: _is(db, broadcast_id, "done"), "done after the restart")
    finally:
        assert await second.signal(signal.SIGTERM) == 0
    got = received(fake)
    assert set(got) == expected and set(got.values()) == {1}
    assert "Traceback" not in first.output() + second.output()
    await db.close()


async def test_two_processes_on_postgresql_send_each_row_once(nlu_cache, real_nlu, tmp_path):
    if not await postgres_ready(PG_URL):
        if os.environ.get("FARMCHAT_REQUIRE_PG"):
            pytest.fail(f"PostgreSQL not reachable at {PG_URL}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    await reset_postgres(PG_URL)
    db, expected = await seed(PG_URL, 2000)
    async with FakeTwilio(SID, TOKEN) as fake_a, FakeTwilio(SID, TOKEN) as fake_b:
        servers = [
            await Server(
                server_env(
                    PG_URL,
                    nlu_cache,
                    f,
                    FARMCHAT_BROADCAST__RATES='{"sms": 0}',
                    # no process dies here: a batch slowed by a busy machine is not stale
                    FARMCHAT_BROADCAST__CLAIM_TIMEOUT_SECONDS="120",
                ),
                tmp_path / f"{n}.log",
            ).start()
            for n, f in enumerate((fake_a, fake_b))
        ]
        try:
            await asyncio.sleep(6)  # both up and polling before there is anything to send
            broadcast_id = await queue_broadcast(db)
            await until(lambda: _is(db, broadcast_id, "done"), "done")
        finally:
            codes = [await s.signal(signal.SIGTERM) for s in servers]
        got = received(fake_a, fake_b)
        assert set(got) == expected and set(got.values()) == {1}
        assert fake_a.messages and fake_b.messages  # both processes sent a share
    assert codes == [0, 0]
    leaders = sum(s.output().count("this process runs the scheduler") for s in servers)
    assert leaders == 1
    await db.close()


async def test_a_scheduled_broadcast_fires_once_across_restarts(
    sqlite_file, nlu_cache, real_nlu, fake, tmp_path
):
    db, expected = await seed(sqlite_file, 40)
    send_at = datetime.now(UTC) + timedelta(seconds=12)
    broadcast_id = await queue_broadcast(db, send_at)
    env = server_env(sqlite_file, nlu_cache, fake)
    first = await Server(env, tmp_path / "first.log").start()
    await until(lambda: _logged(first, "this process runs the scheduler"), "leading", 60)
    assert await first.signal(signal.SIGKILL) == -signal.SIGKILL  # before the time: not yet fired
    assert fake.messages == [] and await status_of(db, broadcast_id) == "scheduled"
    await until(lambda: _after(send_at), "past the time", 60)
    second = await Server(env, tmp_path / "second.log").start()  # catches up the missed time
    await until(lambda: _is(db, broadcast_id, "done"), "done after the restart")
    assert await second.signal(signal.SIGKILL) == -signal.SIGKILL
    third = await Server(env, tmp_path / "third.log").start()
    await until(lambda: _logged(third, "this process runs the scheduler"), "leading again", 60)
    await asyncio.sleep(2)  # its first sync has run: nothing is due any more
    assert await third.signal(signal.SIGTERM) == 0
    got = received(fake)
    assert set(got) == expected and set(got.values()) == {1}
    await db.close()


async def _at_least(fake: FakeTwilio, n: int) -> bool:
    return len(fake.messages) >= n


async def _is(db: Database, broadcast_id: int, status: str) -> bool:
    return await status_of(db, broadcast_id) == status


async def _logged(server: Server, text: str) -> bool:
    return text in server.output()


async def _after(when: datetime) -> bool:
    return datetime.now(UTC) > when
