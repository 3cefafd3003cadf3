"""The routing surface on one screen: cancel → open question → intent → fallback."""

from __future__ import annotations

from bot.messages import Reply
from handlers import alerts, broadcast, buy, contact, help, orders, prices, profile, sell
from handlers.context import Context, Parse
from handlers.texts import t

INTENT_HANDLERS = {
    "greet": help.greet,
    "help": help.show_help,
    "out_of_scope": help.out_of_scope,
    "sell": sell.sell,
    "update_listing": sell.update_listing,
    "my_listings": sell.my_listings,
    "buy": buy.buy,
    "affirm": orders.affirm,
    "deny": orders.deny,
    "cancel": orders.cancel,
    "my_orders": orders.my_orders,
    "price_query": prices.price_query,
    "set_profile": profile.set_profile,
    "subscribe": alerts.subscribe,
    "unsubscribe": alerts.unsubscribe,
    "broadcast": broadcast.broadcast,
}


async def on_clarify(ctx: Context) -> list[Reply] | None:
    """The answer to "sell or buy?": run the remembered message as the chosen intent."""
    answer = ctx.parse.text.strip().lower()
    chosen = ctx.parse.intent if ctx.parse.intent in ACTIONS else CHOICES.get(answer)
    if chosen is None:
        return None
    original = ctx.slots
    ctx.done()
    ctx.parse = Parse(text=original["text"], intent=chosen, confidence=1.0,
                      entities=original.get("entities", []))
    return await INTENT_HANDLERS[chosen](ctx)


CHOICES = {"sell": "sell", "卖": "sell", "1": "sell", "buy": "buy", "买": "buy", "2": "buy"}


# An open question's state → the handler that tries to read the answer (None: not an answer).
STATE_HANDLERS = {
    "sell.product": sell.on_answer,
    "sell.quantity": sell.on_answer,
    "sell.price": sell.on_answer,
    "buy.product": buy.on_answer,
    "buy.quantity": buy.on_answer,
    "buy.choice": buy.on_choice,
    "buy.count": buy.on_count,
    "buy.standing": buy.on_standing,
    "orders.which": orders.on_which,
    "broadcast.confirm": broadcast.on_confirm,
    "clarify": on_clarify,
    "contact.name": contact.on_name,
}

# Intents that answer a question without dropping the one the bot asked.
KEEP_STATE = {"price_query", "my_listings", "my_orders", "help", "greet", "set_profile"}
CANCEL_WORDS = {"cancel", "取消", "算了", "never mind", "nevermind", "forget it", "不要了"}
ACTIONS = {"sell", "buy"}


def _is_plain_cancel(ctx: Context) -> bool:
    words = ctx.parse.text.strip().lower().strip("!.。！ ")
    return words in CANCEL_WORDS or (ctx.parse.intent == "cancel" and not ctx.parse.all("ref"))


async def route(ctx: Context) -> list[Reply]:
    if ctx.state and _is_plain_cancel(ctx):
        ctx.done()
        return ctx.say("cancelled")
    if contact.is_command(ctx):  # 'msg 1023 …' and a shared phone: any time, the question kept
        return await contact.command(ctx)
    if ctx.state in STATE_HANDLERS:
        replies = await STATE_HANDLERS[ctx.state](ctx)
        if replies is not None:
            return replies
        if not _clear(ctx):
            return _reprompt(ctx)
    elif ctx.state:
        ctx.done()  # a state from an older version: forget it rather than stall
    return await dispatch(ctx)


async def dispatch(ctx: Context) -> list[Reply]:
    """Answer by intent; low confidence asks sell-or-buy or shows the help menu."""
    threshold = ctx.settings.nlu.confidence_threshold
    if ctx.parse.confidence < threshold:
        return _clarify(ctx) or help.not_understood(ctx)
    saved = (ctx.state, dict(ctx.slots))
    if ctx.parse.intent not in KEEP_STATE:
        ctx.done()
    replies = await INTENT_HANDLERS[ctx.parse.intent](ctx)
    if ctx.state is None and ctx.parse.intent in KEEP_STATE and saved[0]:
        ctx.state, ctx.slots = saved
    return replies


def _clear(ctx: Context) -> bool:
    """A confident intent other than small talk: the user moved on from the question."""
    p = ctx.parse
    ok = p.confidence >= ctx.settings.nlu.confidence_threshold
    return ok and p.intent not in ("out_of_scope", "affirm", "deny", "greet")


def _reprompt(ctx: Context) -> list[Reply]:
    key, values = ctx.slots.get("_ask", ("help", {}))
    return [Reply(t("not_understood", ctx.lang) + t(key, ctx.lang, **values))]


def _clarify(ctx: Context) -> list[Reply] | None:
    """Two close action intents: ask which one, remembering the message."""
    top = [r for r in ctx.parse.ranking[:2]]
    if len(top) < 2 or {top[0]["name"], top[1]["name"]} != ACTIONS:
        return None
    if top[0]["confidence"] - top[1]["confidence"] > ctx.settings.nlu.ambiguity_margin:
        return None
    ctx.done()
    ctx.slots = {"text": ctx.parse.text, "entities": ctx.parse.entities}
    a, b = ctx.word("sell"), ctx.word("buy")
    return ctx.ask("clarify", "clarify", a=a, b=b)
