"""/admin: today's messages by channel, new listings, orders by status, broadcasts running,
top products, and 30 days of activity."""

from __future__ import annotations

from datetime import date, timedelta

from aiohttp import web

from bot.web import charts
from bot.web.base import lang, local_midnight, now, render, services, text, utc_offset
from storage import dashboard

DAYS = 30
EPOCH = date(1970, 1, 1)


def day_name(day: int, lang: str) -> str:
    d = EPOCH + timedelta(days=day)
    return f"{d.month}月{d.day}日" if lang == "zh" else d.strftime("%d %b")


class PastDays:
    """Counts of complete past days do not change: kept per process by UTC offset, so only
    today is counted on every visit (a million messages would otherwise be grouped on every
    page)."""

    def __init__(self) -> None:
        self.days: dict[int, dict[int, tuple[int, int]]] = {}


PAST = web.AppKey("past_days", PastDays)


async def activity(request: web.Request) -> tuple[list[int], dict[int, tuple[int, int]]]:
    """Per local day of the last 30: (messages in, messages out); out counts each reply and
    every notification or broadcast message sent."""
    at = now()
    midnight = local_midnight(request, at)
    offset = utc_offset(request, at)
    today_n = (midnight.date() - EPOCH).days
    days = list(range(today_n - DAYS + 1, today_n + 1))
    past = request.app[PAST].days.setdefault(offset, {})
    known = all(d in past for d in days[:-1])
    since = midnight if known else midnight - timedelta(days=DAYS - 1)
    until = at + timedelta(seconds=1)
    async with services(request).db.reader() as uow:
        inbound = await dashboard.inbound_by_day(uow, since, until, offset)
        pushed = await dashboard.pushed_by_day(uow, since, until, offset)
    totals: dict[int, tuple[int, int]] = {}
    for row in inbound:
        i, o = totals.get(row.day, (0, 0))
        totals[row.day] = (i + row.n, o + row.n)  # every message got its one reply
    for row in pushed:
        i, o = totals.get(row.day, (0, 0))
        totals[row.day] = (i, o + row.n)
    for d in days[:-1]:
        if known:
            totals[d] = past[d]
        else:
            past[d] = totals.get(d, (0, 0))
    return days, totals


async def overview(request: web.Request) -> web.StreamResponse:
    at = now()
    midnight = local_midnight(request, at)
    async with services(request).db.reader() as uow:
        figures = await dashboard.today(
            uow, midnight, at + timedelta(seconds=1), at - timedelta(days=7)
        )
        running = await dashboard.running_broadcasts(uow)
        progress = await dashboard.progress(uow, [b.id for b in running])
    days, totals = await activity(request)
    language = lang(request)
    chart = charts.render(
        charts.Chart(
            title=text(request, "activity_30"),
            x_labels=charts.day_labels(days, lambda d: day_name(d, language), 5),
            x_range=(days[0] - 0.6, days[-1] + 0.6),
            bars=[
                charts.Series(text(request, "in"), [(d, totals.get(d, (0, 0))[0]) for d in days]),
                charts.Series(text(request, "out"), [(d, totals.get(d, (0, 0))[1]) for d in days]),
            ],
            y_format=lambda v: f"{v:,.0f}",
        )
    )
    channels = sorted(set(figures.inbound) | set(figures.pushed))
    replies_out = {c: figures.inbound.get(c, 0) + figures.pushed.get(c, 0) for c in channels}
    return render(
        request,
        "overview.html",
        figures=figures,
        channels=channels,
        out=replies_out,
        running=running,
        progress=progress,
        chart=chart,
    )
