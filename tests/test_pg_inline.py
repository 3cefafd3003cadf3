"""The per-message statements on asyncpg's own connection (storage/pg_inline.py): the same
values in and out as through SQLAlchemy, the same exceptions, the unit of work's transaction,
and no prepared statement kept behind a pooler in transaction mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from storage import repos
from storage.db import create_engine, ensure_schema
from storage.models import Conversation, Listing, User
from storage.uow import Database

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 12, 1, 6, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture(params=[False, True], ids=["direct", "transaction pooling settings"])
async def db(pg_url, request):
    engine = create_engine(pg_url, transaction_pooling=request.param)
    await ensure_schema(engine, True)
    database = Database(engine, request.param)
    yield database
    await database.close()


async def new_farmer(uow, address: str = "+254722000301") -> int:
    await uow.users.arrive("sms", address, "SMx", NOW, "user", "en")
    row = await repos.LOCK_ADDRESS.first(uow, {"channel": "sms", "address": address})
    assert row is not None
    return row[0]


async def test_values_go_in_and_come_out_as_through_sqlalchemy(db):
    async def write(uow):
        farmer = await new_farmer(uow)
        listing_id = await uow.refs.allocate("listing")
        await uow.listings.add(
            Listing(
                id=listing_id,
                farmer_id=farmer,
                product="sukuma wiki",
                quantity_total=Decimal("40.500"),
                quantity_available=Decimal("40.500"),
                unit="kg",
                price=Decimal("30.25"),
                currency="KES",
                price_unit="kg",
                location="Kiambu",
                status="active",
                created_at=NOW,
                updated_at=NOW,
                expires_at=NOW + timedelta(days=7),
            )
        )
        slots = {"product": "马铃薯", "offers": [1, 2], "qty": "2.5"}
        await repos.SAVE_CONVERSATION.run(
            uow, {"b_user": farmer, "b_state": "choosing", "b_slots": slots, "b_now": NOW}
        )
        return farmer, listing_id

    farmer, listing_id = await db.transact(write)
    async with db.uow() as uow:
        inline = await repos.LISTING_ROW.first(uow, {"id": listing_id})
        orm = (
            await uow.session.execute(select(Listing).where(Listing.id == listing_id))
        ).scalar_one()
        conv = (
            await uow.session.execute(select(Conversation).where(Conversation.user_id == farmer))
        ).scalar_one()
        arrival = await repos.ARRIVAL.first(
            uow, {"channel": "sms", "address": "+254722000301", "message_id": "none"}
        )
    assert inline is not None and arrival is not None
    assert inline.price == orm.price == Decimal("30.25")
    assert inline.quantity_available == Decimal("40.500")
    assert inline.expires_at == orm.expires_at == NOW + timedelta(days=7)
    assert inline.expires_at.tzinfo is not None
    assert conv.slots == arrival.slots == {"product": "马铃薯", "offers": [1, 2], "qty": "2.5"}
    assert arrival.conv_updated_at == NOW and arrival.state == "choosing"


async def test_a_unique_violation_is_sqlalchemys_integrity_error_and_undoes_the_work(db):
    async def twice(uow):
        farmer = await new_farmer(uow, "+254722000302")
        await uow.session.execute(text("SELECT 1"))  # SQLAlchemy and inline in one transaction
        ref = await uow.refs.allocate("listing")
        params = {
            "b_channel": "sms", "b_message_id": "SMdup", "b_user_id": farmer, "b_text": "hi",
            "b_intent": "greet", "b_reply": "hello", "b_status": "done",
            "b_received_at": NOW, "b_reply_via": None,
        }  # fmt: skip
        await repos.INSERT_INBOUND.run(uow, params)
        await repos.INSERT_INBOUND.run(uow, params)  # the same message id again
        return ref

    with pytest.raises(IntegrityError):
        await db.transact(twice)
    async with db.uow() as uow:  # nothing of it stayed, and the next transaction works
        users = (await uow.session.execute(select(User.address))).scalars().all()
        refs = (await uow.session.execute(text("SELECT count(*) FROM refs"))).scalar_one()
    assert "+254722000302" not in users and refs == 0


async def test_no_prepared_statement_is_kept_behind_a_transaction_pooler(db):
    for n in range(3):
        await db.transact(lambda uow, n=n: new_farmer(uow, f"+25472200031{n}"))

    async def kept(uow):
        return (
            await uow.session.execute(text("SELECT count(*) FROM pg_prepared_statements"))
        ).scalar_one()

    counted = await db.transact(kept)
    if db.transaction_pooling:
        assert counted == 0
    else:  # a direct connection keeps them: the point of preparing
        assert counted > 0
