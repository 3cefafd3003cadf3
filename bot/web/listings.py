"""/admin/listings: every listing with its farmer, filtered by product, place, status, farmer
and day, searched by farmer name, number or reference, newest first a page at a time; a CSV
file of what the filters show; one listing with its orders; and expiring a listing, which
cancels the orders still waiting for its farmer and tells the farmer and their buyers.

The filter, paging and CSV helpers here serve the orders page too (bot/web/orders.py)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.web import forms
from bot.web.base import account, lang, now, render, see_other, services, text, zone
from handlers import moderation as actions
from handlers import units
from storage import moderation as reads

FIELDS = ("product", "place", "status", "q", "from", "to", "farmer", "buyer")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
FORMULA = ("=", "+", "-", "@", "\t", "\r")  # a cell starting so is read as a formula
CSV_CHUNK = 2000


# reading the filters ------------------------------------------------------------------------
def day(value: str, name: str) -> date | None:
    if not value:
        return None
    if not DAY.fullmatch(value):
        raise forms.FormError(name)
    try:
        found = date.fromisoformat(value)
    except ValueError:
        raise forms.FormError(name) from None
    if not 1970 <= found.year <= 9000:
        raise forms.FormError(name)
    return found


def an_id(value: str) -> int | None:
    """A row's id as typed in a URL; None when it cannot be one."""
    if not value.isdigit() or len(value) > len(str(reads.LARGEST_ID)):
        return None
    number = int(value)
    return number if 0 < number <= reads.LARGEST_ID else None


def _user_id(value: str, name: str) -> int | None:
    if not value:
        return None
    found = an_id(value)
    if found is None:
        raise forms.FormError(name)
    return found


def read_filters(
    request: web.Request, statuses: tuple[str, ...], people: tuple[str, ...]
) -> tuple[reads.Filters, dict[str, str]]:
    """The filters in the query, checked (FormError names a bad one), and as given, for the
    form and the links. Days are the market's local days; `to` includes its whole day."""
    given = {k: request.query.get(k, "").strip() for k in FIELDS}
    given["q"] = given["q"][: reads.MAX_SEARCH]
    catalog = services(request).catalog
    here = zone(request)
    since, until = day(given["from"], "from"), day(given["to"], "to")
    found = reads.Filters(
        product=forms.product(catalog, given["product"], required=False),
        place=forms.place(catalog, given["place"]),
        status=forms.choice(given["status"], statuses, "status", "") or None,
        search=given["q"],
        since=None if since is None else datetime.combine(since, time(), here),
        until=None if until is None else datetime.combine(until + timedelta(days=1), time(), here),
        farmer_id=_user_id(given["farmer"], "farmer"),
        buyer_id=_user_id(given["buyer"], "buyer") if "buyer" in people else None,
    )
    if "buyer" not in people:
        given["buyer"] = ""
    return found, given


def cursor(request: web.Request) -> int | None:
    """?before=<id>: the page of rows older than that one."""
    value = request.query.get("before", "")
    if not value:
        return None
    found = an_id(value)
    if found is None:
        raise forms.FormError("before")
    return found


def query_of(given: dict[str, str], **more: object) -> str:
    """The filters as a query string, for the next page and the CSV link."""
    pairs = {k: v for k, v in given.items() if v}
    pairs.update({k: str(v) for k, v in more.items() if v is not None})
    return urlencode(pairs)


def bad_filter(request: web.Request, error: forms.FormError) -> str:
    return text(request, "lst_bad_filter", what=text(request, f"lst_f_{error}"))


def record_id(request: web.Request) -> int:
    found = an_id(request.match_info["id"])
    if found is None:
        raise web.HTTPNotFound(text=text(request, "not_found"))
    return found


