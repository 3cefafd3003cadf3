"""Money follows the user (SPEC §4), on SQLite and PostgreSQL with the real NLU: the currency
of a price written without one, price answers per currency and unit, the broadcast cost in
the deployment's money."""

from __future__ import annotations

import re
from contextlib import AsyncExitStack
from decimal import Decimal

import pytest
from sqlalchemy import select

from bot.bootstrap import build_catalog, load_nlu
from handlers.currency import phone_currency
from handlers.segments import segments
from storage.models import Listing, Subscription
from tests.conftest import make_settings, open_chat

COORDINATOR = "+8613900000000"  # the coordinator of the `chat` fixture (a Chinese deployment)
KE_COORDINATOR = "+254700000000"
NAKURU, ELDORET, KISUMU = "+254712000001", "+254722000002", "+254733000003"
WUDU, CHENGXIAN = "+8613800000001", "+8613800000002"
PUNE = "+919812000001"
VOLUNTEER = "+12025550143"  # an American on a US number, farming in Meru
TRADER = "oKe7Lw0QmX9aB3cD5eF7gH9iJ1k"  # a WeChat OpenID: no phone number to go by
KITALE_PLACE = '{"names": ["Kitale"], "currency": "KES"}'
LONGXI_PLACE = '{"names": ["Longxi", "陇西"], "coords": [35.0, 104.63]}'  # no currency given
KENYA = {
    "FARMCHAT_MARKET__CURRENCY": "KES",
    "FARMCHAT_MARKET__DISPLAY_UNIT": "kg",
    "FARMCHAT_MARKET__TIMEZONE": "Africa/Nairobi",
    "FARMCHAT_COORDINATORS__ADDRESSES": f'["{KE_COORDINATOR}"]',
}


@pytest.fixture
async def kenya(db_url, nlu_cache, real_nlu):
    """A Kenyan deployment: KES and kg."""
    async with AsyncExitStack() as stack:
        yield await open_chat(stack, db_url, nlu_cache, real_nlu, **KENYA)


@pytest.fixture(scope="module")
def places_nlu(nlu_cache):
    """The model for a deployment that adds Kitale (KES) and Longxi (no currency) in config."""
    settings = make_settings(
        "sqlite+aiosqlite:///unused.db",
        nlu_cache,
        FARMCHAT_PLACES__KITALE=KITALE_PLACE,
        FARMCHAT_PLACES__LONGXI=LONGXI_PLACE,
    )
    return load_nlu(settings, build_catalog(settings))


@pytest.fixture
async def with_places(db_url, nlu_cache, places_nlu):
    """A yuan deployment whose config adds Kitale (currency KES) and Longxi (none)."""
    async with AsyncExitStack() as stack:
        yield await open_chat(
            stack,
            db_url,
            nlu_cache,
            places_nlu,
            FARMCHAT_PLACES__KITALE=KITALE_PLACE,
            FARMCHAT_PLACES__LONGXI=LONGXI_PLACE,
        )


async def listing(chat, reply: str) -> Listing:
    """The listing a confirmation names."""
    found = re.search(r"\d{3,}", reply)
    assert found, reply
    ref = int(found.group())
    async with chat.svc.db.uow() as uow:
        return await uow.listings.get(ref)


async def sell(chat, who: str, text: str, channel: str = "console") -> tuple[str, Listing]:
    reply = await chat.send(who, text, channel=channel)
    assert "Listing" in reply or "已发布" in reply, reply
    return reply, await listing(chat, reply)


# (a) the message -------------------------------------------------------------------------
async def test_a_shilling_mark_makes_the_price_kes_in_a_yuan_deployment(chat):
    reply, row = await sell(chat, TRADER, "sukuma wiki 50kg 30/= per kg", channel="wechat")
    assert "50 kg" in reply and "KES 30/kg" in reply
    assert (row.price, row.currency, row.price_unit) == (Decimal("30.00"), "KES", "kg")


async def test_a_kuai_price_is_in_yuan_in_a_shilling_deployment(kenya):
    reply, row = await sell(kenya, TRADER, "卖50斤苹果 3块5一斤", channel="wechat")
    assert "¥3.50/斤" in reply and (row.price, row.currency) == (Decimal("3.50"), "CNY")


