"""A product's asking prices over the price answer's two weeks, the older part held in memory.

A price answer counts the asking prices of a product's listings made in this week and the one
before (repos.ASKED): on a busy market a few thousand index entries a question, the largest
part of its cost. Listings made more than a couple of hours ago rarely change in what counts
there, so each process holds their (time, price, unit, currency) per product, and reads from
the database only the newest hours and a stamp. The listings table's triggers (migration
0013) give a product a new random stamp, in the same transaction, when one of its listings is
cancelled or un-cancelled, changes price, unit, currency, product or time, is deleted, or is
inserted with a time over an hour old; a process whose stamp differs from the one it reads
reads the product's held part again (also every hour, as the held part ages). The database's
own stamp is read beside it, so a database made anew never matches what was held of another.

What is held is of listings made before the cutoff, two hours behind this process's clock:
a listing made after it is read from the database every time, and one inserted before it
(an hour older than the database's clock, or more) changes the stamp; so up to an hour of
difference between the clocks of the hosts and the database is allowed for.
"""

from __future__ import annotations

import bisect
import weakref
from collections import Counter, OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.fast import Prepared, Transaction
from storage.models import AskingStamp, Listing

LAG = timedelta(hours=2)  # what is held: listings made before this process's now - LAG
FRESH = timedelta(hours=1)  # a held part is read again once its cutoff is LAG + FRESH old
SPAN = timedelta(days=15)  # how far back from the cutoff is held: two weeks and a day
PRODUCTS = 512  # products held per process, the least recently asked dropped first


class Asked(NamedTuple):
    """An asking price and how many listings asked it (as repos.ASKED reads them)."""

    price: Decimal
    price_unit: str
    currency: str
    n: int


class _Stamps(Protocol):
    @property
    def stamp(self) -> int | None: ...
    @property
    def epoch(self) -> int | None: ...


class Priced(Protocol):
    """What a listing asks: a price per unit in a currency."""

    @property
    def price(self) -> Decimal: ...
    @property
    def price_unit(self) -> str: ...
    @property
    def currency(self) -> str: ...


class _Made(Priced, Protocol):
    @property
    def created_at(self) -> datetime: ...


def _stamp_of(product: Any) -> Any:
    return select(AskingStamp.stamp).where(AskingStamp.product == product).scalar_subquery()


STAMPS: Prepared[_Stamps] = Prepared(
    select(
        _stamp_of(bindparam("product")).label("stamp"),
        _stamp_of("").label("epoch"),
    )
)
_COUNTED = (
    Listing.product == bindparam("product"),
    Listing.created_at >= bindparam("start"),
    Listing.created_at < bindparam("end"),
    Listing.status != "cancelled",
)
# one row per distinct asking price of [start, end) (the newest hours; a window not held)
ASKED: Prepared[Asked] = Prepared(
    select(Listing.price, Listing.price_unit, Listing.currency, func.count().label("n"))
    .where(*_COUNTED)
    .group_by(Listing.price, Listing.price_unit, Listing.currency)
)
# each listing of [start, end) in time order: the part held
MADE: Prepared[_Made] = Prepared(
    select(Listing.created_at, Listing.price, Listing.price_unit, Listing.currency)
    .where(*_COUNTED)
    .order_by(Listing.created_at)
)

Key = tuple[Decimal, str, str]


@dataclass(frozen=True)
class _Held:
    stamp: tuple[int | None, int | None]
    start: datetime
    cutoff: datetime
    times: list[datetime]
    keys: list[Key]


class Held:
    """One process's held asking prices, per product, of one database."""

    def __init__(self) -> None:
        self._products: OrderedDict[str, _Held] = OrderedDict()

    def get(self, product: str) -> _Held | None:
        held = self._products.get(product)
        if held is not None:
            self._products.move_to_end(product)
        return held

    def put(self, product: str, held: _Held) -> None:
        self._products[product] = held
        self._products.move_to_end(product)
        while len(self._products) > PRODUCTS:
            self._products.popitem(last=False)


_BY_ENGINE: weakref.WeakKeyDictionary[Any, Held] = weakref.WeakKeyDictionary()


def _held_of(session: AsyncSession) -> Held:
    bind = session.bind
    assert bind is not None  # a Database's sessions are bound to its engine
    engine = bind.sync_engine
    held = _BY_ENGINE.get(engine)
    if held is None:
        held = _BY_ENGINE[engine] = Held()
    return held


async def stamp_of(uow: Transaction, product: str) -> tuple[int | None, int | None]:
    """The product's stamp and the database's: any change to what a listing of the product
    asked, made before now, gives a new one (migration 0013)."""
    read = await STAMPS.first(uow, {"product": product})
    return (read.stamp, read.epoch) if read is not None else (None, None)


async def asked_between(
    uow: Transaction, product: str, start: datetime, end: datetime
) -> list[Asked]:
    """(price, price_unit, currency, n) of a product's listings made in [start, end) and not
    cancelled: the held part, and the rest from the database, in this unit of work."""
    now = datetime.now(UTC)
    held_here = _held_of(uow.session)
    stamp = await stamp_of(uow, product)
    held = held_here.get(product)
    if held is None or held.stamp != stamp or held.cutoff < now - LAG - FRESH:
        cutoff = now - LAG
        made = await MADE.all(uow, {"product": product, "start": cutoff - SPAN, "end": cutoff})
        held = _Held(
            stamp,
            cutoff - SPAN,
            cutoff,
            [m.created_at for m in made],
            [(m.price, m.price_unit, m.currency) for m in made],
        )
        held_here.put(product, held)
    if start < held.start:  # older than what is held: all of it from the database
        return await ASKED.all(uow, {"product": product, "start": start, "end": end})
    counts: Counter[Key] = Counter()
    if start < held.cutoff:
        lo = bisect.bisect_left(held.times, start)
        hi = bisect.bisect_left(held.times, min(end, held.cutoff))
        counts.update(held.keys[lo:hi])
    if end > held.cutoff:
        newest = {"product": product, "start": max(start, held.cutoff), "end": end}
        for row in await ASKED.all(uow, newest):
            counts[(row.price, row.price_unit, row.currency)] += row.n
    return [Asked(price, unit, currency, n) for (price, unit, currency), n in counts.items()]
