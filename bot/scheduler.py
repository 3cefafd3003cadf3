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
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot import metrics
from bot.config import Settings
from handlers import broadcasts as broadcast
from handlers import prices, texts
from handlers.context import Scope
from handlers.segments import fit, segments
from nlu.catalog import Catalog
from storage import schedule
from storage.uow import Database

log = logging.getLogger(__name__)
SYNC_SECONDS = 30
LEADER_RETRY_SECONDS = 5  # how often a follower tries to lead, and a leader checks its lock
# behind a pooler in transaction mode: how long a leader's lease lasts unless renewed (at
# each check), so how soon another process leads when it dies
LEASE_SECONDS = 3 * LEADER_RETRY_SECONDS
STEP_DOWN_SECONDS = 30  # for the jobs running to finish when the lead is given up
DIGEST_CATCH_UP = timedelta(hours=6)  # a digest missed by less than this is sent late


def utcnow() -> datetime:
    return datetime.now(UTC)


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
        self.leader = schedule.leader_for(db, LEASE_SECONDS)
        self.aps: AsyncIOScheduler | None = None
        self._running: set[asyncio.Task] = set()  # the jobs running now

    async def keep_lead(self) -> None:
        """Lead if no other process does; step down when the lock is lost. Run every
        LEADER_RETRY_SECONDS."""
        if self.aps is not None:
            if not await self.leader.alive():
                await self.step_down()
            return
        if await self.leader.acquire():
            try:
                await self._lead()
            except BaseException:
                await self.step_down()
                raise

    async def _lead(self) -> None:
        log.info("this process runs the scheduler")
        self.aps = AsyncIOScheduler(
            timezone=self.zone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.aps.add_job(
            self._job(self.sync),
            IntervalTrigger(seconds=SYNC_SECONDS),
            id="sync",
            next_run_time=utcnow(),
        )
        if self.settings.broadcast.digest_time:
            hour, minute = map(int, self.settings.broadcast.digest_time.split(":"))
            self.aps.add_job(
                self._job(self.digest),
                CronTrigger(hour=hour, minute=minute, timezone=self.zone),
                id="digest",
            )
        self.aps.start()
        metrics.LEADER.set(1)
        await self.catch_up_digest()

    async def step_down(self, timeout: float = STEP_DOWN_SECONDS) -> None:
        """Start no more jobs, let those running finish (for up to `timeout` seconds), and let
        another process lead."""
        if self.aps is not None:
            self.aps.pause()
            if self._running:
                await asyncio.wait(set(self._running), timeout=timeout)
            self.aps.shutdown(wait=False)  # cancels the jobs still running
            self.aps = None
            metrics.LEADER.set(0)
        await self.leader.release()

    def _job(self, job: Callable[..., Awaitable[object]]) -> Callable[..., Awaitable[object]]:
        """job as APScheduler runs it, known to step_down: APScheduler's shutdown cancels the
        coroutine jobs running, in the middle of their transactions."""

        @functools.wraps(job)
        async def run(*args: object) -> object:
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                return await job(*args)
            finally:
                self._running.discard(task)

        return run

    # scheduled broadcasts --------------------------------------------------------------
    async def sync(self) -> None:
        """One APScheduler job per scheduled broadcast row (past times fire at once)."""
        if self.aps is None:
            return
        async with self.db.uow() as uow:
            due = await schedule.scheduled(uow)
        now = utcnow()
        for broadcast_id, send_at in due.items():
            self.aps.add_job(
                self._job(self.fire),
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
        async with self.db.uow() as uow:
            fired = await schedule.fire(uow, broadcast_id, utcnow() + timedelta(seconds=1))
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
            products = await schedule.daily_products(uow)
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
                scope = Scope(
                    uow=uow, settings=self.settings, catalog=self.catalog, now=now, lang=lang
                )
                lines = await prices.summary_lines(scope, product)
                if lines:
                    name = self.catalog.product_name(product, lang)
                    head = texts.t(
                        "digest_header", lang, product=name, Product=name[:1].upper() + name[1:]
                    )
                    by_lang[lang] = _fit_digest(head, lines)
            if not by_lang:
                return 0  # nothing to tell about this product today
            made = await schedule.add_digest(uow, key, product, by_lang, now)
            await uow.commit()
        return int(made)


def _fit_digest(head: str, lines: list[str]) -> str:
    """Header and as many whole lines as fit one SMS segment (at least the first, cut to fit)."""
    text = head + ("" if head.endswith("：") else " ") + lines[0]
    for line in lines[1:]:
        longer = text + "\n" + line
        if segments(longer) > 1:
            break
        text = longer
    return fit(text, 1)
