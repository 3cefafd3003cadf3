"""The market's listings, orders and users in /api/v1: the lists the dashboard pages show,
with the same filters; one listing with its orders, one order with its timeline, one user with
their subscriptions; and the pages' actions: expiring a listing, cancelling an order (the users
told as in chat) and, for an admin, a chat user's role. Each runs what the page runs."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, PlainSerializer

from bot.web import forms, i18n
from bot.web import listings as listing_pages
from bot.web import users as user_pages
from bot.web.api import models as m
from bot.web.api.framework import Api, Call, Operation, Refused, after, cursor
from bot.web.base import MAX_ID, now
from handlers import moderation as actions
from handlers import units
from handlers.moderation import CANCELLABLE
from storage import audit, people
from storage import moderation as reads

Quantity = Annotated[
    Decimal, PlainSerializer(lambda v: format(v.normalize(), "f"), return_type=str)
]
Day = Annotated[
    str,
    Field(
        pattern=r"^([0-9]{4}-[0-9]{2}-[0-9]{2})?$",
        max_length=10,
        description="a day in the market's time zone, YYYY-MM-DD",
    ),
]
UserId = Annotated[int, Field(ge=0, le=MAX_ID, description="a user's id; 0: anyone")]
Search = Annotated[
    str,
    Field(
        max_length=reads.MAX_SEARCH,
        pattern=r"^[^\x00]*$",
        description="a name, a piece of a phone number, or a reference ('110', '#110')",
    ),
]
CatalogKey = Annotated[str, Field(max_length=32, description="a catalog key; empty: any")]
ListingStatus = Literal["active", "expired", "cancelled"]
OrderStatus = Literal[
    "pending", "accepted", "declined", "expired", "cancelled", "delivered", "completed", "disputed"
]
EventKind = Literal["created", "inbound", "outbound", "decided", "audit"]


# the models ---------------------------------------------------------------------------------
class MarketQuery(m.PageQuery):
    product: CatalogKey = ""
    place: CatalogKey = ""
    q: Search = ""
    since: Day = Field("", description="created on or after this local day")
    until: Day = Field("", description="created on or before this local day")
    farmer: UserId = 0


class ListingQuery(MarketQuery):
    status: Literal["", ListingStatus] = ""


class OrderQuery(MarketQuery):
    status: Literal["", OrderStatus] = ""
    buyer: UserId = 0


class Party(BaseModel):
    """A farmer or a buyer."""

    id: int
    name: str | None
    channel: str
    address: str
    phone: str | None
    place: str | None


class ListingOut(BaseModel):
    id: int
    product: str
    quantity_total: Quantity
    quantity_available: Quantity
    unit: str
    price: m.Money
    currency: str
    price_unit: str
    place: str | None
    status: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    farmer: Party


class OrderOut(BaseModel):
    id: int
    listing: int
    product: str
    quantity: Quantity
    unit: str
    price: m.Money
    currency: str
    price_unit: str
    total: m.Money | None = Field(description="null when the units do not convert")
    status: str
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    place: str | None = Field(description="the listing's place")
    buyer: Party
    farmer: Party


class ListingPage(BaseModel):
    items: list[ListingOut]
    next: str | None


class OrderPage(BaseModel):
    items: list[OrderOut]
    next: str | None


class ListingDetail(ListingOut):
    orders: list[OrderOut] = Field(description="newest first")
    history: list[m.AuditEntry] = Field(description="what coordinators did to it")


class OrderEvent(BaseModel):
    """One moment of an order's life: created; inbound (a user wrote about it, with the bot's
    reply); outbound (the bot wrote to a user, with its delivery status); decided (it left
    pending); audit (a coordinator acted; `who` is the account, `text` the action)."""

    at: datetime
    kind: EventKind
    who: str = Field(description="buyer or farmer; the account for an audit entry")
    text: str
    reply: str
    status: str
    channel: str
    detail: dict[str, object]


class OrderDetail(OrderOut):
    cancellable: bool
    events: list[OrderEvent] = Field(description="in time order")


class UserQuery(m.PageQuery):
    q: Search = ""
    place: CatalogKey = ""
    channel: Literal["", "sms", "whatsapp", "wechat"] = ""
    optout: Literal["in", "out", "all"] = Field(
        "all", description="in: still take broadcasts; out: said STOP; all: either"
    )


class UserCounts(BaseModel):
    subscriptions: int = Field(description="active ones")
    listings: int
    orders: int = Field(description="as buyer or as farmer")


class UserOut(BaseModel):
    id: int
    channel: str
    address: str
    name: str | None
    place: str | None
    language: str
    role: str
    opted_out: bool
    phone: str | None
    created_at: datetime
    last_seen_at: datetime
    account: str | None = Field(description="the dashboard account linked to this address")
    counts: UserCounts


class UserPage(BaseModel):
    items: list[UserOut]
    next: str | None


class UserListing(BaseModel):
    id: int
    product: str
    quantity_total: Quantity
    quantity_available: Quantity
    unit: str
    price: m.Money
    currency: str
    price_unit: str
    place: str | None
    status: str
    created_at: datetime


class UserOrder(BaseModel):
    id: int
    side: Literal["buyer", "farmer"]
    product: str
    quantity: Quantity
    unit: str
    price: m.Money
    currency: str
    price_unit: str
    total: m.Money | None
    status: str
    created_at: datetime


class UserDetail(UserOut):
    configured: bool = Field(description="a coordinator by coordinators.addresses")
    subscriptions: list[m.SubscriptionOut] = Field(description="active ones, newest first")
    listings: list[UserListing] = Field(description=f"the latest {people.LATEST}")
    orders: list[UserOrder] = Field(description=f"the latest {people.LATEST}")


class RoleChange(m.Strict):
    role: Literal["user", "coordinator"]


# shaping ------------------------------------------------------------------------------------
def _party(p: reads.Party) -> Party:
    return Party(
        id=p.id, name=p.name, channel=p.channel, address=p.address, phone=p.phone, place=p.place
    )


def _listing_fields(x: reads.ListingLine) -> dict[str, object]:
    return {
        "id": x.id,
        "product": x.product,
        "quantity_total": x.quantity_total,
        "quantity_available": x.quantity_available,
        "unit": x.unit,
        "price": x.price,
        "currency": x.currency,
        "price_unit": x.price_unit,
        "place": x.location,
        "status": x.status,
        "created_at": x.created_at,
        "updated_at": x.updated_at,
        "expires_at": x.expires_at,
        "farmer": _party(x.farmer),
    }


def _order_fields(o: reads.OrderLine) -> dict[str, object]:
    return {
        "id": o.id,
        "listing": o.listing_id,
        "product": o.product,
        "quantity": o.quantity,
        "unit": o.unit,
        "price": o.price,
        "currency": o.currency,
        "price_unit": o.price_unit,
        "total": listing_pages.Show.amount(o),
        "status": o.status,
        "created_at": o.created_at,
        "expires_at": o.expires_at,
        "decided_at": o.decided_at,
        "place": o.location,
        "buyer": _party(o.buyer),
        "farmer": _party(o.farmer),
    }


def _order(o: reads.OrderLine) -> OrderOut:
    return OrderOut.model_validate(_order_fields(o))


def _entry(e: audit.AuditRecord) -> m.AuditEntry:
    return m.AuditEntry(
        id=e.id, at=e.at, actor=e.actor, action=e.action, subject=e.subject, detail=e.detail
    )


def _user_fields(p: people.Person) -> dict[str, object]:
    return {
        "id": p.id,
        "channel": p.channel,
        "address": p.address,
        "name": p.name,
        "place": p.place,
        "language": p.language,
        "role": p.role,
        "opted_out": p.opted_out,
        "phone": p.phone,
        "created_at": p.created_at,
        "last_seen_at": p.last_seen_at,
        "account": p.account,
        "counts": UserCounts(subscriptions=p.subscriptions, listings=p.listings, orders=p.orders),
    }


def _page_next(ids: list[int], limit: int) -> str | None:
    """The cursor of the page after this one, when there is more (one row more was read)."""
    return cursor(ids[limit - 1]) if len(ids) > limit else None


# the filters --------------------------------------------------------------------------------
def _bad(name: str, detail: str) -> Refused:
    return Refused(400, "Invalid request", f"{name}: {detail}")


def _filters(call: Call, q: MarketQuery, status: str, buyer: int = 0) -> reads.Filters:
    """The pages' filters from the query; days are the market's, `until` takes its whole
    day."""
    catalog = call.svc.catalog
    here = ZoneInfo(call.svc.settings.market.timezone)
    try:
        product = forms.product(catalog, q.product, required=False)
    except forms.FormError:
        raise _bad("product", f"no product {q.product!r}") from None
    try:
        place = forms.place(catalog, q.place)
    except forms.FormError:
        raise _bad("place", f"no place {q.place!r}") from None
    days: dict[str, date | None] = {}
    for name in ("since", "until"):
        try:
            days[name] = listing_pages.day(getattr(q, name), name)
        except forms.FormError:
            raise _bad(name, "not a day (YYYY-MM-DD, 1970 to 9000)") from None
    since, until = days["since"], days["until"]
    return reads.Filters(
        product=product,
        place=place,
        status=status or None,
        search=q.q,
        since=None if since is None else datetime.combine(since, time(), here),
        until=None if until is None else datetime.combine(until + timedelta(days=1), time(), here),
        farmer_id=q.farmer or None,
        buyer_id=buyer or None,
    )


# listings -------------------------------------------------------------------------------------
async def list_listings(call: Call) -> ListingPage:
    q: ListingQuery = call.query
    found = _filters(call, q, q.status)
    async with call.svc.db.reader() as uow:
        rows = await reads.listings(uow, found, after(q.cursor), q.limit + 1)
    return ListingPage(
        items=[ListingOut.model_validate(_listing_fields(x)) for x in rows[: q.limit]],
        next=_page_next([x.id for x in rows], q.limit),
    )


async def _listing(call: Call, listing_id: int) -> ListingDetail:
    async with call.svc.db.reader() as uow:
        found = await reads.listing(uow, listing_id)
    if found is None:
        raise Refused(404, "Not found", f"no listing {listing_id}")
    return ListingDetail.model_validate(
        {
            **_listing_fields(found.listing),
            "orders": [_order(o) for o in found.orders],
            "history": [_entry(e) for e in found.history],
        }
    )


async def get_listing(call: Call) -> ListingDetail:
    return await _listing(call, call.path["id"])


async def expire_listing(call: Call) -> ListingDetail:
    """The listing page's Expire: its waiting orders cancelled, the farmer and their buyers
    told; 409 when it is not active (a second call changes nothing)."""
    listing_id = call.path["id"]
    svc = call.svc
    at = now()
    async with svc.db.uow() as uow:
        outcome = await actions.expire_listing(
            uow, svc.settings, svc.catalog, listing_id, call.account.name, at
        )
        if outcome is None:
            raise Refused(404, "Not found", f"no listing {listing_id}")
        claimed = await svc.outbound.queue(uow, outcome.notices, at)
        await uow.commit()
    await svc.outbound.deliver(claimed)
    if not outcome.changed:
        raise Refused(409, "Not active", f"listing {listing_id} is {outcome.status}")
    return await _listing(call, listing_id)


# orders ---------------------------------------------------------------------------------------
async def list_orders(call: Call) -> OrderPage:
    q: OrderQuery = call.query
    found = _filters(call, q, q.status, q.buyer)
    async with call.svc.db.reader() as uow:
        rows = await reads.orders(uow, found, after(q.cursor), q.limit + 1)
    return OrderPage(
        items=[_order(o) for o in rows[: q.limit]],
        next=_page_next([o.id for o in rows], q.limit),
    )


async def _order_detail(call: Call, order_id: int) -> OrderDetail:
    async with call.svc.db.reader() as uow:
        found = await reads.timeline(uow, order_id)
    if found is None:
        raise Refused(404, "Not found", f"no order {order_id}")
    events = [
        OrderEvent.model_validate(
            {
                "at": e.at,
                "kind": e.kind,
                "who": e.who,
                "text": e.text,
                "reply": e.reply,
                "status": e.status,
                "channel": e.channel,
                "detail": e.detail,
            }
        )
        for e in found.events
    ]
    return OrderDetail.model_validate(
        {
            **_order_fields(found.order),
            "cancellable": found.order.status in CANCELLABLE,
            "events": events,
        }
    )


async def get_order(call: Call) -> OrderDetail:
    return await _order_detail(call, call.path["id"])


async def cancel_order(call: Call) -> OrderDetail:
    """The order page's Cancel: its stock released, buyer and farmer told; 409 when it is not
    pending or accepted (a second call changes nothing)."""
    order_id = call.path["id"]
    svc = call.svc
    at = now()
    async with svc.db.uow() as uow:
        outcome = await actions.cancel_order(
            uow, svc.settings, svc.catalog, order_id, call.account.name, at
        )
        if outcome is None:
            raise Refused(404, "Not found", f"no order {order_id}")
        claimed = await svc.outbound.queue(uow, outcome.notices, at)
        await uow.commit()
    await svc.outbound.deliver(claimed)
    if not outcome.changed:
        raise Refused(409, "Not cancellable", f"order {order_id} is {outcome.status}")
    return await _order_detail(call, order_id)


# users ----------------------------------------------------------------------------------------
async def list_users(call: Call) -> UserPage:
    q: UserQuery = call.query
    given = {"q": q.q, "place": q.place, "channel": q.channel, "optout": q.optout}
    try:
        found = user_pages.read_filters(call.request, given)
    except forms.FormError:
        raise _bad("place", f"no place {q.place!r}") from None  # the one not checked above
    async with call.svc.db.reader() as uow:
        rows = await people.search(uow, found, after(q.cursor), q.limit + 1)
    return UserPage(
        items=[UserOut.model_validate(_user_fields(p)) for p in rows[: q.limit]],
        next=_page_next([p.id for p in rows], q.limit),
    )


async def _user(call: Call, user_id: int) -> UserDetail:
    async with call.svc.db.reader() as uow:
        found = await people.detail(uow, user_id)
    if found is None:
        raise Refused(404, "Not found", f"no user {user_id}")
    p = found.person
    return UserDetail.model_validate(
        {
            **_user_fields(p),
            "configured": p.address in call.svc.settings.coordinators.addresses,
            "subscriptions": [
                m.SubscriptionOut(
                    id=a.id,
                    user=p.id,
                    product=a.product,
                    market=a.location,
                    direction=a.direction,
                    threshold=a.threshold,
                    currency=a.currency,
                    unit=a.unit,
                    mode=a.mode,
                    created_at=a.created_at,
                )
                for a in found.alerts
            ],
            "listings": [
                UserListing(
                    id=x.id,
                    product=x.product,
                    quantity_total=x.quantity_total,
                    quantity_available=x.quantity_available,
                    unit=x.unit,
                    price=x.price,
                    currency=x.currency,
                    price_unit=x.price_unit,
                    place=x.location,
                    status=x.status,
                    created_at=x.created_at,
                )
                for x in found.listings
            ],
            "orders": [
                UserOrder(
                    id=d.id,
                    side="buyer" if d.side == "buyer" else "farmer",
                    product=d.product,
                    quantity=d.quantity,
                    unit=d.unit,
                    price=d.price,
                    currency=d.currency,
                    price_unit=d.price_unit,
                    total=_total(d),
                    status=d.status,
                    created_at=d.created_at,
                )
                for d in found.orders
            ],
        }
    )


def _total(d: people.Deal) -> Decimal | None:
    found = units.line_total(d.quantity, d.unit, d.price, d.price_unit)
    return None if found is None else found.quantize(Decimal("0.01"))


async def get_user(call: Call) -> UserDetail:
    return await _user(call, call.path["id"])


async def change_role(call: Call) -> UserDetail:
    """The user page's role change (admins only): a chat user made a coordinator or a plain
    user again, audited. An address linked to an account, or named in coordinators.addresses,
    stays a coordinator: 409, with where to change it instead."""
    user_id = call.path["id"]
    role = call.body.role
    svc = call.svc
    async with svc.db.uow() as uow:
        found = await people.detail(uow, user_id)
        if found is None:
            raise Refused(404, "Not found", f"no user {user_id}")
        p = found.person
        if role == "user" and p.account is not None:
            words = i18n.t("usr_role_linked", "en", name=p.account)
            raise Refused(409, "Linked to an account", words)
        if role == "user" and p.address in svc.settings.coordinators.addresses:
            raise Refused(409, "A configured coordinator", i18n.t("usr_role_config", "en"))
        was = await people.set_role(uow, user_id, role)
        if was != role:
            await audit.record(
                uow,
                call.account.name,
                "user.role_changed",
                f"user #{user_id}",
                now(),
                role=role,
                was=was,
                channel=p.channel,
            )
            await uow.commit()
    return await _user(call, user_id)


# the operations -------------------------------------------------------------------------------
def add_operations(ops: Api) -> None:
    """The listings, orders and users operations, added to the API's."""
    conflict = (400, 401, 403, 404, 409)
    add = ops.add
    add(
        Operation(
            "GET",
            "/listings",
            "list_listings",
            "Listings with their farmers, filtered, newest first",
            list_listings,
            ListingPage,
            query=ListingQuery,
            tag="listings",
        )
    )
    add(
        Operation(
            "GET",
            "/listings/{id}",
            "get_listing",
            "A listing with its orders and what coordinators did to it",
            get_listing,
            ListingDetail,
            tag="listings",
        )
    )
    add(
        Operation(
            "POST",
            "/listings/{id}/expire",
            "expire_listing",
            "Take an active listing off the market: its waiting orders are cancelled, the "
            "farmer and their buyers told",
            expire_listing,
            ListingDetail,
            tag="listings",
            errors=conflict,
        )
    )
    add(
        Operation(
            "GET",
            "/orders",
            "list_orders",
            "Orders with their buyers and farmers, filtered, newest first",
            list_orders,
            OrderPage,
            query=OrderQuery,
            tag="orders",
        )
    )
    add(
        Operation(
            "GET",
            "/orders/{id}",
            "get_order",
            "An order with its timeline: placed, the messages about it, the answer",
            get_order,
            OrderDetail,
            tag="orders",
        )
    )
    add(
        Operation(
            "POST",
            "/orders/{id}/cancel",
            "cancel_order",
            "Cancel a pending or accepted order: its stock released, both sides told",
            cancel_order,
            OrderDetail,
            tag="orders",
            errors=conflict,
        )
    )
    add(
        Operation(
            "GET",
            "/users",
            "list_users",
            "Users found by number, name or place, channel and opt-out, newest first",
            list_users,
            UserPage,
            query=UserQuery,
            tag="users",
        )
    )
    add(
        Operation(
            "GET",
            "/users/{id}",
            "get_user",
            "A user with their subscriptions, latest listings and orders, and counts",
            get_user,
            UserDetail,
            tag="users",
        )
    )
    add(
        Operation(
            "POST",
            "/users/{id}/role",
            "change_role",
            "Make a chat user a coordinator, or a plain user again (admins only)",
            change_role,
            UserDetail,
            body=RoleChange,
            admin=True,
            tag="users",
            errors=conflict,
        )
    )