async def test_a_mao_answer_to_the_price_question_is_in_yuan(kenya):
    assert "多少钱" in await kenya.send(TRADER, "卖白菜100斤", channel="wechat")
    reply, row = await sell(kenya, TRADER, "8毛", channel="wechat")
    assert "¥0.80/斤" in reply and (row.price, row.currency) == (Decimal("0.80"), "CNY")


@pytest.mark.parametrize(
    "text, shown, currency",
    [
        ("tomatoes 3 crates 2000 bob each", "KES 2,000/crate", "KES"),
        ("potatoes 100kg ksh 40 per kg", "KES 40/kg", "KES"),
        ("onion 100kg ₹25/kg", "₹25/kg", "INR"),
        ("卖花椒20斤 80元一斤", "¥80.00/斤", "CNY"),
    ],
)
async def test_a_currency_word_in_the_message_beats_every_other_clue(kenya, text, shown, currency):
    await kenya.send(WUDU, "我在武都")  # place and phone both say yuan
    reply, row = await sell(kenya, WUDU, text)
    assert shown in reply and row.currency == currency


# (b) the user's earlier listings ---------------------------------------------------------
async def test_a_price_without_currency_follows_the_users_last_listing(chat):
    _, first = await sell(
        chat, TRADER, "sell 20 sacks of potatoes @ ksh 2,300 each", channel="wechat"
    )
    reply, row = await sell(chat, TRADER, "sukuma wiki 50kg 30 per kg", channel="wechat")
    assert first.currency == "KES" and "KES 30/kg" in reply and row.currency == "KES"


async def test_earlier_listings_count_before_the_phone_number(chat):
    # a Nakuru exporter who sells to Chinese buyers in yuan
    await sell(chat, NAKURU, "sell 2 tons avocado at 8 yuan per kg")
    reply, row = await sell(chat, NAKURU, "sell 1 ton mango at 6 per kg")
    assert "¥6.00/kg" in reply and row.currency == "CNY"


# (c) the user's place --------------------------------------------------------------------
async def test_a_user_in_nakuru_prices_in_shillings(chat):
    assert "Nakuru" in await chat.send(TRADER, "I am in Nakuru", channel="wechat")
    reply, row = await sell(chat, TRADER, "sukuma wiki 50kg 30 per kg", channel="wechat")
    assert "KES 30/kg" in reply and row.currency == "KES"


async def test_the_place_in_the_listing_itself_counts_for_a_new_user(chat):
    reply, row = await sell(chat, TRADER, "sell 10 bags maize 3500 each eldoret", channel="wechat")
    assert "KES 3,500/bag" in reply and (row.currency, row.location) == ("KES", "eldoret")


async def test_the_place_counts_before_the_phone_number(chat):
    await chat.send(VOLUNTEER, "I am in Meru")
    reply, row = await sell(chat, VOLUNTEER, "honey 20 litres 800 per litre")
    assert "KES 800/L" in reply and row.currency == "KES"


async def test_a_place_added_in_config_carries_its_currency(with_places):
    chat = with_places
    await chat.send(TRADER, "I am in Kitale", channel="wechat")
    reply, row = await sell(chat, TRADER, "sell 10 bags maize 3500 each", channel="wechat")
    assert "KES 3,500/bag" in reply and row.currency == "KES"
    # a place without one tells nothing: here the phone number does
    await chat.send(NAKURU, "I am in Longxi")
    reply, row = await sell(chat, NAKURU, "sell 10 bags potatoes 2300 each")
    assert "KES 2,300/bag" in reply and (row.currency, row.location) == ("KES", "longxi")


# (d) the phone number's country ----------------------------------------------------------
@pytest.mark.parametrize(
    "who, text, shown, currency",
    [
        (NAKURU, "sukuma wiki 50kg 30 per kg", "KES 30/kg", "KES"),
        (PUNE, "tomato 100kg 25 per kg", "₹25/kg", "INR"),
        (VOLUNTEER, "sell 10 lb honey at 12 per lb", "$12.00/lb", "USD"),
    ],
)
async def test_the_phone_numbers_country_decides_in_a_yuan_deployment(
    chat, who, text, shown, currency
):
    reply, row = await sell(chat, who, text)
    assert shown in reply and row.currency == currency


async def test_a_chinese_number_prices_in_yuan_in_a_shilling_deployment(kenya):
    reply, row = await sell(kenya, WUDU, "卖50斤苹果 3.5一斤")
    assert "¥3.50/斤" in reply and row.currency == "CNY"


