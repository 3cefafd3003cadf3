"""The aiohttp application: routes in one place, every resource started and stopped with it."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from bot.bootstrap import Services, services
from bot.config import Settings
from bot.sender import Sender
from bot.tasks import sweeper

log = logging.getLogger(__name__)
SERVICES = web.AppKey("services", Services)
MAX_PARSE_BODY = 64 * 1024


async def healthz(request: web.Request) -> web.Response:
    svc = request.app[SERVICES]
    async with svc.db.uow() as uow:
        await uow.inbound.count()
    return web.json_response({"status": "ok", "database": svc.db.dialect})


async def model_parse(request: web.Request) -> web.Response:
    """Rasa's POST /model/parse: {"text": ...} → the parse with canonical entity values."""
    try:
        body = json.loads(await request.read() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text='{"error": "body must be JSON"}', content_type="application/json") from None
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        raise web.HTTPBadRequest(text='{"error": "expected {\\"text\\": \\"...\\"}"}',
                                 content_type="application/json")
    return web.json_response(request.app[SERVICES].nlu.parse(body["text"]))


def create_app(settings: Settings, sender: Sender | None = None, nlu=None, background: bool = True) -> web.Application:
    app = web.Application(client_max_size=MAX_PARSE_BODY)

    async def lifecycle(app: web.Application):
        async with services(settings, sender=sender, nlu=nlu) as svc:
            app[SERVICES] = svc
            if background:
                async with sweeper(svc):
                    yield
            else:
                yield

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/model/parse", model_parse)
    return app
