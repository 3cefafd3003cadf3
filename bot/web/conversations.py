"""/admin/conversations: who wrote last, and per user every message, reply and push in
order, with delivery status; a coordinator takes a conversation over, answers, and hands it
back (handlers/handoff.py). The page refreshes itself while it is open (htmx)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from bot.channels.wechat.send import within_window
from bot.web import forms
from bot.web.base import account, now, record_id, render, scope, see_other, services, text
from handlers import handoff
from storage import history, wechat
from storage.models import User


async def page(request: web.Request) -> web.StreamResponse:
    search = request.query.get("q", "").strip()[:100]
    before = _when(request.query.get("before", ""))
    size = services(request).settings.dashboard.page_size
    async with services(request).db.reader() as uow:
        rows = await history.writers(uow, search, before, size)
    older = rows[-1].last_seen_at.isoformat() if len(rows) == size else None
    return render(
        request,
        "conversations.html",
        rows=rows,
        q=search,
        older=older,
        at=now(),
        active=handoff.active,
    )


def _when(raw: str) -> datetime | None:
    try:
        found = datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None
    return found if found is None or found.tzinfo is not None else None


async def _user(request: web.Request) -> User:
    found = record_id(request.match_info["id"])
    if found is None:
        raise web.HTTPNotFound(text=text(request, "not_found"))
    async with services(request).db.reader() as uow:
        user = await uow.users.get(found)
    if user is None:
        raise web.HTTPNotFound(text=text(request, "not_found"))
    return user


async def _values(request: web.Request, user: User) -> dict[str, Any]:
    svc = services(request)
    at = now()
    async with svc.db.reader() as uow:
        lines = await history.timeline(uow, user.id)
        contact = await wechat.contact(uow, user.address) if user.channel == "wechat" else None
    outside = (
        user.channel == "wechat"
        and not within_window(contact, at)
        and not svc.settings.wechat.template.id
    )
    return {
        "user": user,
        "lines": lines,
        "handed": handoff.active(user.handoff_until, at),
        "outside_window": outside,
    }


async def conversation(request: web.Request) -> web.StreamResponse:
    user = await _user(request)
    return render(request, "conversation.html", **await _values(request, user))


async def messages(request: web.Request) -> web.StreamResponse:
    """The fragment htmx polls: the lines and the hand-off state."""
    user = await _user(request)
    return render(request, "_conversation_lines.html", **await _values(request, user))


async def _act(request: web.Request, what: str, words: str = "") -> None:
    """Take over, answer or hand back, in one transaction; the user's notices go out after."""
    user = await _user(request)
    svc = services(request)
    minutes = svc.settings.dashboard.handoff_minutes
    by = account(request).name
    async with svc.db.uow() as uow:
        ctx = scope(request, uow)
        if what == "take":
            await handoff.take_over(ctx, user, by, minutes)
        elif what == "answer":
            await handoff.answer(ctx, user, by, words, minutes)
        else:
            await handoff.hand_back(ctx, user, by)
        claimed = await svc.outbound.queue(uow, ctx.notices, ctx.now)
        await uow.commit()
    await svc.outbound.deliver(claimed)


async def take(request: web.Request) -> web.StreamResponse:
    await _act(request, "take")
    raise see_other(request.path.rsplit("/", 1)[0])


async def answer(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        words = forms.text(forms.field(form, "text"), "conv_text", required=True)
    except forms.FormError:
        raise web.HTTPBadRequest(
            text=text(request, "bad_form", what=text(request, "conv_text"))
        ) from None
    await _act(request, "answer", words)
    raise see_other(request.path.rsplit("/", 1)[0])


async def hand_back(request: web.Request) -> web.StreamResponse:
    await _act(request, "back")
    raise see_other(request.path.rsplit("/", 1)[0])
