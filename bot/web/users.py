"""/admin/users: everyone who has texted farmchat, found by number, name or place, by channel
and by whether they still take broadcasts (STOP opts out); what each does (subscriptions,
listings, orders); the list as CSV (taking broadcasts, opted out, or everyone); and, for an
admin, making a chat user a coordinator or a plain user again.

Numbers are shown whole (coordinators call people) but never written to the log."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.web import forms
from bot.web.accounts import flash, flashed
from bot.web.auth import admin_only
from bot.web.base import account, lang, now, record_id, render, see_other, services, text, zone
from bot.web.listings import send_csv
from handlers import units
from storage import audit, people
from storage.people import Filters, Person

FILTERS = ("q", "place", "channel", "optout")
CSV_COLUMNS = (
    "id",
    "channel",
    "address",
    "name",
    "place",
    "language",
    "role",
    "opted_out",
    "phone",
    "subscriptions",
    "listings",
    "orders",
    "account",
    "created",
    "last_seen",
)


def _given(query: Mapping[str, str]) -> dict[str, str]:
    return {k: str(query.get(k, "")).strip()[: people.MAX_SEARCH] for k in FILTERS}


def read_filters(request: web.Request, given: dict[str, str]) -> Filters:
    """The page's filters; FormError names the one that is wrong."""
    catalog = services(request).catalog
    place = forms.place(catalog, given["place"])
    channel = forms.choice(given["channel"], forms.CHANNELS, "channel", "") or None
    optout = forms.choice(given["optout"], people.OPTOUT, "usr_optout", "all")
    words = given["q"].casefold()
    named = tuple(
        key
        for key, p in catalog.places.items()
        if words and (words == key or any(words in n.casefold() for n in p.names))
    )
    return Filters(given["q"], named, place, channel, optout)


def _link(given: dict[str, str], path: str = "/admin/users", **over: str) -> str:
    values = {k: v for k, v in {**given, **over}.items() if v}
    return path + ("?" + urlencode(values) if values else "")


def _when(request: web.Request, at: datetime | None) -> str:
    return "" if at is None else at.astimezone(zone(request)).strftime("%Y-%m-%d %H:%M")


def _frame(request: web.Request) -> dict[str, Any]:
    """What the users templates share: dates in the market's zone, money, quantities."""
    words = lang(request)

    def total(deal: people.Deal) -> str:
        value = units.line_total(deal.quantity, deal.unit, deal.price, deal.price_unit)
        return "–" if value is None else units.money(value, deal.currency)

    return {
        "when": lambda at: _when(request, at),
        "money": lambda v, c, u: units.unit_price(v, c, u, words),
        "qty": lambda v, u: units.qty(v, u, words),
        "total": total,
        "state_word": lambda s: text(request, "usr_st_" + s) if "usr_st_" + s in _STATES else s,
    }


_STATES = {
    "usr_st_" + s
    for s in (
        "active",
        "sold",
        "expired",
        "cancelled",
        "pending",
        "accepted",
        "declined",
        "delivered",
        "completed",
        "disputed",
    )
}


# the list ----------------------------------------------------------------------------------
async def page(request: web.Request) -> web.StreamResponse:
    given = _given(request.query)
    before = request.query.get("before", "")
    cursor = record_id(before)
    size = services(request).settings.dashboard.page_size
    values: dict[str, Any] = {"given": given, "link": lambda **o: _link(given, **o)}
    try:
        filters = read_filters(request, given)
    except forms.FormError as bad:
        error = text(request, "bad_form", what=text(request, str(bad)))
        return render(
            request, "users.html", status=400, error=error, rows=[], older=None, paged=False,
            **values, **_frame(request),
        )  # fmt: skip
    async with services(request).db.reader() as uow:
        rows = await people.search(uow, filters, cursor, size)
    return render(
        request,
        "users.html",
        rows=rows,
        older=rows[-1].id if len(rows) == size else None,
        paged=cursor is not None,
        notice=await flashed(request),
        **values,
        **_frame(request),
    )


