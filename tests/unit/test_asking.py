"""Prices, price alerts, the profile, help and greetings, asked the ways people ask."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from storage.models import MarketPrice, Subscription

WANJIRU = "+254700000401"  # a Kenyan buyer
OTIENO, KAMAU = "+254711000401", "+254711000402"  # Kenyan farmers
LAO_WANG = "+8613800000401"  # a farmer in Gansu


async def publish(market, product: str, place: str, price: str, days_ago: int = 0) -> None:
    """A coordinator's market price, as the broadcast flow records it."""

    async def work(uow) -> None:
        await uow.prices.add(
            MarketPrice(
                product=product,
                location=place,
                price=Decimal(price),
                currency="KES",
                unit="kg",
                published_at=market.clock() - timedelta(days=days_ago),
            )
        )

    await market.db.transact(work)


def alerts(market) -> list[tuple]:
    return [
        (s.product, s.location, s.direction, s.threshold, s.mode, s.active)
        for s in market.rows(Subscription)
    ]


# prices ------------------------------------------------------------------------------------
async def test_no_prices_yet_is_said_in_the_buyers_word(market):
    assert "No nyanya prices yet" in await market.send(WANJIRU, "bei ya nyanya leo?")
    assert "暂时没有西红柿的价格" in await market.send(LAO_WANG, "西红柿多少钱一斤")


async def test_asking_prices_show_range_and_median(market):
    for farmer, price in ((OTIENO, "40"), (KAMAU, "50"), ("+254711000403", "44")):
        await market.send(farmer, f"sell 100kg potatoes at {price}/kg")
    reply = await market.send(WANJIRU, "price of potatoes")
    assert reply.startswith("Potato prices:")
    assert "KES 40-KES 50/kg" in reply and "median KES 44/kg" in reply and "3 listings" in reply


async def test_a_market_price_for_the_users_place_comes_first(market):
    await publish(market, "corn", "nakuru", "36", days_ago=3)
    await publish(market, "corn", "nakuru", "38")
    await publish(market, "corn", "eldoret", "35")
    await market.send(WANJIRU, "I am in Eldoret")
    reply = await market.send(WANJIRU, "maize price?")
    assert "Eldoret market KES 35/kg" in reply and "Nakuru" not in reply
    nakuru = await market.send(WANJIRU, "bei ya mahindi nakuru")
    assert "Nakuru market KES 38/kg" in nakuru and "36" not in nakuru  # the newest only


async def test_a_price_for_an_unknown_product_says_so(market):
    assert 'don\'t know "durian"' in await market.send(WANJIRU, "durian price?")


# alerts ------------------------------------------------------------------------------------
async def test_subscribing_to_a_product_in_a_place(market):
    reply = await market.send(WANJIRU, "alert me on maize prices in nakuru")
    assert "Subscribed to maize prices (Nakuru)" in reply
    assert alerts(market) == [("corn", "nakuru", None, None, "instant", True)]


async def test_daily_and_threshold_alerts_are_kept_apart(market):
    assert "daily at 18:00" in await market.send(WANJIRU, "tell me daily price of beans")
    below = await market.send(WANJIRU, "alert me when potatoes below 40")
    assert "below KES 40/kg" in below
    assert alerts(market) == [
        ("beans", None, None, None, "daily", True),
        ("potato", None, "below", 40, "instant", True),
    ]
    listed = await market.send(WANJIRU, "my alerts")
    assert "beans (daily at 18:00); potato (below KES 40/kg)" in listed


async def test_unsubscribing_ends_that_alert_only(market):
    await market.send(WANJIRU, "alert me on maize prices in nakuru")
    await market.send(WANJIRU, "tell me daily price of beans")
    assert "Unsubscribed from maize" in await market.send(WANJIRU, "stop maize alerts")
    assert [(s.product, s.active) for s in market.rows(Subscription)] == [
        ("corn", False),
        ("beans", True),
    ]


async def test_unsubscribing_from_a_product_never_subscribed_lists_the_others(market):
    await market.send(WANJIRU, "tell me daily price of beans")
    reply = await market.send(WANJIRU, "unsubscribe tomatoes")
    assert "no tomato alert" in reply and "beans (daily" in reply
    assert alerts(market)[0][-1] is True


async def test_stop_opts_out_and_subscribe_opts_back_in(market):
    await market.send(WANJIRU, "tell me daily price of beans")
    assert "no more alerts" in await market.send(WANJIRU, "STOP")
    assert market.user(WANJIRU).opted_out is True
    listed = await market.send(WANJIRU, "my alerts")  # listing them is no consent
    assert "stopped all alerts" in listed and market.user(WANJIRU).opted_out is True
    assert "on again" in await market.send(WANJIRU, "subscribe")
    assert market.user(WANJIRU).opted_out is False


async def test_chinese_subscription(market):
    reply = await market.send(LAO_WANG, "订阅花椒价格")
    assert "花椒" in reply
    assert alerts(market)[0][:2] == ("sichuan_pepper", None)


# profile, help -----------------------------------------------------------------------------
async def test_name_and_place_are_saved_and_shown(market):
    assert "Saved: name Wanjiru" in await market.send(WANJIRU, "my name is Wanjiru")
    assert "Saved: place Nakuru" in await market.send(WANJIRU, "I am in Nakuru")
    shown = await market.send(WANJIRU, "my profile")
    assert "name Wanjiru" in shown and "place Nakuru" in shown and "alerts: none" in shown
    user = market.user(WANJIRU)
    assert (user.name, user.place) == ("Wanjiru", "nakuru")


async def test_chinese_profile_and_an_unknown_place(market):
    assert "王大伯" in await market.send(LAO_WANG, "我叫王大伯")
    assert "武都" in await market.send(LAO_WANG, "我在武都")
    unknown = await market.send(LAO_WANG, "我在北京")
    assert "北京" in unknown and "陇南" in unknown
    assert market.user(LAO_WANG).place == "wudu"


async def test_help_and_a_greeting_by_name(market):
    assert "sell 50kg apples at 3/kg" in await market.send(WANJIRU, "help")
    await market.send(WANJIRU, "my name is Wanjiru")
    assert "Hello Wanjiru" in await market.send(WANJIRU, "hi")
    assert "卖50斤苹果" in await market.send(LAO_WANG, "帮助")
