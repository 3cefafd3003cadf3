"""Every response the app answers says `Server: farmchat`: no Python or aiohttp version."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.conftest import make_settings
from tests.test_twilio_webhook import TWILIO_ENV
from tests.wechat_rig import wechat_env


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("a handler that breaks")


@pytest.fixture
async def client(db_url, nlu_cache, real_nlu, tmp_path):
    from bot.app import create_app

    settings = make_settings(
        db_url,
        nlu_cache,
        FARMCHAT_DASHBOARD__KEY_FILE=str(tmp_path / "session.key"),
        FARMCHAT_DASHBOARD__SIMULATOR_DATABASE=f"sqlite+aiosqlite:///{tmp_path / 'sim.db'}",
        FARMCHAT_NLU__PARSE_ENDPOINT__BURST="1",
        **TWILIO_ENV,
        **wechat_env("http://127.0.0.1:9"),
    )
    app = create_app(settings, nlu=real_nlu, background=False)
    app.router.add_get("/boom", boom)
    async with TestClient(TestServer(app)) as client:
        yield client


REQUESTS: list[tuple[str, str, dict[str, Any], int]] = [
    ("GET", "/healthz", {}, 200),
    ("HEAD", "/healthz", {}, 200),
    ("POST", "/model/parse", {"json": {"text": "buy apples"}}, 200),
    ("POST", "/model/parse", {"json": {"text": "buy apples"}}, 429),
    ("GET", "/model/parse", {}, 405),
    ("GET", "/nowhere", {}, 404),
    ("POST", "/webhooks/twilio", {"data": b"Body=hi"}, 403),
    ("GET", "/webhooks/twilio", {}, 405),
    ("GET", "/webhooks/wechat", {}, 403),
    ("POST", "/webhooks/wechat", {"data": b"<xml/>"}, 403),
    ("POST", "/healthz", {"data": b"x" * 100_000}, 405),
    ("GET", "/admin", {"allow_redirects": False}, 302),
    ("GET", "/admin/login", {}, 200),
    ("GET", "/admin/static/farmchat.css", {}, 200),
    ("GET", "/admin/static/missing.css", {}, 404),
    ("GET", "/api/v1/prices", {}, 401),
    ("GET", "/api/v1/openapi.json", {}, 200),
    ("GET", "/boom", {}, 500),
]


async def test_every_kind_of_response_names_farmchat_alone(client):
    for method, path, kw, status in REQUESTS:
        resp = await client.request(method, path, **kw)
        await resp.read()
        assert resp.status == status, (method, path)
        assert resp.headers.getall("Server") == ["farmchat"], (method, path, status)


async def test_a_body_over_the_limit_gets_413_naming_farmchat(client):
    resp = await client.post("/model/parse", data=b'{"text": "' + b"x" * 100_000 + b'"}')
    assert resp.status == 413 and resp.headers.getall("Server") == ["farmchat"]
