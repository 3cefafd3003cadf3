"""The outbox's statements: write a notification already claimed, claim due rows, record what
became of each send, hand stale claims back, and the broadcasts the senders work through.

A row is "pending" until a sender claims it ("sending", one more attempt, claimed_at), then
"sent", "failed", "skipped" or "pending" again (a retry, a quota's reset, handed back unsent).
Claims on PostgreSQL skip rows another sender holds (FOR UPDATE SKIP LOCKED); on SQLite the
write lock serializes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import bindparam, case, func, or_, select, update
from sqlalchemy.engine import CursorResult

from storage.fast import Prepared
from storage.models import Broadcast, Outbox, User
from storage.uow import UnitOfWork

_T = Outbox.__table__.c
# sent: the error code is left alone, and a status callback that overtook the provider's
# answer keeps its sid and status
SENT = Prepared(
    update(Outbox)
    .where(Outbox.id == bindparam("b_id"))
    .values(
        status="sent",
        error=None,
        sent_at=bindparam("b_now"),
        provider_sid=func.coalesce(_T.provider_sid, bindparam("b_sid")),
        provider_status=func.coalesce(
            _T.provider_status, case((bindparam("b_sid").is_not(None), "queued"))
        ),
    )
)
# failed, a retry, or a quota's wait; b_undo 1: the claim did not count as an attempt
NOT_SENT = Prepared(
    update(Outbox)
    .where(Outbox.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        attempts=_T.attempts - bindparam("b_undo"),
        error=bindparam("b_error"),
        error_code=bindparam("b_code"),
        next_attempt_at=bindparam("b_next", type_=_T.next_attempt_at.type),
    )
)
# claimed but never tried (a stop): pending again, no attempt spent
RELEASED = Prepared(
    update(Outbox)
    .where(Outbox.id == bindparam("b_id"))
    .values(status="pending", attempts=_T.attempts - 1)
)


class Claimed(NamedTuple):
    """An outbox row claimed by this process (status "sending"), with what to send."""

    id: int
    user_id: int
    channel: str
    address: str
    text: str
    attempts: int
    due: float = 0.0  # Unix time its channel's pace lets it go; 0: at once


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed row.

    status: sent | pending (a retry, due at retry_at) | failed | released (handed back unsent)
    | deferred (a quota used up until retry_at; not an attempt). unreachable: failed, and
    certainly never reached the user (refused, or every attempt failed to connect).
    """

    id: int
    status: str
    sid: str | None = None
    error: str | None = None
    code: int | None = None
    opted_out: bool = False
    user_id: int = 0
    attempts: int = 0
    retry_at: datetime | None = None
    unreachable: bool = False


async def add_claimed(
    uow: UnitOfWork, user_id: int, text: str, kind: str, now: datetime
) -> Claimed:
    """A notification's row, written claimed by the process that commits it (first attempt):
    pushed after the commit with no further claim."""
    user = await uow.users.row(user_id)
    assert user is not None, f"user {user_id} exists"  # the notice's recipient: a foreign key
    row_id = await uow.outbox.insert(
        user_id=user.id,
        channel=user.channel,
        address=user.address,
        text=text,
        kind=kind,
        status="sending",
        attempts=1,
        created_at=now,
        claimed_at=now,
    )
    return Claimed(row_id, user.id, user.channel, user.address, text, 1)


def _of_kind(broadcasts: bool) -> Any:
    return Outbox.broadcast_id.is_not(None) if broadcasts else Outbox.broadcast_id.is_(None)


async def claim(
    uow: UnitOfWork,
    now: datetime,
    limit: int,
    *,
    broadcasts: bool,
    channel: str | None = None,
    ids: Sequence[int] = (),
) -> list[Claimed]:
    """Due pending rows of broadcasts or of notifications (of one channel, or the rows ids), in
    id order, marked sending with one more attempt. A broadcast's row for a user who opted out
    since it started is skipped instead."""
    q = (
        select(Outbox.id, User.opted_out)
        .join(User, User.id == Outbox.user_id)
        .where(
            Outbox.status == "pending",
            _of_kind(broadcasts),
            or_(Outbox.next_attempt_at.is_(None), Outbox.next_attempt_at <= now),
        )
        .order_by(Outbox.id)
        .limit(limit)
    )
    if channel is not None:
        q = q.where(Outbox.channel == channel)
    if ids:
        q = q.where(Outbox.id.in_(ids))
    if (await uow.session.connection()).dialect.name == "postgresql":
        q = q.with_for_update(of=Outbox, skip_locked=True)
    found = (await uow.session.execute(q)).all()
    skipped = [i for i, opted_out in found if opted_out and broadcasts]
    take = [i for i, opted_out in found if not (opted_out and broadcasts)]
    if skipped:
        await uow.session.execute(
            update(Outbox)
            .where(Outbox.id.in_(skipped))
            .values(status="skipped", error="opted out")
        )
    if not take:
        return []
    stmt = (
        update(Outbox)
        .where(Outbox.id.in_(take))
        .values(status="sending", attempts=Outbox.attempts + 1, claimed_at=now)
        .returning(
            Outbox.id, Outbox.user_id, Outbox.channel, Outbox.address, Outbox.text, Outbox.attempts
        )
    )
    return sorted(Claimed(*r) for r in (await uow.session.execute(stmt)).all())


