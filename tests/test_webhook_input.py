"""What providers never send gets 400 and stores nothing; what a user can send gets one reply.

Twilio's MessageSid and WeChat's MsgId are checked at the adapter, before a row is written:
on PostgreSQL one past its column was a database error and an apology, on SQLite a stored id
no provider ever sent. A WeChat location a client can get wrong (NaN, inf, 1e999, off the
globe) is answered politely in the user's language instead of raising in the haversine.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bot.app import SERVICES, create_app
from bot.channels.wechat.events import TEXTS
from bot.outbound.sender import RecordingSender
from storage.models import Base, InboundLog, Outbox, User
from tests.conftest import make_settings
from tests.wechat_rig import open_rig

TOKEN, ACCOUNT_SID = "test-auth-token-0123456789", "AC" + "0" * 32
PUBLIC = "https://farm.example.org"
TWILIO_ENV = {
    "FARMCHAT_TWILIO__ACCOUNT_SID": ACCOUNT_SID,
    "FARMCHAT_TWILIO__AUTH_TOKEN": TOKEN,
    "FARMCHAT_TWILIO__FROM_NUMBER": "+15005550006",
    "FARMCHAT_SERVER__PUBLIC_URL": PUBLIC,
}
FARMER = "+8613800000001"
GOOD_SID = "SM" + "c" * 32
NOT_SIDS = [
    "SM" + "a" * 198,  # past inbound_messages.message_id's 128
    "SM" + "a" * 127,  # 129
    "SM" + "a" * 63,  # 65: past outbox.provider_sid's 64
    "",
    "SM 0123",
    "SM\x00" + "a" * 31,
    "SM١٢٣",  # digits, but not ASCII ones
]


def inbound(sid: str, body: str = "help", **extra: str) -> dict:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": FARMER,
        "To": "+15005550006",
        "Body": body,
        "NumMedia": "0",
        "ApiVersion": "2010-04-01",
        **extra,
    }


@pytest.fixture
async def twilio(db_url, nlu_cache, real_nlu, tmp_path):
    settings = make_settings(
        db_url,
        nlu_cache,
        FARMCHAT_DASHBOARD__KEY_FILE=str(tmp_path / "session.key"),
        **TWILIO_ENV,
    )
    app = create_app(settings, sender=RecordingSender(), nlu=real_nlu, background=False)
    async with TestClient(TestServer(app)) as client:
        yield client


async def post_twilio(client, path: str, fields: dict) -> tuple[int, str]:
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + path, fields)
    resp = await client.post(
        path,
        data=urlencode(fields),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    return resp.status, await resp.text()


async def rows(db) -> dict[str, int]:
    """Rows in every table of farmchat's schema."""
    async with db.uow() as uow:
        return {
            table.name: (
                await uow.session.execute(select(func.count()).select_from(table))
            ).scalar_one()
            for table in Base.metadata.sorted_tables
        }


# Twilio -------------------------------------------------------------------------------------
@pytest.mark.parametrize("sid", NOT_SIDS)
async def test_a_message_whose_sid_twilio_never_sends_is_400_and_stores_nothing(twilio, sid):
    db = twilio.app[SERVICES].db
    before = await rows(db)
    status, body = await post_twilio(twilio, "/webhooks/twilio", inbound(sid))
    assert (status, "Sorry" in body) == (400, False)
    assert await rows(db) == before
    status, body = await post_twilio(twilio, "/webhooks/twilio", inbound(GOOD_SID))
    assert status == 200 and "<Message>" in body and "Sorry" not in body
    async with db.uow() as uow:
        ids = (await uow.session.execute(select(InboundLog.message_id))).scalars().all()
    assert ids == [GOOD_SID]


@pytest.mark.parametrize("field", ["SmsSid", "SmsMessageSid"])
async def test_a_message_with_a_long_sms_sid_is_400(twilio, field):
    fields = {**inbound(GOOD_SID), field: "SM" + "b" * 300}
    status, _ = await post_twilio(twilio, "/webhooks/twilio", fields)
    assert status == 400
    async with twilio.app[SERVICES].db.uow() as uow:
        assert (await uow.session.execute(select(func.count(User.id)))).scalar_one() == 0


async def pending_push(db) -> int:
    """A notification sent before Twilio said its SID: what a status callback's ?ref= names."""
    now = datetime.now(UTC)
    async with db.uow() as uow:
        user = User(channel="sms", address=FARMER, created_at=now, last_seen_at=now)
        uow.session.add(user)
        await uow.session.flush()
        row = Outbox(
            user_id=user.id,
            channel="sms",
            address=FARMER,
            text="hi",
            status="sent",
            created_at=now,
        )
        uow.session.add(row)
        await uow.session.flush()
        row_id = row.id
        await uow.commit()
    return row_id


async def outbox_row(db, row_id: int) -> tuple:
    async with db.uow() as uow:
        row = await uow.session.get(Outbox, row_id)
        assert row is not None
        return row.provider_sid, row.provider_status


@pytest.mark.parametrize("sid", NOT_SIDS)
async def test_a_status_callback_whose_sid_twilio_never_sends_is_400_and_changes_nothing(
    twilio, sid
):
    db = twilio.app[SERVICES].db
    row_id = await pending_push(db)
    path = f"/webhooks/twilio/status?ref={row_id}"
    callback = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": "delivered", "To": FARMER}
    status, _ = await post_twilio(twilio, path, callback)
    assert status == 400
    assert await outbox_row(db, row_id) == (None, None)
    good = {**callback, "MessageSid": GOOD_SID, "SmsSid": GOOD_SID}
    assert (await post_twilio(twilio, path, good))[0] == 200
    assert await outbox_row(db, row_id) == (GOOD_SID, "delivered")


