"""The HTTP app: /healthz and Rasa-compatible /model/parse, clean start and stop."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.pool import QueuePool

from bot.app import SERVICES, create_app
from storage.db import head_revision
from tests.conftest import make_settings


@pytest.fixture
async def client(db_url, nlu_cache, real_nlu):
    app = create_app(make_settings(db_url, nlu_cache), nlu=real_nlu)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_healthz_reports_the_database(client, db_url):
    resp = await client.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    cache = body["nlu"].pop("parse_cache")  # the model is shared by the tests: counts vary
    assert body.pop("expected_revision") == body.pop("revision") == head_revision()
    assert body == {
        "status": "ok",
        "database": db_url.split("+")[0],
        "database_reachable": True,
        "migrations": "current",
        "worker": 0,
        "nlu": {"backend": "builtin", "intents": 16},
    }
    await client.post(
        "/model/parse", json={"text": f"a text no test has sent before {uuid.uuid4().hex}"}
    )
    again = (await (await client.get("/healthz")).json())["nlu"]["parse_cache"]
    assert again["misses"] == cache["misses"] + 1 and again["size"] == cache["size"] + 1


async def test_model_parse_answers_in_rasa_shape_with_canonical_values(client):
    resp = await client.post("/model/parse", json={"text": "卖50斤苹果 三块五一斤"})
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == {"text", "intent", "intent_ranking", "entities"}
    assert body["intent"]["name"] == "sell" and 0 < body["intent"]["confidence"] <= 1
    values = {(e["entity"], e["value"]) for e in body["entities"]}
    assert {
        ("product", "apple"),
        ("quantity", "50"),
        ("unit", "jin"),
        ("price", "3.5"),
        ("price_unit", "jin"),
    } <= values
    for e in body["entities"]:
        assert body["text"][e["start"] : e["end"]] and e["extractor"]


@pytest.mark.parametrize(
    "payload, status",
    [
        (b"not json", 400),
        (b'{"txt": "hi"}', 400),
        (b'{"text": 5}', 400),
        (b"[]", 400),
        (b'{"text": "' + b"x" * 100_000 + b'"}', 413),
        (b'{"text": "hi", "n": ' + b"7" * 5000 + b"}", 400),  # past int()'s digit limit
        (b"[" * 20_000 + b"]" * 20_000, 400),  # nested deeper than the parser recurses
        (rb'{"text": "\ud800"}', 400),  # a lone surrogate (a JSON escape)
        (b"\xff\xfe{}", 400),  # not UTF-8
        (b'{"text": NaN}', 400),
    ],
)
async def test_model_parse_rejects_bad_bodies_with_4xx(client, payload, status):
    resp = await client.post(
        "/model/parse", data=payload, headers={"Content-Type": "application/json"}
    )
    assert resp.status == status
    if status == 400:
        assert "error" in await resp.json()


async def test_garbage_text_parses_to_a_low_confidence_answer(client):
    for text in ["", "🍎🙂", "\x00\x01", "z" * 5000]:
        body = await (await client.post("/model/parse", json={"text": text})).json()
        assert body["intent"]["confidence"] < 0.9 and isinstance(body["entities"], list)


async def test_startup_and_shutdown_release_everything(sqlite_url, nlu_cache, real_nlu):
    app = create_app(make_settings(sqlite_url, nlu_cache), nlu=real_nlu)
    before = set(asyncio.all_tasks())
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/healthz")).status == 200
        engine = app[SERVICES].db.engine
        assert any(t.get_name() == "farmchat-sweeper" for t in asyncio.all_tasks())
    assert not any(t.get_name() == "farmchat-sweeper" for t in asyncio.all_tasks() - before)
    assert isinstance(engine.pool, QueuePool)
    assert engine.pool.checkedout() == 0


class Flaky:
    """A channel whose webhook fails: the app must answer with the channel's own failure body."""

    name = "flaky"

    def __init__(self):
        self.started = self.stopped = False

    def routes(self):
        from aiohttp import web

        async def boom(request):
            raise RuntimeError("handler broke")

        return [web.post("/webhooks/flaky", boom)]

    def failure(self, request):
        from aiohttp import web

        return web.Response(text="flaky-sorry")

    def senders(self, session):
        return {}

    async def start(self, svc):
        self.started = True

    async def stop(self):
        self.stopped = True


async def test_a_new_channel_is_one_entry_in_the_list(db_url, nlu_cache, real_nlu, monkeypatch):
    from bot import channels

    flaky = Flaky()
    monkeypatch.setattr(channels, "CHANNELS", (*channels.CHANNELS, lambda settings: flaky))
    app = create_app(make_settings(db_url, nlu_cache), nlu=real_nlu, background=False)
    async with TestClient(TestServer(app)) as client:
        assert flaky.started
        resp = await client.post("/webhooks/flaky", data=b"x")
        assert resp.status == 200 and await resp.text() == "flaky-sorry"
        assert (await client.post("/webhooks/nowhere")).status == 404
    assert flaky.stopped
