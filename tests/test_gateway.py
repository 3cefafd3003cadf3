"""The gateway's promises: one reply per message, dedupe, error boundary, state that lasts."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest
from sqlalchemy import func, select

from handlers import table
from storage.models import Conversation, InboundLog, Listing, Order
from tests.conftest import open_chat

FARMER, BUYER = "+8613800000001", "+254700000002"


async def count(chat, model) -> int:
    async with chat.svc.db.uow() as uow:
        return (await uow.session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_a_retried_message_id_has_one_effect_and_the_same_reply(chat):
    replies = [
        await chat.send(FARMER, "sell 50kg apples at 3/kg", message_id="SM1") for _ in range(2)
    ]
    replies += await asyncio.gather(
        *(chat.send(FARMER, "sell 50kg apples at 3/kg", message_id="SM1") for _ in range(3))
    )
    assert len(set(replies)) == 1 and "Listing" in replies[0]
    assert await count(chat, Listing) == 1
    assert await count(chat, InboundLog) == 1


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "a" * 5000,
        "🍎🍎🍎🙂",
        "'; DROP TABLE listings; --",
        "1 OR 1=1",
        "\x00\x07\x1b[31m\u202e",
        "sell 50kg durian at 3/kg",
        "卖50斤榴莲",
        "buy 10 kg unobtainium",
        "\ufffd\ufffd\ufffd",
        "%s %(x)s {0} {name}",
    ],
)
async def test_bad_input_gets_a_short_helpful_reply(chat, text):
    reply = await chat.send(BUYER, text)
    assert reply and "Traceback" not in reply and "Error" not in reply
    assert len(reply) <= 306  # two GSM-7 SMS segments at most
    assert "something went wrong" not in reply  # handled, not crashed
    assert await count(chat, Listing) == 0
    assert await count(chat, InboundLog) == 1


async def test_an_internal_error_gets_the_apology_and_writes_nothing(chat, monkeypatch):
    async def broken(ctx):
        await ctx.uow.listings.add(
            Listing(
                id=await ctx.uow.refs.allocate("listing"),
                farmer_id=ctx.user.id,
                product="apple",
                quantity_total=1,
                quantity_available=1,
                unit="kg",
                price=1,
                currency="CNY",
                price_unit="kg",
                location=None,
                status="active",
                created_at=ctx.now,
                updated_at=ctx.now,
                expires_at=ctx.now,
            )
        )
        raise RuntimeError("boom")

    monkeypatch.setitem(table.INTENT_HANDLERS, "sell", broken)
    reply = await chat.send(FARMER, "sell 50kg apples at 3/kg", message_id="X1")
    assert reply == "Sorry, something went wrong, please try again."
    assert await count(chat, Listing) == 0  # the half-done work was rolled back
    async with chat.svc.db.uow() as uow:
        logged = await uow.inbound.find("console", "X1")
    assert logged.status == "error" and logged.text == "sell 50kg apples at 3/kg"
    assert await chat.send(FARMER, "sell 50kg apples at 3/kg", message_id="X1") == reply


async def test_open_question_and_orders_survive_a_restart(db_url, nlu_cache, real_nlu):
    async with AsyncExitStack() as stack:
        first = await open_chat(stack, db_url, nlu_cache, real_nlu)
        await first.send(FARMER, "sell 40 kg pears at 5/kg")
        await first.send(BUYER, "buy 10 kg pears")
        await first.send(BUYER, "1")
        assert "How much" in await first.send(FARMER, "sell walnuts")
    async with AsyncExitStack() as stack:  # a new process on the same database
        second = await open_chat(stack, db_url, nlu_cache, real_nlu)
        assert "What price" in await second.send(FARMER, "20 kg")
        assert "Listing" in await second.send(FARMER, "10")
        assert "accepted" in await second.send(FARMER, "yes")
        assert await count(second, Order) == 1


async def test_an_idle_question_expires_after_30_minutes(chat):
    assert "How much" in await chat.send(FARMER, "sell apples")
    chat.clock.advance(minutes=31)
    reply = await chat.send(FARMER, "50")
    assert "How much" not in reply and "What price" not in reply
    assert await count(chat, Conversation) == 0


async def test_a_clear_new_intent_is_answered_during_a_question(chat):
    await chat.send(FARMER, "sell 10kg honey at 40/kg")
    assert "How much" in await chat.send(BUYER, "sell apples")
    answer = await chat.send(BUYER, "honey price?")
    assert "Honey prices" in answer
    assert "What price" in await chat.send(BUYER, "20 kg")  # the sell question was kept


async def test_profile_and_reply_language(chat):
    assert "Li Wei" in await chat.send(BUYER, "my name is Li Wei")
    assert "武都" in await chat.send(BUYER, "我在武都")
    async with chat.svc.db.uow() as uow:
        user = await uow.users.by_address("console", BUYER)
    assert (user.name, user.place, user.language) == ("Li Wei", "wudu", "zh")
    assert "您好" in await chat.send(BUYER, "你好")
    assert "Hello Li Wei" in await chat.send(BUYER, "hello")


async def test_listing_update_list_and_cancel(chat):
    ref = (await chat.send(FARMER, "卖100斤苹果 三块五一斤")).split("已发布")[1][:3]
    assert "苹果20斤" in await chat.send(FARMER, "苹果还剩20斤")
    assert "¥3.00/斤" in await chat.send(FARMER, "苹果改成3块一斤")
    listed = await chat.send(FARMER, "我的货")
    assert f"{ref}号：苹果20斤，¥3.00/斤" in listed
    assert "不是您的货" in await chat.send(BUYER, f"取消{ref}")
    assert f"{ref}号已下架" in await chat.send(FARMER, f"取消{ref}")
    assert "没有在售" in await chat.send(FARMER, "我的货")
