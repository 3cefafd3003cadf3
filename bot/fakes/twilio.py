"""A local fake of Twilio's Messages API and status callbacks, for tests and demos.

It checks what Twilio checks (Basic auth, account, To, From or MessagingServiceSid, Body,
E.164), answers in the shape of the official OpenAPI spec (`api.v2010.account.message`),
signs its status callbacks as Twilio does, records everything, and can be told to fail
(429, 21610, a hang, an undelivered message). CHANNELS.md B5/B6.

    python -m bot.fakes.twilio --port 8089 --account-sid AC... --auth-token ...
    python -m bot.fakes.twilio send --auth-token ... --from +8613800000001 "sell 50kg apples"
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import re
import secrets
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import aiohttp
import phonenumbers
from aiohttp import web
from defusedxml import ElementTree
from twilio.request_validator import RequestValidator

from bot.fakes.ready import NotReady, add_wait_option, wait_ready
from handlers.segments import segments

API_VERSION = "2010-04-01"
MESSAGES_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# code -> (HTTP status, message), as Twilio answers them: https://www.twilio.com/docs/api/errors
ERRORS = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
    20503: (503, "Service Unavailable"),
    21211: (400, "Invalid 'To' Phone Number"),
    21603: (400, "A 'From' phone number is required"),
    21604: (400, "A 'To' phone number is required"),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21611: (400, "This 'From' number has exceeded the maximum number of queued messages"),
    21614: (400, "'To' number is not a valid mobile number"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit"),
    21619: (400, "A text message body or media urls must be specified"),
    30001: (400, "Queue overflow"),
    63016: (
        400,
        "Failed to send freeform message because you are outside the allowed window. "
        "If you want to send messages outside this window, please use a Template.",
    ),
}
DELIVERED = ("sent", "delivered")  # no callback for the initial queued/accepted status


def error_body(code: int) -> dict:
    """Twilio's JSON error body; codes not in ERRORS answer 400."""
    status, message = ERRORS.get(code, (400, f"Error {code}"))
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def now_rfc2822() -> str:
    return format_datetime(datetime.now(UTC))  # "Thu, 24 Aug 2023 05:01:45 +0000"


