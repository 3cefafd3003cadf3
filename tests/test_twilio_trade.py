"""The full trade over Twilio webhooks and the fake Twilio: SMS and WhatsApp, push, status."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from bot.app import SERVICES, create_app
from bot.channels.twilio.send import basic_auth
from bot.fakes.twilio import FakeTwilio, inbound_fields, post_inbound
from storage.models import Outbox
from tests.conftest import make_settings

TOKEN, SID, NUMBER = "test-auth-token-0123456789", "AC" + "1" * 32, "+15005550006"
FARMER, BUYER = "+8613800000001", "+254700000002"
# Twilio's official OpenAPI spec (twilio-oai, Apache-2.0: tests/data/twilio-oai-LICENSE), vendored.
SPEC = Path(__file__).resolve().parent / "data" / "twilio_api_v2010.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Rig:
    """farmchat serving on loopback, the fake Twilio, and a client that texts like a phone."""

    def __init__(self, app, fake: FakeTwilio, url: str, session: aiohttp.ClientSession):
        self.app, self.fake, self.url, self.session = app, fake, url, session

    async def text(
        self, sender: str, body: str, whatsapp: bool = False, sid: str | None = None
    ) -> str:
        fields = inbound_fields(sender, NUMBER, body, sid=sid, whatsapp=whatsapp)
        status, xml = await post_inbound(
            self.session, self.url + "/webhooks/twilio", TOKEN, fields
        )
        assert status == 200, xml
        found = re.search(r"<Message>(.*)</Message>", xml, re.S)
        return found.group(1) if found else ""

    async def pushed_to(self, to: str, count: int = 1) -> list[str]:
        """The texts the fake received for `to`, once `count` arrived (pushes follow the reply)."""
        for _ in range(100):
            bodies = [m["Body"] for m in self.fake.messages if m["To"] == to]
            if len(bodies) >= count:
                return bodies
            await asyncio.sleep(0.05)
        return bodies

    async def outbox(self) -> list[Outbox]:
        async with self.app[SERVICES].db.uow() as uow:
            return list((await uow.session.execute(select(Outbox).order_by(Outbox.id))).scalars())

    async def settled(self, predicate, what: str):
        """Wait (bounded) until the outbox rows satisfy predicate."""
        for _ in range(100):
            rows = await self.outbox()
            if predicate(rows):
                return rows
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"never {what}: {[(r.status, r.provider_status, r.error_code) for r in rows]}"
        )


@pytest.fixture
async def rig(db_url, nlu_cache, real_nlu):
    async with (
        FakeTwilio(SID, TOKEN, callback_delay=0.05) as fake,
        aiohttp.ClientSession() as session,
    ):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        settings = make_settings(
            db_url,
            nlu_cache,
            FARMCHAT_TWILIO__ACCOUNT_SID=SID,
            FARMCHAT_TWILIO__AUTH_TOKEN=TOKEN,
            FARMCHAT_TWILIO__FROM_NUMBER=NUMBER,
            FARMCHAT_TWILIO__WHATSAPP_FROM=f"whatsapp:{NUMBER}",
            FARMCHAT_TWILIO__API_BASE=fake.url,
            FARMCHAT_TWILIO__TIMEOUT_SECONDS="1",
            FARMCHAT_SERVER__PUBLIC_URL=url,
        )
        app = create_app(settings, nlu=real_nlu, background=False)
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server()
        try:
            yield Rig(app, fake, url, session)
        finally:
            await server.close()


@pytest.mark.parametrize("farmer_whatsapp, buyer_whatsapp", [(False, True), (True, False)])
async def test_full_trade_over_sms_and_whatsapp(rig, farmer_whatsapp, buyer_whatsapp):
    farmer_to = f"whatsapp:{FARMER}" if farmer_whatsapp else FARMER
    buyer_to = f"whatsapp:{BUYER}" if buyer_whatsapp else BUYER
    assert "已发布" in await rig.text(FARMER, "卖50斤苹果 三块五一斤", whatsapp=farmer_whatsapp)
    assert "1) 50 jin at ¥3.50/jin" in await rig.text(
        BUYER, "buy 20 jin apples", whatsapp=buyer_whatsapp
    )
    created = await rig.text(BUYER, "1", whatsapp=buyer_whatsapp)
    found = re.search(r"Order (\d+)", created)
    assert found, created
    ref = found.group(1)
    [ask] = await rig.pushed_to(farmer_to)
    assert f"是{ref}" in ask
    accepted = await rig.text(FARMER, f"yes {ref}", whatsapp=farmer_whatsapp)
    assert f"accepted order {ref}" in accepted
    [told] = await rig.pushed_to(buyer_to)
    assert f"Order {ref} accepted" in told and FARMER in told
    rows = await rig.settled(
        lambda rows: all(r.provider_status == "delivered" for r in rows) and len(rows) == 2,
        "delivered",
    )
    assert [r.provider_sid for r in rows] == [m["sid"] for m in rig.fake.messages]
    assert [m["StatusCallback"] for m in rig.fake.messages] == [
        f"{rig.url}/webhooks/twilio/status?ref={r.id}" for r in rows
    ]
    assert all(c["http_status"] == 200 for c in rig.fake.callbacks_sent)


async def order_pending(rig) -> None:
    await rig.text(FARMER, "sell 50kg apples at 3/kg")
    await rig.text(BUYER, "buy 20 kg apples")
    await rig.text(BUYER, "1")  # pushes "new order" to the farmer


async def test_an_opted_out_recipient_is_recorded_and_not_retried(rig):
    rig.fake.fail_to(FARMER, 21610)
    await order_pending(rig)
    [told] = await rig.pushed_to(BUYER)  # the order the farmer never heard of is called off
    assert "is cancelled: the farmer can't be reached right now" in told
    row, _ = await rig.settled(
        lambda rows: len(rows) == 2 and rows[0].status == "failed", "failed, the buyer told"
    )
    assert row.error_code == 21610 and row.attempts == 1
    async with rig.app[SERVICES].db.uow() as uow:
        assert (await uow.users.by_address("sms", FARMER)).opted_out is True
    to_farmer = [a for a in rig.fake.attempts if ("To", FARMER) in a["form"]]
    assert len(to_farmer) == 1 and [m["To"] for m in rig.fake.messages] == [BUYER]


async def test_whatsapp_outside_the_24_hour_window_is_recorded_not_retried(rig):
    rig.fake.fail_to(f"whatsapp:{FARMER}", 63016)
    await rig.text(FARMER, "sell 50kg apples at 3/kg", whatsapp=True)
    await rig.text(BUYER, "buy 20 kg apples")
    assert "Order" in await rig.text(BUYER, "1")
    [told] = await rig.pushed_to(BUYER)  # until the farmer writes, nothing can reach them
    assert "is cancelled: the farmer can't be reached right now" in told
    row, _ = await rig.settled(
        lambda rows: len(rows) == 2 and rows[0].status == "failed", "failed, the buyer told"
    )
    assert (row.channel, row.error_code, row.attempts) == ("whatsapp", 63016, 1)
    assert "24-hour window" in row.error
    await asyncio.sleep(0.3)
    to_farmer = [a for a in rig.fake.attempts if ("To", f"whatsapp:{FARMER}") in a["form"]]
    assert len(to_farmer) == 1 and [m["To"] for m in rig.fake.messages] == [BUYER]
    async with rig.app[SERVICES].db.uow() as uow:
        assert (
            await uow.users.by_address("whatsapp", FARMER)
        ).opted_out is False  # not an opt-out


async def test_a_status_callback_that_overtakes_the_create_response_is_kept(rig):
    rig.fake.callback_delay = 30  # only the early "sent" arrives
    rig.fake.early_callbacks = True
    await order_pending(rig)
    [row] = await rig.settled(lambda rows: rows and rows[0].status == "sent", "sent")
    [callback] = rig.fake.callbacks_sent
    assert callback["http_status"] == 200 and callback["MessageStatus"] == "sent"
    assert (row.provider_sid, row.provider_status) == (callback["MessageSid"], "sent")


async def test_429_is_backed_off_and_sent_once(rig):
    rig.fake.fail_next(20429, times=2)
    await order_pending(rig)
    [row] = await rig.settled(lambda rows: rows and rows[0].status == "sent", "sent")
    assert len(rig.fake.attempts) == 3 and len(rig.fake.messages) == 1
    assert row.provider_sid == rig.fake.messages[0]["sid"]


async def test_a_timeout_is_recorded_and_never_resent(rig):
    rig.fake.hang_next(3)  # longer than the 1 s timeout configured
    await order_pending(rig)
    [row] = await rig.settled(lambda rows: rows and rows[0].status == "failed", "failed")
    assert "not resent" in row.error
    await asyncio.sleep(2.5)
    assert len(rig.fake.attempts) == 1


async def test_status_never_moves_backwards(rig):
    rig.fake.callback_delay = 30  # hold the automatic callbacks back; send them by hand
    await order_pending(rig)
    [row] = await rig.settled(lambda rows: rows and rows[0].provider_sid, "sent")
    sid = row.provider_sid
    assert await rig.fake.send_status(sid, "undelivered", error_code=30003) == 200
    assert await rig.fake.send_status(sid, "sent") == 200  # late and out of order
    [row] = await rig.outbox()
    assert (row.provider_status, row.error_code) == ("undelivered", 30003)


async def test_a_status_callback_with_numbers_out_of_range_is_kept_by_its_sid(rig):
    """A signed callback whose ?ref= or ErrorCode overflows a database integer still moves
    the row it names by MessageSid; it is not an error (no 500, no traceback)."""
    rig.fake.callback_delay = 30
    await order_pending(rig)
    [row] = await rig.settled(lambda rows: rows and rows[0].provider_sid, "sent")
    # past PostgreSQL's 32-bit INTEGER but within 64 bits, then past any integer column
    for big, ref in ((2**31, str(2**31 + 5)), (10**25, "9" * 30)):
        url = rig.url + "/webhooks/twilio/status?ref=" + ref
        status = await rig.fake.send_status(row.provider_sid, "sent", error_code=big, url=url)
        assert status == 200
        [row] = await rig.outbox()
        assert (row.provider_status, row.error_code) == ("sent", None)
    url = rig.url + "/webhooks/twilio/status?ref=%D9%A3"  # a non-ASCII digit
    assert (
        await rig.fake.send_status(row.provider_sid, "undelivered", error_code=30003, url=url)
        == 200
    )
    [row] = await rig.outbox()
    assert (row.provider_status, row.error_code) == ("undelivered", 30003)


async def test_a_forged_status_callback_changes_nothing(rig):
    rig.fake.callback_delay = 30
    await order_pending(rig)
    [row] = await rig.settled(lambda rows: rows and rows[0].provider_sid, "sent")
    fields = {"MessageSid": row.provider_sid, "MessageStatus": "delivered"}
    async with rig.session.post(
        rig.url + "/webhooks/twilio/status",
        data=urlencode(fields),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": "Zm9yZ2Vk",
        },
    ) as resp:
        assert resp.status == 403
    [row] = await rig.outbox()
    assert row.provider_status == "queued"


async def test_requests_farmchat_sends_match_twilios_openapi_spec(rig):
    from openapi_core import OpenAPI
    from openapi_core.testing import MockRequest, MockResponse

    assert SPEC.is_file(), f"Twilio's OpenAPI spec is missing: {SPEC} (vendored from twilio-oai)"
    await order_pending(rig)
    await rig.text(FARMER, "no")  # a second push, to the buyer
    await rig.settled(
        lambda rows: len(rows) == 2 and all(r.status == "sent" for r in rows), "sent"
    )
    spec = OpenAPI.from_file_path(str(SPEC))
    path = f"/2010-04-01/Accounts/{SID}/Messages.json"
    for attempt in rig.fake.attempts:
        request = MockRequest(
            "https://api.twilio.com",
            "post",
            path,
            data=urlencode(attempt["form"]).encode(),
            headers={"Authorization": attempt["headers"]["Authorization"]},
            content_type="application/x-www-form-urlencoded",
        )
        spec.validate_request(
            request
        )  # raises with the reason when the request breaks the contract
    assert len(rig.fake.attempts) == 2
    async with rig.session.post(
        rig.fake.url + path,
        data={"To": BUYER, "From": NUMBER, "Body": "hi"},
        headers={"Authorization": basic_auth(SID, TOKEN)},
    ) as resp:
        body = await resp.read()
    request = MockRequest(
        "https://api.twilio.com",
        "post",
        path,
        data=urlencode({"To": BUYER, "From": NUMBER, "Body": "hi"}).encode(),
        content_type="application/x-www-form-urlencoded",
        headers={"Authorization": basic_auth(SID, TOKEN)},
    )
    spec.validate_response(
        request, MockResponse(body, status_code=201, content_type="application/json")
    )
