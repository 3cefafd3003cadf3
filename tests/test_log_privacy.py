"""What an operator's log shows of a whole trade over WeChat, SMS and WhatsApp.

No phone number or OpenID appears in full in any line (tracebacks and access-log lines
included), nor what the users wrote, nor the values of a failed SQL statement; the access-log
lines keep their timestamps, nonces, status codes and byte counts.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import time
from contextlib import AsyncExitStack

import aiohttp
import phonenumbers
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import insert

from bot import logs
from bot.app import create_app
from bot.fakes import wechat as fake_wechat
from bot.fakes.twilio import FakeTwilio, inbound_fields, post_inbound
from bot.fakes.wechat import FakeWeChat
from storage import inbound
from storage.models import User
from tests.conftest import make_settings
from tests.wechat_rig import APP_ID, SECRET, WeChatRig, free_port, wechat_env

TWILIO_TOKEN, SID, NUMBER = "test-auth-token-0123456789", "AC" + "1" * 32, "+15005550006"
FARMER = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"  # on WeChat: an OpenID as WeChat issues them
BUYER = "+8613812345678"  # by SMS
SECOND_BUYER = "+254711223344"  # on WhatsApp; pushes to this number fail
OPENIDS = (FARMER,)
NUMBERS = (BUYER, SECOND_BUYER)
TROUBLE = "call me on 13812345678 about the apples"  # a statement fails on this message
WRITTEN = ("卖50斤苹果 三块五一斤", "buy 20 jin apples", "buy 10 jin apples", TROUBLE)
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")
REQUEST_TIME = re.compile(r" \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] ")


def spellings(number: str) -> list[str]:
    """Ways a number can be written in a log: E.164, without +, URL-encoded, national."""
    national = str(phonenumbers.parse(number).national_number)
    return [number, number[1:], "%2B" + number[1:], national]


@pytest.fixture
def operator_log():
    """farmchat's own logging set up at DEBUG (logs.setup), written to a buffer."""
    root = logging.getLogger()
    names = ("alembic", "sqlalchemy.engine", "aiosqlite")
    saved = root.handlers[:], root.level, {n: logging.getLogger(n).level for n in names}
    logs.setup("DEBUG")
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)
    yield buffer
    root.handlers[:], root.level = saved[0], saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def nonces(monkeypatch):
    """The nonces the fake WeChat signs its pushes with, in order."""
    made: list[str] = []
    real = fake_wechat.new_nonce

    def recorded() -> str:
        made.append(real())
        return made[-1]

    monkeypatch.setattr(fake_wechat, "new_nonce", recorded)
    return made


@pytest.fixture
def failing_statement(monkeypatch):
    """Recording TROUBLE runs a statement the database refuses, with the sender's address
    and the text among its parameters (users.created_at is NOT NULL)."""
    real = inbound.record

    async def record(uow, entry: inbound.Entry) -> None:
        if entry.text != TROUBLE:
            return await real(uow, entry)
        user = await uow.session.get(User, entry.user_id) if entry.user_id else None
        address = user.address if user else {"wechat": FARMER}.get(entry.channel, BUYER)
        await uow.session.execute(
            insert(User).values(
                channel=entry.channel, address=address, name=entry.text[:64], created_at=None
            )
        )

    monkeypatch.setattr(inbound, "record", record)


class Market:
    """The farmer on WeChat, the buyers on SMS and WhatsApp, one farmchat."""

    def __init__(self, rig, twilio: FakeTwilio):
        self.rig, self.twilio = rig, twilio

    async def wechat(self, text: str, twice: bool = False) -> str:
        """The farmer's message; twice: WeChat delivers the same message again."""
        fields = self.rig.pusher.text(FARMER, text)
        reply = await self.rig.push(fields)
        if twice:
            await self.rig.push(fields, expect_reply=False)
        return reply or ""

    async def follow(self) -> None:
        fields = self.rig.pusher.event(FARMER, "subscribe")
        await self.rig.push(fields)
        await self.rig.push(fields, expect_reply=False)

    async def text(self, sender: str, body: str, whatsapp: bool = False) -> str:
        fields = inbound_fields(sender, NUMBER, body, whatsapp=whatsapp)
        status, xml = await post_inbound(
            self.rig.session, self.rig.url + "/webhooks/twilio", TWILIO_TOKEN, fields
        )
        assert status == 200, xml
        found = re.search(r"<Message>(.*)</Message>", xml, re.S)
        return found.group(1) if found else ""

    async def farmer_told(self, count: int) -> list[str]:
        for _ in range(100):
            if len(self.rig.fake.texts_to(FARMER)) >= count:
                break
            await asyncio.sleep(0.05)
        return self.rig.fake.texts_to(FARMER)

    async def order(self, buyer: str, text: str, whatsapp: bool = False) -> str:
        assert "1)" in await self.text(buyer, text, whatsapp=whatsapp)
        found = re.search(r"Order (\d+)", await self.text(buyer, "1", whatsapp=whatsapp))
        assert found
        return found.group(1)


