"""The outbox service's shared parts: what a push's result means for its row, the retry
spacing per kind, the background loops that outlive a failure, and a clean stop that hands
claimed rows back unsent."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.outbound.push import RecordingSender, SendError
from bot.outbound.retry import RetryPolicy
from bot.outbound.sender import Outbound
from bot.supervisor import Supervisor
from handlers.messages import Reply
from storage.db import create_engine, upgrade
from storage.models import Outbox, SendPace, User
from storage.outbox import Claimed
from storage.uow import Database
from tests.conftest import make_settings

ROW = Claimed(7, 3, "sms", "+8613700000001", "订单101", attempts=2)
NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def policy(attempts: int = 3) -> RetryPolicy:
    return RetryPolicy.exponential("test", False, attempts, 10.0, timedelta(minutes=5))


def test_a_transient_failure_is_retried_later_with_growing_jittered_waits():
    outcome = policy().outcome(ROW, SendError("Twilio answered 500", code=20500), NOW)
    assert (outcome.status, outcome.code, outcome.attempts) == ("pending", 20500, 2)
    # the second attempt failed: 10·2 s, plus up to 10 s of jitter
    assert outcome.retry_at is not None
    assert NOW + timedelta(seconds=20) <= outcome.retry_at <= NOW + timedelta(seconds=30)
    dropped = policy().outcome(ROW, ConnectionResetError(), NOW)
    assert (dropped.status, dropped.error) == ("pending", "ConnectionResetError")


def test_the_last_attempt_and_a_permanent_failure_are_final():
    last = policy(attempts=2).outcome(ROW, SendError("Twilio answered 500"), NOW)
    assert (last.status, last.retry_at) == ("failed", None)
    stop = SendError("Twilio error 21610", code=21610, permanent=True, opted_out=True)
    opted_out = policy().outcome(ROW, stop, NOW)
    assert (opted_out.status, opted_out.opted_out, opted_out.user_id) == ("failed", True, 3)


def test_a_used_up_quota_defers_without_spending_an_attempt():
    reset = NOW + timedelta(hours=16)
    outcome = policy().outcome(ROW, SendError("quota", code=45009, retry_at=reset), NOW)
    assert (outcome.status, outcome.retry_at, outcome.code) == ("deferred", reset, 45009)


@pytest.fixture
async def db(db_url):
    engine = create_engine(db_url)
    await upgrade(engine)
    db = Database(engine)
    now = datetime.now(UTC)
    async with db.uow() as uow:
        for n in (1, 2, 3):
            uow.session.add(
                User(
                    id=n,
                    channel="sms",
                    address=f"+861370000000{n}",
                    language="zh",
                    role="user",
                    opted_out=False,
                    created_at=now,
                    last_seen_at=now,
                )
            )
        await uow.commit()
    yield db
    await db.close()


async def rows(db: Database) -> list[tuple[str, int]]:
    async with db.uow() as uow:
        found = (await uow.session.execute(select(Outbox).order_by(Outbox.id))).scalars()
        return [(r.status, r.attempts) for r in found]


async def test_a_stop_hands_back_claimed_rows_still_waiting_for_their_slot(db, db_url, nlu_cache):
    settings = make_settings(db_url, nlu_cache, FARMCHAT_BROADCAST__RATES='{"sms": 1}')
    sender = RecordingSender()
    outbound = Outbound(db, sender, settings)
    async with db.uow() as uow:
        uow.session.add(SendPace(channel="sms", next_at=time.time() + 100))  # booked 100 s
        for n in (1, 2, 3):
            uow.session.add(
                Outbox(
                    user_id=n,
                    channel="sms",
                    address=f"+861370000000{n}",
                    text="Market day moved to Friday",
                    kind="broadcast",
                    status="pending",
                    attempts=0,
                    created_at=datetime.now(UTC),
                    broadcast_id=None,
                )
            )
        await uow.commit()
    claimed = await outbound.claim(outbound.notifications, 10)
    assert [r.due for r in claimed] == [0.0] * 3  # notifications go at once
    waiting = [r._replace(due=time.time() + 100) for r in claimed]
    sending = asyncio.create_task(outbound.send_batch(waiting, outbound.notifications))
    await asyncio.sleep(0.1)
    await outbound.stop()
    outcomes = await asyncio.wait_for(sending, 5)
    assert [o.status for o in outcomes] == ["released"] * 3 and sender.sent == []
    assert await rows(db) == [("pending", 0)] * 3  # not an attempt


async def test_a_claim_cut_off_by_a_crash_is_released_once_stale(db, db_url, nlu_cache):
    outbound = Outbound(db, RecordingSender(), make_settings(db_url, nlu_cache))
    async with db.uow() as uow:
        await outbound.queue(uow, [Reply("订单101", to=1)], datetime.now(UTC))
        await outbound.queue(
            uow, [Reply("订单102", to=2)], datetime.now(UTC) - timedelta(minutes=6)
        )
        await uow.commit()
    assert await outbound.release_stale(outbound.notifications) == 1
    assert await rows(db) == [("sending", 1), ("pending", 1)]
    assert await outbound.release_stale(outbound.broadcasts) == 0  # not a broadcast's row


async def test_a_failing_job_does_not_end_its_loop_and_stop_ends_every_loop(db, db_url, nlu_cache):
    outbound = Outbound(db, RecordingSender(), make_settings(db_url, nlu_cache))
    supervisor = Supervisor(outbound, catalog=None)  # type: ignore[arg-type]
    runs = []

    async def flaky() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("the database went away")

    supervisor.every("farmchat-test", 0.05, flaky)
    for _ in range(100):
        if len(runs) >= 3:
            break
        await asyncio.sleep(0.02)
    assert len(runs) >= 3
    assert any(t.get_name() == "farmchat-test" for t in asyncio.all_tasks())
    await supervisor.stop()
    assert not any(t.get_name() == "farmchat-test" for t in asyncio.all_tasks())
    assert outbound.stopping.is_set()
