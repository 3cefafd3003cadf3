"""The admins' Accounts page: adding accounts who can then sign in, roles and passwords,
phones linked so that SMS commands and the web are the same person, API tokens shown once and
revocable; and a coordinator refused every one of these, with nothing changed."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote

import pytest
from sqlalchemy import text as sql

from storage import accounts, audit
from tests.web.conftest import PASSWORD, csrf_of

LINKED = "+8613800000077"
CONFIGURED = "+8613900000000"  # the rig's coordinators.addresses
BROADCAST = "broadcast apple 4.2 yuan/jin"
SUBSCRIBER = "+254700000022"


async def token_of(client) -> str:
    async with client.get("/admin/accounts") as r:
        assert r.status == 200
        return csrf_of(await r.text())


async def post(client, path: str, csrf: str, **fields) -> tuple[int, str, str]:
    """(status, where it sends the browser, the page's text)"""
    async with client.post(path, data={"csrf": csrf, **fields}, allow_redirects=False) as r:
        return r.status, r.headers.get("Location", ""), await r.text()


async def state(dash) -> tuple:
    """Everything the Accounts page can change."""
    async with dash.svc.db.uow() as uow:
        found = await accounts.all_accounts(uow)
        linked = [await accounts.addresses(uow, a.id) for a in found]
        tokens = await accounts.tokens(uow)
        trail = await audit.trail(uow)
        user = await uow.users.by_address("sms", LINKED)
        role = None if user is None else user.role
    return found, linked, tokens, [e.id for e in trail], role


async def test_a_coordinator_is_refused_every_account_action(dash):
    await dash.account("amina", "admin")
    await dash.account("baraka", "coordinator")
    async with dash.svc.db.uow() as uow:
        await accounts.link(uow, "amina", "sms", LINKED)
        await accounts.new_token(uow, "amina")
        [made] = await accounts.tokens(uow)
        await uow.commit()
    await dash.text("+8613800000041", "hello")
    async with dash.svc.db.uow() as uow:
        found = await uow.users.by_address("sms", "+8613800000041")
        assert found is not None
        user_id = found.id
    before = await state(dash)
    client = await dash.signed_in("baraka")
    async with client.get("/admin") as r:
        csrf = csrf_of(await r.text())
    async with client.get("/admin/accounts") as r:
        assert r.status == 403 and "只有管理员可以这样做。" in await r.text()
    attempts = [
        ("/admin/accounts", {"name": "eve", "role": "admin", "password": "long enough pw"}),
        ("/admin/accounts/baraka/role", {"role": "admin"}),
        ("/admin/accounts/amina/role", {"role": "coordinator"}),
        ("/admin/accounts/amina/password", {"password": "taken over now"}),
        ("/admin/accounts/amina/remove", {}),
        ("/admin/accounts/baraka/link", {"channel": "sms", "address": "+8613800000099"}),
        ("/admin/accounts/amina/unlink", {"channel": "sms", "address": LINKED}),
        ("/admin/accounts/baraka/tokens", {}),
        (f"/admin/tokens/{made.id}/revoke", {}),
        (f"/admin/users/{user_id}/role", {"role": "coordinator"}),
    ]
    for path, fields in attempts:
        status, _, said = await post(client, path, csrf, **fields)
        assert status == 403, path
        assert "只有管理员可以这样做。" in said and "fct_" not in said, path
    assert await state(dash) == before
    async with dash.svc.db.uow() as uow:
        user = await uow.users.get(user_id)
        assert user is not None and user.role == "user"
    # the admin's password still opens the dashboard
    assert await dash.signed_in("amina")


async def test_an_admin_adds_a_coordinator_who_can_then_sign_in(dash):
    await dash.account("amina", "admin")
    admin = await dash.signed_in("amina")
    csrf = await token_of(admin)
    fields = {"name": "王芳", "role": "coordinator", "password": "菜园子的密码123"}
    status, where, _ = await post(admin, "/admin/accounts", csrf, **fields)
    assert (status, where) == (303, "/admin/accounts")
    async with admin.get(where) as r:
        page = await r.text()
    assert "已添加账号王芳（协调员）。" in page
    assert re.search(r'data-name="王芳" data-role="coordinator"', page)
    assert "已添加账号王芳" not in await (await admin.get("/admin/accounts")).text()  # once
    coordinator = await dash.signed_in("王芳", "菜园子的密码123")
    async with coordinator.get("/admin/users") as r:
        assert r.status == 200 and "当前账号：王芳（协调员）" in await r.text()
    async with coordinator.get("/admin/accounts") as r:
        assert r.status == 403
    async with dash.svc.db.uow() as uow:
        [entry] = [e for e in await audit.trail(uow, "王芳") if e.action == "account.added"]
    assert (entry.actor, entry.subject, entry.detail) == ("amina", "王芳", {"role": "coordinator"})
    assert "菜园子" not in str(entry.detail)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"name": "", "role": "admin", "password": "long enough"}, "账号名要1到64个字符。"),
        ({"name": "x" * 65, "role": "admin", "password": "long enough"}, "账号名要1到64个字符"),
        ({"name": "juma", "role": "boss", "password": "long enough"}, "请选择管理员或协调员。"),
        ({"name": "juma", "role": "admin", "password": "short"}, "密码至少要8位。"),
        ({"name": "AMINA", "role": "admin", "password": "long enough"}, "已经有名为AMINA的账号。"),
    ],
)
async def test_a_bad_new_account_is_400_in_words(dash, fields, says):
    await dash.account("amina", "admin")
    admin = await dash.signed_in("amina")
    status, _, page = await post(admin, "/admin/accounts", await token_of(admin), **fields)
    assert status == 400 and says in page
    async with dash.svc.db.uow() as uow:
        assert [a.name for a in await accounts.all_accounts(uow)] == ["amina"]


