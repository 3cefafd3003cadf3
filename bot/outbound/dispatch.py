"""Broadcasts on the outbox service: resolve queued broadcasts into rows, keep a worker per
channel claiming, sending and recording batches, close finished broadcasts with a summary.

Every farmchat process that runs background work runs one; several on one PostgreSQL
database never send a row twice (rows are claimed with FOR UPDATE SKIP LOCKED; on SQLite the
write lock serializes claims). A row stays "sending" from its claim until its outcome is
recorded; only rows in that state when a process dies are sent again (after
broadcast.claim_timeout_seconds), so a crash can repeat only the messages in flight.
On a clean stop, claimed rows not yet sent are handed back and in-flight sends finish.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from bot.outbound.sender import Outbound
from handlers import broadcasts as broadcast
from handlers.messages import Reply
from handlers.settings import default_lang
from storage import outbox
from storage.models import Broadcast
from storage.outbox import Claimed
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)
MAX_BATCH = 200
OPEN = ("queued", "sending")  # a broadcast with rows still to send, or about to have them


def utcnow() -> datetime:
    return datetime.now(UTC)


class Dispatcher:
    """Sends broadcast rows from the outbox, per channel, until the outbox service stops."""

    def __init__(self, outbound: Outbound):
        self.outbound, self.settings = outbound, outbound.settings
        self.policy = outbound.broadcasts
        self.wake = asyncio.Event()  # set when a broadcast is queued: look at once
        self._workers: dict[tuple[str, int], asyncio.Task] = {}

    async def tick(self) -> None:
        """Recover stale claims, start queued broadcasts, keep a worker per channel with work,
        close what is finished."""
        await self.outbound.release_stale(self.policy)
        await self.start_queued()
        for channel in await self._read(outbox.channels_with_work):
            # unpaced, two workers overlap one batch's database writes with the other's sends
            for n in range(1 if self.outbound.pacer.paced(channel) else 2):
                worker = self._workers.get((channel, n))
                if worker is None or worker.done():
                    self._workers[(channel, n)] = asyncio.create_task(
                        self._work(channel), name=f"broadcast-{channel}"
                    )
        await self.close_finished()

    async def join(self) -> None:
        """Wait for the channel workers (each ends when its channel has nothing due)."""
        if self._workers:
            await asyncio.gather(*self._workers.values(), return_exceptions=True)

    async def drain(self, broadcast_id: int | None = None, timeout: float = 3600) -> None:
        """Run until nothing is left to send (of one broadcast, scheduled ones included, or of
        every started one): `farmchat broadcast --wait` and tests."""
        deadline = time.monotonic() + timeout
        open_ = OPEN if broadcast_id is None else ("scheduled", *OPEN)
        while time.monotonic() < deadline:
            await self.tick()
            await self.join()
            if not await self._read(lambda uow: outbox.unfinished(uow, open_, broadcast_id)):
                await self.close_finished()
                return
            await asyncio.sleep(min(0.5, self.settings.broadcast.poll_seconds))
        raise TimeoutError("broadcast not finished in time")

    async def _read(self, query):
        async with self.outbound.db.uow() as uow:
            return await query(uow)

    # broadcasts ------------------------------------------------------------------------
    async def start_queued(self) -> None:
        """Resolve each queued broadcast's recipients into outbox rows."""
        for broadcast_id in await self._read(lambda uow: outbox.broadcasts_in(uow, "queued")):
            async with self.outbound.db.uow() as uow:
                if await broadcast.start(uow, broadcast_id, self.settings, utcnow()) is not None:
                    await uow.commit()

    async def close_finished(self) -> None:
        """Close each broadcast with nothing left to send and tell its coordinator."""
        for broadcast_id in await self._read(lambda uow: outbox.broadcasts_in(uow, "sending")):
            async with self.outbound.db.uow() as uow:
                done = await broadcast.finish_if_done(uow, broadcast_id, utcnow())
                if done is None:
                    continue
                notice = await self._summary_notice(uow, done)
                await uow.commit()
            log.info("broadcast %s done: %s", done.id, done.summary)
            await self.outbound.deliver(notice)

    async def _summary_notice(self, uow: UnitOfWork, bc: Broadcast) -> list[Claimed]:
        """How it went, to the coordinator who sent it (a notification in the same outbox)."""
        if bc.created_by is None:
            return []
        user = await uow.users.get(bc.created_by)
        if user is None:
            return []
        lang = user.language or default_lang(self.settings)
        summary = Reply(broadcast.summary_text(bc, lang), to=user.id)
        return await self.outbound.queue(uow, [summary], utcnow())

    # one channel -----------------------------------------------------------------------
    async def _work(self, channel: str) -> None:
        """Claim and send batches until the channel has nothing due or the service stops."""
        try:
            while not self.outbound.stopping.is_set():
                batch = await self.claim(channel)
                if not batch:
                    return
                await self.outbound.send_batch(batch, self.policy)
        except Exception:
            log.exception("broadcast worker for %s failed", channel)

    async def claim(self, channel: str) -> list[Claimed]:
        """The channel's next batch: about a second of sending at its pace."""
        rate = self.outbound.pacer.rates.get(channel, 0)
        size = MAX_BATCH if rate <= 0 else max(1, min(MAX_BATCH, int(rate)))
        return await self.outbound.claim(self.policy, size, channel=channel)
