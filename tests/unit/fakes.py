"""The market's storage in memory, behind the faces of storage/uow.py and storage/repos.py.

The repositories answer with the same kinds of things as the real ones (model objects, or
light rows with named fields) and follow the same rules: stock is taken only if enough is
left, expired and sold-out listings are never offered, a buyer's candidates are each
group's cheapest, the newest price per market is the one shown. The rows and their
transactions are tests/unit/memory.py's.
"""

from __future__ import annotations

import copy
from collections import defaultdict, namedtuple
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from storage.models import (
    Broadcast,
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
from storage.repos import KG_PER_UNIT, REF_OFFSET, Arrival, OpenQuestion
from tests.unit.memory import Row, Store, Transaction, light

T = TypeVar("T")

Offer = namedtuple(
    "Offer",
    "id farmer_id quantity_available unit location price price_unit currency",
)
Asked = namedtuple("Asked", "price price_unit currency n")


class FakeDatabase(Store):
    """The market's committed rows, and units of work over them."""

    dialect = "memory"

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)

    async def transact(self, work: Callable[[FakeUnitOfWork], Awaitable[T]]) -> T:
        async with self.uow() as uow:
            value = await work(uow)
            await uow.commit()
            return value

    async def close(self) -> None:
        return None


class FakeUnitOfWork(Transaction):
    """A transaction with the repositories handlers use (storage/uow.UnitOfWork's)."""

    async def __aenter__(self) -> FakeUnitOfWork:
        await super().__aenter__()
        self.users = FakeUsers(self)
        self.refs = FakeReferences(self)
        self.listings = FakeListings(self)
        self.orders = FakeOrders(self)
        self.prices = FakePrices(self)
        self.requests = FakeBuyRequests(self)
        self.subscriptions = FakeSubscriptions(self)
        self.conversations = FakeConversations(self)
        self.inbound = FakeInbound(self)
        self.outbox = FakeOutboxes(self)
        return self


class _Repo:
    def __init__(self, uow: FakeUnitOfWork):
        self.uow = uow


class FakeUsers(_Repo):
    async def get(self, user_id: int) -> User | None:
        return self.uow.load(User, user_id)

    async def by_address(self, channel: str, address: str) -> User | None:
        found = self.uow.select(User, lambda r: (r["channel"], r["address"]) == (channel, address))
        return found[0] if found else None

    async def get_or_create(
        self, channel: str, address: str, now: datetime, role: str, language: str = ""
    ) -> User:
        existing = await self.by_address(channel, address)
        if existing is not None:
            return existing
        values = {"channel": channel, "address": address, "language": language, "role": role}
        self.uow.insert(
            User, {**values, "opted_out": False, "created_at": now, "last_seen_at": now}
        )
        found = await self.by_address(channel, address)
        assert found is not None
        return found

    async def arrive(
        self,
        channel: str,
        address: str,
        message_id: str,
        now: datetime,
        role: str,
        language: str = "",
    ) -> Arrival:
        """The sender (created if new), their open question and a reply already given."""
        user = await self.get_or_create(channel, address, now, role, language)
        conv = self.uow.table(Conversation).get(user.id)
        seen = self.uow.where(
            InboundLog, lambda r: (r["channel"], r["message_id"]) == (channel, message_id)
        )
        question = (
            OpenQuestion(conv["state"], copy.deepcopy(conv["slots"]) or {}, conv["updated_at"])
            if conv is not None
            else None
        )
        return Arrival(user, question, seen[0]["reply"] if seen else None)

    async def row(self, user_id: int) -> Any:
        row = self.uow.table(User).get(user_id)
        return None if row is None else light(User, row)

    async def write_changes(self) -> None:
        """What the message changed of its users, written now (the real one's prepared
        UPDATEs; here the unit of work's flush of its objects)."""
        self.uow.flush()

    async def touch(self, user: User, role: str, language: str, seen: datetime) -> None:
        row = self.uow.table(User)[user.id]
        self.uow.update(User, [row], role=role, language=language, last_seen_at=seen)

    async def mark_opted_out(self, user_ids: Iterable[int]) -> None:
        """Users a provider reported as opted out."""
        ids = set(user_ids)
        rows = self.uow.where(User, lambda r: r["id"] in ids)
        self.uow.update(User, rows, sync=False, opted_out=True)


