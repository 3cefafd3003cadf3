"""Twilio webhooks: inbound SMS/WhatsApp (TwiML reply) and delivery status callbacks."""

from __future__ import annotations

import hmac
import logging
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiohttp import web
from multidict import MultiDictProxy
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from bot.channels.addresses import e164
from bot.logs import mask
from handlers.messages import InboundMessage
from handlers.segments import fit
from nlu.keywords import CARRIER_OPT_IN, CARRIER_OPT_OUT
from storage.delivery import Receipt, StatusLadder

if TYPE_CHECKING:
    from bot.bootstrap import Services

log = logging.getLogger(__name__)
FORM = "application/x-www-form-urlencoded"
# Twilio answers these itself on SMS (CHANNELS.md B5): we record consent and stay silent.
OPT_OUT = frozenset(word.upper() for word in CARRIER_OPT_OUT)
OPT_IN = frozenset(word.upper() for word in CARRIER_OPT_IN)
CARRIER_KEYWORDS = OPT_OUT | OPT_IN
# Later statuses win; a callback never moves a message back (they arrive out of order).
STATUS_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "read": 5,
    "canceled": 4,
}
STATUSES = StatusLadder(STATUS_RANK)
OPTED_OUT_ERROR = 21610  # the user texted STOP: Twilio refuses every message to them until START
# Twilio's message SIDs are two letters and 32 hex digits (SM…, MM…); up to outbox.provider_sid's
# 64 letters and digits is taken, anything else is not Twilio's and stores nothing.
MESSAGE_SID = re.compile(r"[A-Za-z0-9]{1,64}")
SID_FIELDS = ("MessageSid", "SmsSid", "SmsMessageSid")


_EMPTY_TWIML = str(MessagingResponse()).encode()  # status callbacks and opt-outs: built once


def twiml(text: str | None) -> web.Response:
    if not text:
        return web.Response(body=_EMPTY_TWIML, content_type="text/xml", charset="utf-8")
    response = MessagingResponse()
    response.message(text)
    return web.Response(text=str(response), content_type="text/xml")


class TwilioWebhooks:
    """Verify → parse → dispatch → render, for the two Twilio routes."""

    def __init__(self, auth_token: str, public_url: str):
        self.validator = RequestValidator(auth_token)
        self.public_url = public_url.rstrip("/")
        self.svc: Services  # the running services, set when the app starts

    def signed_url(self, request: web.Request) -> str:
        """The URL Twilio signed: the public one behind a proxy, byte for byte its query."""
        if self.public_url:
            return self.public_url + request.rel_url.raw_path_qs
        return str(request.url)

    def signed(self, url: str, form: MultiDictProxy, signature: str) -> bool:
        """Twilio signs the URL it requested: one HMAC over exactly that URL first, and the
        library's validate() (which tries it with and without a default port, two HMACs)
        only when that one does not match."""
        expected = self.validator.compute_signature(url, form)
        return hmac.compare_digest(
            expected.encode(), signature.encode("utf-8", "replace")
        ) or self.validator.validate(url, form, signature)

    async def verified_form(self, request: web.Request) -> MultiDictProxy:
        """The form of a request Twilio signed; 403 for any other, before anything that can
        fail on what the sender chose (an unsigned request never gets further than this)."""
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature:
            log.warning("Twilio webhook with a missing or wrong signature refused")
            raise web.HTTPForbidden(text="invalid signature")
        if request.content_type != FORM:
            raise web.HTTPUnsupportedMediaType(text="form-encoded body expected")
        try:  # Twilio sends UTF-8; the form cannot be decoded, nor its signature checked, else
            (await request.read()).decode("utf-8")
        except UnicodeDecodeError:
            raise web.HTTPBadRequest(text="the body is not UTF-8") from None
        form = await request.post()
        if not self.signed(self.signed_url(request), form, signature):
            log.warning("Twilio webhook with a missing or wrong signature refused")
            raise web.HTTPForbidden(text="invalid signature")
        return form

    async def inbound(self, request: web.Request) -> web.Response:
        form = await self.verified_form(request)
        msg = parse_inbound(form)
        gateway = self.svc.gateway
        keyword = msg.text.strip().upper()
        if msg.channel == "sms" and keyword in CARRIER_KEYWORDS:
            await gateway.record_consent(msg, opted_out=keyword in OPT_OUT)
            return twiml(None)
        reply = await gateway.handle(msg)
        return twiml(fit(reply, 2) if msg.channel == "sms" else reply[:1600])

    async def status(self, request: web.Request) -> web.Response:
        form = await self.verified_form(request)
        sid, status = message_sid(form), form.get("MessageStatus")
        if status not in STATUS_RANK:
            raise web.HTTPBadRequest(text="MessageSid and a known MessageStatus are required")
        code, ref = small_int(form.get("ErrorCode")), small_int(request.query.get("ref"))

        receipt = Receipt(sid, status, code, ref, opted_out=code == OPTED_OUT_ERROR)

        async def record(uow) -> None:
            if await STATUSES.record(uow, receipt) is None:
                log.info("status %s for unknown message %s ignored", status, sid)

        await self.svc.db.transact(record)
        return twiml(None)


LARGEST_INT = 2**31 - 1  # the INTEGER columns of both databases (PostgreSQL's is 32 bits)


def small_int(text: str | None) -> int | None:
    """A decimal number that fits a database INTEGER (error codes, outbox ids), else None: a
    signed callback with a mangled or out-of-range ?ref= or ErrorCode is still recorded by its
    MessageSid, the same on SQLite and PostgreSQL."""
    if text and text.isascii() and text.isdigit() and len(text) <= len(str(LARGEST_INT)):
        value = int(text)
        return value if value <= LARGEST_INT else None
    return None


def message_sid(form: MultiDictProxy) -> str:
    """The form's MessageSid; 400 when it, SmsSid or SmsMessageSid is not a Twilio SID."""
    sids = [form.get(name) for name in SID_FIELDS]
    if sids[0] is None or not all(s is None or MESSAGE_SID.fullmatch(s) for s in sids):
        raise web.HTTPBadRequest(text="MessageSid is required and must be a Twilio SID")
    return sids[0]


def parse_inbound(form: MultiDictProxy) -> InboundMessage:
    """Twilio's form → InboundMessage; 400 when a field it always sends is missing or wrong."""
    sid, sender = message_sid(form), form.get("From", "")
    if not sender:
        raise web.HTTPBadRequest(text="MessageSid and From are required")
    channel = "whatsapp" if sender.startswith("whatsapp:") else "sms"
    try:
        address = e164(sender.removeprefix("whatsapp:"))
    except ValueError:
        log.warning("Twilio message from an unusable address %s", mask(sender))
        raise web.HTTPBadRequest(text="From is not a phone number") from None
    return InboundMessage(
        channel=channel,
        sender=address,
        text=form.get("Body", ""),
        message_id=sid,
        received_at=datetime.now(UTC),
    )
