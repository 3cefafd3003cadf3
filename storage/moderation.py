"""What the coordinators' listings and orders pages read: listings and orders with their
farmers and buyers, filtered, searched and paged newest first; one listing with its orders;
one order's timeline (the order itself, the messages the bot sent its two users about it and
what they wrote about it); and the rows of a CSV export. Every value a coordinator types is a
bound parameter, never part of a statement.

The one write here is the conditional expiry of a listing, so that two coordinators clicking
at once expire it once."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    CursorResult,
    Select,
    and_,
    false,
    func,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.orm import aliased

from storage import audit
from storage.models import InboundLog, Listing, Order, Outbox, User

if TYPE_CHECKING:
    from storage.uow import UnitOfWork

LISTING_STATUSES = ("active", "expired", "cancelled")
ORDER_STATUSES = (
    "pending",
    "accepted",
    "declined",
    "expired",
    "cancelled",
    "delivered",
    "completed",
    "disputed",
)
EXPORT_LIMIT = 100_000  # rows in one CSV export
TIMELINE_LIMIT = 500  # messages of each kind on one order's timeline
LISTING_ORDERS_LIMIT = 500  # orders shown under one listing
MAX_SEARCH = 100
MAX_PEOPLE = 2000  # users a search may match and still be read first (find_people)
TRIGRAM = 3  # the shortest part a trigram index finds
FEW_ROWS = 5000  # a counted search matching at most these is read by sorting them (_page_ids)
LARGEST_ID = 2**31 - 1  # ids are INTEGER columns: a larger number names nothing
_NUMBERISH = re.compile(r"[+\d\s\-().]+")

Rows = Select[*tuple[Any, ...]]
Farmer = aliased(User, name="farmer")
Buyer = aliased(User, name="buyer")


@dataclass(frozen=True)
class Filters:
    """What a coordinator narrowed a list to; None or empty: any."""

    product: str | None = None
    place: str | None = None
    status: str | None = None
    search: str = ""  # a name, a phone number or a reference
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
    farmer_id: int | None = None
    buyer_id: int | None = None
    # the ids of the users the search matches, when read first (find_people); None: not read
    people: tuple[int, ...] | None = None
    # how many rows match, when counted before the page is read (None: not counted)
    rows: int | None = None


class Party(NamedTuple):
    """A farmer or buyer as the pages show them."""

    id: int
    name: str | None
    channel: str
    address: str
    phone: str | None
    place: str | None


class ListingLine(NamedTuple):
    id: int
    product: str
    quantity_total: Decimal
    quantity_available: Decimal
    unit: str
    price: Decimal
    currency: str
    price_unit: str
    location: str | None
    status: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    farmer: Party


class OrderLine(NamedTuple):
    id: int
    listing_id: int
    product: str
    quantity: Decimal
    unit: str
    price: Decimal
    currency: str
    price_unit: str
    status: str
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    location: str | None  # the listing's place
    buyer: Party
    farmer: Party


@dataclass(frozen=True)
class Event:
    """One moment of an order's life. kind: created, inbound (a user wrote; reply is the bot's
    answer), outbound (the bot wrote to a user; status is its delivery), decided (the order
    left pending), audit (a coordinator acted)."""

    at: datetime
    kind: str
    who: str = ""  # buyer | farmer for messages; the account for audit entries
    text: str = ""
    reply: str = ""
    status: str = ""
    channel: str = ""
    detail: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class ListingDetail:
    listing: ListingLine
    orders: list[OrderLine]
    history: list[audit.AuditRecord]


@dataclass(frozen=True)
class Timeline:
    order: OrderLine
    events: list[Event]


# the columns --------------------------------------------------------------------------------
def _party_columns(u: Any) -> list[Any]:
    return [u.id, u.name, u.channel, u.address, u.phone, u.place]


def _party(row: Sequence[Any]) -> Party:
    return Party(int(row[0]), row[1], row[2], row[3], row[4], row[5])


LISTING_COLUMNS = [
    Listing.id,
    Listing.product,
    Listing.quantity_total,
    Listing.quantity_available,
    Listing.unit,
    Listing.price,
    Listing.currency,
    Listing.price_unit,
    Listing.location,
    Listing.status,
    Listing.created_at,
    Listing.updated_at,
    Listing.expires_at,
]
ORDER_COLUMNS = [
    Order.id,
    Order.listing_id,
    Order.product,
    Order.quantity,
    Order.unit,
    Order.price,
    Order.currency,
    Order.price_unit,
    Order.status,
    Order.created_at,
    Order.expires_at,
    Order.decided_at,
    Listing.location,
]


def _listing_line(row: Sequence[Any]) -> ListingLine:
    n = len(LISTING_COLUMNS)
    return ListingLine._make([*row[:n], _party(row[n:])])


def _order_line(row: Sequence[Any]) -> OrderLine:
    n = len(ORDER_COLUMNS)
    return OrderLine._make([*row[:n], _party(row[n : n + 6]), _party(row[n + 6 :])])


def _listings() -> Rows:
    return select(*LISTING_COLUMNS, *_party_columns(Farmer)).join(
        Farmer, Farmer.id == Listing.farmer_id
    )


def _orders() -> Rows:
    return (
        select(*ORDER_COLUMNS, *_party_columns(Buyer), *_party_columns(Farmer))
        .join(Listing, Listing.id == Order.listing_id)
        .join(Buyer, Buyer.id == Order.buyer_id)
        .join(Farmer, Farmer.id == Order.farmer_id)
    )


# the filters --------------------------------------------------------------------------------
def _ref(text: str) -> int | None:
    """A reference as a coordinator types it: '110', '#110', '110号'."""
    digits = text.strip().lstrip("#").removesuffix("号").strip()
    if digits.isdigit() and len(digits) <= len(str(LARGEST_ID)) and int(digits) <= LARGEST_ID:
        return int(digits)
    return None


def _about_people(search: str) -> list[ColumnElement[bool]]:
    """A user by name (any case, any part of it) or number (any part, spaces and dashes
    ignored)."""
    low = search.lower()
    found = [
        _part(func.lower(User.name), low),
        _part(User.address, search),
    ]
    if _NUMBERISH.fullmatch(search):
        digits = re.sub(r"[^\d+]", "", search)
        if len(digits) >= 3:
            found.append(_part(User.address, digits))
            found.append(_part(User.phone, digits))
    return found


def _part(column: Any, part: str) -> ColumnElement[bool]:
    """column holds part anywhere. PostgreSQL's trigram indexes (migration 0012) find a part
    of three characters or more; for a shorter one they would read the whole index, slower
    than the table, so the column is then searched as an expression they do not cover."""
    searched = column if len(part) >= TRIGRAM else column.concat("")
    found: ColumnElement[bool] = searched.contains(part, autoescape=True)
    return found


def _found(f: Filters, orders: bool) -> Select[tuple[int]] | CompoundSelect[tuple[int]]:
    """The ids of the listings (orders) a search finds: those of the farmers (buyers or
    farmers) whose name or number matches, and the one the reference names. The users are
    found first, in one pass over them, and their rows through the farmer_id / buyer_id
    indexes: a search costs what it finds, not a join of every row to its users."""
    text = f.search.strip()[:MAX_SEARCH]
    ref = _ref(text)
    table: Any = (Order if orders else Listing).__table__.alias("found")
    parts: list[Select[tuple[int]]] = []
    sides = (table.c.buyer_id, table.c.farmer_id) if orders else (table.c.farmer_id,)
    if f.people is not None:
        parts += [select(table.c.id).where(side.in_(f.people)) for side in sides]
    elif text:
        # a CTE: read once even where both the buyer and the farmer are looked for in it
        matching = select(User.id).where(or_(*_about_people(text))).cte("matching")
        parts += [select(table.c.id).where(side.in_(select(matching.c.id))) for side in sides]
    if ref is not None:
        refs = (table.c.id, table.c.listing_id) if orders else (table.c.id,)
        parts += [select(table.c.id).where(column == ref) for column in refs]
    parts = [part.correlate(None) for part in parts]
    if not parts:
        return select(table.c.id).where(false())
    return union(*parts) if len(parts) > 1 else parts[0]


def _narrow(q: Rows, f: Filters, *, orders: bool) -> Rows:
    table: Any = Order if orders else Listing
    if f.product:
        q = q.where(table.product == f.product)
    if f.place:
        q = q.where(Listing.location == f.place)
    if f.status:
        q = q.where(table.status == f.status)
    if f.since is not None:
        q = q.where(table.created_at >= f.since)
    if f.until is not None:
        q = q.where(table.created_at < f.until)
    if f.farmer_id is not None:
        q = q.where(table.farmer_id == f.farmer_id)
    if orders and f.buyer_id is not None:
        q = q.where(Order.buyer_id == f.buyer_id)
    if f.search.strip():
        q = q.where(_searched(f, orders))
    return q


def _searched(f: Filters, orders: bool) -> ColumnElement[bool]:
    """The rows a search finds. With its users read first, a condition on the row itself
    (farmer or buyer among them, or the reference), which each database answers from the
    farmer_id / buyer_id indexes and the key together; else through _found."""
    table: Any = Order if orders else Listing
    if f.people is None:
        found: ColumnElement[bool] = table.id.in_(_found(f, orders))
        return found
    sides = (table.buyer_id, table.farmer_id) if orders else (table.farmer_id,)
    terms = [side.in_(f.people) for side in sides if f.people]
    ref = _ref(f.search.strip()[:MAX_SEARCH])
    if ref is not None:
        terms += [table.id == ref] + ([table.listing_id == ref] if orders else [])
    return or_(*terms) if terms else false()


async def _page_ids(
    uow: UnitOfWork, f: Filters, orders: bool, before: int | None, limit: int
) -> list[int] | None:
    """A page's ids, newest first, read alone by sorting the rows that match when a counted
    search matches few (FEW_ROWS): PostgreSQL would otherwise walk the key back past every
    row that does not match. None: read along the key with the page's columns."""
    if f.rows is None or f.rows > FEW_ROWS:
        return None
    table: Any = Order if orders else Listing
    q: Any = select(table.id)
    if orders and f.place:  # the one filter on the listing
        q = q.join(Listing, Listing.id == Order.listing_id)
    q = _narrow(q, f, orders=orders)
    if before is not None:
        q = q.where(table.id < before)
    q = q.order_by((table.id + 0).desc()).limit(limit)  # `id + 0`: sorted, not the key's order
    return list((await uow.session.execute(q)).scalars())