# WeChat -------------------------------------------------------------------------------------
OPENID = "oyORnuP8q7ou2gfYjqLzSIWZf0rs"


@pytest.fixture
async def rig(db_url, nlu_cache, real_nlu, tmp_path):
    async with open_rig(
        db_url, nlu_cache, real_nlu, FARMCHAT_DASHBOARD__KEY_FILE=str(tmp_path / "session.key")
    ) as rig:
        yield rig


async def push_raw(rig, fields) -> tuple[int, str]:
    """One delivery of a signed, encrypted push; the status and the body WeChat gets."""
    query, body = rig.pusher.request(fields)
    async with rig.session.post(
        rig.pusher.url, params=query, data=body.encode(), headers={"Content-Type": "text/xml"}
    ) as resp:
        return resp.status, await resp.text()


NOT_MSG_IDS = [
    "1" * 200,  # past inbound_messages.message_id's 128
    "1" * 21,
    str(2**64),
    "-5",
    "12abc",
    "1.5",
    "",
    "١٢٣",  # digits, but not ASCII ones
]


@pytest.mark.parametrize("msg_id", NOT_MSG_IDS)
async def test_a_msg_id_that_is_not_a_64_bit_integer_is_400_and_stores_nothing(rig, msg_id):
    before = await rows(rig.svc.db)
    fields = rig.pusher.message(OPENID, "text", Content="帮助", MsgId=msg_id)
    assert (await push_raw(rig, fields))[0] == 400
    assert await rows(rig.svc.db) == before
    assert rig.fake.texts_to(OPENID) == []


async def test_the_largest_64_bit_msg_id_is_a_message(rig):
    largest = 2**64 - 1
    assert "卖" in await rig.say(OPENID, "帮助", msg_id=largest)
    async with rig.svc.db.uow() as uow:
        ids = (await uow.session.execute(select(InboundLog.message_id))).scalars().all()
    assert ids == [str(largest)]


async def test_a_template_result_with_a_msg_id_that_is_not_an_integer_is_400(rig):
    fields = rig.pusher.event(OPENID, "TEMPLATESENDJOBFINISH", MsgID="x" * 300, Status="success")
    assert (await push_raw(rig, fields))[0] == 400


BAD_POINTS = [
    ("nan", "104.935"),
    ("33.388", "NaN"),
    ("inf", "104.935"),
    ("33.388", "-infinity"),
    ("1e999", "104.935"),
    ("33.388", "-1e999"),
    ("90.5", "104.935"),
    ("-91", "104.935"),
    ("33.388", "180.01"),
    ("393.388", "464.935"),  # Wudu, once round the globe each way
    ("", "104.935"),
    ("north", "east"),
]


@pytest.mark.parametrize("lat, lon", BAD_POINTS)
async def test_a_location_off_the_globe_gets_one_polite_reply(rig, caplog, lat, lon):
    caplog.set_level(logging.WARNING)
    fields = rig.pusher.message(
        OPENID, "location", Location_X=lat, Location_Y=lon, Scale=15, Label="", MsgId=77
    )
    status, body = await push_raw(rig, fields)
    assert status == 200
    assert rig.pusher.open_reply(body)["Content"] == TEXTS["place_unreadable"]["zh"]
    user = await rig.user("wechat", OPENID)
    assert user is not None and user.place is None
    await asyncio.sleep(0.2)  # a customer-service copy would follow by now
    assert rig.fake.texts_to(OPENID) == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_the_polite_reply_is_in_the_users_language(rig):
    assert "sell" in (await rig.say(OPENID, "help")).lower()
    fields = rig.pusher.message(
        OPENID, "location", Location_X="1e999", Location_Y="nan", Scale=15, Label="", MsgId=79
    )
    status, body = await push_raw(rig, fields)
    assert status == 200
    assert rig.pusher.open_reply(body)["Content"] == TEXTS["place_unreadable"]["en"]
    async with rig.svc.db.uow() as uow:
        logged = (await uow.session.execute(select(InboundLog.reply))).scalars().all()
    assert logged[-1] == TEXTS["place_unreadable"]["en"]


async def test_a_good_location_still_sets_the_place(rig):
    fields = rig.pusher.message(
        OPENID, "location", Location_X="33.388", Location_Y="104.935", Scale=15, Label="", MsgId=80
    )
    assert await rig.push(fields) == "已保存：地点武都。"
    assert (await rig.user("wechat", OPENID)).place == "wudu"


@pytest.mark.parametrize("lat, lon", [("nan", "nan"), ("1e999", "-inf"), ("91", "181")])
async def test_a_location_report_event_with_a_bad_point_is_acknowledged(rig, caplog, lat, lon):
    """The LOCATION event comes by itself each time the user opens the chat; farmchat does not
    answer it, whatever its point."""
    caplog.set_level(logging.WARNING)
    fields = rig.pusher.event(OPENID, "LOCATION", Latitude=lat, Longitude=lon, Precision="65")
    assert await push_raw(rig, fields) == (200, "success")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
