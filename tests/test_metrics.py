"""GET /metrics read after real traffic (a trade over signed Twilio webhooks and the fake
Twilio, refused requests, a database error), who may read it, the numbers of every worker with
server.workers: 2, and liveness apart from readiness."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections import defaultdict
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, text

from bot.app import SERVICES, create_app
from bot.fakes.twilio import FakeTwilio, inbound_fields, post_inbound
from storage import inbound
from storage.models import Outbox
from tests.conftest import make_settings
from tests.test_parse_endpoint import OUTSIDE, needs_outside

TOKEN, SID, NUMBER = "metrics-auth-token-0123456789", "AC" + "2" * 32, "+15005550006"
FARMER, BUYER = "+8613800000031", "+254700000032"
METRICS_TOKEN = "metrics-token-0123456789abcdef"
ROOT = Path(__file__).resolve().parent.parent
FARMCHAT = [sys.executable, "-m", "bot.cli"]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def read(exposition: str) -> Samples:
    """Every sample of a Prometheus text exposition, by (name, labels)."""
    found: Samples = {}
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            found[s.name, frozenset(s.labels.items())] = s.value
    return found


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include these."""
    want = set(labels.items())
    return sum(v for (n, got), v in samples.items() if n == name and want <= got)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Phone:
    """Texts farmchat as Twilio would, and reads its metrics."""

    def __init__(self, client: TestClient, fake: FakeTwilio, url: str):
        self.client, self.fake, self.url = client, fake, url

    async def text(self, sender: str, body: str) -> str:
        fields = inbound_fields(sender, NUMBER, body)
        status, xml = await post_inbound(
            self.client.session, self.url + "/webhooks/twilio", TOKEN, fields
        )
        assert status == 200, xml
        return xml

    async def metrics(self, **headers: str) -> Samples:
        resp = await self.client.get("/metrics", headers=headers)
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "text/plain"
        return read(await resp.text())


@pytest.fixture
async def phone(db_url, nlu_cache, real_nlu, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with FakeTwilio(SID, TOKEN, callback_delay=0.05) as fake:
        settings = make_settings(
            db_url,
            nlu_cache,
            FARMCHAT_TWILIO__ACCOUNT_SID=SID,
            FARMCHAT_TWILIO__AUTH_TOKEN=TOKEN,
            FARMCHAT_TWILIO__FROM_NUMBER=NUMBER,
            FARMCHAT_TWILIO__API_BASE=fake.url,
            FARMCHAT_TWILIO__TIMEOUT_SECONDS="1",
            FARMCHAT_SERVER__PUBLIC_URL=url,
            FARMCHAT_DASHBOARD__KEY_FILE=str(tmp_path / "session.key"),
        )
        app = create_app(settings, nlu=real_nlu, background=False)
        async with TestClient(TestServer(app, host="127.0.0.1", port=port)) as client:
            yield Phone(client, fake, url)


async def _settled(phone: Phone, count: int) -> None:
    for _ in range(200):  # bounded: pushes follow the replies
        if len(phone.fake.messages) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(phone.fake.messages)} pushes, wanted {count}")


