"""Reaching each other: a name asked once, a shared phone, messages relayed through the bot."""

from __future__ import annotations

import re
from contextlib import AsyncExitStack

import pytest
from sqlalchemy import select, text

from handlers import contact
from handlers.context import Context, Parse
from handlers.messages import InboundMessage
from handlers.segments import segments
from storage.db import _upgrade, alembic_config, create_engine, head_revision
from storage.models import Outbox, User
from tests.conftest import open_chat
from tests.test_wechat_trade import both  # noqa: F401  (the WeChat + SMS rig, a fixture)

FARMER, BUYER, STRANGER = "+254711000001", "+919812000002", "+254722000003"
WECHAT_FARMER = "oWeChatFarmer0000000000001"


def ref_in(reply: str) -> int:
    found = re.search(r"\d{3,}", reply)
    assert found, reply
    return int(found.group())


async def user(chat, address: str) -> User:
    async with chat.svc.db.uow() as uow:
        return (
            await uow.session.execute(select(User).where(User.address == address))
        ).scalar_one()


async def relays(chat) -> list[Outbox]:
    async with chat.svc.db.uow() as uow:
        q = select(Outbox).where(Outbox.kind == "relay").order_by(Outbox.id)
        return list((await uow.session.execute(q)).scalars())


async def accepted_order(
    chat, farmer=FARMER, buyer=BUYER, farmer_channel="console", buyer_channel="console"
) -> int:
    """A farmer lists potatoes, a buyer orders, the farmer accepts; both skip the name question."""
    await chat.send(farmer, "sell 100kg potatoes at 40/kg", channel=farmer_channel)
    await chat.send(farmer, "skip", channel=farmer_channel)
    await chat.send(buyer, "buy 10kg potatoes", channel=buyer_channel)
    ref = ref_in(await chat.send(buyer, "1", channel=buyer_channel))
    await chat.send(buyer, "skip", channel=buyer_channel)
    await chat.send(farmer, f"yes {ref}", channel=farmer_channel)
    chat.clear()
    return ref


# the name question --------------------------------------------------------------------------
async def test_name_is_asked_once_and_the_other_side_reads_it(chat):
    listed = await chat.send(FARMER, "sell 100kg potatoes at 40/kg")
    assert listed.startswith("Listing ") and listed.endswith("Reply e.g. 'Ann', or 'skip'.")
    assert await chat.send(FARMER, "Wanjiru Kamau") == "Saved: name Wanjiru Kamau."
    assert "name" not in await chat.send(FARMER, "sell 20kg sukuma at 30/kg")  # asked once only
    farmer = await user(chat, FARMER)
    assert farmer.name == "Wanjiru Kamau" and farmer.name_asked_at == chat.clock.now

    await chat.send(BUYER, "buy 10kg potatoes")
    created = await chat.send(BUYER, "1")
    assert "from Wanjiru Kamau" in created and "your name" in created
    assert "Saved: name Ravi" in await chat.send(BUYER, "I'm Ravi")
    ref = ref_in(created)
    accepted = await chat.send(FARMER, f"yes {ref}")
    assert f"You accepted order {ref}" in accepted and f"Buyer: Ravi, {BUYER}." in accepted
    [told] = chat.pushes_to(BUYER)[-1:]
    assert f"Order {ref} accepted!" in told and f"Farmer: Wanjiru Kamau, {FARMER}." in told
    assert "your name" not in await chat.send(BUYER, "buy 5kg potatoes") + await chat.send(
        BUYER, "1"
    )


async def test_chinese_name_and_skip_are_remembered(chat):
    farmer, buyer = "+8613800000021", "+8613800000022"
    listed = await chat.send(farmer, "卖50斤苹果 三块五一斤")
    assert "已发布" in listed and listed.endswith("或回复“跳过”。")
    assert "已保存" in await chat.send(farmer, "叫我老王")
    await chat.send(buyer, "我要买20斤苹果")
    ordered = await chat.send(buyer, "1")
    assert "老王" in ordered and "怎么称呼" in ordered
    assert "不留名字" in await chat.send(buyer, "跳过")
    skipped = await user(chat, buyer)
    assert skipped.name is None and skipped.name_asked_at is not None
    await chat.send(buyer, "我要买10斤苹果")
    assert "怎么称呼" not in await chat.send(buyer, "1")  # a skip is an answer: never asked again
    ref = ref_in(ordered)
    assert f"买家：一位买家，{buyer}" in await chat.send(farmer, f"是{ref}")
    assert f"农户：老王，{farmer}" in chat.pushes_to(buyer)[-1]


