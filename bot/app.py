"""The aiohttp application: routes in one place, every resource started and stopped with it."""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable

import aiohttp
from aiohttp import hdrs, web
from aiohttp.web_urldispatcher import AbstractRoute

from bot import channels, metrics
from bot.bootstrap import SERVICES, services
from bot.channels.base import Channel
from bot.config import ParseEndpointSettings, Settings
from bot.outbound.push import ChannelSenders, Sender
from bot.supervisor import background as background_work
from storage import stats

log = logging.getLogger(__name__)
WORKER = web.AppKey("worker", int)
ROUTE_CHANNEL = web.AppKey("route_channel", dict)
MAX_BODY = 64 * 1024  # no webhook or parse request is legitimately larger
SERVER = "farmchat"  # the Server header: no Python or aiohttp version for a scanner to match


async def livez(request: web.Request) -> web.Response:
    """Liveness: this process answers (nothing else is asked: a database that is down makes
    it not ready, not dead)."""
    return web.json_response({"status": "alive", "worker": request.app[WORKER]})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the database answers and its schema is this code's; 503 until both hold."""
    return await _readiness(request, detail=False)


async def healthz(request: web.Request) -> web.Response:
    """Readiness with the NLU's state (the parse cache, the model or the Rasa server)."""
    return await _readiness(request, detail=True)


async def _readiness(request: web.Request, detail: bool) -> web.Response:
    svc = request.app[SERVICES]
    found = await stats.readiness(svc.db)
    ready = found.database and found.migrations
    body: dict[str, object] = {
        "status": "ok" if ready else "unavailable",
        "database": svc.db.dialect,
        "database_reachable": found.database,
        "migrations": "current" if found.migrations else "behind",
        "revision": found.revision,
        "expected_revision": found.expected,
        "worker": request.app[WORKER],
    }
    if detail:
        body["nlu"] = svc.nlu.health() if hasattr(svc.nlu, "health") else {}
    return web.json_response(body, status=200 if ready else 503)


async def server_header(request: web.Request, response: web.StreamResponse) -> None:
    """Every response the app answers (404, 405 and errors too) names farmchat alone."""
    response.headers[hdrs.SERVER] = SERVER


class Buckets:
    """A token bucket per client key, the least recently seen forgotten past `size` clients.

    Written here: no runtime dependency keeps per-key buckets in memory."""

    def __init__(
        self,
        rate: float,
        burst: int,
        size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.rate, self.burst, self.size, self.clock = rate, burst, size, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def wait(self, key: str) -> float:
        """0, spending one request, when the client may go on; else the seconds until it may."""
        now = self.clock()
        tokens, then = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        allowed = tokens >= 1
        self._buckets[key] = (tokens - 1 if allowed else tokens, now)
        if len(self._buckets) > self.size:
            self._buckets.popitem(last=False)
        return 0.0 if allowed else (1 - tokens) / self.rate

    def __len__(self) -> int:
        return len(self._buckets)


def from_loopback(remote: str | None) -> bool:
    """Whether the peer is this host: 127.0.0.0/8, ::1 or ::ffff:127.x.y.z."""
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:  # a Unix socket, or no peer at all
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


BEARER = {"WWW-Authenticate": 'Bearer realm="farmchat"'}


class Gate:
    """Who may call a route: only this host (loopback), or whoever shows the bearer token."""

    def __init__(self, access: str, token: str, key: str):
        self.access, self.token, self.key = access, token.encode(), key  # key: its config

    def check(self, request: web.Request) -> None:
        if self.access == "loopback" and not from_loopback(request.remote):
            raise _refusal(web.HTTPForbidden, f"only served to this host ({self.key})")
        if self.access == "token" and not self.bearer(request.headers.get(hdrs.AUTHORIZATION)):
            raise _refusal(web.HTTPUnauthorized, "a bearer token is required", **BEARER)

    def bearer(self, header: str | None) -> bool:
        scheme, _, given = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("utf-8", "replace"), self.token
        )


METRICS_GATE = web.AppKey("metrics_gate", Gate)


async def metrics_view(request: web.Request) -> web.Response:
    """GET /metrics in Prometheus' text format (bot/metrics.py), to whom metrics.access lets."""
    request.app[METRICS_GATE].check(request)
    reader = request.app[SERVICES].db.reader()
    body, content_type = await metrics.exposition(reader, request.headers.get(hdrs.ACCEPT, ""))
    return web.Response(body=body, headers={hdrs.CONTENT_TYPE: content_type})


def _refusal(cls: type[web.HTTPException], error: str, **headers: str) -> web.HTTPException:
    return cls(text=json.dumps({"error": error}), content_type="application/json", headers=headers)


class ParseGate(Gate):
    """Who may call /model/parse and how often (nlu.parse_endpoint), before the body is read.

    The client is request.remote, the peer of the connection: behind a reverse proxy that is
    the proxy, so every caller through it shares one address and one bucket."""

    def __init__(self, settings: ParseEndpointSettings):
        super().__init__(settings.access, settings.token, "nlu.parse_endpoint")
        rate = settings.rate_per_second
        self.buckets = Buckets(rate, settings.burst) if rate > 0 else None

    def check(self, request: web.Request) -> None:
        super().check(request)
        wait = self.buckets.wait(request.remote or "") if self.buckets is not None else 0
        if wait:
            raise _refusal(
                web.HTTPTooManyRequests, "too many requests", **{"Retry-After": _seconds(wait)}
            )


