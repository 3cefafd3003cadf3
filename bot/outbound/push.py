"""A channel's push, as the outbox sees it: the Sender protocol, the error a failed push
raises, and the senders that are not a provider (routing by channel, the console, a record)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol


class SendError(Exception):
    """A push that failed. Permanent ones (opted out, invalid number) are never retried.

    retry_at: not a failure but a quota used up until then (a daily quota resets): the row
    waits for it without spending an attempt.
    unreachable: refused, so nothing reached the user, and sending again will not either (no
    sender for the channel, an opted-out or invalid number, a closed window); unlike a push
    with no answer, which may have been delivered.
    """

    def __init__(
        self,
        message: str,
        code: int | None = None,
        permanent: bool = False,
        opted_out: bool = False,
        retry_at: datetime | None = None,
        unreachable: bool = False,
    ):
        super().__init__(message)
        self.code, self.permanent, self.opted_out = code, permanent, opted_out
        self.retry_at, self.unreachable = retry_at, unreachable


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

    def reaches(self, channel: str) -> bool:
        """Whether users of the channel can be sent anything here."""
        return channel in self.senders or self.fallback is not None

    async def send(
        self, channel: str, address: str, text: str, ref: int | None = None, bulk: bool = False
    ) -> str | None:
        sender = self.senders.get(channel, self.fallback)
        if sender is None:
            raise SendError(f"no sender for channel {channel}", permanent=True, unreachable=True)
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

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def send(
        self, channel: str, address: str, text: str, ref: int | None = None, bulk: bool = False
    ) -> None:
        self.sent.append((channel, address, text))
