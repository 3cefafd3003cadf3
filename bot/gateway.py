"""The gateway: InboundMessage → dedupe → per-user lock → state → NLU → handler → replies."""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot import metrics
from bot.config import Settings
from bot.logs import mask_in
from bot.outbound.sender import Outbound, Outgoing
from handlers import orders, texts
from handlers.context import Context, DomainError, Parse
from handlers.messages import InboundMessage, Reply
from handlers.segments import segments
from handlers.settings import default_lang
from handlers.table import route
from nlu.catalog import Catalog
from nlu.model import FALLBACK_INTENT as FALLBACK
from storage import inbound
from storage.models import User
from storage.uow import Database

log = logging.getLogger(__name__)
LAST_SEEN_PRECISION = timedelta(minutes=1)  # users.last_seen_at is not rewritten more often
MAX_TEXT = 2000  # longer messages are cut: no SMS or WeChat text is legitimately longer


def utcnow() -> datetime:
    return datetime.now(UTC)


CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    """Drop control characters and lone surrogates, which no database should be asked to keep."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return CONTROL.sub("", text)[:MAX_TEXT]


def detect_language(text: str) -> str | None:
    """zh for any Chinese character, en for Latin letters, None for digits or symbols only."""
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):
        return "zh"
    if any("a" <= ch.lower() <= "z" for ch in text):
        return "en"
    return None


def fits_reply(channel: str, text: str) -> bool:
    """An SMS reply is cut to 2 segments (bot/channels/twilio/webhook.py); handlers shorten
    lists to fit."""
    return channel != "sms" or segments(text) <= 2


def logged(
    msg: InboundMessage,
    text: str,
    user_id: int | None,
    intent: str | None,
    reply: str,
    now: datetime,
    status: str = "done",
) -> inbound.Entry:
    """What the inbound log keeps of msg (text: its cleaned text)."""
    return inbound.Entry(
        msg.channel, msg.message_id, user_id, text, intent, reply, status, received_at=now
    )


class Gateway:
    """Turns one inbound message into exactly one reply, and queues notifications."""

    def __init__(
        self,
        db: Database,
        nlu,
        settings: Settings,
        catalog: Catalog,
        outbound: Outbound,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.db, self.nlu, self.settings, self.catalog = db, nlu, settings, catalog
        self.outbound, self.clock = outbound, clock
        self._locks: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self._coordinators = set(settings.coordinators.addresses)
        self._threshold = settings.nlu.confidence_threshold
        self._parse_cache = metrics.ParseCacheWatch(nlu)

    def _lock(self, channel: str, sender: str) -> asyncio.Lock:
        key = (channel, sender)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def handle(self, msg: InboundMessage) -> str:
        """The reply text for the sender; the same text again for a retried message id."""
        async with self._lock(msg.channel, msg.sender):
            try:
                reply, sent = await self._process(msg)
            except Exception as exc:
                metrics.database_error("message", exc)
                log.exception(
                    "message %s on %s failed", mask_in(msg.message_id, msg.sender), msg.channel
                )
                reply, sent = await self._record_failure(msg), []
        await self.outbound.deliver(sent)
        return reply

    async def unreachable(self, notice_ids: list[int]) -> None:
        """Notifications that never reached their user: orders whose farmer was never asked
        are cancelled, and their buyers told (the outbox calls this once it has recorded them)."""
        now = self.clock()
        async with self.db.uow() as uow:
            notices = await orders.unreachable_farmers(
                uow, self.settings, self.catalog, notice_ids, now
            )
            if not notices:
                return
            claimed = await self.outbound.queue(uow, notices, now)
            await uow.commit()
        await self.outbound.deliver(claimed)

    async def record_consent(self, msg: InboundMessage, opted_out: bool) -> None:
        """STOP / START and the like: remember the user's choice, once per message id."""

        def choose(user: User, lang: str) -> str:
            user.opted_out = opted_out
            return ""  # no words of its own: Twilio answers a STOP, WeChat gets the welcome

        await self.apply(msg, "opt_out" if opted_out else "opt_in", choose)

    async def apply(
        self, msg: InboundMessage, intent: str, change: Callable[[User, str], str]
    ) -> str:
        """A message that is not text (a shared location, a consent): change(user, lang) once
        per message id.

        change edits the user and returns the reply; a retried message id gets the stored reply.
        """
        now = self.clock()
        async with self._lock(msg.channel, msg.sender), self.db.uow() as uow:
            user, _, seen = await uow.users.arrive(
                msg.channel, msg.sender, msg.message_id, now, "user"
            )
            if seen is not None:
                return seen
            user.last_seen_at = now
            reply = change(user, user.language or self._default_lang())
            await uow.users.write_changes()
            await inbound.record(
                uow, logged(msg, clean_text(msg.text), user.id, intent, reply, now)
            )
            await uow.commit()
        metrics.inbound(msg.channel, intent, fallback=False)
        return reply

    async def _process(self, msg: InboundMessage) -> tuple[str, list[Outgoing]]:
        now = self.clock()
        text = clean_text(msg.text)
        parse = Parse.from_nlu(
            await self.nlu.aparse(text)
        )  # before the transaction: no lock held meanwhile
        self._parse_cache.update()

        async def work(uow) -> tuple[str, list[Outgoing], str | None]:
            return await self._apply(uow, msg, text, parse, now)

        try:
            reply, claimed, intent = await self.db.transact(
                work
            )  # SQLite: shared with what arrived with it
        except inbound.Duplicate:  # another process answered this message id first
            return await self._stored_reply(msg), []
        if intent is not None:  # None: a message id answered before
            unread = parse.intent == FALLBACK or parse.confidence < self._threshold
            metrics.inbound(msg.channel, intent, fallback=unread)
        return reply, claimed

    async def _apply(
        self, uow, msg: InboundMessage, text: str, parse: Parse, now: datetime
    ) -> tuple[str, list[Outgoing], str | None]:
        """The message's whole effect in uow's transaction, not committed: (reply, notifications
        to push after the commit, the intent it was answered as);
        for a message id answered before, that reply and nothing written (and no intent)."""
        role = "coordinator" if msg.sender in self._coordinators else None
        written = detect_language(text)
        user, conv, seen = await uow.users.arrive(
            msg.channel, msg.sender, msg.message_id, now, role or "user", written or ""
        )
        if seen is not None:
            return seen, [], None
        await self._touch(uow, user, role, written, now)
        if user.handoff_until is not None and user.handoff_until > now:
            # a person answers this user from the dashboard: kept for them, not answered
            await inbound.record(uow, logged(msg, text, user.id, "handoff", "", now))
            return "", [], "handoff"
        lang = written or user.language or self._default_lang()
        ctx = Context(
            msg=msg,
            user=user,
            parse=parse,
            lang=lang,
            uow=uow,
            settings=self.settings,
            catalog=self.catalog,
            now=now,
            fits=fits_reply,
            reaches=self.outbound.reaches,
        )
        self._load_state(ctx, conv)
        try:
            replies = await route(ctx)
        except DomainError as err:
            replies = ctx.say(err.key, **err.values)
        reply = self._join(replies)
        await self._save_state(ctx, conv)
        await uow.users.write_changes()
        claimed = await self.outbound.queue(uow, ctx.notices, now)
        await inbound.record(uow, logged(msg, text, user.id, ctx.parse.intent, reply, now))
        return reply, claimed, ctx.parse.intent

    @staticmethod
    async def _touch(uow, user, role: str | None, written: str | None, now: datetime) -> None:
        """Update the user row only where something changed (last seen at minute precision)."""
        new_role = role if role and user.role != role else user.role
        language = written if written and user.language != written else user.language
        seen = (
            now
            if user.last_seen_at is None or now - user.last_seen_at >= LAST_SEEN_PRECISION
            else user.last_seen_at
        )
        if (new_role, language, seen) != (user.role, user.language, user.last_seen_at):
            await uow.users.touch(user, new_role, language, seen)

    async def _stored_reply(self, msg: InboundMessage) -> str:
        async with self.db.uow() as uow:
            seen = await inbound.answered(uow, msg.channel, msg.message_id)
        return texts.t("error", "en") if seen is None else seen

    async def _record_failure(self, msg: InboundMessage) -> str:
        """Keep the message and give the apology, so a retry gets the same answer."""
        now = self.clock()
        lang = detect_language(msg.text) or self._default_lang()
        reply = texts.t("error", lang)
        try:
            async with self.db.uow() as uow:
                if await inbound.answered(uow, msg.channel, msg.message_id) is None:
                    entry = logged(msg, clean_text(msg.text), None, None, reply, now, "error")
                    await inbound.record(uow, entry)
                    await uow.commit()
        except Exception:
            log.exception(
                "could not record failed message %s", mask_in(msg.message_id, msg.sender)
            )
        return reply

    def _load_state(self, ctx: Context, conv) -> None:
        idle = timedelta(minutes=self.settings.market.conversation_timeout_minutes)
        if conv is not None and ctx.now - conv.updated_at <= idle:
            ctx.state, ctx.slots = conv.state, dict(conv.slots or {})

    async def _save_state(self, ctx: Context, conv) -> None:
        if ctx.state:
            await ctx.uow.conversations.save(ctx.user.id, ctx.state, ctx.slots, ctx.now)
        elif conv is not None:  # no row, nothing to delete: spare the DELETE
            await ctx.uow.conversations.clear(ctx.user.id)

    def _join(self, replies: list[Reply]) -> str:
        """Exactly one reply per message, whatever the handler returned."""
        mine = [r.text for r in replies if r.to is None]
        return "\n".join(mine) if mine else texts.t("ok", "en")

    def _default_lang(self) -> str:
        return default_lang(self.settings)