PARSE_GATE = web.AppKey("parse_gate", ParseGate)


def _seconds(wait: float) -> str:
    """Retry-After in whole seconds (RFC 9110 10.2.3), never 0 while still refused."""
    return str(max(1, math.ceil(wait)))


async def model_parse(request: web.Request) -> web.Response:
    """Rasa's POST /model/parse: {"text": ...} → the parse with canonical entity values."""
    request.app[PARSE_GATE].check(request)
    raw = await request.read()
    try:
        # ValueError: not JSON, not UTF-8, or an integer past int()'s digit limit;
        # RecursionError: arrays or objects nested deeper than the parser goes
        body = json.loads(raw or b"null")
    except (ValueError, RecursionError):
        raise web.HTTPBadRequest(
            text='{"error": "body must be JSON"}', content_type="application/json"
        ) from None
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not _encodable(text):
        raise web.HTTPBadRequest(
            text='{"error": "expected {\\"text\\": \\"...\\"}"}', content_type="application/json"
        )
    nlu = request.app[SERVICES].nlu
    return web.json_response(await nlu.aparse(text))


def _encodable(text: str) -> bool:
    """Whether the text is one UTF-8 can carry (JSON's "\\ud800" escapes a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def forwarded_client(proxies: list[str]):
    """A middleware: for a request from a trusted proxy (server.trusted_proxies), the client
    its X-Real-IP header names (else the last X-Forwarded-For entry, the address the proxy
    saw) stands in request.remote, for every check that counts or trusts a client."""
    networks = [ipaddress.ip_network(p, strict=False) for p in proxies]

    def trusted(address: str | None) -> bool:
        try:
            peer = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped:
            peer = peer.ipv4_mapped
        return any(peer in net for net in networks)

    @web.middleware
    async def middleware(request: web.Request, handler):
        if not trusted(request.remote):
            return await handler(request)
        named = (
            request.headers.get("X-Real-IP")
            or request.headers.get(hdrs.X_FORWARDED_FOR, "").rsplit(",", 1)[-1]
        )
        try:
            client = str(ipaddress.ip_address(named.strip()))
        except ValueError:
            return await handler(request)  # no client named: the proxy itself
        return await handler(request.clone(remote=client))

    return middleware


@web.middleware
async def channel_errors(request: web.Request, handler):
    """The one error boundary for providers: the channel that owns the route says what its
    provider gets instead of a 500 (ARCHITECTURE #10). It times each webhook's answer and
    counts the refused ones by reason (metrics)."""
    channel = request.app[ROUTE_CHANNEL].get(request.match_info.route)
    if channel is None:
        return await handler(request)
    started = time.perf_counter()
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if 400 <= exc.status < 500:
            metrics.rejected(channel.name, request.get(metrics.REASON) or _reason(exc.status))
        raise
    except Exception as exc:
        metrics.database_error("webhook", exc)
        log.exception("%s webhook failed", channel.name)
        return channel.failure(request)
    finally:
        metrics.reply_seconds(channel.name, time.perf_counter() - started)


def _reason(status: int) -> str:
    return {403: "signature", 413: "size"}.get(status, "malformed")


def channel_senders(channels: list[Channel], session: aiohttp.ClientSession) -> ChannelSenders:
    """One sender per user channel of the configured channels; pushes to others fail and are
    recorded."""
    senders: dict[str, Sender] = {}
    for channel in channels:
        senders.update(channel.senders(session))
    return ChannelSenders(senders)


def create_app(
    settings: Settings,
    sender: Sender | None = None,
    nlu=None,
    background: bool = True,
    worker: int = 0,
) -> web.Application:
    middlewares = [channel_errors]
    if settings.server.trusted_proxies:
        middlewares.insert(0, forwarded_client(settings.server.trusted_proxies))
    app = web.Application(client_max_size=MAX_BODY, middlewares=middlewares)
    app.on_response_prepare.append(server_header)
    app[WORKER] = worker
    serving = channels.enabled(settings)

    async def lifecycle(app: web.Application):
        timeout = aiohttp.ClientTimeout(total=30)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            services(
                settings,
                sender=sender or channel_senders(serving, session),
                nlu=nlu,
                background_push=True,
            ) as svc,
        ):
            app[SERVICES] = svc
            for channel in serving:
                await channel.start(svc)
            if background:
                async with background_work(svc):
                    yield
            else:
                yield
            for channel in serving:
                await channel.stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    if settings.metrics.access != "off":
        app[METRICS_GATE] = Gate(settings.metrics.access, settings.metrics.token, "metrics")
        app.router.add_get("/metrics", metrics_view)
    if settings.nlu.parse_endpoint.access != "off":
        app[PARSE_GATE] = ParseGate(settings.nlu.parse_endpoint)
        app.router.add_post("/model/parse", model_parse)
    owners: dict[AbstractRoute, Channel] = {}
    for channel in serving:
        for route in channel.routes():
            owners.update(dict.fromkeys(route.register(app.router), channel))
    app[ROUTE_CHANNEL] = owners
    if settings.dashboard.enabled:
        from bot.web import routes as dashboard  # jinja2 and the pages load only when served

        dashboard.setup(app, settings)
    return app
