"""Listings, orders and users through /api/v1 as a program uses them: the dashboard's filters
as query parameters, cursors that reach every row once, a listing with its orders, an order
with its timeline, a user with their subscriptions; expiring a listing and cancelling an order
(the users hear of it by SMS, the audit log names the token's account, a second call is 409);
and an admin's role change, which a coordinator's token may not make."""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bot.web.api import market as api_market
from storage import accounts, audit
from storage import moderation as reads
from tests.web import test_users as people_rig
from tests.web.test_api import API, api, token_for
from tests.web.test_listings_orders import (
    BUYER,
    BUYER2,
    FARMER,
    FARMER2,
    many,
    market,
    settled,
    status_of,
    stock,
)

PROBLEM = "application/problem+json"


async def call(client, method: str, path: str, **kw) -> tuple[int, dict]:
    async with client.request(method, API + path, **kw) as r:
        body = await r.json(content_type=None)
        if r.status >= 400:
            assert r.content_type == PROBLEM, (path, r.status, body)
        return r.status, body


async def matches(dash, method: str, path: str, body: dict, status: int = 200) -> None:
    """The answer to `method path` is what the OpenAPI document says it is (openapi-core)."""
    from openapi_core import OpenAPI
    from openapi_core.testing import MockRequest, MockResponse

    async with dash.session.get(dash.url + API + "/openapi.json") as r:
        spec = OpenAPI.from_dict(await r.json())
    where, _, query = path.partition("?")
    args = dict(pair.split("=", 1) for pair in query.split("&") if pair)
    request = MockRequest(dash.url, method.lower(), API + where, args=args)
    answer = MockResponse(json.dumps(body).encode(), status_code=status)
    spec.validate_response(request, answer)


async def got(client, path: str) -> dict:
    status, body = await call(client, "GET", path)
    assert status == 200, (path, body)
    return body


async def ids_of(client, path: str) -> list[int]:
    status, body = await call(client, "GET", path)
    assert status == 200, (path, body)
    return [x["id"] for x in body["items"]]


async def walk(client, path: str, limit: int) -> list[int]:
    """Every row of a list, page after page, following `next` until there is none."""
    sep = "&" if "?" in path else "?"
    seen: list[int] = []
    url = f"{path}{sep}limit={limit}"
    for _ in range(100):
        status, page = await call(client, "GET", url)
        assert status == 200, page
        assert len(page["items"]) <= limit
        seen += [x["id"] for x in page["items"]]
        if page["next"] is None:
            return seen
        assert len(page["items"]) == limit  # a page is full when there is another
        url = f"{path}{sep}limit={limit}&cursor={page['next']}"
    raise AssertionError("the pages never end")


async def user_id(dash, phone: str, channel: str = "sms") -> int:
    async with dash.svc.db.uow() as uow:
        user = await uow.users.by_address(channel, phone)
        assert user is not None
        return user.id


# listings and orders: the lists ---------------------------------------------------------------
async def test_listings_narrowed_by_the_pages_filters(dash):
    refs = await market(dash)
    client = await api(dash, await token_for(dash, "li"))
    farmer2 = await user_id(dash, FARMER2)
    today = datetime.now(ZoneInfo(dash.svc.settings.market.timezone)).date()
    both = [refs["pears"], refs["apples"]]
    expect = {
        "": both,
        "?product=apple": [refs["apples"]],
        "?place=wudu": [refs["pears"]],
        "?status=active": both,
        "?status=expired": [],
        "?q=王大伯": [refs["apples"]],
        "?q=138 0000 0003": [refs["pears"]],  # a number typed with spaces
        f"?q=%23{refs['apples']}": [refs["apples"]],
        f"?farmer={farmer2}": [refs["pears"]],
        f"?since={today}&until={today}": both,
        f"?since={today + timedelta(days=1)}": [],
        f"?until={today - timedelta(days=1)}": [],
        f"?product=apple&place=wudu&since={today}": [],
        "?q=' OR 1=1 --": [],
        "?q=%25": [],  # a LIKE wildcard is only a character
    }
    for query, listed in expect.items():
        assert await ids_of(client, "/listings" + query) == listed, query

    page = await got(client, "/listings?product=apple")
    [apples] = page["items"]
    assert page["next"] is None
    assert (apples["product"], apples["unit"], apples["price_unit"]) == ("apple", "jin", "jin")
    assert (apples["price"], apples["currency"]) == ("3.50", "CNY")
    assert (apples["quantity_total"], apples["quantity_available"]) == ("50", "20")
    assert apples["status"] == "active" and apples["place"] is None
    assert apples["farmer"]["name"] == "王大伯" and apples["farmer"]["address"] == FARMER
    page = await got(client, "/listings?place=wudu")
    assert page["items"][0]["place"] == "wudu" and page["items"][0]["farmer"]["name"] == "张伟"


