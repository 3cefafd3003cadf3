"""A local fake WeChat, for tests and demos: the outbound API and a pusher that acts as WeChat.

FakeWeChat serves stable_token/token, custom send, template send and menu create on
loopback, checks the token as WeChat does, records what it got and can be told to fail
(an expired token, 45015, 43004, 45047, 45009, slowness). WeChatPusher pushes signed
(and in safe/compatible mode encrypted) messages to a farmchat webhook, waiting 5 s and
delivering three times in all, as WeChat does (CHANNELS.md A3, A5).

    farmchat fake-wechat serve --port 8090
    farmchat fake-wechat send --url http://127.0.0.1:8080/webhooks/wechat \\
        --from oUser1 卖50斤苹果3块一斤
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from bot.channels.wechat.crypto import WeChatCrypto, sign
from bot.channels.wechat.payload import new_nonce, parse, render
from bot.fakes.ready import NotReady, add_wait_option, wait_ready

ERRMSG = {
    0: "ok",
    40001: "invalid credential, access_token is invalid or not latest",
    40013: "invalid appid",
    40014: "invalid access_token",
    40125: "invalid appsecret",
    41001: "access_token missing",
    42001: "access_token expired",
    43004: "require subscribe",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    47001: "data format error",
    -1: "system error",
}


def answer(code: int, **extra) -> web.Response:
    return web.json_response({"errcode": code, "errmsg": ERRMSG.get(code, "error"), **extra})


class FakeWeChat:
    """WeChat's API on loopback; `async with FakeWeChat(app_id, secret) as fake:`."""

    def __init__(self, app_id: str, app_secret: str, token_lifetime: int = 7200):
        self.app_id, self.app_secret, self.lifetime = app_id, app_secret, token_lifetime
        self.tokens: dict[str, float] = {}  # token -> expiry (monotonic); the last is current
        self.token_requests: list[dict] = []
        self.custom: list[dict] = []  # accepted customer-service messages
        self.templates: list[dict] = []  # accepted template messages (with their msgid)
        self.menus: list[dict] = []
        self.calls: list[tuple[str, int]] = []  # (api, errcode) for every send attempt
        self.on_message: Callable[[str, dict], None] | None = None
        self._fail: dict[str, list[int]] = {}
        self._fail_to: dict[str, int] = {}
        self._slow = 0.0
        self.url = ""
        self._runner: web.AppRunner | None = None
        self.app = web.Application()
        self.app.router.add_post("/cgi-bin/stable_token", self.stable_token)
        self.app.router.add_get("/cgi-bin/token", self.classic_token)
        self.app.router.add_post("/cgi-bin/message/custom/send", self.api("custom", self._custom))
        self.app.router.add_post(
            "/cgi-bin/message/template/send", self.api("template", self._template)
        )
        self.app.router.add_post("/cgi-bin/menu/create", self.api("menu", self._menu))

    # control ----------------------------------------------------------------------------
    def fail_next(self, api: str, code: int, times: int = 1) -> None:
        """The next `times` calls to api (custom, template, menu, token) answer errcode `code`."""
        self._fail.setdefault(api, []).extend([code] * times)

    def fail_to(self, openid: str, code: int) -> None:
        """Every custom and template send to openid answers `code` (43004: not following)."""
        self._fail_to[openid] = code

    def expire_tokens(self) -> None:
        """Every token issued so far is expired (42001); stable_token then issues a new one."""
        self.tokens = dict.fromkeys(self.tokens, 0.0)

    def slow_next(self, seconds: float) -> None:
        self._slow = seconds

    @property
    def current_token(self) -> str | None:
        live = [t for t, until in self.tokens.items() if until > time.monotonic()]
        return live[-1] if live else None

    # lifecycle --------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.url = f"http://{host}:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeWeChat:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # tokens -----------------------------------------------------------------------------
    async def stable_token(self, request: web.Request) -> web.Response:
        """Normal mode returns the current token while it is valid; force_refresh replaces it."""
        body = await request.json()
        self.token_requests.append(body)
        if self._fail.get("token"):
            return answer(self._fail["token"].pop(0))
        if body.get("appid") != self.app_id:
            return answer(40013)
        if body.get("secret") != self.app_secret:
            return answer(40125)
        token = self.current_token
        if token is None or body.get("force_refresh"):
            token = self._issue()
        return web.json_response(
            {"access_token": token, "expires_in": int(self.tokens[token] - time.monotonic())}
        )

    async def classic_token(self, request: web.Request) -> web.Response:
        """/cgi-bin/token: a new token every time (it invalidates the previous one)."""
        q = request.query
        if (q.get("appid"), q.get("secret")) != (self.app_id, self.app_secret):
            return answer(40125)
        self.tokens = {t: min(until, time.monotonic() + 300) for t, until in self.tokens.items()}
        token = self._issue()
        return web.json_response({"access_token": token, "expires_in": self.lifetime})

    def _issue(self) -> str:
        token = secrets.token_urlsafe(96)
        self.tokens[token] = time.monotonic() + self.lifetime
        return token

    def _token_error(self, token: str | None) -> int:
        if not token:
            return 41001
        if token not in self.tokens:
            return 40014
        return 42001 if self.tokens[token] <= time.monotonic() else 0

    # APIs that need the token -----------------------------------------------------------
    def api(self, name: str, accept: Callable[[dict], web.Response]):
        async def handler(request: web.Request) -> web.Response:
            if self._slow:
                slow, self._slow = self._slow, 0.0
                await asyncio.sleep(slow)
            body = await request.json()
            code = self._token_error(request.query.get("access_token"))
            if not code and self._fail.get(name):
                code = self._fail[name].pop(0)
            code = code or self._fail_to.get(body.get("touser", ""), 0)
            self.calls.append((name, code))
            return answer(code) if code else accept(body)

        return handler

    def _custom(self, body: dict) -> web.Response:
        if (
            body.get("msgtype") != "text"
            or not body.get("text", {}).get("content")
            or not body.get("touser")
        ):
            return answer(47001)
        self.custom.append(body)
        if self.on_message:
            self.on_message("custom", body)
        return answer(0)

    def _template(self, body: dict) -> web.Response:
        if (
            not body.get("template_id")
            or not body.get("touser")
            or not isinstance(body.get("data"), dict)
        ):
            return answer(47001)
        msgid = secrets.randbelow(10**18)
        self.templates.append({**body, "msgid": msgid})
        if self.on_message:
            self.on_message("template", body)
        return answer(0, msgid=msgid)

    def _menu(self, body: dict) -> web.Response:
        if not isinstance(body.get("button"), list) or not 1 <= len(body["button"]) <= 3:
            return answer(47001)
        self.menus.append(body)
        return answer(0)

    def texts_to(self, openid: str) -> list[str]:
        """What the user would read: customer-service texts and template messages, in order."""
        sent = [(b["text"]["content"]) for b in self.custom if b["touser"] == openid]
        return sent + [
            " / ".join(v["value"] for v in t["data"].values())
            for t in self.templates
            if t["touser"] == openid
        ]


