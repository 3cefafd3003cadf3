"""Broadcast records and their audience: who a broadcast goes to, its rows in the outbox, its
progress and its close.

The audience goes into the outbox one range of user ids at a time, each range in a short
transaction of its own, so a message arriving meanwhile waits for one range at most, never
for the whole audience (SQLite has one writer at a time and runs it on the event loop).
While its audience is being resolved a broadcast stays queued, held by the sender resolving
it (started_at, renewed with every range). A sender that dies mid-way leaves it queued; once
its hold has lapsed the next sender carries on after the last user already in the outbox,
and the unique (broadcast_id, user_id) makes a range written twice harmless: nobody is lost
and nobody gets it twice. The broadcast turns to sending, with its count of recipients, in
the transaction the caller commits last.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    case,
    false,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Broadcast, Outbox, Subscription, User, When
from storage.uow import UnitOfWork

# User ids per transaction, and after each range a pause this many times as long as it took,
# so that messages keep at least half of the time however busy the machine is. SQLite runs a
# range on the event loop: small ones, a few milliseconds each. PostgreSQL runs it in the
# server (the loop goes on) and waits for the disk at every commit: larger ones.
RANGES = {"sqlite": 1000, "postgresql": 5000}
PAUSES = {"sqlite": 1.0, "postgresql": 1.0}
HOLD = timedelta(seconds=30)  # a sender silent this long while resolving is taken for dead
OUTBOX = cast(Table, Outbox.__table__)  # Core statements: no ORM bookkeeping per row
CANCELLABLE = ("draft", "scheduled", "queued")
OUTBOX_COLUMNS = [
    "broadcast_id",
    "user_id",
    "channel",
    "address",
    "text",
    "kind",
    "status",
    "attempts",
    "created_at",
]


@dataclass(frozen=True)
class Audience:
    """Who a broadcast goes to, among active subscribers who have not opted out: a digest to
    the product's daily subscribers; a broadcast about a product to its instant subscribers
    (of that place, or of every place); anything else to every subscriber. A price reaches a
    threshold alert only if it crosses it: `prices` holds the price restated per unit."""

    kind: str
    product: str | None = None
    location: str | None = None
    currency: str | None = None
    prices: Mapping[str, Decimal] = field(default_factory=dict)
    channel: str | None = None  # only users of this channel
    everyone: bool = False  # every user not opted out (of `location` when given), not only
    # subscribers


class AudienceSize(NamedTuple):
    channel: str
    language: str | None
    size: int


def _session(uow: UnitOfWork) -> AsyncSession:
    session: AsyncSession = uow.session
    return session


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


def _dialect(uow: UnitOfWork) -> str:
    bind = _session(uow).get_bind()
    return bind.dialect.name


# records ------------------------------------------------------------------------------------
async def save(uow: UnitOfWork, bc: Broadcast) -> Broadcast:
    """Write a new or changed broadcast now (a new one gets its id, its reference)."""
    s = _session(uow)
    s.add(bc)
    await s.flush()
    return bc


async def get(uow: UnitOfWork, broadcast_id: int) -> Broadcast | None:
    return await _session(uow).get(Broadcast, broadcast_id)


async def cancel(uow: UnitOfWork, broadcast_id: int) -> bool:
    """Cancel a broadcast not yet started: a draft, a scheduled one, or one queued whose
    audience no sender has begun to resolve."""
    stmt = update(Broadcast).where(
        Broadcast.id == broadcast_id,
        Broadcast.status.in_(CANCELLABLE),
        or_(Broadcast.status != "queued", Broadcast.started_at.is_(None)),
    )
    return _rowcount(await _session(uow).execute(stmt.values(status="cancelled"))) == 1


# audience -----------------------------------------------------------------------------------
def _threshold_met(who: Audience) -> ColumnElement[bool]:
    """The subscription has no threshold, or this price crosses it in the alert's unit."""
    s = Subscription
    met = [
        and_(
            s.unit == unit,
            or_(
                and_(s.direction == "above", s.threshold <= per),
                and_(s.direction == "below", s.threshold >= per),
            ),
        )
        for unit, per in who.prices.items()
    ]
    return or_(s.direction.is_(None), and_(s.currency == who.currency, or_(false(), *met)))


