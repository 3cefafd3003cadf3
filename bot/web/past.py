"""The asking prices of complete past days, kept per process.

A past day's asking prices change only when one of its listings changes price, unit,
currency, product or time, or is deleted or inserted late, each of which gives the product a
new stamp (storage/asking.py): so a product's asking prices per day are read once for the
days that are over, again when its stamp has changed, and only the first (partial) day of
the window and today are read on every visit: a 90-day chart groups a few hundred listings,
not the tens of thousands of a busy product's quarter."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from storage import asking, dashboard
from storage.dashboard import DAY, DayAsked
from storage.uow import UnitOfWork


class PastAsked:
    """(product, UTC offset) -> local day -> that day's asking prices (empty: none), for the
    KEPT products looked at last (a busy product's year is some 15,000 rows)."""

    KEPT = 8

    def __init__(self) -> None:
        self.days: dict[tuple[str, int], dict[int, list[DayAsked]]] = {}
        self.stamps: dict[tuple[str, int], object] = {}

    def of(self, product: str, offset: int, stamp: object = None) -> dict[int, list[DayAsked]]:
        key = (product, offset)
        known = self.days.pop(key, None)
        if known is not None and self.stamps.get(key) != stamp:
            known = None  # one of its listings changed since: read every day again
        self.stamps[key] = stamp
        if known is None:
            known = {}
            while len(self.days) >= self.KEPT:  # the one looked at longest ago goes
                gone = next(iter(self.days))
                del self.days[gone], self.stamps[gone]
        self.days[key] = known  # now the newest
        return known


PAST_ASKED = web.AppKey("past_asked", PastAsked)


def _day(at: datetime, offset: int) -> int:
    return int((at.timestamp() + offset) // DAY)


def _midnight(day: int, offset: int) -> datetime:
    return datetime.fromtimestamp(day * DAY - offset, UTC)


async def asked_by_day(
    app: web.Application,
    uow: UnitOfWork,
    product: str,
    since: datetime,
    until: datetime,
    offset: int,
) -> list[DayAsked]:
    """What storage.dashboard.asked_by_day answers for [since, until), the days between the
    first and the last taken from this process's memory once read."""
    first, last = _day(since, offset), _day(until, offset)
    if first == last:
        return await dashboard.asked_by_day(uow, product, since, until, offset)
    known = app[PAST_ASKED].of(product, offset, await asking.stamp_of(uow, product))
    middle = range(first + 1, last)
    if any(d not in known for d in middle):
        rows = await dashboard.asked_by_day(
            uow, product, _midnight(first + 1, offset), _midnight(last, offset), offset
        )
        fresh: dict[int, list[DayAsked]] = {d: [] for d in middle}
        for row in rows:
            fresh[row.day].append(row)
        known.update(fresh)
    head = await dashboard.asked_by_day(uow, product, since, _midnight(first + 1, offset), offset)
    tail = await dashboard.asked_by_day(uow, product, _midnight(last, offset), until, offset)
    return [*head, *(row for d in middle for row in known[d]), *tail]


def install(app: web.Application) -> None:
    app[PAST_ASKED] = PastAsked()
