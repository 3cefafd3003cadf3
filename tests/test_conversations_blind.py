"""Conversation tests written from the README and SPEC only (what a user is promised).

Each test talks to the real gateway (real NLU, real database) the way people actually write
and checks what the user sees (numbers, money, references, questions) and, above all, what
the database holds afterwards.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from storage.models import (
    Broadcast,
    BuyRequest,
    Listing,
    MarketPrice,
    Order,
    Subscription,
    User,
)

CN1, CN2, CN3, CN4, CN5 = (f"+86138000001{n:02d}" for n in range(1, 6))
KE1, KE2, KE3 = "+254711000001", "+254722000002", "+254733000003"
IN1, IN2 = "+919812300001", "+919812300002"
WX_FARMER, WX_BUYER = "oWx3k_farmer01", "oWx3k_buyer07"
COORDINATOR = "+8613900000000"


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture
def chat(chat):
    """The conftest chat, printing the conversation so a failure shows what was said."""
    original = chat.send

    async def send(sender, text, message_id=None, channel="console"):
        before = len(chat.sender.sent)
        reply = await original(sender, text, message_id=message_id, channel=channel)
        print(f"{sender} ({channel})> {text}\nbot: {reply}")
        for _, to, pushed in chat.sender.sent[before:]:
            print(f"  -> {to}: {pushed}")
        return reply

    chat.send = send
    return chat


async def rows(chat, model):
    async with chat.svc.db.uow() as uow:
        return list((await uow.session.execute(select(model).order_by(model.id))).scalars())


async def listings(chat, product=None):
    return [row for row in await rows(chat, Listing) if product is None or row.product == product]


async def user(chat, address):
    [found] = [u for u in await rows(chat, User) if u.address == address]
    return found


def ref_in(text: str) -> int:
    found = re.search(r"\d{3,}", text)
    assert found, text
    return int(found.group())


def asks(reply: str) -> bool:
    return "?" in reply or "？" in reply


def plain(reply: str) -> str:
    """Money may be written with thousands separators; compare digits without them."""
    return reply.replace(",", "")


def has_chinese(reply: str) -> bool:
    return re.search(r"[\u4e00-\u9fff]", reply) is not None


def offer_line(reply: str, n: int) -> str:
    for line in reply.splitlines():
        if re.match(rf"\s*#?{n}\s*[)）.、:]", line):
            return line
    raise AssertionError(f"no offer {n} in {reply!r}")


def shape(listing):
    return (
        listing.product,
        listing.quantity_available,
        listing.unit,
        listing.price,
        listing.currency,
    )


async def three_apple_farmers(chat):
    """Three farmers with apples by the kg at 4, 2 and 3 yuan, all with plenty of stock."""
    await chat.send(CN1, "sell 100kg apples at 4/kg")
    await chat.send(CN2, "sell 100kg apples at 2/kg")
    await chat.send(CN3, "sell 100kg apples at 3/kg")
    by_price = {row.price: row for row in await listings(chat, "apple")}
    assert set(by_price) == {Decimal("4"), Decimal("2"), Decimal("3")}
    return by_price


async def pending_order(chat, farmer, buyer, listing_text, buy_text):
    await chat.send(farmer, listing_text)
    await chat.send(buyer, buy_text)
    created = await chat.send(buyer, "1")
    return ref_in(created)


# --- selling: complete messages ----------------------------------------------------------------


async def test_sell_complete_english_by_the_kg(chat):
    reply = await chat.send(CN1, "sell 40kg pears at 2.5/kg")
    [listing] = await listings(chat)
    assert shape(listing) == ("pear", 40, "kg", Decimal("2.50"), "CNY")
    assert (
        listing.price_unit == "kg" and listing.status == "active" and listing.quantity_total == 40
    )
    assert str(listing.id) in reply and "¥2.50" in reply and "40" in reply


async def test_sell_chinese_colloquial_numbers(chat):
    reply = await chat.send(CN1, "卖一百五十斤土豆，一块二一斤")
    [listing] = await listings(chat)
    assert shape(listing) == ("potato", 150, "jin", Decimal("1.20"), "CNY")
    assert listing.price_unit == "jin"
    assert "¥1.20" in reply and "150" in reply and str(listing.id) in reply and has_chinese(reply)


async def test_sell_terse_chinese_with_mao(chat):
    reply = await chat.send(CN2, "白菜 300斤 5毛")
    [listing] = await listings(chat)
    assert shape(listing) == ("cabbage", 300, "jin", Decimal("0.50"), "CNY")
    assert "¥0.50" in reply and str(listing.id) in reply


async def test_sell_mixed_pinyin_and_english(chat):
    reply = await chat.send(CN3, "sell pingguo 30 jin 4 kuai")
    [listing] = await listings(chat)
    assert shape(listing) == ("apple", 30, "jin", Decimal("4.00"), "CNY")
    assert "¥4.00" in reply


async def test_sell_with_typos(chat):
    reply = await chat.send(CN1, "sel 20kg aples at 3/kg")
    [listing] = await listings(chat)
    assert shape(listing) == ("apple", 20, "kg", Decimal("3.00"), "CNY")
    assert "¥3.00" in reply


async def test_sell_total_price_is_divided_per_unit(chat):
    reply = await chat.send(CN1, "sell 50 kg apples for 150 total")
    [listing] = await listings(chat)
    assert (
        shape(listing) == ("apple", 50, "kg", Decimal("3.00"), "CNY")
        and listing.price_unit == "kg"
    )
    assert "¥3.00" in reply


async def test_sell_total_price_kenyan_bags(chat):
    reply = await chat.send(KE1, "selling 4 bags of beans for 10000 total")
    [listing] = await listings(chat)
    assert shape(listing) == ("beans", 4, "bag", Decimal("2500.00"), "KES")
    assert "KES" in reply and "2500" in plain(reply)


async def test_sell_total_price_chinese(chat):
    reply = await chat.send(CN2, "卖50斤红枣 一共400块")
    [listing] = await listings(chat)
    assert shape(listing) == ("jujube", 50, "jin", Decimal("8.00"), "CNY")
    assert "¥8.00" in reply


async def test_two_products_in_one_english_message(chat):
    reply = await chat.send(CN1, "sell 30kg tomatoes at 1.5/kg and 10kg garlic at 6/kg")
    got = sorted(shape(row) for row in await listings(chat))
    assert got == [
        ("garlic", 10, "kg", Decimal("6.00"), "CNY"),
        ("tomato", 30, "kg", Decimal("1.50"), "CNY"),
    ]
    for row in await listings(chat):
        assert str(row.id) in reply


async def test_two_products_in_one_chinese_message(chat):
    reply = await chat.send(CN2, "卖苹果100斤 3块一斤，梨子50斤 2块一斤")
    got = sorted(shape(row) for row in await listings(chat))
    assert got == [
        ("apple", 100, "jin", Decimal("3.00"), "CNY"),
        ("pear", 50, "jin", Decimal("2.00"), "CNY"),
    ]
    assert "¥3.00" in reply and "¥2.00" in reply


async def test_sell_san_kuai_wu(chat):
    reply = await chat.send(CN4, "卖八十斤桃子，三块五一斤")
    [listing] = await listings(chat)
    assert shape(listing) == ("peach", 80, "jin", Decimal("3.50"), "CNY")
    assert "¥3.50" in reply and "80" in reply


async def test_sell_mixed_chinese_and_english_words(chat):
    reply = await chat.send(CN5, "sell 30 jin 核桃 at 12 yuan")
    [listing] = await listings(chat)
    assert shape(listing) == ("walnut", 30, "jin", Decimal("12.00"), "CNY")
    assert "¥12.00" in reply


# --- selling: missing details, asked one at a time ----------------------------------------------


async def test_sell_asks_quantity_then_price(chat):
    first = await chat.send(CN1, "sell peaches")
    assert asks(first) and await listings(chat) == []
    second = await chat.send(CN1, "80 kg")
    assert asks(second) and await listings(chat) == []
    done = await chat.send(CN1, "4")
    [listing] = await listings(chat)
    assert shape(listing) == ("peach", 80, "kg", Decimal("4.00"), "CNY")
    assert "¥4.00" in done and str(listing.id) in done


async def test_sell_chinese_asks_over_several_turns(chat):
    assert asks(await chat.send(CN2, "卖猕猴桃"))
    assert asks(await chat.send(CN2, "二百斤"))
    assert await listings(chat) == []
    done = await chat.send(CN2, "六块")
    [listing] = await listings(chat)
    assert shape(listing) == ("kiwi", 200, "jin", Decimal("6.00"), "CNY")
    assert "¥6.00" in done


async def test_sell_asks_only_the_missing_price(chat):
    asked = await chat.send(CN3, "卖核桃 200斤")
    assert asks(asked) and await listings(chat) == []
    await chat.send(CN3, "十五块一斤")
    [listing] = await listings(chat)
    assert shape(listing) == ("walnut", 200, "jin", Decimal("15.00"), "CNY")


async def test_a_quantity_is_never_taken_as_a_price(chat):
    assert asks(await chat.send(CN1, "sell grapes 30kg"))
    assert asks(await chat.send(CN1, "20 kg"))  # the price is still asked for
    assert [row for row in await listings(chat) if row.price == 20] == []
    assert await listings(chat) == []  # still waiting for a price
    await chat.send(CN1, "6")
    [listing] = await listings(chat)
    assert (listing.product, listing.unit, listing.price, listing.currency) == (
        "grape",
        "kg",
        Decimal("6.00"),
        "CNY",
    )


async def test_cancel_drops_the_open_question(chat):
    assert asks(await chat.send(CN1, "卖苹果"))
    await chat.send(CN1, "算了")
    await chat.send(CN1, "sell 10kg pears at 2/kg")
    [listing] = await listings(chat)
    assert shape(listing) == ("pear", 10, "kg", Decimal("2.00"), "CNY")


async def test_english_cancel_then_nothing_is_listed(chat):
    assert asks(await chat.send(CN4, "sell cucumbers 60kg"))
    await chat.send(CN4, "cancel")
    await chat.send(CN4, "2.5")
    assert await listings(chat) == []


async def test_open_question_is_forgotten_after_30_minutes(chat):
    assert asks(await chat.send(CN1, "sell pears"))
    chat.clock.advance(minutes=31)
    await chat.send(CN1, "50 kg")
    await chat.send(CN1, "3")
    assert await listings(chat) == []


async def test_answer_within_30_minutes_still_counts(chat):
    assert asks(await chat.send(CN1, "sell pears 50kg"))
    chat.clock.advance(minutes=20)
    await chat.send(CN1, "3")
    [listing] = await listings(chat)
    assert shape(listing) == ("pear", 50, "kg", Decimal("3.00"), "CNY")


# --- selling: corrections right after a confirmation or a question -----------------------------


async def test_correct_price_right_after_confirmation(chat):
    await chat.send(CN1, "sell 60kg kiwi at 5/kg")
    reply = await chat.send(CN1, "no, 5.5")
    [listing] = await listings(chat)
    assert shape(listing) == ("kiwi", 60, "kg", Decimal("5.50"), "CNY")
    assert "5.50" in reply


async def test_correct_quantity_right_after_confirmation(chat):
    await chat.send(CN1, "sell 50kg onions at 2/kg")
    reply = await chat.send(CN1, "actually 100kg")
    [listing] = await listings(chat)
    assert shape(listing) == ("onion", 100, "kg", Decimal("2.00"), "CNY")
    assert "100" in reply


async def test_a_bare_number_in_a_correction_is_a_price(chat):
    await chat.send(CN2, "sell 100 kg honey at 40/kg")
    reply = await chat.send(CN2, "no, 45")
    [listing] = await listings(chat)
    assert shape(listing) == ("honey", 100, "kg", Decimal("45.00"), "CNY")
    assert "45" in reply


async def test_chinese_corrections_of_price_then_quantity(chat):
    await chat.send(CN3, "卖50斤苹果 三块一斤")
    fixed_price = await chat.send(CN3, "不对，是3块5")
    assert "¥3.50" in fixed_price
    fixed_qty = await chat.send(CN3, "改成80斤")
    assert "80" in fixed_qty
    [listing] = await listings(chat)
    assert shape(listing) == ("apple", 80, "jin", Decimal("3.50"), "CNY")


async def test_correction_while_the_bot_asks_for_the_price(chat):
    assert asks(await chat.send(CN1, "sell mangoes 40kg"))
    corrected = await chat.send(CN1, "actually 60kg")
    assert "60" in corrected and asks(corrected)
    assert await listings(chat) == []
    await chat.send(CN1, "3")
    [listing] = await listings(chat)
    assert shape(listing) == ("mango", 60, "kg", Decimal("3.00"), "CNY")


async def test_chinese_correction_while_asked(chat):
    assert asks(await chat.send(CN2, "卖土豆500斤"))
    corrected = await chat.send(CN2, "改成400斤")
    assert "400" in corrected and asks(corrected)
    await chat.send(CN2, "1块2")
    [listing] = await listings(chat)
    assert shape(listing) == ("potato", 400, "jin", Decimal("1.20"), "CNY")


# --- changing a listing -----------------------------------------------------------------------


async def test_only_some_left_sets_the_stock(chat):
    await chat.send(CN1, "sell 50kg apples at 3/kg")
    await chat.send(CN1, "my listings")
    reply = await chat.send(CN1, "only 20kg left")
    [listing] = await listings(chat)
    assert listing.quantity_available == 20 and listing.price == 3
    assert "20" in reply


async def test_sold_some_takes_off_and_more_adds(chat):
    await chat.send(CN2, "sell 100kg potatoes at 2/kg")
    await chat.send(CN2, "my listings")
    await chat.send(CN2, "sold 10kg potatoes")
    [listing] = await listings(chat)
    assert listing.quantity_available == 90
    await chat.send(CN2, "I have 100 more kg")
    [listing] = await listings(chat)
    assert listing.quantity_available == 190 and listing.unit == "kg"


async def test_chinese_sold_and_arrived(chat):
    await chat.send(CN3, "卖200斤苹果 3块一斤")
    await chat.send(CN3, "我的货")
    await chat.send(CN3, "卖了10斤")
    [listing] = await listings(chat)
    assert listing.quantity_available == 190
    await chat.send(CN3, "又到了100斤")
    [listing] = await listings(chat)
    assert listing.quantity_available == 290 and listing.unit == "jin"


async def test_sold_applies_to_the_named_product_only(chat):
    await chat.send(CN1, "sell 50kg apples at 3/kg")
    await chat.send(CN1, "sell 40kg pears at 2/kg")
    await chat.send(CN1, "my listings")
    await chat.send(CN1, "sold 10kg pears")
    got = {row.product: row.quantity_available for row in await listings(chat)}
    assert got == {"apple": 50, "pear": 30}


async def test_price_change_english(chat):
    await chat.send(CN1, "sell 80kg pears at 2/kg")
    shown = await chat.send(CN1, "my listings")
    [listing] = await listings(chat)
    assert str(listing.id) in shown
    reply = await chat.send(CN1, "pears now 3.5")
    [listing] = await listings(chat)
    assert listing.price == Decimal("3.50") and listing.quantity_available == 80
    assert "3.50" in reply


async def test_price_change_chinese(chat):
    await chat.send(CN2, "卖100斤苹果 3块一斤")
    await chat.send(CN2, "我的货")
    reply = await chat.send(CN2, "苹果改成3块5一斤")
    [listing] = await listings(chat)
    assert (listing.price, listing.currency, listing.quantity_available) == (
        Decimal("3.50"),
        "CNY",
        100,
    )
    assert "¥3.50" in reply


async def test_sold_out_takes_the_listing_off_offer(chat):
    await chat.send(CN1, "sell 40kg peaches at 5/kg")
    await chat.send(CN1, "my listings")
    await chat.send(CN1, "peaches sold out")
    [listing] = await listings(chat)
    assert listing.status != "active" or listing.quantity_available == 0
    offers = await chat.send(KE1, "buy 5kg peaches")
    assert "¥5.00" not in offers


async def test_cancel_listing_by_reference_only_by_its_farmer(chat):
    first = await chat.send(CN1, "sell 10kg honey at 40/kg")
    await chat.send(CN2, "sell 10kg honey at 50/kg")
    mine, theirs = await listings(chat)
    assert str(mine.id) in first
    await chat.send(CN2, f"cancel {mine.id}")  # not CN2's listing
    mine, theirs = await listings(chat)
    assert mine.status == "active"
    await chat.send(CN1, f"cancel {mine.id}")
    mine, theirs = await listings(chat)
    assert mine.status != "active" and theirs.status == "active"
    mine_now = await chat.send(CN1, "my listings")
    assert "something went wrong" not in mine_now


# --- numbers that make no sense -----------------------------------------------------------------


async def test_negative_quantity_is_asked_again(chat):
    reply = await chat.send(CN1, "sell -50kg apples at 3/kg")
    assert asks(reply) and await listings(chat) == []
    assert [row for row in await listings(chat) if row.quantity_available == 50] == []
    await chat.send(CN1, "50kg")
    [listing] = await listings(chat)
    assert shape(listing) == ("apple", 50, "kg", Decimal("3.00"), "CNY")


async def test_exponent_quantity_is_asked_again(chat):
    reply = await chat.send(KE1, "sell 1e5 kg maize at 30/=")
    assert asks(reply) and await listings(chat) == []
    await chat.send(KE1, "100 kg")
    [listing] = await listings(chat)
    assert shape(listing) == ("corn", 100, "kg", Decimal("30.00"), "KES")


async def test_tiny_quantity_is_asked_again(chat):
    reply = await chat.send(CN2, "sell 0.0001 kg tea at 300/kg")
    assert asks(reply) and await listings(chat) == []
    await chat.send(CN2, "cancel")
    assert await listings(chat) == []


async def test_negative_price_is_asked_again(chat):
    reply = await chat.send(IN1, "sell 10kg onions at -3/kg")
    assert asks(reply) and await listings(chat) == []
    await chat.send(IN1, "3")
    [listing] = await listings(chat)
    assert shape(listing) == ("onion", 10, "kg", Decimal("3.00"), "INR")


async def test_a_billion_is_not_listed(chat):
    reply = await chat.send(CN3, "卖5000000000斤大米 2块一斤")
    assert asks(reply) and await listings(chat) == []


# --- sell or buy? ------------------------------------------------------------------------------


async def test_ambiguous_chinese_is_asked_not_guessed(chat):
    reply = await chat.send(CN1, "有苹果要卖吗")
    assert asks(reply)
    assert (
        await listings(chat) == []
        and await rows(chat, BuyRequest) == []
        and await rows(chat, Order) == []
    )


async def test_pls_buy_my_avocados_asks_then_sells(chat):
    reply = await chat.send(KE2, "pls buy my avocados")
    assert asks(reply) and await listings(chat) == []
    assert asks(await chat.send(KE2, "sell"))
    assert await listings(chat) == []
    assert asks(await chat.send(KE2, "200 pieces"))
    assert await listings(chat) == []
    done = await chat.send(KE2, "15")
    [listing] = await listings(chat)
    assert shape(listing) == ("avocado", 200, "piece", Decimal("15.00"), "KES")
    assert "KES" in done


async def test_pinyin_mai_is_ambiguous(chat):
    reply = await chat.send(CN2, "mai pingguo")
    assert asks(reply)
    assert await listings(chat) == [] and await rows(chat, BuyRequest) == []
    assert asks(await chat.send(CN2, "卖"))
    assert asks(await chat.send(CN2, "100斤"))
    await chat.send(CN2, "3块")
    [listing] = await listings(chat)
    assert shape(listing) == ("apple", 100, "jin", Decimal("3.00"), "CNY")


# --- buying ------------------------------------------------------------------------------------


async def test_offers_cheapest_first_and_choose_1(chat):
    by_price = await three_apple_farmers(chat)
    offers = await chat.send(KE3, "buy 20 kg apples")
    assert (
        "¥2.00" in offer_line(offers, 1)
        and "¥3.00" in offer_line(offers, 2)
        and "¥4.00" in offer_line(offers, 3)
    )
    created = await chat.send(KE3, "1")
    [order] = await rows(chat, Order)
    assert order.listing_id == by_price[Decimal("2")].id and order.status == "pending"
    assert order.quantity == 20 and order.price == 2 and order.currency == "CNY"
    assert str(order.id) in created and "40.00" in created
    [cheap] = [row for row in await listings(chat) if row.price == 2]
    assert cheap.quantity_available == 80
    assert any(str(order.id) in push for push in chat.pushes_to(CN2))
    assert chat.pushes_to(CN1) == [] and chat.pushes_to(CN3) == []


async def test_choose_offer_with_word_two(chat):
    by_price = await three_apple_farmers(chat)
    offers = await chat.send(KE3, "want 10kg apples")
    assert "¥3.00" in offer_line(offers, 2)
    await chat.send(KE3, "two")
    [order] = await rows(chat, Order)
    assert order.listing_id == by_price[Decimal("3")].id and order.quantity == 10


async def test_choose_offer_with_hash_2(chat):
    by_price = await three_apple_farmers(chat)
    await chat.send(IN2, "buy 15 kg apples")
    created = await chat.send(IN2, "#2")
    [order] = await rows(chat, Order)
    assert order.listing_id == by_price[Decimal("3")].id and order.quantity == 15
    assert "45.00" in created


async def test_choose_offer_in_chinese(chat):
    by_price = await three_apple_farmers(chat)
    offers = await chat.send(CN4, "我要买20斤苹果")
    assert has_chinese(offers)
    created = await chat.send(CN4, "第二个")
    [order] = await rows(chat, Order)
    assert order.listing_id == by_price[Decimal("3")].id and order.status == "pending"
    assert str(order.id) in created


async def test_enough_stock_comes_before_cheaper(chat):
    await chat.send(CN1, "sell 5kg garlic at 5/kg")
    await chat.send(CN2, "sell 50kg garlic at 7/kg")
    offers = await chat.send(KE1, "buy 20kg garlic")
    assert "¥7.00" in offer_line(offers, 1)
    await chat.send(KE1, "1")
    [order] = await rows(chat, Order)
    assert order.price == 7 and order.quantity == 20


async def test_nearest_comes_before_cheaper(chat):
    await chat.send(CN1, "我在天水")
    await chat.send(CN1, "卖100斤苹果 3块一斤")
    await chat.send(CN2, "我在武都")
    await chat.send(CN2, "卖100斤苹果 4块一斤")
    await chat.send(CN3, "我在武都")
    offers = await chat.send(CN3, "我要买20斤苹果")
    assert "4.00" in offer_line(offers, 1) and "3.00" in offer_line(offers, 2)


async def test_smaller_offer_asks_before_a_smaller_order(chat):
    await chat.send(CN1, "sell 10kg pears at 4/kg")
    offers = await chat.send(KE2, "buy 30 kg pears")
    assert "10 kg" in offers
    asked = await chat.send(KE2, "1")
    assert asks(asked) and await rows(chat, Order) == []
    await chat.send(KE2, "yes")
    [order] = await rows(chat, Order)
    assert order.quantity == 10 and order.status == "pending"
    [listing] = await listings(chat)
    assert listing.quantity_available == 0


async def test_smaller_offer_refused_places_nothing(chat):
    await chat.send(CN1, "卖20斤核桃 12块一斤")
    await chat.send(CN3, "我要买100斤核桃")
    assert asks(await chat.send(CN3, "1"))
    await chat.send(CN3, "不要")
    assert await rows(chat, Order) == []
    [listing] = await listings(chat)
    assert listing.quantity_available == 20


async def test_buying_in_kg_from_a_jin_listing(chat):
    await chat.send(CN1, "卖100斤苹果 3块一斤")
    await chat.send(CN3, "buy 10 kg apples")
    created = await chat.send(CN3, "1")
    assert "60.00" in created
    [listing] = await listings(chat)
    assert listing.quantity_available == 80 and listing.unit == "jin"


async def test_count_units_are_shown_to_a_kg_buyer(chat):
    await chat.send(KE1, "I have 3 bags of maize, 2500 bob each")
    [listing] = await listings(chat)
    assert shape(listing) == ("corn", 3, "bag", Decimal("2500.00"), "KES")
    offers = await chat.send(KE2, "buy 20 kg maize")
    assert "bag" in offers.lower() and "2500" in plain(offers)


async def test_maize_stays_maize_in_the_reply(chat):
    listed = await chat.send(KE2, "I have 3 bags of maize, 2500 bob each")
    assert "maize" in listed.lower() and "KES" in listed and "2500" in plain(listed)
    mine = await chat.send(KE2, "my listings")
    assert "maize" in mine.lower()


async def test_no_offer_leaves_a_standing_request_that_is_matched(chat):
    reply = await chat.send(CN4, "我要买50斤花椒")
    assert "花椒" in reply and await rows(chat, Order) == [] and await rows(chat, BuyRequest) == []
    await chat.send(CN4, "是")
    [request] = await rows(chat, BuyRequest)
    assert (request.product, request.quantity, request.unit, request.status) == (
        "sichuan_pepper",
        50,
        "jin",
        "open",
    )
    listed = await chat.send(CN1, "卖200斤花椒 60块一斤")
    assert "买家" in listed or "buyer" in listed.lower()
    told = chat.pushes_to(CN4)
    assert len(told) == 1 and "60" in told[0]
    [request] = await rows(chat, BuyRequest)
    assert request.status != "open"


async def test_no_offer_and_no_standing_request(chat):
    reply = await chat.send(KE3, "need 2 crates of mango")
    assert "mango" in reply.lower() and await rows(chat, BuyRequest) == []
    await chat.send(KE3, "no")
    assert await rows(chat, BuyRequest) == []


async def test_kenyan_buyer_orders_maize_by_the_bag(chat):
    await chat.send(KE1, "I have 10 bags of maize, 2500 bob each")
    offers = await chat.send(KE2, "I want to buy 2 bags of maize")
    assert "2500" in plain(offers) and "KES" in offers
    created = await chat.send(KE2, "1")
    [order] = await rows(chat, Order)
    assert (order.quantity, order.unit, order.price, order.currency) == (
        2,
        "bag",
        Decimal("2500.00"),
        "KES",
    )
    assert "5000" in plain(created)


async def test_indian_buyer_sees_rupee_offer(chat):
    await chat.send(IN1, "want to sell 200 kg onion rate 25 per kg")
    offers = await chat.send(IN2, "want to buy 50 kg onion")
    assert "₹25" in offers
    created = await chat.send(IN2, "1")
    assert "₹1250" in plain(created)
    [order] = await rows(chat, Order)
    assert order.currency == "INR" and order.quantity == 50


# --- a new request while a question is open ------------------------------------------------------


async def test_new_sell_without_quantity_does_not_inherit_the_old_one(chat):
    assert asks(await chat.send(CN1, "sell apples"))
    assert asks(await chat.send(CN1, "50 kg"))
    restarted = await chat.send(CN1, "sell pears at 3/kg")
    assert asks(restarted) and await listings(chat) == []  # the pears' quantity is asked for
    await chat.send(CN1, "20 kg")
    [listing] = await listings(chat)
    assert shape(listing) == ("pear", 20, "kg", Decimal("3.00"), "CNY")


async def test_complete_new_sell_replaces_the_open_question(chat):
    assert asks(await chat.send(CN2, "sell mangoes 40kg"))
    await chat.send(CN2, "sell 30kg grapes at 4/kg")
    [listing] = await listings(chat)
    assert shape(listing) == ("grape", 30, "kg", Decimal("4.00"), "CNY")


async def test_kenyan_new_sell_keeps_its_own_currency_and_unit(chat):
    assert asks(await chat.send(KE1, "sell 5 bags maize"))
    await chat.send(KE1, "selling 30 kg beans at 120/kg")
    [listing] = await listings(chat)
    assert shape(listing) == ("beans", 30, "kg", Decimal("120.00"), "KES")


async def test_indian_new_sell_in_the_middle(chat):
    assert asks(await chat.send(IN1, "sell onions"))
    await chat.send(IN1, "want to sell 100 kg potato rate 18 per kg")
    [listing] = await listings(chat)
    assert shape(listing) == ("potato", 100, "kg", Decimal("18.00"), "INR")


async def test_chinese_new_sell_in_the_middle(chat):
    assert asks(await chat.send(CN3, "卖苹果 100斤"))
    await chat.send(CN3, "卖50斤梨 2块5一斤")
    [listing] = await listings(chat)
    assert shape(listing) == ("pear", 50, "jin", Decimal("2.50"), "CNY")


async def test_buy_while_selling_question_is_open(chat):
    assert asks(await chat.send(CN4, "卖梨"))
    await chat.send(CN4, "我要买10斤桃子")
    assert await listings(chat) == []
    await chat.send(CN4, "是")
    [request] = await rows(chat, BuyRequest)
    assert (request.product, request.quantity, request.unit) == ("peach", 10, "jin")
    assert await listings(chat) == []


async def test_sell_while_choosing_an_offer(chat):
    await chat.send(CN1, "sell 50kg apples at 3/kg")
    assert "¥3.00" in await chat.send(CN2, "buy 20kg apples")
    await chat.send(CN2, "sell 10kg honey at 40/kg")
    assert await rows(chat, Order) == []
    [honey] = await listings(chat, "honey")
    assert shape(honey) == ("honey", 10, "kg", Decimal("40.00"), "CNY")


async def test_changing_mind_from_selling_to_buying(chat):
    assert asks(await chat.send(KE2, "sell tomatoes"))
    await chat.send(KE2, "wait, buy 10kg onions instead")
    assert await listings(chat) == []
    await chat.send(KE2, "yes")
    [request] = await rows(chat, BuyRequest)
    assert (request.product, request.quantity, request.unit) == ("onion", 10, "kg")


# --- digressions while a question is open -------------------------------------------------------


async def test_price_question_is_answered_while_a_question_is_open(chat):
    await chat.send(CN2, "sell 300 jin walnuts at 14/jin")
    assert asks(await chat.send(CN1, "sell walnuts"))
    price = await chat.send(CN1, "walnut price?")
    assert "14.00" in price  # answered...
    assert asks(price)  # ...and the open question is still asked


async def test_price_question_and_my_orders_keep_the_open_question(chat):
    await chat.send(CN2, "sell 300 jin walnuts at 14/jin")
    assert asks(await chat.send(CN1, "sell walnuts"))
    await chat.send(CN1, "walnut price?")
    assert asks(await chat.send(CN1, "100 jin"))
    orders = await chat.send(CN1, "my orders")
    assert asks(orders) or "walnut" in orders.lower()  # the reply says the question is still open
    await chat.send(CN1, "12")
    [mine] = [row for row in await listings(chat, "walnut") if row.price == 12]
    assert shape(mine) == ("walnut", 100, "jin", Decimal("12.00"), "CNY")


async def test_help_keeps_the_open_question(chat):
    assert asks(await chat.send(CN3, "卖辣椒"))
    await chat.send(CN3, "帮助")
    assert await listings(chat) == []
    await chat.send(CN3, "50斤")
    await chat.send(CN3, "8块")
    [listing] = await listings(chat)
    assert shape(listing) == ("chili", 50, "jin", Decimal("8.00"), "CNY")


async def test_help_reply_says_the_question_is_still_open(chat):
    plain_help = await chat.send(CN4, "帮助")  # someone with no open question
    assert asks(await chat.send(CN3, "卖辣椒 50斤"))
    helped = await chat.send(CN3, "帮助")
    # the reply says the chili question is still open: more than the plain help, and a question
    assert helped != plain_help and ("辣椒" in helped or asks(helped.replace(plain_help, "")))


async def test_english_help_in_the_middle_of_a_price_question(chat):
    assert asks(await chat.send(KE3, "sell 20 crates tomatoes"))
    await chat.send(KE3, "help")
    await chat.send(KE3, "800")
    [listing] = await listings(chat)
    assert shape(listing) == ("tomato", 20, "crate", Decimal("800.00"), "KES")


async def test_english_help_reply_says_the_question_is_still_open(chat):
    plain_help = await chat.send(KE2, "help")  # someone with no open question
    assert asks(await chat.send(KE1, "selling cassava 30 bags"))
    helped = await chat.send(KE1, "help")
    # the reply says the cassava question is still open: more than the plain help, and a question
    assert helped != plain_help and (
        "cassava" in helped.lower() or asks(helped.replace(plain_help, ""))
    )


# --- the farmer's answer and following an order -------------------------------------------------


async def test_bare_yes_accepts_the_only_pending_order(chat):
    ref = await pending_order(chat, CN1, KE1, "sell 50kg apples at 3/kg", "buy 10kg apples")
    chat.clear()
    accepted = await chat.send(CN1, "yes")
    assert str(ref) in accepted and KE1 in accepted
    [order] = await rows(chat, Order)
    assert order.id == ref and order.status == "accepted"
    [told] = chat.pushes_to(KE1)
    assert str(ref) in told and CN1 in told


async def test_bare_no_with_two_pending_asks_which(chat):
    await chat.send(CN1, "sell 50kg apples at 3/kg")
    await chat.send(KE1, "buy 10kg apples")
    ref1 = ref_in(await chat.send(KE1, "1"))
    await chat.send(KE2, "buy 5kg apples")
    ref2 = ref_in(await chat.send(KE2, "1"))
    which = await chat.send(CN1, "no")
    assert asks(which) and str(ref1) in which and str(ref2) in which
    assert [o.status for o in await rows(chat, Order)] == ["pending", "pending"]
    await chat.send(CN1, f"no {ref1}")
    assert [o.status for o in await rows(chat, Order)] == ["declined", "pending"]
    [listing] = await listings(chat)
    assert listing.quantity_available == 45


async def test_chinese_farmer_accepts_by_reference(chat):
    ref = await pending_order(chat, CN2, CN4, "卖100斤红薯 1块5一斤", "我要买40斤红薯")
    pushed = chat.pushes_to(CN2)
    assert any(str(ref) in push for push in pushed)
    await chat.send(CN2, f"是{ref}")
    [order] = await rows(chat, Order)
    assert order.status == "accepted" and order.quantity == 40
    assert any(CN2 in push for push in chat.pushes_to(CN4))


async def test_someone_else_cannot_accept(chat):
    ref = await pending_order(chat, CN1, KE1, "sell 50kg pears at 3/kg", "buy 10kg pears")
    await chat.send(CN3, f"yes {ref}")
    [order] = await rows(chat, Order)
    assert order.status == "pending"


async def test_my_orders_and_farmer_cancels_an_accepted_order(chat):
    ref = await pending_order(chat, CN1, KE2, "sell 30kg tomatoes at 2/kg", "buy 10kg tomatoes")
    mine = await chat.send(KE2, "my orders")
    assert str(ref) in mine and "20.00" in mine
    await chat.send(CN1, f"yes {ref}")
    chat.clear()
    await chat.send(CN1, f"cancel {ref}")
    [order] = await rows(chat, Order)
    [listing] = await listings(chat)
    assert order.status == "cancelled" and listing.quantity_available == 30
    assert any(str(ref) in push for push in chat.pushes_to(KE2))


async def test_buyer_cancels_pending_in_chinese(chat):
    ref = await pending_order(chat, CN1, CN3, "卖100斤梨 2块一斤", "我要买30斤梨")
    await chat.send(CN3, f"取消{ref}")
    [order] = await rows(chat, Order)
    [listing] = await listings(chat)
    assert order.status == "cancelled" and listing.quantity_available == 100


# --- WeChat and SMS users reaching each other ---------------------------------------------------


async def test_wechat_farmer_and_sms_buyer_talk_through_the_bot(chat):
    listed = await chat.send(WX_FARMER, "卖20斤蜂蜜 80块一斤", channel="wechat")
    [listing] = await listings(chat)
    assert (
        shape(listing) == ("honey", 20, "jin", Decimal("80.00"), "CNY")
        and str(listing.id) in listed
    )
    await chat.send(KE3, "buy 5 jin honey")
    ref = ref_in(await chat.send(KE3, "1"))
    assert any(str(ref) in push for push in chat.pushes_to(WX_FARMER))
    chat.clear()
    await chat.send(WX_FARMER, "是", channel="wechat")
    [order] = await rows(chat, Order)
    assert order.status == "accepted"
    [accepted] = chat.pushes_to(KE3)
    assert str(ref) in accepted and ("msg" in accepted.lower() or "回复" in accepted)
    chat.clear()
    await chat.send(KE3, f"msg {ref} when can you deliver?")
    assert any("when can you deliver" in push for push in chat.pushes_to(WX_FARMER))
    await chat.send(WX_FARMER, f"回复{ref} 明天送到", channel="wechat")
    assert any("明天送到" in push for push in chat.pushes_to(KE3))


async def test_relay_stops_after_the_order_is_cancelled(chat):
    await chat.send(CN1, "sell 40kg mushrooms at 20/kg")
    await chat.send(WX_BUYER, "buy 4kg mushrooms", channel="wechat")
    ref = ref_in(await chat.send(WX_BUYER, "1", channel="wechat"))
    await chat.send(CN1, f"yes {ref}")
    chat.clear()
    await chat.send(WX_BUYER, f"msg {ref} is it fresh?", channel="wechat")
    assert any("is it fresh" in push for push in chat.pushes_to(CN1))
    await chat.send(WX_BUYER, f"cancel {ref}", channel="wechat")
    [order] = await rows(chat, Order)
    assert order.status == "cancelled"
    chat.clear()
    await chat.send(WX_BUYER, f"msg {ref} hello are you there", channel="wechat")
    assert not any("hello are you there" in push for push in chat.pushes_to(CN1))


async def test_wechat_farmer_shares_a_phone_number(chat):
    await chat.send(WX_FARMER, "my phone is 13812345678", channel="wechat")
    await chat.send(WX_FARMER, "卖100斤苹果 3块一斤", channel="wechat")
    await chat.send(KE1, "buy 10 jin apples")
    await chat.send(KE1, "1")
    chat.clear()
    await chat.send(WX_FARMER, "yes", channel="wechat")
    assert any("13812345678" in push for push in chat.pushes_to(KE1))


# --- prices ------------------------------------------------------------------------------------


async def test_price_question_in_chinese_with_coordinator_price(chat):
    await chat.send(COORDINATOR, "broadcast potato 1.6 yuan/kg Chengxian")
    await chat.send(COORDINATOR, "yes")
    await chat.send(CN1, "卖500斤土豆 1块一斤")
    answer = await chat.send(CN2, "土豆多少钱一斤")
    assert has_chinese(answer) and "0.80" in answer and "1.00" in answer


async def test_price_answer_never_averages_currencies(chat):
    await chat.send(CN1, "sell 100kg apples at 3/kg")
    await chat.send(CN2, "sell 100kg apples at 4/kg")
    await chat.send(KE1, "sell 100kg apples at 100 ksh/kg")
    answer = await chat.send(CN3, "apple price?")
    # the yuan asking prices are 1.50 and 2.00 per jin, median 1.75; KES 100/kg is not one of them
    assert "¥1.50" in answer and "¥2.00" in answer and "1.75" in answer
    assert "¥50" not in answer and "¥2.00-¥50" not in answer


async def test_price_question_with_no_data_still_answers(chat):
    answer = await chat.send(KE2, "how much is cassava")
    assert "cassava" in answer.lower() and await rows(chat, MarketPrice) == []


# --- unknown products and places -----------------------------------------------------------------


async def test_unknown_product_to_sell_is_not_listed(chat):
    reply = await chat.send(CN1, "sell 50kg durian at 20/kg")
    assert await listings(chat) == [] and "durian" in reply.lower()
    assert any(word in reply.lower() for word in ("apple", "pear", "maize", "potato"))


async def test_unknown_product_in_chinese(chat):
    reply = await chat.send(CN2, "卖50斤榴莲 20块一斤")
    assert await listings(chat) == [] and "榴莲" in reply
    assert any(word in reply for word in ("苹果", "梨", "土豆", "核桃"))


async def test_unknown_product_price_question(chat):
    reply = await chat.send(KE1, "durian price?")
    assert "durian" in reply.lower()  # said to be unknown, by name
    assert any(word in reply.lower() for word in ("apple", "maize", "potato", "avocado"))


async def test_unknown_place_is_not_saved(chat):
    reply = await chat.send(KE1, "I am in Atlantis")
    assert (await user(chat, KE1)).place is None
    assert "atlantis" in reply.lower()  # said to be unknown, by name
    assert any(
        word in reply for word in ("Nairobi", "Nakuru", "Wudu", "Kisumu", "Eldoret", "Mombasa")
    )


# --- profile -----------------------------------------------------------------------------------


async def test_profile_name_and_place(chat):
    await chat.send(KE2, "my name is Achieng")
    await chat.send(KE2, "I'm in Kisumu")
    me = await user(chat, KE2)
    assert me.name == "Achieng" and me.place == "kisumu"
    profile = await chat.send(KE2, "my profile")
    assert "Achieng" in profile and "kisumu" in profile.lower()


async def test_chinese_profile(chat):
    await chat.send(CN5, "我叫李伟")
    await chat.send(CN5, "我在武都")
    me = await user(chat, CN5)
    assert me.name == "李伟" and me.place == "wudu"
    profile = await chat.send(CN5, "我的资料")
    assert "李伟" in profile and "武都" in profile


# --- alerts ------------------------------------------------------------------------------------


async def test_subscribe_list_and_unsubscribe(chat):
    await chat.send(CN1, "subscribe apple prices")
    await chat.send(CN1, "订阅梨价格 武都")
    subs = await rows(chat, Subscription)
    assert [(s.product, s.active) for s in subs] == [("apple", True), ("pear", True)]
    assert subs[1].location == "wudu" and subs[0].location is None
    listed = await chat.send(CN1, "my alerts")
    assert "apple" in listed.lower() and ("pear" in listed.lower() or "梨" in listed)
    await chat.send(CN1, "unsubscribe apple")
    subs = await rows(chat, Subscription)
    assert [s.active for s in subs if s.product == "apple"] == [False]
    assert [s.active for s in subs if s.product == "pear"] == [True]


async def test_threshold_alerts_above_and_below(chat):
    await chat.send(CN2, "alert me when apples go above 4 yuan")
    await chat.send(CN2, "苹果低于1块提醒我")
    above, below = await rows(chat, Subscription)
    assert (above.product, above.threshold, above.currency) == ("apple", Decimal("4.00"), "CNY")
    assert (below.product, below.threshold, below.currency) == ("apple", Decimal("1.00"), "CNY")
    assert above.direction and below.direction and above.direction != below.direction
    listed = await chat.send(CN2, "my alerts")
    assert "4" in listed and "1" in listed


async def test_daily_digest_subscription(chat):
    await chat.send(KE3, "daily apple prices")
    [sub] = await rows(chat, Subscription)
    assert (sub.product, sub.mode, sub.active) == ("apple", "daily", True)


async def test_stop_and_start(chat):
    await chat.send(CN3, "subscribe apple prices")
    assert (await user(chat, CN3)).opted_out is False
    await chat.send(CN3, "STOP")
    assert (await user(chat, CN3)).opted_out is True
    await chat.send(CN3, "hi")
    await chat.send(CN3, "sell 10kg pears at 2/kg")
    assert (await user(chat, CN3)).opted_out is True  # only subscribe/START turns them back on
    await chat.send(CN3, "START")
    assert (await user(chat, CN3)).opted_out is False


async def test_chinese_tuiding_and_dingyue(chat):
    await chat.send(CN4, "订阅苹果价格")
    await chat.send(CN4, "退订")
    assert (await user(chat, CN4)).opted_out is True
    await chat.send(CN4, "谢谢")
    assert (await user(chat, CN4)).opted_out is True
    await chat.send(CN4, "订阅")
    assert (await user(chat, CN4)).opted_out is False


async def test_unsubscribe_all_alerts(chat):
    await chat.send(KE1, "subscribe maize prices")
    await chat.send(KE1, "subscribe beans prices")
    await chat.send(KE1, "unsubscribe all alerts")
    subs = await rows(chat, Subscription)
    assert len(subs) == 2 and not any(s.active for s in subs)


# --- coordinator broadcasts --------------------------------------------------------------------


async def test_broadcast_preview_sends_nothing_before_yes(chat):
    await chat.send(CN2, "subscribe apple prices")
    chat.clear()
    preview = await chat.send(COORDINATOR, "broadcast apple 4.2 yuan/kg Wudu")
    assert "4.2" in preview and asks(preview) and "1" in preview  # audience of one
    assert chat.pushes_to(CN2) == []
    assert [
        b for b in await rows(chat, Broadcast) if b.status in ("queued", "sending", "done")
    ] == []
    await chat.send(COORDINATOR, "yes")
    [broadcast] = await rows(chat, Broadcast)
    assert (
        broadcast.status != "draft"
        and broadcast.product == "apple"
        and broadcast.price == Decimal("4.20")
    )
    [price] = await rows(chat, MarketPrice)
    assert (price.product, price.location, price.price, price.currency, price.unit) == (
        "apple",
        "wudu",
        Decimal("4.20"),
        "CNY",
        "kg",
    )


async def test_broadcast_price_is_published_only_on_yes(chat):
    await chat.send(CN2, "subscribe apple prices")
    await chat.send(COORDINATOR, "broadcast apple 4.2 yuan/kg Wudu")
    assert await rows(chat, MarketPrice) == []
    before = await chat.send(CN1, "apple price?")
    assert "2.10" not in before and "4.20" not in before
    await chat.send(COORDINATOR, "yes")
    assert len(await rows(chat, MarketPrice)) == 1
    after = await chat.send(CN1, "apple price?")
    assert "2.10" in after  # ¥4.20/kg shown per jin


async def test_broadcast_no_leaves_nothing(chat):
    await chat.send(KE2, "subscribe maize prices")
    await chat.send(COORDINATOR, "broadcast maize 40 ksh/kg Nakuru")
    await chat.send(COORDINATOR, "no")
    assert await rows(chat, MarketPrice) == []
    assert [
        b
        for b in await rows(chat, Broadcast)
        if b.status in ("queued", "sending", "done", "scheduled")
    ] == []


async def test_chinese_broadcast_confirmed(chat):
    await chat.send(CN4, "订阅苹果价格")
    preview = await chat.send(COORDINATOR, "群发 苹果今日收购价4.2元/斤")
    assert asks(preview) and await rows(chat, MarketPrice) == []
    await chat.send(COORDINATOR, "是")
    [price] = await rows(chat, MarketPrice)
    assert (price.product, price.price, price.currency, price.unit) == (
        "apple",
        Decimal("4.20"),
        "CNY",
        "jin",
    )


async def test_free_text_broadcast_cancelled(chat):
    await chat.send(CN1, "subscribe apple prices")
    preview = await chat.send(COORDINATOR, "broadcast: co-op meeting tomorrow 9am")
    assert asks(preview)
    await chat.send(COORDINATOR, "no")
    assert [
        b
        for b in await rows(chat, Broadcast)
        if b.status in ("queued", "sending", "done", "scheduled")
    ] == []
    assert not any("meeting" in push for push in chat.pushes_to(CN1))


async def test_only_coordinators_broadcast(chat):
    await chat.send(CN1, "broadcast apple 9 yuan/kg Wudu")
    await chat.send(CN1, "yes")
    assert await rows(chat, MarketPrice) == [] and await rows(chat, Broadcast) == []


# --- currency ------------------------------------------------------------------------------------


async def test_kenyan_slash_equals_is_kes(chat):
    reply = await chat.send(KE1, "sell 100kg sukuma at 30/=")
    [listing] = await listings(chat)
    assert shape(listing) == ("kale", 100, "kg", Decimal("30.00"), "KES")
    assert "KES" in reply and "30" in reply


async def test_sukuma_stays_sukuma_in_the_reply(chat):
    reply = await chat.send(KE2, "selling sukuma wiki 50kg at 25 bob")
    [listing] = await listings(chat)
    assert (listing.product, listing.currency) == ("kale", "KES")
    assert "sukuma" in reply.lower()


async def test_kenyan_ksh(chat):
    reply = await chat.send(KE2, "selling potatoes 50kg ksh 40 per kg")
    [listing] = await listings(chat)
    assert shape(listing) == ("potato", 50, "kg", Decimal("40.00"), "KES")
    assert "KES" in reply


async def test_kenyan_number_without_currency_word_is_kes(chat):
    reply = await chat.send(KE3, "sell 20 kg tomatoes at 60/kg")
    [listing] = await listings(chat)
    assert shape(listing) == ("tomato", 20, "kg", Decimal("60.00"), "KES")
    assert "KES" in reply and "¥" not in reply


async def test_indian_rate_per_kg_is_inr(chat):
    reply = await chat.send(IN1, "want to sell 200 kg onion rate 25 per kg")
    [listing] = await listings(chat)
    assert shape(listing) == ("onion", 200, "kg", Decimal("25.00"), "INR")
    assert "₹25" in reply


async def test_indian_rs_and_rupee_sign(chat):
    await chat.send(IN2, "sell tomato 50kg rs 20/kg")
    await chat.send(IN2, "selling 10 kg garlic @ ₹120/kg")
    got = sorted(shape(row) for row in await listings(chat))
    assert got == [
        ("garlic", 10, "kg", Decimal("120.00"), "INR"),
        ("tomato", 50, "kg", Decimal("20.00"), "INR"),
    ]


async def test_currency_from_earlier_listings_beats_phone_country(chat):
    await chat.send(CN4, "sell 10 kg avocado at 200 ksh/kg")
    await chat.send(CN4, "sell 20kg mango at 150/kg")
    got = {row.product: row.currency for row in await listings(chat)}
    assert got == {"avocado": "KES", "mango": "KES"}


async def test_currency_from_place_beats_phone_country(chat):
    await chat.send(CN5, "I am in Nakuru")
    reply = await chat.send(CN5, "sell 30kg cabbage at 25/kg")
    [listing] = await listings(chat)
    assert shape(listing) == ("cabbage", 30, "kg", Decimal("25.00"), "KES")
    assert "KES" in reply


async def test_chinese_number_without_currency_is_cny(chat):
    reply = await chat.send(CN1, "sell 30kg kiwi at 6/kg")
    [listing] = await listings(chat)
    assert listing.currency == "CNY" and "¥6.00" in reply


# --- greetings, thanks, help -------------------------------------------------------------------


async def test_first_time_trader_is_asked_their_name_once(chat):
    await chat.send(KE1, "sell 20 bags of maize at 2800 bob")
    await chat.send(KE2, "buy 2 bags maize")
    first = await chat.send(KE2, "1")
    assert "name" in first.lower() and asks(first)
    await chat.send(KE2, "Wanjiku")
    assert (await user(chat, KE2)).name == "Wanjiku"
    await chat.send(KE2, "buy 1 bag maize")
    second = await chat.send(KE2, "1")
    assert "name" not in second.lower()
    [first_order, _] = await rows(chat, Order)
    accepted = await chat.send(KE1, f"yes {first_order.id}")
    assert "Wanjiku" in accepted


async def test_skip_the_name_question(chat):
    await chat.send(IN1, "sell 100 kg potato at 20 rs/kg")
    await chat.send(IN2, "buy 10 kg potato")
    assert "skip" in (await chat.send(IN2, "1")).lower()
    await chat.send(IN2, "skip")
    assert (await user(chat, IN2)).name is None
    await chat.send(IN2, "buy 5 kg potato")
    again = await chat.send(IN2, "1")
    assert "name" not in again.lower()
    assert len(await rows(chat, Order)) == 2


async def test_thanks_is_not_taken_as_a_name(chat):
    await chat.send(CN1, "sell 50kg pears at 3/kg")
    await chat.send(KE3, "buy 10kg pears")
    await chat.send(KE3, "1")
    await chat.send(KE3, "thanks")
    assert (await user(chat, KE3)).name not in ("thanks", "Thanks")


async def test_hi_help_and_thanks_change_nothing(chat):
    greeting = await chat.send(KE1, "hi")
    helped = await chat.send(KE1, "help")
    thanked = await chat.send(KE1, "thanks!")
    for reply in (greeting, helped, thanked):
        assert reply and "something went wrong" not in reply
    assert "sell" in helped.lower() and "buy" in helped.lower()
    assert (
        await listings(chat) == []
        and await rows(chat, Order) == []
        and await rows(chat, BuyRequest) == []
    )


async def test_chinese_thanks_after_an_order(chat):
    await pending_order(chat, CN1, CN3, "卖100斤苹果 3块一斤", "我要买10斤苹果")
    thanked = await chat.send(CN3, "谢谢")  # while the bot asks for a name: thanks is not a name
    assert has_chinese(thanked) and "something went wrong" not in thanked
    assert (await user(chat, CN3)).name != "谢谢"
    assert len(await rows(chat, Order)) == 1 and len(await listings(chat)) == 1
    helped = await chat.send(CN3, "帮助")
    assert "卖" in helped and "买" in helped
