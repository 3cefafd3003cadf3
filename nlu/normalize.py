"""Normalizers for numbers, prices, quantities, units and currencies (SPEC §4, §5).

Every value is a Decimal (money is never float). Text folding keeps string length so that
spans found in folded text index the original text.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import cn2an

UNIT_WORDS: dict[str, str] = {
    **dict.fromkeys(
        [
            "kg",
            "kgs",
            "kilo",
            "kilos",
            "kilogram",
            "kilograms",
            "kilogramme",
            "kilogrammes",
            "公斤",
            "千克",
            "gongjin",
        ],
        "kg",
    ),
    **dict.fromkeys(["jin", "jins", "catty", "catties", "斤"], "jin"),
    **dict.fromkeys(["ton", "tons", "tonne", "tonnes", "t", "mt", "吨", "dun", "tani"], "ton"),
    **dict.fromkeys(["g", "gram", "grams", "gramme", "grammes", "gm", "gms", "克"], "g"),
    **dict.fromkeys(["lb", "lbs", "pound", "pounds"], "lb"),
    **dict.fromkeys(
        ["l", "litre", "litres", "liter", "liters", "ltr", "ltrs", "lts", "升", "公升", "lita"],
        "litre",
    ),
    **dict.fromkeys(
        ["bag", "bags", "sack", "sacks", "袋", "包", "gunia", "magunia", "dai"], "bag"
    ),
    **dict.fromkeys(["box", "boxes", "carton", "cartons", "ctn", "ctns", "箱", "xiang"], "box"),
    **dict.fromkeys(["crate", "crates", "筐", "kreti", "kuang"], "crate"),
    **dict.fromkeys(["piece", "pieces", "pcs", "pc", "个", "只", "头", "颗"], "piece"),
}

CURRENCY_WORDS: dict[str, str] = {
    **dict.fromkeys(["元", "块", "块钱", "¥", "rmb", "yuan", "kuai", "cny", "人民币"], "CNY"),
    # "30/=" is how East Africa writes shillings; "30/-" is not here, India writes it too
    **dict.fromkeys(
        ["ksh", "kshs", "kes", "shilling", "shillings", "shilingi", "bob", "sh", "shs", "/="],
        "KES",
    ),
    **dict.fromkeys(["rs", "rupee", "rupees", "₹", "inr"], "INR"),
    **dict.fromkeys(["$", "usd", "dollar", "dollars"], "USD"),
}

_EN_NUMBERS: dict[str, int] = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_EN_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
EN_NUMBER_WORDS = frozenset(_EN_NUMBERS) | frozenset(_EN_SCALES) | {"half"}

CN_DIGITS = "零〇一二两三四五六七八九"
CN_NUMERAL_CHARS = CN_DIGITS + "十百千万亿点"
_CN_DIGIT_VALUE = {ch: i for i, ch in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
# Financial (capital) numerals, read as numbers only in runs of two or more ("伍仟", "叁佰").
FINANCIAL_CHARS = "壹贰叁肆伍陆柒捌玖拾佰仟"
_FINANCIAL = str.maketrans(FINANCIAL_CHARS, "一二三四五六七八九十百千")

_ARABIC = re.compile(r"(\d+(?:,\d{3})+(?:\.\d+)?|\d*\.\d+|\d+\.?)\s*([kK万千]?)")
_PRICE_CN = re.compile(r"^(.+?)\s*(?:块钱?|元)(.*?)$|^(.+?)\s*毛钱?(\d|[一二两三四五六七八九])?$")
_MAO = re.compile(r"^(.+?)毛钱?$")

# Fullwidth ASCII (U+FF01..U+FF5E) maps one to one onto ASCII; a few CJK signs too.
_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {
    0x3000: " ",
    0xFFE5: "¥",
    0xFFE0: "¢",
    0x3001: ",",
    0x00A0: " ",
}


def fold_width(text: str) -> str:
    """Fullwidth letters, digits and punctuation to halfwidth; length is preserved."""
    return text.translate(_WIDTH)


# Pinyin with tone numbers ("tu3dou4", "wo3 yao4 mai3"): every letter run of the word ends in
# a tone digit 1-5; the digits read as spaces ("tu dou ", "wo  yao  mai ").
_TONED = re.compile(r"(?<![a-z0-9])(?:[a-z]+[1-5])+(?![a-z0-9])")
_TONE = re.compile(r"[1-5]")


def fold(text: str) -> str:
    """Width-folded, lower-cased text of exactly the same length as the input."""
    folded = fold_width(text)
    lowered = folded.lower()
    if len(lowered) != len(folded):
        # A few characters (e.g. "İ") grow when lower-cased; keep those as they are.
        lowered = "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in folded)
    return _TONED.sub(_untone, lowered) if _HAS_TONE.search(lowered) else lowered


_HAS_TONE = re.compile(r"[a-z][1-5](?![0-9])")


def _untone(match: re.Match[str]) -> str:
    return _TONE.sub(" ", match.group())


def decimal_str(value: Decimal) -> str:
    """Plain decimal string without exponent or trailing zeros: 50, 0.5, 2000."""
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def unit_key(word: str) -> str | None:
    """Unit key (kg jin ton g lb litre bag box crate piece) of a unit word."""
    return UNIT_WORDS.get(fold(word).strip().rstrip("."))


def currency_code(word: str) -> str | None:
    """Currency code (CNY KES INR USD) of a currency word or sign."""
    return CURRENCY_WORDS.get(fold(word).strip().rstrip("."))


@lru_cache(maxsize=4096)
def parse_number(text: str) -> Decimal | None:
    """A number written in Arabic digits, Chinese numerals or English words; None if not one."""
    s = fold(text).strip()
    if not s or len(s) > 40:  # no real amount is that long; spare cn2an pathological input
        return None
    if s in ("半", "half", "a half"):
        return Decimal("0.5")
    if s[0].isdigit() or s[0] == ".":
        return _parse_arabic(s)
    if len(s) > 1 and all(ch in CN_NUMERAL_CHARS or ch in FINANCIAL_CHARS for ch in s):
        s = s.translate(_FINANCIAL)  # the capital numerals of receipts: 伍仟 = 五千
    if all(ch in CN_NUMERAL_CHARS for ch in s):
        return _parse_chinese(s)
    return _parse_english(s)


def _parse_arabic(s: str) -> Decimal | None:
    """Digits with optional thousands commas and a k/千/万 multiplier ("2k", "1,500", "1.5万")."""
    match = _ARABIC.fullmatch(s)
    if not match:
        return None
    try:
        number = Decimal(match.group(1).replace(",", "").rstrip(".") or "x")
    except InvalidOperation:
        return None
    scale = {"k": 1000, "K": 1000, "千": 1000, "万": 10000}.get(match.group(2), 1)
    return number * scale


def _parse_chinese(s: str) -> Decimal | None:
    """Chinese numerals via cn2an, including colloquial 一百五 and decimals 二十五点五."""
    whole, _, frac = s.partition("点")
    if not whole or (_ and not frac) or any(ch not in _CN_DIGIT_VALUE for ch in frac):
        return None
    try:
        integer = cn2an.cn2an(whole, "smart")
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    digits = "".join(str(_CN_DIGIT_VALUE[ch]) for ch in frac)
    return Decimal(f"{int(integer)}.{digits}" if digits else int(integer))


def _parse_english(s: str) -> Decimal | None:
    """English number words: "fifty", "two hundred", "twenty five", "one thousand"."""
    words = s.replace("-", " ").replace(" and ", " ").split()
    if not words or any(w not in _EN_NUMBERS and w not in _EN_SCALES for w in words):
        return None
    total = current = 0
    for word in words:
        if word in _EN_NUMBERS:
            current += _EN_NUMBERS[word]
        elif word == "hundred":
            current = max(current, 1) * 100
        else:
            total += max(current, 1) * _EN_SCALES[word]
            current = 0
    return Decimal(total + current)


@lru_cache(maxsize=4096)
def parse_price(text: str) -> Decimal | None:
    """A price: "三块五" 3.5, "3块5" 3.5, "5毛" 0.5, "八毛五" 0.85, "1块2毛" 1.2, "3块钱" 3, or a
    number."""
    s = fold(text).strip().replace(" ", "")
    match = _PRICE_CN.match(s)
    if not match:
        return parse_number(s)
    if match.group(3) is not None:  # "5毛": tenths of a yuan; "八毛五": and hundredths
        jiao, fen = parse_number(match.group(3)), parse_number(match.group(4) or "0")
        return None if jiao is None or fen is None else jiao / 10 + fen / 100
    yuan, rest = parse_number(match.group(1)), match.group(2)
    return None if yuan is None else _add_jiao(yuan, rest)


def _add_jiao(yuan: Decimal, rest: str) -> Decimal | None:
    """Add what follows 块: "" → 0, "5"/"五"/"5毛" → 0.5, "50" → 0.50."""
    rest = _MAO.sub(r"\1", rest)
    if not rest:
        return yuan
    small = parse_number(rest)
    if small is None:
        return None
    # One digit after 块 is jiao (tenths); two digits are fen ("3块50" = 3.50).
    return yuan + small / (10 if small < 10 else 100)


@lru_cache(maxsize=4096)
def parse_quantity(text: str) -> tuple[Decimal, str] | None:
    """Amount and unit key: "50kg", "一吨半" (1.5 ton), "半吨" (0.5 ton), "3 bags"."""
    s = fold(text).strip()
    half = s.endswith("半") and len(s) > 1
    body = s[:-1] if half else s
    for size in (2, 1) if len(body) > 1 else ():
        unit = unit_key(body[-size:]) if not body[-size:].isascii() else None
        if unit:
            return _quantity(body[:-size], unit, half)
    match = re.fullmatch(r"(.+?)\s*([a-z]+)", body)
    if match and (unit := unit_key(match.group(2))):
        return _quantity(match.group(1), unit, half)
    return None


def _quantity(number_text: str, unit: str, half: bool) -> tuple[Decimal, str] | None:
    """Helper of parse_quantity: number plus an optional trailing half."""
    number = parse_number(number_text)
    if number is None:
        return None
    return (number + Decimal("0.5") if half else number), unit
