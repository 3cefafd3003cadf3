"""Repositories: the queries handlers need, one small class per aggregate."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import insert_for, per_dialect
from storage.models import (
    BuyRequest,
    Conversation,
    InboundLog,
    Listing,
    MarketPrice,
    Order,
    Outbox,
    Reference,
    Subscription,
    User,
)

REF_OFFSET = 100  # references start at 101, never confused with a choice "1".."9"

# The statements every message runs are built once: building one costs more than SQLite's
# work on it, and a reused statement also keeps its memoized compiled-cache key.
_SEEN = select(InboundLog.reply).where(
    InboundLog.channel == bindparam("channel"), InboundLog.message_id == bindparam("message_id")).scalar_subquery()
ARRIVAL = (select(User, Conversation.state, Conversation.slots, Conversation.updated_at, _SEEN)
           .outerjoin(Conversation, Conversation.user_id == User.id)
           .where(User.channel == bindparam("channel"), User.address == bindparam("address")))
CANDIDATES = select(
    Listing.id, Listing.farmer_id, Listing.quantity_available, Listing.unit, Listing.location,
    Listing.price, Listing.price_unit, Listing.currency,
).where(Listing.product == bindparam("product"), Listing.status == "active",
        Listing.expires_at > bindparam("now"), Listing.quantity_available > 0)
ASKED = select(Listing.price, Listing.price_unit, Listing.currency).where(
    Listing.product == bindparam("product"), Listing.created_at >= bindparam("start"),
    Listing.created_at < bindparam("end"), Listing.status != "cancelled")
RESERVE = (update(Listing)
           .where(Listing.id == bindparam("listing_id"), Listing.status == "active",
                  Listing.expires_at > bindparam("now"), Listing.quantity_available >= bindparam("qty"))
           .values(quantity_available=Listing.quantity_available - bindparam("qty"), updated_at=bindparam("now")))
BY_ADDRESS = select(User).where(User.channel == bindparam("channel"), User.address == bindparam("address"))
OPEN_REQUESTS = select(BuyRequest).where(
    BuyRequest.product == bindparam("product"), BuyRequest.status == "open",
    BuyRequest.expires_at > bindparam("now")).order_by(BuyRequest.id)


_NEW_USER = {"channel": bindparam("channel"), "address": bindparam("address"), "language": "",
             "role": bindparam("role"), "opted_out": False, "created_at": bindparam("now"),
             "last_seen_at": bindparam("now")}
CREATE_USER = per_dialect(lambda insert: insert(User).values(**_NEW_USER).on_conflict_do_nothing(
    index_elements=["channel", "address"]))
_CONV = Conversation.__table__


def _save_conversation(insert):
    stmt = insert(_CONV).values(user_id=bindparam("b_user"), state=bindparam("b_state"),
                                slots=bindparam("b_slots", type_=_CONV.c.slots.type),
                                updated_at=bindparam("b_now", type_=_CONV.c.updated_at.type))
    return stmt.on_conflict_do_update(index_elements=["user_id"], set_={
        "state": stmt.excluded.state, "slots": stmt.excluded.slots, "updated_at": stmt.excluded.updated_at})


SAVE_CONVERSATION = per_dialect(_save_conversation)
CLEAR_CONVERSATION = _CONV.delete().where(_CONV.c.user_id == bindparam("b_user"))


class _Repo:
    def __init__(self, session: AsyncSession):
        self.s = session

    def _insert(self, model):
        return insert_for(self.s, model)


class OpenQuestion(NamedTuple):
    """A user's conversation row as read (it is written with SAVE_CONVERSATION, not the ORM)."""

    state: str
    slots: dict
    updated_at: datetime


class Arrival(NamedTuple):
    """What the gateway needs first about a message: its sender, their open question, a past reply."""

    user: User
    conversation: OpenQuestion | None
    seen_reply: str | None


