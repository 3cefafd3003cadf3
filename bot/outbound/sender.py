"""Outbound messages to users other than the sender: an outbox row first, then a push.

The row is written in the same transaction as the change it reports (the order, the
decline), so a crash can delay a notification but never lose it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, Protocol

from sqlalchemy import bindparam, case, func, or_, select, update

from bot.logs import mask
from bot.outbound.pacing import Pacer, cost
from handlers.messages import Reply
from storage.fast import Prepared
from storage.models import Outbox, User
from storage.uow import Database, UnitOfWork

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
STALE_CLAIM = timedelta(minutes=5)  # a "sending" row older than this was cut off by a crash
CLAIM = Prepared(
    update(Outbox)
    .where(
        Outbox.id == bindparam("outbox_id"),
        or_(Outbox.status == "pending", Outbox.status == "sending"),
    )
    .values(status="sending", attempts=Outbox.attempts + 1)
    .returning(Outbox.channel, Outbox.address, Outbox.text, Outbox.attempts)
)
SENT = Prepared(
    update(Outbox)
    .where(Outbox.id == bindparam("b_id"))
    .values(
        status="sent",
        error=None,
        sent_at=bindparam("b_now"),
        provider_sid=bindparam("b_sid"),
        provider_status=func.coalesce(
            Outbox.provider_status, case((bindparam("b_sid").is_not(None), "queued"))
        ),
    )
)


class Outgoing(NamedTuple):
    """An outbox row claimed for sending by this process (status "sending"), with what to send."""

    id: int
    channel: str
    address: str
    text: str
    attempts: int


class SendError(Exception):
    """A push that failed. Permanent ones (opted out, invalid number) are never retried.

    retry_at: not a failure but a quota used up until then (a daily quota resets): the row
    waits for it without spending an attempt.
    """

    def __init__(
        self,
        message: str,
        code: int | None = None,
        permanent: bool = False,
        opted_out: bool = False,
        retry_at: datetime | None = None,
    ):
        super().__init__(message)
        self.code, self.permanent, self.opted_out, self.retry_at = (
            code,
            permanent,
            opted_out,
            retry_at,
        )


class Sender(Protocol):
    """A channel's push: deliver text to an address, return the provider's id, or raise.

    ref is the outbox row's id, for providers that can echo it back (Twilio status callbacks);
    bulk marks a broadcast message, which leaves part of a daily quota to notifications.
    """

    async def send(
        self, channel: str, address: str, text: str, ref: int | None = None, bulk: bool = False
    ) -> str | None: ...


class ChannelSenders:
    """Routes each push to the sender of the user's channel."""

    def __init__(self, senders: dict[str, Sender], fallback: Sender | None = None):
        self.senders, self.fallback = senders, fallback

    async def send(
        self, channel: str, address: str, text: str, ref: int | None = None, bulk: bool = False
    ) -> str | None:
        sender = self.senders.get(channel, self.fallback)
        if sender is None:
            raise SendError(f"no sender for channel {channel}", permanent=True)
        return await sender.send(channel, address, text, ref=ref, bulk=bulk)


class PrintSender:
    """Console: notifications to other users are printed with their recipient."""

    def __init__(self, write: Callable[[str], None] = print):
        self.write = write

    async def send(
        self, channel: str, address: str, text: str, ref: int | None = None, bulk: bool = False
    ) -> None:
        self.write(f"  → to {address} ({channel}): {text}")


class RecordingSender:
    """Keeps every push; used by tests and as a safe default when no channel is set up."""

    def __init__(self):
        self.sent: list[tuple[str, str, str]] = []

    async def send(
        self, channel: str, address: str, text: str, ref: int | None = None, bulk: bool = False
    ) -> None:
        self.sent.append((channel, address, text))


