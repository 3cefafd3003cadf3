"""POST /model/parse: off, loopback-only or a bearer token (nlu.parse_endpoint), and a rate
limit per client address, checked on real sockets before a text is parsed."""

from __future__ import annotations

import asyncio
import socket
import uuid
from contextlib import asynccontextmanager

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import Buckets, create_app, from_loopback
from bot.config import ConfigError, load_settings
from tests.conftest import make_settings

SECRET = "parse-token-0123456789abcdef"
ENDPOINT = "FARMCHAT_NLU__PARSE_ENDPOINT__"


def outside_address() -> str | None:
    """This host's address on its network (not loopback), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.254", 9))  # a UDP connect sends nothing; it picks a source
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if from_loopback(address) or address == "0.0.0.0" else address


OUTSIDE = outside_address()
needs_outside = pytest.mark.skipif(OUTSIDE is None, reason="no address but loopback here")


@asynccontextmanager
async def serving(sqlite_url, nlu_cache, real_nlu, tmp_path, host="127.0.0.1", **env):
    settings = make_settings(
        sqlite_url,
        nlu_cache,
        FARMCHAT_DASHBOARD__KEY_FILE=str(tmp_path / "session.key"),
        **env,
    )
    app = create_app(settings, nlu=real_nlu, background=False)
    async with TestClient(TestServer(app, host=host)) as client:
        yield client


async def misses(client) -> int:
    return (await (await client.get("/healthz")).json())["nlu"]["parse_cache"]["misses"]


async def parse(client, **headers: str):
    text = f"sell apples {uuid.uuid4().hex}"  # never cached: a parse would be a miss
    return await client.post("/model/parse", json={"text": text}, headers=headers)


async def test_off_has_no_parse_route(sqlite_url, nlu_cache, real_nlu, tmp_path):
    env = {ENDPOINT + "ACCESS": "off"}
    async with serving(sqlite_url, nlu_cache, real_nlu, tmp_path, **env) as client:
        before = await misses(client)
        assert (await parse(client)).status == 404
        assert (await client.get("/model/parse")).status == 404
        assert await misses(client) == before


async def test_loopback_is_the_default_and_serves_this_host(
    sqlite_url, nlu_cache, real_nlu, tmp_path
):
    async with serving(sqlite_url, nlu_cache, real_nlu, tmp_path) as client:
        resp = await parse(client)
        assert resp.status == 200 and (await resp.json())["intent"]["name"] == "sell"


@needs_outside
async def test_loopback_refuses_another_address_before_parsing(
    sqlite_url, nlu_cache, real_nlu, tmp_path
):
    async with serving(sqlite_url, nlu_cache, real_nlu, tmp_path, host=OUTSIDE) as client:
        before = await misses(client)
        resp = await parse(client)
        assert resp.status == 403 and "error" in await resp.json()
        assert await misses(client) == before


@pytest.mark.parametrize("host", ["127.0.0.1", pytest.param(OUTSIDE, marks=needs_outside)])
async def test_token_mode_wants_the_bearer_token(sqlite_url, nlu_cache, real_nlu, tmp_path, host):
    env = {ENDPOINT + "ACCESS": "token", ENDPOINT + "TOKEN": SECRET}
    async with serving(sqlite_url, nlu_cache, real_nlu, tmp_path, host=host, **env) as client:
        before = await misses(client)
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token-0123456789abcdef"},
            {"Authorization": "Bearer " + SECRET[:-1]},
            {"Authorization": "Basic " + SECRET},
            {"Authorization": SECRET},
        ):
            resp = await parse(client, **headers)
            assert resp.status == 401, headers
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            assert "error" in await resp.json()
        assert await misses(client) == before
        assert (await parse(client, Authorization="Bearer " + SECRET)).status == 200
        assert (await parse(client, Authorization="bearer " + SECRET)).status == 200


async def test_a_client_past_its_rate_gets_429_with_retry_after_then_goes_on(
    sqlite_url, nlu_cache, real_nlu, tmp_path
):
    env = {ENDPOINT + "RATE_PER_SECOND": "1", ENDPOINT + "BURST": "2"}
    async with serving(sqlite_url, nlu_cache, real_nlu, tmp_path, **env) as client:
        assert [(await parse(client)).status for _ in range(2)] == [200, 200]
        before = await misses(client)
        refused = await parse(client)
        assert refused.status == 429 and refused.headers["Retry-After"] == "1"
        assert "error" in await refused.json()
        assert await misses(client) == before
        await asyncio.sleep(1.1)
        assert (await parse(client)).status == 200
        assert (await parse(client)).status == 429


@needs_outside
async def test_each_address_has_its_own_bucket(sqlite_url, nlu_cache, real_nlu, tmp_path):
    env = {
        ENDPOINT + "ACCESS": "token",
        ENDPOINT + "TOKEN": SECRET,
        ENDPOINT + "RATE_PER_SECOND": "0.1",
        ENDPOINT + "BURST": "1",
    }
    bearer = {"Authorization": "Bearer " + SECRET}
    async with serving(sqlite_url, nlu_cache, real_nlu, tmp_path, host="0.0.0.0", **env) as app:
        port = app.server.port
        for host in ("127.0.0.1", OUTSIDE):
            url = f"http://{host}:{port}/model/parse"
            first = await app.session.post(url, json={"text": "buy beans"}, headers=bearer)
            second = await app.session.post(url, json={"text": "buy beans"}, headers=bearer)
            assert (first.status, second.status) == (200, 429), host
            assert second.headers["Retry-After"] == "10"


async def test_rate_zero_is_no_limit(sqlite_url, nlu_cache, real_nlu, tmp_path):
    env = {ENDPOINT + "RATE_PER_SECOND": "0", ENDPOINT + "BURST": "1"}
    async with serving(sqlite_url, nlu_cache, real_nlu, tmp_path, **env) as client:
        assert {(await parse(client)).status for _ in range(5)} == {200}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_buckets_refill_at_the_rate_up_to_the_burst():
    clock = Clock()
    buckets = Buckets(rate=2, burst=3, clock=clock)
    assert [buckets.wait("a") for _ in range(3)] == [0, 0, 0]
    assert buckets.wait("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert buckets.wait("a") == 0 and buckets.wait("a") == pytest.approx(0.5)
    clock.now += 3600  # a long pause gives back the burst, no more
    assert [buckets.wait("a") for _ in range(4)][-1] == pytest.approx(0.5)
    assert buckets.wait("b") == 0  # another client is not held back by a


def test_buckets_keep_at_most_size_clients():
    clock = Clock()
    buckets = Buckets(rate=1, burst=1, size=3, clock=clock)
    for n in range(1000):
        buckets.wait(f"10.0.{n // 256}.{n % 256}")
    assert len(buckets) == 3
    assert buckets.wait("10.0.3.231") > 0  # among the most recent: still held back
    assert buckets.wait("10.0.0.0") == 0  # forgotten: starts afresh


@pytest.mark.parametrize(
    "remote, local",
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("192.0.2.2", False),
        ("::ffff:192.0.2.2", False),
        ("fd00::2", False),
        ("0.0.0.0", False),
        ("", False),
        (None, False),
        ("localhost", False),
    ],
)
def test_loopback_addresses(remote, local):
    assert from_loopback(remote) is local


def test_the_shipped_config_serves_parse_to_loopback_with_a_limit():
    endpoint = load_settings("config.yaml", environ={}).nlu.parse_endpoint
    assert (endpoint.access, endpoint.token) == ("loopback", "")
    assert endpoint.rate_per_second > 0 and endpoint.burst >= 1


def test_token_mode_without_a_token_is_a_startup_error():
    with pytest.raises(ConfigError, match="FARMCHAT_NLU__PARSE_ENDPOINT__TOKEN"):
        load_settings("config.yaml", environ={ENDPOINT + "ACCESS": "token"})
    with pytest.raises(ConfigError, match="FARMCHAT_NLU__PARSE_ENDPOINT__TOKEN"):
        load_settings(
            "config.yaml", environ={ENDPOINT + "ACCESS": "token", ENDPOINT + "TOKEN": "x"}
        )


def test_the_token_is_refused_in_the_file(tmp_path):
    path = tmp_path / "farmchat.yaml"
    path.write_text(f"nlu:\n  parse_endpoint:\n    access: token\n    token: {SECRET}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert "nlu.parse_endpoint.token (" in str(err.value)
    assert "set FARMCHAT_NLU__PARSE_ENDPOINT__TOKEN in the environment" in str(err.value)


@pytest.mark.parametrize("written", ["off", '"off"', "loopback", "token"])
def test_access_reads_as_written_in_yaml(tmp_path, written):
    path = tmp_path / "farmchat.yaml"
    path.write_text(f"nlu:\n  parse_endpoint:\n    access: {written}\n")
    settings = load_settings(path, environ={ENDPOINT + "TOKEN": SECRET})
    assert settings.nlu.parse_endpoint.access == written.strip('"')


@pytest.mark.parametrize(
    "key, value", [("ACCESS", "open"), ("RATE_PER_SECOND", "-1"), ("BURST", "0")]
)
def test_bad_parse_endpoint_settings_are_named(key, value):
    with pytest.raises(ConfigError, match=f"nlu.parse_endpoint.{key.lower()}"):
        load_settings("config.yaml", environ={ENDPOINT + key: value})