async def test_orders_narrowed_by_the_pages_filters(dash):
    refs = await market(dash)
    client = await api(dash, await token_for(dash, "li"))
    buyer, farmer2 = await user_id(dash, BUYER), await user_id(dash, FARMER2)
    every = sorted((refs["accepted"], refs["pending_pears"], refs["pending_apples"]), reverse=True)
    expect = {
        "": every,
        "?status=pending": [refs["pending_apples"], refs["pending_pears"]],
        "?status=accepted": [refs["accepted"]],
        "?product=pear": [refs["pending_pears"]],
        "?place=wudu": [refs["pending_pears"]],
        "?q=李娟": [refs["pending_apples"], refs["accepted"]],  # the buyer
        "?q=amina": [refs["pending_pears"]],  # a name in any case
        "?q=254700000004": [refs["pending_pears"]],
        f"?q={refs['apples']}": [refs["pending_apples"], refs["accepted"]],  # the listing's
        f"?buyer={buyer}": [refs["pending_apples"], refs["accepted"]],
        f"?farmer={farmer2}": [refs["pending_pears"]],
        f"?buyer={buyer}&status=accepted": [refs["accepted"]],
        "?q=1) OR (1=1": [],
    }
    for query, listed in expect.items():
        assert await ids_of(client, "/orders" + query) == listed, query

    page = await got(client, f"/orders?status=accepted&buyer={buyer}")
    [o] = page["items"]
    assert o["listing"] == refs["apples"] and o["product"] == "apple"
    assert (o["quantity"], o["unit"], o["price"], o["total"]) == ("20", "jin", "3.50", "70.00")
    assert o["buyer"]["name"] == "李娟" and o["farmer"]["name"] == "王大伯"
    assert o["decided_at"] is not None and o["status"] == "accepted"


BAD_FILTERS = [
    "status=bogus",
    "status=active' OR '1'='1",
    "product=' OR 1=1 --",
    "product=durian",
    "place=atlantis",
    "since=2026-13-40",
    "since=yesterday",
    "until=0001-01-01",
    "until=2026-11-28' OR 1=1 --",
    "since=２０２６-１１-２８",  # digits, but not the ASCII ones a day is written in
    "farmer=1 OR 1=1",
    "farmer=-1",
    "farmer=99999999999",
    "buyer=4294967296",
    "q=" + "x" * 101,
    "q=a%00b",  # a NUL, which PostgreSQL's text cannot hold
    "limit=0",
    "limit=201",
    "cursor=!!!",
    "cursor=aWQ6NDI5NDk2NzI5Ng==",  # id:4294967296, more than an id column holds
    "before=3",  # the pages' parameter, not the API's
    "buyer=3",  # on listings: they have no buyer
]


async def test_bad_filter_values_are_400_problems_never_500(dash):
    refs = await market(dash)
    client = await api(dash, await token_for(dash, "li"))
    for path in ("/listings", "/orders"):
        for query in BAD_FILTERS:
            if query == "buyer=3" and path == "/orders":
                continue
            status, problem = await call(client, "GET", f"{path}?{query}")
            assert status == 400, (path, query, problem)
            assert problem["status"] == 400 and problem["title"]
            assert problem["detail"], (path, query)
    status, problem = await call(client, "GET", "/listings?product=durian")
    assert status == 400
    assert problem["detail"] == "product: no product 'durian'"
    assert await stock(dash, refs["apples"]) == ("active", Decimal(20))


