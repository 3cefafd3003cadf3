"""A coordinator publishes prices and sends broadcasts from the dashboard: the same draft,
preview and confirmation as by SMS, the same numbers as the SMS price answer, delivery through
the fake Twilio, and every step in the audit log."""

from __future__ import annotations

import asyncio
import re

import pytest

from storage import audit
from storage import broadcasts as records
from tests.web.conftest import csrf_of

FARMERS = ["+8613800000011", "+8613800000012", "+8613800000013"]
SUBSCRIBERS = ["+8613800000021", "+254700000022"]
QUIET = "+8613800000031"  # a user who subscribed to nothing


async def market(dash) -> None:
    """Three farmers list apples; two people subscribe to apple prices; one only asks."""
    for phone, price in zip(FARMERS, ["3", "3.5", "5"], strict=True):
        assert "已发布" in await dash.text(phone, f"卖50斤苹果 {price}块一斤")
    assert "Subscribed" in await dash.text(SUBSCRIBERS[1], "subscribe apple prices")
    assert "已订阅" in await dash.text(SUBSCRIBERS[0], "订阅苹果价格")
    await dash.text(QUIET, "你好")


async def form_token(client, path: str) -> str:
    async with client.get(path) as r:
        assert r.status == 200
        return csrf_of(await r.text())


async def publish(client, **fields) -> tuple[int, str]:
    csrf = await form_token(client, "/admin/prices")
    async with client.post(
        "/admin/prices", data={"csrf": csrf, **fields}, allow_redirects=False
    ) as r:
        return r.status, r.headers.get("Location", "") or await r.text()


async def confirm(client, location: str, send_at: str = "") -> str:
    csrf = await form_token(client, location)
    async with client.post(
        location + "/send", data={"csrf": csrf, "send_at": send_at}, allow_redirects=False
    ) as r:
        assert r.status == 303, await r.text()
    async with client.get(location) as r:
        return await r.text()


async def test_publishing_a_price_previews_first_then_reaches_board_sms_and_subscribers(dash):
    await market(dash)
    await dash.account("amina", "coordinator")
    client = await dash.signed_in("amina")
    status, location = await publish(
        client, product="apple", price="4.2", currency="CNY", unit="jin", place=""
    )
    assert status == 303 and re.fullmatch(r"/admin/broadcasts/\d+", location)
    async with client.get(location) as r:
        preview = await r.text()
    assert re.search(r'id="audience">2<', preview)  # the two subscribers, not the farmers
    assert "苹果收购价：¥4.20/斤" in preview and "Apple price: ¥4.20/jin" in preview
    # nothing is published before the confirmation
    assert "No apple prices yet" not in await dash.text("+254700000040", "apple price?")
    assert "¥4.20" not in await dash.text("+254700000041", "apple price?")
    done = await confirm(client, location)
    assert 'data-status="' in done
    answer = await dash.text("+254700000042", "apple price?")
    assert "All markets ¥4.20/jin" in answer
    async with client.get("/admin/prices") as r:
        board = await r.text()
    assert "¥4.20/斤" in board
    # the board's asking range and median are the SMS answer's
    assert "Asking ¥3.00-¥5.00/jin, median ¥3.50/jin (3 listings, 7 days)" in answer
    assert "¥3.00/斤 – ¥5.00/斤" in board and "¥3.50/斤" in board
    for phone in SUBSCRIBERS:
        [alert] = await dash.received(phone)
        assert "4.20" in alert
    assert [m for m in dash.fake.messages if m["To"] == QUIET] == []  # after the others came
    async with dash.svc.db.uow() as uow:
        trail = [(e.actor, e.action) for e in await audit.trail(uow)]
    assert ("amina", "price.published") in trail and ("amina", "broadcast.sent") in trail


async def test_the_progress_fragment_reaches_done(dash):
    await market(dash)
    await dash.account("amina")
    client = await dash.signed_in("amina")
    _, location = await publish(client, product="apple", price="4", currency="CNY", unit="jin")
    await confirm(client, location)
    for _ in range(100):
        async with client.get(location + "/progress", headers={"HX-Request": "true"}) as r:
            fragment = await r.text()
        if 'data-status="done"' in fragment:
            break
        await asyncio.sleep(0.1)
    assert 'data-status="done"' in fragment and "hx-trigger" not in fragment
    assert re.search(r'data-state="sent">[^<]*<b>2</b>', fragment)