# showing values -----------------------------------------------------------------------------
class Show:
    """How the pages and CSV files write values, in the page's language and the market's
    time zone."""

    def __init__(self, request: web.Request):
        self.request = request
        self.lang = lang(request)
        self.zone = zone(request)
        self.catalog = services(request).catalog

    def when(self, at: datetime | None) -> str:
        return at.astimezone(self.zone).strftime("%Y-%m-%d %H:%M") if at else ""

    def provider(self, status: str) -> str:
        """A provider's delivery status in words; one this page has no words for, as given."""
        key = "ord_ps_" + status
        said = text(self.request, key)
        return status if said == key else said

    def moment(self, at: datetime) -> str:
        """A time on a timeline, to the second."""
        return at.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")

    def stamp(self, at: datetime | None) -> str:
        """For a CSV cell: ISO 8601 with the market's offset."""
        return at.astimezone(self.zone).isoformat(timespec="seconds") if at else ""

    def qty(self, value: Decimal, unit: str) -> str:
        return units.qty(value, unit, self.lang)

    def price(self, value: Decimal, currency: str, per: str) -> str:
        return units.unit_price(value, currency, per, self.lang)

    def total(self, o: reads.OrderLine) -> str:
        amount = self.amount(o)
        if amount is None:
            return self.price(o.price, o.currency, o.price_unit)
        return units.money(amount, o.currency)

    @staticmethod
    def amount(o: reads.OrderLine) -> Decimal | None:
        found = units.line_total(o.quantity, o.unit, o.price, o.price_unit)
        return None if found is None else found.quantize(Decimal("0.01"))

    def product(self, key: str) -> str:
        return self.catalog.product_name(key, self.lang)

    def place(self, key: str | None) -> str:
        return self.catalog.place_name(key, self.lang)

    @staticmethod
    def number(p: reads.Party) -> str:
        """The number a coordinator calls or texts: a shared phone, else the address."""
        return p.phone or p.address.removeprefix("whatsapp:")

    @staticmethod
    def plain(value: Decimal) -> str:
        """A quantity for a CSV cell: '50', '2.5' (no trailing zeros, no exponent)."""
        return format(value.normalize(), "f")


def filter_values(request: web.Request, statuses: tuple[str, ...], prefix: str) -> dict[str, Any]:
    """What the filter form shows: products and places by name, the statuses in words."""
    show = Show(request)
    catalog = services(request).catalog
    return {
        "products": sorted(catalog.products, key=lambda k: (show.product(k), k)),
        "places": sorted(catalog.places, key=lambda k: (show.place(k), k)),
        "statuses": [(s, text(request, prefix + s)) for s in statuses],
        "show": show,
    }


