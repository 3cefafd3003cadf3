"""farmchat through Debian's PgBouncer (1.18) in transaction pooling mode, started here.

Such a pooler lends a server connection for one transaction at a time and predates
PgBouncer's own handling of prepared statements (max_prepared_statements, 1.21). With
`database.transaction_pooling: true` farmchat keeps no prepared statement and no session
state: a trade over signed Twilio webhooks to `farmchat serve` with two workers, the
scheduler's leader held by exactly one process as a lease, taken over when it runs out, and no
prepared statement left on PgBouncer's server connections. Without the setting, the very
first statements fail: the reason it exists."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import aiohttp
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from bot.fakes.twilio import FakeTwilio, inbound_fields, post_inbound
from storage.db import create_engine, ensure_schema
from storage.models import Listing, Order, SchedulerLease
from storage.schedule import LeaseLeader
from storage.uow import Database
from tests.conftest import PG_URL, fresh_postgres
from tests.pgbouncer_rig import MISSING, running_pgbouncer, through
from tests.test_broadcast_process import NUMBER, SID, TOKEN, server_env, until
from tests.test_clean_stop import Serve, assert_clean

if MISSING and not os.environ.get("FARMCHAT_REQUIRE_PGBOUNCER"):
    pytest.skip(
        MISSING + " (apt-get install pgbouncer; FARMCHAT_REQUIRE_PGBOUNCER=1 makes this an error)",
        allow_module_level=True,
    )
pytestmark = pytest.mark.postgres
FARMER, BUYER = "+254711000301", "+254722000302"


@pytest.fixture(scope="module")
def pgbouncer() -> Iterator[int]:
    if MISSING:
        pytest.fail(MISSING)
    with running_pgbouncer() as port:
        yield port


@pytest.fixture
async def pooled_url(pgbouncer) -> str:
    """An empty, migrated schema, reached through PgBouncer."""
    await fresh_postgres()
    url = through(PG_URL, pgbouncer)
    engine = create_engine(url, transaction_pooling=True)
    await ensure_schema(engine, True)
    await engine.dispose()
    return url


async def _prepared_left(url: str) -> int:
    """Prepared statements on the server connection PgBouncer lends next (it has 4)."""
    engine = create_engine(url, transaction_pooling=True)
    try:
        found = 0
        for _ in range(8):
            async with engine.connect() as conn:
                q = text("SELECT count(*) FROM pg_prepared_statements")
                found = max(found, (await conn.execute(q)).scalar_one())
        return found
    finally:
        await engine.dispose()


async def test_the_lease_has_one_holder_and_moves_when_it_runs_out(pooled_url):
    dbs = [Database(create_engine(pooled_url, transaction_pooling=True), True) for _ in range(2)]
    first, second = (LeaseLeader(db, ttl=1.5) for db in dbs)
    try:
        assert await first.acquire()
        assert not await second.acquire()
        assert await first.alive()  # renewed
        assert not await second.acquire()
        await first.release()  # a clean stop gives it up at once
        assert await second.acquire()
        assert not await first.acquire()
        # the holder dies (renews no more): the lease runs out and the other one leads
        await asyncio.sleep(2.0)
        assert await first.acquire()
        assert not await second.alive()  # and the old holder learns it no longer leads
        async with dbs[0].uow() as uow:
            holder = (await uow.session.execute(select(SchedulerLease.holder))).scalar_one()
        assert holder == first.me
    finally:
        for db in dbs:
            await db.close()


async def test_a_trade_through_the_pooler_with_two_workers_and_one_leader(
    pooled_url, nlu_cache, real_nlu, tmp_path
):
    async with FakeTwilio(SID, TOKEN) as fake:
        env = server_env(
            pooled_url,
            nlu_cache,
            fake,
            FARMCHAT_SERVER__WORKERS="2",
            FARMCHAT_DATABASE__TRANSACTION_POOLING="true",
            FARMCHAT_DASHBOARD__KEY_FILE=str(tmp_path / "session.key"),
        )
        port = int(env["FARMCHAT_SERVER__PORT"])
        env["FARMCHAT_SERVER__PUBLIC_URL"] = f"http://127.0.0.1:{port}"
        serve = await Serve.start(env, tmp_path / "log")
        try:
            url = f"http://127.0.0.1:{port}/webhooks/twilio"
            async with aiohttp.ClientSession() as http:

                async def say(who: str, body: str) -> str:
                    status, reply = await post_inbound(
                        http, url, TOKEN, inbound_fields(who, NUMBER, body)
                    )
                    assert status == 200, reply
                    return reply

                assert "40" in await say(FARMER, "sell 40 kg tomatoes at 60 per kg")
                offers = await say(BUYER, "buy 10kg tomatoes")
                assert "60" in offers, offers
                await say(BUYER, "1")
                # the farmer is asked, through the outbox, to accept
                await until(
                    lambda: _asked(fake), "the farmer asked to accept the order at the fake", 30
                )
                db = Database(create_engine(pooled_url, transaction_pooling=True), True)
                try:
                    async with db.uow() as uow:
                        listing = (await uow.session.execute(select(Listing))).scalar_one()
                        order = (await uow.session.execute(select(Order))).scalar_one()
                        await until(lambda: _leads(db), "a scheduler leader", 30)
                    assert listing.quantity_available == 30
                    assert order.status == "pending" and order.quantity == 10
                finally:
                    await db.close()
            # one leader among the two workers, each worker's metrics summed at a scrape
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{port}/metrics") as resp,
            ):
                body = await resp.text()
            leading = [
                line for line in body.splitlines() if line.startswith("farmchat_scheduler_leader")
            ]
            assert sum(float(line.split()[-1]) for line in leading) == 1, leading
        finally:
            os.kill(serve.proc.pid, signal.SIGTERM)
            code = await serve.wait()
            serve.kill()
    assert code == 0, serve.output()[-4000:]
    assert_clean(serve.output())
    assert await _prepared_left(pooled_url) == 0


async def _asked(fake: FakeTwilio) -> bool:
    return any(m["To"].endswith(FARMER) for m in fake.messages)


async def _leads(db: Database) -> bool:
    async with db.uow() as uow:
        row = (await uow.session.execute(select(SchedulerLease))).scalar_one()
    return bool(row.holder)


async def test_without_the_setting_statements_fail_through_the_pooler(pooled_url):
    """What the setting is for: asyncpg's and SQLAlchemy's kept, named statements (last in
    this module: the statements it leaves on PgBouncer's server connections stay there)."""
    engine = create_engine(pooled_url)

    async def reads(n: int) -> None:
        async with engine.connect() as conn:
            for table in ("users", "listings", "orders")[n % 3 :]:
                await conn.execute(text(f"SELECT count(*) FROM {table}"))
                await conn.commit()

    try:
        with pytest.raises(DBAPIError, match="prepared statement"):
            for _ in range(20):  # bounded: it fails in the first rounds
                await asyncio.gather(*(reads(n) for n in range(8)))
    finally:
        await engine.dispose()
