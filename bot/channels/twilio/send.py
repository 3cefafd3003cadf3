"""Outbound SMS and WhatsApp through twilio's REST client on the app's aiohttp session.

Why not twilio's own AsyncTwilioHttpClient: it ignores its timeout (twilio-python issue
#925) and its max_retries also retries POST, which can send an SMS twice (CHANNELS.md B5).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot.config import TwilioSettings
from bot.outbound.sender import SendError
from handlers.segments import fit

log = logging.getLogger(__name__)

# Errors that will not go away by retrying: opted out, invalid number, not a mobile, outside
# the WhatsApp 24-hour window, unknown sender (https://www.twilio.com/docs/api/errors).
PERMANENT = {
    21610: "opted out",
    21211: "invalid number",
    21614: "not a mobile number",
    63016: "outside the WhatsApp 24-hour window",
    21408: "region not enabled",
    21612: "unreachable route",
    21606: "From is not a Twilio number",
}
RATE_LIMITED = 20429
MAX_BACKOFFS = 4


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class AiohttpTwilioClient(AsyncHttpClient):
    """twilio's HTTP seam on our aiohttp session: explicit timeout, one attempt, base URL."""

    def __init__(self, session: aiohttp.ClientSession, api_base: str, timeout: float):
        super().__init__(logger=log, is_async=True, timeout=timeout)
        self.session = session
        self.base = urlsplit(api_base.rstrip("/"))

    def _rebase(self, url: str) -> str:
        parts = urlsplit(url)
        return urlunsplit(
            (self.base.scheme, self.base.netloc, self.base.path + parts.path, parts.query, "")
        )

    async def request(
        self,
        method,
        uri,
        params=None,
        data=None,
        headers=None,
        auth=None,
        timeout=None,
        allow_redirects=False,
    ) -> Response:
        headers = dict(headers or {})
        if auth:
            headers["Authorization"] = basic_auth(*auth)
        async with asyncio.timeout(timeout or self.timeout):
            async with self.session.request(
                method,
                self._rebase(uri),
                params=params,
                data=data,
                headers=headers,
                allow_redirects=allow_redirects,
            ) as resp:
                return Response(resp.status, await resp.text(), dict(resp.headers))


class TwilioSender:
    """Pushes one message; backs off on 429, never resends after an ambiguous failure."""

    def __init__(
        self, settings: TwilioSettings, session: aiohttp.ClientSession, status_url: str | None
    ):
        http = AiohttpTwilioClient(session, settings.api_base, settings.timeout_seconds)
        self.client = Client(
            settings.account_sid, settings.auth_token, http_client=http, environment={}
        )
        self.settings, self.status_url = settings, status_url

    def _params(self, channel: str, address: str, text: str, ref: int | None) -> dict:
        s = self.settings
        params = {
            "to": f"whatsapp:{address}" if channel == "whatsapp" else address,
            "body": fit(text, 2) if channel == "sms" else text[:1600],
        }
        if s.messaging_service_sid:
            params["messaging_service_sid"] = s.messaging_service_sid
        else:
            params["from_"] = s.whatsapp_from if channel == "whatsapp" else s.from_number
        if self.status_url:
            # The outbox id rides in the callback URL (covered by the signature), so a callback
            # that overtakes the create response still finds its row.
            params["status_callback"] = f"{self.status_url}?ref={ref}" if ref else self.status_url
        return params

    async def send(
        self, channel: str, address: str, text: str, ref: int | None = None, bulk: bool = False
    ) -> str:
        params = self._params(channel, address, text, ref)
        for attempt in range(MAX_BACKOFFS + 1):
            try:
                message = await self.client.messages.create_async(**params)
                return message.sid
            except TwilioRestException as exc:
                if exc.status != 429 and exc.code != RATE_LIMITED:
                    raise _classified(exc) from None
                # 429/20429 was "never processed and always safe to retry" (CHANNELS.md B5).
                await asyncio.sleep(min(8.0, 0.25 * 2**attempt) * (0.5 + random.random()))
            except aiohttp.ClientConnectorError as exc:
                raise SendError(f"cannot connect to Twilio: {exc}") from None  # nothing was sent
            except (TimeoutError, aiohttp.ClientError) as exc:
                # The request may have reached Twilio: resending could deliver it twice.
                raise SendError(
                    f"no answer from Twilio ({type(exc).__name__}); not resent", permanent=True
                ) from None
        raise SendError("Twilio kept answering 429", code=RATE_LIMITED)


def _classified(exc: TwilioRestException) -> SendError:
    code = exc.code
    if code in PERMANENT:
        return SendError(
            f"{PERMANENT[code]}: {exc.msg}",
            code,
            permanent=True,
            opted_out=code == 21610,
            unreachable=True,
        )
    # Other 4xx errors are mistakes in the request; 5xx may have been processed. Neither retried.
    return SendError(
        f"Twilio error {code}: {exc.msg}", code, permanent=True, unreachable=exc.status < 500
    )
