"""Coordinators broadcast by chat: a price or a free-text announcement, previewed (audience,
SMS segments, estimated cost) and sent only after the coordinator confirms.

  broadcast apple 4.2 yuan/kg Wudu      → preview; on 'yes' the price is published and sent
  群发 明天上午9点合作社开会               → announcement to every subscriber, awaits '是'

Nothing is published before the coordinator says yes: 'no' or 'cancel' leaves no trace.
"""

from __future__ import annotations

import re
from decimal import Decimal

from handlers import broadcasts as engine
from handlers import orders, units
from handlers.context import Context
from handlers.currency import mass_unit, place_currency
from handlers.messages import Reply
from handlers.slots import (
    bare_number,
    loose_number,
    money,
    only_details,
    without_entities,
)
from storage import broadcasts as records
from storage.models import Broadcast

COMMAND = re.compile(
    r"^\s*(?:broadcast|bcast|brodcast|announce(?:ment)?|send (?:to )?(?:all|everyone)|"
    r"mass sms|blast|群发|发布|通知所有人|通知大家|通知)"
    r"\s*(?:to (?:all|subscribers|everyone))?\s*[:：,，]?\s*",
    re.I,
)
YES = {"yes", "y", "ok", "send", "send it", "是", "好", "发", "发送", "确认", "可以", "对"}
NO = {"no", "n", "don't send", "dont send", "不", "不发", "否", "不要", "别发"}


def announcement_text(text: str) -> str:
    """The message without the command word in front ('broadcast: x' → 'x')."""
    return COMMAND.sub("", text, count=1).strip()


async def broadcast(ctx: Context) -> list[Reply]:
    """A price ('broadcast apple 4.2 yuan/kg Wudu') or an announcement, then the preview."""
    if ctx.user.role != "coordinator":
        return ctx.say("coordinators_only")
    product = ctx.parse.first("product")
    price = money(ctx.parse.first("price")) or (
        money(loose_number(ctx)) if product else None
    )  # "apple 4.2 Wudu"
    if len(set(ctx.parse.all("location"))) > 1:
        return ctx.say("broadcast_one_place")  # never publish for one market and drop the other
    if product and price is not None and not _reads_as_text(ctx):
        head, bc = await _publish_price(ctx, product, price)
    elif product and _only_product(ctx):
        return ctx.say(
            "broadcast_needs_price"
        )  # "broadcast apple": a price is missing, not a text
    else:
        text = announcement_text(ctx.parse.text)
        if not text:
            return ctx.say("broadcast_ask_text")
        head = ctx.text("broadcast_announcement", text=text)
        bc = engine.new_announcement(text, ctx.now, ctx.user.id)
    await records.save(ctx.uow, bc)
    return await _preview(ctx, bc, head)


PRICE_WORDS = {
    "broadcast",
    "bcast",
    "price",
    "prices",
    "today",
    "todays",
    "today's",
    "new",
    "market",
    "at",
    "per",
    "is",
    "the",
    "of",
    "in",
    "for",
    "buying",
    "rate",
}


def _reads_as_text(ctx: Context) -> bool:
    """ "broadcast: apple harvest fair tomorrow at 9" is an announcement, not apples at ¥9: a
    price without currency or unit among several other words."""
    if ctx.parse.first("currency") or ctx.parse.first("price_unit"):
        return False
    words = re.findall(r"[a-z']+", without_entities(ctx).lower())
    return len([w for w in words if w not in PRICE_WORDS]) >= 2


def _only_product(ctx: Context) -> bool:
    """ "broadcast apple" / "群发 苹果价格": a product and no price, which is no announcement."""
    rest = announcement_text(ctx.parse.text).lower()
    for ent in ctx.parse.entities:
        if ent["entity"] == "product":
            rest = rest.replace(ctx.parse.text[ent["start"] : ent["end"]].lower(), " ")
    return rest.strip(" .!?。！？,，") in (
        "",
        "price",
        "prices",
        "价格",
        "价",
        "收购价",
        "今日收购价",
    )


async def _publish_price(ctx: Context, product: str, price: Decimal) -> tuple[str, Broadcast]:
    """Draft the price's broadcast; the market price itself is stored only on 'yes'."""
    place = ctx.parse.first("location")
    cur = (
        ctx.parse.first("currency") or place_currency(ctx, place) or ctx.market.currency
    )  # Eldoret: KES
    unit = ctx.parse.first("price_unit") or ctx.parse.first("unit") or mass_unit(ctx, cur)
    head = ctx.text(
        "price_to_publish",
        product=ctx.product(product),
        place=_where(ctx, place),
        price=units.unit_price(price, cur, unit, ctx.lang),
    )
    bc = engine.new_price(
        ctx.catalog, ctx.settings, product, place, price, cur, unit, ctx.now, ctx.user.id
    )
    return head, bc


