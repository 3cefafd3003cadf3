"""Group commit and prepared statements: many messages in one SQLite transaction, each undone
alone when it fails; prepared statements read and write exactly what the ORM does."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from handlers import table
from storage.fast import Prepared
from storage.models import InboundLog, Listing, Outbox, User
from storage.repos import ARRIVAL, LISTING_ROW

APOLOGY = "Sorry, something went wrong, please try again."


async def scalar(chat, query):
    async with chat.svc.db.uow() as uow:
        return (await uow.session.execute(query)).scalar_one()


async def test_concurrent_messages_share_transactions_and_a_failure_is_undone_alone(
    chat, monkeypatch
):
    """20 farmers list at once; the handler fails for one of them after writing a listing and
    renaming the user. That one gets the apology and leaves nothing; the 19 others are listed."""
    sell = table.INTENT_HANDLERS["sell"]
    unlucky = "+8613800000013"

    async def sometimes_broken(ctx):
        replies = await sell(ctx)
        if ctx.msg.message_id == f"G{unlucky}":
            ctx.user.name = "Half Done"  # an ORM change that must not be flushed
            raise RuntimeError("boom")
        return replies

    monkeypatch.setitem(table.INTENT_HANDLERS, "sell", sometimes_broken)
    farmers = [f"+86138000000{n:02d}" for n in range(20)]
    replies = await asyncio.gather(
        *(chat.send(f, "sell 50kg apples at 3/kg", message_id=f"G{f}") for f in farmers)
    )
    by_farmer = dict(zip(farmers, replies, strict=True))
    assert by_farmer.pop(unlucky) == APOLOGY
    assert all("Listing" in r for r in by_farmer.values())
    assert await scalar(chat, select(func.count()).select_from(Listing)) == 19
    assert (
        await scalar(chat, select(func.count()).select_from(User).where(User.name == "Half Done"))
        == 0
    )
    assert (
        await scalar(
            chat, select(func.count()).select_from(InboundLog).where(InboundLog.status == "done")
        )
        == 19
    )
    assert (
        await scalar(chat, select(InboundLog.status).where(InboundLog.message_id == f"G{unlucky}"))
        == "error"
    )
    group = chat.svc.db.group
    if chat.svc.db.dialect == "sqlite":  # fewer transactions than messages: they were grouped
        assert group.pieces >= 20 and group.batches < group.pieces
    else:
        assert group is None  # PostgreSQL runs concurrent transactions itself
    # and the next message from the unlucky farmer works
    assert "Listing" in await chat.send(unlucky, "sell 10kg pears at 2/kg")


async def test_a_failed_commit_fails_every_message_of_the_batch(chat, monkeypatch):
    """If the shared COMMIT itself fails, every message in it gets the apology, none a reply
    for a change that was lost."""
    if chat.svc.db.group is None:
        pytest.skip("group commit is SQLite's")
    from storage.uow import UnitOfWork

    real_commit = UnitOfWork.commit
    failures = 0

    async def failing_once(self):
        nonlocal failures
        if failures == 0:
            failures += 1
            raise OSError("disk I/O error")
        await real_commit(self)

    monkeypatch.setattr(UnitOfWork, "commit", failing_once)
    farmers = [f"+86138000001{n:02d}" for n in range(5)]
    replies = await asyncio.gather(*(chat.send(f, "sell 50kg apples at 3/kg") for f in farmers))
    lost = [r for r in replies if r == APOLOGY]
    assert lost  # the first batch was lost ...
    listed = await scalar(chat, select(func.count()).select_from(Listing))
    assert listed == len(replies) - len(
        lost
    )  # ... and only the replies that say "listed" were listed


async def test_prepared_statements_round_trip_like_the_orm(chat):
    """Decimal, aware UTC datetimes, JSON and booleans come back from the prepared path exactly as
    the ORM gives them, on both databases."""
    db, now = chat.svc.db, chat.clock()
    async with db.uow() as uow:
        user, _, _ = await uow.users.arrive("sms", "+8613800000099", "M1", now, "user", "zh")
        listing = await uow.listings.add(
            Listing(
                id=await uow.refs.allocate("listing"),
                farmer_id=user.id,
                product="apple",
                quantity_total=Decimal("12.345"),
                quantity_available=Decimal("12.345"),
                unit="jin",
                price=Decimal("3.50"),
                currency="CNY",
                price_unit="jin",
                location="wudu",
                created_at=now,
                updated_at=now,
                expires_at=now + timedelta(days=7),
            )
        )
        await uow.conversations.save(user.id, "buy.choice", {"offers": [[1, "2.5"]], "n": 1}, now)
        await uow.commit()
    async with db.uow() as uow:
        orm = await uow.session.get(Listing, listing.id)
        row = await LISTING_ROW.first(uow, {"id": listing.id})
        arrival = await ARRIVAL.first(
            uow, {"channel": "sms", "address": "+8613800000099", "message_id": "M1"}
        )
    assert row is not None and arrival is not None
    assert orm.status == "active"  # the model's default, applied by the prepared INSERT
    for column in Listing.__table__.c:
        assert getattr(row, column.key) == getattr(orm, column.key), column.key
    assert row.quantity_available == Decimal("12.345") and isinstance(row.price, Decimal)
    assert row.created_at == now and row.created_at.tzinfo is not None
    assert (arrival.language, arrival.opted_out, arrival.state) == ("zh", False, "buy.choice")
    assert arrival.slots == {"offers": [[1, "2.5"]], "n": 1} and arrival.seen is None


async def test_a_user_row_changed_by_the_orm_is_written_at_commit(chat):
    """A user read by the prepared ARRIVAL is a real ORM object: a change to it is flushed."""
    async with chat.svc.db.uow() as uow:
        user, _, _ = await uow.users.arrive("sms", "+8613800000098", "M2", chat.clock(), "user")
        user.name = "Wang"
        await uow.commit()
    assert await scalar(chat, select(User.name).where(User.address == "+8613800000098")) == "Wang"


def test_in_lists_are_refused_at_build_time():
    with pytest.raises(ValueError, match="IN list"):
        Prepared(
            update(Outbox).where(Outbox.status.in_(("pending", "sending"))).values(status="x")
        )


@pytest.mark.parametrize(
    "want",
    [
        {"product": "apple", "quantity": "40", "unit": "kg"},
        {
            "product": "apple",
            "quantity": "80",
            "unit": "jin",
        },  # 40 kg: the line falls on listings of 40 kg
        {"product": "apple", "quantity": "0.04", "unit": "ton"},
        {
            "product": "apple",
            "quantity": "3",
            "unit": "box",
        },  # a count unit: stock unknown for weights
    ],
)
async def test_offers_thinned_in_sql_are_the_best_of_all_listings(chat, want):
    """handlers/buy.rank reads only a few listings per (place, units, currency) group; its top
    offers are exactly those of ranking every active listing, near the stock line too."""
    import random

    from handlers import buy, currency
    from handlers.context import Context, Parse
    from handlers.messages import InboundMessage

    rng, now = random.Random(7), chat.clock()
    places = [None, "wudu", "chengxian", "tianshui", "nakuru"]
    async with chat.svc.db.uow() as uow:
        buyer, _, _ = await uow.users.arrive("sms", "+254700000777", "B0", now, "user")
        farmers = [
            (await uow.users.arrive("sms", f"+8613811{n:06d}", f"F{n}", now, "user"))[0]
            for n in range(6)
        ]
        for _ in range(300):
            unit = rng.choice(["kg", "jin", "ton", "box", "kg", "jin"])
            qty = rng.choice(
                [
                    Decimal("40"),
                    Decimal("80"),
                    Decimal("0.04"),
                    Decimal("3"),
                    Decimal("39.999"),
                    Decimal(rng.randint(1, 120)),
                ]
            )
            await uow.listings.add(
                Listing(
                    id=await uow.refs.allocate("listing"),
                    farmer_id=rng.choice([*farmers, buyer]).id,
                    product="apple",
                    quantity_total=qty,
                    quantity_available=qty,
                    unit=unit,
                    price=Decimal(rng.randint(20, 60)) / 10,
                    currency=rng.choice(["CNY", "CNY", "KES"]),
                    price_unit=rng.choice(["kg", "jin", unit]),
                    location=rng.choice(places),
                    status=rng.choice(["active"] * 5 + ["sold"]),
                    created_at=now,
                    updated_at=now,
                    expires_at=now + timedelta(days=rng.choice([-1, 7, 7, 7])),
                )
            )
        await uow.commit()
    async with chat.svc.db.uow() as uow:
        user = await uow.session.get(User, buyer.id)
        ctx = Context(
            msg=InboundMessage("sms", "+254700000777", "buy apples", "R1", now),
            user=user,
            parse=Parse("buy apples", "buy", 1.0),
            lang="en",
            uow=uow,
            settings=chat.svc.settings,
            catalog=chat.svc.catalog,
            now=now,
        )
        for place in ("wudu", None):
            for exclude in ((), (150, 151, 152)):
                thinned = await buy.rank(ctx, user, want, exclude, place)
                every = (
                    (
                        await uow.session.execute(
                            select(Listing).where(
                                Listing.product == "apple",
                                Listing.status == "active",
                                Listing.expires_at > now,
                                Listing.quantity_available > 0,
                                Listing.farmer_id != user.id,
                            )
                        )
                    )
                    .scalars()
                    .all()
                )
                key = buy.offer_key(ctx, want, place, currency.user_currency(ctx, user, place))
                best = sorted((x for x in every if x.id not in exclude), key=key)
                assert [x.id for x in thinned] == [x.id for x in best[: ctx.market.max_offers]]
