"""What the dashboard reads, on the real databases: the whole price board read at once gives
the numbers of the SMS price answer product by product; on a SQLite file the dashboard's
reads run off the event loop, beside a writer, and cannot write."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from handlers import prices
from handlers.context import Scope
from storage.db import create_engine, upgrade
from storage.models import Listing, MarketPrice
from storage.uow import Database

PRODUCTS = ["apple", "potato", "maize", "walnut"]
PLACES = [None, "wudu", "chengxian", "nakuru"]


async def _market(chat, rng: random.Random) -> None:
    """Listings over three weeks in two currencies and several units, some cancelled, and
    coordinator prices republished over time in several markets."""
    now = chat.clock()
    async with chat.svc.db.uow() as uow:
        farmers = [
            (await uow.users.arrive("sms", f"+8613822{n:06d}", f"F{n}", now, "user"))[0]
            for n in range(5)
        ]
        for _ in range(400):
            unit = rng.choice(["kg", "jin", "ton", "bag"])
            qty = Decimal(rng.randint(1, 500))
            made = now - timedelta(hours=rng.randint(0, 21 * 24))
            await uow.listings.add(
                Listing(
                    id=await uow.refs.allocate("listing"),
                    farmer_id=rng.choice(farmers).id,
                    product=rng.choice(PRODUCTS[:3]),  # walnut: a price and no listings
                    quantity_total=qty,
                    quantity_available=qty,
                    unit=unit,
                    price=Decimal(rng.randint(10, 90)) / 10,
                    currency=rng.choice(["CNY", "CNY", "KES"]),
                    price_unit=rng.choice(["kg", "jin", unit]),
                    location=rng.choice(PLACES),
                    status=rng.choice(["active", "active", "expired", "cancelled"]),
                    created_at=made,
                    updated_at=made,
                    expires_at=made + timedelta(days=7),
                )
            )
        for n in range(60):
            uow.session.add(
                MarketPrice(
                    product=rng.choice(PRODUCTS[1:]),  # apple: listings and no price
                    location=rng.choice(PLACES),
                    price=Decimal(rng.randint(10, 90)) / 10,
                    currency="CNY",
                    unit=rng.choice(["jin", "kg"]),
                    # some at the very same moment: the later one is the newer
                    published_at=now - timedelta(days=rng.randint(0, 40), hours=n % 2),
                    published_by=None,
                )
            )
        await uow.commit()


async def test_the_board_read_at_once_is_the_price_answer_of_each_product(chat):
    await _market(chat, random.Random(11))
    async with chat.svc.db.reader() as uow:
        ctx = Scope(
            uow=uow, settings=chat.svc.settings, catalog=chat.svc.catalog, now=chat.clock(),
            lang="en",
        )  # fmt: skip
        board = await prices.board(ctx, PRODUCTS)
        assert list(board) == PRODUCTS
        for product in PRODUCTS:
            quotes, groups = board[product]
            assert quotes == await prices.market_quotes(ctx, product)
            assert groups == await prices.asking_groups(ctx, product, None)
    apple_quotes, apple_groups = board["apple"]
    walnut_quotes, walnut_groups = board["walnut"]
    assert apple_quotes == [] and apple_groups  # listings, no coordinator price
    assert walnut_quotes and walnut_groups == []  # a price, no listings
    markets = [q.location for q in board["potato"][0]]
    assert len(markets) == len(set(markets)) >= 2  # one price per market, the newest
    stamps = [q.published_at for q in board["potato"][0]]
    assert stamps == sorted(stamps, reverse=True)


@pytest.fixture
async def sqlite_file(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'farm.db'}")
    await upgrade(engine)
    db = Database(engine)
    yield db
    await db.close()


async def test_a_read_runs_beside_a_writer_holding_the_lock_and_cannot_write(sqlite_file):
    db = sqlite_file
    async with db.uow() as uow:
        await uow.session.execute(
            text("INSERT INTO refs (id, kind) VALUES (1, 'listing'), (2, 'order')")
        )
        await uow.commit()
    async with db.uow() as writer:
        # the writer holds SQLite's write lock (BEGIN IMMEDIATE) with a change not committed
        await writer.session.execute(text("INSERT INTO refs (id, kind) VALUES (3, 'listing')"))
        async with db.reader() as reader:
            seen = (await reader.session.execute(text("SELECT count(*) FROM refs"))).scalar()
            assert seen == 2  # the last committed state, at once, not after the writer
            with pytest.raises(OperationalError, match="readonly"):
                await reader.session.execute(text("DELETE FROM refs"))
        await writer.commit()
    async with db.reader() as reader:
        assert (await reader.session.execute(text("SELECT count(*) FROM refs"))).scalar() == 3


async def test_a_long_read_leaves_the_event_loop_free(sqlite_file):
    """A page's SQL must not stop the loop that answers the webhooks: while a read that keeps
    SQLite busy for a while runs, other work on the loop goes on."""
    ticks = 0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.002)

    busy = text(  # SQLite counting to several million in a recursive CTE, in its own code
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000000) "
        "SELECT count(*) FROM n"
    )
    stop = asyncio.Event()
    task = asyncio.create_task(ticker(stop))
    await asyncio.sleep(0.01)
    async with sqlite_file.reader() as reader:
        before = ticks
        assert (await reader.session.execute(busy)).scalar() == 4000000
        during = ticks - before
    stop.set()
    await task
    # on the loop the read would allow no tick at all; off it, the ticker keeps going
    assert during >= 5, f"the loop ticked {during} times during the read"
