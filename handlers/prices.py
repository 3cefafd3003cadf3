"""Price answers: coordinator prices per market; asking-price range, median and weekly change
per currency and unit."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from handlers import units
from handlers.context import Context, Scope
from handlers.currency import mass_unit
from handlers.messages import Reply
from handlers.slots import unknown_word
from storage import dashboard
from storage.dashboard import ProductAsked, ProductPrice
from storage.repos import AskedRow, PriceRow

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


@dataclass(frozen=True)
class Quote:
    """A market's latest coordinator price, per the currency's mass unit where it converts."""

    location: str | None
    price: Decimal
    currency: str
    unit: str
    published_at: datetime


@dataclass(frozen=True)
class AskingGroup:
    """The week's asking prices of one (currency, unit) and their change on the week before."""

    currency: str
    unit: str
    low: Decimal
    high: Decimal
    median: Decimal
    n: int
    change_pct: Decimal | None  # None: no listings in that group the week before


def quotes_of(ctx: Scope, rows: Iterable[PriceRow]) -> list[Quote]:
    """Published prices as quotes, restated per the currency's unit where they convert."""
    quotes = []
    for row in rows:
        per = mass_unit(ctx, row.currency)
        price = units.price_per(row.price, row.unit, per)
        quotes.append(
            Quote(row.location, row.price, row.currency, row.unit, row.published_at)
            if price is None
            else Quote(row.location, price, row.currency, per, row.published_at)
        )
    return quotes


async def market_quotes(ctx: Scope, product: str, place: str | None = None) -> list[Quote]:
    """The newest price of every market (only place's when it has one), newest first."""
    rows = (place and await ctx.uow.prices.latest(product, place)) or await ctx.uow.prices.latest(
        product
    )
    return quotes_of(ctx, rows)


async def _market_lines(ctx: Scope, product: str, place: str | None) -> list[str]:
    """The user's market when it has a price, otherwise every market (newest first, 3 at most)."""
    zone = ZoneInfo(ctx.market.timezone)
    lines = []
    for quote in (await market_quotes(ctx, product, place))[:3]:
        shown = units.unit_price(quote.price, quote.currency, quote.unit, ctx.lang)
        date = quote.published_at.astimezone(zone)
        day = f"{date.month}月{date.day}日" if ctx.lang == "zh" else date.strftime("%d %b")
        key = "price_market" if quote.location else "price_all_markets"
        lines.append(ctx.text(key, place=ctx.place(quote.location), price=shown, date=day))
    return lines


Counted = list[tuple[Decimal, int]]  # asking prices, each with how many listings asked it


def _groups(ctx: Scope, asked: Iterable[AskedRow]) -> dict[tuple[str, str], Counted]:
    """Asking prices by (currency, unit), each with its count: mass units restated per the
    currency's unit (currency.mass_unit: the display unit, or kg for shillings in a yuan
    deployment), count units (bag, crate, ...) as asked, since they convert to nothing (asked:
    rows of repos.Listings.asked_between, each price with its count)."""
    groups: dict[tuple[str, str], Counted] = defaultdict(list)
    mass: dict[str, str] = {}
    # (currency, price unit) -> (group, what one of its price unit is in the group's unit, as
    # units.price_per multiplies by), worked out once: a busy week has hundreds of prices
    restated: dict[tuple[str, str], tuple[tuple[str, str], Decimal | None]] = {}
    for x in asked:
        found = restated.get((x.currency, x.price_unit))
        if found is None:
            if (to := mass.get(x.currency)) is None:
                to = mass[x.currency] = mass_unit(ctx, x.currency)
            one = units.convert(Decimal(1), to, x.price_unit)
            group = (x.currency, x.price_unit if one is None else to)
            found = restated[x.currency, x.price_unit] = (group, one)
        group, one = found
        groups[group].append((x.price if one is None else x.price * one, x.n))
    return groups


