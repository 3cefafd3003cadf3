"""Which currency a price is in when the message names none (SPEC §4): money follows the user."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

from handlers.context import Context, Parse, Scope
from storage.models import Listing, User

# The built-in gazetteer (nlu/catalog.DEFAULT_PLACES) by country; a place added in config
# names its own currency (places.<key>.currency in config.yaml).
PLACE_CURRENCY = {
    **dict.fromkeys(["nairobi", "nakuru", "eldoret", "kisumu", "meru", "mombasa"], "KES"),
    **dict.fromkeys(
        [
            "longnan",
            "wudu",
            "chengxian",
            "wenxian",
            "tanchang",
            "kangxian",
            "xihe",
            "lixian",
            "huixian",
            "liangdang",
            "tianshui",
            "lanzhou",
            "caoxian",
            "heze",
        ],
        "CNY",
    ),
}
# Countries whose money is one the market knows; a number elsewhere tells nothing. The US
# territories share +1 and the dollar; Canada and the Caribbean share +1 but not the dollar.
REGION_CURRENCY = {
    "KE": "KES",
    "CN": "CNY",
    "IN": "INR",
    **dict.fromkeys(["US", "PR", "GU", "VI", "AS", "MP"], "USD"),
}


async def currency_for(ctx: Context, stated: str | None, listing: Listing | None = None) -> str:
    """The currency of a price: the message's, else (for a change) the listing's, else the
    user's latest listing's, place's or phone number's, else the deployment's."""
    written = stated or written_currency(ctx.parse)
    if written:
        return written
    if listing is not None:
        return listing.currency
    return (
        await ctx.uow.listings.latest_currency(ctx.user.id)
        or place_currency(ctx, ctx.user.place)
        or phone_currency(ctx.user.channel, ctx.user.address)
        or ctx.market.currency
    )


def written_currency(parse: Parse) -> str | None:
    """A currency the message writes without a currency entity: a 块/毛 price is in yuan."""
    spans = (parse.text[e["start"] : e["end"]] for e in parse.entities if e["entity"] == "price")
    return "CNY" if any("块" in span or "毛" in span for span in spans) else None


def place_currency(ctx: Context, place: str | None) -> str | None:
    """The currency of a gazetteer place: its config entry's, else the built-in country's."""
    if not place:
        return None
    configured = ctx.settings.places.get(place)
    return (configured and configured.currency) or PLACE_CURRENCY.get(place)


@lru_cache(maxsize=4096)
def phone_currency(channel: str, address: str) -> str | None:
    """The currency of the country of a phone number; None for WeChat ids and the like."""
    raw = address.removeprefix("whatsapp:")
    if channel == "wechat" or not raw.startswith("+"):
        return None
    try:
        number = phonenumbers.parse(raw)
    except phonenumbers.NumberParseException:
        return None
    assert number.country_code is not None, "a parsed number has its country code"
    # an unassigned range still names its country code's main country (+1 → US)
    region = phonenumbers.region_code_for_number(
        number
    ) or phonenumbers.region_code_for_country_code(number.country_code)
    return REGION_CURRENCY.get(region)


def mass_unit(ctx: Scope, currency: str) -> str:
    """The unit prices in a currency are compared and written per: the deployment's display
    unit for its own currency; jin for yuan, kg for any other (a Kenyan's "40 bob" is per kg)."""
    if currency == ctx.market.currency:
        return ctx.market.display_unit
    return "jin" if currency == "CNY" else "kg"


async def default_unit(ctx: Context, stated_currency: str | None = None) -> str:
    """The unit of an amount said without one ("50"), as the user's money reckons it."""
    return mass_unit(ctx, await currency_for(ctx, stated_currency))


def user_currency(ctx: Context, user: User, place: str | None = None) -> str:
    """The money a user (not necessarily the sender) reckons in, without a query: their place's
    or their phone number's, else the deployment's."""
    return (
        place_currency(ctx, place or user.place)
        or phone_currency(user.channel, user.address)
        or ctx.market.currency
    )