class FakeTwilio:
    """Twilio's Messages.json on loopback; `async with FakeTwilio(sid, token) as fake:`."""

    def __init__(self, account_sid: str, auth_token: str, *, callback_delay: float = 0.0):
        self.account_sid, self.auth_token, self.callback_delay = (
            account_sid,
            auth_token,
            callback_delay,
        )
        self.messages: list[dict] = []  # accepted: form fields (MediaUrl a list) + sid + status
        self._by_sid: dict[str, dict] = {}  # the same messages by sid (callbacks look them up)
        self.attempts: list[dict] = []  # every create: form pairs, headers, status, response
        self.callbacks_sent: list[dict] = []  # fields + url + http_status (None if unreachable)
        self.on_message: Callable[[dict], None] | None = None
        self.url = ""
        self._fail: list[int] = []
        self._fail_to: dict[str, int] = {}
        self._outcome: dict[str, tuple[tuple[str, ...], int | None]] = {}
        self._hang = 0.0
        self._hold = 0.0
        self.early_callbacks = False  # True: the "sent" callback is posted before the 201 answer
        self._closing = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.app = web.Application()
        self.app.router.add_post(MESSAGES_PATH, self.create)
        self.app.on_shutdown.append(self._on_shutdown)
        self.app.on_cleanup.append(self._on_cleanup)

    # control --------------------------------------------------------------------------
    def fail_next(self, code: int, times: int = 1) -> None:
        """The next `times` creates fail with Twilio error `code` (after auth, before checks)."""
        self._fail += [code] * times

    def fail_to(self, number: str, code: int) -> None:
        """Every create to `number` (with or without whatsapp:) fails with `code`."""
        self._fail_to[_bare(number)] = code

    def fail_delivery_to(
        self, number: str, code: int = 30003, status: str = "undelivered"
    ) -> None:
        """Creates to `number` succeed; callbacks then end in `status` with ErrorCode `code`."""
        steps = ("failed",) if status == "failed" else ("sent", status)
        self._outcome[_bare(number)] = (steps, code)

    def hang_next(self, seconds: float) -> None:
        """The next create waits `seconds` before answering (it is still processed then)."""
        self._hang = seconds

    def hold_every(self, seconds: float) -> None:
        """Every create from now on waits `seconds` before answering (0: none): a provider
        that has stopped answering, as a network partition looks to its sender."""
        self._hold = seconds

    # lifecycle ------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 picks a free port); return the base URL."""
        self._closing.clear()
        self._runner = web.AppRunner(self.app, shutdown_timeout=2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.url = f"http://{host}:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        self._closing.set()
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTwilio:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def _on_shutdown(self, app: web.Application) -> None:
        self._closing.set()  # end any hang now instead of holding shutdown

    async def _on_cleanup(self, app: web.Application) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session:
            await self._session.close()
            self._session = None

    # the Messages API -----------------------------------------------------------------
    async def create(self, request: web.Request) -> web.Response:
        form = await request.post()
        attempt: dict[str, Any] = {
            "path": request.path,
            "form": list(form.items()),
            "headers": dict(request.headers),
        }
        self.attempts.append(attempt)
        if self._hang or self._hold:
            hang, self._hang = self._hang or self._hold, 0.0
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closing.wait(), hang)
        code = self._refusal(request, form)
        body = error_body(code) if code else self._accept(form, request.path)
        attempt.update(status=body["status"] if code else 201, response=body)
        if not code and self.early_callbacks and form.get("StatusCallback"):
            await self.send_status(body["sid"], "sent")  # Twilio does not promise the order
        headers = {"Twilio-Request-Id": "RQ" + secrets.token_hex(16)}
        if code == 20003:
            headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
        return web.json_response(body, status=attempt["status"], headers=headers)

    def _refusal(self, request: web.Request, form) -> int | None:
        """The Twilio error code this create gets, in Twilio's order; None to accept."""
        if not self._authorized(request.headers.get("Authorization", "")):
            return 20003
        if request.match_info["AccountSid"] != self.account_sid:
            return 20404
        if self._fail:
            return self._fail.pop(0)
        to = form.get("To", "")
        if not to:
            return 21604
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return 21603
        if not (form.get("Body") or form.get("MediaUrl") or form.get("ContentSid")):
            return 21619
        if len(form.get("Body", "")) > 1600:
            return 21617
        if not E164.match(_bare(to)):
            return 21211
        return self._fail_to.get(_bare(to))

    def _authorized(self, header: str) -> bool:
        expected = (
            "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        )
        return secrets.compare_digest(header.encode(), expected.encode())

    def _accept(self, form, path: str) -> dict:
        media, body, service = (
            form.getall("MediaUrl", []),
            form.get("Body", ""),
            form.get("MessagingServiceSid"),
        )
        sid = ("MM" if media else "SM") + secrets.token_hex(16)
        base, now = path.removesuffix(".json"), now_rfc2822()
        resource = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": service,
            "num_media": str(len(media)),
            # with a Messaging Service no sender is chosen yet, so 0 segments (spec, num_segments)
            "num_segments": "0" if service else str(segments(body) or 1),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {"media": f"{base}/{sid}/Media.json"},
            "to": form["To"],
            "uri": f"{base}/{sid}.json",
        }
        message = {**dict(form), "sid": sid, "status": resource["status"]}
        if media:
            message["MediaUrl"] = media
        self.messages.append(message)
        self._by_sid[sid] = message
        if self.on_message:
            self.on_message(message)
        if form.get("StatusCallback"):
            self._later(self._progress(message))
        return resource

    # status callbacks -----------------------------------------------------------------
    def _later(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _progress(self, message: dict) -> None:
        """sent, then delivered (or the outcome set for the recipient), each after
        callback_delay."""
        steps, code = self._outcome.get(_bare(message["To"]), (DELIVERED, None))
        for status in steps:
            await asyncio.sleep(self.callback_delay)
            final = status in ("failed", "undelivered")
            await self.send_status(message["sid"], status, error_code=code if final else None)

    async def send_status(
        self, sid: str, status: str, error_code: int | None = None, *, url: str | None = None
    ) -> int | None:
        """POST one signed status callback now (any order, any number of times).

        Returns the receiver's HTTP status, or None when it could not be reached.
        """
        message = self._by_sid[sid]
        url = url or message["StatusCallback"]
        message["status"] = status
        fields = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": message["To"],
        }
        fields.update({k: message[k] for k in ("From", "MessagingServiceSid") if message.get(k)})
        if error_code is not None:
            fields["ErrorCode"] = str(error_code)
        headers = {
            "X-Twilio-Signature": RequestValidator(self.auth_token).compute_signature(url, fields),
            "I-Twilio-Idempotency-Token": f"{sid}-{status}",
        }  # stable across a resend
        record = {**fields, "url": url, "http_status": None}
        self.callbacks_sent.append(record)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            async with self._session.post(url, data=fields, headers=headers) as resp:
                record["http_status"] = resp.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            record["error"] = repr(exc)
        return record["http_status"]


def _bare(address: str) -> str:
    return address.removeprefix("whatsapp:")


def _country(number: str) -> str:
    with contextlib.suppress(phonenumbers.NumberParseException):
        return phonenumbers.region_code_for_number(phonenumbers.parse(number)) or ""
    return ""