class FakeReferences(_Repo):
    async def allocate(self, kind: str) -> int:
        return int(self.uow.insert(Reference, {"kind": kind})) + REF_OFFSET


def _offered(product: str, now: datetime) -> Callable[[Row], bool]:
    """A listing a buyer may be offered: active, not expired, with stock left."""
    return lambda r: (
        r["product"] == product
        and r["status"] == "active"
        and r["expires_at"] > now
        and r["quantity_available"] > 0
    )


def _surplus(r: Row, want_unit: str, need: float, need_kg: float | None) -> float | None:
    """Stock beyond the need, in the listing's unit or in kg; None when units do not convert."""
    if r["unit"] == want_unit:
        return float(r["quantity_available"]) - need
    kg = KG_PER_UNIT.get(r["unit"])
    return None if kg is None or need_kg is None else float(r["quantity_available"]) * kg - need_kg


def _thinned(rows: list[Row], want: tuple[str, float, float | None], tol: float, k: int) -> set:
    """Ids of each ranking group's k cheapest with enough stock and, in a group with fewer
    than k with plenty, its k cheapest short of stock (storage/repos._candidates)."""
    groups: dict[tuple, list[Row]] = defaultdict(list)
    for r in rows:
        groups[r["location"], r["unit"], r["price_unit"], r["currency"]].append(r)
    keep = set()
    for members in groups.values():
        members.sort(key=lambda r: (r["price"], r["id"]))
        surplus = {r["id"]: _surplus(r, *want) for r in members}
        enough = [r for r in members if (s := surplus[r["id"]]) is None or s >= -tol]
        plenty = [r for r in members if (s := surplus[r["id"]]) is None or s > tol]
        keep |= {r["id"] for r in enough[:k]}
        if len(plenty) < k:
            short = [r for r in members if (s := surplus[r["id"]]) is not None and s <= tol]
            keep |= {r["id"] for r in short[:k]}
    return keep


