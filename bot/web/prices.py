"""/admin/prices: the board of products × markets (the same numbers as the SMS price answer),
a product's 90 days as a chart, and publishing a price through the broadcast preview."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from aiohttp import web

from bot.web import charts, forms, past
from bot.web.base import lang, now, render, scope, see_other, services, text, utc_offset
from handlers import broadcasts as engine
from handlers import prices as answers
from handlers import units
from handlers.currency import mass_unit
from storage import broadcasts as records
from storage import dashboard

HISTORY_DAYS = 90
EPOCH = date(1970, 1, 1)


class BoardRow(NamedTuple):
    product: str
    quotes: dict[str | None, answers.Quote]  # market -> its latest coordinator price
    asking: list[answers.AskingGroup]


async def board(request: web.Request) -> web.StreamResponse:
    return render(request, "prices.html", **await _board_values(request), form=defaults(request))


def _money(request: web.Request):
    words = lang(request)

    def money(value: Decimal, currency: str, unit: str) -> str:
        return units.unit_price(value, currency, unit, words)

    return money


def defaults(request: web.Request, **given: str) -> dict[str, str]:
    market = services(request).settings.market
    return {
        "product": "",
        "price": "",
        "currency": market.currency,
        "unit": market.display_unit,
        "place": "",
        **given,
    }


async def product_page(request: web.Request) -> web.StreamResponse:
    product = request.match_info["product"]
    svc = services(request)
    if product not in svc.catalog.products:
        raise web.HTTPNotFound(text=text(request, "not_found"))
    at = now()
    offset = utc_offset(request, at)
    since = at - timedelta(days=HISTORY_DAYS)
    async with svc.db.reader() as uow:
        ctx = scope(request, uow)
        history = await dashboard.price_history(uow, product, since)
        asked = await past.asked_by_day(
            request.app, uow, product, since, at + timedelta(seconds=1), offset
        )
        quotes = await answers.market_quotes(ctx, product)
        asking = await answers.asking_groups(ctx, product, None)
        currency = svc.settings.market.currency
        per = mass_unit(ctx, currency)
    chart = _chart(request, product, history, asked, currency, per, offset, at)
    return render(
        request,
        "price_product.html",
        product=product,
        chart=chart,
        history=list(reversed(history)),
        quotes=quotes,
        asking=asking,
        money=_money(request),
        form=defaults(request, product=product),
    )


def _day(at: datetime, offset: int) -> float:
    return (at.timestamp() + offset) / 86400


def _chart(
    request: web.Request,
    product: str,
    history: list[dashboard.PricePoint],
    asked: list[dashboard.DayAsked],
    currency: str,
    per: str,
    offset: int,
    at: datetime,
) -> object:
    """Coordinator prices per market as lines, and the asking median per day with its range
    as a band, all in the deployment's currency per its mass unit (other currencies and
    count units are in the tables, never mixed into one line)."""
    words = lang(request)
    catalog = services(request).catalog
    lines: dict[str | None, list[tuple[float, float]]] = defaultdict(list)
    for p in history:
        value = units.price_per(p.price, p.unit, per) if p.currency == currency else None
        if value is not None:
            lines[p.location].append((_day(p.published_at, offset), float(value)))
    by_day: dict[int, list[Decimal]] = defaultdict(list)
    for a in asked:
        value = units.price_per(a.price, a.price_unit, per) if a.currency == currency else None
        if value is not None:
            by_day[a.day] += [value] * a.n
    band, medians = [], []
    for day, prices in sorted(by_day.items()):
        prices.sort()
        mid = (
            prices[len(prices) // 2]
            if len(prices) % 2
            else sum(prices[len(prices) // 2 - 1 : len(prices) // 2 + 1]) / 2
        )
        band.append((day + 0.5, float(prices[0]), float(prices[-1])))
        medians.append((day + 0.5, float(mid)))
    today = _day(at, offset)
    first = today - HISTORY_DAYS
    ticks = []
    for k in range(0, HISTORY_DAYS + 1, 15):
        d = EPOCH + timedelta(days=int(first + k))
        ticks.append(
            (
                float(int(first + k)),
                f"{d.month}月{d.day}日" if words == "zh" else d.strftime("%d %b"),
            )
        )
    series = [
        charts.Series(catalog.place_name(m, words) or text(request, "all_markets"), pts)
        for m, pts in sorted(lines.items(), key=lambda kv: (kv[0] is not None, kv[0] or ""))
    ]
    if medians:
        series.append(charts.Series(text(request, "asking_median"), medians, "#c2571a"))
    name = catalog.product_name(product, words)
    return charts.render(
        charts.Chart(
            title=text(request, "history_90", product=name),
            x_labels=ticks,
            x_range=(first, today + 1),
            lines=series,
            bands=[charts.Band(text(request, "asking_range"), band)] if band else [],
            y_format=lambda v: units.unit_price(Decimal(str(round(v, 2))), currency, per, words),
        )
    )


async def preview(request: web.Request) -> web.StreamResponse:
    """The price form: a draft broadcast, made as the SMS command makes it, shown with its
    audience and cost; nothing is published before it is confirmed."""
    svc = services(request)
    form = await request.post()
    given = {k: forms.field(form, k) for k in ("product", "price", "currency", "unit", "place")}
    try:
        product = forms.product(svc.catalog, given["product"])
        amount = forms.price(given["price"])
        currency = forms.currency(given["currency"], svc.settings.market.currency)
        unit = forms.choice(
            given["unit"], forms.PRICE_UNITS, "unit", svc.settings.market.display_unit
        )
        place = forms.place(svc.catalog, given["place"])
    except forms.FormError as bad:
        return await _refused(request, str(bad), given)
    assert product is not None
    at = now()
    bc = engine.new_price(
        svc.catalog, svc.settings, product, place, amount, currency, unit, at, None
    )
    async with svc.db.uow() as uow:
        await records.save(uow, bc)
        await uow.commit()
    raise see_other(f"/admin/broadcasts/{bc.id}")


async def _refused(request: web.Request, what: str, given: dict[str, str]) -> web.StreamResponse:
    return render(
        request,
        "prices.html",
        status=400,
        error=text(request, "bad_form", what=text(request, what)),
        **await _board_values(request),
        form=defaults(request, **given),
    )


async def _board_values(request: web.Request) -> dict[str, Any]:
    rows: list[BoardRow] = []
    markets: set[str | None] = set()
    async with services(request).db.reader() as uow:
        ctx = scope(request, uow)
        for product, (found, groups) in (await answers.board(ctx)).items():
            quotes = {q.location: q for q in found}
            markets |= set(quotes)
            rows.append(BoardRow(product, quotes, groups))
    order = sorted(markets, key=lambda m: (m is not None, m or ""))
    return {"rows": rows, "markets": order, "money": _money(request)}
