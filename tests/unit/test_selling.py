"""Farmers listing produce as they write: one question at a time for what is missing,
corrections right after, stock changes, their listings."""

from __future__ import annotations

from decimal import Decimal

from storage.models import Listing

WANGARI = "+254711000101"  # a Kenyan farmer: prices in shillings
LAO_LI = "+8613800000101"  # a farmer in Gansu: prices in yuan, jin


def stock(market) -> list[tuple]:
    return [
        (x.product, x.quantity_available, x.unit, x.price, x.price_unit, x.currency, x.status)
        for x in market.rows(Listing)
    ]


async def test_a_full_listing_in_one_message(market):
    reply = await market.send(WANGARI, "sell 100kg potatoes at 40/kg in nakuru")
    assert "Listing 101" in reply and "100 kg potato" in reply and "KES 40/kg" in reply
    assert "Nakuru" in reply
    assert stock(market) == [("potato", 100, "kg", 40, "kg", "KES", "active")]
    assert market.user(WANGARI).place == "nakuru"  # the place said is kept as theirs


async def test_a_missing_price_is_asked_and_the_answer_lists_it(market):
    asked = await market.send(WANGARI, "I have 2 bags of maize")
    assert "price per bag" in asked and "maize" in asked
    assert stock(market) == []
    listed = await market.send(WANGARI, "3000 bob per bag")
    assert "2 bags maize" in listed and "KES 3,000/bag" in listed
    assert stock(market) == [("corn", 2, "bag", 3000, "bag", "KES", "active")]


async def test_chinese_farmer_answers_quantity_then_price(market):
    assert "多少土豆" in await market.send(LAO_LI, "卖土豆")
    assert "每斤多少钱" in await market.send(LAO_LI, "500斤")
    listed = await market.send(LAO_LI, "1块2")
    assert "已发布101号" in listed and "土豆500斤" in listed and "¥1.20/斤" in listed
    assert stock(market) == [("potato", 500, "jin", Decimal("1.20"), "jin", "CNY", "active")]


async def test_typos_and_bob_still_make_a_listing(market):
    reply = await market.send(WANGARI, "sel 50kg tomatos 40 bob")
    assert "50 kg tomato" in reply and "KES 40/kg" in reply
    assert stock(market) == [("tomato", 50, "kg", 40, "kg", "KES", "active")]


async def test_mixed_chinese_and_english_is_answered_in_chinese(market):
    reply = await market.send(LAO_LI, "我有 100 kg apples, 5块一斤")
    assert "已发布" in reply and "苹果100公斤" in reply and "¥5.00/斤" in reply
    assert stock(market) == [("apple", 100, "kg", 5, "jin", "CNY", "active")]


async def test_changing_the_product_mid_question_keeps_the_price(market):
    assert "How much onion" in await market.send(WANGARI, "selling onions 80 per kg")
    assert "How much cabbage" in await market.send(WANGARI, "sorry i mean cabbages")
    listed = await market.send(WANGARI, "60kg")
    assert "60 kg cabbage" in listed and "KES 80/kg" in listed
    assert stock(market) == [("cabbage", 60, "kg", 80, "kg", "KES", "active")]


async def test_no_with_a_number_right_after_listing_corrects_the_price(market):
    await market.send(WANGARI, "sel 50kg tomatos 40 bob")
    reply = await market.send(WANGARI, "no, 45")
    assert "KES 40/kg → KES 45/kg" in reply
    assert stock(market) == [("tomato", 50, "kg", 45, "kg", "KES", "active")]


async def test_sold_out_empties_the_listing(market):
    await market.send(WANGARI, "sell 40kg beans at 120/kg")
    await market.send(WANGARI, "Mary")
    assert "0 kg beans" in await market.send(WANGARI, "beans sold out")
    assert stock(market) == [("beans", 0, "kg", 120, "kg", "KES", "active")]


async def test_sold_some_takes_it_off_what_is_left(market):
    await market.send(LAO_LI, "卖核桃200斤，15块一斤")
    await market.send(LAO_LI, "跳过")
    reply = await market.send(LAO_LI, "核桃卖了30斤")
    assert "170斤" in reply
    assert stock(market)[0][:3] == ("walnut", 170, "jin")


async def test_my_listings_names_each_with_its_number(market):
    await market.send(WANGARI, "sell 100kg potatoes at 40/kg")
    await market.send(WANGARI, "skip")
    await market.send(WANGARI, "sell 20 crates of tomatoes at 1500 per crate")
    reply = await market.send(WANGARI, "my listings")
    assert "101: 100 kg potato at KES 40/kg" in reply
    assert "102: 20 crates tomato at KES 1,500/crate" in reply


async def test_the_name_is_asked_once_after_the_first_listing(market):
    first = await market.send(WANGARI, "sell 100kg potatoes at 40/kg")
    assert "What's your name" in first
    assert "Saved: name Wanjiku" in await market.send(WANGARI, "Wanjiku")
    second = await market.send(WANGARI, "sell 30kg kale at 25/kg")
    assert "What's your name" not in second
    assert market.user(WANGARI).name == "Wanjiku"
