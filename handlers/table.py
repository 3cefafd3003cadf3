"""The routing surface on one screen: cancel → open question → intent → fallback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from handlers import (
    alerts,
    broadcast,
    buy,
    contact,
    corrections,
    dialog,
    help,
    orders,
    prices,
    profile,
    sell,
)
from handlers.contact import Handler
from handlers.context import Context, Parse
from handlers.messages import Reply
from handlers.slots import product_words, written_in_pinyin
from handlers.texts import t

INTENT_HANDLERS: dict[str, Callable[[Context], Awaitable[list[Reply]]]] = {
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
    """The answer to "sell or buy?": the remembered message runs as the chosen action; a
    message with details of its own is a request of its own (routed as usual)."""
    answer = ctx.parse.text.strip().lower().strip("!.。！ ")
    chosen = CHOICES.get(answer) or dialog.action_verb(answer)
    if chosen is None or _has_details(ctx):
        return None
    original = ctx.slots
    ctx.done()
    ctx.parse = Parse(
        text=original["text"], intent=chosen, confidence=1.0, entities=original.get("entities", [])
    )
    return await INTENT_HANDLERS[chosen](ctx)


def _has_details(ctx: Context) -> bool:
    return any(ctx.parse.first(k) for k in ("product", "quantity", "price"))


CHOICES = {
    "sell": "sell",
    "卖": "sell",
    "1": "sell",
    "selling": "sell",
    "i am selling": "sell",
    "我要卖": "sell",
    "buy": "buy",
    "买": "buy",
    "2": "buy",
    "buying": "buy",
    "i am buying": "buy",
    "我要买": "buy",
    "我想买": "buy",
}


# An open question's state → the handler that tries to read the answer (None: not an answer).
STATE_HANDLERS: dict[str, Handler] = {
    "sell.product": sell.on_answer,
    "sell.quantity": sell.on_answer,
    "sell.price": sell.on_answer,
    "sell.written": corrections.on_written,
    "buy.product": buy.on_answer,
    "buy.quantity": buy.on_answer,
    "buy.choice": buy.on_choice,
    "buy.count": buy.on_count,
    "buy.smaller": buy.on_smaller,
    "buy.standing": buy.on_standing,
    "orders.which": orders.on_which,
    "orders.decided": orders.on_decided,
    "broadcast.confirm": broadcast.on_confirm,
    "clarify": on_clarify,
    "contact.name": lambda ctx: contact.on_name(ctx, resume=_resume),
}


async def _resume(ctx: Context) -> list[Reply] | None:
    """The handler of the state a question interrupted (the name question keeps one)."""
    assert ctx.state is not None, "the name question gives back the state it interrupted"
    return await STATE_HANDLERS[ctx.state](ctx)


# Intents that answer a question without dropping the one the bot asked.
KEEP_STATE = {"price_query", "my_listings", "my_orders", "help", "greet", "set_profile"}
CANCEL_WORDS = {"cancel", "取消", "算了", "never mind", "nevermind", "forget it", "不要了"}
ACTIONS = {"sell", "buy"}


def _is_plain_cancel(ctx: Context) -> bool:
    """'cancel' ending an open question; not a state that is no question ('cancel' right after
    a listing is about the listing), nor 'cancel 57' / 'cancel my peach listing'."""
    if ctx.state in dialog.PASSIVE:
        return False
    words = ctx.parse.text.strip().lower().strip("!.。！ ")
    named = ctx.parse.all("ref") or ctx.parse.all("product")
    return words in CANCEL_WORDS or (ctx.parse.intent == "cancel" and not named)


async def route(ctx: Context) -> list[Reply]:
    ctx.words = {**ctx.slots.get("_words", {}), **product_words(ctx)}
    if ctx.lang != "zh" and written_in_pinyin(ctx):
        ctx.lang = "zh"  # "mai pingguo 100 jin" is answered in Chinese
    if ctx.state and _is_plain_cancel(ctx):
        if ctx.state == "broadcast.confirm":  # the draft is cancelled, not left a draft
            await broadcast.drop(ctx)
        ctx.done()
        return ctx.say("cancelled")
    if contact.is_command(ctx):  # 'msg 1023 …' and a shared phone: any time, the question kept
        return await contact.command(ctx)
    if small := help.small_talk(ctx) or profile.unknown_place(ctx):  # the question, if any, kept
        return _still_open(ctx, small)
    if ctx.state in STATE_HANDLERS:
        was = ctx.state
        replies = await STATE_HANDLERS[ctx.state](ctx)
        if replies is not None:
            return replies
        if was in dialog.PASSIVE or ctx.state is None:  # not a question, or the handler let it go
            ctx.done()
        elif not _clear(ctx) and not dialog.crossed(ctx):
            return _reprompt(ctx)
    elif ctx.state:
        ctx.done()  # a state from an older version: forget it rather than stall
    return await dispatch(ctx)


async def dispatch(ctx: Context) -> list[Reply]:
    """Answer by intent; an unsure or two-sided message asks sell-or-buy or shows the menu. A
    new request drops the open question (saying so); a digression keeps it (saying so)."""
    if profile.asks_profile(ctx):
        return _still_open(ctx, await profile.show_profile(ctx))
    threshold = ctx.settings.nlu.confidence_threshold
    if (
        ctx.parse.confidence < threshold
        or _sell_or_buy(ctx)
        or (dialog.crossed(ctx) and _crossable(ctx))
    ):
        return _lead(
            dialog.dropped_note(ctx, ctx.state, ctx.slots) if ctx.state else None,
            _clarify(ctx) or await _not_understood(ctx),
        )
    state, slots = ctx.state, dict(ctx.slots)
    if ctx.parse.intent in KEEP_STATE or _answers_an_order(ctx):
        replies = await INTENT_HANDLERS[ctx.parse.intent](ctx)
        if state and ctx.state in (None, state):
            ctx.state, ctx.slots = state, slots
            return _still_open(ctx, replies)
        return replies
    note = dialog.dropped_note(ctx, state, slots) if state else None
    if state == "broadcast.confirm":  # moving on from a draft cancels it: nothing half-sent later
        await broadcast.drop(ctx)
    ctx.done()
    if ctx.parse.intent == "out_of_scope":
        return _lead(note, await _not_understood(ctx, await help.out_of_scope(ctx)))
    return _lead(note, await INTENT_HANDLERS[ctx.parse.intent](ctx))


# A message that could be either side of a trade is asked about, whatever the model guessed.
CROSSABLE = {"sell", "buy", "price_query", "update_listing", "out_of_scope"}


def _crossable(ctx: Context) -> bool:
    return ctx.parse.intent in CROSSABLE or bool(ctx.parse.first("product"))


async def _not_understood(ctx: Context, replies: list[Reply] | None = None) -> list[Reply]:
    """The menu; with one order under way, how to write to the other side (never a silent
    relay)."""
    replies = replies or help.not_understood(ctx)
    hint = await contact.relay_hint(ctx)
    return [Reply(f"{replies[0].text}\n{hint}")] if hint else replies


def _still_open(ctx: Context, replies: list[Reply]) -> list[Reply]:
    reminder = dialog.still_open(ctx) if ctx.state and ctx.state not in dialog.PASSIVE else None
    return (
        [Reply(f"{replies[0].text}\n{reminder}"), *replies[1:]]
        if reminder and replies
        else replies
    )


def _lead(note: str | None, replies: list[Reply]) -> list[Reply]:
    return [Reply(f"{note}\n{replies[0].text}"), *replies[1:]] if note and replies else replies


def _clear(ctx: Context) -> bool:
    """A confident intent other than small talk: the user moved on from the question (or
    answers an order meanwhile: "yes 1023")."""
    p = ctx.parse
    ok = p.confidence >= ctx.settings.nlu.confidence_threshold
    return ok and (
        p.intent not in ("out_of_scope", "affirm", "deny", "greet") or _answers_an_order(ctx)
    )


def _answers_an_order(ctx: Context) -> bool:
    return ctx.parse.intent in ("affirm", "deny") and bool(ctx.parse.first("ref"))


def _reprompt(ctx: Context) -> list[Reply]:
    key, values = ctx.slots.get("_ask", ("help", {}))
    return [Reply(t("not_understood", ctx.lang) + t(key, ctx.lang, **values))]


def _sell_or_buy(ctx: Context) -> bool:
    """Sell and buy are the top two and close (the parse's margin), however confident the first."""
    top = ctx.parse.ranking[:2]
    return (
        len(top) == 2
        and {top[0]["name"], top[1]["name"]} == ACTIONS
        and ctx.parse.margin <= ctx.settings.nlu.ambiguity_margin
    )


def _clarify(ctx: Context) -> list[Reply] | None:
    """Two close action intents, or a message that reads either way: ask which one,
    remembering it."""
    if not _sell_or_buy(ctx) and not dialog.crossed(ctx):
        return None
    ctx.done()
    ctx.slots = {"text": ctx.parse.text, "entities": ctx.parse.entities}
    a, b = ctx.word("sell"), ctx.word("buy")
    return ctx.ask("clarify", "clarify", a=a, b=b)