async def test_a_whatsapp_number_counts_like_an_sms_one(chat):
    reply, row = await sell(chat, ELDORET, "sell 10 bags beans 4500 each", channel="whatsapp")
    assert "KES 4,500/bag" in reply and row.currency == "KES"


def test_only_phone_numbers_have_a_country():
    assert phone_currency("whatsapp", "whatsapp:+254712000001") == "KES"
    assert phone_currency("sms", "+8613800000001") == "CNY"
    assert phone_currency("sms", "+14165550143") is None  # Canada: +1, but not the dollar we know
    assert phone_currency("wechat", TRADER) is None
    assert phone_currency("console", "farmer-1") is None


# (e) the deployment's currency -----------------------------------------------------------
async def test_without_any_clue_a_yuan_deployment_prices_in_yuan(chat):
    reply, row = await sell(chat, TRADER, "卖白菜100斤 1.2一斤", channel="wechat")
    assert "¥1.20/斤" in reply and row.currency == "CNY"


async def test_without_any_clue_a_shilling_deployment_prices_in_shillings(kenya):
    reply, row = await sell(kenya, TRADER, "sukuma wiki 50kg 30 per kg", channel="wechat")
    assert "KES 30/kg" in reply and row.currency == "KES"


# changes and alerts ----------------------------------------------------------------------
async def test_a_price_change_keeps_the_listings_currency(chat):
    await sell(chat, NAKURU, "sell 2 tons avocado at 8 yuan per kg")
    assert "¥9.00/kg" in await chat.send(NAKURU, "avocado now 9 per kg")  # not shillings
    reply, _ = await sell(chat, KISUMU, "sukuma wiki 50kg 30/= per kg")
    assert "KES 35/kg" in await chat.send(KISUMU, "sukuma now 35 per kg")
    assert (await listing(chat, reply)).price == Decimal("35.00")


async def test_an_alert_threshold_follows_the_user(chat):
    reply = await chat.send(NAKURU, "alert me when sukuma goes above 40 per kg")
    assert "above KES 40/kg" in reply
    async with chat.svc.db.uow() as uow:
        [sub] = (await uow.session.execute(select(Subscription))).scalars().all()
    assert (sub.threshold, sub.currency, sub.unit) == (Decimal("40.00"), "KES", "kg")


# price answers -----------------------------------------------------------------------------
async def publish(chat, coordinator: str, text: str) -> None:
    """A coordinator's market price: drafted, then confirmed."""
    await chat.send(coordinator, text)
    assert "potato" in (await chat.send(coordinator, "yes")).lower()


async def potato_market(chat) -> None:
    """Potatoes asked in yuan per jin, shillings per kg and per sack."""
    await sell(chat, WUDU, "卖土豆500斤 1块2一斤")
    await sell(chat, CHENGXIAN, "土豆300斤 1块5一斤")
    await sell(chat, NAKURU, "potatoes 200kg 40/= per kg")
    await sell(chat, ELDORET, "potatoes 100kg ksh 60 per kg")
    await sell(chat, KISUMU, "sell 20 sacks of potatoes @ 2,300 each")


async def test_asking_prices_are_grouped_by_currency_and_unit_never_averaged(chat):
    await potato_market(chat)
    reply = await chat.send(PUNE, "potato price?")
    assert reply.split("\n") == [
        "Potato prices:",
        "Asking ¥1.20-¥1.50/jin, median ¥1.35/jin (2 listings, 7 days)",
        # shillings per kg, yuan per jin
        "Asking KES 40-KES 60/kg, median KES 50/kg (2 listings, 7 days)",
        "Asking KES 2,300/bag (1 listing, 7 days)",
    ]


async def test_sacks_are_shown_per_sack_in_a_shilling_deployment(kenya):
    assert "No potato prices" in await kenya.send(ELDORET, "potato price?")
    await sell(kenya, KISUMU, "sell 20 sacks of potatoes @ 2,300 each")
    assert "Asking KES 2,300/bag (1 listing, 7 days)" in await kenya.send(ELDORET, "potato price?")


