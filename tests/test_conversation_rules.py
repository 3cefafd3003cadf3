"""The conversation rules of SPEC §3 as people write: a new request starts over with its own
details, an answer fills only the question asked, corrections say what changed, a two-sided
message is asked about, numbers that make no sense are asked again. Replies and rows."""

from __future__ import annotations

import re
from decimal import Decimal

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

FARMER, FARMER2, BUYER = "+8613800000101", "+8613800000102", "+8613800000103"
KENYAN, COORDINATOR = "+254711000101", "+8613900000000"


async def rows(chat, model):
    async with chat.svc.db.uow() as uow:
        return list((await uow.session.execute(select(model).order_by(model.id))).scalars())


async def listings(chat):
    return [
        (x.product, x.quantity_available, x.unit, x.price, x.price_unit)
        for x in await rows(chat, Listing)
    ]


def ref_in(text: str) -> int:
    found = re.search(r"\d{3,}", text)
    assert found, text
    return int(found.group())


# a new request while a question is open -------------------------------------------------
async def test_a_whole_new_listing_replaces_the_half_filled_one(chat):
    assert "?" in await chat.send(FARMER, "selling peaches 6 yuan")  # how many?
    reply = await chat.send(FARMER, "sell 80kg cucumbers at 1.5/kg")
    assert "peach" in reply.lower() and "dropped" in reply.lower()
    assert await listings(chat) == [("cucumber", 80, "kg", Decimal("1.50"), "kg")]


async def test_a_buy_while_a_price_is_asked_is_a_buy_not_a_price(chat):
    await chat.send(FARMER2, "sell 40kg onions at 2/kg")
    assert "price" in (await chat.send(FARMER, "sell 60kg garlic")).lower()
    offers = await chat.send(FARMER, "buy 15kg onions")
    assert "1)" in offers and "40 kg" in offers
    assert await listings(chat) == [("onion", 40, "kg", Decimal("2.00"), "kg")]  # no garlic at ¥15


async def test_a_sell_while_a_quantity_is_asked_lists_it(chat):
    assert "How much" in await chat.send(BUYER, "want to buy tomatoes")
    reply = await chat.send(BUYER, "sell 25 kg cabbage at 0.8/kg")
    assert "Listing" in reply and "25 kg" in reply
    assert await listings(chat) == [("cabbage", 25, "kg", Decimal("0.80"), "kg")]
    assert await rows(chat, BuyRequest) == []


async def test_chinese_buyer_then_seller_then_buyer_keeps_each_request_apart(chat):
    assert "买" in await chat.send(BUYER, "谁有核桃卖啊")  # sell or buy?
    assert await rows(chat, Listing) == []
    listed = await chat.send(BUYER, "我有300斤红薯，八毛一斤")
    assert "已发布" in listed
    assert "多少" in await chat.send(BUYER, "卖花椒")  # how much?
    bought = await chat.send(BUYER, "我要买点土豆 30斤")
    assert "土豆" in bought
    assert await listings(chat) == [("sweet_potato", 300, "jin", Decimal("0.80"), "jin")]


async def test_another_product_with_its_amount_starts_over_in_the_same_flow(chat):
    await chat.send(FARMER, "sell 100 kg wheat")
    reply = await chat.send(FARMER, "30kg rice at 5/kg")
    assert "Listing" in reply and "30 kg rice" in reply
    assert await listings(chat) == [("rice", 30, "kg", Decimal("5.00"), "kg")]


# answers fill only their own slot -------------------------------------------------------
async def test_a_quantity_given_for_the_price_question_is_not_a_price(chat):
    assert "price" in (await chat.send(FARMER, "sell 20kg mangoes")).lower()
    reply = await chat.send(FARMER, "sorry 25kg")
    assert "25 kg" in reply and "price" in reply.lower()
    assert await rows(chat, Listing) == []
    await chat.send(FARMER, "4")
    assert await listings(chat) == [("mango", 25, "kg", Decimal("4.00"), "kg")]


async def test_a_price_given_for_the_quantity_question_waits_for_the_quantity(chat):
    assert "How much" in await chat.send(FARMER, "sell bananas")
    again = await chat.send(FARMER, "2 yuan per kg")
    assert "How much" in again and await rows(chat, Listing) == []
    await chat.send(FARMER, "about 70")
    [row] = await rows(chat, Listing)
    assert (row.product, row.quantity_total, row.price, row.price_unit) == (
        "banana",
        70,
        Decimal("2.00"),
        "kg",
    )
    assert row.unit == "kg"  # the unit the user priced in, not the market's default jin


