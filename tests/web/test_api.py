"""The JSON API as a program uses it: bearer tokens, problem+json errors, cursors, and the
same services the dashboard and SMS run."""

from __future__ import annotations

import aiohttp
import pytest

from storage import accounts, audit
from tests.web.test_prices_broadcasts import SUBSCRIBERS, market

API = "/api/v1"


async def token_for(dash, name: str, role: str = "coordinator") -> str:
    await dash.account(name, role)
    async with dash.svc.db.uow() as uow:
        token = await accounts.new_token(uow, name)
        await uow.commit()
    return token


async def api(dash, token: str | None) -> aiohttp.ClientSession:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client = aiohttp.ClientSession(base_url=dash.url, headers=headers)
    dash._clients.append(client)
    return client


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/me"),
        ("GET", "/prices"),
        ("POST", "/prices"),
        ("GET", "/broadcasts"),
        ("POST", "/broadcasts/1/send"),
        ("GET", "/users/1/conversation"),
        ("GET", "/audit"),
    ],
)
async def test_without_a_valid_token_every_operation_is_401(dash, method, path):
    await token_for(dash, "amina")
    for token in [None, "fct_not-a-token", "garbage", ""]:
        client = await api(dash, token)
        async with client.request(method, API + path, json={}) as r:
            assert r.status == 401
            assert r.content_type == "application/problem+json"
            assert r.headers["WWW-Authenticate"] == "Bearer"
            assert (await r.json())["status"] == 401


async def test_a_revoked_token_is_refused(dash):
    token = await token_for(dash, "amina")
    client = await api(dash, token)
    async with client.get(API + "/me") as r:
        assert r.status == 200 and (await r.json())["name"] == "amina"
    async with dash.svc.db.uow() as uow:
        [made] = await accounts.tokens(uow, "amina")
        assert await accounts.revoke_token(uow, made.id)
        await uow.commit()
    async with client.get(API + "/me") as r:
        assert r.status == 401


async def test_publish_a_price_by_the_api(dash):
    await market(dash)
    token = await token_for(dash, "amina")
    client = await api(dash, token)
    draft = {"product": "apple", "price": "4.2", "unit": "jin"}
    async with client.post(API + "/prices", json=draft) as r:
        assert r.status == 201
        bc = await r.json()
    assert bc["status"] == "draft" and bc["preview"]["audience"] == 2
    assert bc["texts"]["zh"].startswith("苹果收购价：¥4.20/斤")
    async with client.get(API + "/prices?product=apple") as r:
        assert (await r.json())["products"][0]["quotes"] == []  # nothing before it is sent
    async with client.post(API + f"/broadcasts/{bc['id']}/send", json={}) as r:
        assert r.status == 200
        assert (await r.json())["status"] in ("queued", "sending", "done")
    async with client.post(API + f"/broadcasts/{bc['id']}/send", json={}) as r:
        assert r.status == 409  # confirmed once only
    async with client.get(API + "/prices?product=apple") as r:
        [apple] = (await r.json())["products"]
    assert apple["quotes"][0]["price"] == "4.20" and apple["quotes"][0]["unit"] == "jin"
    [asking] = apple["asking"]
    assert (asking["low"], asking["median"], asking["high"], asking["listings"]) == (
        "3.00",
        "3.50",
        "5.00",
        3,
    )
    for phone in SUBSCRIBERS:
        assert len(await dash.received(phone)) == 1
    async with client.get(API + "/prices/apple/history?days=7") as r:
        history = await r.json()
    assert [p["price"] for p in history["prices"]] == ["4.20"]
    assert sum(a["listings"] for a in history["asking"]) == 3
    async with dash.svc.db.uow() as uow:
        assert ("amina", "price.published") in [
            (e.actor, e.action) for e in await audit.trail(uow)
        ]


async def test_schedule_then_cancel_and_page_through_broadcasts(dash):
    token = await token_for(dash, "amina")
    client = await api(dash, token)
    ids = []
    for i in range(5):
        body = {"text": f"notice {i}", "everyone": True}
        async with client.post(API + "/broadcasts", json=body) as r:
            ids.append((await r.json())["id"])
        async with client.post(
            API + f"/broadcasts/{ids[-1]}/send", json={"send_at": "2099-01-01T01:00:00Z"}
        ) as r:
            assert (await r.json())["status"] == "scheduled"
    async with client.post(API + f"/broadcasts/{ids[0]}/cancel") as r:
        assert r.status == 200 and (await r.json())["status"] == "cancelled"
    async with client.post(API + f"/broadcasts/{ids[0]}/cancel") as r:
        assert r.status == 409
    seen, url = [], API + "/broadcasts?limit=2"
    while url:
        async with client.get(url) as r:
            page = await r.json()
        seen += [b["id"] for b in page["items"]]
        url = API + f"/broadcasts?limit=2&cursor={page['next']}" if page["next"] else ""
    assert seen == sorted(ids, reverse=True)