class Users(_Repo):
    async def get(self, user_id: int) -> User | None:
        return await self.s.get(User, user_id)

    async def many(self, ids) -> dict[int, User]:
        """Users by id in one query."""
        return {u.id: u for u in (await self.s.execute(select(User).where(User.id.in_(set(ids))))).scalars()}

    async def by_address(self, channel: str, address: str) -> User | None:
        return (await self.s.execute(BY_ADDRESS, {"channel": channel, "address": address})).scalar_one_or_none()

    async def get_or_create(self, channel: str, address: str, now: datetime, role: str) -> User:
        """Insert-if-absent is atomic, so two processes meeting a new user make one row."""
        existing = await self.by_address(channel, address)
        if existing is not None:  # the usual case: one SELECT, no write
            return existing
        await self._create(channel, address, now, role)
        return await self.by_address(channel, address)

    async def _create(self, channel: str, address: str, now: datetime, role: str) -> None:
        stmt = CREATE_USER[self.s.bind.dialect.name]
        await self.s.execute(stmt, {"channel": channel, "address": address, "role": role, "now": now})

    async def arrive(self, channel: str, address: str, message_id: str, now: datetime, role: str) -> Arrival:
        """The sender (created if new; row-locked on PostgreSQL before anything is read), the
        open conversation and the reply already given to this message id, in one SELECT."""
        if self._postgres():
            await self._lock_address(channel, address, now, role)
        row = await self._arrival(channel, address, message_id)
        if row is None:
            await self._create(channel, address, now, role)
            row = await self._arrival(channel, address, message_id)
        user, state, slots, updated_at, seen = row
        return Arrival(user, OpenQuestion(state, slots or {}, updated_at) if state is not None else None, seen)

    async def _arrival(self, channel: str, address: str, message_id: str):
        params = {"channel": channel, "address": address, "message_id": message_id}
        return (await self.s.execute(ARRIVAL, params)).one_or_none()

    async def _lock_address(self, channel: str, address: str, now: datetime, role: str) -> None:
        # READ COMMITTED takes a new snapshot per statement, so what is read after this lock is
        # what the previous holder committed; SQLite needs none (BEGIN IMMEDIATE serializes).
        q = select(User.id).where(User.channel == channel, User.address == address).with_for_update()
        if (await self.s.execute(q)).scalar_one_or_none() is None:
            await self.lock(await self.get_or_create(channel, address, now, role))

    def _postgres(self) -> bool:
        return self.s.bind.dialect.name == "postgresql"

    async def lock(self, user: User) -> None:
        """Serialize work for one user across processes (PostgreSQL row lock)."""
        if self._postgres():
            await self.s.execute(select(User.id).where(User.id == user.id).with_for_update())


async def _insert_row(session: AsyncSession, table, values: dict) -> int:
    """A Core INSERT on the session's connection (no unit-of-work flush); the new primary key."""
    conn = await session.connection()
    return (await conn.execute(table.insert(), values)).inserted_primary_key[0]


class References(_Repo):
    async def allocate(self, kind: str) -> int:
        return await _insert_row(self.s, Reference.__table__, {"kind": kind}) + REF_OFFSET


class Listings(_Repo):
    async def add(self, listing: Listing) -> Listing:
        self.s.add(listing)
        await self.s.flush()
        return listing

    async def get(self, listing_id: int) -> Listing | None:
        return await self.s.get(Listing, listing_id)

    async def candidates(self, product: str, now: datetime) -> list:
        """Active listings of a product with stock, as light rows (the columns ranking needs)."""
        return list(await self.s.execute(CANDIDATES, {"product": product, "now": now}))

    async def many(self, ids: list[int]) -> list[Listing]:
        """Listings by id, in the order given."""
        found = {x.id: x for x in (await self.s.execute(select(Listing).where(Listing.id.in_(ids)))).scalars()}
        return [found[i] for i in ids if i in found]

    async def active(self, product: str, now: datetime) -> list[Listing]:
        q = select(Listing).where(
            Listing.product == product, Listing.status == "active",
            Listing.expires_at > now, Listing.quantity_available > 0,
        )
        return list((await self.s.execute(q)).scalars())

    async def of_farmer(self, farmer_id: int, now: datetime, product: str | None = None) -> list[Listing]:
        q = select(Listing).where(
            Listing.farmer_id == farmer_id, Listing.status == "active", Listing.expires_at > now
        )
        if product:
            q = q.where(Listing.product == product)
        return list((await self.s.execute(q.order_by(Listing.id))).scalars())

    async def reserve(self, listing_id: int, qty: Decimal, now: datetime) -> bool:
        """Take stock only if enough is left: one atomic conditional update, no double sale."""
        params = {"listing_id": listing_id, "now": now, "qty": qty}
        return (await self.s.execute(RESERVE, params)).rowcount == 1

    async def release(self, listing_id: int, qty: Decimal, now: datetime) -> None:
        stmt = (
            update(Listing)
            .where(Listing.id == listing_id)
            .values(quantity_available=Listing.quantity_available + qty, updated_at=now)
        )
        await self.s.execute(stmt)

    async def expire(self, now: datetime) -> int:
        stmt = update(Listing).where(Listing.status == "active", Listing.expires_at <= now)
        return (await self.s.execute(stmt.values(status="expired", updated_at=now))).rowcount

    async def asked_between(self, product: str, start: datetime, end: datetime) -> list:
        """(price, price_unit, currency) of listings of a product offered in [start, end), whatever
        their status now."""
        return list(await self.s.execute(ASKED, {"product": product, "start": start, "end": end}))