async def test_the_numbers_follow_a_trade_refusals_and_a_database_error(phone, monkeypatch):
    before = await phone.metrics()
    assert "已发布" in await phone.text(FARMER, "卖50斤苹果 三块五一斤")
    assert "1)" in await phone.text(BUYER, "buy 20 jin apples")
    created = await phone.text(BUYER, "1")
    ref = created.split("Order ", 1)[1].split()[0]
    await _settled(phone, 1)  # the farmer is asked
    assert "accepted" in await phone.text(FARMER, f"yes {ref}")
    await _settled(phone, 2)  # the buyer is told
    await phone.text(BUYER, "help")
    await phone.text(BUYER, "help")  # the same words again: the NLU's parse cache
    await phone.text(BUYER, "zxqv blorf wug")  # nothing the NLU can place
    async with phone.client.app[SERVICES].db.uow() as uow:
        pushed = list((await uow.session.execute(select(Outbox))).scalars())
    for _ in range(200):  # bounded: every push's status callbacks in (queued, sent, delivered)
        callbacks = phone.fake.callbacks_sent
        delivered = [c for c in callbacks if c.get("MessageStatus") == "delivered"]
        done = all(c["http_status"] for c in callbacks)
        if len(delivered) >= len(pushed) == 2 and done:
            break
        await asyncio.sleep(0.05)
    webhook = phone.url + "/webhooks/twilio"
    session = phone.client.session
    fields = inbound_fields(BUYER, NUMBER, "buy apples")
    forged = {"X-Twilio-Signature": "bm90IHRoZSBzaWduYXR1cmU="}
    async with session.post(webhook, data=fields, headers=forged) as resp:
        assert resp.status == 403
    big = inbound_fields(BUYER, NUMBER, "x" * 70_000)  # signed, past the 64 KB a body may be
    status, _ = await post_inbound(session, webhook, TOKEN, big)
    assert status == 413
    missing = {k: v for k, v in inbound_fields(BUYER, NUMBER, "hi").items() if k != "From"}
    status, _ = await post_inbound(session, webhook, TOKEN, missing)
    assert status == 400

    async def broken(uow, entry):  # a real statement the database refuses
        await uow.session.execute(text("INSERT INTO users (id) VALUES (NULL)"))

    monkeypatch.setattr(inbound, "record", broken)
    assert "Sorry" in await phone.text(BUYER, "my orders")
    monkeypatch.undo()

    after = await phone.metrics()

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("farmchat_inbound_messages_total", channel="sms", intent="sell") == 1
    assert grew("farmchat_inbound_messages_total", channel="sms", intent="buy") == 1
    assert grew("farmchat_inbound_messages_total", channel="sms") == 7  # not the failed one
    assert grew("farmchat_nlu_fallbacks_total", channel="sms") >= 1
    assert grew("farmchat_nlu_parse_cache_total", result="hit") >= 1
    assert grew("farmchat_nlu_parse_cache_total", result="miss") >= 5
    for reason in ("signature", "size", "malformed"):
        assert grew("farmchat_webhook_rejections_total", channel="twilio", reason=reason) == 1
    # every webhook request is timed: 7 texts, the failed one, 3 refused, the status callbacks
    callbacks = len(phone.fake.callbacks_sent)
    answered = grew("farmchat_reply_seconds_count", channel="twilio")
    assert answered == 7 + 1 + 3 + callbacks
    assert grew("farmchat_sends_total", channel="sms", result="sent", error_code="") == 2
    assert grew("farmchat_database_errors_total", where="message") == 1
    # what the messages cost the database: each answered one committed at least once and ran
    # a few statements (its arrival, its reply's record, the handler's reads and writes)
    assert grew("farmchat_database_commits_total") >= 7
    assert 7 * 3 <= grew("farmchat_database_statements_total") <= 8 * 80
    async with phone.client.app[SERVICES].db.uow() as uow:
        rows = (
            await uow.session.execute(
                select(Outbox.channel, Outbox.status, func.count()).group_by(
                    Outbox.channel, Outbox.status
                )
            )
        ).all()
    shown = {
        (dict(labels)["channel"], dict(labels)["status"]): value
        for (name, labels), value in after.items()
        if name == "farmchat_outbox_rows"
    }
    assert shown == {(channel, status): n for channel, status, n in rows}


async def test_metrics_are_served_to_this_host_by_default(phone):
    resp = await phone.client.get("/metrics")
    assert resp.status == 200
    assert "# TYPE farmchat_inbound_messages_total counter" in await resp.text()


@needs_outside
async def test_metrics_are_refused_to_another_address(db_url, nlu_cache, real_nlu, tmp_path):
    settings = make_settings(
        db_url, nlu_cache, FARMCHAT_DASHBOARD__KEY_FILE=str(tmp_path / "session.key")
    )
    app = create_app(settings, nlu=real_nlu, background=False)
    assert OUTSIDE is not None
    async with TestClient(TestServer(app, host=OUTSIDE)) as client:
        resp = await client.get("/metrics")
        assert resp.status == 403
        assert "farmchat_" not in await resp.text()


async def test_token_and_off(sqlite_url, nlu_cache, real_nlu, tmp_path):
    key = str(tmp_path / "session.key")
    settings = make_settings(
        sqlite_url,
        nlu_cache,
        FARMCHAT_DASHBOARD__KEY_FILE=key,
        FARMCHAT_METRICS__ACCESS="token",
        FARMCHAT_METRICS__TOKEN=METRICS_TOKEN,
    )
    async with TestClient(TestServer(create_app(settings, nlu=real_nlu, background=False))) as c:
        assert (await c.get("/metrics")).status == 401
        wrong = await c.get("/metrics", headers={"Authorization": "Bearer " + "x" * 30})
        assert wrong.status == 401
        right = await c.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert right.status == 200 and "farmchat_outbox_rows" in await right.text()
    settings = make_settings(
        sqlite_url, nlu_cache, FARMCHAT_DASHBOARD__KEY_FILE=key, FARMCHAT_METRICS__ACCESS="off"
    )
    async with TestClient(TestServer(create_app(settings, nlu=real_nlu, background=False))) as c:
        assert (await c.get("/metrics")).status == 404


async def test_liveness_holds_while_readiness_says_the_schema_is_behind(
    db_url, nlu_cache, real_nlu, tmp_path
):
    settings = make_settings(
        db_url, nlu_cache, FARMCHAT_DASHBOARD__KEY_FILE=str(tmp_path / "session.key")
    )
    app = create_app(settings, nlu=real_nlu, background=False)
    async with TestClient(TestServer(app)) as client:
        ready = await client.get("/readyz")
        body = await ready.json()
        assert ready.status == 200 and body["migrations"] == "current", body
        assert (await client.get("/healthz")).status == 200
        db = app[SERVICES].db
        async with db.uow() as uow:
            await uow.session.execute(text("UPDATE alembic_version SET version_num = '0009'"))
            await uow.commit()
        behind = await client.get("/readyz")
        body = await behind.json()
        assert behind.status == 503 and body["migrations"] == "behind", body
        assert body["revision"] == "0009" and body["expected_revision"] != "0009"
        assert (await client.get("/healthz")).status == 503
        live = await client.get("/livez")
        assert live.status == 200 and (await live.json())["status"] == "alive"


