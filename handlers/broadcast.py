"""Coordinators broadcast by chat: a price or a free-text announcement, previewed (audience,
SMS segments, estimated cost) and sent only after the coordinator confirms.

  broadcast apple 4.2 yuan/kg Wudu      → price published at once, broadcast awaits 'yes'
  群发 明天上午9点合作社开会               → announcement to every subscriber, awaits '是'
"""

from __future__ import annotations

import re
from decimal import Decimal

from bot import broadcast as engine
from bot.messages import Reply
from handlers import orders, units
from handlers.context import Context
from handlers.slots import money
from storage.models import Broadcast, MarketPrice

COMMAND = re.compile(
    r"^\s*(?:broadcast|bcast|brodcast|announce(?:ment)?|send (?:to )?(?:all|everyone)|mass sms|blast|"
    r"群发|发布|通知所有人|通知大家|通知)\s*(?:to (?:all|subscribers|everyone))?\s*[:：,，]?\s*", re.I)
YES = {"yes", "y", "ok", "send", "send it", "是", "好", "发", "发送", "确认", "可以", "对"}
NO = {"no", "n", "don't send", "dont send", "不", "不发", "否", "不要", "别发"}


def announcement_text(text: str) -> str:
    """The message without the command word in front ('broadcast: x' → 'x')."""
    return COMMAND.sub("", text, count=1).strip()


async def broadcast(ctx: Context) -> list[Reply]:
    """A price ('broadcast apple 4.2 yuan/kg Wudu') or an announcement, then the preview."""
    if ctx.user.role != "coordinator":
        return ctx.say("coordinators_only")
    product, price = ctx.parse.first("product"), money(ctx.parse.first("price"))
    if product and price is not None:
        head, bc = await _publish_price(ctx, product, price)
    else:
        text = announcement_text(ctx.parse.text)
        if not text:
            return ctx.say("broadcast_ask_text")
        head = ctx.text("broadcast_announcement", text=text)
        bc = engine.new_announcement(text, ctx.now, ctx.user.id)
    ctx.uow.session.add(bc)
    await ctx.uow.session.flush()
    return await _preview(ctx, bc, head)


async def _publish_price(ctx: Context, product: str, price: Decimal) -> tuple[str, Broadcast]:
    """Store the market price (price answers use it at once) and draft its broadcast."""
    row = await ctx.uow.prices.add(MarketPrice(
        product=product, location=ctx.parse.first("location"), price=price,
        currency=ctx.parse.first("currency") or ctx.market.currency,
        unit=ctx.parse.first("price_unit") or ctx.parse.first("unit") or ctx.market.display_unit,
        published_by=ctx.user.id, published_at=ctx.now))
    where = f", {ctx.place(row.location)}" if row.location else ""
    head = ctx.text("price_published", product=ctx.product(product), place=where,
                    price=units.unit_price(row.price, row.currency, row.unit, ctx.lang))
    bc = engine.new_price(ctx.catalog, ctx.settings, product, row.location, row.price, row.currency, row.unit,
                          ctx.now, ctx.user.id)
    return head, bc


async def _preview(ctx: Context, bc: Broadcast, head: str) -> list[Reply]:
    seen = await engine.preview(ctx.uow, bc, ctx.settings)
    if not seen.audience:
        bc.status = "cancelled"
        return [Reply(head + "\n" + ctx.text("broadcast_no_audience"))]
    ctx.ask("broadcast.confirm", "broadcast_confirm_again", ref=bc.id)
    ctx.slots.update(broadcast=bc.id, n=seen.audience)
    ask = ctx.text("broadcast_preview", n=f"{seen.audience:,}", segments=seen.segments_text(), cost=seen.cost_text())
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
    if ctx.parse.intent == "deny" or words in NO:
        await engine.cancel(ctx.uow, ctx.slots["broadcast"])
        ctx.done()
        return ctx.say("broadcast_dropped")
    return None


async def _send(ctx: Context) -> list[Reply]:
    broadcast_id, n = ctx.slots["broadcast"], ctx.slots.get("n", 0)
    ctx.done()
    bc = await ctx.uow.session.get(Broadcast, broadcast_id)
    if bc is None or bc.status != "draft":
        return ctx.say("ok")
    await engine.queue(ctx.uow, bc)
    return ctx.say("broadcast_queued", ref=broadcast_id, n=f"{n:,}")
