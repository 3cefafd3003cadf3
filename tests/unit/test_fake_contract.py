"""The in-memory market answers as the database does: the same repository calls on the fake
and on a real SQLite unit of work (storage.uow.Database over a file) give the same results."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from storage import repos
from storage.db import create_engine, upgrade
from storage.models import Listing, MarketPrice, Order, Subscription
from storage.uow import Database
from tests.unit import fakes
from tests.unit.fakes import FakeDatabase

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)
Observe = Callable[[Any], Awaitable[list]]


async def _users(uow: Any, *addresses: str) -> list[int]:
    return [(await uow.users.get_or_create("sms", a, NOW, "user", "en")).id for a in addresses]


async def _listing(uow: Any, farmer: int, product: str, qty: str, price: str, **more: Any) -> int:
    values = {
        "unit": "kg",
        "price_unit": "kg",
        "currency": "KES",
        "location": "nakuru",
        "status": "active",
        "expires_at": NOW + 7 * DAY,
        "created_at": NOW,
        **more,
    }
    listing = Listing(
        id=await uow.refs.allocate("listing"),
        farmer_id=farmer,
        product=product,
        quantity_total=Decimal(qty),
        quantity_available=Decimal(qty),
        price=Decimal(price),
        updated_at=values["created_at"],
        **values,
    )
    return (await uow.listings.add(listing)).id


async def stock(db: Any) -> list:
    """Stock is taken only while enough is left and the listing is on offer; a release adds."""
    async with db.uow() as uow:
        farmer, buyer = await _users(uow, "+254711000001", "+254711000002")
        fresh = await _listing(uow, farmer, "potato", "50", "30")
        old = await _listing(uow, farmer, "potato", "50", "30", expires_at=NOW - DAY)
        await uow.commit()
    async with db.uow() as uow:
        seen = [
            await uow.listings.reserve(fresh, Decimal("30"), NOW),
            await uow.listings.reserve(fresh, Decimal("30"), NOW),
            await uow.listings.reserve(fresh, Decimal("20"), NOW),
            await uow.listings.reserve(old, Decimal("1"), NOW),
        ]
        await uow.listings.release(fresh, Decimal("5.5"), NOW)
        await uow.commit()
    async with db.uow() as uow:  # a price change read before a sale keeps the sale
        listing = await uow.listings.get(fresh)
        await uow.listings.reserve(fresh, Decimal("2"), NOW)
        listing.price = Decimal("31")
        await uow.commit()
    async with db.uow() as uow:
        row = await uow.listings.row(fresh)
        expired = await uow.listings.expire(NOW)
        await uow.commit()
    async with db.uow() as uow:
        statuses = [(await uow.listings.get(i)).status for i in (fresh, old)]
    assert seen == [True, False, True, False]
    return [seen, row.quantity_available, row.price, expired, statuses, buyer]


async def offers(db: Any) -> list:
    """A buyer's candidates: on offer, not their own, each group's cheapest (k)."""
    async with db.uow() as uow:
        farmer, other, buyer = await _users(uow, "+254711000011", "+254711000012", "+2547110013")
        for price, qty in (("40", "100"), ("35", "10"), ("30", "80"), ("25", "5"), ("28", "200")):
            await _listing(uow, farmer, "onion", qty, price)
        await _listing(uow, other, "onion", "300", "20", location="eldoret")
        await _listing(uow, other, "onion", "300", "10", unit="bag", price_unit="bag")
        await _listing(uow, other, "onion", "300", "1", expires_at=NOW - DAY)
        await _listing(uow, other, "onion", "0", "1")
        await _listing(uow, buyer, "onion", "300", "1")
        await _listing(uow, other, "garlic", "300", "1", currency="INR")
        await uow.commit()
    seen = []
    async with db.uow() as uow:
        for k in (1, 2, 3):
            found = await uow.listings.candidates(
                "onion", NOW, buyer, "kg", Decimal(50), Decimal(50), k
            )
            seen.append(sorted(tuple(x) for x in found))
        seen.append([x.id for x in await uow.listings.of_farmer(farmer, NOW)])
        seen.append([x.id for x in await uow.listings.of_farmer(other, NOW, "garlic")])
        seen.append(sorted(x.id for x in await uow.listings.active("onion", NOW)))
        seen.append(await uow.listings.latest_currency(other))
        seen.append(await uow.listings.latest_currency(999))
        asked = await uow.listings.asked_between("onion", NOW - DAY, NOW + DAY)
        seen.append(sorted(tuple(x) for x in asked))
    assert len(seen[0]) < len(seen[2])
    return seen


async def orders(db: Any) -> list:
    """An order moves on only from the status expected; lists are newest or oldest first."""
    async with db.uow() as uow:
        farmer, buyer = await _users(uow, "+254711000021", "+254711000022")
        listing = await _listing(uow, farmer, "kale", "100", "20")
        for hours in (1, 2, 3):
            await uow.orders.add(
                Order(
                    id=await uow.refs.allocate("order"),
                    listing_id=listing,
                    buyer_id=buyer,
                    farmer_id=farmer,
                    product="kale",
                    quantity=Decimal("10.0004"),
                    unit="kg",
                    price=Decimal("20.004"),  # an exact half rounds apart: SQLite keeps a float
                    currency="KES",
                    price_unit="kg",
                    status="pending",
                    created_at=NOW,
                    expires_at=NOW + timedelta(hours=hours - 2),
                )
            )
        await uow.commit()
    async with db.uow() as uow:
        pending = await uow.orders.pending_for_farmer(farmer)
        moved = [
            await uow.orders.transition(pending[0], ("pending",), "accepted", NOW),
            await uow.orders.transition(pending[0], ("pending",), "declined", NOW),
        ]
        await uow.commit()
    async with db.uow() as uow:
        mine = [(o.id, o.status) for o in await uow.orders.of_user(buyer, limit=2)]
        overdue = [o.id for o in await uow.orders.overdue(NOW)]
        waiting = [o.id for o in await uow.orders.pending_for_listing(listing)]
        kept = await uow.orders.get(pending[0].id)
    assert moved == [True, False]
    return [moved, mine, overdue, waiting, kept.quantity, kept.price, kept.decided_at]


async def prices_and_alerts(db: Any) -> list:
    """The newest price per market; a plain alert ends apart from a threshold one."""
    async with db.uow() as uow:
        (user,) = await _users(uow, "+254711000031")
        for place, days, price in (("nakuru", 2, "40"), ("nakuru", 1, "42"), ("eldoret", 3, "38")):
            await uow.prices.add(
                MarketPrice(
                    product="maize",
                    location=place,
                    price=Decimal(price),
                    currency="KES",
                    unit="kg",
                    published_at=NOW - days * DAY,
                )
            )
        for market, direction in ((None, None), ("nakuru", None), (None, "below")):
            await uow.subscriptions.add(
                Subscription(
                    user_id=user,
                    product="maize",
                    location=market,
                    direction=direction,
                    threshold=Decimal(30) if direction else None,
                    created_at=NOW,
                )
            )
        await uow.commit()
    async with db.uow() as uow:
        latest = [(p.location, p.price) for p in await uow.prices.latest("maize")]
        here = [(p.location, p.price) for p in await uow.prices.latest("maize", "eldoret")]
        ended = [
            await uow.subscriptions.deactivate_plain(user, "maize", None),
            await uow.subscriptions.deactivate_plain(user, "maize", None),
        ]
        left = [(s.location, s.direction, s.mode) for s in await uow.subscriptions.active_of(user)]
        ended.append(await uow.subscriptions.deactivate(user, "maize"))
        await uow.commit()
    assert latest == [("nakuru", Decimal(42)), ("eldoret", Decimal(38))]
    return [latest, here, ended, left]


async def questions_and_retries(db: Any) -> list:
    """The open question comes back with the sender; a message seen before has its reply;
    what a unit of work did without committing is gone."""
    async with db.uow() as uow:
        (user,) = await _users(uow, "+254711000041")
        await uow.conversations.save(user, "sell.price", {"product": "kale", "n": [1]}, NOW)
        await uow.inbound.add(
            channel="sms",
            message_id="m1",
            user_id=user,
            text="hi",
            intent="greet",
            reply="Hello",
            status="done",
            received_at=NOW,
        )
        await uow.commit()
    async with db.uow() as uow:
        first = await uow.users.arrive("sms", "+254711000041", "m1", NOW, "user")
        other = await uow.users.arrive("sms", "+254711000041", "m2", NOW, "user")
        await uow.conversations.clear(user)
        await uow.prices.add(
            MarketPrice(product="kale", price=1, currency="KES", unit="kg", published_at=NOW)
        )  # not committed
    async with db.uow() as uow:
        later = await uow.users.arrive("sms", "+254711000041", "m3", NOW, "user")
        newcomer = await uow.users.arrive("sms", "+254711000042", "m1", NOW, "user", "en")
        gone = await uow.prices.latest("kale")
        row = await uow.users.row(newcomer.user.id)
        logged = (await uow.inbound.find("sms", "m1")).reply
    return [
        first.conversation.state,
        first.conversation.slots,
        first.seen_reply,
        other.seen_reply,
        later.conversation.state,
        newcomer.seen_reply,
        (row.language, row.role, row.opted_out),
        gone,
        logged,
    ]


@pytest.fixture
async def sqlite_db(tmp_path: Any) -> Any:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'contract.db'}")
    await upgrade(engine)
    db = Database(engine)
    yield db
    await db.close()


@pytest.mark.parametrize(
    "observe", [stock, offers, orders, prices_and_alerts, questions_and_retries]
)
async def test_the_fake_answers_as_sqlite_does(observe: Observe, sqlite_db: Any) -> None:
    assert await observe(FakeDatabase()) == await observe(sqlite_db)


def _faces(cls: type) -> dict[str, list[str]]:
    """A repository's public methods with their parameter names."""
    return {
        name: list(inspect.signature(method).parameters)
        for name, method in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


REPOSITORIES = (
    "Users",
    "References",
    "Listings",
    "Orders",
    "Prices",
    "BuyRequests",
    "Subscriptions",
    "Conversations",
    "Inbound",
    "Outboxes",
)


@pytest.mark.parametrize("name", REPOSITORIES)
def test_each_fake_repository_has_the_real_ones_methods(name: str) -> None:
    real = getattr(repos, name, None)
    assert real is not None, f"storage/repos.py has no {name}: tests/unit/fakes.py follows it"
    assert _faces(getattr(fakes, f"Fake{name}")) == _faces(real)
