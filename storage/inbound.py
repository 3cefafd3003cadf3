"""The inbound log: every message once, with the reply it got (storage/models.py InboundLog).

A unique (channel, message_id) row decides whether a message was seen; a retry gets the
stored reply. WeChat's share of the log (who carries a reply) is in storage/wechat.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from storage.fast import Prepared
from storage.models import InboundLog

if TYPE_CHECKING:
    from storage.uow import UnitOfWork

_ANSWERED = Prepared(
    select(InboundLog.reply).where(
        InboundLog.channel == bindparam("channel"),
        InboundLog.message_id == bindparam("message_id"),
    )
)


class Duplicate(Exception):
    """The message id is in the log already: another delivery of it was answered first."""


class Entry(NamedTuple):
    """One message as the log keeps it."""

    channel: str
    message_id: str
    user_id: int | None
    text: str
    intent: str | None
    reply: str
    status: str  # "done", or "error" when handling it failed
    received_at: datetime


async def answered(uow: UnitOfWork, channel: str, message_id: str) -> str | None:
    """The reply a message got, or None if it was never logged."""
    row = await _ANSWERED.first(uow, {"channel": channel, "message_id": message_id})
    return None if row is None else row.reply


async def record(uow: UnitOfWork, entry: Entry) -> None:
    """Log the message in uow's transaction; Duplicate if its id is logged already."""
    try:
        await uow.inbound.add(**entry._asdict())
    except IntegrityError as exc:  # the (channel, message_id) key is the row's only unique one
        raise Duplicate(f"{entry.channel} message {entry.message_id}") from exc
