"""deploy/nginx-farmchat.conf in Debian's nginx, with TLS, in front of `farmchat serve`:
Twilio's signatures over the https public URL, WeChat's encrypted pushes, what the proxy
refuses (loopback-only routes, big bodies, plain http) and what it passes on unchanged."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from twilio.request_validator import RequestValidator
from yarl import URL

from bot.app import MAX_BODY
from bot.channels.wechat.crypto import sign
from bot.fakes.twilio import inbound_fields, post_inbound
from bot.fakes.wechat import WeChatPusher
from tests.wechat_rig import ACCOUNT, APP_ID, KEY, TOKEN, wechat_env

NGINX = Path("/usr/sbin/nginx")
ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "deploy" / "nginx-farmchat.conf"
HOST = "farm.test"
FARMCHAT = [sys.executable, "-m", "bot.cli"]
AUTH, SID, NUMBER = "deploy-nginx-auth-token-0123456", "AC" + "5" * 32, "+15005550006"
FARMER, OPENID = "+8613800000051", "oDeployNginxFarmer00000000051"
NOWHERE = "http://127.0.0.1:9"  # the providers' APIs: nothing is sent in these tests

MISSING = (
    "" if NGINX.is_file() else f"Debian's nginx is not installed ({NGINX}; apt-get install nginx)"
)
if MISSING and not os.environ.get("FARMCHAT_REQUIRE_NGINX"):  # before a fixture trains the NLU
    pytest.skip(
        MISSING + " (FARMCHAT_REQUIRE_NGINX=1 makes this an error)", allow_module_level=True
    )


@pytest.fixture(scope="module", autouse=True)
def nginx_installed() -> None:
    """With FARMCHAT_REQUIRE_NGINX=1 (.ci/run sets it) a missing nginx fails every test here."""
    if MISSING:
        pytest.fail(MISSING)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


# certificates -----------------------------------------------------------------------------
def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_certificates(directory: Path) -> Path:
    """A CA and a certificate for farm.test and 127.0.0.1 signed by it, laid out as certbot
    does (fullchain.pem, privkey.pem); the CA's file, for the clients to trust."""
    directory.mkdir(parents=True)
    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("farmchat test CA"))
        .issuer_name(_name("farmchat test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    names = [x509.DNSName(HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(HOST))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (directory / "fullchain.pem").write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    (directory / "privkey.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    return directory / "ca.pem"


# nginx ------------------------------------------------------------------------------------
@dataclass
class Ports:
    tls: int
    http: int
    upstream: int


def site_for_test(directory: Path, ports: Ports) -> str:
    """The shipped site with its documented placeholders replaced; each must be there, so a
    changed site fails here rather than being tested in part."""
    text = SITE.read_text()
    swaps = [
        ("/etc/letsencrypt/live/farm.example.org/", f"{directory}/tls/"),
        ("farm.example.org", HOST),
        ("127.0.0.1:8080", f"127.0.0.1:{ports.upstream}"),
        ("listen [::]:443 ssl;", ""),
        ("listen 443 ssl;", f"listen 127.0.0.1:{ports.tls} ssl;"),
        ("listen [::]:80;", ""),
        ("listen 80;", f"listen 127.0.0.1:{ports.http};"),
        ("/var/log/nginx/", f"{directory}/logs/"),
    ]
    for old, new in swaps:
        assert old in text, f"{SITE.name} no longer has {old!r}: its placeholders changed"
        text = text.replace(old, new)
    return text


def temp_paths(directory: Path) -> str:
    """Every directory nginx writes into, inside the test's own (never /var/lib/nginx)."""
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    return "".join(f"    {kind}_temp_path {directory}/temp/{kind};\n" for kind in kinds)


def main_conf(directory: Path, site: Path) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers that may read the test's dir
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {directory}/nginx.pid;\n"
        f"error_log {directory}/logs/error.log notice;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n    access_log {directory}/logs/access.log;\n{temp_paths(directory)}"
        f"    include {site};\n}}\n"
    )


def nginx_command(directory: Path, conf: Path) -> list[str]:
    return [str(NGINX), "-p", str(directory), "-c", str(conf), "-e", f"{directory}/logs/early.log"]


@dataclass
class Proxy:
    """A running nginx with the shipped site, its ports and where it logs."""

    ports: Ports
    directory: Path
    ca: Path

    def https(self, path: str) -> str:
        return f"https://{HOST}:{self.ports.tls}{path}"

    def access_log(self) -> str:
        return (self.directory / "logs" / "farmchat.access.log").read_text()


@dataclass
class Running:
    proc: subprocess.Popen
    log: Path


def stop(running: Running, sig: signal.Signals) -> None:
    if running.proc.poll() is None:
        running.proc.send_signal(sig)
        try:
            running.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            running.proc.kill()
            running.proc.wait(timeout=10)


def start_nginx(directory: Path, upstream: int) -> tuple[Proxy, Running]:
    ca = make_certificates(directory / "tls")
    for sub in ("logs", "temp"):
        (directory / sub).mkdir()
    ports = Ports(tls=free_port(), http=free_port(), upstream=upstream)
    site, conf = directory / "farmchat-site.conf", directory / "nginx.conf"
    site.write_text(site_for_test(directory, ports))
    conf.write_text(main_conf(directory, site))
    checked = subprocess.run(
        [*nginx_command(directory, conf), "-t"], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
    log = directory / "logs" / "nginx.out"
    with log.open("wb") as out:
        proc = subprocess.Popen(nginx_command(directory, conf), stdout=out, stderr=out)
    running = Running(proc, log)
    for _ in range(200):  # bounded: nginx starts in milliseconds
        if listening(ports.tls) and listening(ports.http):
            return Proxy(ports, directory, ca), running
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    stop(running, signal.SIGTERM)
    errors = (directory / "logs" / "error.log").read_text()
    raise AssertionError(f"nginx did not start: {log.read_text()}{errors}")


# farmchat ---------------------------------------------------------------------------------
def start_farmchat(directory: Path, port: int, public_url: str, nlu_cache: str) -> Running:
    """`farmchat serve` in its own directory, Twilio and WeChat configured, on loopback."""
    directory.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FARMCHAT_CONFIG": str(ROOT / "config.yaml"),
        "FARMCHAT_DATABASE__URL": f"sqlite+aiosqlite:///{directory / 'farm.db'}",
        "FARMCHAT_NLU__CACHE_DIR": nlu_cache,
        "FARMCHAT_SERVER__PORT": str(port),
        "FARMCHAT_SERVER__PUBLIC_URL": public_url,
        "FARMCHAT_TWILIO__ACCOUNT_SID": SID,
        "FARMCHAT_TWILIO__AUTH_TOKEN": AUTH,
        "FARMCHAT_TWILIO__FROM_NUMBER": NUMBER,
        "FARMCHAT_TWILIO__API_BASE": NOWHERE,
        **wechat_env(NOWHERE),
    }
    log = directory / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*FARMCHAT, "serve"], cwd=directory, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    running = Running(proc, log)
    for _ in range(600):  # bounded: start-up with the NLU model cached, about a minute at most
        if listening(port):
            return running
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    stop(running, signal.SIGTERM)
    raise AssertionError(f"farmchat serve did not start: {log.read_text()}")


