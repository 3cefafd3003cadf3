"""Price alert subscriptions and coordinator price publishing.

Sending broadcasts to subscribers is the broadcast engine's job (a later part); here the
subscriptions are kept and published prices feed the price answers at once.
"""

from __future__ import annotations

from decimal import Decimal

from bot.messages import Reply
from handlers import units
from handlers.context import Context
from handlers.slots import amount
from storage.models import MarketPrice, Subscription

ABOVE = ("above", "over", "more than", "higher", "exceed", "高于", "超过", "以上", "涨到", "大于")
BELOW = ("below", "under", "less than", "lower", "drop", "低于", "跌到", "以下", "不到", "小于")


def _direction(text: str) -> str | None:
    lowered = text.lower()
    if any(w in lowered for w in ABOVE):
        return "above"
    if any(w in lowered for w in BELOW):
        return "below"
    return None


async def subscribe(ctx: Context) -> list[Reply]:
    product = ctx.parse.first("product")
    if not product:
        return ctx.say("ask_subscribe_product")
    place = ctx.parse.first("location")
    threshold = amount(ctx.parse.first("price"))
    direction = _direction(ctx.parse.text) if threshold is not None else None
    currency = ctx.parse.first("currency") or ctx.market.currency
    unit = ctx.parse.first("price_unit") or ctx.market.display_unit
    await ctx.uow.subscriptions.add(Subscription(
        user_id=ctx.user.id, product=product, location=place, direction=direction,
        threshold=threshold if direction else None, currency=currency, unit=unit,
        active=True, created_at=ctx.now))
    limit = ""
    if direction:
        limit = ctx.text("threshold", direction=ctx.word(direction),
                         price=units.unit_price(threshold, currency, unit, ctx.lang))
    where = f" ({ctx.place(place)})" if place else ""
    return ctx.say("subscribed", product=ctx.product(product), place=where, threshold=limit)


async def unsubscribe(ctx: Context) -> list[Reply]:
    product = ctx.parse.first("product")
    if not await ctx.uow.subscriptions.deactivate(ctx.user.id, product):
        return ctx.say("not_subscribed")
    what = ctx.product(product) if product else ctx.text("all_alerts")
    return ctx.say("unsubscribed", what=what)


async def broadcast(ctx: Context) -> list[Reply]:
    """A coordinator publishes a market price: 'broadcast apple 4.2 yuan/kg Wudu'."""
    if ctx.user.role != "coordinator":
        return ctx.say("coordinators_only")
    product, price = ctx.parse.first("product"), amount(ctx.parse.first("price"))
    if not product or price is None:
        return ctx.say("broadcast_needs_price")
    row = await ctx.uow.prices.add(MarketPrice(
        product=product, location=ctx.parse.first("location"), price=Decimal(price),
        currency=ctx.parse.first("currency") or ctx.market.currency,
        unit=ctx.parse.first("price_unit") or ctx.parse.first("unit") or ctx.market.display_unit,
        published_by=ctx.user.id, published_at=ctx.now))
    where = f", {ctx.place(row.location)}" if row.location else ""
    return ctx.say("price_published", product=ctx.product(product), place=where,
                   price=units.unit_price(row.price, row.currency, row.unit, ctx.lang))