@pytest.mark.parametrize(
    "path, body, status",
    [
        ("/prices", {"product": "apple", "price": "-1"}, 400),
        ("/prices", {"product": "apple", "price": "abc"}, 400),
        ("/prices", {"product": "apple", "price": 3, "extra": 1}, 400),
        ("/prices", {"product": "durian", "price": 3}, 404),
        ("/prices", {"product": "apple", "price": 3, "market": "atlantis"}, 404),
        ("/broadcasts", {"text": ""}, 400),
        ("/broadcasts", {"text": "x", "channel": "pigeon"}, 400),
        ("/broadcasts/999/send", {}, 404),
        ("/broadcasts/abc/send", {}, 404),
        ("/users/999/handoff", {"text": "hi"}, 404),
    ],
)
async def test_bad_requests_get_a_problem_and_change_nothing(dash, path, body, status):
    token = await token_for(dash, "amina")
    client = await api(dash, token)
    async with client.post(API + path, json=body) as r:
        assert r.status == status, await r.text()
        assert r.content_type == "application/problem+json"
    async with client.get(API + "/broadcasts") as r:
        assert (await r.json())["items"] == []


async def test_malformed_bodies_and_cursors(dash):
    token = await token_for(dash, "amina")
    client = await api(dash, token)
    for raw, kind in [(b"{not json", "application/json"), (b"1" * 5000, "application/json")]:
        async with client.post(API + "/prices", data=raw, headers={"Content-Type": kind}) as r:
            assert r.status == 400
    async with client.post(
        API + "/prices", data=b"price=3", headers={"Content-Type": "text/plain"}
    ) as r:
        assert r.status == 415
    async with client.post(
        API + "/prices", data=b"x" * 20000, headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 413
    for bad in ["!!!", "aWQ6LTE=", "' OR 1=1 --"]:
        async with client.get(API + "/broadcasts", params={"cursor": bad}) as r:
            assert r.status == 400


async def test_answer_a_user_by_the_api(dash):
    farmer = "+254700000081"
    await dash.text(farmer, "hello")
    token = await token_for(dash, "amina")
    client = await api(dash, token)
    async with dash.svc.db.uow() as uow:
        uid = (await uow.users.by_address("sms", farmer)).id
    async with client.post(API + f"/users/{uid}/handoff", json={"text": "Hi from the co-op"}) as r:
        convo = await r.json()
    assert convo["handoff_by"] == "amina"
    assert await dash.received(farmer, 2) == [
        "A person from the co-op is answering you now.",
        "Hi from the co-op",
    ]
    assert await dash.text(farmer, "sell 5kg beans at 2/kg") == ""
    async with client.post(API + f"/users/{uid}/handback") as r:
        assert (await r.json())["handoff_until"] is None
    async with client.get(API + f"/users/{uid}/conversation") as r:
        lines = (await r.json())["lines"]
    assert [x["text"] for x in lines if x["direction"] == "in"] == [
        "hello",
        "sell 5kg beans at 2/kg",
    ]


async def test_the_openapi_document_is_valid_3_1(dash):
    from openapi_spec_validator import validate

    async with dash.session.get(dash.url + API + "/openapi.json") as r:
        doc = await r.json()
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    ops = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert ("post", API + "/broadcasts/{id}/send") in ops and ("get", API + "/prices") in ops


async def test_a_nul_character_in_a_body_or_query_is_400(dash):
    token = await token_for(dash, "amina")
    client = await api(dash, token)
    raw = b'{"text": "meeting\\u0000today"}'
    headers = {"Content-Type": "application/json"}
    async with client.post(API + "/broadcasts", data=raw, headers=headers) as r:
        assert r.status == 400
    async with client.get(API + "/audit", params={"q": "a\x00"}) as r:
        assert r.status == 400
    async with client.get(API + "/broadcasts") as r:
        assert (await r.json())["items"] == []