@pytest.fixture
async def market(db_url, nlu_cache, real_nlu, operator_log):
    async with AsyncExitStack() as stack:
        twilio = await stack.enter_async_context(
            FakeTwilio(SID, TWILIO_TOKEN, callback_delay=0.05)
        )
        wechat = await stack.enter_async_context(FakeWeChat(APP_ID, SECRET))
        session = await stack.enter_async_context(aiohttp.ClientSession())
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **wechat_env(wechat.url),
            "FARMCHAT_TWILIO__ACCOUNT_SID": SID,
            "FARMCHAT_TWILIO__AUTH_TOKEN": TWILIO_TOKEN,
            "FARMCHAT_TWILIO__FROM_NUMBER": NUMBER,
            "FARMCHAT_TWILIO__WHATSAPP_FROM": f"whatsapp:{NUMBER}",
            "FARMCHAT_TWILIO__API_BASE": twilio.url,
            "FARMCHAT_SERVER__PUBLIC_URL": url,
        }
        app = create_app(make_settings(db_url, nlu_cache, **env), nlu=real_nlu, background=False)
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server()
        stack.push_async_callback(server.close)
        yield Market(WeChatRig(app, wechat, url, session, "safe"), twilio)


async def trade(market: Market) -> None:
    """Follow, list, two orders (one accepted, one declined, its push failing), and a message
    on each channel that a failing statement turns into an apology."""
    await market.follow()
    assert "已发布" in await market.wechat(WRITTEN[0], twice=True)
    ref = await market.order(BUYER, WRITTEN[1])
    assert ref in (await market.farmer_told(1))[0]
    assert ref in await market.wechat(f"是{ref}")
    market.twilio.fail_to(f"whatsapp:{SECOND_BUYER}", 63016)
    second = await market.order(SECOND_BUYER, WRITTEN[2], whatsapp=True)
    assert second in (await market.farmer_told(2))[1]
    assert second in await market.wechat(f"不{second}")
    await market.rig.settled(
        lambda rows: len(rows) == 4 and all(r.status in ("sent", "failed") for r in rows),
        "sent or failed",
    )
    assert await market.text(BUYER, TROUBLE)  # the apology; Twilio still gets its 200
    assert await market.wechat(TROUBLE)
    await asyncio.sleep(0.3)  # the last status callbacks


@pytest.mark.usefixtures("failing_statement")
async def test_a_whole_trade_logs_no_number_openid_or_message(market, operator_log, nonces):
    started = int(time.time())
    await trade(market)
    log = operator_log.getvalue()
    leaks = [
        (secret, line)
        for secret in [*OPENIDS, *(s for n in NUMBERS for s in spellings(n))]
        for line in log.splitlines()
        if secret in line
    ]
    assert leaks == []
    # the failures were logged, with their tracebacks, without the statement's values
    assert log.count("Traceback (most recent call last)") >= 2
    assert "IntegrityError" in log and "INSERT INTO users" in log
    assert "[parameters:" not in log
    rows = [line for line in log.splitlines() if "Failing row contains" in line]  # PostgreSQL
    assert all(line.endswith("Failing row contains (...).") for line in rows), rows
    # an operator can still tell the users apart
    assert f"WeChat delivered {FARMER[:4]}*" in log and f"*{FARMER[-2:]}|" in log
    assert f"push to {SECOND_BUYER[:6]}*****{SECOND_BUYER[-2:]} failed" in log
    written = [line for line in log.splitlines() if any(text in line for text in WRITTEN)]
    assert written == []
    assert " sqlalchemy.engine." not in log  # no statements, values or rows, even at DEBUG
    assert_access_lines_intact(log, nonces, started)


def assert_access_lines_intact(log: str, nonces: list[str], started: int) -> None:
    """Access-log lines keep the record's time and the request's, the query's timestamp and
    nonce, the status and the byte count; their only stars are in masked OpenIDs."""
    access = [line for line in log.splitlines() if " aiohttp.access: " in line]
    assert all(STAMP.match(line) and REQUEST_TIME.search(line) for line in access), access
    wechat = [line for line in access if "/webhooks/wechat?" in line]
    assert len(wechat) >= len(nonces) > 0
    for line in wechat:
        found = re.search(r"timestamp=(\d+)&nonce=(\d+)&", line)
        assert found, line
        assert started - 1 <= int(found.group(1)) <= time.time() + 1, line
        assert found.group(2) in nonces, line
    assert all(re.search(r'HTTP/1\.1" \d{3} \d+ ', line) for line in access), access
    for line in access:
        assert "*" not in re.sub(r"openid=[\w*-]+", "", line), line
    status = [line for line in access if "/webhooks/twilio/status?ref=" in line]
    assert status and all(re.search(r"\?ref=\d+ HTTP", line) for line in status)
