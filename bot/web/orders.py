"""/admin/orders: every order with its buyer and farmer, filtered by product, place, status,
buyer, farmer and day, searched by name, number or reference, newest first a page at a time;
a CSV file of what the filters show; one order's timeline (placed, the farmer told, the
answer or expiry, every message about it); and cancelling an order, which releases its stock
and tells both sides."""

from __future__ import annotations

from aiohttp import web

from bot.web import forms
from bot.web.base import account, now, render, see_other, services, text
from bot.web.listings import (
    Show,
    bad_filter,
    file_name,
    list_page,
    read_filters,
    record_id,
    send_csv,
)
from handlers import moderation as actions
from handlers.moderation import CANCELLABLE
from storage import moderation as reads

PEOPLE = ("farmer", "buyer")


def add_routes(r: web.UrlDispatcher) -> None:
    """The page's routes."""
    r.add_get("/admin/orders", page)
    r.add_get("/admin/orders.csv", export)
    r.add_get("/admin/orders/{id}", detail)
    r.add_post("/admin/orders/{id}/cancel", cancel)


async def page(request: web.Request) -> web.StreamResponse:
    return await list_page(
        request,
        "orders.html",
        reads.ORDER_STATUSES,
        "ord_st_",
        PEOPLE,
        reads.orders,
        reads.count_orders,
    )


async def export(request: web.Request) -> web.StreamResponse:
    """Every order the filters match (up to storage's export limit), as a CSV file."""
    try:
        found, _ = read_filters(request, reads.ORDER_STATUSES, PEOPLE)
    except forms.FormError as bad:
        raise web.HTTPBadRequest(text=bad_filter(request, bad)) from None
    async with services(request).db.reader() as uow:
        rows = await reads.export_orders(uow, found)
    show = Show(request)
    columns = (
        "ref",
        "created",
        "status",
        "product",
        "product_name",
        "quantity",
        "unit",
        "price",
        "currency",
        "price_unit",
        "total",
        "listing",
        "place",
        "place_name",
        "buyer",
        "buyer_channel",
        "buyer_address",
        "farmer",
        "farmer_channel",
        "farmer_address",
        "decided",
    )

    def line(o: reads.OrderLine) -> list[object]:
        return [
            o.id,
            show.stamp(o.created_at),
            text(request, "ord_st_" + o.status),
            o.product,
            show.product(o.product),
            show.plain(o.quantity),
            o.unit,
            o.price,
            o.currency,
            o.price_unit,
            show.amount(o) or "",
            o.listing_id,
            o.location or "",
            show.place(o.location),
            o.buyer.name or "",
            o.buyer.channel,
            show.number(o.buyer),
            o.farmer.name or "",
            o.farmer.channel,
            show.number(o.farmer),
            show.stamp(o.decided_at),
        ]

    header = [text(request, "lst_csv_" + c) for c in columns]
    return await send_csv(request, file_name("orders"), header, rows, line)


async def detail(request: web.Request) -> web.StreamResponse:
    """One order: who, what, for how much, its timeline, and the way to cancel it."""
    order_id = record_id(request)
    async with services(request).db.reader() as uow:
        found = await reads.timeline(uow, order_id)
    if found is None:
        raise web.HTTPNotFound(text=text(request, "not_found"))
    o, show = found.order, Show(request)
    status = text(request, "ord_st_" + o.status)
    notice = ""
    done = request.query.get("done", "")
    if done == "cancelled":
        qty = show.qty(o.quantity, o.unit)
        notice = text(request, "ord_done_cancelled", ref=o.id, qty=qty, listing=o.listing_id)
    elif done == "unchanged":
        notice = text(request, "ord_done_unchanged", ref=o.id, status=status)
    return render(
        request,
        "order.html",
        o=o,
        events=found.events,
        notice=notice,
        show=show,
        can_cancel=o.status in CANCELLABLE,
    )


async def cancel(request: web.Request) -> web.StreamResponse:
    """Cancel the order, release its stock, tell both sides, and show the order again (a
    second click changes nothing and says so)."""
    order_id = record_id(request)
    svc = services(request)
    at = now()
    async with svc.db.uow() as uow:
        outcome = await actions.cancel_order(
            uow, svc.settings, svc.catalog, order_id, account(request).name, at
        )
        if outcome is None:
            raise web.HTTPNotFound(text=text(request, "not_found"))
        claimed = await svc.outbound.queue(uow, outcome.notices, at)
        await uow.commit()
    await svc.outbound.deliver(claimed)
    done = "cancelled" if outcome.changed else "unchanged"
    raise see_other(f"/admin/orders/{order_id}?done={done}")
