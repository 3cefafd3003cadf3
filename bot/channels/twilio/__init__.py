"""Twilio: SMS and WhatsApp (webhook.py verifies, parses and renders; send.py pushes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from bot.channels.twilio.send import TwilioSender
from bot.channels.twilio.webhook import TwilioWebhooks, twiml
from bot.config import Settings
from handlers import texts

if TYPE_CHECKING:
    from bot.bootstrap import Services
    from bot.outbound.sender import Sender

INBOUND = "twilio-inbound"


class TwilioChannel:
    name = "twilio"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.webhooks = TwilioWebhooks(settings.twilio.auth_token, settings.server.public_url)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/webhooks/twilio", self.webhooks.inbound, name=INBOUND),
            web.post("/webhooks/twilio/status", self.webhooks.status, name="twilio-status"),
        ]

    def failure(self, request: web.Request) -> web.StreamResponse:
        """A message gets the apology as its reply; a status callback an empty TwiML."""
        inbound = request.match_info.route.name == INBOUND
        return twiml(texts.t("error", "en") if inbound else None)

    def senders(self, session: aiohttp.ClientSession) -> dict[str, Sender]:
        public = self.settings.server.public_url.rstrip("/")
        status_url = f"{public}/webhooks/twilio/status" if public else None
        sender = TwilioSender(self.settings.twilio, session, status_url)
        return {"sms": sender, "whatsapp": sender}

    async def start(self, svc: Services) -> None:
        self.webhooks.svc = svc

    async def stop(self) -> None:
        return None


def build(settings: Settings) -> TwilioChannel | None:
    return TwilioChannel(settings) if settings.twilio.enabled else None
