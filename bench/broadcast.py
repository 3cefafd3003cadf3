"""Broadcast benchmark: resolve + enqueue N recipients, then send them unthrottled to the fake
Twilio (in a separate process, over loopback HTTP) through the real Twilio sender.

    .venv/bin/python bench/broadcast.py [--db sqlite|postgres] [--recipients 100000] [--send 20000]

Targets (issue 6): resolve+enqueue 100,000 recipients <= 10 s; sending >= 1,000 messages/s.
Prints one JSON line. Bounded: --send messages at most, with a 10-minute cap.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import aiohttp
from sqlalchemy import insert, select, text, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.channels.twilio.send import TwilioSender
from bot.config import load_settings
from bot.outbound.dispatch import Dispatcher
from bot.outbound.sender import ChannelSenders, Outbound
from handlers import broadcasts as broadcast
from storage.db import create_engine, upgrade
from storage.models import Base, Outbox, Subscription, User
from storage.uow import Database

SID, TOKEN, NUMBER = "AC" + "3" * 32, "bench-token", "+15005550006"
PG = os.environ.get("FARMCHAT_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/bcast")


async def ensure_pg_database(url: str) -> None:
    """Create the benchmark's own database beside `postgres` if it is not there yet."""
    import asyncpg

    base, _, name = url.rpartition("/")
    conn = await asyncpg.connect(base.replace("postgresql+asyncpg", "postgresql") + "/postgres")
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def fresh(url: str) -> Database:
    if url.startswith("postgresql"):
        await ensure_pg_database(url)
    engine = create_engine(url)
    if url.startswith("postgresql"):
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
            await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    await upgrade(engine)
    return Database(engine)


async def seed(db: Database, count: int) -> None:
    now = datetime.now(UTC)
    for start in range(0, count, 10_000):
        users = [
            {
                "id": i + 1,
                "channel": "sms",
                "address": f"+86137{i:08d}",
                "language": "zh" if i % 2 else "en",
                "role": "user",
                "opted_out": i % 100 == 7,
                "created_at": now,
                "last_seen_at": now,
            }
            for i in range(start, min(count, start + 10_000))
        ]
        async with db.uow() as uow:
            await uow.session.execute(insert(User), users)
            await uow.session.execute(
                insert(Subscription),
                [
                    {
                        "user_id": u["id"],
                        "product": "apple",
                        "active": True,
                        "mode": "instant",
                        "created_at": now,
                    }
                    for u in users
                ],
            )
            await uow.commit()


async def resolve(db: Database, settings) -> tuple[int, int | None, float]:
    """Queue a price broadcast and time its start: audience query + INSERT ... SELECT."""
    async with db.uow() as uow:
        bc = broadcast.new_price(
            _catalog(settings),
            settings,
            "apple",
            None,
            Decimal("4.2"),
            "CNY",
            "kg",
            datetime.now(UTC),
            None,
        )
        uow.session.add(bc)
        await broadcast.queue(uow, bc)
        await uow.commit()
    started = time.perf_counter()
    async with db.uow() as uow:
        count = await broadcast.start(uow, bc.id, settings, datetime.now(UTC))
        await uow.commit()
    return bc.id, count, time.perf_counter() - started


def _catalog(settings):
    from bot.bootstrap import build_catalog

    return build_catalog(settings)


class NullSender:
    """Accepts at once: measures claim, record and pacing without any provider."""

    async def send(self, channel, address, text, ref=None, bulk=False) -> str:
        return f"SM{ref:032d}"


async def send(
    db: Database, settings, broadcast_id: int, limit: int, null: bool
) -> tuple[int, float]:
    """Send `limit` of the broadcast's rows unthrottled; the rest are set aside first."""
    async with db.uow() as uow:
        last = select(Outbox.id).where(Outbox.broadcast_id == broadcast_id).order_by(Outbox.id)
        cutoff = (await uow.session.execute(last.offset(limit - 1).limit(1))).scalar_one_or_none()
        if cutoff is not None:
            await uow.session.execute(
                update(Outbox)
                .where(Outbox.broadcast_id == broadcast_id, Outbox.id > cutoff)
                .values(status="skipped")
            )
        await uow.commit()
    connector = aiohttp.TCPConnector(limit=settings.broadcast.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        sender = NullSender() if null else TwilioSender(settings.twilio, session, None)
        senders = ChannelSenders({"sms": sender})
        dispatcher = Dispatcher(Outbound(db, senders, settings))
        started = time.perf_counter()
        await dispatcher.drain(broadcast_id, timeout=600)
        elapsed = time.perf_counter() - started
    async with db.uow() as uow:
        tally = await broadcast.counts(uow, broadcast_id)
    return tally.get("sent", 0), elapsed


def start_fake(port: int) -> subprocess.Popen:
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot.fakes.twilio",
            "--port",
            str(port),
            "--account-sid",
            SID,
            "--auth-token",
            TOKEN,
        ],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    return proc


async def wait_port(port: int) -> None:
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("fake Twilio did not start")


async def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args.add_argument("--recipients", type=int, default=100_000)
    args.add_argument("--send", type=int, default=20_000)
    args.add_argument("--concurrency", type=int, default=16)
    args.add_argument("--port", type=int, default=18089)
    args.add_argument(
        "--null-sender", action="store_true", help="no HTTP: the engine's own ceiling"
    )
    opts = args.parse_args()
    tmp = tempfile.mkdtemp()
    url = PG if opts.db == "postgres" else f"sqlite+aiosqlite:///{tmp}/bench.db"
    settings = load_settings(
        None,
        environ={
            "FARMCHAT_DATABASE__URL": url,
            "FARMCHAT_TWILIO__ACCOUNT_SID": SID,
            "FARMCHAT_TWILIO__AUTH_TOKEN": TOKEN,
            "FARMCHAT_TWILIO__FROM_NUMBER": NUMBER,
            "FARMCHAT_TWILIO__API_BASE": f"http://127.0.0.1:{opts.port}",
            "FARMCHAT_BROADCAST__RATES": '{"sms": 0}',
            "FARMCHAT_BROADCAST__CONCURRENCY": str(opts.concurrency),
        },
    )
    db = await fresh(url)
    await seed(db, opts.recipients)
    broadcast_id, count, resolve_s = await resolve(db, settings)
    fake = start_fake(opts.port)
    try:
        await wait_port(opts.port)
        sent, send_s = await send(db, settings, broadcast_id, opts.send, opts.null_sender)
    finally:
        fake.terminate()
        fake.wait(10)
    await db.close()
    print(
        json.dumps(
            {
                "db": opts.db,
                "recipients": count,
                "resolve_enqueue_s": round(resolve_s, 2),
                "sent": sent,
                "send_s": round(send_s, 2),
                "messages_per_s": round(sent / send_s, 1),
                "concurrency": opts.concurrency,
                "sender": "null" if opts.null_sender else "fake Twilio",
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