def _audience(who: Audience) -> Select[int, str, str, str | None]:
    """The distinct users a broadcast goes to, as they are now."""
    s, u = Subscription, User
    if who.everyone:
        q = select(u.id, u.channel, u.address, u.language).where(u.opted_out.is_(False))
        if who.location:
            q = q.where(u.place == who.location)
        return q.where(u.channel == who.channel) if who.channel else q
    q = select(u.id, u.channel, u.address, u.language).join(s, s.user_id == u.id)
    q = q.where(s.active.is_(True), u.opted_out.is_(False))
    if who.channel:
        q = q.where(u.channel == who.channel)
    if who.kind == "digest":
        q = q.where(s.mode == "daily", s.product == who.product)
    elif who.product:
        q = q.where(s.mode == "instant", or_(s.product == who.product, s.product.is_(None)))
        if who.location:
            q = q.where(or_(s.location.is_(None), s.location == who.location))
        if who.prices:
            q = q.where(_threshold_met(who))
    return q.distinct()


async def audience_sizes(uow: UnitOfWork, who: Audience) -> list[AudienceSize]:
    """How many the audience holds, by channel and language."""
    sub = _audience(who).subquery()
    q = select(sub.c.channel, sub.c.language, func.count()).group_by(sub.c.channel, sub.c.language)
    return [AudienceSize(*row) for row in (await _session(uow).execute(q)).all()]


# resolving the audience into the outbox -----------------------------------------------------
async def hold(
    uow: UnitOfWork, broadcast_id: int, now: datetime, lapse: timedelta = HOLD
) -> Broadcast | None:
    """Take a queued broadcast to resolve its audience (one nobody holds, or whose sender fell
    silent); committed, so other senders leave it alone. None when it is not to be had."""
    stmt = update(Broadcast).where(
        Broadcast.id == broadcast_id,
        Broadcast.status == "queued",
        or_(Broadcast.started_at.is_(None), Broadcast.started_at <= now - lapse),
    )
    s = _session(uow)
    if _rowcount(await s.execute(stmt.values(started_at=now))) != 1:
        return None
    bc = await s.get(Broadcast, broadcast_id)
    await uow.commit()
    return bc


async def enqueue(
    uow: UnitOfWork,
    broadcast_id: int,
    who: Audience,
    texts: Mapping[str, str],
    fallback: str,
    now: datetime,
) -> int | None:
    """Every recipient of a broadcast held at `now` into the outbox (texts: by language,
    fallback for any other), one range of user ids per committed transaction, pausing
    between ranges; then the broadcast turns to sending, uncommitted. Its count of recipients,
    or None when another sender took it over."""
    first, last = await _span(uow, broadcast_id)
    dialect = _dialect(uow)
    rows = _recipients(dialect, broadcast_id, who, texts, fallback, now)
    size, pause = RANGES.get(dialect, 1000), PAUSES.get(dialect, 1.0)
    held, began = now, time.monotonic()  # started_at as this sender last wrote it
    for low in range(first, last + 1, size):
        ran = time.monotonic()
        beat = now + timedelta(seconds=ran - began)
        if not await _renew(uow, broadcast_id, held, beat):
            return None
        held = beat
        high = min(low + size - 1, last)
        await _session(uow).execute(rows, {"low": low, "high": high})
        await uow.commit()
        await asyncio.sleep(pause * (time.monotonic() - ran))  # messages meanwhile go first
    return await _begin_sending(uow, broadcast_id, held, now)


async def _span(uow: UnitOfWork, broadcast_id: int) -> tuple[int, int]:
    """The user ids still to resolve: after the last one already in the outbox, up to the
    newest user now."""
    s = _session(uow)
    done = select(func.max(Outbox.user_id)).where(Outbox.broadcast_id == broadcast_id)
    after = (await s.execute(done)).scalar_one_or_none()
    low, high = (await s.execute(select(func.min(User.id), func.max(User.id)))).one()
    if high is None:
        return 1, 0
    return (after + 1 if after is not None else low), high


def _still_held(broadcast_id: int, held: datetime) -> Update:
    """The broadcast is queued and this sender's hold (started_at as it last wrote it) stands."""
    return update(Broadcast).where(
        Broadcast.id == broadcast_id, Broadcast.status == "queued", Broadcast.started_at == held
    )


