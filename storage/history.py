"""What was said between farmchat and one user, in order: each message they sent with the
reply it got, and each push to them (notification, relay, broadcast, a coordinator's words)
with its delivery status; the users who wrote last; and the hand-off of a user to a person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select, update

from storage.models import InboundLog, Outbox, User

if TYPE_CHECKING:
    from storage.uow import UnitOfWork


@dataclass(frozen=True)
class Said:
    """One line of a conversation: `inbound` (the user wrote text, and got reply) or a push
    (kind: notification, relay, broadcast, handoff) with its status."""

    at: datetime
    inbound: bool
    text: str
    reply: str = ""
    intent: str | None = None
    kind: str = ""
    status: str = ""
    provider_status: str | None = None
    error: str | None = None
    key: int = 0  # the row's id, for a stable order within one instant


@dataclass(frozen=True)
class Writer:
    """A user in the list of conversations, with their last message."""

    id: int
    channel: str
    address: str
    name: str | None
    role: str
    last_seen_at: datetime
    last_text: str | None
    handoff_until: datetime | None
    handoff_by: str | None


async def timeline(uow: UnitOfWork, user_id: int, limit: int = 300) -> list[Said]:
    """The user's last `limit` messages each way, oldest first."""
    s = uow.session
    got = await s.execute(
        select(InboundLog)
        .where(InboundLog.user_id == user_id)
        .order_by(InboundLog.id.desc())
        .limit(limit)
    )
    pushed = await s.execute(
        select(Outbox).where(Outbox.user_id == user_id).order_by(Outbox.id.desc()).limit(limit)
    )
    lines = [
        Said(m.received_at, True, m.text, m.reply, m.intent, status=m.status, key=m.id)
        for m in got.scalars()
    ]
    lines += [
        Said(
            o.sent_at or o.created_at,
            False,
            o.text,
            kind="broadcast" if o.broadcast_id is not None else o.kind,
            status=o.status,
            provider_status=o.provider_status,
            error=o.error,
            key=o.id,
        )
        for o in pushed.scalars()
    ]
    return sorted(lines, key=lambda line: (line.at, not line.inbound, line.key))


async def writers(
    uow: UnitOfWork, search: str = "", before: datetime | None = None, limit: int = 50
) -> list[Writer]:
    """Users by their latest message, newest first; search in number, OpenID or name."""
    last = (
        select(InboundLog.text)
        .where(InboundLog.user_id == User.id)
        .order_by(InboundLog.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    q = select(
        User.id,
        User.channel,
        User.address,
        User.name,
        User.role,
        User.last_seen_at,
        last.label("last_text"),
        User.handoff_until,
        User.handoff_by,
    )
    if search:
        like = f"%{search.casefold()}%"
        q = q.where(or_(func.lower(User.address).like(like), func.lower(User.name).like(like)))
    if before is not None:
        q = q.where(User.last_seen_at < before)
    q = q.order_by(User.last_seen_at.desc(), User.id.desc()).limit(limit)
    return [Writer(*row) for row in (await uow.session.execute(q)).all()]


async def set_handoff(
    uow: UnitOfWork, user_id: int, until: datetime | None, by: str | None
) -> None:
    """A person answers the user until `until` (None: the bot answers again)."""
    await uow.session.execute(
        update(User).where(User.id == user_id).values(handoff_until=until, handoff_by=by)
    )


@dataclass(frozen=True)
class Push:
    at: datetime
    channel: str
    address: str
    text: str
    status: str


async def recent_pushes(uow: UnitOfWork, limit: int = 20) -> list[Push]:
    """The latest messages pushed to anyone (order notices, relays, broadcasts), newest first."""
    q = (
        select(Outbox.created_at, Outbox.channel, Outbox.address, Outbox.text, Outbox.status)
        .order_by(Outbox.id.desc())
        .limit(limit)
    )
    return [Push(*row) for row in (await uow.session.execute(q)).all()]
