"""The asking prices a process holds (storage/asking.py) answer as the database would.

Two Database objects on one database stand for two farmchat processes (two workers, or two
hosts on PostgreSQL): one asks, the other changes listings of days ago. Every answer is
checked against a count made from the listings table itself, in SQL."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, select, text, update

from storage import asking
from storage.db import create_engine, ensure_schema
from storage.models import Listing
from storage.uow import Database

DAY = timedelta(days=1)
PRODUCT = "mango"


async def open_db(url: str) -> Database:
    engine = create_engine(url)
    await ensure_schema(engine, True)
    return Database(engine)


async def add(db: Database, farmer: int, price: str, made: datetime, **more) -> int:
    async with db.uow() as uow:
        listing = Listing(
            id=await uow.refs.allocate("listing"),
            farmer_id=farmer,
            product=more.pop("product", PRODUCT),
            quantity_total=Decimal(100),
            quantity_available=Decimal(100),
            price=Decimal(price),
            unit="kg",
            price_unit=more.pop("price_unit", "kg"),
            currency="KES",
            location="nakuru",
            status=more.pop("status", "active"),
            expires_at=made + 30 * DAY,
            created_at=made,
            updated_at=made,
        )
        listing_id = (await uow.listings.add(listing)).id
        await uow.commit()
        return listing_id


async def answer(db: Database, start: datetime, end: datetime) -> Counter:
    async with db.uow() as uow:
        rows = await uow.listings.asked_between(PRODUCT, start, end)
    return Counter({(Decimal(r.price), r.price_unit, r.currency): r.n for r in rows})


async def truth(db: Database, start: datetime, end: datetime) -> Counter:
    """What the listings table says, counted in Python from every row."""
    async with db.uow() as uow:
        q = select(Listing).where(Listing.product == PRODUCT, Listing.status != "cancelled")
        rows = (await uow.session.execute(q)).scalars().all()
    return Counter(
        (Decimal(r.price), r.price_unit, r.currency) for r in rows if start <= r.created_at < end
    )


async def change(db: Database, listing_id: int, **values) -> None:
    async with db.uow() as uow:
        await uow.session.execute(update(Listing).where(Listing.id == listing_id).values(**values))
        await uow.commit()


@pytest.fixture
async def two(db_url):
    """(asker, other): two processes' databases, a farmer, and a fortnight of listings."""
    asker, other = await open_db(db_url), await open_db(db_url)
    async with other.uow() as uow:
        farmer = (await uow.users.get_or_create("sms", "+254711000031", NOW(), "farmer", "en")).id
        await uow.commit()
    made = []
    for days in range(15):
        for n in range(3):
            made.append(await add(other, farmer, f"{20 + days + n}", NOW() - days * DAY))
    made.append(await add(other, farmer, "99", NOW() - 5 * DAY, status="cancelled"))
    yield asker, other, farmer, made
    await asker.close()
    await other.close()


def NOW() -> datetime:  # the wall clock, which the held part is cut by
    return datetime.now(UTC)


def weeks() -> list[tuple[datetime, datetime]]:
    now = NOW()
    return [(now - 7 * DAY, now + timedelta(seconds=1)), (now - 14 * DAY, now - 7 * DAY)]


async def assert_same(asker: Database, other: Database) -> None:
    for start, end in weeks():
        assert await answer(asker, start, end) == await truth(other, start, end)


async def test_a_held_answer_is_the_databases(two):
    asker, other, _, _ = two
    await assert_same(asker, other)
    assert _stamp(asker) is not None  # the older part is held, not read each time
    await assert_same(asker, other)  # asked again: the same, from what is held


async def test_another_process_cancelling_an_old_listing_reaches_the_answer(two):
    asker, other, _, made = two
    await assert_same(asker, other)
    await change(other, made[10], status="cancelled")  # three days old
    await assert_same(asker, other)
    await change(other, made[-1], status="active")  # un-cancelled, five days old
    await assert_same(asker, other)


async def test_an_old_listings_price_unit_or_time_changed_elsewhere_reaches_the_answer(two):
    asker, other, _, made = two
    await assert_same(asker, other)
    await change(other, made[20], price=Decimal("7.50"))
    await assert_same(asker, other)
    await change(other, made[21], price_unit="crate")
    await assert_same(asker, other)
    await change(other, made[22], created_at=NOW() - 10 * DAY)  # from this week to the last
    await assert_same(asker, other)
    await change(other, made[23], product="papaya")
    await assert_same(asker, other)


async def test_deleted_and_backdated_listings_reach_the_answer(two):
    asker, other, farmer, made = two
    await assert_same(asker, other)
    async with other.uow() as uow:
        await uow.session.execute(delete(Listing).where(Listing.id == made[5]))
        await uow.commit()
    await assert_same(asker, other)
    await add(other, farmer, "55", NOW() - 4 * DAY)  # imported late, with its own old time
    await assert_same(asker, other)


async def test_new_listings_and_stock_taken_are_counted_without_reading_the_held_part_again(
    two,
):
    asker, other, farmer, made = two
    await assert_same(asker, other)
    before = _stamp(asker)
    await add(other, farmer, "61", NOW())  # a "sell" now
    async with other.uow() as uow:  # a buyer takes stock: quantity and updated_at change
        await uow.listings.reserve(made[3], Decimal(10), NOW())
        await uow.commit()
    await change(other, made[4], status="sold")  # sold out: still an asking price
    await assert_same(asker, other)
    assert _stamp(asker) == before  # none of these changed what is held


async def test_a_change_rolled_back_leaves_the_answer_right(two):
    asker, other, _, made = two
    await assert_same(asker, other)
    counted = sum((await truth(asker, *weeks()[0])).values())
    async with other.uow() as uow:
        await uow.session.execute(
            update(Listing).where(Listing.id == made[12]).values(status="cancelled")
        )
        # asked inside the same transaction: it sees its own change
        rows = await uow.listings.asked_between(PRODUCT, *weeks()[0])
        assert sum(r.n for r in rows) == counted - 1
    # rolled back: the listing counts again, in this process and the other
    await assert_same(other, asker)
    await assert_same(asker, other)


async def test_every_database_has_its_own_stamp(db_url, tmp_path):
    first = await open_db(db_url)
    second = await open_db(f"sqlite+aiosqlite:///{tmp_path / 'another.db'}")
    stamps = []
    for db in (first, second):
        async with db.uow() as uow:
            stamps.append(
                (await uow.session.execute(text("SELECT stamp FROM asking_stamps"))).scalar()
            )
        await db.close()
    assert stamps[0] != stamps[1]


def _stamp(db: Database) -> tuple | None:
    process = asking._BY_ENGINE.get(db.engine.sync_engine)
    held = None if process is None else process.get(PRODUCT)
    return None if held is None else (held.stamp, held.cutoff)