async def _renew(uow: UnitOfWork, broadcast_id: int, held: datetime, beat: datetime) -> bool:
    """Renew this sender's hold for one more range. Only the holder writes ranges, in order,
    so the last user in the outbox says where a successor carries on (on PostgreSQL the row
    lock keeps a successor waiting until the range is committed)."""
    stmt = _still_held(broadcast_id, held).values(started_at=beat)
    return _rowcount(await _session(uow).execute(stmt)) == 1


def _recipients(
    dialect: str,
    broadcast_id: int,
    who: Audience,
    texts: Mapping[str, str],
    fallback: str,
    now: datetime,
) -> Any:
    """INSERT … SELECT of the audience among user ids :low to :high, skipping users the
    broadcast already has."""
    low, high = bindparam("low", type_=Integer), bindparam("high", type_=Integer)
    q = _audience(who).where(User.id.between(low, high))
    if not who.everyone:
        q = q.where(Subscription.user_id.between(low, high))
    sub = q.subquery()
    text = case(*((sub.c.language == lang, t) for lang, t in texts.items()), else_=fallback)
    rows = select(
        literal(broadcast_id),
        sub.c.id,
        sub.c.channel,
        sub.c.address,
        text,
        literal("broadcast"),
        literal("pending"),
        literal(0),
        literal(now, When),
    ).where(sub.c.id.is_not(None))  # SQLite reads ON CONFLICT after a bare FROM as a join's ON
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(OUTBOX).from_select(OUTBOX_COLUMNS, rows)
    return stmt.on_conflict_do_nothing(index_elements=["broadcast_id", "user_id"])


async def _begin_sending(
    uow: UnitOfWork, broadcast_id: int, held: datetime, now: datetime
) -> int | None:
    """The audience is all in: the broadcast is sending, with its count of recipients."""
    s = _session(uow)
    stmt = _still_held(broadcast_id, held).values(status="sending", started_at=now)
    if _rowcount(await s.execute(stmt)) != 1:
        return None
    q = select(func.count()).select_from(Outbox).where(Outbox.broadcast_id == broadcast_id)
    recipients = int((await s.execute(q)).scalar_one())
    await s.execute(
        update(Broadcast).where(Broadcast.id == broadcast_id).values(recipients=recipients)
    )
    return recipients


# progress and close -------------------------------------------------------------------------
async def counts(uow: UnitOfWork, broadcast_id: int) -> dict[str, int]:
    """Outbox rows of one broadcast by status."""
    q = (
        select(Outbox.status, func.count())
        .where(Outbox.broadcast_id == broadcast_id)
        .group_by(Outbox.status)
    )
    return {status: int(n) for status, n in (await _session(uow).execute(q)).all()}


async def any_open(uow: UnitOfWork, broadcast_id: int, open_: tuple[str, ...]) -> bool:
    """Whether a row of the broadcast is still in one of the open statuses. Rows go out in
    the order they were written, so the unsent ones are the last: looking from the end finds
    one at once while the broadcast is under way (a full scan only once, when it is over)."""
    q = (
        select(Outbox.id)
        .where(Outbox.broadcast_id == broadcast_id, Outbox.status.in_(open_))
        .order_by(Outbox.broadcast_id.desc(), Outbox.user_id.desc())
        .limit(1)
    )
    return (await _session(uow).execute(q)).first() is not None


async def close(
    uow: UnitOfWork, broadcast_id: int, now: datetime, summary: dict[str, int]
) -> Broadcast | None:
    """A sending broadcast is done, with its summary; None if it was not sending."""
    stmt = update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.status == "sending")
    s = _session(uow)
    done = stmt.values(status="done", finished_at=now, summary=summary)
    if _rowcount(await s.execute(done)) != 1:
        return None
    return await s.get(Broadcast, broadcast_id)


async def skip_pending(uow: UnitOfWork, user_id: int, product: str | None = None) -> int:
    """The user's rows of broadcasts not yet sent to them are skipped (of one product's
    broadcasts, or of all)."""
    stmt = update(Outbox).where(
        Outbox.user_id == user_id, Outbox.status == "pending", Outbox.broadcast_id.is_not(None)
    )
    if product:
        stmt = stmt.where(
            Outbox.broadcast_id.in_(select(Broadcast.id).where(Broadcast.product == product))
        )
    return _rowcount(
        await _session(uow).execute(stmt.values(status="skipped", error="unsubscribed"))
    )
