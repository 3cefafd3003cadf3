"""The aiohttp application: routes in one place, every resource started and stopped with it."""

from __future__ import annotations

import json
import logging

import aiohttp
from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

from bot import channels
from bot.bootstrap import SERVICES, services
from bot.channels.base import Channel
from bot.config import Settings
from bot.outbound.push import ChannelSenders, Sender
from bot.supervisor import background as background_work

log = logging.getLogger(__name__)
WORKER = web.AppKey("worker", int)
ROUTE_CHANNEL = web.AppKey("route_channel", dict)
MAX_BODY = 64 * 1024  # no webhook or parse request is legitimately larger


async def healthz(request: web.Request) -> web.Response:
    svc = request.app[SERVICES]
    async with svc.db.uow() as uow:
        await uow.inbound.count()
    nlu = svc.nlu.health() if hasattr(svc.nlu, "health") else {}
    return web.json_response(
        {"status": "ok", "database": svc.db.dialect, "worker": request.app[WORKER], "nlu": nlu}
    )


async def model_parse(request: web.Request) -> web.Response:
    """Rasa's POST /model/parse: {"text": ...} → the parse with canonical entity values."""
    raw = await request.read()
    try:
        # ValueError: not JSON, not UTF-8, or an integer past int()'s digit limit;
        # RecursionError: arrays or objects nested deeper than the parser goes
        body = json.loads(raw or b"null")
    except (ValueError, RecursionError):
        raise web.HTTPBadRequest(
            text='{"error": "body must be JSON"}', content_type="application/json"
        ) from None
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not _encodable(text):
        raise web.HTTPBadRequest(
            text='{"error": "expected {\\"text\\": \\"...\\"}"}', content_type="application/json"
        )
    nlu = request.app[SERVICES].nlu
    return web.json_response(await nlu.aparse(text))


def _encodable(text: str) -> bool:
    """Whether the text is one UTF-8 can carry (JSON's "\\ud800" escapes a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@web.middleware
async def channel_errors(request: web.Request, handler):
    """The one error boundary for providers: the channel that owns the route says what its
    provider gets instead of a 500 (ARCHITECTURE #10)."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        channel = request.app[ROUTE_CHANNEL].get(request.match_info.route)
        if channel is None:
            raise
        log.exception("%s webhook failed", channel.name)
        return channel.failure(request)


def channel_senders(channels: list[Channel], session: aiohttp.ClientSession) -> ChannelSenders:
    """One sender per user channel of the configured channels; pushes to others fail and are
    recorded."""
    senders: dict[str, Sender] = {}
    for channel in channels:
        senders.update(channel.senders(session))
    return ChannelSenders(senders)


def create_app(
    settings: Settings,
    sender: Sender | None = None,
    nlu=None,
    background: bool = True,
    worker: int = 0,
) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[channel_errors])
    app[WORKER] = worker
    serving = channels.enabled(settings)

    async def lifecycle(app: web.Application):
        timeout = aiohttp.ClientTimeout(total=30)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            services(
                settings,
                sender=sender or channel_senders(serving, session),
                nlu=nlu,
                background_push=True,
            ) as svc,
        ):
            app[SERVICES] = svc
            for channel in serving:
                await channel.start(svc)
            if background:
                async with background_work(svc):
                    yield
            else:
                yield
            for channel in serving:
                await channel.stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/model/parse", model_parse)
    owners: dict[AbstractRoute, Channel] = {}
    for channel in serving:
        for route in channel.routes():
            owners.update(dict.fromkeys(route.register(app.router), channel))
    app[ROUTE_CHANNEL] = owners
    if settings.dashboard.enabled:
        from bot.web import routes as dashboard  # jinja2 and the pages load only when served

        dashboard.setup(app, settings)
    return app
