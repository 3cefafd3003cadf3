"""POST /webhooks/twilio as Twilio sends it: signed, idempotent, TwiML back, never a 500."""

from __future__ import annotations

import asyncio
from typing import Literal
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bot.app import SERVICES, create_app
from bot.outbound.sender import RecordingSender
from storage.models import InboundLog, Listing, User
from tests.conftest import make_settings

TOKEN, SID = "test-auth-token-0123456789", "AC" + "0" * 32
PUBLIC = "https://farm.example.org"  # what Twilio was told; the app itself runs behind a proxy
TWILIO_ENV = {
    "FARMCHAT_TWILIO__ACCOUNT_SID": SID,
    "FARMCHAT_TWILIO__AUTH_TOKEN": TOKEN,
    "FARMCHAT_TWILIO__FROM_NUMBER": "+15005550006",
    "FARMCHAT_SERVER__PUBLIC_URL": PUBLIC,
}
FARMER = "+8613800000001"


def inbound(body: str, sid: str, sender: str = FARMER, **extra) -> dict:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": SID,
        "From": sender,
        "To": "+15005550006",
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def sign(fields: dict, path: str = "/webhooks/twilio", token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(PUBLIC + path, fields)


@pytest.fixture
async def client(db_url, nlu_cache, real_nlu):
    app = create_app(
        make_settings(db_url, nlu_cache, **TWILIO_ENV), sender=RecordingSender(), nlu=real_nlu
    )
    async with TestClient(TestServer(app)) as client:
        yield client


async def post(
    client,
    fields: dict,
    signature: str | Literal[False] | None = None,
    path: str = "/webhooks/twilio",
):
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not False:
        headers["X-Twilio-Signature"] = sign(fields, path) if signature is None else signature
    resp = await client.post(path, data=urlencode(fields), headers=headers)
    return resp.status, await resp.text()


async def count(client, model) -> int:
    async with client.app[SERVICES].db.uow() as uow:
        return (await uow.session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_a_signed_message_gets_a_twiml_answer(client):
    status, body = await post(client, inbound("卖50斤苹果 三块五一斤", "SM" + "1" * 32))
    assert status == 200
    assert body.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Message>已发布')
    assert "¥3.50/斤" in body
    assert await count(client, Listing) == 1


@pytest.mark.parametrize("signature", [False, "", "bm90IGEgc2lnbmF0dXJl", "forged"])
async def test_unsigned_or_forged_requests_get_403_and_change_nothing(client, signature):
    status, _ = await post(
        client, inbound("sell 50kg apples at 3/kg", "SM" + "2" * 32), signature=signature
    )
    assert status == 403
    assert await count(client, InboundLog) == 0 and await count(client, Listing) == 0


@pytest.mark.parametrize("signature", [False, "Zm9yZ2Vk"])
async def test_a_body_that_is_not_utf8_is_refused_signed_or_not(client, signature):
    """Raw bytes no form decodes: 403 without a signature (before anything reads the body),
    400 with one (it cannot be checked), never a 200 or a traceback."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature:
        headers["X-Twilio-Signature"] = signature
    body = b"MessageSid=SM1&From=%2B8613800000001&Body=\xff\xfe\xc3(" + "卖".encode("gbk")
    resp = await client.post("/webhooks/twilio", data=body, headers=headers)
    assert resp.status == (400 if signature else 403)
    assert await count(client, InboundLog) == 0 and await count(client, User) == 0
    resp = await client.post("/webhooks/twilio/status", data=body, headers=headers)
    assert resp.status == (400 if signature else 403)


async def test_a_signature_replayed_with_another_body_gets_403(client):
    original = inbound("hi", "SM" + "3" * 32)
    tampered = {**original, "Body": "sell 500kg apples at 1/kg"}
    assert (await post(client, tampered, signature=sign(original)))[0] == 403
    wrong_key = sign(original, token="another-token")
    assert (await post(client, original, signature=wrong_key))[0] == 403
    assert await count(client, InboundLog) == 0


async def test_the_same_message_sid_three_times_concurrently_has_one_effect(client):
    fields = inbound("sell 50kg apples at 3/kg", "SM" + "4" * 32)
    results = await asyncio.gather(*(post(client, fields) for _ in range(3)))
    results.append(await post(client, fields))
    assert {status for status, _ in results} == {200} and len({body for _, body in results}) == 1
    assert await count(client, Listing) == 1 and await count(client, InboundLog) == 1


async def test_whatsapp_arrives_as_its_own_channel(client):
    status, body = await post(
        client,
        inbound(
            "hello",
            "SM" + "5" * 32,
            sender="whatsapp:+254700000002",
            ProfileName="Wanjiku",
            WaId="254700000002",
        ),
    )
    assert status == 200 and "<Message>Hello" in body
    async with client.app[SERVICES].db.uow() as uow:
        user = await uow.users.by_address("whatsapp", "+254700000002")
    assert user is not None


async def test_stop_and_start_record_consent_without_a_reply(client):
    status, body = await post(client, inbound("STOP", "SM" + "6" * 32))
    assert status == 200 and "<Message>" not in body
    async with client.app[SERVICES].db.uow() as uow:
        assert (await uow.users.by_address("sms", FARMER)).opted_out is True
    await post(client, inbound("start", "SM" + "7" * 32))
    async with client.app[SERVICES].db.uow() as uow:
        assert (await uow.users.by_address("sms", FARMER)).opted_out is False


async def test_long_replies_fit_two_sms_segments(client):
    from handlers.segments import segments

    for n in range(4):
        await post(
            client,
            inbound(
                f"sell {10 + n}kg honey at {40 + n}/kg",
                f"SM{n:032d}",
                sender=f"+86138000100{n:02d}",
            ),
        )
    _, body = await post(client, inbound("help", "SM" + "8" * 32))
    text = body.split("<Message>")[1].split("</Message>")[0]
    assert segments(text) <= 2


@pytest.mark.parametrize(
    "fields, content_type, status",
    [
        (
            {"From": FARMER, "Body": "hi"},
            "application/x-www-form-urlencoded",
            400,
        ),  # no MessageSid
        ({"MessageSid": "SM9", "Body": "hi"}, "application/x-www-form-urlencoded", 400),  # no From
        (
            {"MessageSid": "SM9", "From": "not-a-number", "Body": "hi"},
            "application/x-www-form-urlencoded",
            400,
        ),
        ({"MessageSid": "SM9", "From": FARMER, "Body": "hi"}, "application/json", 415),
    ],
)
async def test_malformed_requests_get_4xx(client, fields, content_type, status):
    headers = {"Content-Type": content_type, "X-Twilio-Signature": sign(fields)}
    resp = await client.post("/webhooks/twilio", data=urlencode(fields), headers=headers)
    assert resp.status == status
    assert await count(client, User) == 0


async def test_a_huge_body_gets_413(client):
    fields = inbound("x" * 200_000, "SM" + "9" * 32)
    status, _ = await post(client, fields)
    assert status == 413


def test_no_text_asks_for_a_carrier_keyword_alone():
    """Twilio treats STOP, CANCEL... sent alone as an opt-out and answers HELP/INFO itself."""
    import re

    from bot.channels.twilio.webhook import OPT_IN, OPT_OUT
    from handlers.texts import TEXTS

    keywords = OPT_OUT | OPT_IN | {"HELP", "INFO", "STOP"}
    for key, langs in TEXTS.items():
        for quoted in re.findall(r"['‘“]([^'’”]+)['’”]", langs["en"]):
            assert quoted.strip().upper() not in keywords, f"{key} asks for {quoted!r} alone"
