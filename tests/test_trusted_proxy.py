"""server.trusted_proxies: behind a proxy on this host every request comes from 127.0.0.1;
for a proxy named there the client is the one its X-Real-IP (or X-Forwarded-For) names, so the
login throttle counts each person apart and loopback-only routes stay so through the proxy.
Anyone else's forwarding headers are ignored."""

from __future__ import annotations

from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.config import ConfigError, load_settings
from storage import accounts
from tests.conftest import make_settings
from tests.test_parse_endpoint import OUTSIDE, needs_outside
from tests.web.conftest import csrf_of

REAL_A, REAL_B = "203.0.113.7", "198.51.100.23"


@asynccontextmanager
async def serving(sqlite_url, nlu_cache, real_nlu, tmp_path, host="127.0.0.1", **env: str):
    settings = make_settings(
        sqlite_url,
        nlu_cache,
        FARMCHAT_DASHBOARD__KEY_FILE=str(tmp_path / "session.key"),
        FARMCHAT_DASHBOARD__ADDRESS_ATTEMPTS="3",
        FARMCHAT_DASHBOARD__ACCOUNT_ATTEMPTS="100",
        **env,
    )
    app = create_app(settings, nlu=real_nlu, background=False)
    server = TestServer(app, host=host)
    await server.start_server()
    try:
        async with aiohttp.ClientSession(
            base_url=str(server.make_url("/")), cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as client:
            yield app, client
    finally:
        await server.close()


async def wrong_password(client: aiohttp.ClientSession, name: str, **headers: str) -> int:
    async with client.get("/admin/login", headers=headers) as page:
        csrf = csrf_of(await page.text())
    form = {"csrf": csrf, "name": name, "password": "not the password", "next": "/admin"}
    async with client.post("/admin/login", data=form, headers=headers) as resp:
        return resp.status


async def _account(app) -> None:
    from bot.app import SERVICES

    async with app[SERVICES].db.uow() as uow:
        await accounts.add(uow, "amina", "admin", "a long password 1")
        await uow.commit()


async def test_behind_a_trusted_proxy_each_client_is_throttled_apart(
    sqlite_url, nlu_cache, real_nlu, tmp_path
):
    trusted = {"FARMCHAT_SERVER__TRUSTED_PROXIES": '["127.0.0.1"]'}
    async with serving(sqlite_url, nlu_cache, real_nlu, tmp_path, **trusted) as (app, client):
        await _account(app)
        a, b = {"X-Real-IP": REAL_A}, {"X-Forwarded-For": f"10.9.9.9, {REAL_B}"}
        assert [await wrong_password(client, f"who{n}", **a) for n in range(3)] == [401] * 3
        assert await wrong_password(client, "who3", **a) == 429  # A has used up its tries
        assert await wrong_password(client, "who4", **b) == 401  # B has not
        assert (await client.get("/metrics", headers=a)).status == 403  # A is not this host
        assert (await client.get("/metrics")).status == 200  # the proxy itself is


async def test_without_trusted_proxies_forwarding_headers_are_ignored(
    sqlite_url, nlu_cache, real_nlu, tmp_path
):
    async with serving(sqlite_url, nlu_cache, real_nlu, tmp_path) as (app, client):
        await _account(app)
        for n in range(3):
            assert (
                await wrong_password(client, f"who{n}", **{"X-Real-IP": f"203.0.113.{n}"}) == 401
            )
        # every try came from 127.0.0.1, whatever the headers said
        assert await wrong_password(client, "who9", **{"X-Real-IP": REAL_B}) == 429
        assert (await client.get("/metrics", headers={"X-Real-IP": REAL_A})).status == 200


@needs_outside
async def test_a_client_that_is_no_trusted_proxy_cannot_claim_to_be_this_host(
    sqlite_url, nlu_cache, real_nlu, tmp_path
):
    assert OUTSIDE is not None
    trusted = {"FARMCHAT_SERVER__TRUSTED_PROXIES": '["127.0.0.1"]'}
    async with serving(sqlite_url, nlu_cache, real_nlu, tmp_path, host=OUTSIDE, **trusted) as (
        _,
        client,
    ):
        spoofed = {"X-Real-IP": "127.0.0.1", "X-Forwarded-For": "127.0.0.1"}
        assert (await client.get("/metrics", headers=spoofed)).status == 403


@pytest.mark.parametrize("bad", ['["nginx"]', '["300.1.1.1"]'])
def test_a_trusted_proxy_must_be_an_address(bad):
    with pytest.raises(ConfigError, match="trusted_proxies"):
        load_settings(environ={"FARMCHAT_SERVER__TRUSTED_PROXIES": bad})
