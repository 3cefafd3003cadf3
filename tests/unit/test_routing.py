"""The routing rules as people meet them: cancel, an open question kept through a digression,
a new request dropping a half-made one, sell-or-buy asked, a retried message, a question
left too long."""

from __future__ import annotations

from storage.models import BuyRequest, InboundLog, Listing

WANGARI = "+254711000501"  # a Kenyan farmer
WANJIRU = "+254700000501"  # a Kenyan buyer
LAO_LI = "+8613800000501"  # a farmer in Gansu
PRIYA = "+919812300501"  # an Indian trader


def stock(market) -> list[tuple]:
    return [(x.product, x.quantity_available, x.unit, x.price) for x in market.rows(Listing)]


async def test_cancel_mid_question_drops_it(market):
    await market.send(WANGARI, "want to sell avocados")
    assert "OK, cancelled" in await market.send(WANGARI, "cancel")
    assert "What are you selling" in await market.send(WANGARI, "50kg")  # nothing is pending
    assert stock(market) == []


async def test_never_mind_and_suan_le_cancel_too(market):
    await market.send(WANJIRU, "buy tomatoes")
    assert "cancelled" in await market.send(WANJIRU, "never mind")
    await market.send(LAO_LI, "卖花椒")
    assert "已取消" in await market.send(LAO_LI, "算了")
    assert "没有在售" in await market.send(LAO_LI, "我的货")


async def test_a_digression_is_answered_and_the_question_stays_open(market):
    await market.send(WANGARI, "selling onions 80 per kg")
    prices = await market.send(WANGARI, "price of onions")
    assert "No onion prices" in prices and "Still open: How much onion" in prices
    thanks = await market.send(WANGARI, "thanks")
    assert "welcome" in thanks and "Still open" in thanks
    assert "50 kg onion" in await market.send(WANGARI, "50kg")
    assert stock(market) == [("onion", 50, "kg", 80)]


async def test_a_buyer_who_starts_selling_instead_drops_the_request(market):
    await market.send(WANJIRU, "I want to buy tomatoes")
    reply = await market.send(WANJIRU, "wait actually I am selling 25 kg cabbage at 30/kg")
    assert "tomato request dropped" in reply and "25 kg cabbage" in reply
    assert stock(market) == [("cabbage", 25, "kg", 30)]
    assert market.rows(BuyRequest) == []


async def test_an_unknown_unit_is_asked_again_then_the_new_request_wins(market):
    asked = await market.send(PRIYA, "sell 5 quintal onion at 2000 per quintal")
    assert "How much onion" in asked and stock(market) == []
    listed = await market.send(PRIYA, "I want to sell 500 kg onions at Rs 22 per kg")
    assert "onion listing dropped" in listed and "500 kg onion at ₹22/kg" in listed
    assert "Asking ₹22/kg" in await market.send(PRIYA, "pls send rate of onion")


async def test_a_negative_amount_is_refused_and_asked_again(market):
    reply = await market.send(WANGARI, "sell -50kg potatoes at 40/kg")
    assert "can't be negative" in reply and "How much potato" in reply
    assert stock(market) == []
    await market.send(WANGARI, "50kg")
    assert stock(market) == [("potato", 50, "kg", 40)]


async def test_an_answer_that_is_no_answer_repeats_the_question(market):
    await market.send(WANGARI, "sell potatoes 40 per kg")
    assert "didn't get that. How much potato" in await market.send(WANGARI, "hmm")
    await market.send(WANGARI, "100")
    assert stock(market) == [("potato", 100, "kg", 40)]


async def test_pinyin_mai_is_asked_about_in_chinese_and_the_answer_goes_on(market):
    assert "要卖还是要买" in await market.send(LAO_LI, "wo yao mai pingguo 100 jin")
    assert "苹果每斤多少钱" in await market.send(LAO_LI, "卖")
    assert "已发布101号" in await market.send(LAO_LI, "3块")
    assert stock(market) == [("apple", 100, "jin", 3)]


async def test_who_sells_walnuts_is_asked_about_not_guessed(market):
    assert "要卖还是要买" in await market.send(LAO_LI, "谁有核桃卖啊")
    assert stock(market) == []
    assert "您要多少核桃" in await market.send(LAO_LI, "买")


async def test_a_retried_message_gets_the_same_reply_and_lists_once(market):
    first = await market.send(WANGARI, "sell 10kg honey at 900/kg", message_id="sms-1")
    again = await market.send(WANGARI, "sell 10kg honey at 900/kg", message_id="sms-1")
    assert first == again and "Listing 101" in again
    assert len(market.rows(Listing)) == 1 and len(market.rows(InboundLog)) == 1


async def test_a_question_left_for_an_hour_is_forgotten(market):
    await market.send(WANGARI, "sell potatoes")
    market.clock.advance(hours=1)  # conversations time out after 30 minutes
    assert "What are you selling" in await market.send(WANGARI, "100kg")
    assert stock(market) == []


async def test_every_message_is_logged_with_its_intent_and_reply(market):
    await market.send(WANJIRU, "hi")
    await market.send(WANJIRU, "price of maize")
    logged = [(x.intent, x.reply.split()[0]) for x in market.rows(InboundLog)]
    assert logged == [("greet", "Hello!"), ("price_query", "No")]