async def test_terse_answers_over_several_turns(chat):
    assert "什么" in await chat.send(FARMER, "卖")
    assert "多少" in await chat.send(FARMER, "枸杞")
    assert "多少钱" in await chat.send(FARMER, "二十斤")
    reply = await chat.send(FARMER, "三十五")
    assert "枸杞20斤" in reply and "¥35.00/斤" in reply


async def test_digressions_are_answered_and_the_question_stays_open(chat):
    await chat.send(FARMER2, "sell 50kg pears at 2.5/kg")
    assert "How much" in await chat.send(BUYER, "buy pears")
    price = await chat.send(BUYER, "pear price?")
    assert "¥1.25/jin" in price and "Still open" in price  # ¥2.5/kg in the display unit
    orders = await chat.send(BUYER, "my orders")
    assert "no orders" in orders.lower() and "Still open" in orders
    offers = await chat.send(BUYER, "10 kg")
    assert "1) 50 kg" in offers


async def test_thanks_gets_a_short_answer_and_keeps_the_question(chat):
    await chat.send(FARMER, "sell honey")
    reply = await chat.send(FARMER, "thx")
    assert reply.startswith("You're welcome") and "How much" in reply
    assert (await chat.send(FARMER, "谢谢")).startswith("不客气")


# corrections --------------------------------------------------------------------------
async def test_correcting_the_price_right_after_listing(chat):
    ref = ref_in(await chat.send(FARMER, "sell 60 kg kiwi at 9/kg"))
    reply = await chat.send(FARMER, "no sorry, 8.5")
    assert f"Listing {ref} changed" in reply and "¥9.00/kg → ¥8.50/kg" in reply
    assert await listings(chat) == [("kiwi", 60, "kg", Decimal("8.50"), "kg")]


async def test_correcting_the_quantity_in_chinese(chat):
    ref = ref_in(await chat.send(FARMER, "卖猕猴桃200斤 四块一斤"))
    reply = await chat.send(FARMER, "说错了，是150斤")
    assert f"{ref}号已改" in reply and "150斤" in reply
    assert await listings(chat) == [("kiwi", 150, "jin", Decimal("4.00"), "jin")]
    reply = await chat.send(FARMER, "不对，三块八")
    assert "¥3.80/斤" in reply
    assert await listings(chat) == [("kiwi", 150, "jin", Decimal("3.80"), "jin")]


async def test_a_correction_while_a_question_is_open_changes_the_slot(chat):
    await chat.send(FARMER, "sell 40kg avocado")
    reply = await chat.send(FARMER, "actually 45 kg")
    assert "45 kg" in reply and "price" in reply.lower()
    await chat.send(FARMER, "20")
    assert await listings(chat) == [("avocado", 45, "kg", Decimal("20.00"), "kg")]


async def test_no_alone_after_listing_asks_what_to_change(chat):
    await chat.send(FARMER, "my name is Chen")  # (a first listing would ask the name)
    ref = ref_in(await chat.send(FARMER, "sell 10kg eggs at 12/kg"))
    reply = await chat.send(FARMER, "no")
    assert f"cancel {ref}" in reply
    assert await listings(chat) == [("egg", 10, "kg", Decimal("12.00"), "kg")]


async def test_ok_after_listing_changes_nothing(chat):
    await chat.send(FARMER, "my name is Chen")
    await chat.send(FARMER, "sell 10kg eggs at 12/kg")
    assert await chat.send(FARMER, "ok") == "OK."
    assert await listings(chat) == [("egg", 10, "kg", Decimal("12.00"), "kg")]


async def test_an_unrelated_message_after_listing_is_not_a_correction(chat):
    await chat.send(FARMER, "sell 10kg eggs at 12/kg")
    price = await chat.send(FARMER, "egg price?")
    assert "Egg prices" in price
    assert await listings(chat) == [("egg", 10, "kg", Decimal("12.00"), "kg")]


# sell or buy? ----------------------------------------------------------------------------
async def test_two_sided_messages_are_asked_about_and_list_nothing(chat):
    for text in ("who will buy my mangoes", "anyone selling maize?", "有人要土豆吗", "mai hetao"):
        reply = await chat.send(FARMER, text)
        assert ("sell" in reply and "buy" in reply) or ("卖" in reply and "买" in reply), text
        await chat.send(FARMER, "cancel")
    assert await rows(chat, Listing) == [] and await rows(chat, Order) == []


