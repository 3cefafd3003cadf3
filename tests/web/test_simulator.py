"""The simulator: a coordinator chats with the bot as any number in a world of its own (the
sample data), sees the pushes to other users, and nothing reaches the real database or a
real phone."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from storage.models import User
from tests.web.conftest import csrf_of

AS = "+8613800000777"


async def say(client, words: str, address: str = AS, channel: str = "sms", htmx: bool = False):
    async with client.get("/admin/simulator", params={"as": address, "channel": channel}) as r:
        csrf = csrf_of(await r.text())
    form = {"csrf": csrf, "as": address, "channel": channel, "text": words}
    headers = {"HX-Request": "true"} if htmx else {}
    async with client.post("/admin/simulator", data=form, headers=headers) as r:
        return r.status, await r.text()


async def real_users(dash) -> int:
    async with dash.svc.db.uow() as uow:
        return (await uow.session.execute(select(func.count()).select_from(User))).scalar_one()


async def test_a_trade_in_the_simulator_never_touches_the_real_market(dash):
    await dash.account("amina", "coordinator")
    client = await dash.signed_in("amina")
    status, page = await say(client, "买20斤苹果")
    assert status == 200
    offers = re.search(r'data-kind="reply"><span class="meta">[^<]*</span><p>([^<]*)', page)
    assert offers and "1)" in offers.group(1) and "¥3.00/斤" in offers.group(1)
    status, fragment = await say(client, "1", htmx=True)
    assert fragment.startswith('<div id="sim-chat">')  # htmx gets the chat alone
    assert "订单" in fragment
    pushes = re.search(r'<table id="sim-pushes">(.*?)</table>', fragment, re.S)
    assert pushes and "+8613800000011" in pushes.group(1)  # the sample farmer 王大伯 is told
    assert await real_users(dash) == 0
    assert dash.fake.messages == []


async def test_each_number_has_its_own_conversation_and_reset_starts_afresh(dash):
    await dash.account("amina")
    client = await dash.signed_in("amina")
    await say(client, "hello")
    await say(client, "你好", address="oSimulatedOpenId0000000000001", channel="wechat")
    async with client.get("/admin/simulator", params={"as": AS, "channel": "sms"}) as r:
        page = await r.text()
    assert "hello" in page and "你好</p>" not in page
    async with client.get("/admin/simulator") as r:
        csrf = csrf_of(await r.text())
    async with client.post("/admin/simulator/reset", data={"csrf": csrf}) as r:
        assert r.status == 200
    async with client.get("/admin/simulator", params={"as": AS, "channel": "sms"}) as r:
        assert "hello</p>" not in await r.text()


async def test_bad_simulator_input_is_refused_or_tamed(dash):
    await dash.account("amina")
    client = await dash.signed_in("amina")
    status, _ = await say(client, "")
    assert status == 400
    status, page = await say(client, "<b>hi</b>", channel="carrier-pigeon")
    assert status == 200 and "<b>hi</b>" not in page and "&lt;b&gt;hi&lt;/b&gt;" in page
    async with client.post("/admin/simulator", data={"text": "hi"}) as r:
        assert r.status == 403  # no CSRF token
