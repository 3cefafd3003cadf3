"""/admin/accounts (not built yet)."""

from __future__ import annotations

from aiohttp import web


def add_routes(r: web.UrlDispatcher) -> None:
    """The page's routes."""