async def test_answering_sell_or_buy_runs_the_remembered_message(chat):
    await chat.send(FARMER, "pls buy my 30kg mangoes at 5/kg")
    reply = await chat.send(FARMER, "sell")
    assert "Listing" in reply
    assert await listings(chat) == [("mango", 30, "kg", Decimal("5.00"), "kg")]


# listings change as people mean -----------------------------------------------------------
async def test_sold_out_in_both_languages(chat):
    await chat.send(FARMER, "sell 30kg walnuts at 25/kg")
    assert "0 kg" in await chat.send(FARMER, "walnuts all sold out")
    await chat.send(FARMER2, "卖50斤板栗 六块一斤")
    assert "板栗0斤" in await chat.send(FARMER2, "板栗卖光了")
    assert [x[1] for x in await listings(chat)] == [0, 0]


async def test_sold_takes_off_left_sets_more_adds(chat):
    await chat.send(FARMER, "sell 100kg potatoes at 1/kg")
    assert "85 kg" in await chat.send(FARMER, "sold 15 kg potatoes")
    assert "40 kg" in await chat.send(FARMER, "potatoes only 40kg left")
    assert "90 kg" in await chat.send(FARMER, "got 50 more kg potatoes")
    [row] = await rows(chat, Listing)
    assert (row.quantity_available, row.quantity_total) == (90, 150)
    assert "土豆100斤" in await chat.send(FARMER2, "卖100斤土豆 一块一斤")  # a second farmer
    assert "150斤" in await chat.send(FARMER2, "又来了50斤土豆")
    assert "120斤" in await chat.send(FARMER2, "土豆卖了30斤")


async def test_selling_more_than_is_left_is_refused(chat):
    await chat.send(FARMER, "sell 20kg lamb at 60/kg")
    assert "only 20 kg" in await chat.send(FARMER, "sold 25kg lamb")
    assert [x[1] for x in await listings(chat)] == [20]


async def test_a_total_price_is_divided_by_the_quantity(chat):
    await chat.send(FARMER, "sell 40 kg peanuts for 200 altogether")
    await chat.send(FARMER2, "卖花生100斤 一共450块")
    assert await listings(chat) == [
        ("peanut", 40, "kg", Decimal("5.00"), "kg"),
        ("peanut", 100, "jin", Decimal("4.50"), "jin"),
    ]


async def test_two_products_in_one_message_are_both_listed(chat):
    reply = await chat.send(FARMER, "sell 10kg garlic at 7/kg, 30kg onions at 2/kg")
    assert reply.count("Listing") == 2
    assert await listings(chat) == [
        ("garlic", 10, "kg", Decimal("7.00"), "kg"),
        ("onion", 30, "kg", Decimal("2.00"), "kg"),
    ]


async def test_the_second_product_missing_its_price_is_asked_for(chat):
    reply = await chat.send(FARMER, "卖苹果100斤3块 还有梨50斤")
    assert "已发布" in reply and "多少钱" in reply
    await chat.send(FARMER, "2块5")
    assert await listings(chat) == [
        ("apple", 100, "jin", Decimal("3.00"), "jin"),
        ("pear", 50, "jin", Decimal("2.50"), "jin"),
    ]


async def test_numbers_that_make_no_sense_are_asked_again_with_the_reason(chat):
    assert "negative" in await chat.send(FARMER, "sell -20kg beans at 3/kg")
    assert await rows(chat, Listing) == []
    assert "digits" in await chat.send(FARMER, "2e3 kg")
    assert await rows(chat, Listing) == []
    await chat.send(FARMER, "cancel")
    assert "negative" in await chat.send(FARMER, "sell 20kg beans at -3/kg")
    await chat.send(FARMER, "3")
    assert await listings(chat) == [("beans", 20, "kg", Decimal("3.00"), "kg")]


async def test_apples_now_with_a_bare_number_is_a_price_update(chat):
    await chat.send(FARMER, "sell 50kg apples at 3/kg")
    await chat.send(FARMER, "egg price?")  # no longer right after the listing
    assert "¥4.20/kg" in await chat.send(FARMER, "apples now 4.2")
    assert await listings(chat) == [("apple", 50, "kg", Decimal("4.20"), "kg")]


