"""/admin/broadcasts: compose an announcement (a price comes from the prices page), preview
its audience, segments and cost, send now or at a time, watch its progress, cancel; history.
A draft and its confirmation run the services the SMS command runs (handlers/broadcasts.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from bot.bootstrap import Services
from bot.web import forms, prices
from bot.web.base import account, now, record_id, render, see_other, services, text
from handlers import broadcasts as engine
from storage import broadcasts as records
from storage import dashboard
from storage.models import Broadcast

DONE = ("done", "cancelled")
STATES = ("pending", "sending", "sent", "failed", "skipped")


def _defaults(**given: str) -> dict[str, str]:
    return {
        "text": "",
        "text_en": "",
        "text_zh": "",
        "product": "",
        "place": "",
        "channel": "",
        "audience": "subscribers",
        **given,
    }


async def page(request: web.Request) -> web.StreamResponse:
    return render(request, "broadcasts.html", **await _history(request), form=_defaults())


async def _history(request: web.Request) -> dict[str, Any]:
    before = request.query.get("before", "")
    cursor = record_id(before)
    size = services(request).settings.dashboard.page_size
    async with services(request).db.reader() as uow:
        rows = await dashboard.broadcasts(uow, cursor, size)
        progress = await dashboard.progress(uow, [b.id for b in rows])
    older = rows[-1].id if len(rows) == size else None
    return {
        "rows": rows,
        "progress": progress,
        "older": older,
        "paged": cursor is not None,
        "price_form": prices.defaults(request),
    }


async def compose(request: web.Request) -> web.StreamResponse:
    """An announcement's form: a draft to preview (nothing is sent before it is confirmed)."""
    svc = services(request)
    form = await request.post()
    names = ("text", "text_en", "text_zh", "product", "place", "channel", "audience")
    given = {k: forms.field(form, k) for k in names}
    try:
        body = forms.text(given["text"], "text_all")
        en = forms.text(given["text_en"], "text_en")
        zh = forms.text(given["text_zh"], "text_zh")
        if not (body or en or zh):
            raise forms.FormError("text_all")
        product = forms.product(svc.catalog, given["product"], required=False)
        place = forms.place(svc.catalog, given["place"])
        channel = forms.choice(given["channel"], forms.CHANNELS, "channel", "") or None
        everyone = forms.choice(given["audience"], ("subscribers", "everyone"), "audience")
    except forms.FormError as bad:
        values = await _history(request)
        error = text(request, "bad_form", what=text(request, str(bad)))
        return render(
            request, "broadcasts.html", status=400, error=error, form=_defaults(**given), **values
        )
    by_lang = {k: v for k, v in (("en", en), ("zh", zh)) if v}
    bc = engine.new_announcement(
        body or en or zh,
        now(),
        None,
        None if everyone == "everyone" else product,
        place,
        by_lang,
        channel=channel,
        everyone=everyone == "everyone",
    )
    async with svc.db.uow() as uow:
        await records.save(uow, bc)
        await uow.commit()
    raise see_other(f"/admin/broadcasts/{bc.id}")


async def _get(request: web.Request) -> Broadcast:
    found = record_id(request.match_info["id"])
    if found is None:
        raise web.HTTPNotFound(text=text(request, "not_found"))
    async with services(request).db.reader() as uow:
        bc = await records.get(uow, found)
    if bc is None:
        raise web.HTTPNotFound(text=text(request, "not_found"))
    return bc


async def detail(request: web.Request) -> web.StreamResponse:
    """A draft's preview with its confirmation, or a broadcast's progress."""
    bc = await _get(request)
    svc = services(request)
    async with svc.db.reader() as uow:
        seen = await engine.preview(uow, bc, svc.settings) if bc.status == "draft" else None
        tally = await engine.counts(uow, bc.id)
    return render(
        request,
        "broadcast.html",
        bc=bc,
        seen=seen,
        tally=tally,
        states=STATES,
        live=bc.status not in DONE and bc.status != "draft",
        texts={lang: engine.text_for(bc, lang) for lang in engine.LANGS},
    )


async def progress(request: web.Request) -> web.StreamResponse:
    """The progress fragment htmx polls while the broadcast runs."""
    bc = await _get(request)
    async with services(request).db.reader() as uow:
        tally = await engine.counts(uow, bc.id)
    return render(
        request,
        "_progress.html",
        bc=bc,
        tally=tally,
        states=STATES,
        live=bc.status not in DONE and bc.status != "draft",
    )


async def send(request: web.Request) -> web.StreamResponse:
    """Confirm a draft: publish its price (if it is one) and queue or schedule it."""
    bc = await _get(request)
    svc = services(request)
    form = await request.post()
    try:
        when = forms.local_time(forms.field(form, "send_at"), svc.settings.market.timezone, now())
    except forms.FormError:
        what = text(request, "bad_form", what=text(request, "send_at"))
        raise web.HTTPBadRequest(text=what) from None
    await confirm_draft(svc, bc.id, account(request).name, when)
    raise see_other(f"/admin/broadcasts/{bc.id}")


async def confirm_draft(
    svc: Services, broadcast_id: int, actor: str, when: datetime | None
) -> Broadcast | None:
    """Publish and queue a draft as the dashboard and the API confirm it; the broadcast as it
    is after, None when there is none (a broadcast no longer a draft is left as it is)."""
    async with svc.db.uow() as uow:
        fresh = await records.get(uow, broadcast_id)
        if fresh is not None and fresh.status == "draft":
            seen = await engine.preview(uow, fresh, svc.settings)
            await engine.confirm(uow, fresh, now(), actor, audience=seen.audience, send_at=when)
            await uow.commit()
    async with svc.db.uow() as uow:
        return await records.get(uow, broadcast_id)


async def cancel(request: web.Request) -> web.StreamResponse:
    """Cancel a broadcast not yet begun, or discard a draft."""
    bc = await _get(request)
    async with services(request).db.uow() as uow:
        await engine.cancel(uow, bc.id, account(request).name, now())
        await uow.commit()
    if bc.status == "draft":
        raise see_other("/admin/broadcasts?note=discarded")
    raise see_other(f"/admin/broadcasts/{bc.id}")
