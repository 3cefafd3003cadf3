"""Daily quotas and shared pacing: WeChat template messages past their daily quota wait for the
reset (never fail, never repeat); customer-service messages do not count; two senders share one
count; 45009 defers; a notification during a paced broadcast goes at once and takes a slot."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta, timezone

import aiohttp
import pytest
from sqlalchemy import insert, select

from bot.channels.wechat.send import WeChatSender, next_reset
from bot.fakes.wechat import FakeWeChat
from bot.outbound.dispatch import Dispatcher
from bot.outbound.pacing import Pacer
from bot.outbound.sender import ChannelSenders, Outbound, RecordingSender, SendError
from handlers.messages import Reply
from storage.db import create_engine, upgrade
from storage.models import (
    Broadcast,
    Outbox,
    SendPace,
    SendQuota,
    Subscription,
    User,
    WeChatContact,
)
from storage.uow import Database
from tests.conftest import make_settings
from tests.test_broadcast_process import queue_broadcast
from tests.wechat_rig import APP_ID, SECRET, wechat_env


def openid(i: int) -> str:
    return f"oQuotaUser{i:017d}"


async def seed_wechat(url: str, count: int, in_window: int = 0) -> Database:
    """count WeChat followers subscribed to apple; the first in_window wrote within 48 hours."""
    engine = create_engine(url)
    await upgrade(engine)
    db = Database(engine)
    now = datetime.now(UTC)
    users = [
        {
            "id": i + 1,
            "channel": "wechat",
            "address": openid(i),
            "language": "zh",
            "role": "user",
            "opted_out": False,
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
        for i in range(in_window):
            uow.session.add(
                WeChatContact(openid=openid(i), last_message_at=now - timedelta(hours=1))
            )
        await uow.commit()
    return db


class Rig:
    def __init__(self, fake, db, settings, session):
        self.fake, self.db, self.settings, self.session = fake, db, settings, session

    def sender(self) -> WeChatSender:
        """A WeChat sender as one farmchat process has it (its own in-memory state)."""
        return WeChatSender(self.settings.wechat, self.session, "Asia/Shanghai", self.db)

    def dispatcher(self, sender: WeChatSender) -> Dispatcher:
        return Dispatcher(Outbound(self.db, ChannelSenders({"wechat": sender}), self.settings))

    async def rows(self) -> list[Outbox]:
        async with self.db.uow() as uow:
            return list((await uow.session.execute(select(Outbox).order_by(Outbox.id))).scalars())

    async def used(self) -> dict[str, int]:
        async with self.db.uow() as uow:
            return {
                r.day: r.used for r in (await uow.session.execute(select(SendQuota))).scalars()
            }

    def templates_to(self) -> Counter:
        return Counter(t["touser"] for t in self.fake.templates)


@pytest.fixture
async def make_rig(db_url, nlu_cache):
    async with AsyncExitStack() as stack:

        async def make(
            count: int, limit: int, in_window: int = 0, concurrency: int = 8, reserve: int = 0
        ) -> Rig:
            fake = await stack.enter_async_context(FakeWeChat(APP_ID, SECRET))
            session = await stack.enter_async_context(aiohttp.ClientSession())
            settings = make_settings(
                db_url,
                nlu_cache,
                **wechat_env(fake.url),
                FARMCHAT_WECHAT__TEMPLATE__ID="TPL1",
                FARMCHAT_WECHAT__TEMPLATE__DAILY_LIMIT=str(limit),
                FARMCHAT_WECHAT__TEMPLATE__NOTIFICATION_RESERVE=str(reserve),
                FARMCHAT_BROADCAST__POLL_SECONDS="0.1",
                FARMCHAT_BROADCAST__MAX_ATTEMPTS="2",
                FARMCHAT_BROADCAST__CONCURRENCY=str(concurrency),
            )
            db = await seed_wechat(db_url, count, in_window)
            stack.push_async_callback(db.close)
            return Rig(fake, db, settings, session)

        yield make


async def test_a_broadcast_past_the_template_quota_waits_for_the_reset_and_reaches_everyone_once(
    make_rig,
):
    rig = await make_rig(count=7, limit=4)
    sender = rig.sender()
    broadcast_id = await queue_broadcast(rig.db)
    dispatcher = rig.dispatcher(sender)
    await dispatcher.tick()
    await dispatcher.join()
    await dispatcher.tick()
    await dispatcher.join()

    assert len(rig.fake.templates) == 4  # the day's quota, and not one call more
    rows = await rig.rows()
    waiting = [r for r in rows if r.status == "pending"]
    assert Counter(r.status for r in rows) == {"sent": 4, "pending": 3}
    reset = next_reset(datetime.now(UTC))
    assert (
        reset.astimezone(timezone(timedelta(hours=8))).time().isoformat() == "00:00:00"
    )  # Beijing midnight
    assert all(
        r.next_attempt_at == reset and r.attempts == 0 and r.error_code == 45009 for r in waiting
    )
    async with rig.db.uow() as uow:
        assert (
            await uow.session.get(Broadcast, broadcast_id)
        ).status == "sending"  # not done, not failed
    assert list((await rig.used()).values()) == [4]

    # the next day: the quota is new and the rows are due
    tomorrow = reset + timedelta(minutes=1)
    sender.quota.clock = lambda: tomorrow
    async with rig.db.uow() as uow:
        for row in waiting:
            (await uow.session.get(Outbox, row.id)).next_attempt_at = datetime.now(UTC)
        await uow.commit()
    await dispatcher.drain(broadcast_id, timeout=30)
    assert rig.templates_to() == {openid(i): 1 for i in range(7)}  # everyone, once
    assert Counter(r.status for r in await rig.rows()) == {"sent": 7}
    assert sorted((await rig.used()).values()) == [3, 4]


async def test_a_broadcast_leaves_the_notification_reserve_for_orders(make_rig):
    rig = await make_rig(count=6, limit=5, reserve=2)
    broadcast_id = await queue_broadcast(rig.db)
    dispatcher = rig.dispatcher(rig.sender())
    await dispatcher.tick()
    await dispatcher.join()
    assert len(rig.fake.templates) == 3  # 5 a day, 2 of them kept for notifications
    assert Counter(r.status for r in await rig.rows()) == {"sent": 3, "pending": 3}
    outbound = Outbound(rig.db, ChannelSenders({"wechat": rig.sender()}), rig.settings)
    async with rig.db.uow() as uow:
        pushes = await outbound.queue(
            uow,
            [Reply("订单101：买家要20斤苹果，回复“是101”接受", to=6)],
            datetime.now(UTC),
        )
        await uow.commit()
    await outbound.deliver(pushes)  # an order notification still goes today
    assert [t["touser"] for t in rig.fake.templates][-1] == openid(5) and len(
        rig.fake.templates
    ) == 4
    assert list((await rig.used()).values()) == [4]
    async with rig.db.uow() as uow:
        assert (await uow.session.get(Broadcast, broadcast_id)).status == "sending"


async def test_wechat_answering_45009_defers_the_rest_without_asking_again(make_rig):
    rig = await make_rig(
        count=5, limit=100, concurrency=1
    )  # sends already in flight cannot be called back
    rig.fake.fail_next("template", 45009)
    broadcast_id = await queue_broadcast(rig.db)
    dispatcher = rig.dispatcher(rig.sender())
    await dispatcher.tick()
    await dispatcher.join()
    rows = await rig.rows()
    assert rig.fake.templates == [] and [c for c in rig.fake.calls if c[0] == "template"] == [
        ("template", 45009)
    ]
    assert {(r.status, r.attempts, r.error_code) for r in rows} == {("pending", 0, 45009)}
    assert list((await rig.used()).values()) == [
        100
    ]  # today's count marked full for every process
    async with rig.db.uow() as uow:
        assert (await uow.session.get(Broadcast, broadcast_id)).status == "sending"


async def test_customer_service_messages_do_not_use_the_template_quota(make_rig):
    rig = await make_rig(count=3, limit=1, in_window=3)
    broadcast_id = await queue_broadcast(rig.db)
    await rig.dispatcher(rig.sender()).drain(broadcast_id, timeout=30)
    assert sorted(m["touser"] for m in rig.fake.custom) == [openid(i) for i in range(3)]
    assert rig.fake.templates == [] and await rig.used() == {}


async def test_two_processes_share_one_count(make_rig):
    rig = await make_rig(count=6, limit=3)
    a, b = rig.sender(), rig.sender()  # two processes: separate memory, one database
    outcomes = []
    for n, sender in enumerate([a, b, a, b, a, b]):
        try:
            outcomes.append(await sender.send("wechat", openid(n), "苹果4.2元/斤"))
        except Exception as exc:
            outcomes.append(exc)
    assert len(rig.fake.templates) == 3 and list((await rig.used()).values()) == [3]
    deferred = [o for o in outcomes if isinstance(o, SendError)]
    assert len(deferred) == len([o for o in outcomes if isinstance(o, Exception)])
    assert len(deferred) == 3 and all(o.retry_at and not o.permanent for o in deferred)


async def test_a_notification_past_the_quota_waits_and_is_not_flushed_early(make_rig):
    rig = await make_rig(count=2, limit=1)
    outbound = Outbound(rig.db, ChannelSenders({"wechat": rig.sender()}), rig.settings)
    now = datetime.now(UTC)
    async with rig.db.uow() as uow:
        pushes = await outbound.queue(
            uow, [Reply("订单101：买家要20斤苹果", to=1), Reply("订单102：买家要5斤梨", to=2)], now
        )
        await uow.commit()
    await outbound.deliver(pushes)
    first, second = await rig.rows()
    assert (first.status, second.status) == ("sent", "pending")
    assert second.attempts == 0 and second.next_attempt_at == next_reset(now)
    assert await outbound.flush() == 0  # not due before the reset
    assert len(rig.fake.templates) == 1


async def one_sms_user(url: str, address: str, language: str, pace: float | None) -> Database:
    """A migrated database with user 1 on SMS (and the channel's pace row, when given)."""
    engine = create_engine(url)
    await upgrade(engine)
    db = Database(engine)
    now = datetime.now(UTC)
    async with db.uow() as uow:
        uow.session.add(
            User(
                id=1, channel="sms", address=address, language=language, role="user",
                opted_out=False, created_at=now, last_seen_at=now,
            )
        )  # fmt: skip
        if pace is not None:
            uow.session.add(SendPace(channel="sms", next_at=pace))
        await uow.commit()
    return db


async def test_a_notification_during_a_paced_broadcast_goes_at_once_and_takes_the_next_slot(
    db_url, nlu_cache
):
    now, later = datetime.now(UTC), time.time() + 100  # a broadcast holds 100 s of slots
    db = await one_sms_user(db_url, "+8613700000001", "zh", later)
    try:
        recorder = RecordingSender()
        settings = make_settings(db_url, nlu_cache)
        outbound = Outbound(db, recorder, settings, pacer=Pacer({"sms": 1.0}))
        async with db.uow() as uow:
            pushes = await outbound.queue(uow, [Reply("订单101：买家要20斤苹果", to=1)], now)
            await uow.commit()
        started = time.monotonic()
        await outbound.deliver(pushes)
        assert recorder.sent == [("sms", "+8613700000001", "订单101：买家要20斤苹果")]
        assert time.monotonic() - started < 5  # not behind the broadcast
        async with db.uow() as uow:
            row = await uow.session.get(SendPace, "sms")
            assert row is not None
            pace = row.next_at
        assert pace - later == pytest.approx(
            1.0
        )  # one segment at 1/s: the broadcast yields a slot
    finally:
        await db.close()


async def test_a_notifications_transaction_does_not_wait_on_the_channels_pace_row(
    pg_url, nlu_cache
):
    """Every sender shares the channel's pace row: while another transaction holds it (a
    broadcast booking its slots, another host's notification), a message's transaction that
    writes a notification still commits at once; the notice takes its slot when pushed."""
    now = datetime.now(UTC)
    db = await one_sms_user(pg_url, "+254711000401", "en", 0.0)
    engine = db.engine
    try:
        recorder = RecordingSender()
        settings = make_settings(pg_url, nlu_cache)
        outbound = Outbound(db, recorder, settings, pacer=Pacer({"sms": 5}))
        async with engine.connect() as holder:  # holds the row, as a booking transaction does
            await holder.execute(
                select(SendPace).where(SendPace.channel == "sms").with_for_update()
            )

            async def message() -> list:
                async with db.uow() as uow:
                    pushes = await outbound.queue(uow, [Reply("Order 1024: 5 kg", to=1)], now)
                    await uow.commit()
                return pushes

            pushes = await asyncio.wait_for(message(), 5)  # waited on the row before
            await holder.rollback()
        await outbound.deliver(pushes)
        assert recorder.sent == [("sms", "+254711000401", "Order 1024: 5 kg")]
        async with db.uow() as uow:
            pace = await uow.session.get(SendPace, "sms")
            assert pace is not None and pace.next_at >= time.time() - 5  # the slot was taken
    finally:
        await db.close()


async def test_a_45009_defers_to_the_reset_and_stops_only_the_api_that_answered_it(make_rig):
    rig = await make_rig(
        count=3, limit=0, in_window=1
    )  # no local count: WeChat's answer is all there is
    sender = rig.sender()
    rig.fake.fail_next("template", 45009)
    now = datetime.now(UTC)
    for n in (1, 2):  # outside the window: templates
        with pytest.raises(SendError) as err:
            await sender.send("wechat", openid(n), "苹果4.2元/斤")
        assert err.value.retry_at == next_reset(now) and not err.value.permanent
    assert [c for c in rig.fake.calls if c[0] == "template"] == [("template", 45009)]  # asked once
    await sender.send(
        "wechat", openid(0), "苹果4.2元/斤"
    )  # in the window: customer service still goes
    assert [m["touser"] for m in rig.fake.custom] == [openid(0)]
    sender.api.clock = lambda: next_reset(now) + timedelta(minutes=1)  # the next day
    assert await sender.send("wechat", openid(2), "苹果4.2元/斤")
    assert [t["touser"] for t in rig.fake.templates] == [openid(2)]


async def test_a_notification_its_process_never_pushed_is_sent_once_its_claim_is_stale(
    db_url, nlu_cache
):
    """queue() writes notifications already claimed for the process that commits them; if that
    process dies before pushing, the sweeper's flush sends them, but only once the claim is older
    than broadcast.claim_timeout_seconds, so a live process pushing its own notification is never
    doubled."""
    now = datetime.now(UTC)
    db = await one_sms_user(db_url, "+8613700000001", "zh", None)
    try:
        dead, sweeper = RecordingSender(), RecordingSender()
        async with db.uow() as uow:  # one committed 3 minutes ago, one just now; neither pushed
            settings = make_settings(db_url, nlu_cache)
            assert settings.broadcast.claim_timeout_seconds == 120
            await Outbound(db, dead, settings).queue(
                uow, [Reply("订单101：买家要20斤苹果", to=1)], now - timedelta(minutes=3)
            )
            await Outbound(db, dead, settings).queue(
                uow, [Reply("订单102：买家要5斤梨", to=1)], now
            )
            await uow.commit()
        async with db.uow() as uow:
            rows = list((await uow.session.execute(select(Outbox).order_by(Outbox.id))).scalars())
        assert [(r.status, r.attempts) for r in rows] == [("sending", 1), ("sending", 1)]
        outbound = Outbound(db, sweeper, settings)
        assert await outbound.flush() == 1
        assert await outbound.flush() == 0
        assert sweeper.sent == [("sms", "+8613700000001", "订单101：买家要20斤苹果")]
        async with db.uow() as uow:
            rows = list((await uow.session.execute(select(Outbox).order_by(Outbox.id))).scalars())
        assert [(r.status, r.attempts) for r in rows] == [("sent", 2), ("sending", 1)]
    finally:
        await db.close()
