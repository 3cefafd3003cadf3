"""Price alert subscriptions: by product and optional place, threshold alerts, the daily
digest; listing them, unsubscribing, opting out of everything and back in.

Coordinator broadcasts are in handlers/broadcast.py; sending is the broadcast engine's job.
"""

from __future__ import annotations

import re

from handlers import broadcasts as engine
from handlers import units
from handlers.context import Context
from handlers.currency import currency_for, mass_unit
from handlers.messages import Reply
from handlers.slots import money
from nlu.keywords import OPT_OUT_ALL
from nlu.normalize import UNIT_WORDS
from storage.models import Subscription

ABOVE = ("above", "over", "more than", "higher", "exceed", "高于", "超过", "以上", "涨到", "大于")
BELOW = ("below", "under", "less than", "lower", "drop", "低于", "跌到", "以下", "不到", "小于")
DAILY = ("daily", "every day", "each day", "digest", "每天", "每日", "天天")
LIST = (
    "my alerts",
    "my subscriptions",
    "list",
    "which alerts",
    "我的订阅",
    "我的提醒",
    "查看订阅",
    "订阅了什么",
)
# Sent alone, these turn alerts back on after STOP (nothing else does: 'my alerts' only lists).
RESUME = {
    "subscribe",
    "start",
    "unstop",
    "resume",
    "subscribe again",
    "start again",
    "订阅",
    "恢复",
    "恢复订阅",
    "重新订阅",
    "开启",
    "开启提醒",
}
# Sent alone, these end every alert and broadcast (SMS carriers' STOP; 退订/TD in China).
OPT_OUT = OPT_OUT_ALL


def _direction(text: str) -> str | None:
    lowered = text.lower()
    if any(w in lowered for w in ABOVE):
        return "above"
    if any(w in lowered for w in BELOW):
        return "below"
    return None


_PER_WORD = re.compile(r"(?<![a-z])(?:per|kwa)\s+([a-z]+)|/\s*([a-z]+)")


def _per_unknown_unit(ctx: Context) -> bool:
    """A price "per" a word that is no unit ("per quintal", "/maund"), so none was read."""
    match = None if ctx.parse.first("price_unit") else _PER_WORD.search(ctx.parse.text.lower())
    return match is not None and (match.group(1) or match.group(2)) not in UNIT_WORDS


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
    if _direction(ctx.parse.text) and (threshold is None or _per_unknown_unit(ctx)):
        # "below 2000 per quintal": a threshold in no unit farmchat knows is never a plain alert
        return ctx.say("ask_threshold", product=ctx.product(product))
    daily = not direction and _has(ctx.parse.text, DAILY)
    currency = await currency_for(ctx, ctx.parse.first("currency"))
    unit = ctx.parse.first("price_unit") or mass_unit(ctx, currency)
    if not direction:  # one plain subscription per product and place: daily replaces instant
        await ctx.uow.subscriptions.deactivate_plain(ctx.user.id, product, place)
    await ctx.uow.subscriptions.add(
        Subscription(
            user_id=ctx.user.id,
            product=product,
            location=place,
            direction=direction,
            threshold=threshold if direction else None,
            currency=currency,
            unit=unit,
            mode="daily" if daily else "instant",
            active=True,
            created_at=ctx.now,
        )
    )
    ctx.user.opted_out = False  # asking for alerts is consent again
    limit = ""
    if direction and threshold is not None:  # a direction is read only beside a threshold
        limit = ctx.text(
            "threshold",
            direction=ctx.word(direction),
            price=units.unit_price(threshold, currency, unit, ctx.lang),
        )
    elif daily and ctx.settings.broadcast.digest_time:
        limit = ctx.text("daily_at", time=ctx.settings.broadcast.digest_time)
    where = ctx.aside(ctx.place(place)) if place else ""
    return ctx.say("subscribed", product=ctx.product(product), place=where, threshold=limit)


async def _resume_or_list(ctx: Context) -> list[Reply]:
    """An explicit 'subscribe' / '订阅' / START after opting out resumes; anything else ('my
    alerts') lists the alerts or asks for a product, and never opts anyone back in."""
    words = ctx.parse.text.strip().lower().strip("!.。！ ")
    if ctx.user.opted_out and words in RESUME:
        ctx.user.opted_out = False
        return ctx.say("resumed")
    if ctx.user.opted_out:
        listed = await my_alerts(ctx)
        paused = ctx.text("alerts_paused")
        return [Reply(f"{listed[0].text}\n{paused}")] if listed else [Reply(paused)]
    if words in RESUME:
        return await my_alerts(ctx) or ctx.say("ask_subscribe_product")
    return await my_alerts(ctx) or ctx.say("not_subscribed")


async def my_alerts(ctx: Context) -> list[Reply]:
    items = await describe_all(ctx)
    if not items:
        return []
    subs = await ctx.uow.subscriptions.active_of(ctx.user.id)
    first = ctx.product(next((s.product for s in subs if s.product), "apple"))
    return ctx.say("my_alerts", items=items, product=first)


async def describe_all(ctx: Context) -> str:
    """The user's active alerts in one line ('' when none)."""
    return "; ".join(_describe(ctx, s) for s in await ctx.uow.subscriptions.active_of(ctx.user.id))


def _describe(ctx: Context, sub: Subscription) -> str:
    text = ctx.product(sub.product) if sub.product else ctx.text("all_alerts")
    if sub.location:
        text += ctx.aside(ctx.place(sub.location))
    if sub.direction and sub.threshold is not None:
        price = units.unit_price(
            sub.threshold, sub.currency or ctx.market.currency, sub.unit or "", ctx.lang
        )
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
        if product and (listed := await my_alerts(ctx)):  # none for that product, but others exist
            return [
                Reply(
                    ctx.text("no_alert_for", product=ctx.product(product)) + " " + listed[0].text
                )
            ]
        return ctx.say("not_subscribed")
    await engine.skip_pending(ctx.uow, ctx.user.id, product)
    what = ctx.product(product) if product else ctx.text("all_alerts")
    return ctx.say("unsubscribed", what=what)