async def test_a_linked_phone_is_that_account_by_sms(dash):
    await dash.account("amina", "admin")
    await dash.account("juma", "coordinator")
    assert "Subscribed" in await dash.text(SUBSCRIBER, "subscribe apple prices")
    assert "Only coordinators can broadcast." in await dash.text(LINKED, BROADCAST)
    admin = await dash.signed_in("amina")
    csrf = await token_of(admin)
    fields = {"channel": "sms", "address": "+86 138 0000 0077"}  # as it is often written
    status, where, _ = await post(admin, "/admin/accounts/juma/link", csrf, **fields)
    assert (status, where) == (303, "/admin/accounts")
    async with admin.get(where) as r:
        page = await r.text()
    assert f"{LINKED}（短信）已关联到juma" in page
    card = re.search(
        r'<section class="card account"[^>]*data-name="juma".*?</section>', page, re.S
    )
    assert card and f'data-address="{LINKED}"' in card[0]
    preview = await dash.text(LINKED, BROADCAST)
    assert "Price to publish: apple ¥4.20/jin" in preview and "coordinators only" not in preview
    assert "yes" in preview.lower()
    await dash.text(LINKED, "yes")
    [alert] = await dash.received(SUBSCRIBER)
    assert "4.20" in alert
    async with dash.svc.db.uow() as uow:
        trail = await audit.trail(uow)
    done = [
        (e.actor, e.action) for e in trail if e.action in ("price.published", "broadcast.sent")
    ]
    assert done == [("juma", "price.published"), ("juma", "broadcast.sent")]
    linked = [e for e in trail if e.action == "account.linked"]
    assert [(e.actor, e.subject, e.detail["channel"]) for e in linked] == [
        ("amina", "juma", "sms")
    ]
    assert all(LINKED not in str(e.detail) for e in trail)
    # the number the configuration names is a coordinator as before
    assert "Price to publish" in await dash.text(CONFIGURED, BROADCAST)
    assert "not sent" in await dash.text(CONFIGURED, "no")
    # unlinked, the phone is a plain user again
    fields = {"channel": "sms", "address": LINKED}
    status, _, _ = await post(admin, "/admin/accounts/juma/unlink", csrf, **fields)
    assert status == 303
    assert "Only coordinators can broadcast." in await dash.text(LINKED, BROADCAST)
    status, _, page = await post(admin, "/admin/accounts/juma/unlink", csrf, **fields)
    assert status == 400 and f"{LINKED}没有关联到juma。" in page


