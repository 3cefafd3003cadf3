"""The dashboard's routes, mounted on the application by bot/app.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.bootstrap import build_catalog
from bot.config import Settings
from bot.web import (
    accounts,
    audit,
    auth,
    broadcasts,
    conversations,
    listings,
    orders,
    overview,
    past,
    prices,
    simulator,
    users,
)
from bot.web.api import views as api
from bot.web.base import ASSETS

HERE = Path(__file__).resolve().parent


def setup(app: web.Application, settings: Settings) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    auth.setup(app, settings)
    app.middlewares.append(auth.guard)
    app[overview.PAST] = overview.PastDays()
    past.install(app)
    r = app.router
    r.add_static("/admin/static/", HERE / "static")
    app[ASSETS] = {
        f.name: f"/admin/static/{f.name}?v={hashlib.sha256(f.read_bytes()).hexdigest()[:10]}"
        for f in (HERE / "static").iterdir()
    }
    r.add_get("/admin/login", auth.login_page)
    r.add_post("/admin/login", auth.login)
    r.add_post("/admin/logout", auth.logout)
    r.add_post("/admin/language", auth.set_language)
    r.add_get("/admin", overview.overview)
    r.add_get("/admin/", overview.overview)
    r.add_get("/admin/prices", prices.board)
    r.add_post("/admin/prices", prices.preview)
    r.add_get("/admin/prices/{product}", prices.product_page)
    r.add_get("/admin/broadcasts", broadcasts.page)
    r.add_post("/admin/broadcasts", broadcasts.compose)
    r.add_get("/admin/broadcasts/{id}", broadcasts.detail)
    r.add_get("/admin/broadcasts/{id}/progress", broadcasts.progress)
    r.add_post("/admin/broadcasts/{id}/send", broadcasts.send)
    r.add_post("/admin/broadcasts/{id}/cancel", broadcasts.cancel)
    r.add_get("/admin/audit", audit.page)
    r.add_get("/admin/conversations", conversations.page)
    r.add_get("/admin/conversations/{id}", conversations.conversation)
    r.add_get("/admin/conversations/{id}/messages", conversations.messages)
    r.add_post("/admin/conversations/{id}/take", conversations.take)
    r.add_post("/admin/conversations/{id}/answer", conversations.answer)
    r.add_post("/admin/conversations/{id}/handback", conversations.hand_back)
    simulator.setup(app, settings)
    r.add_get("/admin/simulator", simulator.page)
    r.add_post("/admin/simulator", simulator.say)
    r.add_post("/admin/simulator/reset", simulator.reset)
    for page in (listings, orders, users, accounts):
        page.add_routes(r)
    catalog = build_catalog(settings)
    api.api().mount(app, {"product": list(catalog.products), "market": list(catalog.places)})
