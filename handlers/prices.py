"""Price answers: coordinator prices per market, asking-price range, median and weekly change."""

from __future__ import annotations

import statistics
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from bot.messages import Reply
from handlers import units
from handlers.context import Context

WEEK = timedelta(days=7)
JUST_AFTER = timedelta(seconds=1)  # include listings made this very second


async def price_query(ctx: Context) -> list[Reply]:
    product = ctx.parse.first("product")
    if not product:
        return ctx.say("ask_price_product")
    name = ctx.product(product)
    lines = [ctx.text("price_header", product=name, Product=name[:1].upper() + name[1:])]
    lines += await _market_lines(ctx, product, ctx.parse.first("location") or ctx.user.place)
    asking = await _asking_line(ctx, product)
    if asking:
        lines.append(asking)
    if len(lines) == 1:
        return ctx.say("no_prices", product=ctx.product(product))
    return [Reply("\n".join(lines))]


async def summary_lines(ctx: Context, product: str, place: str | None = None) -> list[str]:
    """A price answer's lines without its header (the daily digest sends them too)."""
    lines = await _market_lines(ctx, product, place)
    asking = await _asking_line(ctx, product)
    return lines + [asking] if asking else lines


async def _market_lines(ctx: Context, product: str, place: str | None) -> list[str]:
    """The user's market when it has a price, otherwise every market (newest first, 3 at most)."""
    rows = (place and await ctx.uow.prices.latest(product, place)) or await ctx.uow.prices.latest(product)
    zone = ZoneInfo(ctx.market.timezone)
    lines = []
    for row in rows[:3]:
        price = _in_display_unit(ctx, row.price, row.unit)
        shown = units.unit_price(price, row.currency, ctx.market.display_unit, ctx.lang) if price is not None \
            else units.unit_price(row.price, row.currency, row.unit, ctx.lang)
        date = row.published_at.astimezone(zone)
        day = f"{date.month}月{date.day}日" if ctx.lang == "zh" else date.strftime("%d %b")
        where = ctx.place(row.location) or ("各地" if ctx.lang == "zh" else "All")
        lines.append(ctx.text("price_market", place=where, price=shown, date=day))
    return lines


def _in_display_unit(ctx: Context, price: Decimal, unit: str) -> Decimal | None:
    return units.price_per(price, unit, ctx.market.display_unit)


def _comparable_prices(ctx: Context, asked: list) -> list[Decimal]:
    """Asking prices per display unit in the market currency, one per listing (asked: rows of
    repos.Listings.asked_between, each price with its count); others cannot be compared."""
    prices = []
    for x in asked:
        per = _in_display_unit(ctx, x.price, x.price_unit)
        if per is not None and x.currency == ctx.market.currency:
            prices += [per] * x.n
    return prices


async def _asking_line(ctx: Context, product: str) -> str | None:
    now = ctx.now
    this_week = _comparable_prices(ctx, await ctx.uow.listings.asked_between(product, now - WEEK, now + JUST_AFTER))
    if not this_week:
        return None
    last_week = _comparable_prices(ctx, await ctx.uow.listings.asked_between(product, now - 2 * WEEK, now - WEEK))
    median = statistics.median(this_week)
    change = ""
    if last_week and statistics.median(last_week):
        pct = (median - statistics.median(last_week)) / statistics.median(last_week) * 100
        change = ctx.text("price_change", pct=f"{pct:+.0f}%")
    fmt = lambda value: units.unit_price(value, ctx.market.currency, ctx.market.display_unit, ctx.lang)  # noqa: E731
    if len(this_week) == 1:
        return ctx.text("price_asking_one", price=fmt(median), change=change)
    return ctx.text("price_asking", low=units.money(min(this_week), ctx.market.currency),
                    high=fmt(max(this_week)), median=fmt(median), n=len(this_week), change=change)
