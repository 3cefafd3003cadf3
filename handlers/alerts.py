"""Price alert subscriptions: by product and optional place, threshold alerts, the daily
digest; listing them, unsubscribing, opting out of everything and back in.

Coordinator broadcasts are in handlers/broadcast.py; sending is the broadcast engine's job.
"""

from __future__ import annotations

from bot import broadcast as engine
from bot.messages import Reply
from handlers import units
from handlers.context import Context
from handlers.slots import money
from storage.models import Subscription

ABOVE = ("above", "over", "more than", "higher", "exceed", "高于", "超过", "以上", "涨到", "大于")
BELOW = ("below", "under", "less than", "lower", "drop", "低于", "跌到", "以下", "不到", "小于")
DAILY = ("daily", "every day", "each day", "digest", "每天", "每日", "天天")
LIST = ("my alerts", "my subscriptions", "list", "which alerts", "我的订阅", "我的提醒", "查看订阅", "订阅了什么")
# Sent alone, these end every alert and broadcast (SMS carriers' STOP; 退订/TD in China).
OPT_OUT = {"退订", "td", "stop", "unsubscribe", "stopall", "end", "quit", "取消订阅", "退订全部"}


def _direction(text: str) -> str | None:
    lowered = text.lower()
    if any(w in lowered for w in ABOVE):
        return "above"
    if any(w in lowered for w in BELOW):
        return "below"
    return None


def _has(text: str, words: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(w in lowered for w in words)


async def subscribe(ctx: Context) -> list[Reply]:
    product = ctx.parse.first("product")
    if not product:
        return await _resume_or_list(ctx)
    place = ctx.parse.first("location")
    threshold = money(ctx.parse.first("price"))
    direction = _direction(ctx.parse.text) if threshold is not None else None
    daily = not direction and _has(ctx.parse.text, DAILY)
    currency = ctx.parse.first("currency") or ctx.market.currency
    unit = ctx.parse.first("price_unit") or ctx.market.display_unit
    if not direction:  # one plain subscription per product and place: daily replaces instant
        await ctx.uow.subscriptions.deactivate_plain(ctx.user.id, product, place)
    await ctx.uow.subscriptions.add(Subscription(
        user_id=ctx.user.id, product=product, location=place, direction=direction,
        threshold=threshold if direction else None, currency=currency, unit=unit,
        mode="daily" if daily else "instant", active=True, created_at=ctx.now))
    ctx.user.opted_out = False  # asking for alerts is consent again
    limit = ""
    if direction:
        limit = ctx.text("threshold", direction=ctx.word(direction),
                         price=units.unit_price(threshold, currency, unit, ctx.lang))
    elif daily and ctx.settings.broadcast.digest_time:
        limit = ctx.text("daily_at", time=ctx.settings.broadcast.digest_time)
    where = f" ({ctx.place(place)})" if place else ""
    return ctx.say("subscribed", product=ctx.product(product), place=where, threshold=limit)


async def _resume_or_list(ctx: Context) -> list[Reply]:
    """'START' / '订阅' after opting out resumes; otherwise list the alerts or ask for a product."""
    if ctx.user.opted_out:
        ctx.user.opted_out = False
        return ctx.say("resumed")
    return await my_alerts(ctx) or ctx.say("ask_subscribe_product")


async def my_alerts(ctx: Context) -> list[Reply]:
    subs = await ctx.uow.subscriptions.active_of(ctx.user.id)
    if not subs:
        return []
    items = "; ".join(_describe(ctx, s) for s in subs)
    first = ctx.product(next((s.product for s in subs if s.product), "apple"))
    return ctx.say("my_alerts", items=items, product=first)


def _describe(ctx: Context, sub: Subscription) -> str:
    text = ctx.product(sub.product) if sub.product else ctx.text("all_alerts")
    if sub.location:
        text += f" ({ctx.place(sub.location)})"
    if sub.direction and sub.threshold is not None:
        price = units.unit_price(sub.threshold, sub.currency or ctx.market.currency, sub.unit or "", ctx.lang)
        text += ctx.text("threshold", direction=ctx.word(sub.direction), price=price)
    elif sub.mode == "daily":
        text += ctx.text("daily_at", time=ctx.settings.broadcast.digest_time)
    return text


async def unsubscribe(ctx: Context) -> list[Reply]:
    text = ctx.parse.text.strip().lower().strip("!.。！ ")
    if _has(text, LIST):
        return await my_alerts(ctx) or ctx.say("not_subscribed")
    product = ctx.parse.first("product")
    if not product and text in OPT_OUT:
        ctx.user.opted_out = True
        await engine.skip_pending(ctx.uow, ctx.user.id)
        return ctx.say("opted_out")
    if not await ctx.uow.subscriptions.deactivate(ctx.user.id, product):
        return ctx.say("not_subscribed")
    await engine.skip_pending(ctx.uow, ctx.user.id, product)
    what = ctx.product(product) if product else ctx.text("all_alerts")
    return ctx.say("unsubscribed", what=what)