@pytest.mark.parametrize(
    "answer, name",
    [
        ("王大伯", "王大伯"),
        ("my name is Wanjiru", "Wanjiru"),
        ("I'm Ravi", "Ravi"),
        ("Ravi here", "Ravi"),
        ("otieno", "otieno"),
        ("叫我老王", "老王"),
        ("Mary Wambui.", "Mary Wambui"),
    ],
)
async def test_names_as_people_give_them(chat, answer, name):
    await chat.send(FARMER, "sell 100kg potatoes at 40/kg")
    reply = await chat.send(FARMER, answer)
    assert f"name {name}." in reply or f"姓名{name}" in reply
    assert (await user(chat, FARMER)).name == name


@pytest.mark.parametrize(
    "answer", ["hi", "ok", "thanks", "apples", "1023", "what is this?", "谢谢", "明天再说"]
)
async def test_no_greeting_yes_number_or_product_is_taken_for_a_name(chat, answer):
    await chat.send(FARMER, "sell 100kg potatoes at 40/kg")
    reply = await chat.send(FARMER, answer)
    assert "Saved: name" not in reply and "your name" not in reply
    assert (await user(chat, FARMER)).name is None


async def test_a_new_request_is_answered_and_the_question_dropped(chat):
    await chat.send(FARMER, "sell 100kg potatoes at 40/kg")
    assert "No apple on offer now" in await chat.send(FARMER, "buy 20kg apples")
    assert await chat.send(FARMER, "yes") == "OK, I'll tell you when apple is listed."
    assert (await user(chat, FARMER)).name is None


async def test_a_correction_right_after_the_first_listing_still_corrects_it(chat):
    assert "your name" in await chat.send(FARMER, "sell 50kg apples at 3/kg")
    corrected = await chat.send(FARMER, "no, 3.5")
    assert "KES 3.50/kg" in corrected and "Saved" not in corrected
    assert (await user(chat, FARMER)).name is None


async def test_yes_to_an_order_while_the_name_question_is_open_accepts_it(chat):
    await chat.send(FARMER, "sell 100kg potatoes at 40/kg")  # the name question is open
    await chat.send(BUYER, "buy 10kg potatoes")
    ref = ref_in(await chat.send(BUYER, "1"))
    assert f"You accepted order {ref}" in await chat.send(FARMER, f"yes {ref}")
    assert (await user(chat, FARMER)).name is None


async def test_a_bare_no_answers_a_waiting_order_not_the_name_question(chat):
    await chat.send(FARMER, "sell 100kg potatoes at 40/kg")  # the name question is open
    await chat.send(BUYER, "buy 10kg potatoes")
    ref = ref_in(await chat.send(BUYER, "1"))
    assert f"declined order {ref}" in await chat.send(FARMER, "no")


# phone sharing ------------------------------------------------------------------------------
async def test_a_wechat_farmer_shares_a_phone_and_the_buyer_gets_it(chat):
    await chat.send(WECHAT_FARMER, "卖50斤苹果 三块五一斤", channel="wechat")
    assert "+8613812345678" in await chat.send(
        WECHAT_FARMER, "我的电话138 1234 5678", channel="wechat"
    )
    assert (await user(chat, WECHAT_FARMER)).phone == "+8613812345678"
    await chat.send(BUYER, "buy 20 jin apples")
    ref = ref_in(await chat.send(BUYER, "1"))
    await chat.send(WECHAT_FARMER, f"是{ref}", channel="wechat")
    told = chat.pushes_to(BUYER)[-1]
    assert "+8613812345678" in told and "msg" not in told


async def test_an_invalid_phone_is_refused_and_nothing_saved(chat):
    reply = await chat.send(WECHAT_FARMER, "my phone is 12345", channel="wechat")
    assert reply == "12345 is not a phone number I can use. Send e.g. 'my phone is 13812345678'."
    assert (await user(chat, WECHAT_FARMER)).phone is None


async def test_a_phone_share_keeps_the_open_question(chat):
    assert "How much" in await chat.send(FARMER, "sell potatoes")
    assert "Saved: phone +254711000009" in await chat.send(FARMER, "phone +254711000009")
    assert "Listing" in await chat.send(FARMER, "100kg at 40/kg")


