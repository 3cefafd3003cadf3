"""How two traders reach each other: a name asked once, a shared phone, relayed messages.

Relay forms (any time, also while a question is open): `msg 1023 <text>`, `message 1023 …`,
`reply 1023 …`, `reply to order 1023 …`, `回复1023 …`, `留言1023 …`, `回复订单1023：…`.
Phone shares: `my phone is 0712345678`, `phone +254712345678`, `call me on …`,
`我的电话13812345678`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import phonenumbers

from handlers import dialog, profile, texts
from handlers.context import Context
from handlers.messages import Reply
from nlu.lexicon import COMMON_WORDS
from nlu.normalize import CURRENCY_WORDS, EN_NUMBER_WORDS, UNIT_WORDS
from storage.models import Order, User
from storage.repos import REF_OFFSET

Handler = Callable[[Context], Awaitable[list[Reply] | None]]

NAME_STATE = "contact.name"
OPEN = ("accepted", "delivered", "disputed")  # the trade is under way: the two may talk
RELAY = re.compile(
    r"^\s*(?:message|msg|reply(?:\s+to)?|回复|留言)\s*(?:order\s*|订单\s*)?(?:no\.?\s*|#\s*)?"
    r"(?P<ref>\d{1,9})(?!\d)\s*号?[\s:：,，.。、-]*(?P<text>.*)$",
    re.I | re.S,
)
PHONE = re.compile(
    r"^\s*(?:(?:my\s+)?(?:phone|mobile|cell|tel|telephone|whatsapp)(?:\s*(?:number|no\.?|num|#))?"
    r"|my\s+(?:number|no\.?|contact)|(?:call|reach|sms|text)\s+me\s+(?:on|at)"
    r"|(?:我的|本人)?(?:电话号码|手机号码|联系电话|电话|手机号|手机))"
    r"(?:\s+is|是|为)?\s*[:：=]?\s*(?P<number>\+?\d[\d\s().-]*)[\s.。!！]*$",
    re.I,
)
# deployment currency → the region a number without +country code is read in
REGION = {"CNY": "CN", "KES": "KE", "INR": "IN", "USD": "US"}
EXAMPLE = {"CN": "13812345678", "KE": "0712345678", "IN": "9876543210", "US": "2025550123"}

SKIP = {
    "skip",
    "skip it",
    "no",
    "nope",
    "nah",
    "no thanks",
    "no thank you",
    "not now",
    "later",
    "pass",
    "none",
    "no name",
    "rather not",
    "next",
    "不",
    "不了",
    "不必",
    "略过",
}
ZH_SKIP = re.compile(r"跳过|不用|不要|不需要|不想|不告诉|再说|以后|下次|保密")
# words people answer with that are not names: the NLU's list, less given names that are words
NOT_NAMES = (
    (COMMON_WORDS - {"peace", "may", "will", "hope", "joy", "faith"})
    | set(UNIT_WORDS)
    | set(CURRENCY_WORDS)
    | EN_NUMBER_WORDS
    | {
        "skip",
        "pass",
        "nope",
        "nah",
        "yeah",
        "yep",
        "sawa",
        "asante",
        "habari",
        "jambo",
        "mambo",
        "poa",
        "sasa",
        "namaste",
        "bye",
        "hmm",
        "lol",
        "wait",
        "test",
        "msg",
        "message",
        "reply",
        "phone",
        "number",
    }
)
ZH_NOT_NAMES = {
    "谢谢",
    "你好",
    "您好",
    "好的",
    "收到",
    "知道了",
    "可以",
    "没有",
    "是的",
    "对的",
    "明白",
    "再见",
    "哈哈",
    "农户",
    "买家",
    "名字",
    "多谢",
    "行了",
    "好了",
}
# a bare Chinese answer with these is a sentence, not a name
ZH_SENTENCE = re.compile(
    r"[吗呢么吧啊呀嗯哦哈了你您我谁哪怎什？?]|明天|今天|现在|这个|那个|一下|知道|没有"
)
_LETTER = r"[^\W\d_\u3000-\u9fff\uff00-\uffef]"  # a letter of an alphabet: CJK are read by ZH_NAME
LATIN_NAME = re.compile(
    rf"{_LETTER}(?:{_LETTER}|['.-])*(?:\s+{_LETTER}(?:{_LETTER}|['.-])*){{0,3}}"
)
ZH_NAME = re.compile(r"[\u4e00-\u9fff·]{2,6}")
# "it's Ravi", "Ravi here", "Ravi this side": the name without the frame around it
FRAME = re.compile(r"^(?:it'?s|its|this is)\s+|\s+(?:here|this side)$", re.I)
MAX_NAME = 64


# the name question ------------------------------------------------------------------------
async def ask_name_once(ctx: Context) -> str | None:
    """At a user's first trade: the line asking their name (opening contact.name), else None.

    Call it last, after the handler's own ctx.done() or passive state ("sell.written"), which
    the question keeps for a message that is not an answer to it; after a real question it
    waits for the next trade (one open question at a time).
    """
    if (
        ctx.user.name
        or ctx.user.name_asked_at is not None
        or (ctx.state and ctx.state not in dialog.PASSIVE)
    ):
        return None
    ctx.user.name_asked_at = ctx.now
    before = {"state": ctx.state, "slots": ctx.slots} if ctx.state else None
    ctx.done()
    question = ctx.ask(NAME_STATE, "ask_name")[0].text
    if before:
        ctx.slots["_then"] = before
    return question


async def on_name(ctx: Context, resume: Handler) -> list[Reply] | None:
    """The answer to the name question; None when the message is not one (routed as usual).
    resume: the handler of the state the question interrupted, for a message that is none."""
    text = ctx.parse.text.strip().strip("!.。！~ ").lower()
    if (text in SKIP or (len(text) <= 6 and ZH_SKIP.search(text))) and not await _answers_an_order(
        ctx
    ):
        ctx.done()
        return ctx.say("name_skipped")
    name = _stated_name(ctx) or _bare_name(ctx)
    if name:
        ctx.done()
        return await profile.save_profile(ctx, name, ctx.parse.first("location"))
    if (
        ctx.parse.intent == "affirm"
        and not ctx.parse.entities
        and not await ctx.uow.orders.pending_for_farmer(ctx.user.id)
    ):
        return ctx.say(
            "ask_name_again"
        )  # "ok" / "yes": willing, but no name yet (the question stays)
    return await _state_before(ctx, resume)


async def _state_before(ctx: Context, resume: Handler) -> list[Reply] | None:
    """Not a name: what the state before the question ("sell.written": a correction) makes of
    it."""
    before, asked = ctx.slots.get("_then"), ctx.slots.get("_ask")
    ctx.done()
    if not before:
        return None
    ctx.state, ctx.slots = before["state"], before["slots"]
    replies = await resume(ctx)
    if replies is not None and ctx.state == before["state"]:  # corrected: the name is still asked
        ctx.slots = {"_ask": asked, "_then": {"state": ctx.state, "slots": ctx.slots}}
        ctx.state = NAME_STATE
    return replies


async def _answers_an_order(ctx: Context) -> bool:
    """A bare 'no' from a farmer with an order waiting answers the order, not the question."""
    return ctx.parse.intent == "deny" and bool(
        await ctx.uow.orders.pending_for_farmer(ctx.user.id)
    )


def _confident(ctx: Context) -> bool:
    return ctx.parse.confidence >= ctx.settings.nlu.confidence_threshold


def _stated_name(ctx: Context) -> str | None:
    """'my name is Wanjiru', "I'm Ravi", '叫我老王': the name the NLU found, when not blank
    (profile.save_profile strips it and cuts it to its length)."""
    name = ctx.parse.first("name")
    if name and (ctx.parse.intent == "set_profile" or not _confident(ctx)):
        return name if name.strip() else None
    return None


def _bare_name(ctx: Context) -> str | None:
    """A message that is only a name ('Li Wei', '王大伯'): no entity, no clear intent, no known
    word."""
    if ctx.parse.entities or (
        _confident(ctx) and ctx.parse.intent not in ("out_of_scope", "set_profile")
    ):
        return None
    text = FRAME.sub("", ctx.parse.text.strip().strip("!.。！~ ")).strip()
    if len(text) > MAX_NAME:
        return None
    if LATIN_NAME.fullmatch(text) and not any(
        w.lower().strip("'.-") in NOT_NAMES for w in text.split()
    ):
        return text
    if ZH_NAME.fullmatch(text) and text not in ZH_NOT_NAMES and not ZH_SENTENCE.search(text):
        return text
    return None


# commands: a relay or a phone share -------------------------------------------------------
def _relay_match(text: str) -> re.Match[str] | None:
    found = RELAY.match(text)
    # refs start above REF_OFFSET, so 'reply 2' stays an offer's number
    return found if found and int(found["ref"]) > REF_OFFSET else None


def is_command(ctx: Context) -> bool:
    """Whether the message is a relay ('msg 1023 …') or a phone share."""
    text = ctx.parse.text
    return _relay_match(text) is not None or PHONE.match(text) is not None


async def command(ctx: Context) -> list[Reply]:
    """Relay the message or save the phone; an open question stays open."""
    relay = _relay_match(ctx.parse.text)
    if relay is not None:
        return await relay_message(ctx, int(relay["ref"]), relay["text"].strip())
    phone = PHONE.match(ctx.parse.text)
    assert phone is not None, "is_command: a message that is no relay is a phone share"
    return share_phone(ctx, phone["number"].strip())


# phone ------------------------------------------------------------------------------------
def _region(ctx: Context) -> str:
    """Where a number without +country code is read: the user's own number's country (a +254
    user's 0712… is Kenyan), else the deployment's."""
    own = ctx.user.address.removeprefix("whatsapp:")
    if ctx.user.channel != "wechat" and own.startswith("+"):
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(own))
        except phonenumbers.NumberParseException:
            region = None
        if region in EXAMPLE:
            return region
    return REGION.get(ctx.market.currency, "CN")


def e164(raw: str, region: str) -> str | None:
    """The number in E.164 when it is a valid one, else None."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def share_phone(ctx: Context, raw: str) -> list[Reply]:
    """Keep the number the user gave as the one the other side of their orders gets."""
    phone = e164(raw, _region(ctx))
    if phone is None:
        return ctx.say("phone_invalid", number=raw, example=EXAMPLE[_region(ctx)])
    ctx.user.phone = phone
    return ctx.say("phone_saved", phone=phone)


# relay ------------------------------------------------------------------------------------
def _role(order: Order, user_id: int) -> str:
    return "farmer" if order.farmer_id == user_id else "buyer"


def _who(user: User, role: str, lang: str) -> str:
    """'Wanjiru (buyer)', or 'the buyer' for a user without a name."""
    role_word = texts.word(role, lang)
    if user.name:
        return texts.t("relay_who", lang, name=user.name, role=role_word)
    return texts.t("relay_role", lang, role=role_word)


def _status(status: str, lang: str) -> str:
    return texts.word(status, lang) if status in texts.WORDS else status


async def relay_message(ctx: Context, ref: int, text: str) -> list[Reply]:
    """Pass text to the other side of order ref, when the order is under way."""
    order = await ctx.uow.orders.get(ref)
    if order is None or ctx.user.id not in (order.buyer_id, order.farmer_id):
        return ctx.say("unknown_ref", ref=ref)  # someone else's order: as if it did not exist
    mine = _role(order, ctx.user.id)
    if order.status == "pending":
        return ctx.say(f"relay_wait_{mine}", ref=ref)
    if order.status not in OPEN:
        return ctx.say("relay_stopped", ref=ref, status=_status(order.status, ctx.lang))
    other_id, theirs = (
        (order.buyer_id, "buyer") if mine == "farmer" else (order.farmer_id, "farmer")
    )
    other = await ctx.uow.users.get(other_id)
    assert other is not None, "an order's buyer and farmer are users (foreign keys)"
    if not text:
        return ctx.say("relay_ask_text", ref=ref, who=_who(other, theirs, ctx.lang))
    return _forward(ctx, order, other, mine, theirs, text)


def _forward(
    ctx: Context, order: Order, other: User, mine: str, theirs: str, text: str
) -> list[Reply]:
    """The relayed message as an outbox row of kind relay, in the reader's language."""
    lang = ctx.lang_of(other)
    body = _relayed(ctx, order.id, mine, lang, text)
    if not ctx.fits(other.channel, body):
        room = _room(ctx, order.id, mine, lang, other.channel, text)
        return ctx.say("relay_too_long", ref=order.id, n=room)
    ctx.notices.append(Reply(body, to=other.id, kind="relay"))
    return ctx.say("relay_sent", ref=order.id, who=_who(other, theirs, ctx.lang))


def _relayed(ctx: Context, ref: int, mine: str, lang: str, text: str) -> str:
    return texts.t("relay_message", lang, ref=ref, who=_who(ctx.user, mine, lang), text=text)


def _room(ctx: Context, ref: int, mine: str, lang: str, channel: str, text: str) -> int:
    """How many characters of text still fit one message on the reader's channel."""
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if ctx.fits(channel, _relayed(ctx, ref, mine, lang, text[:mid])):
            low = mid
        else:
            high = mid - 1
    return low


async def relay_hint(ctx: Context) -> str | None:
    """For a not-understood answer: with exactly one order under way, how to write to the
    other side (never a silent forward); None otherwise."""
    orders = [o for o in await ctx.uow.orders.of_user(ctx.user.id, limit=20) if o.status in OPEN]
    if len(orders) != 1:
        return None
    order = orders[0]
    theirs = "buyer" if _role(order, ctx.user.id) == "farmer" else "farmer"
    return ctx.text("relay_hint", ref=order.id, role=ctx.word(theirs))
