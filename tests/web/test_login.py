"""Signing in to the dashboard, what a session is worth, and what is refused without one."""

from __future__ import annotations

import re

import pytest

from storage import audit
from tests.web.conftest import PASSWORD, csrf_of

PAGES = [
    "/admin",
    "/admin/prices",
    "/admin/prices/apple",
    "/admin/listings",
    "/admin/listings.csv",
    "/admin/orders",
    "/admin/orders.csv",
    "/admin/broadcasts",
    "/admin/users",
    "/admin/users.csv",
    "/admin/conversations",
    "/admin/simulator",
    "/admin/audit",
    "/admin/accounts",
]
FORMS = ["/admin/prices", "/admin/broadcasts", "/admin/logout", "/admin/language"]


async def test_every_page_without_a_session_goes_to_the_login(dash):
    client = await dash.client()
    for path in PAGES:
        async with client.get(path, allow_redirects=False) as r:
            assert r.status == 302, path
            assert r.headers["Location"].startswith("/admin/login?next=")
    for path in FORMS:
        async with client.post(path, data={"x": "1"}, allow_redirects=False) as r:
            assert r.status in (401, 403), path  # no session, and no CSRF token either


async def test_sign_in_then_every_page_answers_and_logout_ends_it(dash):
    await dash.account("amina")
    client = await dash.signed_in("amina")
    [cookie] = [c for c in client.cookie_jar if c.key == "farmchat_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    for path in PAGES:
        async with client.get(path, allow_redirects=False) as r:
            assert r.status == 200, path
            if r.content_type == "text/html":
                assert "amina" in await r.text()
    async with client.get("/admin") as r:
        csrf = csrf_of(await r.text())
    stolen = {c.key: c.value for c in client.cookie_jar}
    async with client.post("/admin/logout", data={"csrf": csrf}, allow_redirects=False) as r:
        assert r.status == 303
    async with client.get("/admin", allow_redirects=False) as r:
        assert r.status == 302
    # the cookie as it was before logging out opens nothing: the session itself is gone
    replay = await dash.client()
    replay.cookie_jar.update_cookies(stolen)
    async with replay.get("/admin", allow_redirects=False) as r:
        assert r.status == 302


async def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(dash):
    await dash.account("amina")
    client = await dash.client()
    answers = []
    for name, password in [("amina", "wrong password"), ("nobody", PASSWORD), ("", "")]:
        async with client.get("/admin/login") as r:
            csrf = csrf_of(await r.text())
        form = {"csrf": csrf, "name": name, "password": password}
        async with client.post("/admin/login", data=form, allow_redirects=False) as r:
            said = re.search(r'class="error" role="alert">([^<]*)<', await r.text())
            answers.append((r.status, said.group(1) if said else None))
    assert answers[0] == answers[1] == answers[2] == (401, "账号或密码不对。")


async def test_login_without_its_csrf_token_is_refused(dash):
    await dash.account("amina")
    client = await dash.client()
    await client.get("/admin/login")
    form = {"name": "amina", "password": PASSWORD}
    async with client.post("/admin/login", data=form, allow_redirects=False) as r:
        assert r.status == 403
    async with client.get("/admin", allow_redirects=False) as r:
        assert r.status == 302


async def test_wrong_passwords_lock_the_name_even_for_the_right_one(dash):
    await dash.account("amina")
    client = await dash.client()
    limit = dash.svc.settings.dashboard.account_attempts
    for _ in range(limit):
        async with client.get("/admin/login") as r:
            csrf = csrf_of(await r.text())
        form = {"csrf": csrf, "name": "Amina", "password": "guess"}
        async with client.post("/admin/login", data=form, allow_redirects=False) as r:
            assert r.status == 401
    async with client.get("/admin/login") as r:
        csrf = csrf_of(await r.text())
    form = {"csrf": csrf, "name": "amina", "password": PASSWORD}
    async with client.post("/admin/login", data=form, allow_redirects=False) as r:
        assert r.status == 429
        assert "密码错误次数太多" in await r.text()
    # another account from another address is not locked by amina's
    await dash.account("baraka", "coordinator")
    other = await dash.signed_in("baraka")
    async with other.get("/admin", allow_redirects=False) as r:
        assert r.status == 200


async def test_a_changed_password_ends_open_sessions(dash):
    await dash.account("amina")
    client = await dash.signed_in("amina")
    async with dash.svc.db.uow() as uow:
        from storage import accounts

        await accounts.set_password(uow, "amina", "another good password")
        await uow.commit()
    async with client.get("/admin", allow_redirects=False) as r:
        assert r.status == 302 and "note=ended" in r.headers["Location"]


async def test_forms_without_the_csrf_token_are_403_and_change_nothing(dash):
    await dash.account("amina")
    client = await dash.signed_in("amina")
    price = {"product": "apple", "price": "4.2", "currency": "CNY", "unit": "jin"}
    async with client.post("/admin/prices", data=price, allow_redirects=False) as r:
        assert r.status == 403
    async with client.post(
        "/admin/prices", data={**price, "csrf": "not-the-token"}, allow_redirects=False
    ) as r:
        assert r.status == 403
    async with dash.svc.db.uow() as uow:
        assert await audit.trail(uow) == [e for e in await audit.trail(uow) if e.actor == "shell"]
        from storage import broadcasts as records

        assert await records.get(uow, 1) is None


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/elsewhere"])
async def test_after_sign_in_only_dashboard_paths_are_followed(dash, target):
    await dash.account("amina")
    client = await dash.client()
    async with client.get("/admin/login") as r:
        csrf = csrf_of(await r.text())
    form = {"csrf": csrf, "name": "amina", "password": PASSWORD, "next": target}
    async with client.post("/admin/login", data=form, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/admin"


async def test_the_language_follows_the_market_then_the_account(dash):
    await dash.account("amina")
    client = await dash.signed_in("amina")
    async with client.get("/admin/prices") as r:
        html = await r.text()
    assert '<html lang="zh-CN">' in html and "价格表" in html  # a yuan market reads Chinese
    form = {"csrf": csrf_of(html), "language": "en"}
    headers = {"Referer": dash.url + "/admin/prices"}
    async with client.post("/admin/language", data=form, headers=headers) as r:
        assert r.status == 200 and "Price board" in await r.text()
    assert re.search(r'<option value="en" selected>', await (await client.get("/admin")).text())


async def test_a_nul_character_anywhere_is_400_on_every_database(dash):
    await dash.account("amina")
    client = await dash.signed_in("amina")
    for path in ["/admin/listings?q=a%00b", "/admin/users?q=%00", "/admin/audit?q=x%00"]:
        async with client.get(path) as r:
            assert r.status == 400, path
    async with client.get("/admin/broadcasts") as r:
        csrf = csrf_of(await r.text())
    form = {"csrf": csrf, "text": "meeting\x00today", "audience": "everyone"}
    async with client.post("/admin/broadcasts", data=form, allow_redirects=False) as r:
        assert r.status == 400
    anonymous = await dash.client()
    async with anonymous.get("/admin/login") as r:
        csrf = csrf_of(await r.text())
    form = {"csrf": csrf, "name": "ami\x00na", "password": PASSWORD}
    async with anonymous.post("/admin/login", data=form, allow_redirects=False) as r:
        assert r.status == 400


async def test_an_idle_session_ends(dash):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from storage.models import WebSession

    await dash.account("amina")
    client = await dash.signed_in("amina")
    idle = dash.svc.settings.dashboard.session_idle_minutes
    async with dash.svc.db.uow() as uow:
        then = datetime.now(UTC) - timedelta(minutes=idle + 1)
        await uow.session.execute(update(WebSession).values(seen_at=then))
        await uow.commit()
    async with client.get("/admin/prices", allow_redirects=False) as r:
        assert r.status == 302 and "note=ended" in r.headers["Location"]


async def test_the_cookie_is_secure_behind_https(sqlite_url, nlu_cache, real_nlu, tmp_path):
    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import create_app
    from bot.bootstrap import SERVICES
    from storage import accounts
    from tests.conftest import make_settings

    settings = make_settings(
        sqlite_url,
        nlu_cache,
        FARMCHAT_SERVER__PUBLIC_URL="https://market.example.org",
        FARMCHAT_DASHBOARD__KEY_FILE=str(tmp_path / "key"),
        FARMCHAT_DASHBOARD__SIMULATOR_DATABASE=f"sqlite+aiosqlite:///{tmp_path / 's.db'}",
    )
    app = create_app(settings, nlu=real_nlu, background=False)
    async with TestClient(TestServer(app)) as client:
        async with app[SERVICES].db.uow() as uow:
            await accounts.add(uow, "amina", "admin", PASSWORD)
            await uow.commit()
        page = await client.get("/admin/login")
        csrf = csrf_of(await page.text())
        form = {"csrf": csrf, "name": "amina", "password": PASSWORD}
        # the anonymous cookie came with the login page; send it back by hand (it is Secure)
        cookie = page.headers["Set-Cookie"].split(";")[0]
        done = await client.post(
            "/admin/login", data=form, headers={"Cookie": cookie}, allow_redirects=False
        )
        assert done.status == 303
        parts = {p.strip().lower() for p in done.headers["Set-Cookie"].split(";")}
        assert {"secure", "httponly", "samesite=lax"} <= parts