class Proxy:
    """A TCP relay to PostgreSQL that can be cut and restored: the database going away."""

    def __init__(self, target: tuple[str, int]):
        self.target, self.open = target, True
        self.links: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _link(self, reader, writer) -> None:
        if not self.open:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.links |= {writer, up_writer}

        async def pipe(src, dst) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        self.open = False
        for writer in self.links:
            writer.close()
        self.links.clear()

    async def close(self) -> None:
        self.cut()
        self.server.close()


@pytest.mark.postgres
async def test_a_database_that_goes_away_is_not_ready_and_comes_back(
    pg_url, nlu_cache, real_nlu, tmp_path
):
    from sqlalchemy.engine import make_url

    url = make_url(pg_url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    port = await proxy.start()
    try:
        relayed = url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
        settings = make_settings(
            relayed, nlu_cache, FARMCHAT_DASHBOARD__KEY_FILE=str(tmp_path / "session.key")
        )
        app = create_app(settings, nlu=real_nlu, background=False)
        async with TestClient(TestServer(app)) as client:
            assert (await client.get("/readyz")).status == 200
            proxy.cut()
            down = await client.get("/readyz")
            body = await down.json()
            assert down.status == 503 and body["database_reachable"] is False, body
            assert (await client.get("/livez")).status == 200
            proxy.open = True
            for _ in range(50):  # the pool opens a new connection (bounded)
                if (await client.get("/readyz")).status == 200:
                    break
                await asyncio.sleep(0.1)
            assert (await client.get("/readyz")).status == 200
    finally:
        await proxy.close()


async def test_two_workers_answer_the_sum_of_both(tmp_path, nlu_cache, real_nlu):
    """With server.workers: 2, whichever worker takes the scrape answers the numbers of both:
    every scrape counts every message, though each worker took only some of them."""
    port = free_port()
    numbers = tmp_path / "metrics"
    env = {
        **os.environ,
        "FARMCHAT_CONFIG": str(ROOT / "config.yaml"),
        "FARMCHAT_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'farm.db'}",
        "FARMCHAT_NLU__CACHE_DIR": nlu_cache,
        "FARMCHAT_SERVER__PORT": str(port),
        "FARMCHAT_SERVER__WORKERS": "2",
        "FARMCHAT_SERVER__PUBLIC_URL": f"http://127.0.0.1:{port}",
        "FARMCHAT_TWILIO__ACCOUNT_SID": SID,
        "FARMCHAT_TWILIO__AUTH_TOKEN": TOKEN,
        "FARMCHAT_TWILIO__FROM_NUMBER": NUMBER,
        "FARMCHAT_DASHBOARD__KEY_FILE": str(tmp_path / "session.key"),
        "PROMETHEUS_MULTIPROC_DIR": str(numbers),
        "PYTHONPATH": str(ROOT),
    }
    log = tmp_path / "serve.log"  # a file, not a pipe nobody reads while it runs
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *FARMCHAT, "serve", env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"

    async def fresh(path: str) -> tuple[int, str]:
        connector = aiohttp.TCPConnector(force_close=True)  # the kernel may pick either worker
        async with (
            aiohttp.ClientSession(connector=connector) as http,
            http.get(base + path, timeout=aiohttp.ClientTimeout(total=5)) as resp,
        ):
            return resp.status, await resp.text()

    try:
        workers: set[str] = set()
        for _ in range(600):  # bounded: start-up, then both workers seen
            try:
                status, body = await fresh("/livez")
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.1)
                continue
            workers.add(body)
            if len(workers) == 2:
                break
        assert len(workers) == 2
        sent = 30
        for n in range(sent):
            connector = aiohttp.TCPConnector(force_close=True)
            async with aiohttp.ClientSession(connector=connector) as http:
                fields = inbound_fields(f"+2547000001{n:02d}", NUMBER, "help")
                status, xml = await post_inbound(http, base + "/webhooks/twilio", TOKEN, fields)
                assert status == 200, xml
        written = {p.name.rsplit("_", 1)[-1] for p in numbers.glob("counter_*.db")}
        assert len(written) >= 2  # both workers counted messages of their own
        seen: dict[float, int] = defaultdict(int)
        for _ in range(8):
            status, body = await fresh("/metrics")
            assert status == 200
            samples = read(body)
            seen[total(samples, "farmchat_inbound_messages_total", channel="sms")] += 1
            assert total(samples, "farmchat_scheduler_leader") == 1
        assert dict(seen) == {sent: 8}
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 60)
    output = log.read_text()
    assert code == 0, output
