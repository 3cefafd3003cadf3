"""/admin/accounts, for admins only: the dashboard's accounts (admins and coordinators) with
their role, language, linked phone numbers and OpenIDs and API tokens; adding, changing the
role or password of, and removing an account; linking an address so that SMS/WeChat commands
and the web are the same person; making a bearer token (shown once) and revoking one.

Every change goes through storage/accounts.py, which writes the audit log under the signed-in
admin's name. An admin cannot remove their own account nor demote themselves here, so the
dashboard always keeps an admin."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp_session import get_session

from bot.accounts import BadAddress, address_of
from bot.web import forms
from bot.web.auth import admin_only
from bot.web.base import account, now, record_id, render, see_other, services, text, zone
from storage import accounts
from storage.accounts import AccountError, AccountInfo
from storage.uow import UnitOfWork

FLASH = "flash"
MAX_PASSWORD = 1000
HOME = "/admin/accounts"


# a notice for the next page, kept in the session (nothing typed is echoed back in a URL) -----
async def flash(request: web.Request, key: str, **values: str) -> None:
    cookie = await get_session(request)
    cookie[FLASH] = [key, values]


async def flashed(request: web.Request) -> str:
    """The notice left by the last change, in the page's language, once."""
    cookie = await get_session(request)
    kept = cookie.pop(FLASH, None)
    if not (isinstance(kept, list) and len(kept) == 2 and isinstance(kept[1], dict)):
        return ""
    key, values = kept
    return text(request, str(key), **{str(k): str(v) for k, v in values.items()})


def path_name(name: str) -> str:
    """An account name as one segment of a URL path (a '/' in a name is kept whole)."""
    return quote(name, safe="")


def _role(request: web.Request, role: str) -> str:
    return text(request, "role_" + role)


def _when(request: web.Request, at: datetime | None) -> str:
    return "" if at is None else at.astimezone(zone(request)).strftime("%Y-%m-%d %H:%M")


# the page ----------------------------------------------------------------------------------
async def _page(
    request: web.Request,
    status: int = 200,
    error: str = "",
    fresh: tuple[AccountInfo, str] | None = None,
    form: dict[str, str] | None = None,
) -> web.Response:
    async with services(request).db.reader() as uow:
        found = await accounts.all_accounts(uow)
        linked = {a.id: await accounts.addresses(uow, a.id) for a in found}
        tokens = await accounts.tokens(uow)
    by_account: dict[str, list[accounts.TokenInfo]] = {}
    for t in reversed(tokens):  # newest first
        by_account.setdefault(t.account, []).append(t)
    response = render(
        request,
        "accounts.html",
        status=status,
        error=error,
        notice="" if error or fresh else await flashed(request),
        rows=found,
        linked=linked,
        tokens=by_account,
        me=account(request),
        fresh=fresh,
        form={"name": "", "role": "coordinator", **(form or {})},
        roles=accounts.ROLES,
        channels=forms.CHANNELS,
        path_name=path_name,
        when=lambda at: _when(request, at),
    )
    if fresh is not None:  # the one page a new token is on: never kept by a browser or proxy
        response.headers["Cache-Control"] = "no-store"
    return response


@admin_only
async def page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


async def _target(request: web.Request, uow: UnitOfWork) -> AccountInfo:
    name = request.match_info["name"]
    found = await accounts.get(uow, name) if len(name) <= 200 else None
    if found is None:
        raise web.HTTPNotFound(text=text(request, "acc_err_no_account", name=name[:64]))
    return found


