"""Units, conversion and how quantities and money are written (SPEC §3, §4)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

KG_PER_UNIT = {
    "kg": Decimal("1"),
    "jin": Decimal("0.5"),
    "ton": Decimal("1000"),
    "g": Decimal("0.001"),
    "lb": Decimal("0.45359237"),
}

UNIT_NAMES = {
    "en": {
        "kg": "kg",
        "jin": "jin",
        "ton": "t",
        "g": "g",
        "lb": "lb",
        "litre": "L",
        "bag": "bag",
        "box": "box",
        "crate": "crate",
        "piece": "pc",
    },
    "zh": {
        "kg": "公斤",
        "jin": "斤",
        "ton": "吨",
        "g": "克",
        "lb": "磅",
        "litre": "升",
        "bag": "袋",
        "box": "箱",
        "crate": "筐",
        "piece": "个",
    },
}
EN_PLURALS = {"bag": "bags", "box": "boxes", "crate": "crates", "piece": "pcs"}
SYMBOLS = {"CNY": "¥", "USD": "$", "INR": "₹", "KES": "KES "}


def convert(qty: Decimal, frm: str, to: str) -> Decimal | None:
    """qty in unit frm expressed in unit to; None when the units do not convert."""
    if frm == to:
        return qty
    if frm in KG_PER_UNIT and to in KG_PER_UNIT:
        return qty * KG_PER_UNIT[frm] / KG_PER_UNIT[to]
    return None


def price_per(price: Decimal, per: str, to: str) -> Decimal | None:
    """A price per unit `per` restated per unit `to` (¥4/kg = ¥2/jin)."""
    one = convert(Decimal(1), to, per)
    return None if one is None else price * one


def number(value: Decimal | int) -> str:
    """50.000 → '50', 2.50 → '2.5', 0.333333 → '0.33'."""
    rounded = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)  # an int 0 too
    text = format(rounded.normalize(), "f")
    return text


def unit_name(unit: str, lang: str, qty: Decimal | int | None = None) -> str:
    name = UNIT_NAMES.get(lang, UNIT_NAMES["en"]).get(unit, unit)
    if lang != "zh" and qty is not None and qty != 1 and unit in EN_PLURALS:
        return EN_PLURALS[unit]
    return name


def qty(value: Decimal | int, unit: str, lang: str) -> str:
    """'50 kg' in English, '50斤' in Chinese; less than a ton is written in kg, or jin for a
    Chinese reader ('10 kg' / '20斤', not '0.01 t')."""
    if unit == "ton" and 0 < value < 1:
        value, unit = (value * 2000, "jin") if lang == "zh" else (value * 1000, "kg")
    sep = "" if lang == "zh" else " "
    return f"{number(value)}{sep}{unit_name(unit, lang, value)}"


def money(value: Decimal | int, currency: str) -> str:
    """'¥3.50', 'KES 40', '$2.00'."""
    value = Decimal(value)  # an int or str from a caller must not fail the reply
    whole = value == value.to_integral_value()
    digits = "0" if whole and currency in ("KES", "INR") else "0.01"
    amount = value.quantize(Decimal(digits), rounding=ROUND_HALF_UP)
    return f"{SYMBOLS.get(currency, currency + ' ')}{amount:,}"


def unit_price(value: Decimal, currency: str, per: str, lang: str) -> str:
    """'¥3.50/斤', 'KES 40/kg'."""
    return f"{money(value, currency)}/{unit_name(per, lang)}"


def line_total(quantity: Decimal, unit: str, price: Decimal, per: str) -> Decimal | None:
    """What quantity costs at price per `per`; None if the units do not convert."""
    amount = convert(quantity, unit, per)
    return None if amount is None else amount * price
