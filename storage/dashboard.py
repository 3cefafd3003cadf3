"""What the coordinators' dashboard reads: activity by day, today's figures, price history,
broadcast history. Read-only; every filter a user types is a bound parameter.

Days are counted in the market's time zone, given as its offset from UTC in seconds (the
zones farmchat serves, Asia/Shanghai and Africa/Nairobi, keep one offset all year)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Integer, Select, and_, cast, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from storage.models import (
    Broadcast,
    InboundLog,
    Listing,
    MarketPrice,
    Order,
    Outbox,
    Subscription,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from storage.uow import UnitOfWork

DAY = 86400
RUNNING = ("scheduled", "queued", "sending")


class DayCount(NamedTuple):
    day: int  # days since 1970-01-01 in the market's time zone
    channel: str
    n: int


class PricePoint(NamedTuple):
    location: str | None
    price: Decimal
    currency: str
    unit: str
    published_at: datetime


class DayAsked(NamedTuple):
    day: int
    price: Decimal
    price_unit: str
    currency: str
    n: int


class ProductPrice(NamedTuple):
    """The newest coordinator price of one product in one market (location None: all), with
    every column of market_prices (a repos.PriceRow)."""

    id: int
    product: str
    location: str | None
    price: Decimal
    currency: str
    unit: str
    published_by: int | None
    published_at: datetime


class ProductAsked(NamedTuple):
    """One asking price of a product and how many listings asked it."""

    product: str
    price: Decimal
    price_unit: str
    currency: str
    n: int


class Today(NamedTuple):
    inbound: dict[str, int]  # channel -> messages received
    pushed: dict[str, int]  # channel -> notifications and broadcast messages sent
    new_listings: int
    orders: dict[str, int]  # status -> orders made today
    top_products: list[tuple[str, int]]  # product -> listings in the last days


def _s(uow: UnitOfWork) -> AsyncSession:
    return uow.session


async def _rows(uow: UnitOfWork, q: Select[*tuple[Any, ...]]) -> Sequence[Any]:
    """A Core statement's rows, straight from the connection (no ORM loading for the
    thousands of rows the board and charts group)."""
    return (await (await uow.session.connection()).execute(q)).all()


def _day(uow: UnitOfWork, column: Any, offset: int) -> ColumnElement[int]:
    """The local day number of a timestamp column, on either database."""
    if _s(uow).get_bind().dialect.name == "sqlite":
        seconds: Any = cast(func.strftime("%s", column), Integer)
    else:
        seconds = func.extract("epoch", column)
    return cast(func.floor((seconds + literal(offset)) / DAY), Integer)


async def _by_day(
    uow: UnitOfWork, column: Any, channel: Any, since: datetime, until: datetime, offset: int
) -> list[DayCount]:
    day = _day(uow, column, offset).label("day")
    q = (
        select(day, channel, func.count())
        .where(column >= since, column < until)
        .group_by(day, channel)
    )
    return [DayCount(int(d), c, int(n)) for d, c, n in await _rows(uow, q)]


async def inbound_by_day(
    uow: UnitOfWork, since: datetime, until: datetime, offset: int
) -> list[DayCount]:
    """Messages received per local day and channel (each got one reply)."""
    return await _by_day(uow, InboundLog.received_at, InboundLog.channel, since, until, offset)


async def pushed_by_day(
    uow: UnitOfWork, since: datetime, until: datetime, offset: int
) -> list[DayCount]:
    """Notifications and broadcast messages sent per local day and channel."""
    return await _by_day(uow, Outbox.sent_at, Outbox.channel, since, until, offset)


async def today(uow: UnitOfWork, since: datetime, until: datetime, top_since: datetime) -> Today:
    """The figures of [since, until). Every count has both bounds, so that the planner reads
    the time index's range instead of walking a whole table in another index's order."""
    s = _s(uow)
    inbound = await s.execute(
        select(InboundLog.channel, func.count())
        .where(InboundLog.received_at >= since, InboundLog.received_at < until)
        .group_by(InboundLog.channel)
    )
    pushed = await s.execute(
        select(Outbox.channel, func.count())
        .where(Outbox.sent_at >= since, Outbox.sent_at < until)
        .group_by(Outbox.channel)
    )
    listings = await s.execute(
        select(func.count())
        .select_from(Listing)
        .where(Listing.created_at >= since, Listing.created_at < until)
    )
    orders = await s.execute(
        select(Order.status, func.count())
        .where(Order.created_at >= since, Order.created_at < until)
        .group_by(Order.status)
    )
    n = func.count().label("n")
    top = await s.execute(
        select(Listing.product, n)
        .where(Listing.created_at >= top_since, Listing.created_at < until)
        .group_by(Listing.product)
        .order_by(n.desc(), Listing.product)
        .limit(5)
    )
    return Today(
        inbound={c: int(k) for c, k in inbound.all()},
        pushed={c: int(k) for c, k in pushed.all()},
        new_listings=int(listings.scalar_one()),
        orders={st: int(k) for st, k in orders.all()},
        top_products=[(p, int(k)) for p, k in top.all()],
    )


async def running_broadcasts(uow: UnitOfWork) -> list[Broadcast]:
    q = select(Broadcast).where(Broadcast.status.in_(RUNNING)).order_by(Broadcast.id)
    return list((await _s(uow).execute(q)).scalars())


async def broadcasts(
    uow: UnitOfWork, before: int | None = None, limit: int = 50
) -> list[Broadcast]:
    """Broadcasts newest first (drafts left unconfirmed are not history)."""
    q = select(Broadcast).where(Broadcast.status != "draft")
    if before is not None:
        q = q.where(Broadcast.id < before)
    q = q.order_by(Broadcast.id.desc()).limit(limit)
    return list((await _s(uow).execute(q)).scalars())


async def progress(uow: UnitOfWork, ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Outbox rows by status for each of the broadcasts."""
    if not ids:
        return {}
    q = (
        select(Outbox.broadcast_id, Outbox.status, func.count())
        .where(Outbox.broadcast_id.in_(list(ids)))
        .group_by(Outbox.broadcast_id, Outbox.status)
    )
    found: dict[int, dict[str, int]] = {i: {} for i in ids}
    for bid, status, n in (await _s(uow).execute(q)).all():
        found[int(bid or 0)][status] = int(n)
    return found