async def test_the_deployment_currency_comes_first_then_the_largest_group(kenya):
    await potato_market(kenya)
    await sell(kenya, PUNE, "potato 100kg ₹25/kg")
    lines = (await kenya.send(ELDORET, "potato price?")).split("\n")
    assert lines[1:] == [
        "Asking KES 40-KES 60/kg, median KES 50/kg (2 listings, 7 days)",
        "Asking KES 2,300/bag (1 listing, 7 days)",
        "Asking ¥1.20-¥1.50/jin, median ¥1.35/jin (2 listings, 7 days)",  # yuan per jin
    ]  # three groups at most: the rupee one is left out


async def test_the_weekly_change_is_per_group(kenya):
    await sell(kenya, NAKURU, "sukuma wiki 50kg 40/= per kg")
    await sell(kenya, KISUMU, "sukuma 10 sacks 2000 each")
    kenya.clock.advance(days=8)
    await sell(kenya, ELDORET, "sukuma wiki 80kg 44/= per kg")
    await sell(kenya, KISUMU, "sukuma 10 sacks 2300 each")
    await sell(kenya, WUDU, "卖羽衣甘蓝100斤 3块一斤")  # nothing last week: no change
    lines = (await kenya.send(NAKURU, "sukuma price?")).split("\n")
    assert lines[1:] == [
        "Asking KES 44/kg (1 listing, 7 days), +10% on last week",
        "Asking KES 2,300/bag (1 listing, 7 days), +15% on last week",
        "Asking ¥3.00/jin (1 listing, 7 days)",
    ]


async def test_a_price_answer_by_sms_fits_two_segments(chat):
    await potato_market(chat)
    await sell(chat, PUNE, "potato 100kg ₹25/kg")
    for place in ("Wudu", "Chengxian", "Tianshui"):
        await publish(chat, COORDINATOR, f"broadcast potato 2.6 yuan/kg {place}")
    reply = await chat.send("+8613800000009", "土豆多少钱一斤", channel="sms")
    assert segments(reply) <= 2
    assert "挂牌¥1.20-¥1.50/斤，中位¥1.35/斤（近7天2条）" in reply and "₹" not in reply
    english = await chat.send("+254700000009", "potato price?", channel="sms")
    assert segments(english) <= 2 and "Asking KES 40-KES 60/kg" in english


async def test_a_market_price_in_another_currency_is_shown_in_it(chat):
    await publish(chat, COORDINATOR, "broadcast potato 45 bob/kg Nakuru")
    assert "Nakuru market KES 45/kg" in await chat.send(NAKURU, "potato price?")


# broadcast preview cost ------------------------------------------------------------------
async def test_a_broadcast_to_console_and_wechat_users_costs_nothing(chat):
    await chat.send(WUDU, "订阅苹果价格")
    await chat.send(TRADER, "subscribe apple prices", channel="wechat")
    preview = await chat.send(COORDINATOR, "群发 苹果今日收购价4.2元/斤")
    assert "发给2位订阅者" in preview and "无短信费用" in preview and "0.00" not in preview
    assert "no SMS cost" in await chat.send(COORDINATOR, "broadcast apple 4.2 yuan/kg")


async def test_the_broadcast_cost_is_in_the_deployment_currency(db_url, nlu_cache, real_nlu):
    async with AsyncExitStack() as stack:
        chat = await open_chat(
            stack,
            db_url,
            nlu_cache,
            real_nlu,
            FARMCHAT_BROADCAST__COST_PER_SMS_SEGMENT="0.8",
            **KENYA,
        )
        for who in (NAKURU, ELDORET, KISUMU):
            await chat.send(who, "subscribe potato prices", channel="sms")
        preview = await chat.send(KE_COORDINATOR, "broadcast potato 45 bob/kg Nakuru")
        assert "Send to 3 subscribers (1 SMS each, about KES 2.40)?" in preview


async def test_an_explicit_cost_currency_still_applies(db_url, nlu_cache, real_nlu):
    async with AsyncExitStack() as stack:
        chat = await open_chat(
            stack,
            db_url,
            nlu_cache,
            real_nlu,
            FARMCHAT_BROADCAST__COST_CURRENCY="USD",
            FARMCHAT_COORDINATORS__ADDRESSES=f'["{COORDINATOR}"]',
        )
        await chat.send(WUDU, "订阅苹果价格", channel="sms")
        preview = await chat.send(COORDINATOR, "群发 苹果今日收购价4.2元/斤")
        assert "约$0.01" in preview  # 0.0079 for one segment: under a cent is still a cost
