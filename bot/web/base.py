"""What every page shares: the services, the signed-in account, its language, rendering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web

from bot.bootstrap import SERVICES, Services
from bot.web import i18n
from handlers.context import Scope
from handlers.settings import default_lang
from storage.accounts import AccountInfo
from storage.uow import UnitOfWork

ASSETS = web.AppKey("assets", dict)  # file name -> its URL with a version of its content
ACCOUNT = web.RequestKey("account", AccountInfo)
CSRF = web.RequestKey("csrf", str)
NAV = (
    ("overview", "/admin"),
    ("prices", "/admin/prices"),
    ("listings", "/admin/listings"),
    ("orders", "/admin/orders"),
    ("broadcasts", "/admin/broadcasts"),
    ("users", "/admin/users"),
    ("conversations", "/admin/conversations"),
    ("simulator", "/admin/simulator"),
    ("audit", "/admin/audit"),
    ("accounts", "/admin/accounts"),  # admins only
)
ADMIN_PAGES = ("/admin/accounts",)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]


def account(request: web.Request) -> AccountInfo:
    return request[ACCOUNT]


def now() -> datetime:
    return datetime.now(UTC)


def lang(request: web.Request) -> str:
    """The account's own language, else the deployment's."""
    found = request.get(ACCOUNT)
    if found is not None and found.language in i18n.LANGS:
        return found.language
    return default_lang(services(request).settings)


def scope(request: web.Request, uow: UnitOfWork) -> Scope:
    """The handlers' scope for work done from a page: storage, settings, texts in the page's
    language, no user and no message."""
    svc = services(request)
    return Scope(
        uow=uow, settings=svc.settings, catalog=svc.catalog, now=now(), lang=lang(request)
    )


def zone(request: web.Request) -> ZoneInfo:
    return ZoneInfo(services(request).settings.market.timezone)


def local_midnight(request: web.Request, at: datetime) -> datetime:
    """The start of at's day in the market's time zone."""
    here = at.astimezone(zone(request))
    return here.replace(hour=0, minute=0, second=0, microsecond=0)


def utc_offset(request: web.Request, at: datetime) -> int:
    delta = at.astimezone(zone(request)).utcoffset() or timedelta(0)
    return int(delta.total_seconds())


def render(request: web.Request, template: str, status: int = 200, **values: Any) -> web.Response:
    """A page, with the frame's values: words, account, CSRF token, navigation."""
    words = lang(request)
    svc = services(request)
    context = {
        "lang": words,
        "t": lambda key, **v: i18n.t(key, words, **v),
        "account": request.get(ACCOUNT),
        "csrf": request.get(CSRF, ""),
        "nav": [
            (key, href)
            for key, href in NAV
            if href not in ADMIN_PAGES or getattr(request.get(ACCOUNT), "role", "") == "admin"
        ],
        "path": request.path,
        "catalog": svc.catalog,
        "zone": zone(request),
        "static": lambda name: request.app[ASSETS][name],
        **values,
    }
    return aiohttp_jinja2.render_template(template, request, context, status=status)


def text(request: web.Request, key: str, **values: object) -> str:
    return i18n.t(key, lang(request), **values)


MAX_ID = 2**31 - 1  # ids are INTEGER columns: anything larger names nothing on any database


def record_id(raw: str) -> int | None:
    """A row id typed in a URL, or None when it cannot be one."""
    if not raw.isdigit() or len(raw) > 10 or int(raw) > MAX_ID:
        return None
    return int(raw)


def see_other(location: str) -> web.HTTPSeeOther:
    """After a form is posted, the page to show (so a reload does not post it again)."""
    return web.HTTPSeeOther(location)