async def test_an_announcement_to_everyone_on_one_channel(dash):
    await market(dash)
    await dash.text("+254700000050", "hello")
    await dash.account("amina")
    client = await dash.signed_in("amina")
    csrf = await form_token(client, "/admin/broadcasts")
    form = {
        "csrf": csrf,
        "text": "Co-op meeting Friday 9am",
        "text_zh": "周五上午9点合作社开会",
        "audience": "everyone",
        "channel": "sms",
    }
    async with client.post("/admin/broadcasts", data=form, allow_redirects=False) as r:
        assert r.status == 303
        location = r.headers["Location"]
    async with client.get(location) as r:
        preview = await r.text()
    # every SMS user not opted out: 3 farmers, 2 subscribers, the quiet one, the Kenyan
    assert re.search(r'id="audience">7<', preview)
    await confirm(client, location)
    zh = await dash.received(QUIET)
    en = await dash.received("+254700000050")
    assert zh == ["周五上午9点合作社开会"] and en == ["Co-op meeting Friday 9am"]


async def test_a_scheduled_broadcast_can_be_cancelled_and_sends_nothing(dash):
    await market(dash)
    await dash.account("amina")
    client = await dash.signed_in("amina")
    csrf = await form_token(client, "/admin/broadcasts")
    form = {"csrf": csrf, "text": "Market closed on Monday", "audience": "subscribers"}
    async with client.post("/admin/broadcasts", data=form, allow_redirects=False) as r:
        location = r.headers["Location"]
    page = await confirm(client, location, send_at="2099-01-01T09:00")
    assert "定时" in page and "2099-01-01 09:00" in page
    csrf = csrf_of(page)
    async with client.post(location + "/cancel", data={"csrf": csrf}) as r:
        assert "已取消" in await r.text()
    bid = int(location.rsplit("/", 1)[1])
    async with dash.svc.db.uow() as uow:
        cancelled = await records.get(uow, bid)
        assert cancelled is not None and cancelled.status == "cancelled"
        actions = [e.action for e in await audit.trail(uow, f"broadcast {bid}")]
    assert actions == ["broadcast.scheduled", "broadcast.cancelled"]
    await asyncio.sleep(0.5)
    assert dash.fake.messages == []


async def test_discarding_a_draft_publishes_nothing(dash):
    await market(dash)
    await dash.account("amina")
    client = await dash.signed_in("amina")
    _, location = await publish(client, product="apple", price="9", currency="CNY", unit="jin")
    csrf = await form_token(client, location)
    async with client.post(location + "/cancel", data={"csrf": csrf}) as r:
        assert r.status == 200
    assert "¥9.00" not in await dash.text("+254700000043", "apple price?")
    async with dash.svc.db.uow() as uow:
        trail = [e.action for e in await audit.trail(uow)]
    assert trail == ["account.added"]  # dropping a draft is no event


@pytest.mark.parametrize(
    "fields",
    [
        {"product": "apple", "price": "abc"},
        {"product": "apple", "price": "-3"},
        {"product": "apple", "price": "NaN"},
        {"product": "apple", "price": "1e400"},
        {"product": "apple' OR 1=1 --", "price": "3"},
        {"product": "apple", "price": "3", "unit": "furlong"},
        {"product": "apple", "price": "3", "currency": "BTC"},
        {"product": "apple", "price": "3", "place": "atlantis"},
    ],
)
async def test_a_bad_price_form_is_400_with_words_and_saves_nothing(dash, fields):
    await dash.account("amina")
    client = await dash.signed_in("amina")
    status, body = await publish(client, **fields)
    assert status == 400 and "表单有误" in body
    async with dash.svc.db.uow() as uow:
        assert await records.get(uow, 1) is None


async def test_a_bad_send_time_and_unknown_ids_are_refused(dash):
    await dash.account("amina")
    client = await dash.signed_in("amina")
    for path in ["/admin/broadcasts/999", "/admin/broadcasts/x", "/admin/prices/durian"]:
        async with client.get(path) as r:
            assert r.status == 404, path
    _, location = await publish(client, product="apple", price="4", currency="CNY", unit="jin")
    csrf = await form_token(client, location)
    for when in ["2001-01-01T09:00", "tomorrow", "2099-13-40T99:00"]:
        async with client.post(
            location + "/send", data={"csrf": csrf, "send_at": when}, allow_redirects=False
        ) as r:
            assert r.status == 400, when
    bid = int(location.rsplit("/", 1)[1])
    async with dash.svc.db.uow() as uow:
        draft = await records.get(uow, bid)
        assert draft is not None and draft.status == "draft"


async def test_user_text_is_shown_as_text(dash):
    await dash.account("amina")
    client = await dash.signed_in("amina")
    csrf = await form_token(client, "/admin/broadcasts")
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    form = {"csrf": csrf, "text": evil, "audience": "everyone"}
    async with client.post("/admin/broadcasts", data=form) as r:
        page = await r.text()
    assert evil not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    async with client.get("/admin/audit?q=" + evil) as r:
        assert r.status == 200 and evil not in await r.text()
