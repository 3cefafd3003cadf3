"""Reading trade details (slots) out of a parse, kept JSON-safe for the conversation store."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from handlers.context import Context
from nlu.normalize import fold, parse_price
from nlu.shapes import Entity

LIMIT = Decimal("1000000000")
QTY_PLACES, MONEY_PLACES = 3, 2  # the scales of storage.models.Qty and Money
SLOT_ENTITIES = ("product", "quantity", "unit", "price", "currency", "price_unit", "location")


def from_parse(ctx: Context) -> dict[str, str]:
    """The trade entities of this message, first of each kind."""
    return {name: value for name in SLOT_ENTITIES if (value := ctx.parse.first(name))}


def amount(value: str | None, places: int = QTY_PLACES) -> Decimal | None:
    """A positive, sane Decimal from a slot, rounded to the places the database keeps, or None
    (also when it rounds to 0: "0.0001 kg" or "0.001 yuan" would be stored as nothing)."""
    if value in (None, "None"):
        return None
    try:
        number = Decimal(value)
        if not 0 < number < LIMIT:
            return None
        number = number.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    except InvalidOperation:
        return None
    return number if number > 0 else None


def money(value: str | None) -> Decimal | None:
    """A price from a slot: amount() to the cent."""
    return amount(value, MONEY_PLACES)


def ref_answer(ctx: Context) -> int | None:
    """A reference number: the ref entity, or a message that is just digits."""
    value = ctx.parse.first("ref")
    text = ctx.parse.text.strip().lstrip("#")
    if value is None and text.isdigit():
        value = text
    return int(value) if value and value.isdigit() and len(value) < 10 else None


# Numbers that make no sense as an amount or a price: "-50kg", "at -3/kg", "1e5 kg".
_NEGATIVE = re.compile(r"(?:^|[^\w.])[-−–]\s*$")
_EXPONENT = re.compile(r"\d[eE][+-]?\d")


def bad_numbers(ctx: Context) -> dict[str, str]:
    """Slot → reason key for the quantity or price this message states but cannot mean."""
    text, bad = ctx.parse.text, {}
    for ent in ctx.parse.entities:
        if ent["entity"] not in ("quantity", "price"):
            continue
        window = text[max(0, ent["start"] - 4) : ent["end"] + 4]
        if _EXPONENT.search(window):
            bad[ent["entity"]] = "bad_exponent"
        elif _NEGATIVE.search(text[: ent["start"]]):
            bad[ent["entity"]] = "bad_negative"
        elif (
            amount(ent["value"], MONEY_PLACES if ent["entity"] == "price" else QTY_PLACES) is None
        ):
            bad[ent["entity"]] = "bad_size"
    return bad


_FILLER = re.compile(
    r"(?<![a-z])(?:about|around|approx\.?|roughly|only|just|maybe|like|i have|have|i need|need|"
    r"i want|want|it'?s|is|ok|okay|yes|no|oops|actually|sorry|i meant|meant|i mean|make it|say|"
    r"should be)(?![a-z])|"
    r"大概|大约|差不多|左右|就|是|有|要|吧|啊|呀|不对|改成|只",
    re.I,
)


def bare_number(ctx: Context) -> str | None:
    """The one number a message is made of ("50", "about 50", "三块五", "就五十吧"), else None."""
    rest = _FILLER.sub(" ", ctx.parse.text.strip().strip("!.。！?？,，~ ")).strip(" ,，.。!！")
    value = parse_price(rest) if rest and len(rest) <= 12 else None
    return str(value) if value is not None and value > 0 else None


_TOTAL = re.compile(
    r"(?<![a-z])(?:total|in all|altogether|for all|for everything|for the lot|all for|the lot|"
    r"lump ?sum)(?![a-z])|总共|一共|总价|合计|全部|共计|总计"
)


def total_price(ctx: Context) -> bool:
    """Whether the message's price is for the whole quantity ("50 kg for 150 total",
    "一共150块")."""
    price = next((e for e in ctx.parse.entities if e["entity"] == "price"), None)
    if price is None:
        return False
    text = ctx.parse.text.lower()
    near = text[max(0, price["start"] - 12) : price["end"] + 14]
    return bool(_TOTAL.search(near)) and not ctx.parse.first("price_unit")


def unit_price_of_total(total: Decimal, quantity: Decimal) -> Decimal:
    """¥150 for 50 kg is ¥3.00 per kg (to the cent)."""
    return (total / quantity).quantize(Decimal("0.01"), ROUND_HALF_UP)


_ORDINALS = {
    "one": 1,
    "first": 1,
    "1st": 1,
    "two": 2,
    "second": 2,
    "2nd": 2,
    "three": 3,
    "third": 3,
    "3rd": 3,
    "four": 4,
    "fourth": 4,
    "4th": 4,
    "five": 5,
    "fifth": 5,
    "5th": 5,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
}
_CHOICE = re.compile(
    r"^(?:the\s+|i'?ll\s+take\s+(?:the\s+)?|take\s+(?:the\s+)?|i\s+want\s+(?:the\s+)?|pick\s+|choose\s+|"
    r"number\s*|no\.?\s*|nr\.?\s*|option\s*|offer\s*|#|要|选|第)?\s*"
    r"(\d{1,2}|one|two|three|four|five|first|second|third|fourth|fifth|1st|2nd|3rd|4th|5th|[一二两三四五])"
    r"\s*(?:st|nd|rd|th)?\s*(?:one|offer|option|个|号|家|条|吧)?\s*(?:please|pls|plz)?$",
    re.I,
)


def choice_number(text: str) -> int | None:
    """The offer a buyer picks: "2", "two", "the second", "#2", "第二个", "2号"; else None."""
    match = _CHOICE.match(text.strip().strip(".)。!！ ").lower())
    if not match:
        return None
    word = match.group(1)
    return int(word) if word.isdigit() else _ORDINALS.get(word)


_SEPARATOR = re.compile(
    r"(?<!\d)[,;，；、](?!\d)|(?<![a-z])(?:and|plus|also|n)(?![a-z])|&|和|还有|以及|另外|再加"
)


def items(ctx: Context) -> list[dict[str, str]]:
    """The trade details of each product a message names, in order ("50kg apples at 3/kg and
    20kg pears at 2/kg" is two); a part naming no product belongs to the one before it."""
    text = ctx.parse.text.lower()
    cuts = [m.start() for m in _SEPARATOR.finditer(text)]
    parts: list[list[Entity]] = [[] for _ in range(len(cuts) + 1)]
    for ent in ctx.parse.entities:
        parts[sum(1 for c in cuts if c <= ent["start"])].append(ent)
    groups: list[list[Entity]] = []
    for part in parts:
        if groups and _belongs_to(part, groups[-1]):
            groups[-1] += part
        else:
            groups.append(list(part))
    if len(groups) > 1 and not _has(groups[0], "product") and not _details(groups[0]):
        groups[1][:0] = groups.pop(0)  # "sell, apples 50kg": the verb alone before the item
    return [_first_of_each(g) for g in groups]


def _has(part: list[Entity], entity: str) -> bool:
    return any(e["entity"] == entity for e in part)


def _details(part: list[Entity]) -> bool:
    return _has(part, "quantity") or _has(part, "price")


def _belongs_to(part: list[Entity], group: list[Entity]) -> bool:
    """Whether a comma/and-separated part adds to the item before it: it names the same product
    or none, and gives no amount or price that item already has ("50kg apples, 3/kg" is one;
    "10kg plums 7/kg and 20kg onions 3/kg" with plums unknown is two)."""
    mine = next((e["value"] for e in part if e["entity"] == "product"), None)
    theirs = next((e["value"] for e in group if e["entity"] == "product"), None)
    if mine is not None and theirs is not None and mine != theirs:
        return False
    return not any(_has(part, k) and _has(group, k) for k in ("quantity", "price"))


def _first_of_each(entities: list[Entity]) -> dict[str, str]:
    out: dict[str, str] = {}
    for ent in entities:
        if ent["entity"] in SLOT_ENTITIES:
            out.setdefault(ent["entity"], ent["value"])
    return out


def without_entities(ctx: Context) -> str:
    """The message's text with every entity span blanked out."""
    text = list(ctx.parse.text)
    for ent in ctx.parse.entities:
        text[ent["start"] : ent["end"]] = " " * (ent["end"] - ent["start"])
    return "".join(text)


def loose_number(ctx: Context) -> str | None:
    """A number outside every entity ("apples now 3.5": the 3.5), when there is exactly one."""
    found = re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", without_entities(ctx))
    return found[0] if len(found) == 1 and amount(found[0], MONEY_PLACES) else None


# several words a line: one a line would take 130 lines
# fmt: off
_STOP = frozenset([
    "sell", "selling", "sale", "sel", "buy", "buying", "want", "need", "have", "has", "got",
    "i", "we", "my", "our", "to", "the", "a", "an", "of", "at", "for", "per", "each", "some",
    "please", "pls", "plz", "kg", "kgs", "kilo", "kilos", "jin", "ton", "tons", "g", "bag",
    "bags", "sack", "sacks", "box", "boxes", "crate", "crates", "piece", "pieces", "pcs",
    "yuan", "kuai", "rmb", "ksh", "kes", "bob", "rs", "inr", "usd", "shillings", "rupees",
    "dollars", "fresh", "good", "new", "is", "are", "it", "this", "these", "that", "those",
    "and", "or", "with", "in", "from", "now", "only", "about", "around", "total", "all",
    "price", "cost", "how", "much", "many", "hi", "hello", "ok", "yes", "no", "sorry",
    "actually", "mean", "i'm", "im", "am", "dont", "don't", "wanna", "gonna", "like", "would",
    "more", "another", "extra", "additional", "add", "left", "sold", "out", "oops", "meant",
    "what", "which", "whats", "what's", "how", "today", "current", "market", "rate", "rates",
    "tell", "me", "give", "show", "send", "check", "know", "latest", "cheap",
])
# fmt: on
_ZH_STOP = re.compile(
    r"[卖买我有要想的了出售收购求一些点斤公斤千克吨块元钱毛每个只袋箱筐包克升多少价格便宜新鲜好还剩共总零〇二两三四五六七八九十百千万]"
)


def unknown_word(ctx: Context) -> str | None:
    """The word that stands where a product should be but is not in the catalog ("coconut")."""
    rest = without_entities(ctx).lower()
    for word in re.findall(r"[a-z][a-z'-]+|[\u4e00-\u9fff]+", rest):
        word = _ZH_STOP.sub("", word) if not word.isascii() else word
        if len(word) >= 2 and word not in _STOP:
            return word[:24]
    return None


_GLUE = re.compile(
    r"(?<![a-z])(?:at|per|for|each|a|an|of|the|and|is|it's|its|kg|please|pls)(?![a-z])|[每一的个]|[\s\W\d_]+"
)


def only_details(ctx: Context) -> bool:
    """Whether the message is nothing but trade details ("apples", "50kg at 3", "苹果 3块")."""
    rest = _FILLER.sub(" ", without_entities(ctx).lower())
    return not _GLUE.sub("", rest)


def product_words(ctx: Context) -> dict[str, str]:
    """product key -> the catalog name the user wrote for it, where it is not the display name."""
    words = {}
    for ent in ctx.parse.entities:
        product = ctx.catalog.products.get(ent["value"]) if ent["entity"] == "product" else None
        said = fold(ctx.parse.text[ent["start"] : ent["end"]]).strip()
        if product and said in product.en[1:]:
            words[ent["value"]] = said
    return words


def written_in_pinyin(ctx: Context) -> bool:
    """Whether a product is written in pinyin ("pingguo", "tudou"): the writer reads Chinese.
    A typo of an English name ("aples") starts like that name; pinyin does not."""
    for ent in ctx.parse.entities:
        product = ctx.catalog.products.get(ent["value"]) if ent["entity"] == "product" else None
        said = fold(ctx.parse.text[ent["start"] : ent["end"]]).strip()
        if (
            product
            and said.isascii()
            and said.isalpha()
            and product.zh
            and not any(said[:2] == name[:2] for name in product.en)
        ):
            return True
    return False
