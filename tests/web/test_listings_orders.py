"""The listings and orders pages as a coordinator uses them: narrowing the lists with filters
and search, paging through every row, downloading what the filters show as CSV, an order's
timeline, and expiring a listing or cancelling an order, which the users hear about by SMS."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from storage import audit
from storage.models import Listing, Order
from tests.web.conftest import csrf_of

FARMER = "+8613800000001"  # 王大伯, apples
FARMER2 = "+8613800000003"  # 张伟 in Wudu, pears
BUYER = "+8613800000002"  # 李娟
BUYER2 = "+254700000004"  # Amina, writes English


def ref_in(reply: str) -> int:
    found = re.search(r"(\d{3,})", reply)
    assert found, reply
    return int(found.group(1))


async def market(dash) -> dict[str, int]:
    """Two farmers list, two buyers order, one order is accepted, two wait: all by SMS."""
    refs = {"apples": ref_in(await dash.text(FARMER, "卖50斤苹果 三块五一斤"))}
    await dash.text(FARMER, "王大伯")
    await dash.text(FARMER2, "我在武都")
    refs["pears"] = ref_in(await dash.text(FARMER2, "卖100斤梨 每斤2块"))
    await dash.text(FARMER2, "张伟")
    await dash.text(BUYER, "我要买20斤苹果")
    refs["accepted"] = ref_in(await dash.text(BUYER, "1"))
    await dash.text(BUYER, "李娟")
    assert "已接受" in await dash.text(FARMER, f"是{refs['accepted']}")
    await dash.text(BUYER2, "buy 10 kg pears")
    refs["pending_pears"] = ref_in(await dash.text(BUYER2, "1"))
    await dash.text(BUYER2, "Amina")
    await dash.text(BUYER, "我要买10斤苹果")
    refs["pending_apples"] = ref_in(await dash.text(BUYER, "1"))
    return refs


def ids(html: str, table: str) -> list[int]:
    found = re.search(rf'<table id="{table}">(.*?)</table>', html, re.S)
    return [int(x) for x in re.findall(r'<tr data-id="(\d+)">', found.group(1))] if found else []


async def get(client, path: str) -> tuple[int, str]:
    async with client.get(path, allow_redirects=False) as r:
        return r.status, await r.text()


async def rows_of_csv(client, path: str) -> tuple[list[str], list[dict[str, str]]]:
    async with client.get(path) as r:
        assert r.status == 200, await r.text()
        assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert r.headers["Content-Disposition"].startswith("attachment; filename=")
        raw = await r.read()
    assert raw.startswith("\ufeff".encode()), "a BOM, so that Excel reads the Chinese"
    reader = csv.reader(io.StringIO(raw.decode("utf-8")[1:], newline=""))
    header, *lines = list(reader)
    return header, [dict(zip(header, line, strict=True)) for line in lines]


async def stock(dash, listing_id: int) -> tuple[str, Decimal]:
    async with dash.svc.db.uow() as uow:
        found = await uow.listings.get(listing_id)
        assert found is not None
        return found.status, found.quantity_available


async def status_of(dash, order_id: int) -> str:
    async with dash.svc.db.uow() as uow:
        found = await uow.orders.get(order_id)
        assert found is not None
        return found.status


async def settled(dash, phone: str) -> list[str]:
    """What the fake Twilio has for phone once nothing more arrives for a moment."""
    await asyncio.sleep(0.4)
    return [m["Body"] for m in dash.fake.messages if m["To"] == phone]


# filters and search -------------------------------------------------------------------------
async def test_filters_and_search_narrow_the_listings(dash):
    refs = await market(dash)
    await dash.account("li", "coordinator")
    client = await dash.signed_in("li")
    everything = [refs["pears"], refs["apples"]]
    today = datetime.now(ZoneInfo(dash.svc.settings.market.timezone)).date()
    expect = {
        "": everything,
        "?product=apple": [refs["apples"]],
        "?place=wudu": [refs["pears"]],
        "?status=active": everything,
        "?status=expired": [],
        "?q=王大伯": [refs["apples"]],
        "?q=张": [refs["pears"]],
        "?q=138%200000%200003": [refs["pears"]],  # a number typed with spaces
        f"?q={refs['pears']}": [refs["pears"]],
        f"?q=%23{refs['apples']}": [refs["apples"]],
        f"?from={today}&to={today}": everything,
        f"?from={today + timedelta(days=1)}": [],
        f"?to={today - timedelta(days=1)}": [],
        f"?product=apple&place=wudu&from={today}": [],
        "?q=" + quote("' OR 1=1 --"): [],
        "?q=%25": [],  # a LIKE wildcard typed in the box is only a character
        "?q=_": [],
    }
    for query, listed in expect.items():
        status, html = await get(client, "/admin/listings" + query)
        assert status == 200, query
        assert ids(html, "listings") == listed, query
        assert f"共 {len(listed)} 条供货符合条件" in html, query
    status, html = await get(client, "/admin/listings?product=apple")
    assert 'value="apple" selected' in html  # the form keeps what was chosen
    assert "王大伯" in html and "+8613800000001" in html and "¥3.50/斤" in html


async def test_filters_and_search_narrow_the_orders(dash):
    refs = await market(dash)
    await dash.account("li", "coordinator")
    client = await dash.signed_in("li")
    every = sorted((refs["accepted"], refs["pending_pears"], refs["pending_apples"]), reverse=True)
    async with dash.svc.db.uow() as uow:
        buyer = await uow.users.by_address("sms", BUYER)
        farmer2 = await uow.users.by_address("sms", FARMER2)
        assert buyer is not None and farmer2 is not None
    expect = {
        "": every,
        "?status=pending": [refs["pending_apples"], refs["pending_pears"]],
        "?status=accepted": [refs["accepted"]],
        "?product=pear": [refs["pending_pears"]],
        "?place=wudu": [refs["pending_pears"]],
        "?q=李娟": [refs["pending_apples"], refs["accepted"]],  # the buyer
        "?q=王大伯": [refs["pending_apples"], refs["accepted"]],  # the farmer
        "?q=amina": [refs["pending_pears"]],  # a name in any case
        "?q=254700000004": [refs["pending_pears"]],
        f"?q={refs['accepted']}": [refs["accepted"]],
        f"?q={refs['apples']}": [refs["pending_apples"], refs["accepted"]],  # the listing's
        f"?buyer={buyer.id}": [refs["pending_apples"], refs["accepted"]],
        f"?farmer={farmer2.id}": [refs["pending_pears"]],
        f"?buyer={buyer.id}&status=accepted": [refs["accepted"]],
        "?q=" + quote("' OR 1=1 --"): [],
        "?q=" + quote("1) OR (1=1"): [],
    }
    for query, listed in expect.items():
        status, html = await get(client, "/admin/orders" + query)
        assert status == 200, query
        assert ids(html, "orders") == listed, query
    status, html = await get(client, f"/admin/orders?status=accepted&buyer={buyer.id}")
    assert "李娟" in html and "王大伯" in html and "¥70.00" in html and "已接受" in html


async def test_bad_filter_values_are_400_with_words_never_500_nor_every_row(dash):
    refs = await market(dash)
    await dash.account("li", "coordinator")
    client = await dash.signed_in("li")
    bad = [
        "status=bogus",
        "status=" + quote("active' OR '1'='1"),
        "product=" + quote("' OR 1=1 --"),
        "place=atlantis",
        "from=2026-13-40",
        "from=yesterday",
        "to=0001-01-01",
        "to=" + quote("2026-11-28' OR 1=1 --"),
        "farmer=" + quote("1 OR 1=1"),
        "buyer=-1",
        "before=abc",
        "before=" + "9" * 40,
        "before=4294967296",  # more than an id column holds
        "farmer=99999999999",
    ]
    for page, table in (("listings", "listings"), ("orders", "orders")):
        for query in bad:
            status, html = await get(client, f"/admin/{page}?{query}")
            if query.startswith("buyer=") and page == "listings":
                assert status == 200 and ids(html, table), query  # listings have no buyer
                continue
            assert status == 400, (page, query)
            assert "筛选条件有误" in html and ids(html, table) == [], (page, query)
            if query.startswith("before="):
                continue  # a CSV file has every matching row, no pages
            async with client.get(f"/admin/{page}.csv?{query}") as r:
                assert r.status == 400, (page, query)
    status, html = await get(client, "/admin/listings?status=bogus")
    assert "没有这个状态" in html
    for path in (
        "/admin/listings/999999",
        "/admin/listings/abc",
        "/admin/orders/999999",
        f"/admin/orders/{'1' * 30}",
        "/admin/orders/4294967296",
    ):
        status, _ = await get(client, path)
        assert status == 404, path
    assert refs


# paging -------------------------------------------------------------------------------------
async def many(dash, listings: int, orders_each: int) -> tuple[list[int], list[int]]:
    """Listings and orders written through storage, as the chat handlers write them."""
    now = datetime.now(ZoneInfo("UTC"))
    listing_ids, order_ids = [], []
    async with dash.svc.db.uow() as uow:
        farmer = await uow.users.get_or_create("sms", "+8613800000100", now, "user")
        buyer = await uow.users.get_or_create("sms", "+8613800000200", now, "user")
        farmer.name, buyer.name = "赵农", "钱买"
        for n in range(listings):
            product = "apple" if n % 3 else "walnut"
            listing = await uow.listings.add(
                Listing(
                    id=await uow.refs.allocate("listing"),
                    farmer_id=farmer.id,
                    product=product,
                    quantity_total=Decimal(100),
                    quantity_available=Decimal(100 - orders_each),
                    unit="jin",
                    price=Decimal("3.20"),
                    currency="CNY",
                    price_unit="jin",
                    location="wudu",
                    status="active",
                    created_at=now,
                    updated_at=now,
                    expires_at=now + timedelta(days=14),
                )
            )
            listing_ids.append(listing.id)
            for _ in range(orders_each):
                order = await uow.orders.add(
                    Order(
                        id=await uow.refs.allocate("order"),
                        listing_id=listing.id,
                        buyer_id=buyer.id,
                        farmer_id=farmer.id,
                        product=product,
                        quantity=Decimal(1),
                        unit="jin",
                        price=Decimal("3.20"),
                        currency="CNY",
                        price_unit="jin",
                        status="pending",
                        created_at=now,
                        expires_at=now + timedelta(hours=24),
                    )
                )
                order_ids.append(order.id)
        await uow.commit()
    return listing_ids, order_ids


async def walk(client, path: str, table: str) -> list[int]:
    """Every row the pages show, following 'Older' until there is none."""
    seen: list[int] = []
    for _ in range(100):
        status, html = await get(client, path)
        assert status == 200, path
        seen += ids(html, table)
        older = re.search(r'<a href="([^"]+)" id="older">', html)
        if older is None:
            return seen
        path = older.group(1).replace("&amp;", "&")
    raise AssertionError("the pages never end")


async def test_paging_reaches_every_row_once_and_keeps_the_filters(dash):
    dash.svc.settings.dashboard.page_size = 5
    listing_ids, order_ids = await many(dash, listings=23, orders_each=2)
    await dash.account("admin")
    client = await dash.signed_in("admin")
    assert await walk(client, "/admin/listings", "listings") == sorted(listing_ids, reverse=True)
    apples = [i for n, i in enumerate(listing_ids) if n % 3]
    assert await walk(client, "/admin/listings?product=apple", "listings") == sorted(
        apples, reverse=True
    )
    assert await walk(client, "/admin/orders", "orders") == sorted(order_ids, reverse=True)
    assert await walk(client, "/admin/orders?q=钱买&status=pending", "orders") == sorted(
        order_ids, reverse=True
    )
    status, html = await get(client, f"/admin/listings?before={min(listing_ids)}")
    assert status == 200 and ids(html, "listings") == [] and 'id="older"' not in html


# CSV ----------------------------------------------------------------------------------------
async def test_csv_holds_exactly_the_filtered_rows(dash):
    refs = await market(dash)
    async with dash.svc.db.uow() as uow:  # a name that a spreadsheet would run as a formula
        buyer2 = await uow.users.by_address("sms", BUYER2)
        assert buyer2 is not None
        buyer2.name = '=HYPERLINK("http://evil.example","Amina")'
        await uow.commit()
    await dash.account("li", "coordinator")
    client = await dash.signed_in("li")
    header, rows = await rows_of_csv(client, "/admin/listings.csv")
    assert header[:3] == ["编号", "创建时间", "状态"]
    assert [int(r["编号"]) for r in rows] == [refs["pears"], refs["apples"]]
    apples = next(r for r in rows if r["产品代码"] == "apple")
    assert apples["产品"] == "苹果" and apples["农户"] == "王大伯"
    assert apples["总量"] == "50" and apples["剩余"] == "20" and apples["单价"] == "3.50"
    assert apples["农户号码"] == "'+8613800000001"  # a leading + is a formula to Excel
    pears = next(r for r in rows if r["产品代码"] == "pear")
    assert pears["地点"] == "武都" and pears["农户"] == "张伟"

    _, rows = await rows_of_csv(client, "/admin/listings.csv?product=pear")
    assert [int(r["编号"]) for r in rows] == [refs["pears"]]
    _, rows = await rows_of_csv(client, "/admin/listings.csv?q=" + quote("' OR 1=1 --"))
    assert rows == []

    header, rows = await rows_of_csv(client, "/admin/orders.csv?status=pending")
    assert [int(r["编号"]) for r in rows] == [refs["pending_apples"], refs["pending_pears"]]
    pears = rows[1]
    assert pears["买家"] == "'" + '=HYPERLINK("http://evil.example","Amina")'
    assert pears["农户"] == "张伟" and pears["产品"] == "梨" and pears["金额"] == "40.00"
    assert pears["状态"] == "待农户确认" and pears["供货编号"] == str(refs["pears"])
    _, rows = await rows_of_csv(client, "/admin/orders.csv?q=李娟")
    assert [int(r["编号"]) for r in rows] == [refs["pending_apples"], refs["accepted"]]
    assert {r["买家"] for r in rows} == {"李娟"}


async def test_csv_of_every_page_of_rows_has_them_all(dash):
    dash.svc.settings.dashboard.page_size = 5
    listing_ids, order_ids = await many(dash, listings=12, orders_each=1)
    await dash.account("admin")
    client = await dash.signed_in("admin")
    _, rows = await rows_of_csv(client, "/admin/listings.csv")
    assert [int(r["编号"]) for r in rows] == sorted(listing_ids, reverse=True)
    _, rows = await rows_of_csv(client, "/admin/orders.csv?product=walnut")
    walnuts = [o for n, o in enumerate(order_ids) if n % 3 == 0]
    assert [int(r["编号"]) for r in rows] == sorted(walnuts, reverse=True)


# the timeline -------------------------------------------------------------------------------
async def test_an_orders_timeline_tells_its_story(dash):
    refs = await market(dash)
    order = refs["accepted"]
    await dash.received(FARMER, 1)
    await dash.received(BUYER, 1)
    assert "已转告" in await dash.text(BUYER, f"回复{order} 明天上午到")
    await dash.received(FARMER, 3)
    await dash.account("li", "coordinator")
    client = await dash.signed_in("li")
    status, html = await get(client, f"/admin/orders/{order}")
    assert status == 200
    kinds = re.findall(r'<tr data-kind="(\w+)"(?: data-who="(\w+)")?>', html)
    assert kinds[0] == ("created", "")
    assert ("outbound", "farmer") in kinds  # the farmer was told of the new order
    assert ("inbound", "farmer") in kinds  # ... and answered yes
    assert ("decided", "") in kinds and ("outbound", "buyer") in kinds
    assert kinds.index(("outbound", "farmer")) < kinds.index(("decided", ""))
    assert f"新订单{order}" in html and f"是{order}" in html and "订单已接受" in html
    assert "明天上午到" in html  # the message the buyer asked the bot to pass on
    assert "李娟" in html and "王大伯" in html
    other = refs["pending_pears"]
    assert f"订单{other}" not in html and f"Order {other}" not in html


async def test_user_written_text_shows_as_text(dash):
    refs = await market(dash)
    script = "<script>alert(1)</script>"
    async with dash.svc.db.uow() as uow:
        farmer2 = await uow.users.by_address("sms", FARMER2)
        assert farmer2 is not None
        farmer2.name = script
        await uow.commit()
    await dash.text(BUYER2, f"msg {refs['pending_pears']} <img src=x onerror=alert(2)>")
    await dash.account("li", "coordinator")
    client = await dash.signed_in("li")
    for path in (
        "/admin/listings",
        f"/admin/listings/{refs['pears']}",
        "/admin/orders",
        f"/admin/orders/{refs['pending_pears']}",
    ):
        status, html = await get(client, path)
        assert status == 200, path
        assert script not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    _, html = await get(client, f"/admin/orders/{refs['pending_pears']}")
    assert "&lt;img src=x onerror=alert(2)&gt;" in html


# the actions --------------------------------------------------------------------------------
async def test_expiring_a_listing_cancels_its_waiting_orders_and_tells_everyone(dash):
    refs = await market(dash)
    listing, waiting, accepted = refs["apples"], refs["pending_apples"], refs["accepted"]
    assert await stock(dash, listing) == ("active", Decimal(20))
    farmer_had = len(await dash.received(FARMER, 2))
    buyer_had = len(await dash.received(BUYER, 1))
    await dash.account("li", "coordinator")
    client = await dash.signed_in("li")
    status, html = await get(client, f"/admin/listings/{listing}")
    assert status == 200 and ids(html, "orders") == [waiting, accepted]
    path = f"/admin/listings/{listing}/expire"

    for form in ({}, {"csrf": "not-the-token"}):  # without the page's token: refused
        async with client.post(path, data=form, allow_redirects=False) as r:
            assert r.status == 403
    assert await stock(dash, listing) == ("active", Decimal(20))
    assert await status_of(dash, waiting) == "pending"

    async with client.post(path, data={"csrf": csrf_of(html)}, allow_redirects=False) as r:
        assert r.status == 303
        assert r.headers["Location"] == f"/admin/listings/{listing}?done=expired"
    assert await stock(dash, listing) == ("expired", Decimal(30))  # the waiting 10斤 are back
    assert await status_of(dash, waiting) == "cancelled"
    assert await status_of(dash, accepted) == "accepted"  # an agreed trade stands
    farmer_got = (await dash.received(FARMER, farmer_had + 1))[farmer_had:]
    assert farmer_got == [f"{listing}号已下架。\n订单{waiting}已取消。"]
    buyer_got = (await dash.received(BUYER, buyer_had + 1))[buyer_had:]
    assert len(buyer_got) == 1 and buyer_got[0].startswith(f"订单{waiting}已取消。\n")
    async with dash.svc.db.uow() as uow:
        [entry] = await audit.trail(uow, f"listing {listing}")
    assert entry.actor == "li" and entry.action == "listing.expired"
    assert entry.detail["orders_cancelled"] == [waiting]

    status, html = await get(client, f"/admin/listings/{listing}?done=expired")
    assert f"{listing}号已下架" in html and "已到期" in html and 'id="expire"' not in html
    status, html = await get(client, "/admin/listings?status=expired")
    assert ids(html, "listings") == [listing]

    # a second click (another tab, a coordinator a moment later) changes nothing
    async with client.post(path, data={"csrf": csrf_of(html)}, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"].endswith("?done=unchanged")
    assert await stock(dash, listing) == ("expired", Decimal(30))
    assert len(await settled(dash, FARMER)) == farmer_had + 1
    assert len(await settled(dash, BUYER)) == buyer_had + 1
    async with dash.svc.db.uow() as uow:
        assert len(await audit.trail(uow, f"listing {listing}")) == 1
    status, html = await get(client, f"/admin/listings/{listing}?done=unchanged")
    assert "本来就是“已到期”" in html


async def test_cancelling_an_order_releases_its_stock_and_tells_both_sides(dash):
    refs = await market(dash)
    order, listing = refs["accepted"], refs["apples"]
    farmer_had = len(await dash.received(FARMER, 2))
    buyer_had = len(await dash.received(BUYER, 1))
    await dash.account("boss")  # an admin may do it as well as a coordinator
    client = await dash.signed_in("boss")
    status, html = await get(client, f"/admin/orders/{order}")
    assert status == 200 and 'id="cancel"' in html
    path = f"/admin/orders/{order}/cancel"

    async with client.post(path, data={}, allow_redirects=False) as r:
        assert r.status == 403
    assert await status_of(dash, order) == "accepted"
    assert await stock(dash, listing) == ("active", Decimal(20))

    async with client.post(path, data={"csrf": csrf_of(html)}, allow_redirects=False) as r:
        assert r.status == 303
        assert r.headers["Location"] == f"/admin/orders/{order}?done=cancelled"
    assert await status_of(dash, order) == "cancelled"
    assert await stock(dash, listing) == ("active", Decimal(40))  # its 20斤 are back
    farmer_got = (await dash.received(FARMER, farmer_had + 1))[farmer_had:]
    buyer_got = (await dash.received(BUYER, buyer_had + 1))[buyer_had:]
    assert farmer_got == [f"订单{order}已取消。"] and buyer_got == [f"订单{order}已取消。"]
    async with dash.svc.db.uow() as uow:
        [entry] = await audit.trail(uow, f"order {order}")
    assert entry.actor == "boss" and entry.action == "order.cancelled"
    assert entry.detail["was"] == "accepted" and entry.detail["listing"] == listing

    status, html = await get(client, f"/admin/orders/{order}?done=cancelled")
    assert f"订单{order}已取消，20斤已退回{listing}号" in html
    assert 'data-status="cancelled"' in html and 'id="cancel"' not in html
    kinds = re.findall(r'<tr data-kind="(\w+)"', html)
    assert "audit" in kinds and kinds.count("decided") == 1
    assert "boss（后台操作）" in html and "取消了订单" in html

    async with client.post(path, data={"csrf": csrf_of(html)}, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"].endswith("?done=unchanged")
    assert await stock(dash, listing) == ("active", Decimal(40))
    assert len(await settled(dash, FARMER)) == farmer_had + 1
    assert len(await settled(dash, BUYER)) == buyer_had + 1
    async with dash.svc.db.uow() as uow:
        assert len(await audit.trail(uow, f"order {order}")) == 1
    status, html = await get(client, "/admin/audit?q=order.cancelled")
    assert f"order {order}" in html


async def test_a_waiting_buyer_whose_order_is_cancelled_hears_of_other_offers(dash):
    refs = await market(dash)
    await dash.text(FARMER, "卖30斤梨 每斤3块")  # another farmer's pears for Amina
    order = refs["pending_pears"]
    had = len(await dash.received(BUYER2, 1))
    await dash.account("li", "coordinator")
    client = await dash.signed_in("li")
    _, html = await get(client, f"/admin/orders/{order}")
    async with client.post(
        f"/admin/orders/{order}/cancel", data={"csrf": csrf_of(html)}, allow_redirects=False
    ) as r:
        assert r.status == 303
    [told] = (await dash.received(BUYER2, had + 1))[had:]
    assert told.startswith(f"Order {order} cancelled.\nPear for you:")  # in her language
    assert "王大伯" in told
    assert await stock(dash, refs["pears"]) == ("active", Decimal(100))
    # she picks the new offer as she would after a decline
    assert "Order" in await dash.text(BUYER2, "1")
