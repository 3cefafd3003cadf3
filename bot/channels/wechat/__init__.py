"""WeChat Official Account: webhook.py verifies, decrypts and answers within 5 s; send.py
pushes by the customer-service and template APIs; events.py turns pushes into messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from bot.channels.wechat.send import WeChatSender
from bot.channels.wechat.webhook import SUCCESS, WeChatWebhooks
from bot.config import Settings

if TYPE_CHECKING:
    from bot.bootstrap import Services
    from bot.outbound.sender import Sender


class WeChatChannel:
    name = "wechat"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.webhooks = WeChatWebhooks(settings.wechat)
        self._senders: list[WeChatSender] = []

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/webhooks/wechat", self.webhooks.verify),
            web.post("/webhooks/wechat", self.webhooks.receive),
        ]

    def failure(self, request: web.Request) -> web.StreamResponse:
        """`success`: anything else shows the user an error (CHANNELS.md A3)."""
        return web.Response(text=SUCCESS)

    def senders(self, session: aiohttp.ClientSession) -> dict[str, Sender]:
        sender = WeChatSender(self.settings.wechat, session, self.settings.market.timezone)
        self._senders.append(sender)
        return {"wechat": sender}

    async def start(self, svc: Services) -> None:
        self.webhooks.start(svc)
        for sender in self._senders:  # its access token and 48-hour window live in the database
            sender.bind(svc.db)

    async def stop(self) -> None:
        await self.webhooks.drain()


def build(settings: Settings) -> WeChatChannel | None:
    return WeChatChannel(settings) if settings.wechat.enabled else None