# the changes -------------------------------------------------------------------------------
@admin_only
async def add(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name = forms.field(form, "name")
    role = forms.field(form, "role")
    password = str(form.get("password", ""))[:MAX_PASSWORD]
    given = {"name": name, "role": role}
    error = ""
    if not name or len(name.casefold()) > accounts.MAX_NAME:
        error = text(request, "acc_err_name")
    elif role not in accounts.ROLES:
        error = text(request, "acc_err_role")
    elif len(password) < accounts.MIN_PASSWORD:
        error = text(request, "acc_err_password")
    if error:
        return await _page(request, 400, error, form=given)
    made = None
    async with services(request).db.uow() as uow:
        if await accounts.get(uow, name) is not None:
            error = text(request, "acc_err_exists", name=name)
        else:
            try:
                made = await accounts.add(uow, name, role, password, account(request).name, now())
                await uow.commit()
            except AccountError as why:  # made meanwhile by someone else, or a rule not met
                error = text(request, "acc_err_unknown", why=str(why))
    if made is None:  # pages are rendered with the unit of work closed (SQLite: one connection)
        return await _page(request, 400, error, form=given)
    await flash(request, "acc_added", name=made.name, role=_role(request, made.role))
    raise see_other(HOME)


@admin_only
async def set_role(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    role = forms.field(form, "role")
    if role not in accounts.ROLES:
        return await _page(request, 400, text(request, "acc_err_role"))
    async with services(request).db.uow() as uow:
        target = await _target(request, uow)
        mine = target.id == account(request).id
        if target.role != role and not mine:
            await accounts.set_role(uow, target.name, role, account(request).name, now())
            await uow.commit()
    if mine and role != "admin":  # pages are rendered with the unit of work closed
        return await _page(request, 400, text(request, "acc_not_self_demote"))
    await flash(request, "acc_role_set", name=target.name, role=_role(request, role))
    raise see_other(HOME)


@admin_only
async def set_password(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    password = str(form.get("password", ""))[:MAX_PASSWORD]
    if len(password) < accounts.MIN_PASSWORD:
        return await _page(request, 400, text(request, "acc_err_password"))
    async with services(request).db.uow() as uow:
        target = await _target(request, uow)
        await accounts.set_password(uow, target.name, password, account(request).name, now())
        await uow.commit()
    await flash(request, "acc_password_set", name=target.name)
    raise see_other(HOME)  # an admin's own new password ends their session too: sign in again


@admin_only
async def remove(request: web.Request) -> web.StreamResponse:
    async with services(request).db.uow() as uow:
        target = await _target(request, uow)
        mine = target.id == account(request).id
        if not mine:
            await accounts.remove(uow, target.name, account(request).name, now())
            await uow.commit()
    if mine:
        return await _page(request, 400, text(request, "acc_not_self_remove"))
    await flash(request, "acc_removed", name=target.name)
    raise see_other(HOME)


def _address(request: web.Request, form: Any) -> tuple[str, str]:
    raw = forms.field(form, "address")[:200]
    channel = forms.field(form, "channel")
    try:
        return address_of(raw, channel or None)
    except BadAddress as bad:
        key = {"phone": "acc_err_phone", "openid": "acc_err_openid"}.get(
            bad.kind, "acc_err_channel"
        )
        raise _Bad(text(request, key, address=bad.address)) from None


class _Bad(Exception):
    """A form value refused, with the words to say so."""


@admin_only
async def link(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        channel, address = _address(request, form)
    except _Bad as bad:
        return await _page(request, 400, str(bad))
    async with services(request).db.uow() as uow:
        target = await _target(request, uow)
        await accounts.link(uow, target.name, channel, address, account(request).name, now())
        await uow.commit()
    words = text(request, "acc_ch_" + channel)
    await flash(request, "acc_linked", address=address, channel=words, name=target.name)
    raise see_other(HOME)


@admin_only
async def unlink(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        channel, address = _address(request, form)
    except _Bad as bad:
        return await _page(request, 400, str(bad))
    async with services(request).db.uow() as uow:
        target = await _target(request, uow)
        done = await accounts.unlink(
            uow, target.name, channel, address, account(request).name, now()
        )
        await uow.commit()
    if not done:
        said = text(request, "acc_err_not_linked", address=address, name=target.name)
        return await _page(request, 400, said)
    await flash(request, "acc_unlinked", address=address, name=target.name)
    raise see_other(HOME)


@admin_only
async def make_token(request: web.Request) -> web.StreamResponse:
    """A new bearer token, on this answer page only: it is never stored nor shown again."""
    async with services(request).db.uow() as uow:
        target = await _target(request, uow)
        secret = await accounts.new_token(uow, target.name, account(request).name, now())
        await uow.commit()
    return await _page(request, fresh=(target, secret))


@admin_only
async def revoke(request: web.Request) -> web.StreamResponse:
    raw = request.match_info["id"]
    token_id = record_id(raw) or 0
    async with services(request).db.uow() as uow:
        known = {t.id: t for t in await accounts.tokens(uow)}
        done = token_id in known and await accounts.revoke_token(
            uow, token_id, account(request).name, now()
        )
        await uow.commit()
    if not done:
        return await _page(request, 404, text(request, "acc_token_gone"))
    await flash(request, "acc_token_revoked", prefix=known[token_id].prefix)
    raise see_other(HOME)


def add_routes(r: web.UrlDispatcher) -> None:
    """The page's routes."""
    r.add_get("/admin/accounts", page)
    r.add_post("/admin/accounts", add)
    r.add_post("/admin/accounts/{name}/role", set_role)
    r.add_post("/admin/accounts/{name}/password", set_password)
    r.add_post("/admin/accounts/{name}/remove", remove)
    r.add_post("/admin/accounts/{name}/link", link)
    r.add_post("/admin/accounts/{name}/unlink", unlink)
    r.add_post("/admin/accounts/{name}/tokens", make_token)
    r.add_post("/admin/tokens/{id}/revoke", revoke)
