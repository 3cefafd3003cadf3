"""Reading trade details (slots) out of a parse, kept JSON-safe for the conversation store."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from handlers.context import Context
from nlu.normalize import parse_price

LIMIT = Decimal("1000000000")
QTY_PLACES, MONEY_PLACES = 3, 2  # the scales of storage.models.Qty and Money
SLOT_ENTITIES = ("product", "quantity", "unit", "price", "currency", "price_unit", "location")


def from_parse(ctx: Context) -> dict:
    """The trade entities of this message, first of each kind."""
    return {name: ctx.parse.first(name) for name in SLOT_ENTITIES if ctx.parse.first(name)}


def merge(ctx: Context, new: dict) -> None:
    for key, value in new.items():
        ctx.slots[key] = value


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


def number_answer(ctx: Context, prefer: str) -> str | None:
    """The number a user gave in reply to a question: the preferred entity, else any number."""
    other = "price" if prefer == "quantity" else "quantity"
    for name in (prefer, other):
        value = ctx.parse.first(name)
        if amount(value) is not None:
            return value
    bare = parse_price(ctx.parse.text.strip())  # "3.5", "三块五", "50" sent on their own
    return str(bare) if amount(str(bare)) is not None else None


def ref_answer(ctx: Context) -> int | None:
    """A reference number: the ref entity, or a message that is just digits."""
    value = ctx.parse.first("ref")
    text = ctx.parse.text.strip().lstrip("#")
    if value is None and text.isdigit():
        value = text
    return int(value) if value and value.isdigit() and len(value) < 10 else None
