"""The full trade between a WeChat user and an SMS user, each told on their own channel."""

from __future__ import annotations

import asyncio
import re
from contextlib import AsyncExitStack
from typing import Any

import pytest

from bot.fakes.twilio import FakeTwilio, inbound_fields, post_inbound
from tests.wechat_rig import open_rig

TWILIO_TOKEN, SID, NUMBER = "test-auth-token-0123456789", "AC" + "1" * 32, "+15005550006"
OPENID, PHONE = "oFarmerWeChat0000000000001", "+254700000002"


class Both:
    """A WeChat user and an SMS user talking to one farmchat."""

    def __init__(self, rig, twilio: FakeTwilio):
        self.rig, self.twilio = rig, twilio

    async def wechat(self, text: str) -> str:
        return await self.rig.say(OPENID, text)

    async def sms(self, text: str) -> str:
        fields = inbound_fields(PHONE, NUMBER, text)
        status, xml = await post_inbound(
            self.rig.session, self.rig.url + "/webhooks/twilio", TWILIO_TOKEN, fields
        )
        assert status == 200, xml
        found = re.search(r"<Message>(.*)</Message>", xml, re.S)
        return found.group(1) if found else ""

    async def wechat_pushes(self, count: int = 1) -> list[str]:
        return await self._wait(lambda: self.rig.fake.texts_to(OPENID), count)

    async def sms_pushes(self, count: int = 1) -> list[str]:
        return await self._wait(
            lambda: [m["Body"] for m in self.twilio.messages if m["To"] == PHONE], count
        )

    @staticmethod
    async def _wait(read, count: int) -> list[str]:
        for _ in range(100):
            if len(read()) >= count:
                break
            await asyncio.sleep(0.05)
        return read()


@pytest.fixture
async def both(db_url, nlu_cache, real_nlu):
    async with AsyncExitStack() as stack:
        twilio = await stack.enter_async_context(FakeTwilio(SID, TWILIO_TOKEN))
        env: dict[str, Any] = {
            "FARMCHAT_TWILIO__ACCOUNT_SID": SID,
            "FARMCHAT_TWILIO__AUTH_TOKEN": TWILIO_TOKEN,
            "FARMCHAT_TWILIO__FROM_NUMBER": NUMBER,
            "FARMCHAT_TWILIO__API_BASE": twilio.url,
        }
        rig = await stack.enter_async_context(open_rig(db_url, nlu_cache, real_nlu, **env))
        yield Both(rig, twilio)


async def test_farmer_on_wechat_buyer_on_sms(both):
    assert "已发布" in await both.wechat("卖50斤苹果 三块五一斤")
    assert "1) 50 jin at ¥3.50/jin" in await both.sms("buy 20 jin apples")
    created = await both.sms("1")
    found = re.search(r"Order (\d+)", created)
    assert found, created
    ref = found.group(1)
    [ask] = await both.wechat_pushes()
    assert f"是{ref}" in ask
    assert ref in await both.wechat(f"是{ref}")
    [told] = await both.sms_pushes()
    assert f"Order {ref} accepted" in told and "WeChat" in told
    rows = await both.rig.settled(
        lambda rows: len(rows) == 2 and all(r.status == "sent" for r in rows), "sent"
    )
    assert [r.channel for r in rows] == ["wechat", "sms"]


async def test_a_token_that_expires_between_two_pushes_is_renewed(both):
    await both.wechat("卖50斤苹果 三块五一斤")
    await both.sms("buy 20 jin apples")
    await both.sms("1")
    await both.wechat_pushes(1)
    both.rig.fake.expire_tokens()
    await both.sms("buy 10 jin apples")
    await both.sms("1")
    assert len(await both.wechat_pushes(2)) == 2
    assert [code for api, code in both.rig.fake.calls] == [0, 42001, 0]
    assert len(both.rig.fake.token_requests) == 2


async def test_buyer_on_wechat_farmer_on_sms(both):
    assert "Listing" in await both.sms("sell 50kg apples at 3/kg")
    assert "1)" in await both.wechat("我要买20公斤苹果")
    created = await both.wechat("1")
    found = re.search(r"(\d{3,})", created)
    assert found, created
    ref = found.group(1)
    [ask] = await both.sms_pushes()
    assert ref in ask
    assert f"accepted order {ref}" in await both.sms(f"yes {ref}")
    [told] = await both.wechat_pushes()
    assert ref in told and PHONE in told


async def test_a_farmer_who_unfollowed_is_recorded_as_opted_out(both):
    await both.wechat("卖50斤苹果 三块五一斤")
    both.rig.fake.fail_to(OPENID, 43004)
    await both.sms("buy 20 jin apples")
    await both.sms("1")
    [told] = await both.sms_pushes()  # the buyer hears the order could not reach the farmer
    assert "is cancelled: the farmer can't be reached right now" in told
    row, _ = await both.rig.settled(
        lambda rows: len(rows) == 2 and rows[0].status == "failed", "failed, the buyer told"
    )
    assert (row.channel, row.error_code, row.attempts) == ("wechat", 43004, 1)
    assert (await both.rig.user("wechat", OPENID)).opted_out is True