async def price_history(uow: UnitOfWork, product: str, since: datetime) -> list[PricePoint]:
    """Every coordinator price of the product since, oldest first."""
    q = (
        select(
            MarketPrice.location,
            MarketPrice.price,
            MarketPrice.currency,
            MarketPrice.unit,
            MarketPrice.published_at,
        )
        .where(MarketPrice.product == product, MarketPrice.published_at >= since)
        .order_by(MarketPrice.published_at, MarketPrice.id)
    )
    return [PricePoint(*row) for row in await _rows(uow, q)]


async def asked_by_day(
    uow: UnitOfWork, product: str, since: datetime, until: datetime, offset: int
) -> list[DayAsked]:
    """The asking prices of the product's listings offered each local day, one row per
    distinct price with how many asked it."""
    day = _day(uow, Listing.created_at, offset).label("day")
    q = (
        select(day, Listing.price, Listing.price_unit, Listing.currency, func.count())
        .where(
            Listing.product == product,
            Listing.created_at >= since,
            Listing.created_at < until,
        )
        .group_by(day, Listing.price, Listing.price_unit, Listing.currency)
    )
    return [DayAsked(int(d), p, u, c, int(n)) for d, p, u, c, n in await _rows(uow, q)]


async def subscriptions(
    uow: UnitOfWork,
    product: str = "",
    user_id: int = 0,
    before: int | None = None,
    limit: int = 50,
) -> list[Subscription]:
    """Active subscriptions, newest first, of one product or user when given."""
    q = select(Subscription).where(Subscription.active.is_(True))
    if product:
        q = q.where(Subscription.product == product)
    if user_id:
        q = q.where(Subscription.user_id == user_id)
    if before is not None:
        q = q.where(Subscription.id < before)
    q = q.order_by(Subscription.id.desc()).limit(limit)
    return list((await _s(uow).execute(q)).scalars())


async def latest_prices(
    uow: UnitOfWork, products: Sequence[str] | None = None
) -> list[ProductPrice]:
    """The newest price of each product (of every product when None) in each market, newest
    first: the whole board's coordinator prices at once (repos.Prices.latest gives one
    product's). Each market's newest moment comes off ix_market_prices_latest, then its row;
    of prices published at the very same moment the later one counts."""
    last = select(
        MarketPrice.product, MarketPrice.location, func.max(MarketPrice.published_at).label("at")
    ).group_by(MarketPrice.product, MarketPrice.location)
    if products is not None:
        last = last.where(MarketPrice.product.in_(list(products)))
    newest = last.subquery("newest")
    q = select(*(MarketPrice.__table__.c[name] for name in ProductPrice._fields)).join(
        newest,
        and_(
            MarketPrice.product == newest.c.product,
            MarketPrice.location.is_not_distinct_from(newest.c.location),
            MarketPrice.published_at == newest.c.at,
        ),
    )
    found: dict[tuple[str, str | None], ProductPrice] = {}
    for row in await _rows(uow, q):
        price = ProductPrice(*row)
        kept = found.get((price.product, price.location))
        if kept is None or kept.id < price.id:
            found[price.product, price.location] = price
    return sorted(found.values(), key=lambda p: (p.published_at, p.id), reverse=True)


async def asked_between(
    uow: UnitOfWork, start: datetime, end: datetime, products: Sequence[str] | None = None
) -> list[ProductAsked]:
    """The asking prices of the products' (every product's when None) listings offered in
    [start, end), whatever their status now but cancelled, one row per product and distinct
    price (as storage.asking does for one product), in one statement for the whole board."""
    q = (
        select(Listing.product, Listing.price, Listing.price_unit, Listing.currency, func.count())
        .where(
            Listing.created_at >= start,
            Listing.created_at < end,
            Listing.status != "cancelled",
        )
        .group_by(Listing.product, Listing.price, Listing.price_unit, Listing.currency)
    )
    if products is not None:
        q = q.where(Listing.product.in_(list(products)))
    return [ProductAsked(p, x, u, c, int(n)) for p, x, u, c, n in await _rows(uow, q)]