async def test_paging_reaches_every_row_once_and_keeps_the_filters(dash):
    listing_ids, order_ids = await many(dash, listings=23, orders_each=2)
    client = await api(dash, await token_for(dash, "li"))
    newest_first = sorted(listing_ids, reverse=True)
    assert await walk(client, "/listings", 5) == newest_first
    assert await walk(client, "/listings", 23) == newest_first  # one full page, no empty one
    apples = [i for n, i in enumerate(listing_ids) if n % 3]
    assert await walk(client, "/listings?product=apple", 4) == sorted(apples, reverse=True)
    assert await walk(client, "/orders", 7) == sorted(order_ids, reverse=True)
    assert await walk(client, "/orders?q=钱买&status=pending", 10) == sorted(
        order_ids, reverse=True
    )
    walnuts = [o for n, o in enumerate(order_ids) if (n // 2) % 3 == 0]
    assert await walk(client, "/orders?product=walnut", 3) == sorted(walnuts, reverse=True)
    page = await got(client, "/listings?limit=200")
    assert len(page["items"]) == 23 and page["next"] is None


# one listing, one order -----------------------------------------------------------------------
async def test_a_listing_with_its_orders_and_an_order_with_its_timeline(dash):
    refs = await market(dash)
    await dash.received(FARMER, 2)
    await dash.received(BUYER, 1)
    client = await api(dash, await token_for(dash, "li"))
    x = await got(client, f"/listings/{refs['apples']}")
    await matches(dash, "GET", f"/listings/{x['id']}", x)
    assert x["id"] == refs["apples"] and x["farmer"]["name"] == "王大伯"
    assert [o["id"] for o in x["orders"]] == [refs["pending_apples"], refs["accepted"]]
    assert [o["status"] for o in x["orders"]] == ["pending", "accepted"]
    assert x["orders"][0]["buyer"]["name"] == "李娟" and x["history"] == []

    order = refs["accepted"]
    o = await got(client, f"/orders/{order}")
    await matches(dash, "GET", f"/orders/{order}", o)
    await matches(dash, "GET", "/orders?limit=2", await got(client, "/orders?limit=2"))
    await matches(dash, "GET", "/listings", await got(client, "/listings"))
    assert o["id"] == order and o["cancellable"] is True
    kinds = [(e["kind"], e["who"]) for e in o["events"]]
    assert kinds[0] == ("created", "")
    assert ("outbound", "farmer") in kinds  # the farmer was told of the new order
    assert ("inbound", "farmer") in kinds  # ... and answered yes
    assert ("decided", "") in kinds and ("outbound", "buyer") in kinds
    assert kinds.index(("outbound", "farmer")) < kinds.index(("decided", ""))
    said = next(e for e in o["events"] if e["kind"] == "inbound" and e["who"] == "farmer")
    assert said["text"] == f"是{order}" and "已接受" in said["reply"]
    told = next(e for e in o["events"] if e["kind"] == "outbound" and e["who"] == "farmer")
    assert told["text"].startswith(f"新订单{order}") and told["channel"] == "sms"
    assert told["detail"]["kind"]
    other = refs["pending_pears"]
    assert all(str(other) not in e["text"] for e in o["events"])

    for path in ("/listings/999999", "/orders/999999", "/listings/abc", "/orders/-1"):
        status, problem = await call(client, "GET", path)
        assert status == 404 and problem["status"] == 404, path


async def test_ids_beyond_an_integer_column_are_404_never_500(dash):
    refs = await market(dash)
    client = await api(dash, await token_for(dash, "boss", "admin"))
    for number in (2**31 - 1, 2**31, 2**32, 2**63, 10**30, 0):
        for method, path, body in (
            ("GET", f"/listings/{number}", None),
            ("POST", f"/listings/{number}/expire", None),
            ("GET", f"/orders/{number}", None),
            ("POST", f"/orders/{number}/cancel", None),
            ("GET", f"/users/{number}", None),
            ("POST", f"/users/{number}/role", {"role": "coordinator"}),
        ):
            status, problem = await call(client, method, path, json=body)
            assert status == 404, (method, path, problem)
    assert await stock(dash, refs["apples"]) == ("active", Decimal(20))


# the actions ----------------------------------------------------------------------------------
async def test_expiring_a_listing_by_the_api_tells_everyone_once(dash):
    refs = await market(dash)
    listing, waiting, accepted = refs["apples"], refs["pending_apples"], refs["accepted"]
    farmer_had = len(await dash.received(FARMER, 2))
    buyer_had = len(await dash.received(BUYER, 1))
    client = await api(dash, await token_for(dash, "li"))

    status, x = await call(client, "POST", f"/listings/{listing}/expire")
    assert status == 200, x
    await matches(dash, "POST", f"/listings/{listing}/expire", x)
    assert x["status"] == "expired" and x["quantity_available"] == "30"  # the 10斤 are back
    assert {o["id"]: o["status"] for o in x["orders"]} == {
        waiting: "cancelled",
        accepted: "accepted",  # an agreed trade stands
    }
    [entry] = x["history"]
    assert (entry["actor"], entry["action"]) == ("li", "listing.expired")
    assert entry["detail"]["orders_cancelled"] == [waiting]
    assert await stock(dash, listing) == ("expired", Decimal(30))
    assert await status_of(dash, waiting) == "cancelled"
    farmer_got = (await dash.received(FARMER, farmer_had + 1))[farmer_had:]
    assert farmer_got == [f"{listing}号已下架。\n订单{waiting}已取消。"]
    buyer_got = (await dash.received(BUYER, buyer_had + 1))[buyer_had:]
    assert len(buyer_got) == 1 and buyer_got[0].startswith(f"订单{waiting}已取消。\n")
    assert await ids_of(client, "/listings?status=expired") == [listing]

    status, problem = await call(client, "POST", f"/listings/{listing}/expire")
    assert status == 409 and problem["detail"] == f"listing {listing} is expired"
    assert len(await settled(dash, FARMER)) == farmer_had + 1
    assert len(await settled(dash, BUYER)) == buyer_had + 1
    async with dash.svc.db.uow() as uow:
        assert len(await audit.trail(uow, f"listing {listing}")) == 1


async def test_cancelling_an_order_by_the_api_tells_both_sides_once(dash):
    refs = await market(dash)
    order, listing = refs["accepted"], refs["apples"]
    farmer_had = len(await dash.received(FARMER, 2))
    buyer_had = len(await dash.received(BUYER, 1))
    client = await api(dash, await token_for(dash, "baraka"))

    status, o = await call(client, "POST", f"/orders/{order}/cancel")
    assert status == 200, o
    await matches(dash, "POST", f"/orders/{order}/cancel", o)
    assert o["status"] == "cancelled" and o["cancellable"] is False
    assert ("audit", "baraka") in [(e["kind"], e["who"]) for e in o["events"]]
    assert await status_of(dash, order) == "cancelled"
    assert await stock(dash, listing) == ("active", Decimal(40))  # its 20斤 are back
    farmer_got = (await dash.received(FARMER, farmer_had + 1))[farmer_had:]
    buyer_got = (await dash.received(BUYER, buyer_had + 1))[buyer_had:]
    assert farmer_got == [f"订单{order}已取消。"] and buyer_got == [f"订单{order}已取消。"]
    async with dash.svc.db.uow() as uow:
        [entry] = await audit.trail(uow, f"order {order}")
    assert entry.actor == "baraka" and entry.action == "order.cancelled"
    assert entry.detail["was"] == "accepted" and entry.detail["listing"] == listing

    status, problem = await call(client, "POST", f"/orders/{order}/cancel")
    assert status == 409 and problem["detail"] == f"order {order} is cancelled"
    assert await stock(dash, listing) == ("active", Decimal(40))
    assert len(await settled(dash, FARMER)) == farmer_had + 1
    assert len(await settled(dash, BUYER)) == buyer_had + 1
    async with dash.svc.db.uow() as uow:
        assert len(await audit.trail(uow, f"order {order}")) == 1


async def test_a_waiting_buyer_whose_order_is_cancelled_hears_of_other_offers(dash):
    refs = await market(dash)
    await dash.text(FARMER, "卖30斤梨 每斤3块")  # another farmer's pears for Amina
    order = refs["pending_pears"]
    had = len(await dash.received(BUYER2, 1))
    client = await api(dash, await token_for(dash, "li"))
    status, _ = await call(client, "POST", f"/orders/{order}/cancel")
    assert status == 200
    [told] = (await dash.received(BUYER2, had + 1))[had:]
    assert told.startswith(f"Order {order} cancelled.\nPear for you:")  # in her language
    assert await stock(dash, refs["pears"]) == ("active", Decimal(100))


# users ----------------------------------------------------------------------------------------
async def test_users_found_by_number_name_place_channel_and_optout(dash):
    ids = await people_rig.market(dash)
    client = await api(dash, await token_for(dash, "li"))
    everyone = await ids_of(client, "/users")
    assert everyone == sorted(ids.values(), reverse=True)
    expect = {
        "?q=00000021": [ids[people_rig.BUYER]],
        "?q=138 0000 0011": [ids[people_rig.FARMER_ZH]],
        "?q=王大伯": [ids[people_rig.FARMER_ZH]],
        "?q=wanJIRU": [ids[people_rig.FARMER_KE]],
        "?q=武都": [ids[people_rig.FARMER_ZH]],  # a place's name finds its people
        "?place=nakuru": [ids[people_rig.FARMER_KE]],
        "?channel=whatsapp": [ids[people_rig.WHATSAPP]],
        "?q=2547&channel=sms": [ids[people_rig.FARMER_KE]],
        "?optout=out": [ids[people_rig.STOPPED]],
        "?q=%25": [],
        "?q=' OR 1=1 --": [],
    }
    for query, listed in expect.items():
        assert await ids_of(client, "/users" + query) == listed, query
    taking = await ids_of(client, "/users?optout=in")
    assert ids[people_rig.STOPPED] not in taking and len(taking) == len(ids) - 1
    page = await got(client, "/users?q=王大伯")
    [farmer] = page["items"]
    assert farmer["address"] == people_rig.FARMER_ZH and farmer["place"] == "wudu"
    assert farmer["counts"] == {"subscriptions": 0, "listings": 1, "orders": 1}
    assert farmer["role"] == "user" and farmer["opted_out"] is False
    for bad in ("optout=maybe", "channel=fax", "place=atlantis", "q=" + "9" * 101, "x=1"):
        status, problem = await call(client, "GET", "/users?" + bad)
        assert status == 400, (bad, problem)


async def test_pages_of_users_reach_everyone_once(dash):
    made = []
    async with dash.svc.db.uow() as uow:  # as their first messages would make them
        for n in range(17):
            phone = f"+86138000{n:05d}"
            made.append(
                (await uow.users.get_or_create("sms", phone, datetime.now(UTC), "user")).id
            )
        await uow.commit()
    client = await api(dash, await token_for(dash, "li"))
    assert await walk(client, "/users", 4) == sorted(made, reverse=True)
    assert await walk(client, "/users?q=1380000001", 3) == sorted(made[10:], reverse=True)


async def test_a_user_with_subscriptions_listings_orders_and_counts(dash):
    ids = await people_rig.market(dash)
    client = await api(dash, await token_for(dash, "li"))
    farmer = await got(client, f"/users/{ids[people_rig.FARMER_ZH]}")
    await matches(dash, "GET", f"/users/{farmer['id']}", farmer)
    assert farmer["name"] == "王大伯" and farmer["language"] == "zh"
    assert farmer["counts"] == {"subscriptions": 0, "listings": 1, "orders": 1}
    [listing] = farmer["listings"]
    assert (listing["product"], listing["quantity_total"], listing["quantity_available"]) == (
        "apple",
        "50",
        "30",
    )
    assert listing["price"] == "3.50" and listing["status"] == "active"
    [order] = farmer["orders"]
    assert (order["side"], order["quantity"], order["total"], order["status"]) == (
        "farmer",
        "20",
        "70.00",
        "accepted",
    )
    buyer = await got(client, f"/users/{ids[people_rig.BUYER]}")
    assert buyer["orders"][0]["side"] == "buyer" and buyer["listings"] == []
    stopped = await got(client, f"/users/{ids[people_rig.STOPPED]}")
    await matches(dash, "GET", f"/users/{stopped['id']}", stopped)
    await matches(dash, "GET", "/users?limit=3", await got(client, "/users?limit=3"))
    assert stopped["opted_out"] is True and stopped["counts"]["subscriptions"] == 1
    [sub] = stopped["subscriptions"]
    assert sub["product"] == "apple" and sub["mode"] == "instant" and sub["user"] == stopped["id"]
    configured = await got(client, f"/users/{ids[people_rig.CONFIGURED]}")
    assert configured["configured"] is True and configured["role"] == "coordinator"
    assert farmer["configured"] is False


async def test_an_admin_changes_a_role_by_the_api_and_it_is_audited(dash):
    ids = await people_rig.market(dash)
    farmer = ids[people_rig.FARMER_ZH]
    client = await api(dash, await token_for(dash, "amina", "admin"))
    assert "只有协调员可以群发" in await dash.text(
        people_rig.FARMER_ZH, "群发 苹果今日收购价4.2元/斤"
    )
    status, user = await call(
        client, "POST", f"/users/{farmer}/role", json={"role": "coordinator"}
    )
    assert status == 200 and user["role"] == "coordinator"
    preview = await dash.text(people_rig.FARMER_ZH, "群发 苹果今日收购价4.2元/斤")
    assert "只有协调员" not in preview and "4.20" in preview
    await dash.text(people_rig.FARMER_ZH, "不")
    status, user = await call(client, "POST", f"/users/{farmer}/role", json={"role": "user"})
    assert status == 200 and user["role"] == "user"
    status, user = await call(client, "POST", f"/users/{farmer}/role", json={"role": "user"})
    assert status == 200 and user["role"] == "user"  # already so: nothing to audit
    async with dash.svc.db.uow() as uow:
        changes = [e for e in await audit.trail(uow) if e.action == "user.role_changed"]
    assert [(e.actor, e.subject, e.detail["role"], e.detail["was"]) for e in changes] == [
        ("amina", f"user #{farmer}", "coordinator", "user"),
        ("amina", f"user #{farmer}", "user", "coordinator"),
    ]
    assert all(people_rig.FARMER_ZH not in str(e.detail) for e in changes)
    for body in ({"role": "king"}, {"role": "admin"}, {}, {"role": "user", "x": 1}):
        status, problem = await call(client, "POST", f"/users/{farmer}/role", json=body)
        assert status == 400, (body, problem)


async def test_a_configured_or_linked_coordinator_is_not_demoted(dash):
    ids = await people_rig.market(dash)
    client = await api(dash, await token_for(dash, "amina", "admin"))
    configured = ids[people_rig.CONFIGURED]
    status, problem = await call(
        client, "POST", f"/users/{configured}/role", json={"role": "user"}
    )
    assert status == 409 and "coordinators.addresses" in problem["detail"]
    await dash.account("wang", "coordinator")
    async with dash.svc.db.uow() as uow:
        await accounts.link(uow, "wang", "sms", people_rig.FARMER_KE)
        await uow.commit()
    linked = ids[people_rig.FARMER_KE]
    status, problem = await call(client, "POST", f"/users/{linked}/role", json={"role": "user"})
    assert status == 409 and "wang" in problem["detail"]
    for user in (configured, linked):
        found = await got(client, f"/users/{user}")
        assert found["role"] == "coordinator"
    async with dash.svc.db.uow() as uow:
        assert not [e for e in await audit.trail(uow) if e.action == "user.role_changed"]
    assert "Price to publish" in await dash.text(
        people_rig.CONFIGURED, "broadcast apple 4.2 yuan/jin"
    )


async def test_a_coordinators_token_cannot_change_roles(dash):
    ids = await people_rig.market(dash)
    farmer = ids[people_rig.FARMER_ZH]
    client = await api(dash, await token_for(dash, "baraka", "coordinator"))
    status, problem = await call(
        client, "POST", f"/users/{farmer}/role", json={"role": "coordinator"}
    )
    assert status == 403 and problem["status"] == 403
    async with dash.svc.db.uow() as uow:
        user = await uow.users.get(farmer)
        assert user is not None and user.role == "user"
        assert not [e for e in await audit.trail(uow) if e.action == "user.role_changed"]
    status, found = await call(client, "GET", f"/users/{farmer}")  # reading is theirs
    assert status == 200 and found["role"] == "user"


# the whole -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/listings"),
        ("GET", "/listings/1"),
        ("POST", "/listings/1/expire"),
        ("GET", "/orders"),
        ("GET", "/orders/1"),
        ("POST", "/orders/1/cancel"),
        ("GET", "/users"),
        ("GET", "/users/1"),
        ("POST", "/users/1/role"),
    ],
)
async def test_without_a_valid_token_each_is_401(dash, method, path):
    for token in (None, "fct_not-a-token"):
        client = await api(dash, token)
        status, problem = await call(client, method, path, json={"role": "user"})
        assert status == 401 and problem["status"] == 401


async def test_the_document_lists_them_with_their_filters(dash):
    async with dash.session.get(dash.url + API + "/openapi.json") as r:
        doc = await r.json()
    paths = doc["paths"]
    for method, path in [
        ("get", "/listings"),
        ("get", "/listings/{id}"),
        ("post", "/listings/{id}/expire"),
        ("get", "/orders"),
        ("get", "/orders/{id}"),
        ("post", "/orders/{id}/cancel"),
        ("get", "/users"),
        ("get", "/users/{id}"),
        ("post", "/users/{id}/role"),
    ]:
        assert method in paths[API + path], path
    orders = {p["name"]: p for p in paths[API + "/orders"]["get"]["parameters"]}
    assert set(orders) == {
        *("cursor", "limit", "product", "place", "status", "q"),
        *("since", "until", "farmer", "buyer"),
    }
    assert orders["status"]["schema"]["enum"] == ["", *reads.ORDER_STATUSES]
    assert "409" in paths[API + "/orders/{id}/cancel"]["post"]["responses"]
    statuses = typing.get_args(api_market.ListingStatus), typing.get_args(api_market.OrderStatus)
    assert statuses == (reads.LISTING_STATUSES, reads.ORDER_STATUSES)
