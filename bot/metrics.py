"""Prometheus metrics (prometheus-client): what farmchat counts, and GET /metrics.

Counters and histograms are kept by the process that does the work. With `server.workers`
above 1 the supervisor gives every worker the same PROMETHEUS_MULTIPROC_DIR before it starts,
each worker writes its numbers there, and /metrics answers the sum over all of them (alive or
ended) from whichever worker takes the scrape: prometheus-client's multiprocess mode. What the
database holds (the outbox by channel and status, broadcasts under way) is read at the scrape.
"""

from __future__ import annotations

import os
from contextlib import AbstractAsyncContextManager

if _numbers := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # multiprocess mode: files there
    os.makedirs(_numbers, exist_ok=True)  # before any metric is made

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from storage import stats
from storage.uow import UnitOfWork

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
REASON = "farmchat.rejected"  # request key: why an adapter refused it, when its status is vague

INBOUND = Counter(
    "farmchat_inbound_messages",
    "Messages taken from users, by channel and the intent they were read as.",
    ["channel", "intent"],
)
REPLY_SECONDS = Histogram(
    "farmchat_reply_seconds",
    "Seconds from taking a webhook request to its answer, by channel.",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REJECTIONS = Counter(
    "farmchat_webhook_rejections",
    "Webhook requests refused, by channel and reason (signature, size, xml, malformed).",
    ["channel", "reason"],
)
FALLBACKS = Counter(
    "farmchat_nlu_fallbacks",
    "Messages the NLU could not read as any intent, by channel.",
    ["channel"],
)
STATEMENTS = Counter(
    "farmchat_database_statements",
    "SQL statements this process ran on the database (on PostgreSQL a round trip each, "
    "besides a transaction's BEGIN and COMMIT).",
)
COMMITS = Counter(
    "farmchat_database_commits",
    "Transactions this process committed on the database.",
)
PARSE_CACHE = Counter(
    "farmchat_nlu_parse_cache",
    "Parses of the built-in NLU, by result: hit (from the parse cache) or miss.",
    ["result"],
)
SENDS = Counter(
    "farmchat_sends",
    "Messages pushed to a provider, by channel, result (sent, retry, failed, deferred, "
    "released) and the provider's error code.",
    ["channel", "result", "error_code"],
)
DATABASE_ERRORS = Counter(
    "farmchat_database_errors",
    "Errors the database raised, by where they were met.",
    ["where"],
)
LEADER = Gauge(
    "farmchat_scheduler_leader",
    "1 in the process that runs the scheduler (summed over the live workers: 1 when all is well).",
    multiprocess_mode="livesum",
)

OUTCOMES = {"pending": "retry"}  # an outcome's status as a send result


def reply_seconds(channel: str, seconds: float) -> None:
    REPLY_SECONDS.labels(channel).observe(seconds)


def rejected(channel: str, reason: str) -> None:
    REJECTIONS.labels(channel, reason).inc()


def inbound(channel: str, intent: str, fallback: bool) -> None:
    INBOUND.labels(channel, intent).inc()
    if fallback:
        FALLBACKS.labels(channel).inc()


def sent(channel: str, status: str, code: int | None) -> None:
    SENDS.labels(channel, OUTCOMES.get(status, status), "" if code is None else str(code)).inc()


def database_error(where: str, exc: BaseException) -> None:
    if stats.is_database_error(exc):
        DATABASE_ERRORS.labels(where).inc()


class ParseCacheWatch:
    """The built-in NLU's parse-cache hits and misses, counted as they grow (the NLU keeps
    its own totals; other backends have none)."""

    def __init__(self, nlu: object):
        health = getattr(nlu, "health", None)
        self._nlu = nlu if health is not None and "parse_cache" in health() else None
        self._hits = self._misses = 0

    def update(self) -> None:
        if self._nlu is None:
            return
        cache = self._nlu.health()["parse_cache"]  # type: ignore[attr-defined]
        hits, misses = int(cache["hits"]), int(cache["misses"])
        if hits > self._hits:
            PARSE_CACHE.labels("hit").inc(hits - self._hits)
        if misses > self._misses:
            PARSE_CACHE.labels("miss").inc(misses - self._misses)
        self._hits, self._misses = hits, misses


class _Snapshot(Collector):
    """What the database held at the scrape, as gauges."""

    def __init__(self, snap: stats.Snapshot):
        self.snap = snap

    def collect(self):
        outbox = GaugeMetricFamily(
            "farmchat_outbox_rows",
            "Outbox rows by channel and status.",
            labels=["channel", "status"],
        )
        for box in self.snap.outbox:
            outbox.add_metric([box.channel, box.status], box.rows)
        yield outbox
        broadcasts = GaugeMetricFamily(
            "farmchat_broadcasts", "Broadcasts by status.", labels=["status"]
        )
        for status, n in sorted(self.snap.broadcasts_by_status.items()):
            broadcasts.add_metric([status], n)
        yield broadcasts
        progress = GaugeMetricFamily(
            "farmchat_broadcast_recipients",
            "Recipients of each broadcast under way, by the status of their message.",
            labels=["broadcast", "kind", "status"],
        )
        for row in self.snap.broadcasts:
            progress.add_metric([str(row.broadcast_id), row.kind, row.status], row.rows)
        yield progress


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


async def exposition(
    reader: AbstractAsyncContextManager[UnitOfWork], accept: str = ""
) -> tuple[bytes, str]:
    """(body, content type) of GET /metrics in the format the scraper accepts (Prometheus
    text, or OpenMetrics), the database read through reader (Database.reader()'s unit of
    work)."""
    async with reader as uow:
        snap = await stats.snapshot(uow)
    registry = CollectorRegistry(auto_describe=True)
    if multiprocess_dir() is None:
        registry.register(_ThisProcess())
    else:
        multiprocess.MultiProcessCollector(registry)
    registry.register(_Snapshot(snap))
    encode, content_type = choose_encoder(accept)
    return encode(registry), content_type


class _ThisProcess(Collector):
    """The default registry's metrics (this process's, and its CPU and memory)."""

    def collect(self):
        yield from REGISTRY.collect()