@dataclass
class Deployment:
    proxy: Proxy
    farmchat_port: int

    def direct(self, path: str) -> str:
        return f"http://127.0.0.1:{self.farmchat_port}{path}"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, nlu_cache, real_nlu) -> Iterator[Deployment]:
    """nginx with the shipped site in front of a real `farmchat serve`, whose
    server.public_url is the https address behind nginx."""
    directory = tmp_path_factory.mktemp("deploy-nginx")
    port = free_port()
    proxy, proxy_proc = start_nginx(directory / "nginx", port)
    try:
        public_url = f"https://{HOST}:{proxy.ports.tls}"
        farmchat = start_farmchat(directory / "farmchat", port, public_url, nlu_cache)
        try:
            yield Deployment(proxy, port)
        finally:
            stop(farmchat, signal.SIGTERM)
            print(farmchat.log.read_text()[-5000:])  # shown when a test fails
    finally:
        stop(proxy_proc, signal.SIGQUIT)  # nginx's graceful stop


# the client -------------------------------------------------------------------------------
class FarmResolver(AbstractResolver):
    """farm.test is 127.0.0.1: the certificate's name, SNI and Host, all on loopback."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in (HOST, "127.0.0.1"):
            raise OSError(f"{host} is not resolved in this test")
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        return None


@pytest.fixture
async def http(deployment: Deployment) -> AsyncIterator[aiohttp.ClientSession]:
    """A client that trusts only the test CA and knows farm.test."""
    context = ssl.create_default_context(cafile=str(deployment.proxy.ca))
    connector = aiohttp.TCPConnector(ssl=context, resolver=FarmResolver())
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        yield session


async def post_signed(
    http: aiohttp.ClientSession, url: URL, fields: dict[str, str], signed_url: str
) -> tuple[int, str]:
    """A form posted to exactly this URL (not requoted), signed as Twilio signs."""
    signature = RequestValidator(AUTH).compute_signature(signed_url, fields)
    headers = {"X-Twilio-Signature": signature}
    async with http.post(url, data=fields, headers=headers) as resp:
        return resp.status, await resp.text()


# Twilio -----------------------------------------------------------------------------------
async def test_a_signed_sms_over_tls_gets_its_reply_and_a_signature_over_http_does_not(
    deployment: Deployment, http: aiohttp.ClientSession
):
    url = deployment.proxy.https("/webhooks/twilio")
    for wrong in (
        url.replace("https://", "http://"),  # what Twilio would sign for an http:// webhook
        deployment.direct("/webhooks/twilio"),  # what farmchat sees on its own socket
    ):
        fields = inbound_fields(FARMER, NUMBER, "卖50斤苹果 三块五一斤")
        status, body = await post_inbound(http, url, AUTH, fields, signed_url=wrong)
        assert (status, body) == (403, "invalid signature")
    fields = inbound_fields(FARMER, NUMBER, "卖50斤苹果 三块五一斤")
    status, xml = await post_inbound(http, url, AUTH, fields)
    assert status == 200, xml
    assert xml.startswith("<?xml") and "<Message>已发布" in xml


async def test_a_status_callback_keeps_its_query_byte_for_byte(
    deployment: Deployment, http: aiohttp.ClientSession
):
    raw = deployment.proxy.https("/webhooks/twilio/status?ref=7&note=a%2Fb%20c%26d")
    fields = {
        "MessageSid": "SM" + "6" * 32,
        "MessageStatus": "delivered",
        "AccountSid": SID,
        "From": NUMBER,
        "To": FARMER,
        "ApiVersion": "2010-04-01",
    }
    # signed over the query as sent: a proxy that decoded or requoted it would break this
    status, xml = await post_signed(http, URL(raw, encoded=True), fields, raw)
    assert status == 200, xml
    assert "<Response" in xml and "<Message>" not in xml
    decoded = raw.replace("a%2Fb%20c%26d", "a/b%20c%26d")
    status, _ = await post_signed(http, URL(raw, encoded=True), fields, decoded)
    assert status == 403


async def test_a_body_over_farmchats_limit_is_refused_at_the_proxy(
    deployment: Deployment, http: aiohttp.ClientSession
):
    limit = re.search(r"client_max_body_size (\d+)k;", SITE.read_text())
    assert limit and int(limit.group(1)) * 1024 == MAX_BODY
    fields = inbound_fields(FARMER, NUMBER, "x" * (MAX_BODY + 1000))
    status, body = await post_inbound(
        http, deployment.proxy.https("/webhooks/twilio"), AUTH, fields
    )
    assert status == 413 and "nginx" in body


# WeChat -----------------------------------------------------------------------------------
async def test_a_wechat_safe_mode_push_gets_an_encrypted_reply(
    deployment: Deployment, http: aiohttp.ClientSession
):
    url = deployment.proxy.https("/webhooks/wechat")
    pusher = WeChatPusher(url, TOKEN, APP_ID, KEY, "safe", account=ACCOUNT, deliveries=1)
    delivery = await pusher.push(http, pusher.text(OPENID, "卖50斤苹果 三块五一斤"))
    assert delivery.statuses == [200], delivery.body
    assert "<Encrypt>" in delivery.body and OPENID not in delivery.body
    assert delivery.reply is not None  # decrypted, and its msg_signature checked
    assert delivery.reply["ToUserName"] == OPENID and delivery.reply["FromUserName"] == ACCOUNT
    assert delivery.reply["Content"].startswith("已发布")
    for _ in range(50):  # bounded: nginx writes the line as the request ends
        if "POST /webhooks/wechat" in deployment.proxy.access_log():
            break
        await asyncio.sleep(0.05)
    logged = deployment.proxy.access_log()
    assert "POST /webhooks/wechat HTTP/1.1" in logged
    assert OPENID not in logged and "signature" not in logged  # no query strings


async def test_the_wechat_verification_get_echoes_echostr(
    deployment: Deployment, http: aiohttp.ClientSession
):
    timestamp, nonce = str(int(time.time())), "1320562132"
    query = {"signature": sign(TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    url = deployment.proxy.https("/webhooks/wechat")
    async with http.get(url, params={**query, "echostr": "5927782489442352469"}) as resp:
        assert (resp.status, await resp.text()) == (200, "5927782489442352469")
    async with http.get(url, params={**query, "nonce": "1", "echostr": "1"}) as resp:
        assert resp.status == 403


# what the proxy refuses -------------------------------------------------------------------
async def test_metrics_and_model_parse_are_refused_through_the_proxy_and_served_directly(
    deployment: Deployment, http: aiohttp.ClientSession
):
    async with http.get(deployment.proxy.https("/livez")) as resp:
        assert resp.status == 200 and (await resp.json())["status"] == "alive"
        assert resp.headers["Server"] == "nginx"  # farmchat's Server header replaced
    for path in (
        "/metrics",
        "//metrics",
        "/metric%73",
        "/./metrics",
        "/metrics/",
        "/x/../metrics",
    ):
        async with http.get(URL(deployment.proxy.https(path), encoded=True)) as resp:
            assert (path, resp.status) == (path, 404)
            assert "farmchat" not in await resp.text()
    parse = {"text": "卖50斤苹果"}
    async with http.post(deployment.proxy.https("/model/parse"), json=parse) as resp:
        assert resp.status == 404
    async with http.get(deployment.direct("/metrics")) as resp:
        assert resp.status == 200 and "farmchat_" in await resp.text()
    async with http.post(deployment.direct("/model/parse"), json=parse) as resp:
        assert resp.status == 200 and (await resp.json())["intent"]["name"] == "sell"


async def test_plain_http_is_refused_on_the_tls_port_and_redirected_on_port_80(
    deployment: Deployment, http: aiohttp.ClientSession
):
    ports = deployment.proxy.ports
    async with http.get(f"http://{HOST}:{ports.tls}/livez") as resp:
        assert resp.status == 400 and "plain HTTP request" in await resp.text()
    plain = f"http://{HOST}:{ports.http}/webhooks/twilio?ref=7"
    async with http.post(plain, data={"Body": "x"}, allow_redirects=False) as resp:
        assert resp.status == 301
        assert resp.headers["Location"] == f"https://{HOST}/webhooks/twilio?ref=7"


# what the proxy passes on -----------------------------------------------------------------
async def test_the_request_reaches_the_upstream_as_sent_with_the_forwarding_headers(
    tmp_path: Path,
):
    seen: list[tuple[str, dict[str, str], bytes]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.raw_path, dict(request.headers), await request.read()))
        return web.Response(text="recorded")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    upstream = TestServer(app, host="127.0.0.1", port=free_port())
    await upstream.start_server()
    proxy, proxy_proc = start_nginx(tmp_path, upstream.port or 0)
    try:
        context = ssl.create_default_context(cafile=str(proxy.ca))
        connector = aiohttp.TCPConnector(ssl=context, resolver=FarmResolver())
        body = b"Body=%E5%8D%9650%E6%96%A4+apples&From=%2B8613800000051"
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": "c2lnbmF0dXJl",
            "I-Twilio-Idempotency-Token": "token-1",
            "X-Forwarded-For": "203.0.113.9",  # a client's claim, not the proxy's knowledge
        }
        path = "/webhooks/twilio/st%61tus?ref=7&note=a%2Fb%20c%26d&empty="  # kept as sent
        async with (
            aiohttp.ClientSession(connector=connector) as client,
            client.post(URL(proxy.https(path), encoded=True), data=body, headers=headers) as r,
        ):
            assert (r.status, await r.text()) == (200, "recorded")
    finally:
        stop(proxy_proc, signal.SIGQUIT)
        await upstream.close()
    [(raw_path, got, received)] = seen
    assert raw_path == path and received == body
    assert got["Host"] == HOST
    assert got["X-Forwarded-Proto"] == "https" and got["X-Forwarded-Host"] == HOST
    assert got["X-Forwarded-For"] == "127.0.0.1" and got["X-Real-IP"] == "127.0.0.1"
    assert got["X-Twilio-Signature"] == "c2lnbmF0dXJl"
    assert got["I-Twilio-Idempotency-Token"] == "token-1"
    assert got["Content-Length"] == str(len(body)) and "Transfer-Encoding" not in got
    assert got.get("Connection", "").lower() != "close"  # kept alive to the upstream


def test_the_site_loads_inside_debians_own_nginx_conf(tmp_path: Path):
    """Debian's /etc/nginx/nginx.conf sets http-level defaults of its own (ssl_protocols,
    gzip, an access log): the site must not repeat one of them."""
    debian = Path("/etc/nginx/nginx.conf")
    if not debian.is_file():
        message = f"{debian} is missing (Debian's nginx-common)"
        if os.environ.get("FARMCHAT_REQUIRE_NGINX"):
            pytest.fail(message)
        pytest.skip(message)
    make_certificates(tmp_path / "tls")
    for sub in ("logs", "temp"):
        (tmp_path / sub).mkdir()
    site = tmp_path / "farmchat-site.conf"
    site.write_text(site_for_test(tmp_path, Ports(free_port(), free_port(), free_port())))
    text = debian.read_text()
    assert "include /etc/nginx/sites-enabled/*;" in text
    text = text.replace("include /etc/nginx/sites-enabled/*;", f"include {site};")
    text = re.sub(r"^pid .*;$", f"pid {tmp_path}/nginx.pid;", text, flags=re.MULTILINE)
    text = text.replace("/var/log/nginx/", f"{tmp_path}/logs/")
    text = text.replace("http {", "http {\n" + temp_paths(tmp_path), 1)
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    checked = subprocess.run(
        [*nginx_command(tmp_path, conf), "-t"], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
    assert "[warn]" not in checked.stderr, checked.stderr
