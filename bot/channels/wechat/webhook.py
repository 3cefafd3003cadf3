"""GET|POST /webhooks/wechat: verify, decrypt, answer within WeChat's 5 s (CHANNELS.md A1-A4).

WeChat waits 5 s for an answer and then pushes the same message again (three deliveries in
all), possibly while the first is still being handled. Each message runs once, as a task
keyed by its MsgId (events: user|time|event|key) that later deliveries wait on; the
gateway's (channel, message_id) row keeps that true across processes. A reply ready within
the budget goes back passively; otherwise WeChat gets `success` and the reply goes out
later through the customer-service API, recorded in the outbox. With several processes,
which of the two carries a reply is claimed in the database first (storage/wechat.py).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiohttp import web
from multidict import MultiMapping

from bot import metrics
from bot.channels.wechat.crypto import CryptoError, WeChatCrypto
from bot.channels.wechat.events import CHANNEL, WeChatDispatcher
from bot.channels.wechat.payload import (
    Push,
    XmlError,
    envelope,
    new_nonce,
    parse,
    text_reply,
)
from bot.config import WeChatSettings
from bot.logs import mask, mask_in
from storage import wechat as store

if TYPE_CHECKING:
    from bot.bootstrap import Services

log = logging.getLogger(__name__)
SUCCESS = "success"  # "WeChat does nothing and does not retry" (CHANNELS.md A3)
REMEMBER_SECONDS = 60.0  # WeChat's retries come within ~15 s; later ones find the job still here


@dataclass
class Job:
    """One message being handled, and who got (or will get) its reply."""

    push: Push
    task: asyncio.Task
    token: str  # names this job's passive claim on the message's reply (reply_via "p:<token>")
    waiting: int = 0  # deliveries waiting for it now
    answered: bool = False  # a delivery carried the reply back
    deferred: bool = False  # a delivery said `success`: the reply goes by customer service
    pushed: bool = False  # the reply went into the outbox
    deliveries: int = field(default=1)


class WeChatWebhooks:
    """Verify → decrypt → parse → dispatch (once per message) → render, for /webhooks/wechat."""

    def __init__(self, settings: WeChatSettings):
        self.settings = settings
        self.crypto = WeChatCrypto(settings.token, settings.app_id, settings.aes_keys)
        self.jobs: dict[str, Job] = {}
        # the running services and what handles each message, set when the app starts
        self.svc: Services
        self.dispatcher: WeChatDispatcher
        self._tasks: set[asyncio.Task] = set()

    def start(self, svc: Services) -> None:
        self.svc, self.dispatcher = svc, WeChatDispatcher(svc)

    async def drain(self) -> None:
        """Let messages in progress finish before the database closes (shutdown)."""
        pending = {job.task for job in self.jobs.values()} | self._tasks
        if pending:
            await asyncio.wait(pending, timeout=30)

    # HTTP -------------------------------------------------------------------------------
    async def verify(self, request: web.Request) -> web.Response:
        """The URL check when the server is saved in the MP console: echo echostr verbatim."""
        self.check_signature(request.query)
        echostr = request.query.get("echostr")
        if echostr is None:
            raise web.HTTPBadRequest(text="echostr is required")
        return web.Response(text=echostr)

    async def receive(self, request: web.Request) -> web.Response:
        deadline = asyncio.get_running_loop().time() + self.settings.reply_budget_seconds
        self.check_signature(request.query)
        body = await request.read()  # over the app's client_max_size: 413
        try:
            fields, key_index = self.open(request.query, body)
            push = Push.from_fields(fields)
        except XmlError as exc:
            log.warning("WeChat push refused: %s", exc)
            request[metrics.REASON] = "xml"
            raise web.HTTPBadRequest(text="malformed message") from None
        reply = await self.answer(push, deadline)
        return self.render(reply, push, key_index)

    def check_signature(self, query: MultiMapping[str]) -> None:
        try:
            self.crypto.check(
                query.get("signature"), query.get("timestamp", ""), query.get("nonce", "")
            )
        except CryptoError:
            log.warning("WeChat request with a missing or wrong signature refused")
            raise web.HTTPForbidden(text="invalid signature") from None

    def open(self, query: MultiMapping[str], body: bytes) -> tuple[dict, int | None]:
        """The message fields and the index of the key that decrypted them (None: plaintext)."""
        outer = parse(body)
        if query.get("encrypt_type", "raw").lower() != "aes":
            if self.settings.mode == "safe":  # the signature does not cover a plaintext body
                raise XmlError("plaintext push while in safe mode")
            return outer, None
        if not outer.get("Encrypt") or not self.crypto.keys:
            raise XmlError("an encrypted push needs <Encrypt> and a configured EncodingAESKey")
        try:
            xml, key_index = self.crypto.decrypt(
                outer["Encrypt"],
                query.get("msg_signature"),
                query.get("timestamp", ""),
                query.get("nonce", ""),
            )
        except CryptoError as exc:
            log.warning("WeChat encrypted push refused: %s", exc)
            raise (web.HTTPForbidden if exc.status == 403 else web.HTTPBadRequest)(
                text=str(exc)
            ) from None
        return parse(xml), key_index

    def render(self, reply: str | None, push: Push, key_index: int | None) -> web.Response:
        """A passive text reply, encrypted with the key the message came with; or `success`."""
        if not reply:
            return web.Response(text=SUCCESS)
        xml = text_reply(push.openid, push.account, reply)
        if key_index is not None:
            timestamp, nonce = str(int(time.time())), new_nonce()
            encrypt, signature = self.crypto.encrypt(xml, key_index, timestamp, nonce)
            xml = envelope(encrypt, signature, timestamp, nonce)
        return web.Response(text=xml, content_type="application/xml")

    # once per message, within the budget ------------------------------------------------
    async def answer(self, push: Push, deadline: float) -> str | None:
        """The reply if ready by the deadline; None (say `success`) when it goes out later."""
        job = self.jobs.get(push.message_id)
        if job is None:
            job = self.jobs[push.message_id] = Job(
                push, asyncio.create_task(self.dispatcher.dispatch(push)), secrets.token_hex(8)
            )
            job.task.add_done_callback(lambda task: self._finished(push.message_id, job))
        else:
            job.deliveries += 1
            log.info(
                "WeChat delivered %s again (delivery %d)",
                mask_in(push.message_id, push.openid),
                job.deliveries,
            )
        if job.deferred:
            return None
        remaining = max(0.0, deadline - asyncio.get_running_loop().time())
        try:
            reply = await self._wait(job, remaining)
        except TimeoutError:
            if not job.task.done():
                job.deferred = True  # the reply goes by the customer-service API when ready
                log.info("reply to %s not ready in time; answering success", mask(push.openid))
                return None
            reply = job.task.result()
        if job.deferred:
            return None
        job.answered = (
            True  # first: _wait has scheduled _orphaned, which must not push it meanwhile
        )
        if reply:
            async with self.svc.db.uow() as uow:
                claimed = await store.claim_passive_reply(uow, push.message_id, job.token)
                await uow.commit()
            if not claimed:
                log.info(
                    "message %s was answered by customer service already; answering success",
                    mask_in(push.message_id, push.openid),
                )
                return None
        return reply

    async def _wait(self, job: Job, seconds: float) -> str | None:
        """The job's reply within seconds, counted as a delivery waiting for it."""
        job.waiting += 1
        try:
            return await asyncio.wait_for(asyncio.shield(job.task), seconds)
        finally:  # also when WeChat hung up and aiohttp cancelled the handler
            job.waiting -= 1
            if job.task.done():  # the caller marks it answered first, if it can
                asyncio.get_running_loop().call_soon(self._orphaned, job)

    def _finished(self, key: str, job: Job) -> None:
        """Forget the job later; push its reply if no delivery is left to carry it."""
        loop = asyncio.get_running_loop()
        loop.call_later(REMEMBER_SECONDS, lambda: self.jobs.get(key) is job and self.jobs.pop(key))
        if job.task.cancelled():
            return
        if job.task.exception() is not None:
            log.error(
                "WeChat message %s failed",
                mask_in(key, job.push.openid),
                exc_info=job.task.exception(),
            )
            return
        loop.call_soon(self._orphaned, job)  # after the waiting deliveries have taken the reply

    def _orphaned(self, job: Job) -> None:
        if (
            job.pushed
            or job.task.cancelled()
            or job.task.exception() is not None
            or not job.task.result()
        ):
            return
        if not job.deferred and (job.answered or job.waiting):
            return  # a delivery carries (or carried) the reply
        job.deferred = job.pushed = True  # later deliveries say success: the reply is on its way
        task = asyncio.create_task(self.push_reply(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def push_reply(self, job: Job) -> None:
        """A reply that missed the deadline: into the outbox, then out by the customer-service API,
        unless a passive answer to a redelivery (in another process) claimed it first."""
        openid, text, now = job.push.openid, job.task.result(), datetime.now(UTC)
        if not text:  # nothing to say (a person answers this user from the dashboard)
            return
        async with self.svc.db.uow() as uow:
            user = await uow.users.by_address(CHANNEL, openid)
            if user is None:
                return
            if not await store.claim_pushed_reply(uow, job.push.message_id, job.token):
                log.info(
                    "message %s was answered by a redelivery; no customer-service copy",
                    mask_in(job.push.message_id, openid),
                )
                return
            row_id = await uow.outbox.insert(
                user_id=user.id,
                channel=CHANNEL,
                address=openid,
                text=text,
                kind="reply",
                status="pending",
                attempts=0,
                created_at=now,
            )
            await uow.commit()
        await self.svc.outbound.deliver([row_id])
