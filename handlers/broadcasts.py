"""Broadcast records: compose the texts, preview audience and cost, resolve recipients at
send time into the outbox (one row per broadcast and user), and close with a summary.

Sending the rows is bot/outbound/dispatch.py's job; when things happen is bot/scheduler.py's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from handlers import texts, units
from handlers.segments import fit, segments
from handlers.settings import Settings, default_lang
from nlu.catalog import Catalog
from storage import accounts, audit
from storage import broadcasts as records
from storage.broadcasts import Audience
from storage.models import Broadcast, MarketPrice
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)
LANGS = ("en", "zh")
OPEN = ("pending", "sending")


def text_for(bc: Broadcast, lang: str) -> str:
    """The broadcast's text in lang, else the text written for everyone."""
    return bc.texts.get(lang) or bc.texts.get("") or next(iter(bc.texts.values()), "")


# composing ---------------------------------------------------------------------------------
def _one_segment(*candidates: str) -> str:
    """The first candidate that fits one SMS segment, else the last one fit to one."""
    for text in candidates:
        if segments(text) <= 1:
            return text
    return fit(candidates[-1], 1)


def price_texts(
    catalog: Catalog,
    settings: Settings,
    product: str,
    place: str | None,
    price: Decimal,
    currency: str,
    unit: str,
    now: datetime,
) -> dict[str, str]:
    """'Apple price, Wudu: ¥4.20/kg (28 Nov)' per language, one SMS segment where possible."""
    date = now.astimezone(ZoneInfo(settings.market.timezone))
    out = {}
    for lang in LANGS:
        name = catalog.product_name(product, lang)
        where = catalog.place_name(place, lang) if place else ""
        values = {
            "product": name,
            "Product": name[:1].upper() + name[1:],
            "place": (f"（{where}）" if lang == "zh" else f", {where}") if where else "",
            "price": units.unit_price(price, currency, unit, lang),
            "date": f"{date.month}月{date.day}日" if lang == "zh" else date.strftime("%d %b"),
        }
        out[lang] = _one_segment(
            texts.t("alert_price", lang, **values), texts.t("alert_price_short", lang, **values)
        )
    return out


def new_price(
    catalog: Catalog,
    settings: Settings,
    product: str,
    place: str | None,
    price: Decimal,
    currency: str,
    unit: str,
    now: datetime,
    created_by: int | None,
) -> Broadcast:
    return Broadcast(
        kind="price",
        status="draft",
        created_by=created_by,
        product=product,
        location=place,
        price=price,
        currency=currency,
        unit=unit,
        created_at=now,
        texts=price_texts(catalog, settings, product, place, price, currency, unit, now),
    )


def new_announcement(
    text: str,
    now: datetime,
    created_by: int | None,
    product: str | None = None,
    place: str | None = None,
    by_lang: dict[str, str] | None = None,
    channel: str | None = None,
    everyone: bool = False,
) -> Broadcast:
    """Free text, sent as written (by_lang: versions for readers of en or zh), to subscribers
    (of the product and place when given) or to everyone not opted out (of the place)."""
    return Broadcast(
        kind="announcement",
        status="draft",
        created_by=created_by,
        product=product,
        location=place,
        channel=channel,
        everyone=everyone,
        texts={"": text, **(by_lang or {})},
        created_at=now,
    )


# audience ----------------------------------------------------------------------------------
def audience(bc: Broadcast) -> Audience:
    """Who the broadcast goes to (resolved when it is sent; opted-out users never)."""
    prices: dict[str, Decimal] = {}
    if bc.kind == "price" and bc.price is not None and bc.unit:
        for unit in {*units.KG_PER_UNIT, bc.unit}:
            per = units.price_per(bc.price, bc.unit, unit)
            if per is not None:  # in the alert's own unit, to the cent
                prices[unit] = per.quantize(Decimal("0.01"))
    return Audience(
        bc.kind, bc.product, bc.location, bc.currency, prices, bc.channel, bool(bc.everyone)
    )


class Phrase(str):
    """Words in English (the string itself) that carry their Chinese too, so a text in either
    language picks its own ("{cost}", "{cost.zh}")."""

    zh: str

    def __new__(cls, en: str, zh: str) -> Phrase:
        phrase = super().__new__(cls, en)
        phrase.zh = zh
        return phrase


@dataclass
class Preview:
    """What a coordinator sees before confirming."""

    audience: int
    by_channel: dict[str, int] = field(default_factory=dict)
    segments: dict[str, int] = field(default_factory=dict)  # language -> SMS segments per message
    cost: float = 0.0
    currency: str = "USD"

    def segments_text(self) -> str:
        values = sorted(set(self.segments.values())) or [1]
        return (
            "-".join(str(v) for v in (values[0], values[-1]) if v)
            if len(values) > 1
            else str(values[0])
        )

    def cost_text(self) -> Phrase:
        """'about ¥0.35' in the cost currency, or 'no SMS cost' when the audience costs nothing."""
        if not self.cost:
            return Phrase(texts.t("broadcast_free", "en"), texts.t("broadcast_free", "zh"))
        # a cost under a cent is still a cost: never "about ¥0.00"
        amount = units.money(max(Decimal(f"{self.cost:.2f}"), Decimal("0.01")), self.currency)
        return Phrase(
            texts.t("broadcast_cost", "en", cost=amount),
            texts.t("broadcast_cost", "zh", cost=amount),
        )


