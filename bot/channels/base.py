"""What a channel is: webhook routes that verify, parse and render, a push for later
messages, and the answer to give its provider when handling a request failed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from bot.bootstrap import Services
    from bot.outbound.sender import Sender


class Channel(Protocol):
    """One provider's adapter; the app registers every enabled one (bot/channels/__init__.py)."""

    name: str

    def routes(self) -> list[web.RouteDef]:
        """The provider's webhooks: each verifies, parses to an InboundMessage, renders the
        reply."""
        ...

    def failure(self, request: web.Request) -> web.StreamResponse:
        """What the provider gets when handling its request failed: never a 500."""
        ...

    def senders(self, session: aiohttp.ClientSession) -> dict[str, Sender]:
        """The push for each user channel it serves (Twilio: sms and whatsapp)."""
        ...

    async def start(self, svc: Services) -> None: ...

    async def stop(self) -> None:
        """Let requests in progress finish before the database closes."""
        ...