class Outbound:
    """Queue notifications in the outbox, deliver them after commit, retry what failed."""

    def __init__(
        self, db: Database, sender: Sender, background: bool = False, pacer: Pacer | None = None
    ):
        """background: push after the reply instead of before it (webhooks must answer fast).
        pacer: the channels' shared rates (bot/outbound/pacing.py); a notification takes the next slot."""
        self.db, self.sender, self.background, self.pacer = db, sender, background, pacer
        self._tasks: set[asyncio.Task] = set()

    async def queue(self, uow: UnitOfWork, notices: list[Reply], now: datetime) -> list[Outgoing]:
        """The notices' outbox rows, written already claimed by this process (status "sending",
        first attempt), and a paced channel's slot taken, in uow's transaction: after the commit
        deliver() pushes them with no further claim. Should the process die in between, the
        sweeper sends them once the claim is stale (STALE_CLAIM)."""
        claimed = []
        for notice in notices:
            user = await uow.users.row(notice.to)
            outbox_id = await uow.outbox.insert(
                user_id=user.id,
                channel=user.channel,
                address=user.address,
                text=notice.text,
                kind=notice.kind,
                status="sending",
                attempts=1,
                created_at=now,
            )
            await self._take_slot(uow, user.channel, notice.text)
            claimed.append(Outgoing(outbox_id, user.channel, user.address, notice.text, 1))
        return claimed

    async def deliver(self, rows: list[int | Outgoing]) -> None:
        """Push outbox rows: ids (claimed here first) or rows queue() claimed in a committed
        transaction. With background, after the caller has answered."""
        if self.background and rows:
            task = asyncio.create_task(self._deliver_all(rows))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            await self._deliver_all(rows)

    async def _deliver_all(self, rows: list[int | Outgoing]) -> None:
        for row in rows:
            await self._deliver_one(row if isinstance(row, Outgoing) else await self._claim(row))

    async def drain(self) -> None:
        """Let pushes in progress finish (shutdown); what is left stays in the outbox."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=30)

    async def flush(self) -> int:
        """Send what is still pending (or was cut off mid-send by a crash); return the count."""
        now = datetime.now(UTC)
        cutoff = now - STALE_CLAIM
        async with self.db.uow() as uow:
            q = select(Outbox.id).where(
                Outbox.broadcast_id.is_(None),
                or_(  # broadcasts: bot/outbound/dispatch.py
                    (Outbox.status == "pending")
                    & or_(Outbox.next_attempt_at.is_(None), Outbox.next_attempt_at <= now),
                    (Outbox.status == "sending") & (Outbox.created_at < cutoff),
                ),
            )
            ids = list((await uow.session.execute(q.order_by(Outbox.id).limit(500))).scalars())
        await self.deliver(ids)
        return len(ids)

    async def _take_slot(self, uow: UnitOfWork, channel: str, text: str) -> None:
        if self.pacer is not None and self.pacer.paced(channel):
            await self.pacer.take_now(uow, channel, cost(channel, text))

    async def _claim(self, outbox_id: int) -> Outgoing | None:
        """Mark the row as being sent and read what to send; only one deliverer wins it."""

        async def claim(uow):
            row = await CLAIM.first(uow, {"outbox_id": outbox_id})
            if row is not None:
                await self._take_slot(uow, row.channel, row.text)
            return row

        row = await self.db.transact(claim)
        return None if row is None else Outgoing(outbox_id, *row)

    async def _deliver_one(self, row: Outgoing | None) -> None:
        if row is None:
            return
        outbox_id = row.id
        try:
            sid = await self.sender.send(row.channel, row.address, row.text, ref=outbox_id)
        except SendError as exc:
            if (
                exc.retry_at is not None
            ):  # a daily quota is used up: wait for its reset, no attempt spent
                log.info("push to %s waits until %s: %s", mask(row.address), exc.retry_at, exc)
                await self._finish(
                    outbox_id, "pending", str(exc)[:255], exc.code, retry_at=exc.retry_at
                )
                return
            log.warning("push to %s failed: %s (code %s)", mask(row.address), exc, exc.code)
            retry = not exc.permanent and row.attempts < MAX_ATTEMPTS
            await self._finish(
                outbox_id,
                "pending" if retry else "failed",
                str(exc)[:255],
                exc.code,
                opted_out=exc.opted_out,
            )
        except Exception as exc:  # a failed push is recorded and retried, never raised to the user
            log.warning("push to %s failed: %s", mask(row.address), exc)
            status = "failed" if row.attempts >= MAX_ATTEMPTS else "pending"
            await self._finish(outbox_id, status, str(exc)[:255] or type(exc).__name__)
        else:
            # sent: the error code is left alone (a status callback may have set it already)
            params = {"b_id": outbox_id, "b_now": datetime.now(UTC), "b_sid": sid}
            await self.db.transact(lambda uow: SENT.run(uow, params))

    async def _finish(
        self,
        outbox_id: int,
        status: str,
        error: str | None,
        code: int | None = None,
        opted_out: bool = False,
        retry_at: datetime | None = None,
    ) -> None:
        """A push that did not go: pending again (retry or a quota's reset) or failed."""
        values: dict = {"status": status, "error": error, "error_code": code}
        if retry_at is not None:
            values.update(next_attempt_at=retry_at, attempts=Outbox.attempts - 1)

        async def finish(uow) -> None:
            conn = await uow.session.connection()
            await conn.execute(update(Outbox).where(Outbox.id == outbox_id).values(**values))
            if opted_out:
                owner = select(Outbox.user_id).where(Outbox.id == outbox_id).scalar_subquery()
                await conn.execute(update(User).where(User.id == owner).values(opted_out=True))

        await self.db.transact(finish)