async def preview(uow: UnitOfWork, bc: Broadcast, settings: Settings) -> Preview:
    """Audience size by channel and language, SMS segments per message and estimated cost."""
    prices = settings.broadcast
    result = Preview(audience=0, currency=prices.cost_currency or settings.market.currency)
    for channel, language, count in await records.audience_sizes(uow, audience(bc)):
        lang = language if language in LANGS else default_lang(settings)
        parts = segments(fit(text_for(bc, lang), 2)) or 1
        result.audience += count
        result.by_channel[channel] = result.by_channel.get(channel, 0) + count
        result.segments[lang] = parts
        each = (
            parts * prices.cost_per_sms_segment
            if channel == "sms"
            else prices.cost_per_message.get(channel, 0)
        )
        result.cost += count * each
    if not result.segments:
        result.segments = {lang: segments(fit(text_for(bc, lang), 2)) or 1 for lang in LANGS}
    return result


# lifecycle ---------------------------------------------------------------------------------
async def queue(uow: UnitOfWork, bc: Broadcast, send_at: datetime | None = None) -> None:
    """A draft becomes queued (sent at once) or scheduled (sent at send_at)."""
    bc.status, bc.send_at = ("scheduled", send_at) if send_at else ("queued", None)
    await records.save(uow, bc)


async def cancel(
    uow: UnitOfWork, broadcast_id: int, actor: str | None = None, now: datetime | None = None
) -> bool:
    """Cancel a draft, scheduled or queued broadcast (once a sender has begun on it, it runs
    to its end). With an actor, a broadcast that was confirmed is cancelled in the audit log
    (dropping a draft is no event)."""
    bc = await records.get(uow, broadcast_id) if actor else None
    was, kind = (bc.status, bc.kind) if bc is not None else ("draft", "")
    done = await records.cancel(uow, broadcast_id)
    if done and actor and was != "draft" and now is not None:
        await audit.record(
            uow, actor, "broadcast.cancelled", f"broadcast {broadcast_id}", now, kind=kind
        )
    return done


async def actor_of(uow: UnitOfWork, user_id: int) -> str:
    """How the audit log names a chat user: their dashboard account, else their user number
    (never their phone number or OpenID)."""
    return await accounts.account_of_user(uow, user_id) or f"user #{user_id}"


def price_subject(bc: Broadcast) -> str:
    return f"{bc.product} @ {bc.location or 'all markets'}"


async def confirm(
    uow: UnitOfWork,
    bc: Broadcast,
    now: datetime,
    actor: str,
    audience: int | None = None,
    send_at: datetime | None = None,
) -> bool:
    """A draft the coordinator confirmed, by chat, shell or dashboard: a price becomes the
    market price that price answers show, and the broadcast is queued (or scheduled for
    send_at), unless it goes now and its audience is nobody (then it is cancelled). Both are
    written to the audit log as actor's. Whether it will be sent."""
    if bc.status != "draft":
        return False
    if bc.kind == "price" and bc.product and bc.price is not None and bc.currency and bc.unit:
        await uow.prices.add(
            MarketPrice(
                product=bc.product,
                location=bc.location,
                price=bc.price,
                currency=bc.currency,
                unit=bc.unit,
                published_by=bc.created_by,
                published_at=now,
            )
        )
        await audit.record(
            uow,
            actor,
            "price.published",
            price_subject(bc),
            now,
            price=str(bc.price),
            currency=bc.currency,
            unit=bc.unit,
            broadcast=bc.id,
        )
    if audience == 0 and send_at is None:  # a scheduled one finds its audience when it goes
        await records.cancel(uow, bc.id)
        return False
    await queue(uow, bc, send_at)
    await audit.record(
        uow,
        actor,
        "broadcast.scheduled" if send_at else "broadcast.sent",
        f"broadcast {bc.id}",
        now,
        kind=bc.kind,
        audience=audience,
        send_at=send_at.isoformat() if send_at else None,
    )
    return True


async def start(
    uow: UnitOfWork, broadcast_id: int, settings: Settings, now: datetime
) -> int | None:
    """Resolve a queued broadcast's recipients into the outbox, committed a range of users at
    a time so messages meanwhile are answered; the broadcast turns to sending when the caller
    commits. Its count of recipients, or None if another sender has it or did it."""
    bc = await records.hold(uow, broadcast_id, now)
    if bc is None:
        return None
    wording = {lang: text_for(bc, lang) for lang in LANGS}
    fallback = text_for(bc, default_lang(settings))
    recipients = await records.enqueue(uow, bc.id, audience(bc), wording, fallback, now)
    if recipients is not None:
        log.info("broadcast %s: %s recipients", bc.id, recipients)
    return recipients


async def counts(uow: UnitOfWork, broadcast_id: int) -> dict[str, int]:
    """Outbox rows of one broadcast by status."""
    return await records.counts(uow, broadcast_id)


async def finish_if_done(uow: UnitOfWork, broadcast_id: int, now: datetime) -> Broadcast | None:
    """Close a sending broadcast with nothing left to send; return it when this call closed it."""
    if await records.any_open(uow, broadcast_id, OPEN):
        return None
    tally = await records.counts(uow, broadcast_id)
    summary = {
        "sent": tally.get("sent", 0),
        "failed": tally.get("failed", 0),
        "skipped": tally.get("skipped", 0),
    }
    return await records.close(uow, broadcast_id, now, summary)


async def skip_pending(uow: UnitOfWork, user_id: int, product: str | None = None) -> int:
    """A user who unsubscribes gets nothing more from broadcasts not yet sent to them."""
    return await records.skip_pending(uow, user_id, product)


def summary_text(bc: Broadcast, lang: str) -> str:
    s = bc.summary or {}
    return texts.t(
        "broadcast_done",
        lang,
        ref=bc.id,
        sent=s.get("sent", 0),
        failed=s.get("failed", 0),
        skipped=s.get("skipped", 0),
    )
