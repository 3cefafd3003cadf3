"""The dispatcher with the real Twilio sender against the fake Twilio over loopback HTTP:
transient errors retried with backoff, permanent ones recorded, opt-outs, pacing, preview cost."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import aiohttp
import pytest
from sqlalchemy import select

from bot.channels.twilio.send import TwilioSender
from bot.fakes.twilio import FakeTwilio
from bot.outbound.dispatch import Dispatcher, utcnow
from bot.outbound.sender import ChannelSenders, Outbound
from handlers import broadcasts as broadcast
from handlers.messages import Reply
from storage.models import Broadcast, Outbox, SendPace, User
from storage.outbox import Outcome
from tests.conftest import make_settings
from tests.test_broadcast_process import (
    NUMBER,
    SID,
    TOKEN,
    number,
    queue_broadcast,
    received,
    seed,
)


@pytest.fixture
async def rig(db_url, nlu_cache):
    """Subscribers in the database, the fake Twilio, and a dispatcher sending to it."""
    async with FakeTwilio(SID, TOKEN) as fake, aiohttp.ClientSession() as session:
        settings = make_settings(
            db_url,
            nlu_cache,
            FARMCHAT_TWILIO__ACCOUNT_SID=SID,
            FARMCHAT_TWILIO__AUTH_TOKEN=TOKEN,
            FARMCHAT_TWILIO__FROM_NUMBER=NUMBER,
            FARMCHAT_TWILIO__API_BASE=fake.url,
            FARMCHAT_TWILIO__RATE_PER_SECOND="5",
            FARMCHAT_BROADCAST__RETRY_BASE_SECONDS="0.1",
            FARMCHAT_BROADCAST__MAX_ATTEMPTS="3",
            FARMCHAT_BROADCAST__POLL_SECONDS="0.1",
            FARMCHAT_BROADCAST__CONCURRENCY="1",
        )
        db, expected = await seed(db_url, 12, opted_out_every=10)  # user 7 opted out
        senders = ChannelSenders({"sms": TwilioSender(settings.twilio, session, None)})
        yield fake, db, Dispatcher(Outbound(db, senders, settings)), expected, settings
        await db.close()


async def rows(db) -> dict[str, Outbox]:
    async with db.uow() as uow:
        return {r.address: r for r in (await uow.session.execute(select(Outbox))).scalars()}


async def test_failures_are_retried_or_recorded_and_opted_out_users_get_nothing(rig):
    fake, db, dispatcher, expected, _ = rig
    fake.fail_to(number(3), 21211)  # invalid number: permanent
    fake.fail_to(number(4), 21610)  # opted out at Twilio: permanent, remembered
    fake.fail_next(20429, times=5)  # the first message meets 429s beyond the sender's own backoff
    broadcast_id = await queue_broadcast(db)
    started = time.monotonic()
    await dispatcher.drain(broadcast_id, timeout=60)
    got = [m["To"] for m in fake.messages]
    assert sorted(got) == sorted(expected - {number(3), number(4)})  # each once; 7 opted out
    by_address = await rows(db)
    assert number(7) not in by_address
    assert (by_address[number(3)].status, by_address[number(3)].error_code) == ("failed", 21211)
    assert (by_address[number(4)].status, by_address[number(4)].error_code) == ("failed", 21610)
    retried = [r for r in by_address.values() if r.attempts == 2]
    assert [(r.status, r.error_code) for r in retried] == [
        ("sent", 20429)
    ]  # after backoff, sent once
    async with db.uow() as uow:
        assert (await uow.users.by_address("sms", number(4))).opted_out is True
        bc = await uow.session.get(Broadcast, broadcast_id)
    assert bc.summary == {"sent": 9, "failed": 2, "skipped": 0}
    # paced at 5 messages/s: 11 sends (one retried) cannot take less than about 2 s
    assert time.monotonic() - started >= 1.8


async def test_a_user_who_opts_out_after_the_start_is_skipped(rig):
    fake, db, dispatcher, expected, _ = rig
    broadcast_id = await queue_broadcast(db)
    await dispatcher.start_queued()
    async with db.uow() as uow:
        (await uow.users.by_address("sms", number(5))).opted_out = True  # STOP arrives meanwhile
        await uow.commit()
    await dispatcher.drain(broadcast_id, timeout=60)
    assert {m["To"] for m in fake.messages} == expected - {number(5)}
    assert (await rows(db))[number(5)].status == "skipped"


async def test_the_preview_counts_audience_segments_and_cost(rig):
    fake, db, _, expected, settings = rig
    async with db.uow() as uow:
        long_zh = "周五武都市场收苹果，" * 8  # 80 Chinese characters: 2 UCS-2 segments
        bc = broadcast.new_announcement(
            "Apple buyers Friday", datetime.now(UTC), None, by_lang={"zh": long_zh}
        )
        seen = await broadcast.preview(uow, bc, settings)
        zh_users = (
            (
                await uow.session.execute(
                    select(User).where(User.language == "zh", User.opted_out.is_(False))
                )
            )
            .scalars()
            .all()
        )
    assert seen.audience == len(expected) == 11 and seen.by_channel == {"sms": 11}
    assert seen.segments == {"en": 1, "zh": 2} and seen.segments_text() == "1-2"
    en_users = len(expected) - len(zh_users)
    assert seen.cost == pytest.approx((en_users * 1 + len(zh_users) * 2) * 0.0079)
    assert fake.attempts == []  # a preview sends nothing


async def test_a_notification_during_a_paced_broadcast_goes_at_once_and_takes_a_slot(rig):
    fake, db, dispatcher, expected, settings = rig
    broadcast_id = await queue_broadcast(db)
    await dispatcher.start_queued()
    batch = await dispatcher.claim(
        "sms"
    )  # 5 messages at 5/s: the channel is booked for the next second
    outbound = Outbound(db, dispatcher.outbound.sender, settings)
    async with db.uow() as uow:
        booked = (await uow.session.get(SendPace, "sms")).next_at
        pushes = await outbound.queue(
            uow, [Reply("Order 1023: a buyer wants 20 jin apples", to=1)], utcnow()
        )
        await uow.commit()
    await outbound.deliver(pushes)
    assert [(m["To"], m["Body"]) for m in fake.messages] == [
        (number(0), "Order 1023: a buyer wants 20 jin apples")
    ]
    async with db.uow() as uow:
        moved = (await uow.session.get(SendPace, "sms")).next_at - booked
        assert moved == pytest.approx(1 / 5)  # one segment at 5/s: the broadcast yields one slot
        assert (await uow.session.get(Outbox, pushes[0].id)).status == "sent"
    await dispatcher.outbound.record(
        [Outcome(c.id, "released", attempts=c.attempts) for c in batch]
    )  # as on SIGTERM
    await dispatcher.drain(broadcast_id, timeout=60)
    got = received(fake)
    assert got == {
        **dict.fromkeys(expected, 1),
        number(0): 2,
    }  # the broadcast once each, plus the notification
