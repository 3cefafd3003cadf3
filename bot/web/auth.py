"""Signing in and out, and the guard in front of every /admin page.

The browser holds an encrypted cookie (aiohttp-session's EncryptedCookieStorage, a Fernet key
from FARMCHAT_DASHBOARD__SESSION_KEY) that carries the session's secret; the session itself
lives in the database (storage/web.py), so logging out, a changed password or a removed
account ends it everywhere. Every form and htmx request carries the session's CSRF token.
Wrong passwords are counted per account name and per address, across processes."""

from __future__ import annotations

import base64
import contextlib
import hmac
import logging
import os
import secrets
import tempfile
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from aiohttp import web
from aiohttp_session import get_session, new_session
from aiohttp_session import setup as setup_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet

from bot.config import Settings
from bot.web.base import ACCOUNT, CSRF, now, render, services, text
from storage import accounts
from storage import web as sessions

log = logging.getLogger(__name__)
COOKIE = "farmchat_session"
OPEN_PATHS = ("/admin/login", "/admin/static/")
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# the cookie's key ---------------------------------------------------------------------------
def session_key(settings: Settings) -> Fernet:
    """The Fernet key: the environment's, else the key file's, made once (mode 0600)."""
    configured = settings.dashboard.session_key.strip()
    if configured:
        key = configured.encode()
    else:
        key = _key_file(Path(settings.dashboard.key_file))
    try:
        return Fernet(key)
    except ValueError:
        raise SystemExit(
            "farmchat: dashboard.session_key must be 32 bytes in url-safe base64 "
            "(FARMCHAT_DASHBOARD__SESSION_KEY)"
        ) from None


def _key_file(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = base64.urlsafe_b64encode(secrets.token_bytes(32))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".farmchat-key-")
    try:
        os.write(fd, key + b"\n")
        os.close(fd)
        with contextlib.suppress(FileExistsError):  # another worker made it first: use theirs
            os.link(tmp, path)
            log.warning("dashboard: made a session key in %s (set it in the environment)", path)
    finally:
        os.unlink(tmp)
    return path.read_bytes().strip()


def setup(app: web.Application, settings: Settings) -> None:
    secure = settings.server.public_url.lower().startswith("https://")
    storage = EncryptedCookieStorage(
        session_key(settings),
        cookie_name=COOKIE,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=secure,
        max_age=settings.dashboard.session_max_hours * 3600,
    )
    setup_session(app, storage)


# the guard ----------------------------------------------------------------------------------
def _idle(settings: Settings) -> tuple[timedelta, timedelta]:
    d = settings.dashboard
    return timedelta(minutes=d.session_idle_minutes), timedelta(hours=d.session_max_hours)


def _token_ok(expected: str, given: str | None) -> bool:
    return bool(expected) and given is not None and hmac.compare_digest(expected, given)


async def _form_token(request: web.Request) -> str | None:
    header = request.headers.get("X-CSRF-Token")
    if header is not None:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        field = (await request.post()).get("csrf")
        return field if isinstance(field, str) else None
    return None


async def _unstorable(request: web.Request) -> bool:
    """A query or form value no database text column can hold (PostgreSQL refuses NUL)."""
    values = list(request.query.values())
    if request.method in UNSAFE and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        values += [v for v in (await request.post()).values() if isinstance(v, str)]
    return any("\x00" in v for v in values)


