"""Orders and the farmers they must reach, over Twilio webhooks and the fake Twilio: the
demo's farmers are on the channel that is configured, a farmer no message can reach gets no
order, and an order whose new-order message is refused is cancelled with the buyer told."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.fakes.twilio import FakeTwilio
from tests.conftest import make_settings
from tests.test_twilio_trade import NUMBER, SID, TOKEN, Rig, free_port

ROOT = Path(__file__).resolve().parent.parent
DEMO_FARMER = "+8613800000011"  # 王大伯, 500 jin of apples at ¥3.00/jin
BUYER, OTHER_BUYER, SMS_FARMER = "+254700000002", "+254700000003", "+8613800000001"


@pytest.fixture
async def rig(db_url, nlu_cache, real_nlu):
    """farmchat with Twilio configured (the fake), serving on loopback."""
    async with (
        FakeTwilio(SID, TOKEN, callback_delay=0.05) as fake,
        aiohttp.ClientSession() as session,
    ):
        url = f"http://127.0.0.1:{free_port()}"
        env = {
            "FARMCHAT_TWILIO__ACCOUNT_SID": SID,
            "FARMCHAT_TWILIO__AUTH_TOKEN": TOKEN,
            "FARMCHAT_TWILIO__FROM_NUMBER": NUMBER,
            "FARMCHAT_TWILIO__API_BASE": fake.url,
            "FARMCHAT_SERVER__PUBLIC_URL": url,
        }
        app = create_app(make_settings(db_url, nlu_cache, **env), nlu=real_nlu, background=False)
        server = TestServer(app, host="127.0.0.1", port=int(url.rsplit(":", 1)[1]))
        await server.start_server()
        try:
            yield Rig(app, fake, url, session), {"FARMCHAT_DATABASE__URL": db_url, **env}
        finally:
            await server.close()


def demo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`farmchat demo` as the operator runs it, on the served database."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", *args],
        env={**os.environ, "PYTHONPATH": str(ROOT), "FARMCHAT_CONFIG": str(ROOT / "config.yaml")}
        | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_demo_farmers_are_sms_users_where_twilio_is_configured(rig):
    rig, env = rig
    loaded = demo(env)
    assert loaded.returncode == 0, loaded.stderr
    assert "listings created" in loaded.stdout
    assert (
        f"The farmers are sms users, told of orders by sms: {DEMO_FARMER} 王大伯" in loaded.stdout
    )
    offers = await rig.text(BUYER, "buy 20 jin apples")
    assert "1) 500 jin at ¥3.00/jin, Wudu 王大伯" in offers
    ordered = await rig.text(BUYER, "1")
    ref = re.search(r"Order (\d+): 20 jin apple from 王大伯", ordered)
    assert ref and "Waiting for the farmer to accept" in ordered, ordered
    [ask] = await rig.pushed_to(DEMO_FARMER)
    assert f"新订单{ref.group(1)}" in ask
    assert f"已接受订单{ref.group(1)}" in await rig.text(DEMO_FARMER, "是")
    [told] = await rig.pushed_to(BUYER)
    assert f"Order {ref.group(1)} accepted!" in told and DEMO_FARMER in told


async def test_a_farmer_no_message_can_reach_gets_no_order(rig):
    rig, env = rig
    loaded = demo(env, "--channel", "console")
    assert "The farmers are console users" in loaded.stdout, loaded.stdout + loaded.stderr
    assert "Listing" in await rig.text(SMS_FARMER, "sell 100 jin walnuts at 13/jin")
    offers = await rig.text(BUYER, "buy 20 jin walnuts")
    assert "1) 200 jin at ¥12.00/jin, Wudu 王大伯" in offers and "2) 100 jin at ¥13.00" in offers
    refused = await rig.text(BUYER, "1")
    assert "the farmer of offer 1 (王大伯) can't be reached right now" in refused
    assert "no order was placed" in refused and "reply with a number from 1 to 2" in refused
    assert "Waiting for the farmer" not in refused
    ordered = await rig.text(BUYER, "2")  # the question stays open: another offer
    assert "Waiting for the farmer to accept" in ordered
    mine = await rig.text(BUYER, "my orders")
    assert mine.count("buying") == 1 and "20 jin walnut" in mine  # offer 2's, alone
    assert "1) 200 jin at ¥12.00/jin" in await rig.text(OTHER_BUYER, "buy 20 jin walnuts")
    [ask] = await rig.pushed_to(SMS_FARMER)
    assert "New order" in ask or "新订单" in ask
    assert rig.fake.attempts and all(m["To"] == SMS_FARMER for m in rig.fake.messages)


async def test_an_order_whose_farmer_refuses_messages_is_cancelled_and_the_buyer_told(rig):
    rig, _ = rig
    rig.fake.fail_to(SMS_FARMER, 21610)  # the farmer sent STOP: Twilio refuses every SMS
    await rig.text(SMS_FARMER, "sell 50 kg apples at 3/kg")
    await rig.text(BUYER, "buy 20 kg apples")
    ordered = await rig.text(BUYER, "1")
    ref = re.search(r"Order (\d+)", ordered)
    assert ref, ordered
    [told] = await rig.pushed_to(BUYER)
    assert f"Order {ref.group(1)} is cancelled: the farmer can't be reached right now." in told
    assert "No apple on offer now" in told  # the only listing is that farmer's
    rows = await rig.settled(lambda rows: len(rows) == 2, "two rows")
    assert [(r.address, r.status) for r in rows] == [(SMS_FARMER, "failed"), (BUYER, "sent")]
    mine = await rig.text(BUYER, "my orders")
    assert f"{ref.group(1)}: buying 20 kg apple" in mine and "cancelled" in mine
    assert "1) 50 kg at ¥3.00/kg" in await rig.text(OTHER_BUYER, "buy 20 kg apples")  # stock back
