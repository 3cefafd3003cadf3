"""The outbox service: every message to a user other than the sender (order notices, relays,
broadcasts) is an outbox row first, then a push.

A notification's row is written in the same transaction as the change it reports (the
order, the decline), already claimed by the process that commits it, and pushed after the
commit, so a crash can delay a notification but never lose it. Broadcast rows are claimed in
batches by bot/outbound/dispatch.py. Both kinds share one claim, one send, one record of the
outcomes, one retry policy class and one recovery of claims cut off by a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from bot import metrics
from bot.config import Settings
from bot.outbound.pacing import Pacer, channel_rates
from bot.outbound.push import ChannelSenders, PrintSender, RecordingSender, Sender, SendError
from bot.outbound.retry import RetryPolicy
from handlers.messages import Reply
from storage import outbox
from storage.outbox import Claimed, Outcome
from storage.uow import Database, UnitOfWork

__all__ = [
    "ChannelSenders",
    "Outbound",
    "Outgoing",
    "PrintSender",
    "RecordingSender",
    "SendError",
    "Sender",
]
log = logging.getLogger(__name__)
Outgoing = Claimed  # a notification's row, claimed at its insert
MAX_ATTEMPTS = 5  # a notification's
RETRY_SECONDS = 30.0  # a notification's first retry, then twice as long each time
FLUSH_BATCH = 50
FLUSH_LIMIT = 500  # notifications per sweep


def utcnow() -> datetime:
    return datetime.now(UTC)


class Outbound:
    """Queue messages in the outbox, push them, record what became of each, retry, recover."""

    def __init__(
        self,
        db: Database,
        sender: Sender,
        settings: Settings,
        *,
        background: bool = False,
        pacer: Pacer | None = None,
    ):
        """background: push after the reply instead of before it (webhooks must answer fast).
        pacer: the channels' shared rates (default: the configured ones)."""
        self.db, self.sender, self.settings, self.background = db, sender, settings, background
        self.pacer = pacer or Pacer(channel_rates(settings))
        cfg = settings.broadcast
        self.concurrency = cfg.concurrency
        # a row left "sending" longer than this was claimed by a process that died: notifications
        # and broadcast messages alike (a push is sent right after its claim)
        stale = timedelta(seconds=cfg.claim_timeout_seconds)
        self.notifications = RetryPolicy.exponential(
            "notifications", False, MAX_ATTEMPTS, RETRY_SECONDS, stale
        )
        self.broadcasts = RetryPolicy.exponential(
            "broadcast messages",
            True,
            cfg.max_attempts,
            cfg.retry_base_seconds,
            stale,
        )
        self.stopping = asyncio.Event()  # no more claims; rows waiting for a slot go back
        self._tasks: set[asyncio.Task] = set()
        # told the ids of notifications that can never reach their user (bot/bootstrap.py)
        self.on_unreachable: Callable[[list[int]], Awaitable[None]] | None = None

    def reaches(self, channel: str) -> bool:
        """Whether users of the channel can be sent notifications from this process (a
        provider's channel only where that provider is configured; every channel from the
        console, which prints what it cannot send)."""
        return not isinstance(self.sender, ChannelSenders) or self.sender.reaches(channel)

    # notifications ---------------------------------------------------------------------
    async def queue(self, uow: UnitOfWork, notices: list[Reply], now: datetime) -> list[Claimed]:
        """The notices' rows, written already claimed by this process, in uow's transaction:
        after the commit deliver() takes each one's slot on its channel and pushes it. The
        message's transaction never touches the channel's pace row, which every sender shares
        (on PostgreSQL it would hold it locked, and every other notification waiting, until its
        commit). Should the process die before the push, a sweep sends them once the claim is
        stale."""
        rows = []
        for notice in notices:
            if notice.to is None:
                raise ValueError(f"a notification without a recipient: {notice.text!r}")
            rows.append(await outbox.add_claimed(uow, notice.to, notice.text, notice.kind, now))
        return rows

    async def deliver(self, rows: Sequence[int | Claimed]) -> None:
        """Push notification rows: ids (claimed here first) or rows queue() claimed in a
        committed transaction. With background, after the caller has answered."""
        if self.background and rows:
            task = asyncio.create_task(self._deliver_all(rows))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            await self._deliver_all(rows)

    async def _deliver_all(self, rows: Sequence[int | Claimed]) -> None:
        ids = [row for row in rows if isinstance(row, int)]
        claimed = [row for row in rows if not isinstance(row, int)]
        await self.pacer.take_at_push(self.db, claimed)  # queued: their slots now
        if ids:
            claimed += await self.claim(self.notifications, len(ids), ids=ids)
        for row in claimed:
            outcome = await self.send(row, self.notifications)
            await self.record([outcome])
            await self._unreachable([outcome])

    async def drain(self) -> None:
        """Let pushes in progress finish (shutdown); what is left stays in the outbox."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=30)

    async def flush(self) -> int:
        """Send the notifications that are due (retries, and rows a crash cut off once their
        claim is stale); how many were claimed."""
        await self.release_stale(self.notifications)
        count = 0
        while count < FLUSH_LIMIT and not self.stopping.is_set():
            rows = await self.claim(self.notifications, FLUSH_BATCH)
            if not rows:
                break
            await self._unreachable(await self.send_batch(rows, self.notifications))
            count += len(rows)
        return count

    async def _unreachable(self, outcomes: Sequence[Outcome]) -> None:
        """Hand the notifications that never reached their user, once recorded, to
        on_unreachable (an order's farmer who was never told of it)."""
        ids = [o.id for o in outcomes if o.unreachable]
        if not ids or self.on_unreachable is None:
            return
        try:
            await self.on_unreachable(ids)
        except Exception:
            log.exception("%s undeliverable notifications not followed up", len(ids))

    # one implementation for every kind -------------------------------------------------
    async def claim(
        self,
        policy: RetryPolicy,
        limit: int,
        channel: str | None = None,
        ids: Sequence[int] = (),
    ) -> list[Claimed]:
        """Claim due rows of the policy's kind and book their slots, in one transaction."""

        async def work(uow: UnitOfWork) -> list[Claimed]:
            rows = await outbox.claim(
                uow, utcnow(), limit, broadcasts=policy.bulk, channel=channel, ids=ids
            )
            return await self.pacer.book(uow, rows, bulk=policy.bulk)

        return await self.db.transact(work)

    async def send(self, row: Claimed, policy: RetryPolicy) -> Outcome:
        """Push one claimed row; what became of it (a failure is recorded, never raised)."""
        try:
            sid = await self.sender.send(
                row.channel, row.address, row.text, ref=row.id, bulk=policy.bulk
            )
        except Exception as exc:
            outcome = policy.outcome(row, exc, utcnow())
            metrics.sent(row.channel, outcome.status, outcome.code)
            return outcome
        metrics.sent(row.channel, "sent", None)
        return Outcome(row.id, "sent", sid=sid, user_id=row.user_id, attempts=row.attempts)

    async def send_batch(self, rows: list[Claimed], policy: RetryPolicy) -> list[Outcome]:
        """Push claimed rows, each when its slot comes, `concurrency` at a time, and record
        every outcome in one transaction; once stopping, rows not yet tried are handed back."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(row: Claimed) -> Outcome:
            await self._until(row.due)
            async with gate:
                if self.stopping.is_set():
                    metrics.sent(row.channel, "released", None)
                    return Outcome(row.id, "released", attempts=row.attempts)
                return await self.send(row, policy)

        outcomes = await asyncio.gather(*(one(row) for row in rows))
        await self.record(outcomes)
        return outcomes

    async def _until(self, due: float) -> None:
        """Wait for a slot's time, or until stopping."""
        wait = due - time.time()
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), wait)

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        """Write the outcomes, in one transaction."""
        await self.db.transact(lambda uow: outbox.record(uow, outcomes, utcnow()))

    async def release_stale(self, policy: RetryPolicy) -> int:
        """Rows of the policy's kind claimed by a sender that died (claim older than its
        timeout) go back to pending; the count."""
        before = utcnow() - policy.claim_timeout
        count = await self.db.transact(
            lambda uow: outbox.release_stale(uow, before, broadcasts=policy.bulk)
        )
        if count:
            log.warning("%s %s cut off mid-send are sent again", count, policy.name)
        return count

    async def stop(self) -> None:
        """Claim nothing more; sends in flight finish, rows waiting for a slot go back."""
        self.stopping.set()
