"""The people who trade through farmchat, as the dashboard's Users page sees them: found by
number, name or place, by channel and by whether they still take broadcasts; one person's
subscriptions, listings and orders; the rows of the users CSV; and a chat user's role (user or
coordinator). Every filter a coordinator types is a bound parameter."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.sql import ColumnElement, Select

from storage.models import Account, Listing, Order, Subscription, User

if TYPE_CHECKING:
    from storage.uow import UnitOfWork

OPTOUT = ("in", "out", "all")  # still take broadcasts, said STOP, either
CHAT_ROLES = ("user", "coordinator")
MAX_SEARCH = 100
EXPORT_BATCH = 1000
LATEST = 10  # listings and orders shown on a person's page
_NUMBER_NOISE = re.compile(r"[\s\-().]")


@dataclass(frozen=True)
class Filters:
    """What the Users page was asked for. `text` matches a number (or OpenID) fragment or a
    name; `places` are the place keys whose names the text matches, so "武都" finds the people
    in Wudu too."""

    text: str = ""
    places: tuple[str, ...] = ()
    place: str | None = None
    channel: str | None = None
    optout: str = "all"


@dataclass(frozen=True)
class Person:
    """One user with what they do on farmchat, counted."""

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
    account: str | None  # the dashboard account this address is linked to
    subscriptions: int  # active ones
    listings: int  # every listing they offered
    orders: int  # as buyer or as farmer


@dataclass(frozen=True)
class Alert:
    """An active subscription: every price broadcast about a product (instant), the daily
    digest (daily), or a price going above or below a threshold."""

    id: int
    product: str | None
    location: str | None
    mode: str
    direction: str | None
    threshold: Decimal | None
    currency: str | None
    unit: str | None
    created_at: datetime


@dataclass(frozen=True)
class Offer:
    """One of the person's listings."""

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


@dataclass(frozen=True)
class Deal:
    """One of the person's orders; side says whether they bought or sold."""

    id: int
    side: str  # buyer | farmer
    product: str
    quantity: Decimal
    unit: str
    price: Decimal
    currency: str
    price_unit: str
    status: str
    created_at: datetime


@dataclass(frozen=True)
class Detail:
    person: Person
    alerts: list[Alert]
    listings: list[Offer]  # the latest LATEST, newest first
    orders: list[Deal]  # the latest LATEST, newest first


def _counted() -> Select[Any]:
    subs = (
        select(func.count())
        .select_from(Subscription)
        .where(Subscription.user_id == User.id, Subscription.active.is_(True))
        .correlate(User)
        .scalar_subquery()
    )
    offered = (
        select(func.count())
        .select_from(Listing)
        .where(Listing.farmer_id == User.id)
        .correlate(User)
        .scalar_subquery()
    )
    deals = (
        select(func.count())
        .select_from(Order)
        .where(or_(Order.buyer_id == User.id, Order.farmer_id == User.id))
        .correlate(User)
        .scalar_subquery()
    )
    return select(User, Account.name, subs, offered, deals).outerjoin(
        Account, User.account_id == Account.id
    )


def _person(row: Any) -> Person:
    user, account, subs, offered, deals = row
    return Person(
        id=user.id,
        channel=user.channel,
        address=user.address,
        name=user.name,
        place=user.place,
        language=user.language or "",
        role=user.role,
        opted_out=bool(user.opted_out),
        phone=user.phone,
        created_at=user.created_at,
        last_seen_at=user.last_seen_at,
        account=account,
        subscriptions=int(subs or 0),
        listings=int(offered or 0),
        orders=int(deals or 0),
    )


def _where(filters: Filters) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    text = filters.text.strip()[:MAX_SEARCH]
    if text:
        either: list[ColumnElement[bool]] = [
            User.address.icontains(text, autoescape=True),
            User.name.icontains(text, autoescape=True),
        ]
        digits = _NUMBER_NOISE.sub("", text)
        if digits and digits != text:  # "138 0000 0077" finds +8613800000077
            either.append(User.address.contains(digits, autoescape=True))
        if digits:
            either.append(User.phone.contains(digits, autoescape=True))
        if filters.places:
            either.append(User.place.in_(list(filters.places)))
        found.append(or_(*either))
    if filters.place:
        found.append(User.place == filters.place)
    if filters.channel:
        found.append(User.channel == filters.channel)
    if filters.optout == "in":
        found.append(User.opted_out.is_(False))
    elif filters.optout == "out":
        found.append(User.opted_out.is_(True))
    return found


async def search(
    uow: UnitOfWork, filters: Filters, before: int | None = None, limit: int = 50
) -> list[Person]:
    """The users the filters match, newest first, `limit` of them older than user `before`."""
    q = _counted().where(*_where(filters))
    if before is not None:
        q = q.where(User.id < before)
    q = q.order_by(User.id.desc()).limit(limit)
    return [_person(row) for row in (await uow.session.execute(q)).all()]


async def export(uow: UnitOfWork, filters: Filters) -> list[Person]:
    """Every user the filters match, newest first (read in batches, for the CSV)."""
    found: list[Person] = []
    before: int | None = None
    while True:
        batch = await search(uow, filters, before, EXPORT_BATCH)
        found += batch
        if len(batch) < EXPORT_BATCH:
            return found
        before = batch[-1].id


async def detail(uow: UnitOfWork, user_id: int) -> Detail | None:
    """One user with their active subscriptions and their latest listings and orders."""
    row = (await uow.session.execute(_counted().where(User.id == user_id))).first()
    if row is None:
        return None
    s = uow.session
    subs = await s.execute(
        select(Subscription)
        .where(Subscription.user_id == user_id, Subscription.active.is_(True))
        .order_by(Subscription.id.desc())
    )
    offers = await s.execute(
        select(Listing)
        .where(Listing.farmer_id == user_id)
        .order_by(Listing.id.desc())
        .limit(LATEST)
    )
    deals = await s.execute(
        select(Order)
        .where(or_(Order.buyer_id == user_id, Order.farmer_id == user_id))
        .order_by(Order.id.desc())
        .limit(LATEST)
    )
    return Detail(
        person=_person(row),
        alerts=[
            Alert(
                a.id,
                a.product,
                a.location,
                a.mode,
                a.direction,
                a.threshold,
                a.currency,
                a.unit,
                a.created_at,
            )
            for a in subs.scalars()
        ],
        listings=[
            Offer(
                x.id,
                x.product,
                x.quantity_total,
                x.quantity_available,
                x.unit,
                x.price,
                x.currency,
                x.price_unit,
                x.location,
                x.status,
                x.created_at,
            )
            for x in offers.scalars()
        ],
        orders=[
            Deal(
                o.id,
                "buyer" if o.buyer_id == user_id else "farmer",
                o.product,
                o.quantity,
                o.unit,
                o.price,
                o.currency,
                o.price_unit,
                o.status,
                o.created_at,
            )
            for o in deals.scalars()
        ],
    )


async def set_role(uow: UnitOfWork, user_id: int, role: str) -> str | None:
    """Make a chat user a coordinator or a plain user again; the role they had, or None when
    there is no such user."""
    if role not in CHAT_ROLES:
        raise ValueError(f"unknown role {role!r}")
    was = (
        await uow.session.execute(select(User.role).where(User.id == user_id))
    ).scalar_one_or_none()
    if was is None:
        return None
    if was != role:
        await uow.session.execute(update(User).where(User.id == user_id).values(role=role))
    return was