async def test_unknown_product_and_place_are_said_to_be_unknown(chat):
    reply = await chat.send(FARMER, "sell 40kg durian at 30/kg")
    assert "durian" in reply and "don't know" in reply and await rows(chat, Listing) == []
    place = await chat.send(FARMER, "我住在上海")
    assert "上海" in place and "武都" in place
    [user] = [u for u in await rows(chat, User) if u.address == FARMER]
    assert user.place is None


# choosing offers -----------------------------------------------------------------------
async def test_offers_are_chosen_by_word_ordinal_and_hash(chat):
    await chat.send(FARMER, "sell 100kg grapes at 6/kg")
    await chat.send(FARMER2, "sell 100kg grapes at 7/kg")
    for pick, buyer in (
        ("the second one", BUYER),
        ("#1", "+8613800000104"),
        ("第二个", "+8613800000105"),
    ):
        assert "1)" in await chat.send(buyer, "buy 5kg grapes")
        placed = await chat.send(buyer, pick)
        assert "Order" in placed or "订单" in placed, pick
    orders = await rows(chat, Order)
    assert [o.price for o in orders] == [Decimal("7.00"), Decimal("6.00"), Decimal("7.00")]


async def test_a_number_past_the_offers_says_how_many_there_are(chat):
    await chat.send(FARMER, "sell 100kg grapes at 6/kg")
    await chat.send(BUYER, "buy 5kg grapes")
    assert "only 1 offer" in await chat.send(BUYER, "3")
    assert await rows(chat, Order) == []


async def test_an_offer_smaller_than_asked_is_confirmed_before_ordering(chat):
    await chat.send(FARMER, "卖50斤黄豆 三块一斤")
    offers = await chat.send(BUYER, "buy 100 kg soybeans")
    assert "only 50 jin" in offers
    ask = await chat.send(BUYER, "1")
    assert "only 50 jin" in ask and await rows(chat, Order) == []
    again = await chat.send(BUYER, "no")
    assert "another number" in again and await rows(chat, Order) == []
    await chat.send(BUYER, "1")
    placed = await chat.send(BUYER, "yes")
    assert "25 kg" in placed  # in the buyer's unit
    [order] = await rows(chat, Order)
    assert (order.quantity, order.unit, order.status) == (50, "jin", "pending")


async def test_an_sms_offer_list_keeps_its_call_to_action(chat):
    for n, place in enumerate(("Wudu", "Chengxian", "Tianshui")):
        await chat.send(
            f"+861380000020{n}", "my name is Wanjiru Kamau-Odhiambo the Third of Nakuru"
        )
        await chat.send(f"+861380000020{n}", f"sell {100 + n}kg goji at {30 + n}/kg in {place}")
    offers = await chat.send("+254711000199", "buy 5kg goji, 5kg honey", channel="sms")
    assert offers.rstrip().endswith("Reply with the number to order.")
    from handlers.segments import segments

    assert segments(offers) <= 2


async def test_quantities_are_shown_in_the_buyers_unit_and_word(chat):
    await chat.send(KENYAN, "sell 2 ton maize at 40 bob per kg")
    offers = await chat.send("+254711000102", "buy 50 kg maize")
    assert offers.startswith("Maize for you")
    placed = await chat.send("+254711000102", "1")
    assert "50 kg maize" in placed and "0.05" not in placed


# alerts, profile and broadcasts -------------------------------------------------------------
async def test_my_alerts_never_opts_a_stopped_user_back_in(chat):
    await chat.send(BUYER, "subscribe potato prices")
    await chat.send(BUYER, "STOP")
    listed = await chat.send(BUYER, "my alerts")
    assert "potato" in listed.lower() and "subscribe" in listed
    [user] = [u for u in await rows(chat, User) if u.address == BUYER]
    assert user.opted_out is True
    assert "back" in await chat.send(BUYER, "START")
    [user] = [u for u in await rows(chat, User) if u.address == BUYER]
    assert user.opted_out is False


async def test_my_alerts_with_none_says_none(chat):
    assert "no price alerts" in await chat.send(BUYER, "my alerts")
    assert await rows(chat, Subscription) == []


async def test_my_profile_shows_name_place_language_and_alerts(chat):
    await chat.send(BUYER, "my name is Amina")
    await chat.send(BUYER, "I am in Nakuru")
    await chat.send(BUYER, "subscribe kale prices")
    profile = await chat.send(BUYER, "show my profile")
    assert all(word in profile for word in ("Amina", "Nakuru", "English", "kale"))
    assert "中文" in await chat.send(BUYER, "我的资料")