@pytest.fixture
async def kenya(db_url, nlu_cache, real_nlu):
    async with AsyncExitStack() as stack:
        yield await open_chat(
            stack,
            db_url,
            nlu_cache,
            real_nlu,
            FARMCHAT_MARKET__CURRENCY="KES",
            FARMCHAT_MARKET__DISPLAY_UNIT="kg",
        )


@pytest.mark.parametrize(
    "said", ["my phone is 0712345678", "My number is 0712 345 678", "call me on 0712-345678"]
)
async def test_a_local_number_is_read_in_the_deployments_country(kenya, said):
    assert "Saved: phone +254712345678" in await kenya.send(WECHAT_FARMER, said, channel="wechat")
    assert (await user(kenya, WECHAT_FARMER)).phone == "+254712345678"


# relay --------------------------------------------------------------------------------------
async def test_wechat_farmer_and_sms_buyer_write_to_each_other(chat):
    await chat.send(WECHAT_FARMER, "卖50斤苹果 三块五一斤", channel="wechat")
    await chat.send(WECHAT_FARMER, "王大伯", channel="wechat")
    await chat.send(BUYER, "buy 20 jin apples", channel="sms")
    ref = ref_in(await chat.send(BUYER, "1", channel="sms"))
    await chat.send(BUYER, "Ravi", channel="sms")
    accepted = await chat.send(WECHAT_FARMER, f"是{ref}", channel="wechat")
    assert f"买家：Ravi，{BUYER}" in accepted
    told = chat.pushes_to(BUYER)[-1]
    assert f"Farmer: 王大伯, on WeChat: send 'msg {ref} your text' and I pass it on." in told
    assert segments(told) <= 2

    sent = await chat.send(BUYER, f"msg {ref} I come at 3pm, is the gate open?", channel="sms")
    assert sent == f"Passed on to 王大伯 (farmer), order {ref}."
    to_farmer = chat.pushes_to(WECHAT_FARMER)[-1]
    assert (
        to_farmer == f"订单{ref}，Ravi（买家）：I come at 3pm, is the gate open?\n"
        f"（回复请发：回复{ref} 内容）"
    )
    assert f"已转告Ravi（买家），订单{ref}。" == await chat.send(
        WECHAT_FARMER, f"回复{ref} 门开着，到了打电话", channel="wechat"
    )
    assert (
        chat.pushes_to(BUYER)[-1]
        == f"Order {ref}, 王大伯 (farmer): 门开着，到了打电话\n(To answer: msg {ref} your text)"
    )
    rows = await relays(chat)
    assert [(r.channel, r.address, r.status) for r in rows] == [
        ("wechat", WECHAT_FARMER, "sent"),
        ("sms", BUYER, "sent"),
    ]


@pytest.mark.parametrize(
    "form",
    [
        "msg {ref} leaving now",
        "message {ref}: leaving now",
        "reply {ref} leaving now",
        "Reply to order {ref} leaving now",
        "留言{ref} leaving now",
        "MSG #{ref} leaving now",
    ],
)
async def test_relay_forms(chat, form):
    ref = await accepted_order(chat)
    reply = await chat.send(BUYER, form.format(ref=ref))
    assert reply.startswith("Passed on to the farmer") or reply.startswith("已转告农户")
    assert chat.pushes_to(FARMER) == [
        f"Order {ref}, the buyer: leaving now\n(To answer: msg {ref} your text)"
    ]


async def test_relay_refused_to_strangers_before_acceptance_and_after_cancel(chat):
    await chat.send(FARMER, "sell 100kg potatoes at 40/kg")
    await chat.send(BUYER, "buy 10kg potatoes")
    ref = ref_in(await chat.send(BUYER, "1"))
    assert "not accepted yet" in await chat.send(BUYER, f"msg {ref} are you there")
    assert f"reply YES {ref} or NO {ref}" in await chat.send(FARMER, f"reply {ref} ok")
    await chat.send(FARMER, f"yes {ref}")
    assert await chat.send(STRANGER, f"msg {ref} hello") == f"I can't find number {ref}."
    assert await chat.send(BUYER, "msg 999999 hello") == "I can't find number 999999."
    assert "What should I tell the farmer?" in await chat.send(BUYER, f"msg {ref}")
    await chat.send(BUYER, f"cancel {ref}")
    assert "cancelled: messages are no longer passed on" in await chat.send(
        BUYER, f"msg {ref} why?"
    )
    assert "已取消，不再转达" in await chat.send(FARMER, f"回复{ref} 为什么取消")
    assert await relays(chat) == []