# CSV ----------------------------------------------------------------------------------------
def cell(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    written = "" if value is None else str(value)
    return "'" + written if written.startswith(FORMULA) else written


async def send_csv(
    request: web.Request,
    name: str,
    header: Sequence[str],
    rows: Iterable[Any],
    line: Callable[[Any], Sequence[object]],
) -> web.StreamResponse:
    """A CSV download: UTF-8 with a BOM (Excel then reads Chinese), a header row, one line
    per row, written out in chunks."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    buffer = io.StringIO()
    out = csv.writer(buffer)
    buffer.write("\ufeff")
    out.writerow([cell(h) for h in header])
    for n, row in enumerate(rows, 1):
        out.writerow([cell(v) for v in line(row)])
        if n % CSV_CHUNK == 0:
            await response.write(buffer.getvalue().encode("utf-8"))
            buffer.seek(0)
            buffer.truncate()
    await response.write(buffer.getvalue().encode("utf-8"))
    await response.write_eof()
    return response


def file_name(kind: str) -> str:
    return f"farmchat-{kind}-{now().strftime('%Y%m%d-%H%M')}.csv"


# the pages ----------------------------------------------------------------------------------
def add_routes(r: web.UrlDispatcher) -> None:
    """The page's routes."""
    r.add_get("/admin/listings", page)
    r.add_get("/admin/listings.csv", export)
    r.add_get("/admin/listings/{id}", detail)
    r.add_post("/admin/listings/{id}/expire", expire)


async def page(request: web.Request) -> web.StreamResponse:
    return await list_page(
        request,
        "listings.html",
        reads.LISTING_STATUSES,
        "lst_st_",
        ("farmer",),
        reads.listings,
        reads.count_listings,
    )


async def list_page(
    request: web.Request,
    template: str,
    statuses: tuple[str, ...],
    prefix: str,
    people: tuple[str, ...],
    fetch: Callable[..., Awaitable[Sequence[Any]]],
    count: Callable[..., Awaitable[int]],
) -> web.StreamResponse:
    """A list page (listings or orders): the filters, how many match, a page of them, the way
    to older ones; bad filters answer 400 with the reason and no rows."""
    values = filter_values(request, statuses, prefix)
    given = {k: request.query.get(k, "")[: reads.MAX_SEARCH] for k in FIELDS}
    try:
        found, given = read_filters(request, statuses, people)
        before = cursor(request)
    except forms.FormError as bad:
        return render(
            request,
            template,
            status=400,
            error=bad_filter(request, bad),
            rows=[],
            total=0,
            older=None,
            paged=False,
            form=given,
            query=query_of(given),
            **values,
        )
    size = services(request).settings.dashboard.page_size
    async with services(request).db.reader() as uow:
        found = await reads.find_people(uow, found)  # once for the page and its count
        total = await count(uow, found)
        rows = await fetch(uow, replace(found, rows=total), before, size + 1)
    return render(
        request,
        template,
        rows=rows[:size],
        total=total,
        older=rows[size - 1].id if len(rows) > size else None,
        paged=before is not None,
        form=given,
        query=query_of(given),
        **values,
    )


async def export(request: web.Request) -> web.StreamResponse:
    """Every listing the filters match (up to storage's export limit), as a CSV file."""
    try:
        found, _ = read_filters(request, reads.LISTING_STATUSES, ("farmer",))
    except forms.FormError as bad:
        raise web.HTTPBadRequest(text=bad_filter(request, bad)) from None
    async with services(request).db.reader() as uow:
        rows = await reads.export_listings(uow, found)
    show = Show(request)
    columns = (
        "ref",
        "created",
        "status",
        "product",
        "product_name",
        "quantity_total",
        "quantity_available",
        "unit",
        "price",
        "currency",
        "price_unit",
        "place",
        "place_name",
        "farmer",
        "farmer_channel",
        "farmer_address",
        "expires",
    )

    def line(x: reads.ListingLine) -> list[object]:
        return [
            x.id,
            show.stamp(x.created_at),
            text(request, "lst_st_" + x.status),
            x.product,
            show.product(x.product),
            show.plain(x.quantity_total),
            show.plain(x.quantity_available),
            x.unit,
            x.price,
            x.currency,
            x.price_unit,
            x.location or "",
            show.place(x.location),
            x.farmer.name or "",
            x.farmer.channel,
            show.number(x.farmer),
            show.stamp(x.expires_at),
        ]

    header = [text(request, "lst_csv_" + c) for c in columns]
    return await send_csv(request, file_name("listings"), header, rows, line)


async def detail(request: web.Request) -> web.StreamResponse:
    """One listing: its numbers, its farmer, its orders, what coordinators did to it, and the
    way to expire it."""
    listing_id = record_id(request)
    async with services(request).db.reader() as uow:
        found = await reads.listing(uow, listing_id)
    if found is None:
        raise web.HTTPNotFound(text=text(request, "not_found"))
    notice = ""
    done = request.query.get("done", "")
    status = text(request, "lst_st_" + found.listing.status)
    if done == "expired":
        notice = text(request, "lst_done_expired", ref=listing_id)
    elif done == "unchanged":
        notice = text(request, "lst_done_unchanged", ref=listing_id, status=status)
    return render(
        request,
        "listing.html",
        x=found.listing,
        orders=found.orders,
        history=found.history,
        notice=notice,
        show=Show(request),
        at=now(),
    )


async def expire(request: web.Request) -> web.StreamResponse:
    """Expire the listing now, tell the farmer and the buyers of its waiting orders, and show
    the listing again (a second click changes nothing and says so)."""
    listing_id = record_id(request)
    svc = services(request)
    at = now()
    async with svc.db.uow() as uow:
        outcome = await actions.expire_listing(
            uow, svc.settings, svc.catalog, listing_id, account(request).name, at
        )
        if outcome is None:
            raise web.HTTPNotFound(text=text(request, "not_found"))
        claimed = await svc.outbound.queue(uow, outcome.notices, at)
        await uow.commit()
    await svc.outbound.deliver(claimed)
    done = "expired" if outcome.changed else "unchanged"
    raise see_other(f"/admin/listings/{listing_id}?done={done}")
