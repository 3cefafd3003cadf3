"""/admin/simulator: chat with the bot in the browser as any number, in a world of its own.

The simulator runs the real gateway, NLU and handlers on a separate SQLite database
(dashboard.simulator_database) loaded with `farmchat demo`'s sample data; its pushes are kept
in that database's outbox and shown on the page, never sent. No real user is written to or
messaged from it. Reset starts the world afresh."""

from __future__ import annotations

import asyncio
import logging
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.bootstrap import Services, services
from bot.config import Settings
from bot.demo import load_demo
from bot.gateway import utcnow
from bot.outbound.push import RecordingSender
from bot.web import forms
from bot.web.base import render, see_other, text
from bot.web.base import services as app_services
from handlers.messages import InboundMessage
from storage import history

log = logging.getLogger(__name__)
CHANNELS = ("sms", "whatsapp", "wechat", "console")
DEFAULT_AS = "+8613800000099"


class Simulator:
    """The simulator's own services, opened on first use and closed with the application."""

    def __init__(self, settings: Settings) -> None:
        url = settings.dashboard.simulator_database
        if url == settings.database.url:
            raise SystemExit(
                "farmchat: dashboard.simulator_database must not be the real database"
            )
        self.path = Path(url.removeprefix("sqlite+aiosqlite:///"))
        self.settings = settings.model_copy(
            update={"database": settings.database.model_copy(update={"url": url})}
        )
        self._stack: AsyncExitStack | None = None
        self._svc: Services | None = None
        self._lock = asyncio.Lock()

    async def open(self, nlu: Any) -> Services:
        async with self._lock:
            if self._svc is None:
                stack = AsyncExitStack()
                svc = await stack.enter_async_context(
                    services(self.settings, sender=RecordingSender(), nlu=nlu)
                )
                await load_demo(svc.db)
                self._stack, self._svc = stack, svc
            return self._svc

    async def reset(self, nlu: Any) -> None:
        async with self._lock:
            await self._close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        await self.open(nlu)

    async def _close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._stack = self._svc = None

    async def close(self) -> None:
        async with self._lock:
            await self._close()


SIMULATOR = web.AppKey("simulator", Simulator)


def setup(app: web.Application, settings: Settings) -> None:
    app[SIMULATOR] = Simulator(settings)

    async def closing(app: web.Application):
        yield
        await app[SIMULATOR].close()

    app.cleanup_ctx.append(closing)


def _who(values: Any) -> tuple[str, str]:
    address = str(values.get("as", "") or DEFAULT_AS).strip()[:64] or DEFAULT_AS
    channel = str(values.get("channel", "") or "sms")
    if channel not in CHANNELS:
        channel = "sms"
    return address, channel


async def _values(request: web.Request, address: str, channel: str) -> dict[str, Any]:
    sim = await request.app[SIMULATOR].open(app_services(request).nlu)
    async with sim.db.uow() as uow:
        user = await uow.users.by_address(channel, address)
        lines = await history.timeline(uow, user.id, 100) if user is not None else []
        pushes = await history.recent_pushes(uow, 30)
    return {
        "as_address": address,
        "as_channel": channel,
        "channels": CHANNELS,
        "lines": lines,
        "pushes": pushes,
    }


async def page(request: web.Request) -> web.StreamResponse:
    address, channel = _who(request.query)
    return render(request, "simulator.html", **await _values(request, address, channel))


async def say(request: web.Request) -> web.StreamResponse:
    """A message as the chosen number; the reply and any pushes show on the page."""
    form = await request.post()
    address, channel = _who(form)
    try:
        words = forms.text(forms.field(form, "text"), "sim_text", required=True)
    except forms.FormError:
        what = text(request, "bad_form", what=text(request, "sim_text"))
        raise web.HTTPBadRequest(text=what) from None
    sim = await request.app[SIMULATOR].open(app_services(request).nlu)
    message = InboundMessage(
        channel=channel,
        sender=address,
        text=words,
        message_id="sim-" + uuid.uuid4().hex,
        received_at=utcnow(),
    )
    await sim.gateway.handle(message)
    if request.headers.get("HX-Request"):
        return render(request, "_sim_chat.html", **await _values(request, address, channel))
    raise see_other("/admin/simulator?" + urlencode({"as": address, "channel": channel}))


async def reset(request: web.Request) -> web.StreamResponse:
    await request.app[SIMULATOR].reset(app_services(request).nlu)
    raise see_other("/admin/simulator")
