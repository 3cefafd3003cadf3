"""The aiohttp application: routes in one place, every resource started and stopped with it."""

from __future__ import annotations

import json
import logging

import aiohttp
from aiohttp import web

from bot.bootstrap import Services, services
from bot.channels.twilio.send import TwilioSender
from bot.channels.twilio.webhook import TwilioWebhooks, twiml
from bot.channels.wechat.send import WeChatSender
from bot.channels.wechat.webhook import SUCCESS, WeChatWebhooks
from bot.config import Settings
from bot.engine import broadcasting
from bot.outbound.sender import ChannelSenders, Sender
from bot.tasks import sweeper
from handlers import texts

log = logging.getLogger(__name__)
SERVICES = web.AppKey("services", Services)
WORKER = web.AppKey("worker", int)
MAX_BODY = 64 * 1024  # no webhook or parse request is legitimately larger


async def healthz(request: web.Request) -> web.Response:
    svc = request.app[SERVICES]
    async with svc.db.uow() as uow:
        await uow.inbound.count()
    nlu = svc.nlu.health() if hasattr(svc.nlu, "health") else {}
    return web.json_response({"status": "ok", "database": svc.db.dialect, "worker": request.app[WORKER],
                              "nlu": nlu})


async def model_parse(request: web.Request) -> web.Response:
    """Rasa's POST /model/parse: {"text": ...} → the parse with canonical entity values."""
    try:
        body = json.loads(await request.read() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text='{"error": "body must be JSON"}', content_type="application/json") from None
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        raise web.HTTPBadRequest(text='{"error": "expected {\\"text\\": \\"...\\"}"}',
                                 content_type="application/json")
    nlu = request.app[SERVICES].nlu
    return web.json_response(await nlu.aparse(body["text"]))


@web.middleware
async def webhook_errors(request: web.Request, handler):
    """The one error boundary for providers: a valid 200 body, never a 500 (ARCHITECTURE #10)."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        if not request.path.startswith("/webhooks/"):
            raise
        log.exception("webhook %s failed", request.path)
        if request.path == "/webhooks/wechat":
            return web.Response(text=SUCCESS)  # anything else shows the user an error
        return twiml(texts.t("error", "en") if request.path == "/webhooks/twilio" else None)


def build_senders(settings: Settings, session: aiohttp.ClientSession) -> ChannelSenders:
    """One sender per configured channel; pushes to other channels fail and are recorded."""
    senders: dict[str, Sender] = {}
    if settings.twilio.enabled:
        public = settings.server.public_url.rstrip("/")
        twilio = TwilioSender(settings.twilio, session, f"{public}/webhooks/twilio/status" if public else None)
        senders.update(sms=twilio, whatsapp=twilio)
    if settings.wechat.enabled:
        senders["wechat"] = WeChatSender(settings.wechat, session, settings.market.timezone)
    return ChannelSenders(senders)


def bind_database(svc: Services) -> None:
    """Senders that keep state in the database (WeChat's token and 48-hour window) get it."""
    senders = getattr(svc.outbound.sender, "senders", {})
    for sender in {id(s): s for s in senders.values()}.values():
        if hasattr(sender, "bind"):
            sender.bind(svc.db)


def create_app(settings: Settings, sender: Sender | None = None, nlu=None, background: bool = True,
               worker: int = 0) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[webhook_errors])
    app[WORKER] = worker
    twilio = TwilioWebhooks(settings.twilio.auth_token, settings.server.public_url) \
        if settings.twilio.enabled else None
    wechat = WeChatWebhooks(settings.wechat) if settings.wechat.enabled else None

    async def lifecycle(app: web.Application):
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session, \
                services(settings, sender=sender or build_senders(settings, session), nlu=nlu,
                         background_push=True) as svc:
            app[SERVICES] = svc
            if twilio:
                twilio.svc = svc
            if wechat:
                wechat.start(svc)
                bind_database(svc)
            if background:
                async with sweeper(svc), broadcasting(svc):
                    yield
            else:
                yield
            if wechat:
                await wechat.drain()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/model/parse", model_parse)
    if twilio:
        app.router.add_post("/webhooks/twilio", twilio.inbound)
        app.router.add_post("/webhooks/twilio/status", twilio.status)
    if wechat:
        app.router.add_get("/webhooks/wechat", wechat.verify)
        app.router.add_post("/webhooks/wechat", wechat.receive)
    return app