async def test_a_relay_too_long_for_an_sms_is_not_cut(chat):
    ref = await accepted_order(chat)
    reply = await chat.send(FARMER, f"msg {ref} " + "please bring your own bags " * 12)
    assert reply.startswith("Passed on")  # the buyer's console takes it whole
    sms_ref = await accepted_order(chat, buyer=STRANGER, buyer_channel="sms")
    long = await chat.send(FARMER, f"msg {sms_ref} " + "please bring your own bags " * 12)
    limit = re.search(r"keep it to (\d+) characters", long)
    assert limit, long
    n = int(limit.group(1))
    assert 200 < n < 306 and chat.pushes_to(STRANGER) == []
    assert "Passed on" in await chat.send(FARMER, f"msg {sms_ref} " + "x" * n)
    assert segments(chat.pushes_to(STRANGER)[0]) == 2
    assert "keep it to" in await chat.send(FARMER, f"msg {sms_ref} " + "x" * (n + 1))


async def test_relay_works_while_a_question_is_open(chat):
    ref = await accepted_order(chat)
    assert "How much" in await chat.send(BUYER, "buy potatoes")
    assert "Passed on" in await chat.send(BUYER, f"msg {ref} 2 more bags next week?")
    assert "1)" in await chat.send(BUYER, "10 kg")  # the buy question was kept


async def test_relay_hint_with_exactly_one_order_under_way(chat):
    ref = await accepted_order(chat)

    async def hint(address):
        async with chat.svc.db.uow() as uow:
            gw = chat.svc.gateway
            msg = InboundMessage("console", address, "huh", "h1", chat.clock.now)
            ctx = Context(
                msg=msg,
                user=await uow.users.by_address("console", address),
                parse=Parse("huh", "x", 0),
                lang="en",
                uow=uow,
                settings=gw.settings,
                catalog=gw.catalog,
                now=chat.clock.now,
            )
            return await contact.relay_hint(ctx)

    assert (
        await hint(BUYER) == f"To write to the farmer of order {ref}, send 'msg {ref} your text'."
    )
    assert (
        await hint(FARMER) == f"To write to the buyer of order {ref}, send 'msg {ref} your text'."
    )
    await accepted_order(chat)
    assert await hint(BUYER) is None  # two orders under way: which one is for the user to say


# the WeChat and Twilio channels for real ------------------------------------------------------
async def test_relay_between_wechat_and_sms_through_both_channels(both):  # noqa: F811
    await both.wechat("卖50斤苹果 三块五一斤")
    await both.wechat("跳过")
    await both.sms("buy 20 jin apples")
    ref = ref_in(await both.sms("1"))
    await both.sms("skip")
    await both.wechat(f"是{ref}")
    [told] = await both.sms_pushes()
    assert f"msg {ref}" in told and "WeChat" in told
    assert "Passed on" in await both.sms(f"msg {ref} coming Sat 9am")
    assert f"订单{ref}，买家：coming Sat 9am" in (await both.wechat_pushes(2))[-1]
    assert "已转告" in await both.wechat(f"回复{ref} 好的，等你")
    assert "好的，等你" in (await both.sms_pushes(2))[-1]
    rows = await both.rig.settled(
        lambda rows: sum(r.kind == "relay" and r.status == "sent" for r in rows) == 2,
        "relays sent",
    )
    assert [r.channel for r in rows if r.kind == "relay"] == ["wechat", "sms"]


# schema -------------------------------------------------------------------------------------
async def test_upgrade_from_0007_keeps_users(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")

    def upgrade_to(revision):
        def run(conn):
            from alembic import command

            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

        return run

    async with engine.begin() as conn:
        await conn.run_sync(upgrade_to("0007"))
        await conn.execute(
            text(
                "INSERT INTO users (channel, address, name, language, role, opted_out, "
                "created_at, last_seen_at) VALUES ('sms', '+254711000001', 'Wanjiru', 'en', "
                "'user', 0, '2026-11-28 08:00:00', '2026-11-28 08:00:00')"
            )
        )
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
        row = (await conn.execute(text("SELECT name, phone, name_asked_at FROM users"))).one()
        version = (
            await conn.execute(text("SELECT version_num FROM alembic_version"))
        ).scalar_one()
    await engine.dispose()
    assert tuple(row) == ("Wanjiru", None, None) and version == head_revision()