async def find_people(uow: UnitOfWork, f: Filters) -> Filters:
    """f with the users its search matches read once (up to MAX_PEOPLE of them), for a page
    and its count to share instead of each reading every user again; f itself when there is
    no search or it matches more users than that."""
    text = f.search.strip()[:MAX_SEARCH]
    if not text:
        return f
    q = select(User.id).where(or_(*_about_people(text))).limit(MAX_PEOPLE + 1)
    ids = tuple((await uow.session.execute(q)).scalars())
    return f if len(ids) > MAX_PEOPLE else replace(f, people=ids)


# the lists ----------------------------------------------------------------------------------
async def listings(
    uow: UnitOfWork, f: Filters, before: int | None = None, limit: int = 50
) -> list[ListingLine]:
    """Listings that match, newest first, `limit` of them older than listing `before`."""
    ids = await _page_ids(uow, f, False, before, limit)
    if ids is not None:
        q = _listings().where(Listing.id.in_(ids))
    else:
        q = _narrow(_listings(), f, orders=False)
    if before is not None:
        q = q.where(Listing.id < before)
    q = q.order_by(Listing.id.desc()).limit(limit)
    return [_listing_line(row) for row in (await uow.session.execute(q)).all()]


async def count_listings(uow: UnitOfWork, f: Filters) -> int:
    q = _narrow(select(func.count()).select_from(Listing), f, orders=False)
    return int((await uow.session.execute(q)).scalar_one())