async def release_stale(uow: UnitOfWork, before: datetime, *, broadcasts: bool) -> int:
    """Rows still "sending" from a claim made before `before` (their sender died) go back to
    pending; the count. A row written before claims were timed counts from its creation."""
    stmt = (
        update(Outbox)
        .where(
            Outbox.status == "sending",
            _of_kind(broadcasts),
            func.coalesce(Outbox.claimed_at, Outbox.created_at) < before,
        )
        .values(status="pending")
    )
    return cast(CursorResult[Any], await uow.session.execute(stmt)).rowcount


async def record(uow: UnitOfWork, outcomes: Sequence[Outcome], now: datetime) -> None:
    """Write every outcome (one statement per kind of outcome, many rows each) and remember
    the users a provider reported as opted out."""
    sent = [{"b_id": o.id, "b_sid": o.sid, "b_now": now} for o in outcomes if o.status == "sent"]
    not_sent = [_not_sent(o) for o in outcomes if o.status in ("pending", "failed", "deferred")]
    released = [{"b_id": o.id} for o in outcomes if o.status == "released"]
    await _run_many(uow, SENT, sent)
    await _run_many(uow, NOT_SENT, not_sent)
    await _run_many(uow, RELEASED, released)
    opted_out = sorted({o.user_id for o in outcomes if o.opted_out})
    if opted_out:
        await uow.users.mark_opted_out(opted_out)


def _not_sent(o: Outcome) -> dict[str, Any]:
    deferred = o.status == "deferred"
    return {
        "b_id": o.id,
        "b_status": "pending" if deferred else o.status,
        "b_undo": 1 if deferred else 0,
        "b_error": o.error,
        "b_code": o.code,
        "b_next": o.retry_at,
    }


async def _run_many(uow: UnitOfWork, stmt: Prepared, rows: list[dict[str, Any]]) -> None:
    """stmt once per row: inline on SQLite (a few µs a row), one executemany otherwise."""
    if not rows:
        return
    if await uow.raw() is not None:
        for params in rows:
            await stmt.run(uow, params)
        return
    conn = await uow.session.connection()
    await conn.execute(stmt.by_dialect.get(conn.dialect.name, stmt.stmt), rows)


# the broadcasts the senders work through ----------------------------------------------
async def broadcasts_in(uow: UnitOfWork, status: str) -> list[int]:
    """Ids of the broadcasts in a status (queued, sending, ...), oldest first."""
    q = select(Broadcast.id).where(Broadcast.status == status).order_by(Broadcast.id)
    return list((await uow.session.execute(q)).scalars())


async def unfinished(
    uow: UnitOfWork, statuses: Sequence[str], broadcast_id: int | None = None
) -> int:
    """How many broadcasts (or whether the one) are in one of the statuses."""
    q = select(func.count()).select_from(Broadcast).where(Broadcast.status.in_(statuses))
    if broadcast_id is not None:
        q = q.where(Broadcast.id == broadcast_id)
    return (await uow.session.execute(q)).scalar_one()


async def channels_with_work(uow: UnitOfWork) -> list[str]:
    """The channels with broadcast rows pending. One index seek per channel (ix_outbox_queue,
    the next channel after the last one found) rather than a DISTINCT over every pending row,
    which a broadcast of 100k recipients makes long enough to hold up the webhooks."""
    found: list[str] = []
    while True:
        q = (
            select(Outbox.channel)
            .where(Outbox.status == "pending", Outbox.broadcast_id.is_not(None))
            .order_by(Outbox.channel)
            .limit(1)
        )
        if found:
            q = q.where(Outbox.channel > found[-1])
        channel = (await uow.session.execute(q)).scalar_one_or_none()
        if channel is None:
            return found
        found.append(channel)
