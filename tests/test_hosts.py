"""Three `farmchat serve` hosts on one PostgreSQL, each in a network namespace of its own
(tests/netns_rig.py), behind the load generator as behind a load balancer: every host has the
same public URL, and Twilio's signed webhooks for it are spread across them, each user's
messages one after another as a person sends them, many users at once.

One host is killed with SIGKILL in the middle of the load. It leads the scheduler, and the
provider it sends through has stopped answering, so at its death it holds claimed outbox rows
that it never sent (a broadcast's and order notifications). The generator sends every request
that got no answer again, with the same MessageSid, to another host, as Twilio does. Then:
every message has been answered and recorded once, every sale and order happened once, another
host leads, and the dead host's claimed rows reach their users after the claim timeout; only
messages in flight at the kill may arrive twice.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import aiohttp
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, insert, select

from bot.fakes.twilio import FakeTwilio, inbound_fields, post_inbound
from storage.db import create_engine, upgrade
from storage.models import Broadcast, InboundLog, Listing, Order, Subscription, User
from storage.uow import Database
from tests.conftest import PG_URL, fresh_postgres
from tests.netns_rig import Namespace, missing, namespaces, over_socket
from tests.pgbouncer_rig import MISSING as PGBOUNCER_MISSING
from tests.pgbouncer_rig import running_pgbouncer
from tests.test_broadcast_process import (
    NUMBER,
    SID,
    TOKEN,
    in_flight,
    queue_broadcast,
    server_env,
    until,
)

WHY_NOT = missing()
if WHY_NOT and not os.environ.get("FARMCHAT_REQUIRE_NETNS"):
    pytest.skip(
        WHY_NOT + " (FARMCHAT_REQUIRE_NETNS=1 makes this an error)", allow_module_level=True
    )
pytestmark = pytest.mark.postgres

PUBLIC = "https://farm.example.org"  # what Twilio calls: every host's server.public_url
PORT = 8080  # each host's own, in its own namespace
METRICS_TOKEN = "hosts-metrics-token-0123456789"
CLAIM_TIMEOUT = 6  # seconds (broadcast.claim_timeout_seconds)
AUDIENCE = 900  # subscribers of the broadcast sent during the load
PRODUCTS = ("apples", "potatoes", "tomatoes", "walnuts", "honey")


@dataclass
class Host:
    ns: Namespace
    log: Path
    proc: asyncio.subprocess.Process | None = None

    @property
    def base(self) -> str:
        return f"http://{self.ns.inside}:{PORT}"

    async def start(self, env: dict[str, str]) -> Host:
        with open(self.log, "ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self.ns.command(sys.executable, "-m", "bot.cli", "serve"),
                env=env,
                stdout=out,
                stderr=out,
            )
        await until(self.ready, f"{self.ns.name} ready", 120)
        return self

    async def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.returncode is not None:
            raise AssertionError(f"{self.ns.name} exited:\n{self.output()[-3000:]}")
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(self.base + "/readyz", timeout=aiohttp.ClientTimeout(total=2)) as resp,
            ):
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def leads(self) -> bool:
        """Its farmchat_scheduler_leader gauge, read over the network with the token."""
        headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.base + "/metrics", headers=headers) as resp,
        ):
            assert resp.status == 200
            text = await resp.text()
        values = [
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith("farmchat_scheduler_leader")
        ]
        assert len(values) == 1, values
        return values[0] == 1

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def stop(self, sig: int) -> int | None:
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        return await asyncio.wait_for(self.proc.wait(), 60)


@dataclass
class Balancer:
    """The load generator's view of the hosts: round robin over those that answer. A request
    that gets no answer (refused, cut off, timed out) goes to the next host with the same
    fields and signature; the host is left out from then on."""

    hosts: list[Host]
    live: list[Host] = field(default_factory=list)
    turn: int = 0
    resent: int = 0

    def __post_init__(self) -> None:
        self.live = list(self.hosts)

    async def say(self, http: aiohttp.ClientSession, sender: str, body: str, sid: str) -> str:
        fields = inbound_fields(sender, NUMBER, body, sid)
        for _ in range(len(self.hosts) * 2):  # bounded: every host twice at most
            self.turn += 1
            host = self.live[self.turn % len(self.live)]
            try:
                status, reply = await post_inbound(
                    http,
                    host.base + "/webhooks/twilio",
                    TOKEN,
                    fields,
                    signed_url=PUBLIC + "/webhooks/twilio",
                )
            except (aiohttp.ClientError, TimeoutError):
                if host in self.live and len(self.live) > 1:
                    self.live.remove(host)
                self.resent += 1
                continue
            assert status == 200, (status, reply)
            return message_text(reply)
        raise AssertionError(f"{sid} never answered")


def message_text(twiml: str) -> str:
    root = ElementTree.fromstring(twiml)
    texts = [m.text or "" for m in root.iter("Message")]
    assert len(texts) == 1, twiml  # exactly one reply
    return texts[0]


def farmer(n: int) -> str:
    return f"+2547110{n:05d}"


def buyer(n: int) -> str:
    return f"+2547220{n:05d}"


async def seed_audience(url: str) -> tuple[Database, set[str]]:
    """AUDIENCE SMS users subscribed to apples (ids from the sequence, as the hosts' own)."""
    engine = create_engine(url)
    await upgrade(engine)
    db = Database(engine)
    now = datetime.now(UTC)
    addresses = [f"+86137{i:08d}" for i in range(AUDIENCE)]
    async with db.uow() as uow:
        await uow.session.execute(
            insert(User),
            [
                {
                    "channel": "sms",
                    "address": a,
                    "language": "en",
                    "role": "user",
                    "opted_out": False,
                    "created_at": now,
                    "last_seen_at": now,
                }
                for a in addresses
            ],
        )
        ids = (await uow.session.execute(select(User.id))).scalars().all()
        await uow.session.execute(
            insert(Subscription),
            [
                {"user_id": i, "product": "apple", "active": True, "mode": "instant",
                 "created_at": now}
                for i in ids
            ],
        )  # fmt: skip
        await uow.commit()
    return db, set(addresses)


@pytest.fixture(params=["direct", "pgbouncer"])
def database(request) -> Iterator[tuple[str, bool]]:
    """How the hosts reach PostgreSQL: (URL, transaction pooling); straight to the server's
    socket, or through PgBouncer in transaction pooling mode (its own socket)."""
    if request.param == "direct":
        yield over_socket(PG_URL), False
        return
    if PGBOUNCER_MISSING:
        if os.environ.get("FARMCHAT_REQUIRE_PGBOUNCER"):
            pytest.fail(PGBOUNCER_MISSING)
        pytest.skip(PGBOUNCER_MISSING)
    where = Path(tempfile.mkdtemp(prefix="farmchat-pgbouncer-socket-"))
    try:
        with running_pgbouncer(20, where) as port:
            yield over_socket(PG_URL, str(where), port), True
    finally:
        shutil.rmtree(where, ignore_errors=True)


async def test_three_hosts_share_the_load_and_survive_one_killed_mid_load(
    database, nlu_cache, real_nlu, tmp_path
):
    url = await fresh_postgres()
    hosts_url, pooled = database
    db, audience = await seed_audience(url)
    farmers, buyers = 24, 60
    # the fakes listen on every address of this namespace, for the hosts to reach
    fake, stalled = FakeTwilio(SID, TOKEN), FakeTwilio(SID, TOKEN)
    await fake.start("0.0.0.0")
    await stalled.start("0.0.0.0")
    stalled.hold_every(120)  # the doomed host's provider answers nothing from the start
    key = Fernet.generate_key().decode()
    with namespaces(3) as spaces:
        hosts = [Host(ns, tmp_path / f"host{n}.log") for n, ns in enumerate(spaces, 1)]

        def env(host: Host, provider: FakeTwilio) -> dict[str, str]:
            return server_env(
                hosts_url,
                nlu_cache,
                provider,
                FARMCHAT_SERVER__HOST=host.ns.inside,
                FARMCHAT_SERVER__PORT=str(PORT),
                FARMCHAT_SERVER__PUBLIC_URL=PUBLIC,
                FARMCHAT_TWILIO__API_BASE=provider.url.replace("0.0.0.0", host.ns.outside),
                FARMCHAT_METRICS__ACCESS="token",
                FARMCHAT_METRICS__TOKEN=METRICS_TOKEN,
                FARMCHAT_DASHBOARD__SESSION_KEY=key,
                FARMCHAT_BROADCAST__RATES='{"sms": 60}',
                FARMCHAT_BROADCAST__CLAIM_TIMEOUT_SECONDS=str(CLAIM_TIMEOUT),
                FARMCHAT_MARKET__SWEEP_INTERVAL_SECONDS="1",
                FARMCHAT_DATABASE__TRANSACTION_POOLING=str(pooled).lower(),
            )

        doomed, others = hosts[0], hosts[1:]
        try:
            await doomed.start(env(doomed, stalled))
            await until(doomed.leads, "the first host leading", 60)
            await asyncio.gather(*(h.start(env(h, fake)) for h in others))
            assert [await h.leads() for h in hosts] == [True, False, False]

            broadcast_id = await queue_broadcast(db)
            balancer = Balancer(hosts)
            replies: dict[str, str] = {}
            gate = asyncio.Semaphore(12)  # users writing at once
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:

                async def person(who: str, texts: list[str]) -> None:
                    async with gate:
                        for n, body in enumerate(texts):
                            sid = f"SM{who[1:]}{n:02d}".ljust(34, "0")
                            replies[sid] = await balancer.say(http, who, body, sid)

                await asyncio.gather(
                    *(
                        person(farmer(n), [f"sell {40 + n}kg {PRODUCTS[n % 5]} at {3 + n % 4}/kg"])
                        for n in range(farmers)
                    )
                )
                load = asyncio.gather(
                    *(
                        person(
                            buyer(n),
                            [f"buy 5 kg {PRODUCTS[n % 5]}", "1", f"{PRODUCTS[n % 5]} price?"],
                        )
                        for n in range(buyers)
                    )
                )
                await until(
                    lambda: _at_least(replies, farmers + buyers), "a third of the load answered"
                )
                assert not load.done(), "the load ended before the kill: nothing was tested"
                assert await doomed.stop(signal.SIGKILL) == -signal.SIGKILL
                cut_off = await in_flight(db)
                assert cut_off, "the killed host held no claimed row: nothing was tested"
                await asyncio.wait_for(load, 300)

            total = farmers + buyers * 3
            assert len(replies) == total and all(replies.values())
            assert balancer.resent > 0, "no request needed a second host"
            # another host leads, exactly one
            await until(lambda: _one_leader(others), "one surviving host leading", 60)
            assert sum([await h.leads() for h in others]) == 1
            # the dead host's claimed rows go out once their claim is stale
            await until(lambda: _status_is(db, broadcast_id, "done"), "the broadcast done", 240)
            outputs = "".join(h.output() for h in others)
            assert "cut off mid-send are sent again" in outputs

            async with db.uow() as uow:
                s = uow.session
                logged = (await s.execute(select(func.count()).select_from(InboundLog))).scalar()
                ids = (await s.execute(select(InboundLog.message_id))).scalars().all()
                sellers = Counter(
                    (
                        await s.execute(
                            select(User.address).join(Listing, Listing.farmer_id == User.id)
                        )
                    ).scalars()
                )
                orders = (
                    await s.execute(
                        select(User.address, Order.id).join(Order, Order.buyer_id == User.id)
                    )
                ).all()
                bc = await s.get(Broadcast, broadcast_id)
            assert logged == total and set(ids) == set(replies)  # each message recorded once
            assert sellers == Counter({farmer(n): 1 for n in range(farmers)})  # one listing each
            ordering = Counter(address for address, _ in orders)
            assert max(ordering.values()) == 1  # nobody's order was placed twice
            confirmed = {
                buyer(n)
                for n in range(buyers)
                if re.match(r"Order \S+:", replies[f"SM{buyer(n)[1:]}01".ljust(34, "0")])
            }
            assert set(ordering) == confirmed and len(confirmed) > buyers // 2
            # every farmer with an order is asked to accept it, once unless cut off mid-send
            await until(lambda: _asked_all(fake, len(orders)), "every farmer asked", 120)
            got = Counter((m["To"], m["Body"]) for m in fake.messages + stalled.messages)
            assert audience <= {to for to, _ in got}
            assert {to for (to, _), n in got.items() if n > 1} <= cut_off
            assert bc is not None
            assert bc.summary == {"sent": len(audience), "failed": 0, "skipped": 0}
            codes = [await h.stop(signal.SIGTERM) for h in others]
            assert codes == [0, 0], [h.output()[-3000:] for h in others]
        finally:
            for host in hosts:
                if host.proc is not None and host.proc.returncode is None:
                    host.proc.kill()
                    await host.proc.wait()
            await fake.stop()
            await stalled.stop()
            await db.close()
    assert not any("Traceback" in h.output() for h in others), [h.output() for h in others]


async def _at_least(replies: dict, n: int) -> bool:
    return len(replies) >= n


async def _one_leader(hosts: list[Host]) -> bool:
    return sum([await h.leads() for h in hosts]) == 1


async def _status_is(db: Database, broadcast_id: int, status: str) -> bool:
    async with db.uow() as uow:
        bc = await uow.session.get(Broadcast, broadcast_id)
        return bc is not None and bc.status == status


async def _asked_all(fake: FakeTwilio, orders: int) -> bool:
    asked = {m["Body"].split(":")[0] for m in fake.messages if m["Body"].startswith("New order")}
    return len(asked) >= orders
