"""Channel-neutral message types: no provider type (Twilio form, WeChat XML) passes these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class InboundMessage:
    channel: str
    sender: str
    text: str
    message_id: str
    received_at: datetime


@dataclass(frozen=True)
class Reply:
    """A text for the sender of the message (to=None) or for another user (to=user id);
    kind names an outbox row's purpose (a relayed message is "relay")."""

    text: str
    to: int | None = None
    kind: str = "notification"