async def test_link_guesses_the_channel_and_refuses_what_is_no_address(dash):
    await dash.account("amina", "admin")
    admin = await dash.signed_in("amina")
    csrf = await token_of(admin)
    for address, channel in [
        ("whatsapp:+254700000001", ""),
        ("oX3k_9b-openid", "wechat"),
        ("+254700000002", ""),
    ]:
        fields = {"channel": channel, "address": address}
        status, _, page = await post(admin, "/admin/accounts/amina/link", csrf, **fields)
        assert status == 303, page
    async with dash.svc.db.uow() as uow:
        me = await accounts.get(uow, "amina")
        assert me is not None
        assert await accounts.addresses(uow, me.id) == [
            ("whatsapp", "+254700000001"),
            ("wechat", "oX3k_9b-openid"),
            ("sms", "+254700000002"),
        ]
    for fields, says in [
        ({"channel": "sms", "address": "13800000077"}, "不是国际格式的手机号"),
        ({"channel": "sms", "address": "+12"}, "不是国际格式的手机号"),
        ({"channel": "wechat", "address": "has space"}, "微信OpenID只含字母"),
        ({"channel": "wechat", "address": "13800000077"}, "微信OpenID只含字母"),
        ({"channel": "fax", "address": "+8613800000077"}, "请选择短信、WhatsApp或微信。"),
    ]:
        status, _, page = await post(admin, "/admin/accounts/amina/link", csrf, **fields)
        assert status == 400 and says in page, fields
    status, _, _ = await post(
        admin, "/admin/accounts/nobody/link", csrf, channel="sms", address=LINKED
    )
    assert status == 404


async def test_a_token_made_in_the_dashboard_is_shown_once_and_revocable(dash):
    await dash.account("amina", "admin")
    await dash.account("juma", "coordinator")
    admin = await dash.signed_in("amina")
    csrf = await token_of(admin)
    status, _, page = await post(admin, "/admin/accounts/juma/tokens", csrf)
    assert status == 200
    shown = re.search(r'<code id="new-token">(fct_[A-Za-z0-9_-]+)</code>', page)
    assert shown and "只显示这一次" in page
    token = shown[1]
    async with dash.svc.db.uow() as uow:
        acting = await accounts.by_token(uow, token)
        assert acting is not None and acting.name == "juma" and acting.role == "coordinator"
        await uow.commit()
        [row] = await accounts.tokens(uow, "juma")
        stored = (
            await uow.session.execute(sql("SELECT token_hash, prefix FROM api_tokens"))
        ).all()
    assert stored == [(hashlib.sha256(token.encode()).hexdigest(), token[:12])]
    # never again: not on the page, not in the audit log
    async with admin.get("/admin/accounts") as r:
        again = await r.text()
    assert token not in again and f"{token[:12]}…" in again
    async with dash.svc.db.uow() as uow:
        assert all(token not in str(e.detail) for e in await audit.trail(uow))
    status, where, _ = await post(admin, f"/admin/tokens/{row.id}/revoke", csrf)
    assert (status, where) == (303, "/admin/accounts")
    async with admin.get(where) as r:
        page = await r.text()
    assert f"令牌{token[:12]}…已作废。" in page
    assert re.search(rf'<tr data-token="{row.id}">.*?已作废', page, re.S)
    async with dash.svc.db.uow() as uow:
        assert await accounts.by_token(uow, token) is None
        actions = [(e.actor, e.action, e.subject) for e in await audit.trail(uow)]
    assert ("amina", "token.created", "juma") in actions
    assert ("amina", "token.revoked", "juma") in actions
    status, _, page = await post(admin, f"/admin/tokens/{row.id}/revoke", csrf)
    assert status == 404 and "没有这个令牌，或已作废。" in page


