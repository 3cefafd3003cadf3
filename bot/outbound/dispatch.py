"""The broadcast sender: resolve queued broadcasts, claim outbox rows, send them paced, record
each outcome, retry transient failures with backoff, close finished broadcasts.

Every farmchat process that runs background work runs one; several on one PostgreSQL
database never send a row twice: rows are claimed with FOR UPDATE SKIP LOCKED (on SQLite the
write lock serializes claims). A row stays 'sending' from its claim until its outcome is
recorded; only rows in that state when a process dies are sent again (after
broadcast.claim_timeout_seconds), so a crash can repeat only the messages in flight.
On a clean stop, claimed rows not yet sent are handed back and in-flight sends finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, func, or_, select, update

from bot.config import Settings
from bot.logs import mask
from bot.outbound.pacing import Pacer, channel_rates, cost
from bot.outbound.sender import Outbound, Outgoing, Sender, SendError
from handlers import broadcasts as broadcast
from storage.models import Broadcast, Outbox, User
from storage.uow import Database

log = logging.getLogger(__name__)
MAX_BATCH = 200
MAX_BACKOFF = timedelta(hours=1)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Claimed:
    id: int
    user_id: int
    address: str
    text: str
    attempts: int
    due: float = 0.0


@dataclass
class Outcome:
    id: int
    status: (
        str  # sent | pending (retry) | failed | released (handed back unsent) | deferred (quota)
    )
    sid: str | None = None
    error: str | None = None
    code: int | None = None
    opted_out: bool = False
    user_id: int = 0
    attempts: int = 0
    retry_at: datetime | None = None


class Dispatcher:
    """Sends broadcast rows from the outbox, per channel, until told to stop."""

    def __init__(
        self, db: Database, sender: Sender, settings: Settings, outbound: Outbound | None = None
    ):
        self.db, self.sender, self.settings, self.outbound = db, sender, settings, outbound
        self.cfg = settings.broadcast
        self.pacer = Pacer(channel_rates(settings))
        self.stopping = asyncio.Event()
        self.wake = asyncio.Event()
        self._workers: dict[tuple[str, int], asyncio.Task] = {}

    # supervisor ------------------------------------------------------------------------
    async def run(self) -> None:
        """Poll until stop(): start broadcasts, keep one worker per channel with work, close."""
        while not self.stopping.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("broadcast dispatcher tick failed")
            self.wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.cfg.poll_seconds)
        await self._join_workers()

    async def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    async def tick(self) -> None:
        await self.release_stale()
        await self.start_queued()
        for channel in await self._channels_with_work():
            # unpaced, two workers overlap one batch's database writes with the other's sends
            for n in range(1 if self.pacer.paced(channel) else 2):
                worker = self._workers.get((channel, n))
                if worker is None or worker.done():
                    self._workers[(channel, n)] = asyncio.create_task(
                        self._work(channel), name=f"broadcast-{channel}"
                    )
        await self.close_finished()

    async def _join_workers(self) -> None:
        if self._workers:
            await asyncio.gather(*self._workers.values(), return_exceptions=True)

    async def drain(self, broadcast_id: int | None = None, timeout: float = 3600) -> None:
        """Run until nothing is left to send (of one broadcast, or at all); for the CLI and tests."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await self.tick()
            await self._join_workers()
            if not await self._open(broadcast_id):
                await self.close_finished()
                return
            await asyncio.sleep(min(0.5, self.cfg.poll_seconds))
        raise TimeoutError("broadcast not finished in time")

    async def _open(self, broadcast_id: int | None) -> int:
        q = (
            select(func.count())
            .select_from(Broadcast)
            .where(Broadcast.status.in_(("queued", "sending")))
        )
        if broadcast_id is not None:
            q = q.where(Broadcast.id == broadcast_id)
        async with self.db.uow() as uow:
            return (await uow.session.execute(q)).scalar_one()

    # broadcasts ------------------------------------------------------------------------
    async def start_queued(self) -> None:
        async with self.db.uow() as uow:
            q = select(Broadcast.id).where(Broadcast.status == "queued").order_by(Broadcast.id)
            ids = list((await uow.session.execute(q)).scalars())
        for broadcast_id in ids:
            async with self.db.uow() as uow:
                if await broadcast.start(uow, broadcast_id, self.settings, utcnow()) is not None:
                    await uow.commit()

    async def close_finished(self) -> None:
        async with self.db.uow() as uow:
            q = select(Broadcast.id).where(Broadcast.status == "sending")
            ids = list((await uow.session.execute(q)).scalars())
        for broadcast_id in ids:
            async with self.db.uow() as uow:
                done = await broadcast.finish_if_done(uow, broadcast_id, utcnow())
                if done is None:
                    continue
                notice = await self._summary_notice(uow, done)
                await uow.commit()
            log.info("broadcast %s done: %s", done.id, done.summary)
            if notice and self.outbound:
                await self.outbound.deliver(notice)

    async def _summary_notice(self, uow, bc: Broadcast) -> list[Outgoing]:
        """Tell the coordinator who sent it how it went (a notification in the same outbox)."""
        if bc.created_by is None or self.outbound is None:
            return []
        from handlers.messages import Reply

        user = await uow.users.get(bc.created_by)
        lang = user.language or broadcast.default_lang(self.settings)
        return await self.outbound.queue(
            uow, [Reply(broadcast.summary_text(bc, lang), to=user.id)], utcnow()
        )

    async def _channels_with_work(self) -> list[str]:
        q = (
            select(Outbox.channel)
            .where(Outbox.status == "pending", Outbox.broadcast_id.is_not(None))
            .distinct()
        )
        async with self.db.uow() as uow:
            return list((await uow.session.execute(q)).scalars())

    async def release_stale(self) -> int:
        """Rows claimed by a sender that died (claim older than the timeout) go back to pending."""
        cutoff = utcnow() - timedelta(seconds=self.cfg.claim_timeout_seconds)
        stmt = (
            update(Outbox)
            .where(
                Outbox.status == "sending",
                Outbox.broadcast_id.is_not(None),
                Outbox.claimed_at < cutoff,
            )
            .values(status="pending")
        )
        async with self.db.uow() as uow:
            count = (await uow.session.execute(stmt)).rowcount
            await uow.commit()
        if count:
            log.warning("%s broadcast messages cut off mid-send are sent again", count)
        return count

    # one channel -----------------------------------------------------------------------
    async def _work(self, channel: str) -> None:
        """Claim and send batches until the channel has nothing due or the dispatcher stops."""
        try:
            while not self.stopping.is_set():
                batch = await self.claim(channel)
                if not batch:
                    return
                await self._send_batch(channel, batch)
        except Exception:
            log.exception("broadcast worker for %s failed", channel)

    def _batch_size(self, channel: str) -> int:
        rate = self.pacer.rates.get(channel, 0)
        return (
            MAX_BATCH if rate <= 0 else max(1, min(MAX_BATCH, int(rate)))
        )  # about 1 s of sending

    async def claim(self, channel: str) -> list[Claimed]:
        """Take due pending rows (skipping rows others hold), mark them sending, reserve slots."""
        now = utcnow()
        q = (
            select(Outbox.id, User.opted_out)
            .join(User, User.id == Outbox.user_id)
            .where(
                Outbox.status == "pending",
                Outbox.channel == channel,
                Outbox.broadcast_id.is_not(None),
                or_(Outbox.next_attempt_at.is_(None), Outbox.next_attempt_at <= now),
            )
            .order_by(Outbox.id)
            .limit(self._batch_size(channel))
        )
        async with self.db.uow() as uow:
            if uow.session.bind.dialect.name == "postgresql":
                q = q.with_for_update(of=Outbox, skip_locked=True)
            found = (await uow.session.execute(q)).all()
            skipped = [i for i, opted_out in found if opted_out]
            take = [i for i, opted_out in found if not opted_out]
            if skipped:  # opted out since the broadcast started: nothing goes to them
                await uow.session.execute(
                    update(Outbox)
                    .where(Outbox.id.in_(skipped))
                    .values(status="skipped", error="opted out")
                )
            rows = []
            if take:
                stmt = (
                    update(Outbox)
                    .where(Outbox.id.in_(take))
                    .values(status="sending", attempts=Outbox.attempts + 1, claimed_at=now)
                    .returning(
                        Outbox.id, Outbox.user_id, Outbox.address, Outbox.text, Outbox.attempts
                    )
                )
                rows = sorted(
                    (Claimed(*r) for r in (await uow.session.execute(stmt)).all()),
                    key=lambda c: c.id,
                )
                if self.pacer.paced(channel):
                    dues = await self.pacer.reserve(
                        uow, channel, [cost(channel, c.text) for c in rows]
                    )
                    for row, due in zip(rows, dues):
                        row.due = due
            await uow.commit()
        return rows

    async def _send_batch(self, channel: str, batch: list[Claimed]) -> None:
        gate = asyncio.Semaphore(self.cfg.concurrency)
        outcomes = await asyncio.gather(*(self._send_one(channel, row, gate) for row in batch))
        await self.record(outcomes)

    async def _send_one(self, channel: str, row: Claimed, gate: asyncio.Semaphore) -> Outcome:
        wait = row.due - time.time()
        if wait > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), wait)
        async with gate:
            if self.stopping.is_set():
                return Outcome(row.id, "released", attempts=row.attempts)
            try:
                sid = await self.sender.send(channel, row.address, row.text, ref=row.id, bulk=True)
            except SendError as exc:
                if (
                    exc.retry_at is not None
                ):  # a daily quota is used up: wait for it, spend no attempt
                    return Outcome(
                        row.id,
                        "deferred",
                        error=str(exc)[:255],
                        code=exc.code,
                        retry_at=exc.retry_at,
                    )
                return self._failed(row, str(exc), exc.code, exc.permanent, exc.opted_out)
            except Exception as exc:  # recorded and retried, never raised out of the sender
                return self._failed(row, str(exc) or type(exc).__name__, None, False, False)
        return Outcome(row.id, "sent", sid=sid)

    def _failed(
        self, row: Claimed, error: str, code: int | None, permanent: bool, opted_out: bool
    ) -> Outcome:
        log.warning("broadcast message to %s failed: %s (code %s)", mask(row.address), error, code)
        retry = not permanent and row.attempts < self.cfg.max_attempts
        return Outcome(
            row.id,
            "pending" if retry else "failed",
            error=error[:255],
            code=code,
            opted_out=opted_out,
            user_id=row.user_id,
            attempts=row.attempts,
        )

    def _backoff(self, attempts: int) -> datetime:
        delay = timedelta(seconds=self.cfg.retry_base_seconds * 2 ** max(0, attempts - 1))
        return utcnow() + min(MAX_BACKOFF, delay) * (0.75 + random.random() / 2)

    async def record(self, outcomes: list[Outcome]) -> None:
        """Write every outcome of a batch in one transaction (executemany per kind)."""
        now = utcnow()
        sent = [
            {"b_id": o.id, "b_sid": o.sid, "b_ps": "queued" if o.sid else None}
            for o in outcomes
            if o.status == "sent"
        ]
        failed = [
            {
                "b_id": o.id,
                "b_st": o.status,
                "b_err": o.error,
                "b_code": o.code,
                "b_next": self._backoff(o.attempts) if o.status == "pending" else None,
            }
            for o in outcomes
            if o.status in ("pending", "failed")
        ]
        released = [{"b_id": o.id} for o in outcomes if o.status == "released"]
        deferred = [
            {"b_id": o.id, "b_err": o.error, "b_code": o.code, "b_next": o.retry_at}
            for o in outcomes
            if o.status == "deferred"
        ]
        opted_out = [o.user_id for o in outcomes if o.opted_out]
        t = Outbox.__table__
        async with self.db.uow() as uow:
            s = uow.session
            if sent:
                await s.execute(
                    t.update()
                    .where(t.c.id == bindparam("b_id"))
                    .values(
                        status="sent",
                        sent_at=now,
                        error=None,
                        provider_sid=func.coalesce(t.c.provider_sid, bindparam("b_sid")),
                        provider_status=func.coalesce(t.c.provider_status, bindparam("b_ps")),
                    ),
                    sent,
                )
            if failed:
                await s.execute(
                    t.update()
                    .where(t.c.id == bindparam("b_id"))
                    .values(
                        status=bindparam("b_st"),
                        error=bindparam("b_err"),
                        error_code=bindparam("b_code"),
                        next_attempt_at=bindparam("b_next"),
                    ),
                    failed,
                )
            if released:  # claimed but never sent: not an attempt
                await s.execute(
                    t.update()
                    .where(t.c.id == bindparam("b_id"))
                    .values(status="pending", attempts=t.c.attempts - 1),
                    released,
                )
            if deferred:  # a quota refused it: pending until the reset, not an attempt
                await s.execute(
                    t.update()
                    .where(t.c.id == bindparam("b_id"))
                    .values(
                        status="pending",
                        attempts=t.c.attempts - 1,
                        error=bindparam("b_err"),
                        error_code=bindparam("b_code"),
                        next_attempt_at=bindparam("b_next"),
                    ),
                    deferred,
                )
            if opted_out:
                await s.execute(update(User).where(User.id.in_(opted_out)).values(opted_out=True))
            await uow.commit()
