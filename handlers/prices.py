"""Price answers: coordinator prices per market; asking-price range, median and weekly change
per currency and unit."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from handlers import units
from handlers.context import Context, Scope
from handlers.currency import mass_unit
from handlers.messages import Reply
from handlers.slots import unknown_word
from storage.repos import AskedRow

WEEK = timedelta(days=7)
JUST_AFTER = timedelta(seconds=1)  # include listings made this very second
MAX_GROUPS = 3  # asking-price lines in one answer: a reply stays within 2 SMS segments


async def price_query(ctx: Context) -> list[Reply]:
    product = ctx.parse.first("product")
    if not product:
        word = unknown_word(ctx)  # "durian price?": say it is not known rather than ask again
        return (
            ctx.say("unknown_product_named", word=word) if word else ctx.say("ask_price_product")
        )
    name = ctx.product(product)
    lines = [ctx.text("price_header", product=name, Product=name[:1].upper() + name[1:])]
    lines += await _market_lines(ctx, product, ctx.parse.first("location") or ctx.user.place)
    for i, line in enumerate(await _asking_lines(ctx, product)):
        if i and not ctx.fits(ctx.channel, "\n".join([*lines, line])):
            break  # a smaller group is not worth a third SMS segment
        lines.append(line)
    if len(lines) == 1:
        return ctx.say("no_prices", product=ctx.product(product))
    return [Reply("\n".join(lines))]


async def summary_lines(ctx: Scope, product: str, place: str | None = None) -> list[str]:
    """A price answer's lines without its header (the daily digest sends them too)."""
    return await _market_lines(ctx, product, place) + await _asking_lines(ctx, product)


async def _market_lines(ctx: Scope, product: str, place: str | None) -> list[str]:
    """The user's market when it has a price, otherwise every market (newest first, 3 at most)."""
    rows = (place and await ctx.uow.prices.latest(product, place)) or await ctx.uow.prices.latest(
        product
    )
    zone = ZoneInfo(ctx.market.timezone)
    lines = []
    for row in rows[:3]:
        per = mass_unit(ctx, row.currency)
        price = units.price_per(row.price, row.unit, per)
        shown = (
            units.unit_price(price, row.currency, per, ctx.lang)
            if price is not None
            else units.unit_price(row.price, row.currency, row.unit, ctx.lang)
        )
        date = row.published_at.astimezone(zone)
        day = f"{date.month}月{date.day}日" if ctx.lang == "zh" else date.strftime("%d %b")
        key = "price_market" if row.location else "price_all_markets"
        lines.append(ctx.text(key, place=ctx.place(row.location), price=shown, date=day))
    return lines


def _groups(ctx: Scope, asked: Iterable[AskedRow]) -> dict[tuple[str, str], list[Decimal]]:
    """Asking prices by (currency, unit), one per listing: mass units restated per the
    currency's unit (currency.mass_unit: the display unit, or kg for shillings in a yuan
    deployment), count units (bag, crate, ...) as asked, since they convert to nothing (asked:
    rows of repos.Listings.asked_between, each price with its count)."""
    groups: dict[tuple[str, str], list[Decimal]] = defaultdict(list)
    for x in asked:
        per = units.price_per(x.price, x.price_unit, mass_unit(ctx, x.currency))
        unit = mass_unit(ctx, x.currency) if per is not None else x.price_unit
        groups[x.currency, unit] += [x.price if per is None else per] * x.n
    return groups


async def _asking_lines(ctx: Scope, product: str) -> list[str]:
    """A line per (currency, unit) group of the week's asking prices, never averaged across
    them: the deployment's currency first, then the groups with most listings."""
    now = ctx.now
    this_week = _groups(
        ctx, await ctx.uow.listings.asked_between(product, now - WEEK, now + JUST_AFTER)
    )
    last_week = _groups(
        ctx, await ctx.uow.listings.asked_between(product, now - 2 * WEEK, now - WEEK)
    )
    currency, unit = ctx.market.currency, ctx.market.display_unit
    order = sorted(
        this_week, key=lambda g: (g[0] != currency, -len(this_week[g]), g[1] != unit, g)
    )
    return [
        _asking_line(ctx, group, this_week[group], last_week.get(group))
        for group in order[:MAX_GROUPS]
    ]


def _asking_line(
    ctx: Scope, group: tuple[str, str], prices: list[Decimal], before: list[Decimal] | None
) -> str:
    """Range and median of one group's prices, with the change on the group's last week."""
    currency, unit = group
    median = statistics.median(prices)
    change = ""
    if before and statistics.median(before):
        pct = (median - statistics.median(before)) / statistics.median(before) * 100
        change = ctx.text("price_change", pct=f"{pct:+.0f}%")

    def fmt(value: Decimal) -> str:
        return units.unit_price(value, currency, unit, ctx.lang)

    if len(prices) == 1:
        return ctx.text("price_asking_one", price=fmt(median), change=change)
    return ctx.text(
        "price_asking",
        low=units.money(min(prices), currency),
        high=fmt(max(prices)),
        median=fmt(median),
        n=len(prices),
        change=change,
    )