async def test_a_broadcast_price_is_published_only_on_yes(chat):
    await chat.send(BUYER, "subscribe apple prices")
    preview = await chat.send(COORDINATOR, "broadcast apple 4.4 yuan/kg Wudu")
    assert "1 subscriber " in preview or "1 subscriber (" in preview or "1位" in preview
    assert await rows(chat, MarketPrice) == []
    await chat.send(COORDINATOR, "no")
    assert await rows(chat, MarketPrice) == []
    await chat.send(COORDINATOR, "broadcast apple 4.6 yuan/kg")
    assert "No apple prices" in await chat.send(BUYER, "apple price?")
    sent = await chat.send(COORDINATOR, "yes")
    assert "all markets" in sent and "1 subscriber;" in sent
    [price] = await rows(chat, MarketPrice)
    assert (price.price, price.location) == (Decimal("4.60"), None)
    assert "All markets ¥2.30/jin" in await chat.send(BUYER, "apple price?")
    assert [b.status for b in await rows(chat, Broadcast)] == ["cancelled", "queued"]


async def test_a_price_with_no_audience_is_published_only_when_confirmed(chat):
    reply = await chat.send(COORDINATOR, "群发 核桃今日收购价25元/斤")
    assert "是" in reply and await rows(chat, MarketPrice) == []
    await chat.send(COORDINATOR, "算了")
    assert await rows(chat, MarketPrice) == []
    await chat.send(COORDINATOR, "群发 核桃今日收购价25元/斤")
    await chat.send(COORDINATOR, "是")
    [price] = await rows(chat, MarketPrice)
    assert price.price == Decimal("25.00") and price.unit == "jin"


async def test_with_one_order_under_way_an_unclear_message_says_how_to_write_to_the_other_side(
    chat,
):
    await chat.send(FARMER, "my name is Wang")
    await chat.send(FARMER, "卖100斤核桃 二十块一斤")
    await chat.send("oWx_buyer_77", "buy 10 jin walnuts", channel="wechat")
    order = ref_in(await chat.send("oWx_buyer_77", "1", channel="wechat"))
    await chat.send(FARMER, f"是{order}")
    chat.clear()
    reply = await chat.send("oWx_buyer_77", "where do we meet tmrw", channel="wechat")
    assert f"msg {order}" in reply
    assert chat.pushes_to(FARMER) == []  # nothing is forwarded unless asked


async def test_the_chinese_which_order_prompt_is_all_chinese(chat):
    await chat.send(FARMER, "我叫老王")
    await chat.send(FARMER, "卖100斤苹果 三块一斤")
    for buyer, text in ((FARMER2, "买10斤苹果"), (BUYER, "buy 5 kg apples")):
        await chat.send(buyer, text)
        await chat.send(buyer, "1")
    prompt = await chat.send(FARMER, "是")
    assert "哪一个订单" in prompt and not re.search(r"[A-Za-z]", prompt)
    assert [o.status for o in await rows(chat, Order)] == ["pending", "pending"]


# found by playing users: what the next message after a listing may and may not change ------------
async def test_an_update_naming_another_product_right_after_a_listing_changes_that_product(chat):
    await chat.send(FARMER, "my name is Otieno")
    await chat.send(FARMER, "sell 100 jin apples 3")
    await chat.send(FARMER, "sell 60 jin pears 2")
    assert "apple" in await chat.send(FARMER, "sold 20 jin apples")
    assert await listings(chat) == [
        ("apple", 80, "jin", Decimal("3.00"), "jin"),
        ("pear", 60, "jin", Decimal("2.00"), "jin"),
    ]
    await chat.send(FARMER, "sell 20 jin peaches 5")
    await chat.send(FARMER, "apples now 3.6")
    assert [(x[0], x[3]) for x in await listings(chat)] == [
        ("apple", Decimal("3.60")),
        ("pear", Decimal("2.00")),
        ("peach", Decimal("5.00")),
    ]


async def test_a_bare_correction_after_two_listings_asks_which(chat):
    await chat.send(FARMER, "my name is Otieno")
    await chat.send(FARMER, "sell 50kg apples at 3/kg and 20kg pears at 2/kg")
    reply = await chat.send(FARMER, "no, 2.5")
    assert "Which listing" in reply
    assert [x[3] for x in await listings(chat)] == [Decimal("3.00"), Decimal("2.00")]


