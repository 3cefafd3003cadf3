"""A broadcast's audience goes into the outbox a range of users at a time, on SQLite and
PostgreSQL: everyone eligible exactly once, nobody lost or repeated when the sender dies
mid-way and another carries on, and other work keeps running while it is written."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, update

from bot.config import load_settings
from handlers import broadcasts as broadcast
from storage import broadcasts as records
from storage.db import create_engine, upgrade
from storage.models import Broadcast, Outbox, Subscription, User
from storage.uow import Database, UnitOfWork

BATCH = 10
# user ids with a gap, so some ranges hold nobody
IDS = [*range(1, 61), *range(200, 241)]


def eligible(i: int) -> bool:
    """Who an apple announcement reaches among the seeded users."""
    return not (i % 7 == 3 or i % 11 == 5 or i % 13 == 6 or i % 17 == 2)


EXPECTED = {i for i in IDS if eligible(i)}
N = len(EXPECTED)


def newcomer(n: int) -> dict:
    now = datetime.now(UTC)
    return {
        "id": 1000 + n,  # the seeded ids were given explicitly: PostgreSQL's sequence never moved
        "channel": "sms",
        "address": f"+25470{n:07d}",
        "role": "user",
        "created_at": now,
        "last_seen_at": now,
    }


def subscriptions_of(i: int, now: datetime) -> list[dict]:
    """Apple, instant, for most; some opted out (users), unsubscribed, on the daily digest
    only or on another product; some subscribed twice."""
    sub = {"user_id": i, "product": "apple", "active": True, "mode": "instant", "created_at": now}
    if i % 11 == 5:
        sub["active"] = False  # unsubscribed
    elif i % 13 == 6:
        sub["mode"] = "daily"
    elif i % 17 == 2:
        sub["product"] = "pear"
    twice = [{**sub, "location": "Wudu"}] if i % 5 == 0 else []
    return [sub, *twice]


@pytest.fixture(autouse=True)
def small_ranges(monkeypatch):
    for dialect in records.RANGES:
        monkeypatch.setitem(records.RANGES, dialect, BATCH)


@pytest.fixture
async def db(db_url):
    engine = create_engine(db_url)
    await upgrade(engine)
    database = Database(engine)
    now = datetime.now(UTC)
    users = [
        {
            "id": i,
            "channel": "sms",
            "address": f"+86137{i:08d}",
            "language": "zh" if i % 2 else "en",
            "role": "user",
            "opted_out": i % 7 == 3,
            "created_at": now,
            "last_seen_at": now,
        }
        for i in IDS
    ]
    async with database.uow() as uow:
        await uow.session.execute(insert(User), users)
        await uow.session.execute(
            insert(Subscription), [s for i in IDS for s in subscriptions_of(i, now)]
        )
        await uow.commit()
    yield database
    await database.close()


@pytest.fixture
def settings(db_url):
    return load_settings(None, environ={"FARMCHAT_DATABASE__URL": db_url})


async def queued(db: Database) -> int:
    async with db.uow() as uow:
        bc = broadcast.new_announcement(
            "Apple buyers Friday", datetime.now(UTC), None, "apple", by_lang={"zh": "周五收苹果"}
        )
        await broadcast.queue(uow, bc)
        await uow.commit()
        return bc.id


async def outbox_of(db: Database, broadcast_id: int) -> list[Outbox]:
    async with db.uow() as uow:
        q = select(Outbox).where(Outbox.broadcast_id == broadcast_id)
        return list((await uow.session.execute(q)).scalars())


async def broadcast_row(db: Database, broadcast_id: int) -> Broadcast:
    async with db.uow() as uow:
        bc = await uow.session.get(Broadcast, broadcast_id)
        assert bc is not None
        return bc


def dying_after(uow: UnitOfWork, commits: int) -> None:
    """The process dies at its n-th commit: that transaction and everything after is lost."""
    real, done = uow.commit, [0]

    async def commit() -> None:
        done[0] += 1
        if done[0] >= commits:
            raise ConnectionError("the sender died")
        await real()

    uow.commit = commit  # type: ignore[method-assign]


async def test_the_audience_is_everyone_eligible_once_in_their_language(db, settings):
    broadcast_id = await queued(db)
    now = datetime.now(UTC)
    async with db.uow() as uow:
        assert await broadcast.start(uow, broadcast_id, settings, now) == N
        await uow.commit()
    rows = await outbox_of(db, broadcast_id)
    by_user = Counter(r.user_id for r in rows)
    assert set(by_user) == EXPECTED and set(by_user.values()) == {1}
    assert {r.text for r in rows if r.user_id % 2} == {"周五收苹果"}
    assert {r.text for r in rows if not r.user_id % 2} == {"Apple buyers Friday"}
    assert {(r.status, r.kind) for r in rows} == {("pending", "broadcast")}
    bc = await broadcast_row(db, broadcast_id)
    assert (bc.status, bc.recipients, bc.started_at) == ("sending", N, now)
    async with db.uow() as uow:  # started once: a second sender finds nothing to do
        assert await broadcast.start(uow, broadcast_id, settings, now) is None


async def test_a_sender_dying_mid_way_is_followed_without_loss_or_repeat(db, settings):
    broadcast_id = await queued(db)
    now = datetime.now(UTC)
    async with db.uow() as uow:
        dying_after(uow, 4)  # the hold and two ranges are committed, the third is lost
        with pytest.raises(ConnectionError):
            await broadcast.start(uow, broadcast_id, settings, now)
    first = await outbox_of(db, broadcast_id)
    assert {r.user_id for r in first} == {i for i in range(1, 21) if eligible(i)}
    assert (await broadcast_row(db, broadcast_id)).status == "queued"
    async with db.uow() as uow:  # meanwhile some of them were sent
        sent = update(Outbox).where(Outbox.broadcast_id == broadcast_id, Outbox.user_id < 10)
        await uow.session.execute(sent.values(status="sent"))
        await uow.commit()
    async with db.uow() as uow:  # still held: no one else starts it, no one cancels it
        soon = now + timedelta(seconds=5)
        assert await broadcast.start(uow, broadcast_id, settings, soon) is None
        assert not await broadcast.cancel(uow, broadcast_id)
    later = now + records.HOLD + timedelta(seconds=1)
    async with db.uow() as uow:
        assert await broadcast.start(uow, broadcast_id, settings, later) == N
        await uow.commit()
    rows = await outbox_of(db, broadcast_id)
    by_user = Counter(r.user_id for r in rows)
    assert set(by_user) == EXPECTED and set(by_user.values()) == {1}
    assert {r.user_id for r in rows if r.status == "sent"} == {
        i for i in range(1, 10) if eligible(i)
    }
    assert (await broadcast_row(db, broadcast_id)).status == "sending"


async def test_a_sender_whose_hold_was_taken_over_writes_nothing_more(db, settings):
    broadcast_id = await queued(db)
    now = datetime.now(UTC)
    who, texts = records.Audience("announcement", "apple"), {"en": "hi", "zh": "你好"}
    async with db.uow() as slow:
        assert await records.hold(slow, broadcast_id, now) is not None
        later = now + records.HOLD
        async with db.uow() as successor:
            assert await records.hold(successor, broadcast_id, later) is not None
            assert await records.enqueue(successor, broadcast_id, who, texts, "hi", later) == N
            await successor.commit()
        assert await records.enqueue(slow, broadcast_id, who, texts, "hi", now) is None
        await slow.commit()
    assert len(await outbox_of(db, broadcast_id)) == N


async def test_other_work_runs_between_the_ranges(db, settings):
    broadcast_id = await queued(db)
    finished = asyncio.Event()
    ticks, seen = [0], []

    async def ticker() -> None:
        while not finished.is_set():
            ticks[0] += 1
            await asyncio.sleep(0)

    async def writer() -> None:
        """Messages arriving meanwhile: each writes in a transaction of its own."""
        n = 0
        while not finished.is_set():
            n += 1
            async with db.uow() as uow:
                q = select(func.count()).where(Outbox.broadcast_id == broadcast_id)
                seen.append((await uow.session.execute(q)).scalar_one())
                await uow.session.execute(insert(User).values(newcomer(n)))
                await uow.commit()
            await asyncio.sleep(0)

    async def sender() -> int | None:
        try:
            async with db.uow() as uow:
                recipients = await broadcast.start(uow, broadcast_id, settings, datetime.now(UTC))
                await uow.commit()
                return recipients
        finally:
            finished.set()

    others = [asyncio.create_task(ticker()), asyncio.create_task(writer())]
    recipients = await sender()
    await asyncio.gather(*others)
    assert recipients == N
    ranges = -(-(IDS[-1] - IDS[0] + 1) // BATCH)
    assert ticks[0] >= ranges  # the loop turned at least once per range
    assert any(0 < n < N for n in seen), seen  # a write went through half-way
    assert len(await outbox_of(db, broadcast_id)) == N