async def test_an_admin_cannot_remove_or_demote_themselves_but_another_can(dash):
    await dash.account("amina", "admin")
    await dash.account("baraka", "admin")
    admin = await dash.signed_in("amina")
    csrf = await token_of(admin)
    status, _, page = await post(admin, "/admin/accounts/amina/remove", csrf)
    assert status == 400 and "不能删除自己的账号：要由另一位管理员来做" in page
    status, _, page = await post(admin, "/admin/accounts/AMINA/role", csrf, role="coordinator")
    assert status == 400 and "不能取消自己的管理员身份" in page
    async with admin.get("/admin/accounts") as r:
        page = await r.text()
    mine = re.search(
        r'<section class="card account"[^>]*data-name="amina".*?</section>', page, re.S
    )
    assert mine and "remove-form" not in mine[0] and "role-form" not in mine[0]
    assert "在这里不能删除自己的账号" in mine[0]
    # baraka is demoted, then removed, by amina; his session ends with his account
    other = await dash.signed_in("baraka")
    status, _, _ = await post(admin, "/admin/accounts/baraka/role", csrf, role="coordinator")
    assert status == 303
    async with other.get("/admin/accounts") as r:
        assert r.status == 403  # the new role counts at once
    status, _, _ = await post(admin, "/admin/accounts/baraka/remove", csrf)
    assert status == 303
    async with admin.get("/admin/accounts") as r:
        assert "账号baraka已删除。" in await r.text()
    async with other.get("/admin/users", allow_redirects=False) as r:
        assert r.status == 302
    async with dash.svc.db.uow() as uow:
        assert [a.name for a in await accounts.all_accounts(uow)] == ["amina"]
        actions = [(e.actor, e.action, e.subject) for e in await audit.trail(uow)]
    assert ("amina", "account.role_changed", "baraka") in actions
    assert ("amina", "account.removed", "baraka") in actions


async def test_an_admin_sets_a_password_and_the_old_one_stops_working(dash):
    await dash.account("amina", "admin")
    await dash.account("juma", "coordinator")
    admin = await dash.signed_in("amina")
    juma = await dash.signed_in("juma")
    csrf = await token_of(admin)
    status, _, page = await post(admin, "/admin/accounts/juma/password", csrf, password="short")
    assert status == 400 and "密码至少要8位。" in page
    status, _, _ = await post(admin, "/admin/accounts/juma/password", csrf, password="new secret!")
    assert status == 303
    async with juma.get("/admin", allow_redirects=False) as r:
        assert r.status == 302  # his open session ended
    assert await dash.signed_in("juma", "new secret!")
    client = await dash.client()
    async with client.get("/admin/login") as r:
        login = {"csrf": csrf_of(await r.text()), "name": "juma", "password": PASSWORD}
    async with client.post("/admin/login", data=login, allow_redirects=False) as r:
        assert r.status == 401


async def test_names_with_any_characters_reach_their_own_forms(dash):
    await dash.account("amina", "admin")
    await dash.account("co-op/east 李", "coordinator")
    admin = await dash.signed_in("amina")
    async with admin.get("/admin/accounts") as r:
        page = await r.text()
    path = "/admin/accounts/" + quote("co-op/east 李", safe="")
    assert f'action="{path}/tokens"' in page
    status, _, answer = await post(admin, path + "/tokens", csrf_of(page))
    assert status == 200 and 'id="new-token"' in answer
    async with dash.svc.db.uow() as uow:
        assert [t.account for t in await accounts.tokens(uow)] == ["co-op/east 李"]
    status, _, _ = await post(admin, "/admin/accounts/nobody/tokens", csrf_of(page))
    assert status == 404


async def test_the_page_in_english(dash):
    await dash.account("amina", "admin")
    admin = await dash.signed_in("amina")
    csrf = await token_of(admin)
    headers = {"Referer": dash.url + "/admin/accounts"}
    async with admin.post(
        "/admin/language", data={"csrf": csrf, "language": "en"}, headers=headers
    ) as r:
        page = await r.text()
    assert "Add an account" in page and "Phones and OpenIDs" in page and "API tokens" in page
    assert "(you)" in page and "English" in page
    status, _, page = await post(admin, "/admin/accounts/amina/remove", csrf)
    assert status == 400 and "You cannot remove your own account" in page