async def orders(
    uow: UnitOfWork, f: Filters, before: int | None = None, limit: int = 50
) -> list[OrderLine]:
    """Orders that match, newest first, `limit` of them older than order `before`."""
    ids = await _page_ids(uow, f, True, before, limit)
    q = (
        _orders().where(Order.id.in_(ids))
        if ids is not None
        else _narrow(_orders(), f, orders=True)
    )
    if before is not None:
        q = q.where(Order.id < before)
    q = q.order_by(Order.id.desc()).limit(limit)
    return [_order_line(row) for row in (await uow.session.execute(q)).all()]


async def count_orders(uow: UnitOfWork, f: Filters) -> int:
    q = select(func.count()).select_from(Order)
    if f.place:  # the one filter on the listing; the users are not needed to count
        q = q.join(Listing, Listing.id == Order.listing_id)
    return int((await uow.session.execute(_narrow(q, f, orders=True))).scalar_one())


async def export_listings(uow: UnitOfWork, f: Filters) -> list[ListingLine]:
    """Every matching listing for a CSV file, newest first, EXPORT_LIMIT at most."""
    return await listings(uow, f, None, EXPORT_LIMIT)


async def export_orders(uow: UnitOfWork, f: Filters) -> list[OrderLine]:
    """Every matching order for a CSV file, newest first, EXPORT_LIMIT at most."""
    return await orders(uow, f, None, EXPORT_LIMIT)


# one listing, one order ---------------------------------------------------------------------
def subject_of_listing(listing_id: int) -> str:
    """How the audit log names a listing."""
    return f"listing {listing_id}"


def subject_of_order(order_id: int) -> str:
    """How the audit log names an order."""
    return f"order {order_id}"


