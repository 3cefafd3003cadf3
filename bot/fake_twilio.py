"""A local fake of Twilio's Messages API and status callbacks, for tests and demos.

It checks what Twilio checks (Basic auth, To, From or MessagingServiceSid, Body, E.164),
answers in the shape of the official OpenAPI spec, signs its status callbacks as Twilio
does, records everything, and can be told to fail (429, 21610, a hang).

    python -m bot.fake_twilio --port 8089 --account-sid AC... --auth-token ...
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import re
import secrets
from email.utils import format_datetime
from datetime import datetime, timezone

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from bot.segments import segments

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
ERRORS = {20429: (429, "Too Many Requests"), 21610: (400, "Attempt to send to unsubscribed recipient"),
          21211: (400, "Invalid 'To' Phone Number"), 21614: (400, "'To' number is not a valid mobile number"),
          63016: (400, "Failed to send freeform message because you are outside the allowed window"),
          21604: (400, "A 'To' phone number is required"), 21603: (400, "A 'From' phone number is required"),
          21619: (400, "A text message body or media urls must be specified"),
          21617: (400, "The concatenated message body exceeds the 1600 character limit"),
          20003: (401, "Authenticate"), 20404: (404, "The requested resource was not found")}


def error(code: int) -> web.Response:
    status, message = ERRORS[code]
    return web.json_response({"code": code, "message": message, "status": status,
                              "more_info": f"https://www.twilio.com/docs/errors/{code}"}, status=status)


class FakeTwilio:
    def __init__(self, account_sid: str, auth_token: str, *, callback_delay: float = 0.05):
        self.sid, self.token, self.callback_delay = account_sid, auth_token, callback_delay
        self.messages: list[dict] = []
        self.attempts: list[dict] = []
        self.callbacks_sent: list[dict] = []
        self._fail: list[int] = []
        self._fail_to: dict[str, int] = {}
        self._hang = 0.0
        self._tasks: set[asyncio.Task] = set()
        self.app = web.Application()
        self.app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self.create)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    # control --------------------------------------------------------------------------
    def fail_next(self, code: int, times: int = 1) -> None:
        self._fail += [code] * times

    def fail_to(self, number: str, code: int) -> None:
        self._fail_to[number] = code

    def hang_next(self, seconds: float) -> None:
        self._hang = seconds

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._runner = web.AppRunner(self.app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.url = f"http://{host}:{site._server.sockets[0].getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner:
            await self._runner.cleanup()
        if self._session:
            await self._session.close()

    async def __aenter__(self) -> FakeTwilio:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # the Messages API -----------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.sid}:{self.token}".encode()).decode()
        return secrets.compare_digest(request.headers.get("Authorization", "").encode(), expected.encode())

    async def create(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.attempts.append({"form": list(form.items()), "headers": dict(request.headers)})
        if self._hang:
            hang, self._hang = self._hang, 0.0
            await asyncio.sleep(hang)
        if not self._authorized(request):
            return error(20003)
        if request.match_info["account"] != self.sid:
            return error(20404)
        problem = self._check(form)
        if problem:
            return error(problem)
        return web.json_response(self._accept(form, request.path), status=201)

    def _check(self, form) -> int | None:
        to = form.get("To", "")
        if self._fail:
            return self._fail.pop(0)
        if not to:
            return 21604
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return 21603
        if not (form.get("Body") or form.get("MediaUrl") or form.get("ContentSid")):
            return 21619
        if len(form.get("Body", "")) > 1600:
            return 21617
        if not E164.match(to.removeprefix("whatsapp:")):
            return 21211
        return self._fail_to.get(to.removeprefix("whatsapp:"))

    def _accept(self, form, path: str) -> dict:
        sid = "SM" + secrets.token_hex(16)
        now = format_datetime(datetime.now(timezone.utc), usegmt=False)
        body = form.get("Body", "")
        message = {
            "sid": sid, "account_sid": self.sid, "to": form["To"], "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"), "body": body,
            "status": "accepted" if form.get("MessagingServiceSid") else "queued",
            "num_segments": str(segments(body) or 1), "num_media": "0", "direction": "outbound-api",
            "api_version": "2010-04-01", "price": None, "price_unit": "USD", "error_code": None,
            "error_message": None, "date_created": now, "date_updated": now, "date_sent": None,
            "uri": f"{path[:-5]}/{sid}.json", "subresource_uris": {"media": f"{path[:-5]}/{sid}/Media.json"},
        }
        self.messages.append({**dict(form), "sid": sid, "status": message["status"]})
        if form.get("StatusCallback"):
            self._later(self._progress(message, form["StatusCallback"]))
        return message

    def _later(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _progress(self, message: dict, url: str) -> None:
        """No callback for the initial status; then sent and delivered (Twilio's order)."""
        for status in ("sent", "delivered"):
            await asyncio.sleep(self.callback_delay)
            await self.send_status(message["sid"], status, url=url)

    async def send_status(self, sid: str, status: str, error_code: int | None = None, url: str | None = None) -> int:
        """POST one signed status callback, as Twilio does; return the HTTP status received."""
        message = next(m for m in self.messages if m["sid"] == sid)
        url = url or message["StatusCallback"]
        fields = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
                  "AccountSid": self.sid, "From": message.get("From", ""), "To": message["To"],
                  "ApiVersion": "2010-04-01"}
        if error_code:
            fields["ErrorCode"] = str(error_code)
        signature = RequestValidator(self.token).compute_signature(url, fields)
        async with self._session.post(url, data=fields, headers={"X-Twilio-Signature": signature}) as resp:
            self.callbacks_sent.append({**fields, "http_status": resp.status})
            return resp.status


def inbound_fields(sender: str, to: str, body: str, sid: str | None = None, whatsapp: bool = False) -> dict:
    """The form Twilio posts for an incoming SMS or WhatsApp message."""
    sid = sid or "SM" + secrets.token_hex(16)
    fields = {"MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid, "AccountSid": "AC" + "0" * 32,
              "From": sender, "To": to, "Body": body, "NumMedia": "0", "NumSegments": str(segments(body) or 1),
              "SmsStatus": "received", "ApiVersion": "2010-04-01"}
    if whatsapp:
        fields.update(From=f"whatsapp:{sender}", To=f"whatsapp:{to}", ProfileName="", WaId=sender.lstrip("+"))
    return fields


async def post_inbound(session: aiohttp.ClientSession, url: str, auth_token: str, fields: dict,
                       signed_url: str | None = None) -> tuple[int, str]:
    """Deliver an inbound webhook signed exactly as Twilio signs it (over the public URL)."""
    signature = RequestValidator(auth_token).compute_signature(signed_url or url, fields)
    headers = {"X-Twilio-Signature": signature, "I-Twilio-Idempotency-Token": fields["MessageSid"]}
    async with session.post(url, data=fields, headers=headers) as resp:
        return resp.status, await resp.text()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="farmchat fake-twilio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--account-sid", default="AC" + "0" * 32)
    parser.add_argument("--auth-token", default="fake-auth-token")
    args = parser.parse_args(argv)

    async def run() -> None:
        fake = FakeTwilio(args.account_sid, args.auth_token, callback_delay=0.5)
        print(f"fake Twilio on {await fake.start(args.host, args.port)} (account {args.account_sid})")
        try:
            seen = 0
            while True:
                await asyncio.sleep(0.5)
                for message in fake.messages[seen:]:
                    print(f"→ {message['To']}: {message.get('Body', '')}")
                seen = len(fake.messages)
        finally:
            await fake.stop()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
