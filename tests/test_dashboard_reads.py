"""What the dashboard reads, on the real databases: the whole price board read at once gives
the numbers of the SMS price answer product by product; on a SQLite file the dashboard's
reads run off the event loop, beside a writer, and cannot write."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import OperationalError

from handlers import prices
from handlers.context import Scope
from storage.db import create_engine, upgrade
from storage.models import Listing, MarketPrice, User
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
        assert await prices.board(ctx) == {p: board[p] for p in sorted(PRODUCTS)}
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


async def test_a_search_finds_the_same_rows_whether_its_users_are_read_first_or_not(
    chat, monkeypatch
):
    """Listings and orders searched by a farmer's or buyer's name, part of a number, or a
    reference: the page and its count are what a look at every row finds, with the matching
    users read once first (find_people) and when there are too many of them for that."""
    from storage import moderation as reads
    from storage.models import Order

    now, rng = chat.clock(), random.Random(5)
    names = ["王芳", "王伟", "李娜", "Wanjiru", "Otieno", "wanjiku", None]
    async with chat.svc.db.uow() as uow:
        users = [
            (await uow.users.arrive("sms", f"+86138{n:08d}", f"M{n}", now, "user"))[0]
            for n in range(1, 36)
        ]
        for n, u in enumerate(users, 1):
            await uow.session.execute(
                update(User).where(User.id == u.id).values(name=names[n % 7])
            )
        listings, orders = [], []
        for _ in range(120):
            farmer = rng.choice(users)
            listing = Listing(
                id=await uow.refs.allocate("listing"), farmer_id=farmer.id, product="apple",
                quantity_total=Decimal(9), quantity_available=Decimal(9), unit="kg",
                price=Decimal(3), currency="CNY", price_unit="kg", location="wudu",
                status="active", created_at=now, updated_at=now, expires_at=now + timedelta(7),
            )  # fmt: skip
            await uow.listings.add(listing)
            listings.append(listing)
            if rng.random() < 0.5:
                order = Order(
                    id=await uow.refs.allocate("order"), listing_id=listing.id,
                    buyer_id=rng.choice(users).id, farmer_id=farmer.id, product="apple",
                    quantity=Decimal(1), unit="kg", price=Decimal(3), currency="CNY",
                    price_unit="kg", status="pending", created_at=now,
                    expires_at=now + timedelta(hours=2),
                )  # fmt: skip
                await uow.orders.add(order)
                orders.append(order)
        await uow.commit()
    by_id = {u.id: (names[n % 7], u.address) for n, u in enumerate(users, 1)}

    def matches(user_id: int, search: str) -> bool:
        name, address = by_id[user_id]
        digits = "".join(ch for ch in search if ch.isdigit())
        return (
            search.lower() in (name or "").lower()
            or search in address
            or (len(digits) >= 3 and search.strip("0123456789 -") == "" and digits in address)
        )

    some_ref = orders[3].id
    for search in ["王", "wanji", "0000001", "138 0000 002", str(some_ref), "nobody"]:
        ref = int(search) if search.isdigit() and int(search) < 2**31 else None
        want_listings = sorted(
            (x.id for x in listings if matches(x.farmer_id, search) or x.id == ref), reverse=True
        )
        want_orders = sorted(
            (
                o.id
                for o in orders
                if matches(o.buyer_id, search)
                or matches(o.farmer_id, search)
                or ref in (o.id, o.listing_id)
            ),
            reverse=True,
        )

        def matched(user_id: int, search: str = search) -> bool:
            return matches(user_id, search)

        for limit in (2000, 0):  # users read first; too many of them: left to the statements
            monkeypatch.setattr(reads, "MAX_PEOPLE", limit)
            async with chat.svc.db.reader() as uow:
                f = await reads.find_people(uow, reads.Filters(search=search))
                assert (f.people is None) == (limit == 0 and any(map(matched, by_id)))
                got_listings = [x.id for x in await reads.listings(uow, f, None, 500)]
                got_orders = [o.id for o in await reads.orders(uow, f, None, 500)]
                counts = (await reads.count_listings(uow, f), await reads.count_orders(uow, f))
                # counted first, as the pages do: few rows are read by sorting them, page by
                # page (7 at a time) from the newest
                walked = []
                for fetch, n in ((reads.listings, counts[0]), (reads.orders, counts[1])):
                    ids: list[int] = []
                    while page := await fetch(
                        uow, replace(f, rows=n), ids[-1] if ids else None, 7
                    ):
                        ids += [row.id for row in page]
                    walked.append(ids)
            assert got_listings == want_listings == walked[0], search
            assert got_orders == want_orders == walked[1], search
            assert counts == (len(want_listings), len(want_orders)), search
        assert want_listings or want_orders or search == "nobody"


async def test_asking_prices_by_day_kept_for_past_days_are_what_storage_reads(chat):
    """The chart's asking prices per day, with the days that are over kept in memory: the same
    rows as reading the whole window, on every visit, today's new listings included."""
    from aiohttp import web

    from bot.web import past
    from storage import dashboard

    await _market(chat, random.Random(3))
    app = web.Application()
    past.install(app)
    now = chat.clock()

    def key(rows):
        return sorted(rows, key=lambda r: (r.day, r.price, r.price_unit, r.currency))

    async def both(since, until, offset):
        async with chat.svc.db.reader() as uow:
            direct = await dashboard.asked_by_day(uow, "apple", since, until, offset)
            kept = await past.asked_by_day(app, uow, "apple", since, until, offset)
        return key(direct), key(kept)

    windows = [
        (now - timedelta(days=9, hours=5), now + timedelta(seconds=1), 8 * 3600),
        (now - timedelta(days=9, hours=5), now + timedelta(seconds=1), 3 * 3600),
        (now - timedelta(days=20), now + timedelta(seconds=1), 8 * 3600),
        (now - timedelta(hours=2), now + timedelta(seconds=1), 8 * 3600),
    ]
    for since, until, offset in windows * 2:  # read, then from memory
        direct, kept = await both(since, until, offset)
        assert kept == direct
        assert direct or until - since < timedelta(days=1)  # a few hours may have none
    async with chat.svc.db.uow() as uow:
        farmer = (await uow.users.arrive("sms", "+8613822999999", "F", now, "user"))[0]
        await uow.listings.add(
            Listing(
                id=await uow.refs.allocate("listing"), farmer_id=farmer.id, product="apple",
                quantity_total=Decimal(5), quantity_available=Decimal(5), unit="jin",
                price=Decimal("9.99"), currency="CNY", price_unit="jin", location="wudu",
                status="active", created_at=now, updated_at=now, expires_at=now + timedelta(7),
            )
        )  # fmt: skip
        await uow.commit()
    since, until, offset = windows[0]
    direct, kept = await both(since, until, offset)
    assert kept == direct and any(r.price == Decimal("9.99") for r in kept)
    # a farmer changes the price of a listing of five days ago: the kept day is read again
    async with chat.svc.db.uow() as uow:
        old = (
            (
                await uow.session.execute(
                    select(Listing).where(
                        Listing.product == "apple",
                        Listing.created_at < now - timedelta(days=5),
                        Listing.created_at > now - timedelta(days=6),
                    )
                )
            )
            .scalars()
            .first()
        )
        assert old is not None
        old.price = Decimal("77.70")
        await uow.commit()
    direct, kept = await both(since, until, offset)
    assert kept == direct and any(r.price == Decimal("77.70") for r in kept)