async def test_two_listings_of_one_product_are_never_guessed(chat):
    await chat.send(FARMER, "my name is Otieno")
    await chat.send(FARMER, "sell 10 jin pears 5")
    await chat.send(FARMER, "sell 10 jin pears 6")
    await chat.send(FARMER, "my listings")
    assert "Which listing" in await chat.send(FARMER, "sold 4 jin pears")
    assert [x[1] for x in await listings(chat)] == [10, 10]


async def test_an_amount_in_another_kind_of_unit_never_changes_a_listings_unit(chat):
    await chat.send(KENYAN, "my name is Atieno")
    await chat.send(KENYAN, "sell 20 bags beans 4000")
    reply = await chat.send(KENYAN, "only 300 kg beans left")
    assert "bags" in reply
    [row] = await rows(chat, Listing)
    assert (row.quantity_available, row.unit, row.price_unit) == (20, "bag", "bag")


async def test_an_unknown_product_keeps_its_own_numbers(chat):
    reply = await chat.send(FARMER, "sell 10kg plums 7/kg and 20kg onions 3/kg")
    assert "plums" in reply and await rows(chat, Listing) == []
    await chat.send(FARMER, "cancel")
    await chat.send(FARMER, "sell 40kg peaches 5/kg, 30kg grapes 6/kg, 10kg plums 7/kg")
    assert await listings(chat) == [
        ("peach", 40, "kg", Decimal("5.00"), "kg"),
        ("grape", 30, "kg", Decimal("6.00"), "kg"),
    ]


async def test_a_kenyans_bare_amount_is_in_kg_and_a_kenyan_market_price_in_shillings(chat):
    await chat.send(KENYAN, "sell cabbages")
    assert "per kg" in await chat.send(KENYAN, "50")
    await chat.send(KENYAN, "20 bob")
    assert await listings(chat) == [("cabbage", 50, "kg", Decimal("20.00"), "kg")]
    await chat.send(COORDINATOR, "broadcast maize 3500 per bag eldoret")
    await chat.send(COORDINATOR, "yes")
    [price] = await rows(chat, MarketPrice)
    assert (price.currency, price.unit, price.location) == ("KES", "bag", "eldoret")
    await chat.send(KENYAN, "alert me when kale goes above 40 bob")
    [sub] = await rows(chat, Subscription)
    assert (sub.currency, sub.unit, sub.threshold) == ("KES", "kg", Decimal("40.00"))


async def test_a_broadcast_price_without_currency_or_unit_is_still_a_price(chat):
    preview = await chat.send(COORDINATOR, "broadcast apple 4.2 Wudu")
    assert "¥4.20/jin" in preview and "Announcement" not in preview
    await chat.send(COORDINATOR, "yes")
    [price] = await rows(chat, MarketPrice)
    assert (price.price, price.currency, price.location) == (Decimal("4.20"), "CNY", "wudu")


async def test_corrections_with_big_prices_and_sorry_i_meant(chat):
    await chat.send(KENYAN, "my name is Atieno")
    await chat.send(KENYAN, "sell 8 crates tomatoes 1500 bob")
    assert "KES 150/crate" in await chat.send(KENYAN, "no, 150")
    assert "KES 1,400/crate" in await chat.send(KENYAN, "sorry I meant 1400")
    [row] = await rows(chat, Listing)
    assert row.price == Decimal("1400.00") and len(await rows(chat, Listing)) == 1


async def test_swahili_buying_is_not_read_as_selling(chat):
    reply = await chat.send(KENYAN, "nataka kununua 50 crates tomatoes")  # "I want to buy"
    if "sell" in reply and "buy" in reply:  # asked which: the remembered message, as a purchase
        reply = await chat.send(KENYAN, "buy")
    assert "No tomato on offer" in reply
    assert await rows(chat, Listing) == []


async def test_cancel_right_after_a_listing_says_how_and_cancel_by_product_works(chat):
    await chat.send(FARMER, "my name is Li")
    ref = ref_in(await chat.send(FARMER, "sell 20 jin peaches 5"))
    assert f"cancel {ref}" in await chat.send(FARMER, "cancel")
    assert [x.status for x in await rows(chat, Listing)] == ["active"]
    assert "removed" in await chat.send(FARMER, "cancel my peach listing")
    assert [x.status for x in await rows(chat, Listing)] == ["cancelled"]