class Orders(_Repo):
    async def add(self, order: Order) -> Order:
        self.s.add(order)
        await self.s.flush()
        return order

    async def get(self, order_id: int) -> Order | None:
        return await self.s.get(Order, order_id)

    async def pending_for_farmer(self, farmer_id: int) -> list[Order]:
        q = select(Order).where(Order.farmer_id == farmer_id, Order.status == "pending")
        return list((await self.s.execute(q.order_by(Order.id))).scalars())

    async def pending_for_listing(self, listing_id: int) -> list[Order]:
        q = select(Order).where(Order.listing_id == listing_id, Order.status == "pending")
        return list((await self.s.execute(q)).scalars())

    async def of_user(self, user_id: int, limit: int = 5) -> list[Order]:
        q = select(Order).where((Order.buyer_id == user_id) | (Order.farmer_id == user_id))
        return list((await self.s.execute(q.order_by(Order.id.desc()).limit(limit))).scalars())

    async def overdue(self, now: datetime, limit: int = 100) -> list[Order]:
        q = select(Order).where(Order.status == "pending", Order.expires_at <= now)
        return list((await self.s.execute(q.order_by(Order.id).limit(limit))).scalars())

    async def transition(self, order: Order, frm: tuple[str, ...], to: str, now: datetime) -> bool:
        """Move an order on only from an expected status, so accept and expiry cannot both win."""
        stmt = (
            update(Order)
            .where(Order.id == order.id, Order.status.in_(frm))
            .values(status=to, decided_at=now)
        )
        if (await self.s.execute(stmt)).rowcount != 1:
            return False
        order.status, order.decided_at = to, now
        return True


class Prices(_Repo):
    async def add(self, price: MarketPrice) -> MarketPrice:
        self.s.add(price)
        await self.s.flush()
        return price

    async def latest(self, product: str, location: str | None = None) -> list[MarketPrice]:
        """The newest published price per market (one market when location is given)."""
        q = select(MarketPrice).where(MarketPrice.product == product)
        if location:
            q = q.where(MarketPrice.location == location)
        rows = (await self.s.execute(q.order_by(MarketPrice.published_at.desc(), MarketPrice.id.desc()))).scalars()
        newest: dict[str | None, MarketPrice] = {}
        for row in rows:
            newest.setdefault(row.location, row)
        return list(newest.values())


class BuyRequests(_Repo):
    async def add(self, request: BuyRequest) -> BuyRequest:
        self.s.add(request)
        await self.s.flush()
        return request

    async def open_for(self, product: str, now: datetime) -> list[BuyRequest]:
        return list((await self.s.execute(OPEN_REQUESTS, {"product": product, "now": now})).scalars())

    async def of_buyer(self, buyer_id: int) -> list[BuyRequest]:
        q = select(BuyRequest).where(BuyRequest.buyer_id == buyer_id, BuyRequest.status == "open")
        return list((await self.s.execute(q)).scalars())


class Subscriptions(_Repo):
    async def add(self, sub: Subscription) -> Subscription:
        self.s.add(sub)
        await self.s.flush()
        return sub

    async def active_of(self, user_id: int) -> list[Subscription]:
        q = select(Subscription).where(Subscription.user_id == user_id, Subscription.active.is_(True))
        return list((await self.s.execute(q)).scalars())

    async def deactivate_plain(self, user_id: int, product: str, location: str | None) -> int:
        """End the user's subscriptions to product and place that have no threshold."""
        stmt = update(Subscription).where(
            Subscription.user_id == user_id, Subscription.active.is_(True), Subscription.product == product,
            Subscription.direction.is_(None),
            Subscription.location.is_(None) if location is None else Subscription.location == location)
        return (await self.s.execute(stmt.values(active=False))).rowcount

    async def deactivate(self, user_id: int, product: str | None = None) -> int:
        stmt = update(Subscription).where(Subscription.user_id == user_id, Subscription.active.is_(True))
        if product:
            stmt = stmt.where(Subscription.product == product)
        return (await self.s.execute(stmt.values(active=False))).rowcount


class Conversations(_Repo):
    async def save(self, user_id: int, state: str, slots: dict, now: datetime) -> None:
        """Open or replace the user's question (one upsert, no ORM flush)."""
        conn = await self.s.connection()
        stmt = SAVE_CONVERSATION[self.s.bind.dialect.name]
        await conn.execute(stmt, {"b_user": user_id, "b_state": state, "b_slots": dict(slots), "b_now": now})

    async def clear(self, user_id: int) -> None:
        conn = await self.s.connection()
        await conn.execute(CLEAR_CONVERSATION, {"b_user": user_id})


class Inbound(_Repo):
    async def find(self, channel: str, message_id: str) -> InboundLog | None:
        q = select(InboundLog).where(InboundLog.channel == channel, InboundLog.message_id == message_id)
        return (await self.s.execute(q)).scalar_one_or_none()

    async def add(self, **values) -> None:
        """Record the message; IntegrityError if its (channel, message_id) is already there."""
        await _insert_row(self.s, InboundLog.__table__, values)

    async def count(self) -> int:
        return (await self.s.execute(select(func.count(InboundLog.id)))).scalar_one()


class Outboxes(_Repo):
    async def add(self, row: Outbox) -> Outbox:
        self.s.add(row)
        await self.s.flush()
        return row

    async def insert(self, **values) -> int:
        """A new row without loading it; its id."""
        return await _insert_row(self.s, Outbox.__table__, values)

    async def pending(self, limit: int = 100) -> list[Outbox]:
        q = select(Outbox).where(Outbox.status == "pending").order_by(Outbox.id).limit(limit)
        return list((await self.s.execute(q)).scalars())

    async def get(self, outbox_id: int) -> Outbox | None:
        return await self.s.get(Outbox, outbox_id)
