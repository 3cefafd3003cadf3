"""/admin/audit: who published which price, sent or cancelled which broadcast, changed which
listing, order, role or account; newest first, searchable."""

from __future__ import annotations

from aiohttp import web

from bot.web.base import record_id, render, services
from storage import audit


async def page(request: web.Request) -> web.StreamResponse:
    before = request.query.get("before", "")
    cursor = record_id(before)
    search = request.query.get("q", "")[:100]
    size = services(request).settings.dashboard.page_size
    async with services(request).db.reader() as uow:
        rows = await audit.page(uow, cursor, size, search)
    older = rows[-1].id if len(rows) == size else None
    return render(
        request, "audit.html", rows=rows, q=search, older=older, paged=cursor is not None
    )