# -------------------------------------------------------------------------------------------
@dataclass
class Delivery:
    """What one push came to: the HTTP answers of every delivery and the reply it carried."""

    statuses: list[int | None] = field(default_factory=list)  # None: gave up waiting
    body: str = ""
    reply: dict | None = None  # the passive reply's fields (decrypted), None for success/empty

    @property
    def status(self) -> int | None:
        return self.statuses[-1] if self.statuses else None


class WeChatPusher:
    """Pushes to a webhook as WeChat does: signed, encrypted per mode, 5 s timeout,
    3 deliveries."""

    def __init__(
        self,
        url: str,
        token: str,
        app_id: str,
        encoding_aes_key: str = "",
        mode: str = "safe",
        account: str = "gh_0123456789ab",
        timeout: float = 5.0,
        deliveries: int = 3,
    ):
        self.url, self.token, self.mode, self.account = url, token, mode, account
        self.timeout, self.deliveries = timeout, deliveries
        self.crypto = WeChatCrypto(token, app_id, [encoding_aes_key] if encoding_aes_key else [])

    def text(
        self, openid: str, content: str, msg_id: int | None = None
    ) -> list[tuple[str, str | int]]:
        return self.message(
            openid, "text", Content=content, MsgId=msg_id or secrets.randbelow(2**63)
        )

    def event(
        self, openid: str, event: str, key: str | None = None, **extra
    ) -> list[tuple[str, str | int]]:
        fields = [("Event", event)] + ([("EventKey", key)] if key is not None else [])
        return self._base(openid, "event") + fields + list(extra.items())

    def message(self, openid: str, kind: str, **extra) -> list[tuple[str, str | int]]:
        return self._base(openid, kind) + list(extra.items())

    def _base(self, openid: str, kind: str) -> list[tuple[str, str | int]]:
        return [
            ("ToUserName", self.account),
            ("FromUserName", openid),
            ("CreateTime", int(time.time())),
            ("MsgType", kind),
        ]

    def request(self, fields: list[tuple[str, str | int]]) -> tuple[dict, str]:
        """(query, body) of one push: the plaintext XML, or the envelope for the mode."""
        timestamp, nonce = str(int(time.time())), new_nonce()
        query = {
            "signature": sign(self.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
        }
        xml = render(fields)
        if self.mode == "plaintext":
            return query, xml
        encrypt, msg_signature = self.crypto.encrypt(xml, 0, timestamp, nonce)
        openid = str(dict(fields)["FromUserName"])
        query.update(openid=openid, encrypt_type="aes", msg_signature=msg_signature)
        outer = fields if self.mode == "compatible" else [("ToUserName", self.account)]
        return query, render([*outer, ("Encrypt", encrypt)])

    async def push(
        self, session: aiohttp.ClientSession, fields: list[tuple[str, str | int]]
    ) -> Delivery:
        """Deliver until an answer arrives within the timeout, at most `deliveries` times."""
        query, body = self.request(fields)
        delivery = Delivery()
        for _ in range(self.deliveries):
            try:
                async with asyncio.timeout(self.timeout):
                    async with session.post(
                        self.url,
                        params=query,
                        data=body.encode(),
                        headers={"Content-Type": "text/xml"},
                    ) as resp:
                        delivery.statuses.append(resp.status)
                        delivery.body = await resp.text()
                break
            except TimeoutError:
                delivery.statuses.append(None)
        if delivery.status == 200:
            delivery.reply = self.open_reply(delivery.body)
        return delivery

    def open_reply(self, body: str) -> dict | None:
        """The reply's fields: decrypted (and its signature checked) when it is an envelope."""
        if body.strip() in ("", "success"):
            return None
        fields = parse(body)
        if "Encrypt" not in fields:
            return fields
        xml, _ = self.crypto.decrypt(
            fields["Encrypt"], fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"]
        )
        return parse(xml)


# -------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="farmchat fake-wechat", description="A local fake WeChat")
    sub = p.add_subparsers(dest="action", required=True)
    serve = sub.add_parser("serve", help="serve the outbound API (token, custom, template, menu)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8090)
    send = sub.add_parser(
        "send", help="push one text message to a farmchat webhook, print the reply"
    )
    send.add_argument("--url", default="http://127.0.0.1:8080/webhooks/wechat")
    send.add_argument("--from", dest="openid", default="oFakeUser000000000000000001")
    send.add_argument("--mode", choices=["plaintext", "compatible", "safe"], default="safe")
    add_wait_option(send)
    send.add_argument("text", nargs="+", help="the messages, sent one after the other")
    for cmd in (serve, send):
        cmd.add_argument(
            "--app-id", default=os.environ.get("FARMCHAT_WECHAT__APP_ID", "wx0000000000000000")
        )
    serve.add_argument(
        "--app-secret", default=os.environ.get("FARMCHAT_WECHAT__APP_SECRET", "fake-app-secret")
    )
    send.add_argument("--token", default=os.environ.get("FARMCHAT_WECHAT__TOKEN", "faketoken"))
    send.add_argument("--aes-key", default=os.environ.get("FARMCHAT_WECHAT__ENCODING_AES_KEY", ""))
    return p


async def _serve(args) -> None:
    fake = FakeWeChat(args.app_id, args.app_secret)
    fake.on_message = lambda api, b: print(
        f"{api} → {b['touser']}: {b.get('text', b.get('data'))}", flush=True
    )
    print(
        f"fake WeChat API on {await fake.start(args.host, args.port)} (AppID {args.app_id})",
        flush=True,
    )
    try:
        await asyncio.Event().wait()  # until Ctrl-C
    finally:
        await fake.stop()


async def _send(args) -> int:
    pusher = WeChatPusher(args.url, args.token, args.app_id, args.aes_key, args.mode)
    async with aiohttp.ClientSession() as session:
        try:
            await wait_ready(session, args.url, args.wait)
        except NotReady as exc:
            print(f"farmchat fake-wechat send: {exc}", file=sys.stderr)
            return 1
        for text in args.text:
            delivery = await pusher.push(session, pusher.text(args.openid, text))
            if delivery.status != 200:
                print(f"HTTP {delivery.status}: {delivery.body}")
                return 1
            print(
                delivery.reply["Content"]
                if delivery.reply
                else "(success: the reply comes by customer-service message)",
                flush=True,
            )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.action == "send":
        return asyncio.run(_send(args))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
