"""A coordinator reads a user's conversation, answers them as a person, the bot keeps quiet
for that user meanwhile, and hands back; over SMS (the fake Twilio) and WeChat (the fake
WeChat API, with its 48-hour window)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import aiohttp
from sqlalchemy import func, select, update

from storage import audit
from storage.models import InboundLog, Listing, User, WeChatContact
from tests.web.conftest import PASSWORD, csrf_of
from tests.wechat_rig import open_rig

FARMER = "+254700000061"


async def user_id(dash, address: str) -> int:
    async with dash.svc.db.uow() as uow:
        return (await uow.users.by_address("sms", address)).id


async def post(client, path: str, **fields) -> aiohttp.ClientResponse:
    async with client.get(path.rsplit("/", 1)[0]) as page:
        csrf = csrf_of(await page.text())
    return await client.post(path, data={"csrf": csrf, **fields}, allow_redirects=False)


async def test_answer_as_a_person_then_the_bot_stays_quiet_until_handed_back(dash):
    assert "Listing " in await dash.text(FARMER, "sell 50kg apples at 3/kg")
    await dash.account("amina", "coordinator")
    client = await dash.signed_in("amina")
    uid = await user_id(dash, FARMER)
    async with client.get(f"/admin/conversations/{uid}") as r:
        page = await r.text()
    assert "sell 50kg apples at 3/kg" in page and "50 kg apple at KES 3/kg" in page
    r = await post(client, f"/admin/conversations/{uid}/answer", text="Hi, we can collect Friday")
    assert r.status == 303
    told = await dash.received(FARMER, 2)
    assert told == [
        "A person from the co-op is answering you now.",
        "Hi, we can collect Friday",
    ]
    # the bot keeps quiet: the message is kept, nothing is answered or written
    assert await dash.text(FARMER, "sell 20kg potatoes at 2/kg") == ""
    async with dash.svc.db.uow() as uow:
        potatoes = await uow.session.execute(
            select(func.count()).select_from(Listing).where(Listing.product == "potato")
        )
        assert potatoes.scalar_one() == 0
        kept = await uow.session.execute(
            select(InboundLog.intent, InboundLog.reply).order_by(InboundLog.id.desc()).limit(1)
        )
        assert tuple(kept.one()) == ("handoff", "")
    async with client.get(f"/admin/conversations/{uid}/messages") as r:
        fragment = await r.text()
    assert "sell 20kg potatoes at 2/kg" in fragment and 'data-handed="yes"' in fragment
    r = await post(client, f"/admin/conversations/{uid}/handback")
    assert r.status == 303
    assert (await dash.received(FARMER, 3))[2].startswith("The assistant answers again")
    assert "Listing " in await dash.text(FARMER, "sell 20kg potatoes at 2/kg")
    async with dash.svc.db.uow() as uow:
        trail = [(e.actor, e.action) for e in await audit.trail(uow) if e.actor == "amina"]
    assert trail == [("amina", "conversation.taken"), ("amina", "conversation.handed_back")]


async def test_a_hand_off_lapses_by_itself(dash):
    await dash.text(FARMER, "hello")
    await dash.account("amina")
    client = await dash.signed_in("amina")
    uid = await user_id(dash, FARMER)
    await post(client, f"/admin/conversations/{uid}/take")
    assert await dash.text(FARMER, "price of apples?") == ""
    async with dash.svc.db.uow() as uow:  # as if the hand-off time had passed
        past = datetime.now(UTC) - timedelta(seconds=1)
        await uow.session.execute(update(User).where(User.id == uid).values(handoff_until=past))
        await uow.commit()
    assert "apple" in (await dash.text(FARMER, "price of apples?")).lower()


async def test_taking_over_twice_tells_the_user_once(dash):
    await dash.text(FARMER, "hello")
    await dash.account("amina")
    client = await dash.signed_in("amina")
    uid = await user_id(dash, FARMER)
    await post(client, f"/admin/conversations/{uid}/take")
    await post(client, f"/admin/conversations/{uid}/take")
    await post(client, f"/admin/conversations/{uid}/answer", text="Hello!")
    told = ["A person from the co-op is answering you now.", "Hello!"]
    assert await dash.received(FARMER, 2) == told
    await asyncio.sleep(0.3)  # and nothing more comes
    assert await dash.received(FARMER, 2) == told


async def test_the_list_finds_users_and_shows_sms_text_as_text(dash):
    evil = "<script>alert('x')</script>"
    await dash.text(FARMER, evil)
    await dash.text("+8613800000062", "你好")
    await dash.account("amina")
    client = await dash.signed_in("amina")
    async with client.get("/admin/conversations?q=0061") as r:
        page = await r.text()
    assert FARMER in page and "+8613800000062" not in page
    assert evil not in page and "&lt;script&gt;" in page
    uid = await user_id(dash, FARMER)
    async with client.get(f"/admin/conversations/{uid}") as r:
        assert evil not in await r.text()
    for bad in ["/admin/conversations/999999", "/admin/conversations/abc"]:
        async with client.get(bad) as r:
            assert r.status == 404
    async with client.get("/admin/conversations?q=%27%20OR%201%3D1%20--&before=nonsense") as r:
        assert r.status == 200 and FARMER not in await r.text()


async def test_an_empty_answer_is_refused(dash):
    await dash.text(FARMER, "hello")
    await dash.account("amina")
    client = await dash.signed_in("amina")
    uid = await user_id(dash, FARMER)
    r = await post(client, f"/admin/conversations/{uid}/answer", text="   ")
    assert r.status == 400
    await asyncio.sleep(0.3)
    assert dash.fake.messages == []


async def sign_in(url: str, name: str) -> aiohttp.ClientSession:
    client = aiohttp.ClientSession(base_url=url, cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with client.get("/admin/login") as r:
        csrf = csrf_of(await r.text())
    form = {"csrf": csrf, "name": name, "password": PASSWORD}
    async with client.post("/admin/login", data=form, allow_redirects=False) as r:
        assert r.status == 303
    return client


async def test_on_wechat_inside_and_outside_the_48_hour_window(db_url, nlu_cache, real_nlu):
    from storage import accounts

    async with open_rig(db_url, nlu_cache, real_nlu) as rig:
        openid = "oFarmer0000000000000000000001"
        await rig.say(openid, "你好")
        async with rig.svc.db.uow() as uow:
            await accounts.add(uow, "amina", "coordinator", PASSWORD)
            uid = (await uow.users.by_address("wechat", openid)).id
            await uow.commit()
        client = await sign_in(rig.url, "amina")
        try:
            r = await post(client, f"/admin/conversations/{uid}/answer", text="您好，周五来收")
            assert r.status == 303
            await rig.settled(
                lambda rows: len(rows) == 2 and all(x.status == "sent" for x in rows), "sent"
            )
            assert rig.fake.texts_to(openid)[-2:] == [
                "合作社的工作人员正在为您解答。",
                "您好，周五来收",
            ]
            # two days later, with no template message configured: a clear refusal
            async with rig.svc.db.uow() as uow:
                old = datetime.now(UTC) - timedelta(hours=49)
                await uow.session.execute(
                    update(WeChatContact)
                    .where(WeChatContact.openid == openid)
                    .values(last_message_at=old, last_event_at=None)
                )
                await uow.commit()
            async with client.get(f"/admin/conversations/{uid}") as r:
                page = await r.text()
            assert 'id="window"' in page and "48" in page
            await post(client, f"/admin/conversations/{uid}/answer", text="还在吗？")
            rows = await rig.settled(
                lambda rows: len(rows) == 3 and rows[-1].status == "failed", "refused"
            )
            assert "48-hour window" in rows[-1].error
            async with client.get(f"/admin/conversations/{uid}/messages") as r:
                fragment = await r.text()
            assert re.search(r'data-status="failed".*48-hour window', fragment, re.S)
        finally:
            await client.close()