async def test_a_kenyan_local_phone_number_is_read_as_kenyan(chat):
    assert "+254712345678" in await chat.send(KENYAN, "my phone is 0712345678")
    [user] = [u for u in await rows(chat, User) if u.address == KENYAN]
    assert user.phone == "+254712345678"


async def test_a_declined_buyer_with_nothing_else_can_wait_for_the_next_listing(chat):
    await chat.send(FARMER, "my name is Li")
    await chat.send(FARMER, "sell 30kg kale at 2/kg")
    await chat.send(BUYER, "buy 10kg kale")
    order = ref_in(await chat.send(BUYER, "1"))
    await chat.send(BUYER, "skip")
    chat.clear()
    await chat.send(FARMER, f"no {order}")
    [told] = chat.pushes_to(BUYER)
    assert "YES" in told
    assert "tell you" in await chat.send(BUYER, "yes")
    [request] = await rows(chat, BuyRequest)
    assert (request.product, request.quantity, request.status) == ("kale", 10, "open")


async def test_pinyin_is_answered_in_chinese(chat):
    reply = await chat.send(FARMER, "mai pingguo 100 jin")
    assert "卖" in reply and "买" in reply


# found by playing users, second round --------------------------------------------------------
INDIAN = "+919812300101"


async def test_a_new_request_while_asked_how_many_kg_is_not_an_order(chat):
    await chat.send(FARMER, "my name is Li")
    await chat.send(FARMER, "sell 500kg potatoes at 1.2/kg")
    await chat.send(BUYER, "buy 2 bags potato")
    assert "How many" in await chat.send(BUYER, "1")
    await chat.send(BUYER, "buy 10 kg kale")
    assert await rows(chat, Order) == []


async def test_a_new_amount_while_choosing_shows_the_offers_again(chat):
    await chat.send(FARMER, "sell 100kg kale at 2/kg")
    await chat.send(BUYER, "buy 30kg kale")
    again = await chat.send(BUYER, "actually 50kg")
    assert "50 kg" in again and "1)" in again
    await chat.send(BUYER, "1")
    [order] = await rows(chat, Order)
    assert (order.quantity, order.unit) == (50, "kg")


async def test_a_dotted_rupee_or_shilling_price_is_not_a_hundredth(chat):
    await chat.send(INDIAN, "have 300 kgs tomato, Rs.30/- per kg")
    await chat.send(KENYAN, "sell kale 40kg Ksh.45 per kg")
    assert [(x.price, x.currency) for x in await rows(chat, Listing)] == [
        (Decimal("30.00"), "INR"),
        (Decimal("45.00"), "KES"),
    ]


async def test_a_message_opening_with_a_listing_number_changes_that_listing(chat):
    await chat.send(FARMER, "my name is Li")
    first = ref_in(await chat.send(FARMER, "sell 50kg garlic at 9/kg"))
    await chat.send(FARMER, "sell 40kg onions at 2/kg")
    assert f"Listing {first}" in await chat.send(FARMER, f"{first} now 10 per kg")
    assert "can't find" in await chat.send(FARMER, "999 now 100 per kg")
    assert (await listings(chat))[0][3] == Decimal("10.00")
    assert all(x[3] != Decimal("999") for x in await listings(chat))


async def test_yes_with_two_order_numbers_answers_both_and_ok_then_answers_none(chat):
    await chat.send(FARMER, "my name is Li")
    await chat.send(FARMER, "sell 100kg apples at 3/kg")
    refs = []
    for buyer in (BUYER, FARMER2, "+8613800000104"):
        await chat.send(buyer, "buy 5kg apples")
        refs.append(ref_in(await chat.send(buyer, "1")))
        await chat.send(buyer, "skip")
    reply = await chat.send(FARMER, f"yes {refs[0]} {refs[1]}")
    assert f"order {refs[0]}" in reply and f"order {refs[1]}" in reply
    assert "Still waiting" in await chat.send(FARMER, "ok")
    assert [o.status for o in await rows(chat, Order)] == ["accepted", "accepted", "pending"]


async def test_answering_an_order_during_a_sell_question_keeps_the_question(chat):
    await chat.send(FARMER, "my name is Li")
    await chat.send(FARMER, "sell 100kg apples at 3/kg")
    await chat.send(BUYER, "buy 5kg apples")
    order = ref_in(await chat.send(BUYER, "1"))
    await chat.send(FARMER, "sell 20kg pears")
    reply = await chat.send(FARMER, f"yes {order}")
    assert f"order {order}" in reply and "Still open" in reply
    await chat.send(FARMER, "2.5")
    assert [(x[0], x[3]) for x in await listings(chat)] == [
        ("apple", Decimal("3.00")),
        ("pear", Decimal("2.50")),
    ]


