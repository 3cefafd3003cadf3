"""The channels' rows in storage: the inbound log, delivery receipts, WeChat's claims, token
and contacts, and daily quotas, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage import delivery, inbound, wechat
from storage.db import create_engine, upgrade
from storage.models import Outbox
from storage.uow import Database

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
RANK = {"queued": 1, "sent": 3, "delivered": 4, "failed": 4}


@pytest.fixture
async def db(db_url):
    engine = create_engine(db_url)
    await upgrade(engine)
    database = Database(engine)
    yield database
    await database.close()


def entry(message_id: str, reply: str = "hello", user_id: int | None = None) -> inbound.Entry:
    return inbound.Entry("wechat", message_id, user_id, "hi", "greet", reply, "done", NOW)


async def new_user(uow, address: str) -> int:
    return (await uow.users.get_or_create("sms", address, NOW, "user")).id


async def test_a_message_id_is_logged_once(db):
    async with db.uow() as uow:
        assert await inbound.answered(uow, "wechat", "M1") is None
        await inbound.record(uow, entry("M1", reply=""))
        await uow.commit()
    async with db.uow() as uow:
        assert await inbound.answered(uow, "wechat", "M1") == ""  # answered, with no words
        assert await inbound.answered(uow, "sms", "M1") is None
        with pytest.raises(inbound.Duplicate):
            await inbound.record(uow, entry("M1"))


async def test_a_receipt_moves_a_message_forward_only(db):
    ladder = delivery.StatusLadder(RANK)
    async with db.uow() as uow:
        user_id = await new_user(uow, "+8613800000001")
        row_id = await uow.outbox.insert(
            user_id=user_id,
            channel="sms",
            address="+8613800000001",
            text="t",
            kind="notification",
            status="sent",
            attempts=1,
            created_at=NOW,
        )
        await uow.commit()
    receipts = [
        delivery.Receipt("SM1", "delivered", ref=row_id),
        delivery.Receipt("SM1", "sent", error_code=30001),  # late, found by its sid
        delivery.Receipt("SM2", "failed"),  # nobody's
    ]
    async with db.uow() as uow:
        recorded = [await ladder.record(uow, r) for r in receipts]
        await uow.commit()
    assert recorded == [
        delivery.Recorded(row_id, user_id, True),
        delivery.Recorded(row_id, user_id, False),
        None,
    ]
    async with db.uow() as uow:
        row = await uow.session.get(Outbox, row_id)
        user = await uow.users.get(user_id)
    assert (row.provider_sid, row.provider_status, row.error_code) == ("SM1", "delivered", None)
    assert user.opted_out is False


async def test_an_opt_out_receipt_marks_the_user(db):
    ladder = delivery.StatusLadder(RANK)
    async with db.uow() as uow:
        user_id = await new_user(uow, "+8613800000002")
        await uow.outbox.insert(
            user_id=user_id,
            channel="sms",
            address="+8613800000002",
            text="t",
            kind="notification",
            status="sent",
            attempts=1,
            created_at=NOW,
            provider_sid="SM9",
        )
        await ladder.record(uow, delivery.Receipt("SM9", "failed", 21610, opted_out=True))
        await uow.commit()
    async with db.uow() as uow:
        assert (await uow.users.get(user_id)).opted_out is True


async def test_a_wechat_reply_goes_one_way_only(db):
    async with db.uow() as uow:
        for message_id in ("A", "B", "C"):
            await inbound.record(uow, entry(message_id))
        await uow.commit()
    async with db.uow() as uow:
        # a redelivery answered A passively: the first job's customer-service copy is refused
        assert await wechat.claim_passive_reply(uow, "A", "job1")
        assert await wechat.claim_passive_reply(uow, "A", "job2")
        assert not await wechat.claim_pushed_reply(uow, "A", "job1")
        # B went by customer service: no passive answer may follow
        assert await wechat.claim_pushed_reply(uow, "B", "job1")
        assert not await wechat.claim_passive_reply(uow, "B", "job2")
        # C was answered passively by this very job, which may still push it
        assert await wechat.claim_passive_reply(uow, "C", "job1")
        assert await wechat.claim_pushed_reply(uow, "C", "job1")
        # a message that left no row has nothing to share
        assert await wechat.claim_pushed_reply(uow, "never-logged", "job1")


async def test_one_process_at_a_time_renews_the_token(db):
    async with db.uow() as uow:
        assert await wechat.stored_token(uow, "wxapp") is None
        assert await wechat.take_token_lease(uow, "wxapp", NOW, NOW + timedelta(seconds=30))
        assert not await wechat.take_token_lease(uow, "wxapp", NOW, NOW + timedelta(seconds=30))
        expires = NOW + timedelta(hours=2)
        await wechat.release_token_lease(uow, "wxapp", NOW, "TOKEN", expires)
        assert await wechat.stored_token(uow, "wxapp") == wechat.StoredToken("TOKEN", expires)
        assert await wechat.take_token_lease(uow, "wxapp", NOW, NOW + timedelta(seconds=30))
        await wechat.release_token_lease(uow, "wxapp", NOW)  # a failed renewal keeps the token
        assert await wechat.stored_token(uow, "wxapp") == wechat.StoredToken("TOKEN", expires)


async def test_a_contact_remembers_messages_and_events_apart(db):
    async with db.uow() as uow:
        assert await wechat.contact(uow, "o1") is None
        await wechat.touch_contact(uow, "o1", NOW)
        await wechat.touch_contact(uow, "o1", NOW + timedelta(minutes=1), event=True)
        await wechat.touch_contact(uow, "o1", NOW + timedelta(minutes=2))
        contact = await wechat.contact(uow, "o1")
    assert contact == wechat.Contact("o1", NOW + timedelta(minutes=2), NOW + timedelta(minutes=1))


async def test_a_daily_quota_is_shared_and_can_be_spent(db):
    async with db.uow() as uow:
        taken = [await delivery.take_quota(uow, "tpl", "2026-11-28", below=2) for _ in range(3)]
        assert taken == [True, True, False]
        assert await delivery.take_quota(uow, "tpl", "2026-11-29", below=2)
        await delivery.spend_quota(uow, "tpl", "2026-11-29", limit=5)
        assert not await delivery.take_quota(uow, "tpl", "2026-11-29", below=5)
