"""The open question's rules (SPEC §3): a new request starts over, an answer answers only the
question, a correction says what it changed, and a message that could mean sell or buy is asked
about instead of guessed (Rasa CALM's corrections and digressions are the model)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Literal

from handlers import units
from handlers.context import Context, Slots
from handlers.messages import Reply
from handlers.slots import (
    bad_numbers,
    bare_number,
    from_parse,
    only_details,
    total_price,
)

# A request's handler, and what goes on with an answer's lead lines (the next question).
Start = Callable[[Context], Awaitable[list[Reply]]]
GoOn = Callable[[Context, list[str]], Awaitable[list[Reply]]]
# What an answer holds: its values and lead lines; "restart" for another product's details.
Found = tuple[dict[str, str], list[str]] | Literal["restart"]

# States that are not questions: what the user may say next, else routed as usual.
PASSIVE = frozenset({"sell.written", "contact.name", "orders.decided"})

# Strong action verbs: a message with one asks for that action itself. Weak ones ("I have",
# "need", "要") are how people answer the bot's own questions, so they do not count here.
SELL_VERB = re.compile(
    r"(?<![a-z])(?:sell|selling|sel|offering|for sale|nauza|kuuza|ninauza|uza)(?![a-z])"
    r"|卖(?![完光了掉出家])|出售|供应"
)
BUY_VERB = re.compile(
    r"(?<![a-z])(?:buy|buying|purchase|purchasing|nunua|kununua|ninunue|nataka kununua|nipe)"
    r"(?![a-z])|买(?!家)|求购|收购|采购|订购"
)
# Asking whether the other side sells or buys is the other side's action, and toneless
# pinyin "mai" is 买 (buy) or 卖 (sell): such messages are asked about, never guessed.
CROSSED = re.compile(
    r"有.{0,8}卖[吗嘛不没]|有没有.{0,8}卖|有卖.{0,8}[吗嘛]|谁(?:有|家有)?.{0,8}卖"
    r"|哪(?:里|儿)有.{0,8}卖"
    r"|谁要|有人要|要不要|谁买|有人买|收不收|买不买"
    r"|(?<![a-z])(?:buy (?:my|our|from me|from us)"
    r"|who (?:is )?(?:sells|selling|buys|buying|wants|needs)"
    r"|any(?:one|body)? (?:selling|buying|want|wants|need|needs|interested)|for sale\s*\?)"
    r"|(?<![a-z])mai(?![a-z0-9])"
    r"|^有没有.{1,8}$|^有.{1,8}[吗嘛][?？]?$"
    r"|(?<![a-z])(?:any|anyone has|who has)\b.*\bavailable|^\w+ available\??$"
)
CORRECTION = re.compile(
    r"^\W*(?:no+|nope|not|wrong|sorry|oops|actually|i mean|i meant|make it|change (?:it )?to"
    r"|correction|rather)(?![a-z])|不对|不是|错了|说错|改成|改为|改一下|应该是|更正|其实"
)


def action_verb(text: str) -> str | None:
    """sell or buy when the message carries that strong verb (and not the other), else None."""
    folded = text.lower()
    sell, buy = bool(SELL_VERB.search(folded)), bool(BUY_VERB.search(folded))
    return "sell" if sell and not buy else "buy" if buy and not sell else None


def crossed(ctx: Context) -> bool:
    """Whether the message could as well mean selling as buying ("有苹果要卖吗", "buy my
    avocados"), or its verb says the other action than the model read ("nataka kununua" read as
    a sale)."""
    folded = ctx.parse.text.lower()
    both = SELL_VERB.search(folded) and BUY_VERB.search(folded)
    verb = action_verb(folded)
    against = verb is not None and ctx.parse.intent in ("sell", "buy") and verb != ctx.parse.intent
    return bool(both or against or CROSSED.search(folded))


def confident(ctx: Context) -> bool:
    return ctx.parse.confidence >= ctx.settings.nlu.confidence_threshold


def is_new_request(ctx: Context, flow: str | None) -> bool:
    """A complete request of its own: a confident sell/buy with its verb, for the other action
    or naming its product (then it runs with all of its own details)."""
    if not confident(ctx) or ctx.parse.intent not in ("sell", "buy"):
        return False
    if crossed(ctx):
        return bool(ctx.parse.first("product"))
    verb = action_verb(ctx.parse.text)
    return verb == ctx.parse.intent and (verb != flow or bool(ctx.parse.first("product")))


def is_correction(ctx: Context) -> bool:
    return bool(CORRECTION.search(ctx.parse.text.strip().lower()))


def half_filled(slots: Slots) -> bool:
    return any(slots.get(k) for k in ("product", "quantity", "price"))


def dropped_note(ctx: Context, state: str, slots: Slots) -> str | None:
    """One short clause saying an unfinished listing or request was dropped, if one was."""
    flow = state.split(".")[0]
    if flow not in ("sell", "buy") or not half_filled(slots) or state == "sell.written":
        return None
    if not slots.get("product"):
        return ctx.text(f"dropped_{flow}_any")
    return ctx.text(f"dropped_{flow}", product=ctx.product(slots["product"]))


def still_open(ctx: Context) -> str | None:
    """The open question again, for a reply that answered something else meanwhile."""
    key, values = ctx.slots.get("_ask", (None, {}))
    if not key:
        return None
    return ctx.text("still_open", question=ctx.text(key, **values))


def read_answer(ctx: Context, asked: str, allowed: tuple[str, ...]) -> Found | None:
    """(values, lead lines) that answer the question; "restart" for another product's
    details; None when the message holds no answer. A number fills only its own slot."""
    flow = (ctx.state or "").split(".")[0]
    if (
        confident(ctx) and ctx.parse.intent not in (flow, "out_of_scope") and not only_details(ctx)
    ) or ctx.parse.first("ref"):
        return None  # "honey price?", "apples sold out", "yes 1023": a request of its own
    values = {k: v for k, v in from_parse(ctx).items() if k in allowed}
    lead = []
    for slot, reason in bad_numbers(ctx).items():
        values.pop(slot, None)
        lead.append(ctx.text(reason, what=ctx.word(slot)))
    if asked in ("quantity", "price") and not ({"quantity", "price"} & values.keys()) and not lead:
        bare = bare_number(ctx)
        if bare is not None and asked in allowed:
            values[asked] = bare
    old = ctx.slots.get("product")
    if values.get("product") and old and values["product"] != old and not is_correction(ctx):
        return (
            "restart"
            if {"quantity", "price"} & values.keys()
            else _product_changed(ctx, values, lead)
        )
    if asked == "product" and "product" not in values and not lead:
        return None
    if not values and not lead:
        return None
    if asked == "price" and "price" in values and total_price(ctx):
        values["price_total"] = values.pop("price")
    lead += _changes(ctx, values)
    return values, lead


def _product_changed(
    ctx: Context, values: dict[str, str], lead: list[str]
) -> tuple[dict[str, str], list[str]]:
    """Another product alone ("pears" while asked about apples): the details said for the old
    product do not carry over to it."""
    for key in ("quantity", "unit", "price", "currency", "price_unit", "price_total"):
        ctx.slots.pop(key, None)
    return values, [*lead, ctx.text("slot_changed", what=ctx.product(values["product"]))]


def _changes(ctx: Context, values: dict[str, str]) -> list[str]:
    """ "Got it: 100 kg." for a detail given earlier and now said differently."""
    said = []
    if "quantity" in values and ctx.slots.get("quantity") not in (None, values["quantity"]):
        said.append(
            ctx.qty(
                Decimal(values["quantity"]),
                values.get("unit") or ctx.slots.get("unit") or ctx.market.display_unit,
            )
        )
    if "price" in values and ctx.slots.get("price") not in (None, values["price"]):
        said.append(
            units.money(Decimal(values["price"]), values.get("currency") or ctx.market.currency)
        )
    return [ctx.text("slot_changed", what=", ".join(said))] if said else []


async def restart(ctx: Context, state: str, handler: Start) -> list[Reply]:
    """Drop the unfinished question (saying so) and run the message as a request of its own."""
    note = dropped_note(ctx, state, ctx.slots)
    ctx.done()
    replies = await handler(ctx)
    return [Reply(f"{note}\n{replies[0].text}"), *replies[1:]] if note and replies else replies


async def answer(
    ctx: Context, flow: str, allowed: tuple[str, ...], start: Start, go_on: GoOn
) -> list[Reply] | None:
    """An open sell/buy question's answer: fill what it says and go on (go_on(ctx, lead));
    None when it is no answer or a request of its own; another product starts over (start)."""
    if is_new_request(ctx, flow):
        return None
    state = ctx.state
    assert state is not None, "an answer is read while its sell/buy question is open"
    found = read_answer(ctx, state.split(".")[1], allowed)
    if found is None:
        return None
    if found == "restart":
        return await restart(ctx, state, start)
    values, lead = found
    ctx.slots.update(values)
    return await go_on(ctx, lead)
