"""The per-message statements on asyncpg's own connection (storage/pg_inline.py): the same
exceptions as through SQLAlchemy, the unit of work's transaction, and no prepared statement
kept behind a pooler in transaction mode. (Values in and out as through the ORM:
tests/test_group_commit.py, on both databases.)"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from storage import repos
from storage.db import create_engine, ensure_schema
from storage.models import User
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