class FakeListings(_Repo):
    async def add(self, listing: Listing) -> Listing:
        return self.uow.add(listing)

    async def row(self, listing_id: int) -> Any:
        row = self.uow.table(Listing).get(listing_id)
        return None if row is None else light(Listing, row)

    async def get(self, listing_id: int) -> Listing | None:
        return self.uow.load(Listing, listing_id)

    async def candidates(
        self,
        product: str,
        now: datetime,
        buyer_id: int,
        want_unit: str,
        need: Decimal,
        need_kg: Decimal | None,
        k: int,
    ) -> list:
        offered = _offered(product, now)
        rows = self.uow.where(Listing, lambda r: offered(r) and r["farmer_id"] != buyer_id)
        tol = 1e-6 * max(1.0, float(need_kg if need_kg is not None else need))
        want = (want_unit, float(need), None if need_kg is None else float(need_kg))
        keep = _thinned(rows, want, tol, k)
        return [Offer(*(r[f] for f in Offer._fields)) for r in rows if r["id"] in keep]

    async def active(self, product: str, now: datetime) -> list[Listing]:
        return self.uow.select(Listing, _offered(product, now))

    async def of_farmer(
        self, farmer_id: int, now: datetime, product: str | None = None
    ) -> list[Listing]:
        return self.uow.select(
            Listing,
            lambda r: (
                r["farmer_id"] == farmer_id
                and r["status"] == "active"
                and r["expires_at"] > now
                and (not product or r["product"] == product)
            ),
        )

    async def latest_currency(self, farmer_id: int) -> str | None:
        mine = self.uow.where(Listing, lambda r: r["farmer_id"] == farmer_id)
        return mine[-1]["currency"] if mine else None

    async def reserve(self, listing_id: int, qty: Decimal, now: datetime) -> bool:
        """Take stock only if the listing is on offer and enough is left."""
        rows = self.uow.where(
            Listing,
            lambda r: (
                r["id"] == listing_id
                and r["status"] == "active"
                and r["expires_at"] > now
                and r["quantity_available"] >= qty
            ),
        )
        left = lambda r: r["quantity_available"] - qty  # noqa: E731
        # a prepared UPDATE: objects already read keep the values they had
        return (
            self.uow.update(Listing, rows, sync=False, quantity_available=left, updated_at=now)
            == 1
        )

    async def release(self, listing_id: int, qty: Decimal, now: datetime) -> None:
        rows = self.uow.where(Listing, lambda r: r["id"] == listing_id)
        more = lambda r: r["quantity_available"] + qty  # noqa: E731
        self.uow.update(Listing, rows, quantity_available=more, updated_at=now)

    async def expire(self, now: datetime) -> int:
        rows = self.uow.where(
            Listing, lambda r: r["status"] == "active" and r["expires_at"] <= now
        )
        return self.uow.update(Listing, rows, status="expired", updated_at=now)

    async def asked_between(self, product: str, start: datetime, end: datetime) -> list:
        counts: dict[tuple, int] = defaultdict(int)
        for r in self.uow.where(
            Listing,
            lambda r: (
                r["product"] == product
                and start <= r["created_at"] < end
                and r["status"] != "cancelled"
            ),
        ):
            counts[r["price"], r["price_unit"], r["currency"]] += 1
        return [Asked(price, per, money, n) for (price, per, money), n in counts.items()]


class FakeOrders(_Repo):
    async def add(self, order: Order) -> Order:
        return self.uow.add(order)

    async def get(self, order_id: int) -> Order | None:
        return self.uow.load(Order, order_id)

    async def pending_for_farmer(self, farmer_id: int) -> list[Order]:
        return self.uow.select(
            Order, lambda r: r["farmer_id"] == farmer_id and r["status"] == "pending"
        )

    async def pending_for_listing(self, listing_id: int) -> list[Order]:
        return self.uow.select(
            Order, lambda r: r["listing_id"] == listing_id and r["status"] == "pending"
        )

    async def of_user(self, user_id: int, limit: int = 5) -> list[Order]:
        mine = self.uow.select(Order, lambda r: user_id in (r["buyer_id"], r["farmer_id"]))
        return mine[::-1][:limit]

    async def overdue(self, now: datetime, limit: int = 100) -> list[Order]:
        return self.uow.select(
            Order, lambda r: r["status"] == "pending" and r["expires_at"] <= now
        )[:limit]

    async def asked_by(self, notice_ids: Sequence[int]) -> list[Order]:
        """Pending orders whose farmer got one of these notices in the order's transaction."""
        asked = {
            (r["user_id"], r["created_at"])
            for r in self.uow.where(
                Outbox,
                lambda r: (
                    r["id"] in notice_ids
                    and r["broadcast_id"] is None
                    and r["kind"] == "notification"
                ),
            )
        }
        return self.uow.select(
            Order,
            lambda r: r["status"] == "pending" and (r["farmer_id"], r["created_at"]) in asked,
        )

    async def transition(self, order: Order, frm: tuple[str, ...], to: str, now: datetime) -> bool:
        """Move an order on only from an expected status (as written, not as held in memory)."""
        rows = self.uow.where(Order, lambda r: r["id"] == order.id and r["status"] in frm)
        if self.uow.update(Order, rows, status=to, decided_at=now) != 1:
            return False
        order.status, order.decided_at = to, now
        return True