async def listing(uow: UnitOfWork, listing_id: int) -> ListingDetail | None:
    """A listing with its farmer, its orders (newest first) and what coordinators did to it."""
    row = (await uow.session.execute(_listings().where(Listing.id == listing_id))).first()
    if row is None:
        return None
    q = _orders().where(Order.listing_id == listing_id)
    q = q.order_by(Order.id.desc()).limit(LISTING_ORDERS_LIMIT)
    found = [_order_line(r) for r in (await uow.session.execute(q)).all()]
    history = await audit.trail(uow, subject_of_listing(listing_id))
    return ListingDetail(_listing_line(row), found, history)


async def order(uow: UnitOfWork, order_id: int) -> OrderLine | None:
    row = (await uow.session.execute(_orders().where(Order.id == order_id))).first()
    return None if row is None else _order_line(row)


def _mentions(ref: int) -> re.Pattern[str]:
    """The reference as a number of its own (110 in 'Order 110', '是110', not in '1104')."""
    return re.compile(rf"(?<!\d){ref}(?!\d)")


async def timeline(uow: UnitOfWork, order_id: int) -> Timeline | None:
    """An order's life in time order: placed, each message the bot sent its buyer or farmer
    about it (with its delivery), each message they wrote about it (with the bot's answer),
    the answer or expiry or cancellation, and what coordinators did. A message is about the
    order when it names the order's reference and came after the order was placed."""
    found = await order(uow, order_id)
    if found is None:
        return None
    people = {found.buyer.id: "buyer", found.farmer.id: "farmer"}
    if found.buyer.id == found.farmer.id:  # a user ordering from themselves is both
        people = {found.buyer.id: "buyer"}
    ref, named = str(order_id), _mentions(order_id)
    events = [Event(found.created_at, "created")]
    inbound = (
        select(
            InboundLog.received_at,
            InboundLog.user_id,
            InboundLog.text,
            InboundLog.reply,
            InboundLog.channel,
            InboundLog.status,
        )
        .where(
            InboundLog.user_id.in_(list(people)),
            InboundLog.received_at >= found.created_at,
            or_(InboundLog.text.contains(ref), InboundLog.reply.contains(ref)),
        )
        .order_by(InboundLog.received_at, InboundLog.id)
        .limit(TIMELINE_LIMIT)
    )
    for at, user_id, text, reply, channel, status in (await uow.session.execute(inbound)).all():
        if named.search(text) or named.search(reply):
            who = people.get(user_id or 0, "")
            events.append(Event(at, "inbound", who, text, reply, status, channel))
    outbound = (
        select(
            Outbox.created_at,
            Outbox.user_id,
            Outbox.text,
            Outbox.status,
            Outbox.provider_status,
            Outbox.channel,
            Outbox.sent_at,
            Outbox.error,
            Outbox.kind,
        )
        .where(
            Outbox.user_id.in_(list(people)),
            Outbox.broadcast_id.is_(None),
            Outbox.created_at >= found.created_at,
            Outbox.text.contains(ref),
        )
        .order_by(Outbox.created_at, Outbox.id)
        .limit(TIMELINE_LIMIT)
    )
    for row in (await uow.session.execute(outbound)).all():
        at, user_id, text, status, provider, channel, sent_at, error, kind = row
        if named.search(text):
            detail: dict[str, object] = {"kind": kind}
            if provider:
                detail["provider_status"] = provider
            if sent_at is not None:
                detail["sent_at"] = sent_at
            if error:
                detail["error"] = error
            who = people.get(user_id, "")
            events.append(Event(at, "outbound", who, text, "", status, channel, detail))
    if found.decided_at is not None and found.status != "pending":
        events.append(Event(found.decided_at, "decided", status=found.status))
    for entry in await audit.trail(uow, subject_of_order(order_id)):
        events.append(Event(entry.at, "audit", entry.actor, entry.action, detail=entry.detail))
    rank = {"created": 0, "inbound": 1, "decided": 2, "audit": 3, "outbound": 4}
    events.sort(key=lambda e: (e.at, rank[e.kind]))
    return Timeline(found, events)


# the one write ------------------------------------------------------------------------------
async def expire_listing(uow: UnitOfWork, listing_id: int, now: datetime) -> bool:
    """An active listing becomes expired now; False when it was not active (already expired,
    removed by its farmer, or expired by another coordinator a moment ago)."""
    stmt = (
        update(Listing)
        .where(and_(Listing.id == listing_id, Listing.status == "active"))
        .values(status="expired", updated_at=now)
    )
    result = cast(CursorResult[Any], await uow.session.execute(stmt))
    return result.rowcount == 1