async def test_coordinator_drafts_that_are_not_prices_or_are_two_markets(chat):
    await chat.send(BUYER, "subscribe apple prices")
    assert "broadcast apple 4.2" in await chat.send(COORDINATOR, "broadcast apple")
    text = await chat.send(COORDINATOR, "broadcast: apple harvest fair tomorrow at 9")
    assert text.startswith("Announcement")
    await chat.send(COORDINATOR, "cancel")
    assert "一个地方" in await chat.send(COORDINATOR, "群发 苹果4.2元/斤 武都 成县")
    assert await rows(chat, MarketPrice) == []
    assert [b.status for b in await rows(chat, Broadcast)] == ["cancelled"]


async def test_an_alert_with_an_unknown_unit_asks_for_the_price(chat):
    assert "what price" in (await chat.send(INDIAN, "alert onion below 2000 per quintal")).lower()
    assert await rows(chat, Subscription) == []


async def test_chinese_sold_out_phrases_and_availability_questions(chat):
    await chat.send(FARMER, "卖100斤核桃 二十块一斤")
    await chat.send(FARMER, "跳过")
    assert "核桃0斤" in await chat.send(FARMER, "核桃卖掉了")
    asked = await chat.send(BUYER, "有苹果吗")
    assert "卖" in asked and "买" in asked
    assert [x[1] for x in await listings(chat)] == [0]


async def test_unsubscribing_from_a_product_never_subscribed_lists_the_others(chat):
    await chat.send(BUYER, "订阅土豆价格")
    reply = await chat.send(BUYER, "取消订阅苹果")
    assert "苹果" in reply and "土豆" in reply
    assert [s.active for s in await rows(chat, Subscription)] == [True]


async def test_an_indian_buyer_is_offered_rupee_listings_first(chat):
    await chat.send(FARMER, "sell 500kg potatoes at 1.2/kg")
    await chat.send("+919812300102", "sell 200kg potatoes rs 18 per kg")
    offers = await chat.send(INDIAN, "buy 100kg potato")
    assert offers.index("₹18") < offers.index("¥1.20")


async def test_chinese_listing_confirmation_uses_chinese_punctuation(chat):
    await chat.send(FARMER, "我在武都")
    reply = await chat.send(FARMER, "卖50斤苹果 三块五一斤")
    assert "，武都" in reply and ", " not in reply


async def test_two_liang_of_pepper_is_a_fifth_of_a_jin(chat):
    await chat.send(FARMER, "卖花椒20斤 四十块一斤")
    await chat.send(FARMER2, "买二两花椒")
    placed = await chat.send(FARMER2, "1")
    [order] = await rows(chat, Order)
    assert (order.quantity, order.unit, order.price) == (Decimal("0.2"), "jin", Decimal("40.00"))
    assert "¥8.00" in placed


async def test_a_coordinator_changes_the_draft_price_before_yes(chat):
    await chat.send(BUYER, "订阅核桃价格")
    await chat.send(COORDINATOR, "群发 核桃价格24块一公斤 成县")
    again = await chat.send(COORDINATOR, "改成25")
    assert "¥25.00/公斤" in again and await rows(chat, MarketPrice) == []
    await chat.send(COORDINATOR, "是")
    [price] = await rows(chat, MarketPrice)
    assert price.price == Decimal("25.00")
    assert [b.status for b in await rows(chat, Broadcast)] == ["cancelled", "queued"]


async def test_moving_on_from_a_draft_cancels_it(chat):
    await chat.send(BUYER, "subscribe apple prices")
    await chat.send(COORDINATOR, "broadcast apple 4.4 yuan/kg")
    await chat.send(COORDINATOR, "sell 10kg honey at 50/kg")
    assert [b.status for b in await rows(chat, Broadcast)] == ["cancelled"]
    assert await rows(chat, MarketPrice) == []


async def test_less_than_a_ton_is_written_in_jin_for_a_chinese_reader(chat):
    await chat.send(FARMER, "卖苹果2吨 三块一斤")
    await chat.send(FARMER, "跳过")
    await chat.send(BUYER, "buy 50 kg apples")
    await chat.send(BUYER, "1")
    assert "100斤" in await chat.send(FARMER, "我的订单")
