"""Whole conversations through the gateway with the real NLU, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import select

from bot.tasks import sweep
from storage.models import BuyRequest, Listing, Order

FARMER, BUYER, BUYER2 = "+8613800000001", "+254700000002", "+8613800000003"
COORDINATOR = "+8613900000000"


def ref_in(text: str) -> int:
    found = re.search(r"\d{3,}", text)
    assert found, text
    return int(found.group())


async def rows(chat, model):
    async with chat.svc.db.uow() as uow:
        return list((await uow.session.execute(select(model).order_by(model.id))).scalars())


async def test_chinese_trade_end_to_end(chat):
    reply = await chat.send(FARMER, "卖50斤苹果 三块五一斤")
    assert "已发布" in reply and "苹果50斤" in reply and "¥3.50/斤" in reply
    listing_ref = ref_in(reply)
    [listing] = await rows(chat, Listing)
    assert (listing.id, listing.product, listing.quantity_available, listing.unit) == (
        listing_ref,
        "apple",
        50,
        "jin",
    )
    assert listing.price == Decimal("3.50") and listing.currency == "CNY"

    offers = await chat.send(BUYER, "buy 20 jin apples")
    assert "1) 50 jin at ¥3.50/jin" in offers
    created = await chat.send(BUYER, "1")
    order_ref = ref_in(created)
    assert f"Order {order_ref}" in created and "20 jin apple" in created and "¥70.00" in created
    [ask] = chat.pushes_to(FARMER)
    assert f"是{order_ref}" in ask and "苹果20斤" in ask  # the farmer is asked in Chinese
    [listing] = await rows(chat, Listing)
    assert listing.quantity_available == 30  # reserved while pending

    accepted = await chat.send(FARMER, f"yes {order_ref}")
    assert f"{order_ref}" in accepted and BUYER in accepted
    told = chat.pushes_to(BUYER)
    assert len(told) == 1 and f"Order {order_ref} accepted" in told[0] and FARMER in told[0]
    [order] = await rows(chat, Order)
    assert order.status == "accepted" and order.quantity == 20

    price = await chat.send(BUYER, "apple price?")
    assert "Apple prices" in price and "¥3.50" in price
    assert f"{order_ref}: buying 20 jin apple, ¥70.00, accepted" in await chat.send(
        BUYER, "my orders"
    )
    assert f"{order_ref}：卖苹果20斤，¥70.00，已接受" in await chat.send(FARMER, "我的订单")


async def test_english_trade_end_to_end(chat):
    reply = await chat.send(
        BUYER, "sell 50kg apples at 3 yuan/kg"
    )  # a +254 seller names yuan: not KES
    assert reply.startswith("Listing ") and "50 kg apple at ¥3.00/kg" in reply
    offers = await chat.send(BUYER2, "buy 20 kg apples")
    assert (
        "1) 50 kg at ¥3.00/kg" in offers
    )  # a Chinese-speaking buyer writing English gets English
    created = await chat.send(BUYER2, "1")
    order_ref = ref_in(created)
    assert "Waiting for the farmer" in created and "¥60.00" in created
    assert f"YES {order_ref}" in chat.pushes_to(BUYER)[0]
    accepted = await chat.send(BUYER, "YES")  # a bare YES: the only pending order
    assert f"You accepted order {order_ref}" in accepted and BUYER2 in accepted
    assert f"Order {order_ref} accepted" in chat.pushes_to(BUYER2)[0]
    price = await chat.send(BUYER2, "how much are apples")
    assert "¥1.50" in price  # ¥3/kg shown per jin, the deployment's display unit


async def test_decline_releases_stock_and_offers_the_next(chat):
    await chat.send(FARMER, "sell 100 kg potatoes at 2/kg")
    await chat.send(BUYER2, "sell 80 kg potatoes at 2.5/kg")
    await chat.send(BUYER, "buy 50 kg potatoes")
    order_ref = ref_in(await chat.send(BUYER, "1"))
    declined = await chat.send(FARMER, f"no {order_ref}")
    assert f"declined order {order_ref}" in declined
    [listing, _] = await rows(chat, Listing)
    assert listing.quantity_available == 100
    [told] = chat.pushes_to(BUYER)
    assert "was declined" in told and "1) 80 kg at ¥2.50/kg" in told
    again = await chat.send(BUYER, "1")  # the next offer, chosen from the notification
    assert "Waiting for the farmer" in again
    orders = await rows(chat, Order)
    assert [o.status for o in orders] == ["declined", "pending"]


async def test_unanswered_order_expires(chat):
    await chat.send(FARMER, "卖100斤核桃 12块一斤")
    await chat.send(BUYER, "buy 10 jin walnuts")
    order_ref = ref_in(await chat.send(BUYER, "1"))
    assert (await sweep(chat.svc, chat.clock.now))["orders_expired"] == 0
    chat.clear()
    chat.clock.advance(hours=25)
    result = await sweep(chat.svc, chat.clock.now)
    assert result["orders_expired"] == 1
    [order] = await rows(chat, Order)
    [listing] = await rows(chat, Listing)
    assert order.status == "expired" and listing.quantity_available == 100
    assert f"Order {order_ref} expired" in chat.pushes_to(BUYER)[0]
    assert f"订单{order_ref}" in chat.pushes_to(FARMER)[0]
    late = await chat.send(FARMER, f"yes {order_ref}")
    assert "已过期" in late or "expired" in late


async def test_buyer_cancels_a_pending_order(chat):
    await chat.send(FARMER, "sell 30kg tomatoes at 1.5/kg")
    await chat.send(BUYER, "buy 10kg tomatoes")
    order_ref = ref_in(await chat.send(BUYER, "1"))
    chat.clear()
    reply = await chat.send(BUYER, f"cancel {order_ref}")
    assert f"Order {order_ref} cancelled" in reply
    [order] = await rows(chat, Order)
    [listing] = await rows(chat, Listing)
    assert order.status == "cancelled" and listing.quantity_available == 30
    assert f"{order_ref}" in chat.pushes_to(FARMER)[0]


async def test_standing_request_is_matched_when_a_listing_appears(chat):
    reply = await chat.send(BUYER, "buy 10 kg pears")
    assert "No pear on offer" in reply
    assert "I'll tell you" in await chat.send(BUYER, "yes")
    [request] = await rows(chat, BuyRequest)
    assert request.status == "open" and request.quantity == 10
    listed = await chat.send(FARMER, "sell 30kg pears at 4/kg")
    assert "买家" in listed or "buyer" in listed  # the farmer hears of the waiting buyer
    [told] = chat.pushes_to(BUYER)
    assert "1) 30 kg at ¥4.00/kg" in told
    [request] = await rows(chat, BuyRequest)
    assert request.status == "matched"
    assert "Waiting for the farmer" in await chat.send(BUYER, "1")


async def test_price_answer_combines_coordinator_and_asking_prices(chat):
    published = await chat.send(COORDINATOR, "broadcast apple 4.2 yuan/kg Wudu")
    assert "4.20" in published
    assert "published" in await chat.send(
        COORDINATOR, "yes"
    )  # no subscriber: published, nothing sent
    await chat.send(FARMER, "卖200斤苹果 3块一斤")
    await chat.send(BUYER2, "卖100斤苹果 4块一斤")
    answer = await chat.send(BUYER, "apple price?")
    assert "Wudu market ¥2.10/jin" in answer  # 4.2/kg is 2.10/jin
    assert "¥3.00-¥4.00/jin" in answer and "median ¥3.50/jin" in answer
    assert "Only coordinators" in await chat.send(BUYER, "broadcast apple 9 yuan/kg Wudu")


async def test_slot_filling_one_question_at_a_time(chat):
    assert "How much apple" in await chat.send(FARMER, "sell apples")
    assert "What price per kg" in await chat.send(FARMER, "50 kg")
    done = await chat.send(FARMER, "3.5")
    assert "50 kg apple at ¥3.50/kg" in done
    assert "您有多少苹果" in await chat.send(FARMER, "卖苹果")
    assert "已取消" in await chat.send(FARMER, "算了")
    assert len(await rows(chat, Listing)) == 1


async def test_twenty_buyers_race_for_the_last_10_kg(chat):
    import asyncio

    await chat.send(FARMER, "sell 10kg honey at 40/kg")
    buyers = [f"+2547000001{n:02d}" for n in range(20)]
    for buyer in buyers:
        assert "1) 10 kg" in await chat.send(buyer, "buy 10 kg honey")
    replies = await asyncio.gather(*(chat.send(b, "1") for b in buyers))
    assert sum("Waiting for the farmer" in r for r in replies) == 1
    assert sum("no longer has 10 kg" in r for r in replies) == 19
    [listing] = await rows(chat, Listing)
    assert listing.quantity_available == 0
    assert len(await rows(chat, Order)) == 1