def _where(ctx: Context, place: str | None) -> str:
    return ("，" if ctx.lang == "zh" else ", ") + (
        ctx.place(place) if place else ctx.text("all_markets")
    )


def _price_of(bc: Broadcast) -> tuple[str, Decimal, str, str] | None:
    """A price broadcast's product, price, currency and unit; None for an announcement."""
    if bc.kind == "price" and bc.product and bc.price is not None and bc.currency and bc.unit:
        return bc.product, bc.price, bc.currency, bc.unit
    return None


async def _preview(ctx: Context, bc: Broadcast, head: str) -> list[Reply]:
    seen = await engine.preview(ctx.uow, bc, ctx.settings)
    if not seen.audience and bc.kind != "price":
        await engine.cancel(ctx.uow, bc.id)
        return [Reply(head + "\n" + ctx.text("broadcast_no_audience"))]
    ctx.ask("broadcast.confirm", "broadcast_confirm_again", ref=bc.id)
    ctx.slots.update(broadcast=bc.id, n=seen.audience)
    if not seen.audience:  # a price is worth publishing for price answers even with no one to tell
        return [Reply(head + "\n" + ctx.text("publish_no_audience"))]
    ask = ctx.text(
        "broadcast_preview",
        n=f"{seen.audience:,}",
        segments=seen.segments_text(),
        cost=seen.cost_text(),
        subscribers=_subscribers(ctx, seen.audience),
    )
    return [Reply(head + "\n" + ask)]


async def on_confirm(ctx: Context) -> list[Reply] | None:
    """'yes' queues the draft for sending, 'no' drops it; anything else is not an answer."""
    words = ctx.parse.text.strip().lower().strip("!.。！ ")
    refs = ctx.parse.all("ref")
    if refs and str(ctx.slots.get("broadcast")) not in refs:
        if ctx.parse.intent not in ("affirm", "deny"):
            return None
        ctx.done()  # 'yes 1023' answers an order, not this broadcast
        return await (orders.affirm if ctx.parse.intent == "affirm" else orders.deny)(ctx)
    if ctx.parse.intent == "affirm" or words in YES:
        return await _send(ctx)
    if (changed := await _new_price(ctx)) is not None:
        return changed
    if ctx.parse.intent in ("deny", "cancel") or words in NO:
        await drop(ctx)
        ctx.done()
        return ctx.say("broadcast_dropped")
    return None


async def _new_price(ctx: Context) -> list[Reply] | None:
    """ "改成25" / "no, 4.5" while a price draft waits: the draft takes the new price and is
    previewed again (nothing is published before yes)."""
    bc = await records.get(ctx.uow, ctx.slots["broadcast"])
    was = _price_of(bc) if bc is not None else None
    price = money(ctx.parse.first("price") or bare_number(ctx))
    if bc is None or was is None or price is None or not only_details(ctx):
        return None
    await engine.cancel(ctx.uow, bc.id)
    ctx.done()
    product, _, cur, unit = was
    fresh = engine.new_price(
        ctx.catalog, ctx.settings, product, bc.location, price, cur, unit, ctx.now, ctx.user.id
    )
    await records.save(ctx.uow, fresh)
    head = ctx.text(
        "price_to_publish",
        product=ctx.product(product),
        place=_where(ctx, bc.location),
        price=units.unit_price(price, cur, unit, ctx.lang),
    )
    return await _preview(ctx, fresh, head)


async def _send(ctx: Context) -> list[Reply]:
    broadcast_id, n = ctx.slots["broadcast"], ctx.slots.get("n", 0)
    ctx.done()
    bc = await records.get(ctx.uow, broadcast_id)
    if bc is None or bc.status != "draft":
        return ctx.say("ok")
    actor = await engine.actor_of(ctx.uow, ctx.user.id)
    sending = await engine.confirm(ctx.uow, bc, ctx.now, actor, audience=n)
    published = ""
    if (priced := _price_of(bc)) is not None:
        product, price, cur, unit = priced
        published = (
            ctx.text(
                "price_published",
                product=ctx.product(product),
                place=_where(ctx, bc.location),
                price=units.unit_price(price, cur, unit, ctx.lang),
            )
            + "\n"
        )
    if not sending:
        return [Reply(published.strip())]
    return [
        Reply(
            published
            + ctx.text(
                "broadcast_queued", ref=broadcast_id, n=f"{n:,}", subscribers=_subscribers(ctx, n)
            )
        )
    ]


async def drop(ctx: Context) -> None:
    """The draft being confirmed is cancelled: nothing published, nothing sent."""
    await engine.cancel(ctx.uow, ctx.slots["broadcast"])


def _subscribers(ctx: Context, n: int) -> str:
    """'subscriber' or 'subscribers' (Chinese needs neither)."""
    return ctx.text("subscriber_one" if n == 1 else "subscriber_many")
