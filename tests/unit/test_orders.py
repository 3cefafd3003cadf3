"""After an order: the farmer's yes or no, several orders waiting, cancelling, and the two
traders writing to each other through the bot."""

from __future__ import annotations

import handlers.orders
from storage.models import Listing, Order, Outbox

OTIENO = "+254711000301"  # a farmer in Nakuru
WANJIRU, ACHIENG = "+254700000301", "+254700000302"  # buyers
CHEN = "+8613800000301"  # a Chinese farmer


async def ordered(market, buyer: str = WANJIRU, text: str = "buy 30kg potatoes") -> str:
    """The buyer's order of the first offer (the farmer's listing is made once)."""
    if not market.rows(Listing):
        await market.send(OTIENO, "sell 100kg potatoes at 40/kg")
        await market.send(OTIENO, "Otieno")
    await market.send(buyer, text)
    return await market.send(buyer, "1")


def orders(market) -> list[tuple]:
    return [(o.id, o.quantity, o.status) for o in market.rows(Order)]


def left(market) -> list:
    return [x.quantity_available for x in market.rows(Listing)]


async def test_yes_accepts_and_the_buyer_gets_the_farmers_number(market):
    await ordered(market)
    reply = await market.send(OTIENO, "yes")
    assert "You accepted order 102" in reply and WANJIRU in reply
    assert orders(market) == [(102, 30, "accepted")]
    accepted = market.pushes_to(WANJIRU)[-1]
    assert "Order 102 accepted" in accepted and "Otieno" in accepted and OTIENO in accepted
    assert left(market) == [70]


async def test_no_declines_puts_the_stock_back_and_tells_the_buyer(market):
    await ordered(market)
    assert "back in listing 101" in await market.send(OTIENO, "no")
    assert orders(market) == [(102, 30, "declined")]
    assert left(market) == [100]
    assert "Order 102 was declined" in market.pushes_to(WANJIRU)[-1]


async def test_a_declined_buyer_is_offered_the_next_listing(market):
    await ordered(market)
    await market.send("+254711000309", "sell 50kg potatoes at 42/kg")
    await market.send(OTIENO, "NO 102")
    told = market.pushes_to(WANJIRU)[-1]
    assert "declined" in told and "1) 50 kg at KES 42/kg" in told
    assert "Order 104: 30 kg" in await market.send(WANJIRU, "1")  # the pushed offers are open
    assert left(market) == [100, 20]


async def test_a_bare_yes_with_two_orders_waiting_asks_which(market):
    await ordered(market)
    await ordered(market, ACHIENG, "nataka viazi kilo 20")
    which = await market.send(OTIENO, "yes")
    assert "Which order?" in which and "102: 30 kg potato" in which and "103: 20 kg" in which
    assert "accepted order 103" in await market.send(OTIENO, "yes 103")
    still = await market.send(OTIENO, "ok")  # an "ok" answers no other order
    assert "Still waiting" in still and "102" in still
    assert orders(market) == [(102, 30, "pending"), (103, 20, "accepted")]


async def test_only_the_farmer_answers_an_order(market):
    await ordered(market)
    assert "not yours" in await market.send(ACHIENG, "yes 102")
    assert "not yours" in await market.send(ACHIENG, "cancel 101")
    assert orders(market) == [(102, 30, "pending")]
    assert [x.status for x in market.rows(Listing)] == ["active"]


async def test_an_order_answered_twice_says_it_is_already_done(market):
    await ordered(market)
    await market.send(OTIENO, "yes 102")
    assert "already accepted" in await market.send(OTIENO, "no 102")
    assert orders(market) == [(102, 30, "accepted")]


async def test_the_buyer_cancels_and_the_farmer_is_told(market):
    await ordered(market)
    assert "Order 102 cancelled" in await market.send(WANJIRU, "cancel 102")
    assert orders(market) == [(102, 30, "cancelled")]
    assert left(market) == [100]
    assert "was cancelled by the buyer" in market.pushes_to(OTIENO)[-1]


async def test_removing_a_listing_cancels_its_waiting_orders(market):
    await ordered(market)
    assert "Listing 101 removed" in await market.send(OTIENO, "cancel 101")
    assert [x.status for x in market.rows(Listing)] == ["cancelled"]
    assert orders(market) == [(102, 30, "cancelled")]
    assert "cancelled by the farmer" in market.pushes_to(WANJIRU)[-1]


async def test_messages_are_relayed_only_once_the_order_is_accepted(market):
    await ordered(market)
    assert "not accepted yet" in await market.send(WANJIRU, "msg 102 when can I collect?")
    await market.send(OTIENO, "YES 102")
    assert "Passed on to Otieno (farmer)" in await market.send(
        WANJIRU, "msg 102 when can I collect?"
    )
    assert "Passed on to the buyer" in await market.send(OTIENO, "reply 102 tomorrow 9am, gate")
    assert "the buyer: when can I collect?" in market.pushes_to(OTIENO)[-1]
    assert "tomorrow 9am, gate" in market.pushes_to(WANJIRU)[-1]
    kinds = [(r.address, r.kind) for r in market.rows(Outbox)]
    assert kinds[-2:] == [(OTIENO, "relay"), (WANJIRU, "relay")]


async def test_a_kenyan_local_phone_number_is_kept_in_full(market):
    reply = await market.send(WANJIRU, "my phone is 0722 123456")
    assert "+254722123456" in reply
    assert market.user(WANJIRU).phone == "+254722123456"


async def test_my_orders_lists_both_sides(market):
    await ordered(market)
    await market.send(OTIENO, "no")
    assert "102: buying 30 kg potato, KES 1,200, declined" in await market.send(
        WANJIRU, "my orders"
    )
    assert "102: selling 30 kg potato" in await market.send(OTIENO, "my orders")


async def test_a_chinese_farmer_accepts_in_chinese(market):
    await market.send(CHEN, "卖苹果100斤，3块一斤")
    await market.send(CHEN, "跳过")
    await market.send(WANJIRU, "buy 20 jin apples")
    await market.send(WANJIRU, "1")
    assert "新订单" in market.pushes_to(CHEN)[-1]
    assert "已接受" in await market.send(CHEN, "是")
    assert orders(market) == [(102, 20, "accepted")]


async def test_an_order_whose_request_never_reached_the_farmer_is_called_off(market):
    await ordered(market)
    [asked] = [r.id for r in market.rows(Outbox) if r.address == OTIENO]

    async def unreachable(uow):
        return await handlers.orders.unreachable_farmers(
            uow, market.settings, market.catalog, [asked], market.clock()
        )

    [told] = await market.db.transact(unreachable)
    assert told.to == market.user(WANJIRU).id
    assert told.text.startswith("Order 102 is cancelled: the farmer can't be reached right now.")
    assert orders(market) == [(102, 30, "cancelled")]
    assert left(market) == [100]  # the stock is back
    assert await market.db.transact(unreachable) == []  # once: it is no longer pending
