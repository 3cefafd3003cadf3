"""Buyers asking for produce as they write: offers cheapest first in their money, a pick by
number, the farmer told, stock held; nothing on offer means a standing request."""

from __future__ import annotations

from storage.models import BuyRequest, Listing, Order, Outbox

OTIENO, KAMAU = "+254711000201", "+254711000202"  # Kenyan farmers
WANJIRU, ACHIENG = "+254700000201", "+254700000202"  # Kenyan buyers
RAVI = "+919812300201"  # an Indian trader


async def listed(market, farmer: str, text: str) -> None:
    assert "Listing" in await market.send(farmer, text)
    await market.send(farmer, "skip")  # no name


def left(market) -> list:
    return [x.quantity_available for x in market.rows(Listing)]


async def test_a_buyer_orders_and_the_farmer_is_told(market):
    await listed(market, OTIENO, "sell 100kg potatoes at 40/kg in nakuru")
    offers = await market.send(WANJIRU, "buy 30kg potatoes")
    assert "1) 100 kg at KES 40/kg, Nakuru" in offers
    ordered = await market.send(WANJIRU, "1")
    assert "Order 102: 30 kg potato" in ordered and "KES 1,200" in ordered
    assert left(market) == [70]
    assert [(o.status, o.quantity) for o in market.rows(Order)] == [("pending", 30)]
    (told,) = market.pushes_to(OTIENO)
    assert "New order 102" in told and "YES 102" in told
    assert [(r.address, r.status) for r in market.rows(Outbox)] == [(OTIENO, "sending")]


async def test_swahili_buyer_is_offered_in_their_own_word(market):
    await listed(market, OTIENO, "sell 100kg potatoes at 40/kg")
    offers = await market.send(ACHIENG, "nataka kununua viazi 50kg")
    assert offers.startswith("Viazi for you") and "KES 40/kg" in offers


async def test_offers_in_the_buyers_money_come_first_cheapest_first(market):
    await listed(market, OTIENO, "sell 100kg onions at 50/kg")
    await listed(market, KAMAU, "sell 100kg onions at 45/kg")
    await listed(market, RAVI, "sell 10kg onions at 30/kg")
    offers = await market.send(WANJIRU, "buy 20kg onions")
    lines = offers.splitlines()
    assert "1) 100 kg at KES 45/kg" in lines[1]
    assert "2) 100 kg at KES 50/kg" in lines[2]
    assert "3) only 10 kg at ₹30/kg" in lines[3]  # too little, and in rupees: last
    await market.send(WANJIRU, "2")
    assert left(market) == [80, 100, 10]
    assert len(market.pushes_to(OTIENO)) == 1 and market.pushes_to(KAMAU) == []


async def test_an_expired_listing_is_not_offered(market):
    await listed(market, OTIENO, "sell 100kg potatoes at 40/kg")
    market.clock.advance(days=15)  # listings live 14 days
    assert "No potato on offer" in await market.send(WANJIRU, "buy 30kg potatoes")


async def test_the_quantity_is_asked_when_missing(market):
    await listed(market, OTIENO, "sell 100kg potatoes at 40/kg")
    assert "How much potato do you need" in await market.send(WANJIRU, "I want to buy potatoes")
    assert "1) 100 kg at KES 40/kg" in await market.send(WANJIRU, "30kg")


async def test_a_new_amount_while_choosing_shows_the_offers_again(market):
    await listed(market, OTIENO, "sell 100kg potatoes at 40/kg")
    await market.send(WANJIRU, "buy 30kg potatoes")
    again = await market.send(WANJIRU, "actually 50kg")
    assert "Got it: 50 kg" in again and "1) 100 kg" in again
    assert "50 kg potato" in await market.send(WANJIRU, "one")
    assert left(market) == [50]


async def test_an_offer_smaller_than_asked_is_confirmed_first(market):
    await listed(market, OTIENO, "sell 10kg potatoes at 40/kg")
    await market.send(WANJIRU, "buy 30kg potatoes")
    asked = await market.send(WANJIRU, "1")
    assert "only 10 kg" in asked and "KES 400" in asked
    assert market.rows(Order) == []
    assert "Order 102: 10 kg" in await market.send(WANJIRU, "yes")
    assert left(market) == [0]


async def test_a_number_past_the_offers_says_how_many(market):
    await listed(market, OTIENO, "sell 100kg potatoes at 40/kg")
    await market.send(WANJIRU, "buy 30kg potatoes")
    reply = await market.send(WANJIRU, "5")
    assert "only 1 offer" in reply and market.rows(Order) == []
    assert left(market) == [100]


async def test_nothing_on_offer_becomes_a_request_met_by_the_next_listing(market):
    assert "No sukuma on offer" in await market.send(WANJIRU, "need 20kg sukuma")
    assert "when kale is listed" in await market.send(WANJIRU, "yes")
    assert [(r.product, r.status) for r in market.rows(BuyRequest)] == [("kale", "open")]
    farmer = await market.send(OTIENO, "sell 50 kg kale at 30/kg")
    assert "A buyer is looking for kale (20 kg)" in farmer
    (offer,) = market.pushes_to(WANJIRU)
    assert "1) 50 kg at KES 30/kg" in offer
    assert [r.status for r in market.rows(BuyRequest)] == ["matched"]
    assert "Order 102: 20 kg" in await market.send(WANJIRU, "1")  # the offer can be picked


async def test_no_thanks_to_a_standing_request_saves_none(market):
    await market.send(WANJIRU, "need 20kg sukuma")
    await market.send(WANJIRU, "no")
    assert market.rows(BuyRequest) == []


async def test_a_farmer_is_never_offered_their_own_listing(market):
    await listed(market, OTIENO, "sell 100kg potatoes at 40/kg")
    assert "No potato on offer" in await market.send(OTIENO, "buy 30kg potatoes")
