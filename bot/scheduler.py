"""Schedules: daily digests and scheduled broadcasts, on APScheduler 3's AsyncIOScheduler.

The database is the schedule: a scheduled broadcast is a row with send_at, a digest run is a
row with a unique key (digest:2026-11-28:apple). APScheduler only says when to look, and
every job is an idempotent conditional write, so a restart neither loses a run (missed times
are caught up at start) nor doubles one. Running two APScheduler 3 processes on one job
store fires every job twice, so exactly one process leads: the holder of a PostgreSQL
advisory lock (released by the server when the process or its connection dies), or of a
file lock beside a SQLite database.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select, text, update
from sqlalchemy.engine import make_url

from bot.config import Settings
from handlers import broadcasts as broadcast
from handlers import prices, texts
from handlers.context import Context
from handlers.segments import fit, segments
from nlu.catalog import Catalog
from storage.db import insert_for
from storage.models import Broadcast, Subscription
from storage.uow import Database

log = logging.getLogger(__name__)
LOCK_KEY = 0x66636873  # "fchs": farmchat scheduler
SYNC_SECONDS = 30
LEADER_RETRY_SECONDS = 5
DIGEST_CATCH_UP = timedelta(hours=6)  # a digest missed by less than this is sent late


def utcnow() -> datetime:
    return datetime.now(UTC)


class PostgresLeader:
    """pg_try_advisory_lock on a connection of its own, held while this process leads."""

    def __init__(self, db: Database):
        self.db, self.conn = db, None

    async def acquire(self) -> bool:
        conn = await self.db.engine.connect()
        try:
            got = (
                await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY})
            ).scalar()
            await conn.commit()  # a session lock outlives the transaction; no idle transaction
        except Exception:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self.conn = conn
        return True

    async def alive(self) -> bool:
        try:
            await self.conn.execute(text("SELECT 1"))
            await self.conn.commit()
            return True
        except Exception:
            log.warning("lost the scheduler's database connection")
            return False

    async def release(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await self.conn.invalidate()  # closed, not pooled: the lock ends with the session
                await self.conn.close()
            self.conn = None


class FileLeader:
    """An exclusive flock on a file beside the SQLite database; the kernel drops it at exit."""

    def __init__(self, path: str):
        self.path, self.fd = path, None

    async def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    async def alive(self) -> bool:
        return True

    async def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def leader_for(db: Database) -> PostgresLeader | FileLeader:
    if db.dialect == "postgresql":
        return PostgresLeader(db)
    path = make_url(str(db.engine.url)).database or "farmchat.db"
    return FileLeader(f"{path}.scheduler-lock")


class Scheduler:
    """Leads when it can; while leading, runs the APScheduler jobs derived from the database."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        catalog: Catalog,
        on_queued: Callable[[], None] = lambda: None,
    ):
        self.db, self.settings, self.catalog, self.on_queued = db, settings, catalog, on_queued
        self.zone = ZoneInfo(settings.market.timezone)
        self.stopping = asyncio.Event()
        self.leading = asyncio.Event()
        self.aps: AsyncIOScheduler | None = None

    async def run(self) -> None:
        leader = leader_for(self.db)
        while not self.stopping.is_set():
            try:
                if await leader.acquire():
                    await self._lead(leader)
            except Exception:
                log.exception("scheduler failed")
            await self._sleep(LEADER_RETRY_SECONDS)

    async def stop(self) -> None:
        self.stopping.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def _lead(self, leader) -> None:
        log.info("this process runs the scheduler")
        self.aps = AsyncIOScheduler(
            timezone=self.zone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.aps.add_job(
            self.sync, IntervalTrigger(seconds=SYNC_SECONDS), id="sync", next_run_time=utcnow()
        )
        if self.settings.broadcast.digest_time:
            hour, minute = map(int, self.settings.broadcast.digest_time.split(":"))
            self.aps.add_job(
                self.digest, CronTrigger(hour=hour, minute=minute, timezone=self.zone), id="digest"
            )
        self.aps.start()
        self.leading.set()
        try:
            await self.catch_up_digest()
            while not self.stopping.is_set() and await leader.alive():
                await self._sleep(10)
        finally:
            self.leading.clear()
            self.aps.shutdown(wait=False)
            await leader.release()

    # scheduled broadcasts --------------------------------------------------------------
    async def sync(self) -> None:
        """One APScheduler job per scheduled broadcast row (past times fire at once)."""
        async with self.db.uow() as uow:
            q = select(Broadcast.id, Broadcast.send_at).where(Broadcast.status == "scheduled")
            due = dict((await uow.session.execute(q)).all())
        now = utcnow()
        for broadcast_id, send_at in due.items():
            self.aps.add_job(
                self.fire,
                DateTrigger(run_date=max(send_at or now, now)),
                args=[broadcast_id],
                id=f"broadcast-{broadcast_id}",
                replace_existing=True,
            )
        for job in self.aps.get_jobs():
            if job.id.startswith("broadcast-") and int(job.id.split("-")[1]) not in due:
                job.remove()

    async def fire(self, broadcast_id: int) -> bool:
        """A scheduled broadcast becomes queued, once (the dispatcher sends it)."""
        stmt = (
            update(Broadcast)
            .where(
                Broadcast.id == broadcast_id,
                Broadcast.status == "scheduled",
                Broadcast.send_at <= utcnow() + timedelta(seconds=1),
            )
            .values(status="queued")
        )
        async with self.db.uow() as uow:
            fired = (await uow.session.execute(stmt)).rowcount == 1
            await uow.commit()
        if fired:
            log.info("scheduled broadcast %s is due", broadcast_id)
            self.on_queued()
        return fired

    # daily digest ----------------------------------------------------------------------
    async def catch_up_digest(self) -> None:
        """After a restart past today's digest time (within DIGEST_CATCH_UP), run it now."""
        if not self.settings.broadcast.digest_time:
            return
        local = utcnow().astimezone(self.zone)
        hour, minute = map(int, self.settings.broadcast.digest_time.split(":"))
        at = datetime.combine(local.date(), clock_time(hour, minute), self.zone)
        if at <= local < at + DIGEST_CATCH_UP:
            await self.digest()

    async def digest(self) -> int:
        """Queue today's digest per product with daily subscribers; a day's key exists once."""
        now = utcnow()
        day = now.astimezone(self.zone).date().isoformat()
        async with self.db.uow() as uow:
            q = (
                select(Subscription.product)
                .where(
                    Subscription.active.is_(True),
                    Subscription.mode == "daily",
                    Subscription.product.is_not(None),
                )
                .distinct()
            )
            products = sorted((await uow.session.execute(q)).scalars())
        queued = 0
        for product in products:
            queued += await self._digest_one(product, f"digest:{day}:{product}", now)
        if queued:
            self.on_queued()
        return queued

    async def _digest_one(self, product: str, key: str, now: datetime) -> int:
        async with self.db.uow() as uow:
            by_lang = {}
            for lang in broadcast.LANGS:
                ctx = Context(
                    msg=None,
                    user=None,
                    parse=None,
                    lang=lang,
                    uow=uow,
                    settings=self.settings,
                    catalog=self.catalog,
                    now=now,
                )
                lines = await prices.summary_lines(ctx, product)
                if lines:
                    name = self.catalog.product_name(product, lang)
                    head = texts.t(
                        "digest_header", lang, product=name, Product=name[:1].upper() + name[1:]
                    )
                    by_lang[lang] = _fit_digest(head, lines)
            if not by_lang:
                return 0  # nothing to tell about this product today
            stmt = (
                insert_for(uow.session, Broadcast)
                .values(
                    kind="digest",
                    key=key,
                    status="queued",
                    product=product,
                    texts=by_lang,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["key"])
            )
            made = (await uow.session.execute(stmt)).rowcount
            await uow.commit()
        return made


def _fit_digest(head: str, lines: list[str]) -> str:
    """Header and as many whole lines as fit one SMS segment (at least the first, cut to fit)."""
    text = head + ("" if head.endswith("：") else " ") + lines[0]
    for line in lines[1:]:
        longer = text + "\n" + line
        if segments(longer) > 1:
            break
        text = longer
    return fit(text, 1)