def make_inbound_fields(
    from_: str,
    to: str,
    body: str,
    message_sid: str | None = None,
    whatsapp: bool = False,
    *,
    account_sid: str = "AC" + "0" * 32,
    profile_name: str = "",
    **extra: str,
) -> dict[str, str]:
    """The form Twilio posts for an incoming SMS or WhatsApp message (CHANNELS.md B1)."""
    sid = message_sid or "SM" + secrets.token_hex(16)
    fields = {
        "ToCountry": _country(to),
        "ToState": "",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": _country(from_),
        "To": to,
        "ToZip": "",
        "NumSegments": str(segments(body) or 1),
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": API_VERSION,
    }
    if whatsapp:
        fields.update(
            From=f"whatsapp:{_bare(from_)}",
            To=f"whatsapp:{_bare(to)}",
            ProfileName=profile_name,
            WaId=_bare(from_).lstrip("+"),
            MessageType="text",
        )
    return {**fields, **extra}


def inbound_fields(
    sender: str, to: str, body: str, sid: str | None = None, whatsapp: bool = False
) -> dict:
    """make_inbound_fields under its first name (tests/test_twilio_trade.py uses it)."""
    return make_inbound_fields(sender, to, body, sid, whatsapp)


async def post_inbound(
    session: aiohttp.ClientSession,
    url: str,
    auth_token: str,
    fields: Mapping[str, str],
    *,
    signed_url: str | None = None,
) -> tuple[int, str]:
    """POST an inbound webhook signed as Twilio signs it, over the public URL; (status, body)."""
    signature = RequestValidator(auth_token).compute_signature(signed_url or url, dict(fields))
    headers = {
        "X-Twilio-Signature": signature,
        "I-Twilio-Idempotency-Token": f"{fields.get('AccountSid', '')}-{fields['MessageSid']}",
    }
    async with session.post(url, data=dict(fields), headers=headers) as resp:
        return resp.status, await resp.text()


def _send_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="farmchat fake-twilio send",
        description="Text farmchat as a phone does through Twilio: each message a signed "
        "webhook, once farmchat is ready; each reply printed",
    )
    env = os.environ.get
    p.add_argument(
        "--url",
        default="http://127.0.0.1:8080/webhooks/twilio",
        help="farmchat's Twilio webhook, as server.public_url names it (the URL signed)",
    )
    p.add_argument("--auth-token", default=env("FARMCHAT_TWILIO__AUTH_TOKEN", "fake-auth-token"))
    p.add_argument("--account-sid", default=env("FARMCHAT_TWILIO__ACCOUNT_SID", "AC" + "0" * 32))
    p.add_argument("--from", dest="sender", default="+8613800000001", help="the phone's number")
    p.add_argument(
        "--to", default=env("FARMCHAT_TWILIO__FROM_NUMBER", "+15005550006"), help="farmchat's"
    )
    p.add_argument("--whatsapp", action="store_true", help="as a WhatsApp message")
    add_wait_option(p)
    p.add_argument("text", nargs="+", help="the messages, sent one after the other")
    return p


def reply_texts(twiml: str) -> list[str]:
    """The texts of a TwiML answer's <Message> elements."""
    root = ElementTree.fromstring(twiml)
    return [message.text or "" for message in root.iter("Message")]


async def _send(args: argparse.Namespace) -> int:
    async with aiohttp.ClientSession() as session:
        try:
            await wait_ready(session, args.url, args.wait)
        except NotReady as exc:
            print(f"farmchat fake-twilio send: {exc}", file=sys.stderr)
            return 1
        for text in args.text:
            fields = make_inbound_fields(
                args.sender, args.to, text, whatsapp=args.whatsapp, account_sid=args.account_sid
            )
            status, body = await post_inbound(session, args.url, args.auth_token, fields)
            if status != 200:
                print(f"HTTP {status}: {body}")
                return 1
            print("\n".join(reply_texts(body)) or "(no reply)", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["send"]:
        return asyncio.run(_send(_send_parser().parse_args(argv[1:])))
    parser = argparse.ArgumentParser(
        prog="farmchat fake-twilio",
        description="A local fake of Twilio's Messages API; `farmchat fake-twilio send --help` "
        "texts farmchat as a phone",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--account-sid", default="AC" + "0" * 32)
    parser.add_argument("--auth-token", default="fake-auth-token")
    parser.add_argument(
        "--callback-delay", type=float, default=0.5, help="seconds between status callbacks"
    )
    args = parser.parse_args(argv)

    async def serve() -> None:
        fake = FakeTwilio(args.account_sid, args.auth_token, callback_delay=args.callback_delay)
        fake.on_message = lambda m: print(
            f"{m['sid']} {m.get('From') or m.get('MessagingServiceSid')}"
            f" → {m['To']}: {m.get('Body', '')}",
            flush=True,
        )
        url = await fake.start(args.host, args.port)
        print(f"fake Twilio on {url} (account {args.account_sid})", flush=True)
        try:
            await asyncio.Event().wait()  # until Ctrl-C
        finally:
            await fake.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