def _to_login(request: web.Request, note: str = "") -> web.StreamResponse:
    target = "/admin/login?next=" + quote(request.path_qs, safe="")
    if note:
        target += "&note=" + note
    if request.headers.get("HX-Request"):  # htmx: a full-page redirect, not a fragment
        return web.Response(status=401, headers={"HX-Redirect": target})
    if request.method in UNSAFE:
        return web.Response(status=401, text="sign in first")
    raise web.HTTPFound(target)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Pages under /admin need a live session, and a request that changes something its CSRF
    token; everything else passes untouched."""
    path = request.path
    if not (path == "/admin" or path.startswith("/admin/")):
        return await handler(request)
    if await _unstorable(request):
        raise web.HTTPBadRequest(text="a value holds a NUL character")
    cookie = await get_session(request)
    if path.startswith(OPEN_PATHS):
        csrf = cookie.get("csrf")
        if not isinstance(csrf, str):
            csrf = cookie["csrf"] = secrets.token_urlsafe(32)
        request[CSRF] = csrf
        if request.method in UNSAFE and not _token_ok(csrf, await _form_token(request)):
            raise web.HTTPForbidden(text="missing or wrong CSRF token")
        return await handler(request)
    secret = cookie.get("sid")
    settings = services(request).settings
    async with services(request).db.uow() as uow:
        live = (
            await sessions.session(uow, secret, now(), *_idle(settings))
            if isinstance(secret, str)
            else None
        )
        await uow.commit()
    if live is None:
        if secret is not None:
            cookie.invalidate()
        return _to_login(request, "ended" if secret is not None else "")
    request[ACCOUNT], request[CSRF] = live.account, live.csrf
    if request.method in UNSAFE and not _token_ok(live.csrf, await _form_token(request)):
        raise web.HTTPForbidden(text="missing or wrong CSRF token")
    return await handler(request)


def admin_only(handler: Handler) -> Handler:
    """A page only an admin may use (accounts, roles, tokens): 403 for a coordinator."""

    async def only_admins(request: web.Request) -> web.StreamResponse:
        if request[ACCOUNT].role != "admin":
            raise web.HTTPForbidden(text=text(request, "forbidden"))
        return await handler(request)

    return only_admins


# the pages ----------------------------------------------------------------------------------
def _next(request: web.Request, given: object) -> str:
    """Where to go after signing in: a path of this dashboard, never another site."""
    target = given if isinstance(given, str) else ""
    if not target.startswith("/admin") or target.startswith("//") or "\\" in target:
        return "/admin"
    return target


async def login_page(request: web.Request) -> web.StreamResponse:
    note = request.query.get("note")
    message = {"ended": "session_ended", "out": "logged_out"}.get(note or "")
    return render(
        request,
        "login.html",
        next=_next(request, request.query.get("next")),
        message=text(request, message) if message else "",
        error="",
        name="",
    )


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name = str(form.get("name", ""))[:200].strip()
    password = str(form.get("password", ""))[:1000]
    target = _next(request, form.get("next"))
    settings = services(request).settings.dashboard
    at = now()
    since = at - timedelta(minutes=settings.login_window_minutes)
    keys = [f"name:{name.casefold()}", f"addr:{request.remote or '-'}"]
    async with services(request).db.uow() as uow:
        by_name = await sessions.failures(uow, keys[0], since)
        by_addr = await sessions.failures(uow, keys[1], since)
        if by_name >= settings.account_attempts or by_addr >= settings.address_attempts:
            error = text(request, "login_throttled", minutes=settings.login_window_minutes)
            return render(
                request, "login.html", status=429, next=target, error=error, name=name, message=""
            )
        found = await accounts.verify(uow, name, password)
        if found is None:
            await sessions.failed(uow, keys, at)
            await uow.commit()
            log.info("dashboard: a wrong password for an account name")
            error = text(request, "login_wrong")
            return render(
                request, "login.html", status=401, next=target, error=error, name=name, message=""
            )
        await sessions.forget(uow, keys[0])
        await sessions.prune(
            uow,
            failures_before=since,
            sessions_before=at
            - timedelta(minutes=services(request).settings.dashboard.session_idle_minutes),
        )
        secret = await sessions.open_session(uow, found.id, at)
        await uow.commit()
    cookie = await new_session(request)  # a new cookie: nothing of the anonymous one stays
    cookie["sid"] = secret
    raise web.HTTPSeeOther(target)


async def logout(request: web.Request) -> web.StreamResponse:
    cookie = await get_session(request)
    secret = cookie.get("sid")
    if isinstance(secret, str):
        async with services(request).db.uow() as uow:
            await sessions.close_session(uow, secret)
            await uow.commit()
    cookie.invalidate()
    raise web.HTTPSeeOther("/admin/login?note=out")


async def set_language(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    chosen = str(form.get("language", ""))
    if chosen not in ("", "en", "zh"):
        raise web.HTTPBadRequest(text="unknown language")
    async with services(request).db.uow() as uow:
        await accounts.set_language(uow, request[ACCOUNT].id, chosen)
        await uow.commit()
    back = request.headers.get("Referer", "")
    path = "/" + back.split("/", 3)[3] if back.count("/") >= 3 else "/admin"
    raise web.HTTPSeeOther(_next(request, path))