# the CSV -----------------------------------------------------------------------------------
def _line(request: web.Request) -> Callable[[Person], list[object]]:
    words = lang(request)
    catalog = services(request).catalog
    yes, no = text(request, "yes"), text(request, "no")

    def line(p: Person) -> list[object]:
        return [
            p.id,
            p.channel,
            p.address,
            p.name,
            catalog.place_name(p.place, words),
            p.language,
            p.role,
            yes if p.opted_out else no,
            p.phone,
            p.subscriptions,
            p.listings,
            p.orders,
            p.account,
            p.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            p.last_seen_at.strftime("%Y-%m-%d %H:%M:%S"),
        ]

    return line


async def export(request: web.Request) -> web.StreamResponse:
    """The users the filters match, every one of them (not a page), as a spreadsheet."""
    given = _given(request.query)
    try:
        filters = read_filters(request, given)
    except forms.FormError as bad:
        raise web.HTTPBadRequest(
            text=text(request, "bad_form", what=text(request, str(bad)))
        ) from None
    at = now()
    svc = services(request)
    async with svc.db.reader() as uow:
        rows = await people.export(uow, filters)
    async with svc.db.uow() as uow:
        # what was asked, short of the typed search: it may be a phone number (never logged)
        detail = {k: given[k] for k in ("place", "channel") if given[k]}
        await audit.record(
            uow,
            account(request).name,
            "users.exported",
            "users",
            at,
            count=len(rows),
            optout=filters.optout,
            searched=bool(given["q"]),
            **detail,
        )
        await uow.commit()
    name = f"farmchat-users-{filters.optout}-{at.astimezone(zone(request)):%Y%m%d-%H%M}.csv"
    header = [text(request, "usr_csv_" + c) for c in CSV_COLUMNS]
    return await send_csv(request, name, header, rows, _line(request))


# one user ----------------------------------------------------------------------------------
def _user_id(request: web.Request) -> int:
    found = record_id(request.match_info["id"])
    if found is None:
        raise web.HTTPNotFound(text=text(request, "not_found"))
    return found


async def _detail(request: web.Request, status: int = 200, error: str = "") -> web.Response:
    user_id = _user_id(request)
    async with services(request).db.reader() as uow:
        found = await people.detail(uow, user_id)
    if found is None:
        raise web.HTTPNotFound(text=text(request, "not_found"))
    config = found.person.address in services(request).settings.coordinators.addresses
    return render(
        request,
        "user.html",
        status=status,
        error=error,
        notice="" if error else await flashed(request),
        d=found,
        p=found.person,
        configured=config,
        is_admin=account(request).role == "admin",
        **_frame(request),
    )


async def detail(request: web.Request) -> web.StreamResponse:
    return await _detail(request)


@admin_only
async def change_role(request: web.Request) -> web.StreamResponse:
    """Make a chat user a coordinator (they can then publish prices and broadcast by chat), or
    a plain user again. An address linked to an account, or named in coordinators.addresses,
    stays a coordinator: the page says where to change it instead."""
    user_id = _user_id(request)
    form = await request.post()
    role = forms.field(form, "role")
    if role not in people.CHAT_ROLES:
        error = text(request, "bad_form", what=text(request, "usr_role"))
        return await _detail(request, 400, error)
    svc = services(request)
    refused = ""
    async with svc.db.uow() as uow:
        found = await people.detail(uow, user_id)
        if found is None:
            raise web.HTTPNotFound(text=text(request, "not_found"))
        p = found.person
        if role == "user" and p.account is not None:
            refused = text(request, "usr_role_linked", name=p.account)
        elif role == "user" and p.address in svc.settings.coordinators.addresses:
            refused = text(request, "usr_role_config")
        else:
            was = await people.set_role(uow, user_id, role)
            if was != role:
                await audit.record(
                    uow,
                    account(request).name,
                    "user.role_changed",
                    f"user #{user_id}",
                    now(),
                    role=role,
                    was=was,
                    channel=p.channel,
                )
                await uow.commit()
    if refused:  # rendered once the unit of work is closed: SQLite has one connection
        return await _detail(request, 400, refused)
    words = text(request, "usr_role_" + role)
    await flash(request, "usr_role_same" if was == role else "usr_role_changed", role=words)
    raise see_other(f"/admin/users/{user_id}")


def add_routes(r: web.UrlDispatcher) -> None:
    """The page's routes."""
    r.add_get("/admin/users", page)
    r.add_get("/admin/users.csv", export)
    r.add_get("/admin/users/{id}", detail)
    r.add_post("/admin/users/{id}/role", change_role)