class FakePrices(_Repo):
    async def add(self, price: MarketPrice) -> MarketPrice:
        self.uow.flush()  # adding and flushing writes the other changes too
        return self.uow.add(price)

    async def latest(self, product: str, location: str | None = None) -> list:
        """The newest price per market (one market when location is given), newest first."""
        rows = self.uow.where(
            MarketPrice,
            lambda r: r["product"] == product and (not location or r["location"] == location),
        )
        rows.sort(key=lambda r: (r["published_at"], r["id"]), reverse=True)
        newest: dict = {}
        for r in rows[:1] if location else rows:
            newest.setdefault(r["location"], light(MarketPrice, r))
        return list(newest.values())


class FakeBuyRequests(_Repo):
    async def add(self, request: BuyRequest) -> BuyRequest:
        self.uow.flush()
        return self.uow.add(request)

    async def open_for(self, product: str, now: datetime) -> list[BuyRequest]:
        return self.uow.select(
            BuyRequest,
            lambda r: r["product"] == product and r["status"] == "open" and r["expires_at"] > now,
        )


class FakeSubscriptions(_Repo):
    async def add(self, sub: Subscription) -> Subscription:
        self.uow.flush()
        return self.uow.add(sub)

    async def active_of(self, user_id: int) -> list[Subscription]:
        return self.uow.select(Subscription, lambda r: r["user_id"] == user_id and r["active"])

    async def deactivate_plain(self, user_id: int, product: str, location: str | None) -> int:
        """End the user's subscriptions to product and place that have no threshold."""
        rows = self.uow.where(
            Subscription,
            lambda r: (
                r["user_id"] == user_id
                and r["active"]
                and r["product"] == product
                and r["direction"] is None
                and r["location"] == location
            ),
        )
        return self.uow.update(Subscription, rows, active=False)

    async def deactivate(self, user_id: int, product: str | None = None) -> int:
        rows = self.uow.where(
            Subscription,
            lambda r: (
                r["user_id"] == user_id
                and r["active"]
                and (not product or r["product"] == product)
            ),
        )
        return self.uow.update(Subscription, rows, active=False)


class FakeConversations(_Repo):
    async def save(self, user_id: int, state: str, slots: dict, now: datetime) -> None:
        """Open or replace the user's question (the slots as JSON keeps them)."""
        values = {"user_id": user_id, "state": state, "slots": dict(slots), "updated_at": now}
        self.uow.table(Conversation).pop(user_id, None)
        self.uow.insert(Conversation, values)

    async def clear(self, user_id: int) -> None:
        self.uow.table(Conversation).pop(user_id, None)


class FakeInbound(_Repo):
    async def find(self, channel: str, message_id: str) -> InboundLog | None:
        found = self.uow.select(
            InboundLog, lambda r: (r["channel"], r["message_id"]) == (channel, message_id)
        )
        return found[0] if found else None

    async def add(self, **values: Any) -> None:
        """Record the message; Duplicate if its (channel, message_id) is already there."""
        self.uow.insert(InboundLog, values)

    async def count(self) -> int:
        return len(self.uow.table(InboundLog))


class FakeOutboxes(_Repo):
    async def add(self, row: Outbox) -> Outbox:
        self.uow.flush()
        return self.uow.add(row)

    async def insert(self, **values: Any) -> int:
        """A new row without loading it (every column not given is NULL); its id."""
        return int(self.uow.insert(Outbox, values))


async def skip_pending(uow: FakeUnitOfWork, user_id: int, product: str | None = None) -> int:
    """A user who unsubscribes gets nothing more from broadcasts not yet sent to them
    (handlers/broadcasts.skip_pending over the in-memory rows)."""
    about = {
        key for key, b in uow.table(Broadcast).items() if not product or b["product"] == product
    }
    rows = uow.where(
        Outbox,
        lambda r: (
            r["user_id"] == user_id
            and r["status"] == "pending"
            and r["broadcast_id"] is not None
            and r["broadcast_id"] in about
        ),
    )
    return uow.update(Outbox, rows, status="skipped", error="unsubscribed")