async def test_a_weeks_range_and_median_are_those_of_every_listing_asked(chat):
    """The week's asking prices as the price answer gives them, group by group, are the
    lowest, highest and statistics.median of every listing's price (weights restated per
    the currency's unit), with the change on the week before: odd and even counts, ties,
    one listing alone, prices per jin, kg, ton and lb beside each other and per bag apart,
    cancelled ones left out."""
    import statistics

    from handlers.currency import mass_unit
    from handlers.units import KG_PER_UNIT, price_per

    rng = random.Random(23)
    now = chat.clock()
    async with chat.svc.db.uow() as uow:
        farmer = (await uow.users.arrive("sms", "+8613822000077", "F", now, "user"))[0].id
        await uow.commit()
    made: list[Listing] = []
    for product in ("pear", "plum", "fig", "yam", "kale", "leek"):
        count = {"pear": 1, "plum": 2, "fig": 7}.get(product, rng.randint(8, 60))
        for _ in range(count):
            unit = rng.choice(["kg", "jin", "ton", "lb", "bag"])
            price = rng.choice([Decimal("3"), Decimal("3.5"), Decimal(rng.randint(5, 400)) / 20])
            at = now - timedelta(minutes=rng.randint(0, 14 * 24 * 60 - 1))
            made.append(
                Listing(
                    farmer_id=farmer, product=product, quantity_total=Decimal(10),
                    quantity_available=Decimal(10), unit=unit, price=price,
                    currency=rng.choice(["CNY", "CNY", "KES"]), price_unit=unit,
                    location=None, status=rng.choice(["active", "sold", "expired", "cancelled"]),
                    created_at=at, updated_at=at, expires_at=at + timedelta(days=7),
                )
            )  # fmt: skip
    async with chat.svc.db.uow() as uow:
        for listing in made:
            listing.id = await uow.refs.allocate("listing")
            await uow.listings.add(listing)
        await uow.commit()

    def expected(ctx: Scope, product: str) -> dict[tuple[str, str], tuple]:
        weeks: list[dict[tuple[str, str], list[Decimal]]] = [{}, {}]
        for x in made:
            if x.product != product or x.status == "cancelled":
                continue
            week = 0 if x.created_at >= now - timedelta(days=7) else 1
            to = mass_unit(ctx, x.currency) if x.price_unit in KG_PER_UNIT else x.price_unit
            price = price_per(x.price, x.price_unit, to)
            assert price is not None
            weeks[week].setdefault((x.currency, to), []).append(price)
        found = {}
        for group, asked in weeks[0].items():
            median, earlier = statistics.median(asked), weeks[1].get(group)
            was = statistics.median(earlier) if earlier else None
            change = (median - was) / was * 100 if was else None
            found[group] = (min(asked), max(asked), median, len(asked), change)
        return found

    async with chat.svc.db.reader() as uow:
        ctx = Scope(
            uow=uow, settings=chat.svc.settings, catalog=chat.svc.catalog, now=now, lang="en"
        )  # fmt: skip
        for product in ("pear", "plum", "fig", "yam", "kale", "leek"):
            got = {
                (g.currency, g.unit): (g.low, g.high, g.median, g.n, g.change_pct)
                for g in await prices.asking_groups(ctx, product, None)
            }
            assert got == expected(ctx, product), product