def _median(counted: Counted) -> Decimal:
    """statistics.median of the prices with each repeated its count times, without making
    that list (a busy week is thousands of listings at a few hundred prices)."""
    ordered = sorted(counted, key=lambda pc: pc[0])  # stable, as sorted() of the whole list
    n = sum(c for _, c in ordered)
    wanted = (n // 2,) if n % 2 else (n // 2 - 1, n // 2)
    found: list[Decimal] = []
    seen = 0
    for price, count in ordered:
        seen += count
        while len(found) < len(wanted) and wanted[len(found)] < seen:
            found.append(price)
        if len(found) == len(wanted):
            break
    return found[0] if n % 2 else (found[0] + found[1]) / 2


async def asking_groups(
    ctx: Scope, product: str, limit: int | None = MAX_GROUPS
) -> list[AskingGroup]:
    """The week's asking prices per (currency, unit), never averaged across them: the
    deployment's currency first, then the groups with most listings (limit of them)."""
    this_week, last_week = weeks(ctx)
    return groups_of(
        ctx,
        await ctx.uow.listings.asked_between(product, *this_week),
        await ctx.uow.listings.asked_between(product, *last_week),
        limit,
    )


def weeks(ctx: Scope) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]]:
    """[start, end) of this week (the last 7 days, this second included) and the one before."""
    now = ctx.now
    return (now - WEEK, now + JUST_AFTER), (now - 2 * WEEK, now - WEEK)


def groups_of(
    ctx: Scope, asked: Iterable[AskedRow], before: Iterable[AskedRow], limit: int | None
) -> list[AskingGroup]:
    """The asking groups of this week's asking prices, each with its change on the week
    before's (both as repos.Listings.asked_between gives them)."""
    this_week, last_week = _groups(ctx, asked), _groups(ctx, before)
    currency, unit = ctx.market.currency, ctx.market.display_unit
    sizes = {g: sum(c for _, c in counted) for g, counted in this_week.items()}
    order = sorted(this_week, key=lambda g: (g[0] != currency, -sizes[g], g[1] != unit, g))
    found = []
    for group in order[:limit]:
        prices, earlier = this_week[group], last_week.get(group)
        median = _median(prices)
        change = None
        if earlier and (was := _median(earlier)):
            change = (median - was) / was * 100
        low = min(prices, key=lambda pc: pc[0])[0]
        high = max(prices, key=lambda pc: pc[0])[0]
        found.append(AskingGroup(*group, low, high, median, sizes[group], change))
    return found


async def board(
    ctx: Scope, products: Sequence[str] | None = None
) -> dict[str, tuple[list[Quote], list[AskingGroup]]]:
    """For each product, what market_quotes and asking_groups (with no limit) answer, read
    for all of them at once: three statements for a board, not three per product. None: the
    products on the market, those with a coordinator price or asked for in the last two
    weeks, in key order."""
    this_week, last_week = weeks(ctx)
    prices: dict[str, list[ProductPrice]] = defaultdict(list)
    for quote in await dashboard.latest_prices(ctx.uow, products):
        prices[quote.product].append(quote)
    asked: dict[str, list[ProductAsked]] = defaultdict(list)
    before: dict[str, list[ProductAsked]] = defaultdict(list)
    for into, (start, end) in ((asked, this_week), (before, last_week)):
        for row in await dashboard.asked_between(ctx.uow, start, end, products):
            into[row.product].append(row)
    shown = sorted(set(prices) | set(asked) | set(before)) if products is None else products
    return {
        p: (quotes_of(ctx, prices[p]), groups_of(ctx, asked[p], before[p], None)) for p in shown
    }


async def _asking_lines(ctx: Scope, product: str) -> list[str]:
    return [_asking_line(ctx, group) for group in await asking_groups(ctx, product)]


def _asking_line(ctx: Scope, group: AskingGroup) -> str:
    """Range and median of one group's prices, with the change on the group's last week."""
    change = (
        ""
        if group.change_pct is None
        else ctx.text("price_change", pct=f"{group.change_pct:+.0f}%")
    )

    def fmt(value: Decimal) -> str:
        return units.unit_price(value, group.currency, group.unit, ctx.lang)

    if group.n == 1:
        return ctx.text("price_asking_one", price=fmt(group.median), change=change)
    return ctx.text(
        "price_asking",
        low=units.money(group.low, group.currency),
        high=fmt(group.high),
        median=fmt(group.median),
        n=group.n,
        change=change,
    )
