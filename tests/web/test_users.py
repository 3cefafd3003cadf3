"""A coordinator looks people up on the Users page: by a piece of their number, their Chinese
name or their place; by whether they still take broadcasts (STOP opts out); what each one
does; the list as CSV; and an admin makes a chat user a coordinator, or a plain user again."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

from storage import audit
from tests.web.conftest import csrf_of

FARMER_ZH = "+8613800000011"  # 王大伯 in Wudu, sells apples
FARMER_KE = "+254700000012"  # Wanjiru in Nakuru, sells potatoes
BUYER = "+8613800000021"  # 李娟, orders apples from 王大伯
STOPPED = "+8613800000031"  # subscribed to apple prices, then texted STOP
WHATSAPP = "+254700000051"  # says hello on WhatsApp
CONFIGURED = "+8613900000000"  # a coordinator by config.yaml (the rig's coordinators.addresses)


async def market(dash) -> dict[str, int]:
    """People text farmchat as they would; their user numbers by phone."""
    assert "已发布" in await dash.text(FARMER_ZH, "卖50斤苹果 三块五一斤")
    assert "王大伯" in await dash.text(FARMER_ZH, "王大伯")
    assert "武都" in await dash.text(FARMER_ZH, "我在武都")
    assert "Listing" in await dash.text(FARMER_KE, "sell 100kg potatoes at 40/kg")
    assert "Wanjiru" in await dash.text(FARMER_KE, "Wanjiru")
    assert "Nakuru" in await dash.text(FARMER_KE, "I am in Nakuru")
    assert "王大伯" in await dash.text(BUYER, "我要买20斤苹果")
    assert "订单" in await dash.text(BUYER, "1")
    assert "李娟" in await dash.text(BUYER, "李娟")
    assert "已接受" in await dash.text(FARMER_ZH, "是")
    assert "Subscribed" in await dash.text(STOPPED, "subscribe apple prices")
    await dash.text(STOPPED, "STOP")
    assert "Hello" in await dash.text(WHATSAPP, "hello", whatsapp=True)
    assert "Price to publish" in await dash.text(CONFIGURED, "broadcast apple 4.2 yuan/jin")
    assert "not sent" in await dash.text(CONFIGURED, "no")
    ids = {}
    async with dash.svc.db.uow() as uow:
        for phone in (FARMER_ZH, FARMER_KE, BUYER, STOPPED, CONFIGURED):
            user = await uow.users.by_address("sms", phone)
            assert user is not None
            ids[phone] = user.id
        user = await uow.users.by_address("whatsapp", WHATSAPP)
        assert user is not None
        ids[WHATSAPP] = user.id
    return ids


async def listed(client, query: str = "") -> tuple[int, list[int], str]:
    """The Users page for a query: its status, the user numbers in its table, its HTML."""
    async with client.get("/admin/users" + query) as r:
        html = await r.text()
        return r.status, [int(i) for i in re.findall(r'<tr data-id="(\d+)"', html)], html


async def exported(client, query: str) -> tuple[list[str], list[dict[str, str]]]:
    async with client.get("/admin/users.csv" + query) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert r.headers["Content-Disposition"].startswith("attachment; filename=")
        raw = await r.read()
    assert raw.startswith("\ufeff".encode())  # Excel reads Chinese right
    reader = csv.reader(io.StringIO(raw.decode("utf-8").removeprefix("\ufeff")))
    header, *rows = list(reader)
    return header, [dict(zip(header, row, strict=True)) for row in rows]


async def test_search_by_number_fragment_chinese_name_and_place(dash):
    ids = await market(dash)
    await dash.account("amina", "coordinator")
    client = await dash.signed_in("amina")
    status, everyone, html = await listed(client)
    assert status == 200 and sorted(everyone) == sorted(ids.values())
    assert everyone == sorted(everyone, reverse=True)  # newest first
    assert "用户" in html and "号码、名字或地点" in html  # a yuan market reads Chinese
    # a piece of a number, as typed with spaces too; numbers are shown whole
    assert (await listed(client, "?q=00000021"))[1] == [ids[BUYER]]
    found = await listed(client, "?q=138+0000+0011")
    assert found[1] == [ids[FARMER_ZH]] and FARMER_ZH in found[2]
    assert sorted((await listed(client, "?q=2547"))[1]) == sorted([ids[FARMER_KE], ids[WHATSAPP]])
    # a Chinese name, an English one in any case
    assert (await listed(client, "?q=王大伯"))[1] == [ids[FARMER_ZH]]
    assert (await listed(client, "?q=wanJIRU"))[1] == [ids[FARMER_KE]]
    # a place, by its name in the search box or from the list
    assert (await listed(client, "?q=武都"))[1] == [ids[FARMER_ZH]]
    assert (await listed(client, "?place=nakuru"))[1] == [ids[FARMER_KE]]
    assert (await listed(client, "?q=Nakuru"))[1] == [ids[FARMER_KE]]
    # the channel, and filters together
    assert (await listed(client, "?channel=whatsapp"))[1] == [ids[WHATSAPP]]
    assert (await listed(client, "?q=2547&channel=sms"))[1] == [ids[FARMER_KE]]
    none = await listed(client, "?q=nobody-like-this")
    assert none[1] == [] and "没有符合条件的用户。" in none[2]
    # LIKE's wildcards are only characters
    assert (await listed(client, "?q=%25"))[1] == [] and (await listed(client, "?q=_"))[1] == []
    # a row says what the person does: the farmer has a listing and an order, the stopped
    # subscriber still has their subscription but takes no broadcasts
    row = re.search(rf'<tr data-id="{ids[FARMER_ZH]}".*?</tr>', html, re.S)
    assert row and "王大伯" in row[0] and "武都" in row[0] and "中文" in row[0]
    assert re.findall(r'<td class="num">(\d+)</td>', row[0]) == ["0", "1", "1"]
    row = re.search(rf'<tr data-id="{ids[STOPPED]}".*?</tr>', html, re.S)
    assert row and "已退订" in row[0]
    assert re.findall(r'<td class="num">(\d+)</td>', row[0]) == ["1", "0", "0"]
    row = re.search(rf'<tr data-id="{ids[CONFIGURED]}".*?</tr>', html, re.S)
    assert row and "协调员" in row[0]


async def test_pages_of_users_newest_first(dash):
    await dash.account("amina", "coordinator")
    client = await dash.signed_in("amina")
    size = dash.svc.settings.dashboard.page_size
    phones = [f"+86138000{n:05d}" for n in range(size + 3)]
    async with dash.svc.db.uow() as uow:
        for phone in phones:  # as their first messages would make them
            await uow.users.get_or_create("sms", phone, datetime.now(UTC), "user")
        await uow.commit()
    first = await listed(client)
    assert len(first[1]) == size and 'id="older"' in first[2]
    older = re.search(r'href="(/admin/users\?before=\d+)" id="older"', first[2])
    assert older
    second = await listed(client, older[1].removeprefix("/admin/users"))
    assert len(second[1]) == 3 and max(second[1]) < min(first[1])
    assert "← 最新" in second[2]
    # the next page keeps the filters
    page = await listed(client, "?q=13800")
    link = re.search(r'href="(/admin/users\?[^"]*before=\d+[^"]*)" id="older"', page[2])
    assert link and "q=13800" in link[1]


async def test_opted_out_filter_and_the_csv_of_each(dash):
    ids = await market(dash)
    await dash.account("amina", "coordinator")
    client = await dash.signed_in("amina")
    assert (await listed(client, "?optout=out"))[1] == [ids[STOPPED]]
    taking = (await listed(client, "?optout=in"))[1]
    assert ids[STOPPED] not in taking and len(taking) == len(ids) - 1
    header, rows = await exported(client, "?optout=out")
    assert header[:4] == ["用户编号", "渠道", "号码或OpenID", "名字"]
    # a cell starting with + would be a formula to a spreadsheet: it gets a ' in front
    assert [(r["用户编号"], r["号码或OpenID"], r["已退订"]) for r in rows] == [
        (str(ids[STOPPED]), "'" + STOPPED, "是")
    ]
    assert rows[0]["订阅数"] == "1"
    _, rows = await exported(client, "?optout=in")
    assert {r["号码或OpenID"].lstrip("'") for r in rows} == set(ids) - {STOPPED}
    assert {r["已退订"] for r in rows} == {"否"}
    _, rows = await exported(client, "?optout=all")
    assert {r["号码或OpenID"].lstrip("'") for r in rows} == set(ids)
    farmer = next(r for r in rows if r["号码或OpenID"] == "'" + FARMER_ZH)
    assert (farmer["名字"], farmer["地点"], farmer["供货数"], farmer["订单数"]) == (
        "王大伯",
        "武都",
        "1",
        "1",
    )
    assert next(r for r in rows if r["号码或OpenID"] == "'" + WHATSAPP)["渠道"] == "whatsapp"
    # the CSV holds the page's filters too
    _, rows = await exported(client, "?optout=in&q=王")
    assert [r["号码或OpenID"] for r in rows] == ["'" + FARMER_ZH]
    async with dash.svc.db.uow() as uow:
        exports = [e for e in await audit.trail(uow) if e.action == "users.exported"]
    assert [(e.actor, e.detail["count"], e.detail["optout"]) for e in exports] == [
        ("amina", 1, "out"),
        ("amina", len(ids) - 1, "in"),
        ("amina", len(ids), "all"),
        ("amina", 1, "in"),
    ]
    assert exports[-1].detail["searched"] is True and "王" not in str(exports[-1].detail)
    # the page's export links carry its filters
    html = (await listed(client, "?q=王&channel=sms"))[2]
    link = re.search(r'id="export-out" href="([^"]+)"', html)
    assert link and link[1] == "/admin/users.csv?q=%E7%8E%8B&amp;channel=sms&amp;optout=out"


async def test_a_formula_in_a_name_is_only_text_in_the_csv(dash):
    ids = await market(dash)
    async with dash.svc.db.uow() as uow:  # a name as a WeChat nickname could bring it
        user = await uow.users.get(ids[FARMER_KE])
        assert user is not None
        user.name = '=HYPERLINK("http://evil")'
        await uow.commit()
    await dash.account("amina", "coordinator")
    client = await dash.signed_in("amina")
    _, rows = await exported(client, "?optout=all&q=254700000012")
    assert rows[0]["名字"] == '\'=HYPERLINK("http://evil")'


async def test_one_users_page_shows_subscriptions_listings_and_orders(dash):
    ids = await market(dash)
    await dash.account("amina", "coordinator")
    client = await dash.signed_in("amina")
    async with client.get(f"/admin/users/{ids[FARMER_ZH]}") as r:
        assert r.status == 200
        farmer = await r.text()
    assert "王大伯" in farmer and FARMER_ZH in farmer and "武都" in farmer
    listing = re.search(r'<tr data-ref="101">.*?</tr>', farmer, re.S)
    assert listing and "苹果" in listing[0] and "30斤" in listing[0] and "50斤" in listing[0]
    assert "¥3.50/斤" in listing[0] and "在售" in listing[0]
    order = re.search(r'<tr data-ref="\d+">(?:(?!</tr>).)*卖家.*?</tr>', farmer, re.S)
    assert order and "20斤" in order[0] and "¥70.00" in order[0] and "已接受" in order[0]
    async with client.get(f"/admin/users/{ids[BUYER]}") as r:
        buyer = await r.text()
    assert "李娟" in buyer and "买家" in buyer and "¥70.00" in buyer and "没有供货。" in buyer
    async with client.get(f"/admin/users/{ids[STOPPED]}") as r:
        stopped = await r.text()
    alerts = re.search(r'<section class="card" id="alerts">.*?</section>', stopped, re.S)
    assert alerts and "苹果" in alerts[0] and "每次价格群发" in alerts[0]
    assert re.search(r'id="optout"><span class="warn">已退订', stopped)
    # a coordinator sees roles but cannot change them
    assert 'id="role-form"' not in stopped
    for path in ("/admin/users/999999", "/admin/users/abc", "/admin/users/" + "9" * 30):
        async with client.get(path) as r:
            assert r.status == 404, path


async def test_a_script_in_a_name_is_shown_as_text(dash):
    ids = await market(dash)
    async with dash.svc.db.uow() as uow:  # as a WeChat nickname or an old import could bring
        user = await uow.users.get(ids[BUYER])
        assert user is not None
        user.name = "<script>alert('x')</script>"
        await uow.commit()
    await dash.account("amina", "coordinator")
    client = await dash.signed_in("amina")
    for path in ("/admin/users", f"/admin/users/{ids[BUYER]}", "/admin/users?q=%3Cscript"):
        async with client.get(path) as r:
            html = await r.text()
        assert "<script>alert" not in html, path
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html, path
    async with client.get("/admin/users?q=<script>") as r:
        html = await r.text()
    assert 'value="&lt;script&gt;"' in html


async def test_bad_filters_are_400_in_the_pages_language(dash):
    await dash.account("amina", "coordinator")
    client = await dash.signed_in("amina")
    for query, what in [("?place=atlantis", "地点"), ("?channel=fax", "渠道")]:
        status, _, html = await listed(client, query)
        assert status == 400 and f"表单有误：{what}" in html, query
    status, _, html = await listed(client, "?optout=maybe")
    assert status == 400 and "表单有误" in html
    async with client.get("/admin/users.csv?optout=maybe") as r:
        assert r.status == 400 and "表单有误" in await r.text()


async def role_form(client, user_id: int, role: str) -> tuple[int, str]:
    async with client.get(f"/admin/users/{user_id}") as r:
        csrf = csrf_of(await r.text())
    async with client.post(
        f"/admin/users/{user_id}/role", data={"csrf": csrf, "role": role}, allow_redirects=False
    ) as r:
        return r.status, r.headers.get("Location", "") or await r.text()


async def test_an_admin_makes_a_chat_user_a_coordinator_and_back(dash):
    ids = await market(dash)
    await dash.account("amina", "admin")
    admin = await dash.signed_in("amina")
    farmer = ids[FARMER_ZH]
    assert "只有协调员可以群发" in await dash.text(FARMER_ZH, "群发 苹果今日收购价4.2元/斤")
    status, where = await role_form(admin, farmer, "coordinator")
    assert (status, where) == (303, f"/admin/users/{farmer}")
    async with admin.get(where) as r:
        page = await r.text()
    assert "角色已改为协调员。" in page and 'id="make-user"' in page
    preview = await dash.text(FARMER_ZH, "群发 苹果今日收购价4.2元/斤")
    assert "只有协调员" not in preview and "4.20" in preview
    await dash.text(FARMER_ZH, "不")
    # and back
    assert (await role_form(admin, farmer, "user"))[0] == 303
    assert "只有协调员可以群发" in await dash.text(FARMER_ZH, "群发 苹果今日收购价4.2元/斤")
    async with dash.svc.db.uow() as uow:
        changes = [e for e in await audit.trail(uow) if e.action == "user.role_changed"]
    assert [(e.actor, e.subject, e.detail["role"], e.detail["was"]) for e in changes] == [
        ("amina", f"user #{farmer}", "coordinator", "user"),
        ("amina", f"user #{farmer}", "user", "coordinator"),
    ]
    assert all(FARMER_ZH not in str(e.detail) for e in changes)
    # a bad role is a 400 in words; an unknown user a 404
    status, said = await role_form(admin, farmer, "king")
    assert status == 400 and "表单有误：角色" in said
    async with admin.get(f"/admin/users/{farmer}") as r:
        csrf = csrf_of(await r.text())
    async with admin.post("/admin/users/999999/role", data={"csrf": csrf, "role": "user"}) as r:
        assert r.status == 404


async def test_a_configured_coordinator_is_not_demoted_from_the_web(dash):
    ids = await market(dash)
    await dash.account("amina", "admin")
    admin = await dash.signed_in("amina")
    async with admin.get(f"/admin/users/{ids[CONFIGURED]}") as r:
        page = await r.text()
    assert "coordinators.addresses" in page and 'id="make-user"' not in page
    status, said = await role_form(admin, ids[CONFIGURED], "user")
    assert status == 400 and "coordinators.addresses" in said
    assert "Price to publish" in await dash.text(CONFIGURED, "broadcast apple 4.2 yuan/jin")


async def test_a_coordinator_cannot_change_roles(dash):
    ids = await market(dash)
    await dash.account("baraka", "coordinator")
    client = await dash.signed_in("baraka")
    status, said = await role_form(client, ids[FARMER_ZH], "coordinator")
    assert status == 403 and "只有管理员可以这样做。" in said
    async with dash.svc.db.uow() as uow:
        user = await uow.users.get(ids[FARMER_ZH])
        assert user is not None and user.role == "user"
        assert not [e for e in await audit.trail(uow) if e.action == "user.role_changed"]
    async with client.get("/admin/users") as r:
        assert 'id="to-accounts"' not in await r.text()  # the Accounts page is the admins'
