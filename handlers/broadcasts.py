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

from sqlalchemy import and_, case, func, literal, or_, select, update

from handlers import texts, units
from handlers.segments import fit, segments
from handlers.settings import Settings, default_lang
from nlu.catalog import Catalog
from storage.db import insert_for
from storage.models import Broadcast, Outbox, Subscription, User, When
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
        values = dict(
            product=name,
            Product=name[:1].upper() + name[1:],
            place=(f"（{where}）" if lang == "zh" else f", {where}") if where else "",
            price=units.unit_price(price, currency, unit, lang),
            date=f"{date.month}月{date.day}日" if lang == "zh" else date.strftime("%d %b"),
        )
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
) -> Broadcast:
    """Free text, sent as written (by_lang: versions for readers of en or zh)."""
    return Broadcast(
        kind="announcement",
        status="draft",
        created_by=created_by,
        product=product,
        location=place,
        texts={"": text, **(by_lang or {})},
        created_at=now,
    )


# audience ----------------------------------------------------------------------------------
def _threshold_met(bc: Broadcast):
    """SQL: the subscription has no threshold, or this price crosses it in the alert's unit."""
    s = Subscription
    met = []
    for unit in {*units.KG_PER_UNIT, bc.unit}:
        per = units.price_per(bc.price, bc.unit, unit)
        if per is None:
            continue
        per = per.quantize(Decimal("0.01"))
        met.append(
            and_(
                s.unit == unit,
                or_(
                    and_(s.direction == "above", s.threshold <= per),
                    and_(s.direction == "below", s.threshold >= per),
                ),
            )
        )
    return or_(s.direction.is_(None), and_(s.currency == bc.currency, or_(*met)))


def audience(bc: Broadcast):
    """SELECT the distinct users a broadcast goes to, resolved now (opted-out users excluded)."""
    s, u = Subscription, User
    q = select(u.id, u.channel, u.address, u.language).join(s, s.user_id == u.id)
    q = q.where(s.active.is_(True), u.opted_out.is_(False))
    if bc.kind == "digest":
        q = q.where(s.mode == "daily", s.product == bc.product)
    elif bc.product:
        q = q.where(s.mode == "instant", or_(s.product == bc.product, s.product.is_(None)))
        if bc.location:
            q = q.where(or_(s.location.is_(None), s.location == bc.location))
        if bc.kind == "price" and bc.price is not None:
            q = q.where(_threshold_met(bc))
    return q.distinct()


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
    sub = audience(bc).subquery()
    q = select(sub.c.channel, sub.c.language, func.count()).group_by(sub.c.channel, sub.c.language)
    rows = (await uow.session.execute(q)).all()
    prices = settings.broadcast
    result = Preview(audience=0, currency=prices.cost_currency or settings.market.currency)
    for channel, language, count in rows:
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
    await uow.session.flush()


async def cancel(uow: UnitOfWork, broadcast_id: int) -> bool:
    """Cancel a draft or scheduled broadcast (one being sent runs to its end)."""
    stmt = update(Broadcast).where(
        Broadcast.id == broadcast_id, Broadcast.status.in_(("draft", "scheduled", "queued"))
    )
    return (await uow.session.execute(stmt.values(status="cancelled"))).rowcount == 1


async def start(
    uow: UnitOfWork, broadcast_id: int, settings: Settings, now: datetime
) -> int | None:
    """Resolve a queued broadcast's recipients into the outbox; None if another sender did."""
    claim = update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.status == "queued")
    if (await uow.session.execute(claim.values(status="sending", started_at=now))).rowcount != 1:
        return None
    bc = await uow.session.get(Broadcast, broadcast_id)
    sub = audience(bc).subquery()
    fallback = text_for(bc, default_lang(settings))
    text = case(*((sub.c.language == lang, text_for(bc, lang)) for lang in LANGS), else_=fallback)
    rows = select(
        literal(bc.id),
        sub.c.id,
        sub.c.channel,
        sub.c.address,
        text,
        literal("broadcast"),
        literal("pending"),
        literal(0),
        literal(now, When),
    ).where(sub.c.id.is_not(None))
    columns = [
        "broadcast_id",
        "user_id",
        "channel",
        "address",
        "text",
        "kind",
        "status",
        "attempts",
        "created_at",
    ]
    stmt = insert_for(uow.session, Outbox).from_select(columns, rows)
    result = await uow.session.execute(
        stmt.on_conflict_do_nothing(index_elements=["broadcast_id", "user_id"])
    )
    bc.recipients = result.rowcount
    log.info("broadcast %s: %s recipients", bc.id, bc.recipients)
    return bc.recipients


async def counts(uow: UnitOfWork, broadcast_id: int) -> dict[str, int]:
    """Outbox rows of one broadcast by status."""
    q = (
        select(Outbox.status, func.count())
        .where(Outbox.broadcast_id == broadcast_id)
        .group_by(Outbox.status)
    )
    return {status: n for status, n in (await uow.session.execute(q)).all()}


async def finish_if_done(uow: UnitOfWork, broadcast_id: int, now: datetime) -> Broadcast | None:
    """Close a sending broadcast with nothing left to send; return it when this call closed it."""
    tally = await counts(uow, broadcast_id)
    if any(tally.get(s) for s in OPEN):
        return None
    summary = {
        "sent": tally.get("sent", 0),
        "failed": tally.get("failed", 0),
        "skipped": tally.get("skipped", 0),
    }
    stmt = update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.status == "sending")
    if (
        await uow.session.execute(stmt.values(status="done", finished_at=now, summary=summary))
    ).rowcount != 1:
        return None
    return await uow.session.get(Broadcast, broadcast_id)


async def skip_pending(uow: UnitOfWork, user_id: int, product: str | None = None) -> int:
    """A user who unsubscribes gets nothing more from broadcasts not yet sent to them."""
    stmt = update(Outbox).where(
        Outbox.user_id == user_id, Outbox.status == "pending", Outbox.broadcast_id.is_not(None)
    )
    if product:
        stmt = stmt.where(
            Outbox.broadcast_id.in_(select(Broadcast.id).where(Broadcast.product == product))
        )
    return (
        await uow.session.execute(stmt.values(status="skipped", error="unsubscribed"))
    ).rowcount


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
