"""Rule-based entity extractor: products, places, amounts, prices, references, names."""

from __future__ import annotations

import functools
import re
from collections.abc import Container
from decimal import Decimal
from typing import cast

from nlu import lexicon as lx
from nlu.catalog import Catalog
from nlu.gazetteer import Gazetteer, _trie_regex
from nlu.names import NameFinder
from nlu.normalize import (
    CURRENCY_WORDS,
    EN_NUMBER_WORDS,
    FINANCIAL_CHARS,
    UNIT_WORDS,
    decimal_str,
    fold,
    parse_number,
    parse_price,
)
from nlu.shapes import Entity, Tok

_CN_NUM = "零〇一二两三四五六七八九十百千万点"
_UNIT_CHARS = "斤|公斤|千克|吨|袋|箱|筐|个|只|头|颗|包|克|升"
# 块/毛 prices are whole spans; "三块一斤" is 3 per jin, so 一 before a unit is not jiao.
_PRICE = (
    rf"(?:\d+(?:\.\d+)?|[{_CN_NUM}]+)\s?"
    rf"(?:块钱?(?:毛钱?)?(?:\d{{1,2}}(?!\d)|[二两三四五六七八九]|一(?!{_UNIT_CHARS}))?(?:毛钱?)?"
    rf"|毛钱?(?:(?:\d|[一二两三四五六七八九])(?!\d|{_UNIT_CHARS}))?)"
)
_TOKEN = re.compile(
    rf"(?P<price>{_PRICE})"
    # ".5" is a number, but not the ".30" of "Rs.30" / "Ksh.45": there the dot ends the word
    r"|(?P<num>(?:\d+(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|(?<![a-z])\.\d+|\d+)(?:k(?![a-z])|[万千](?!克))?)"
    rf"|(?P<lex>{_trie_regex(lx.CJK_WORDS, '')})"
    r"|(?P<cnnum>(?:千(?!克)|[零〇一二两三四五六七八九十百万亿点半])+"
    rf"|[{FINANCIAL_CHARS}零〇一二两三四五六七八九十百千万亿点]*[{FINANCIAL_CHARS}][{FINANCIAL_CHARS}零〇一二两三四五六七八九十百千万亿点]*)"
    r"|(?P<word>[a-z]+(?:'[a-z]+)?)"
    r"|(?P<sign>/=)"  # East African shillings: "3500/="
    r"|(?P<other>\S)"
)
# Single letters are units only right after a digit ("5t", "2l", "500g").
# Pinyin unit words that are also other words (xiang 想/香, dai 带, dun 顿): units only after a
# number or "yi" (一箱 "yi xiang").
_PINYIN_UNITS = frozenset({"xiang", "dai", "dun", "kuang"})
_ADJACENT_ONLY = frozenset({"t", "l", "g", "mt", "gm", "pc", "sh"}) | _PINYIN_UNITS


class EntityExtractor:
    """Extracts Rasa-style entities with canonical values (SPEC §5, nlu/ANNOTATION.md)."""

    def __init__(self, catalog: Catalog):
        self.gazetteer = Gazetteer(catalog)
        self.names = NameFinder(self.gazetteer)

    def extract(self, text: str) -> list[Entity]:
        """Entities of one message, sorted by start; never raises."""
        try:
            return self._extract(text if isinstance(text, str) else str(text))
        except Exception:  # a parse must never fail a conversation
            return []

    def _extract(self, text: str) -> list[Entity]:
        folded = fold(text)
        claims = [
            Tok(entity.upper(), s, e, folded[s:e], key, entity)
            for s, e, entity, key in self.gazetteer.find(folded)
        ]
        claims += [
            Tok("NAME", s, e, text[s:e], text[s:e], "name")
            for s, e in self.names.find(folded, claims, text)
        ]
        tokens = _merge(claims, _tokenize(folded))
        _Roles(tokens, folded).assign()
        return implied_currency(
            [_entity(tok, role, text) for tok in tokens if (role := tok.role)], text
        )


# 块/块钱/毛 in a price span name the currency too (SPEC §4: 元 块 块钱 ... → CNY).
_YUAN_WORD = re.compile("块钱?|毛")
_PRICE_QUESTION = re.compile(lx.PRICE_QUESTION_RE)


def implied_currency(entities: list[Entity], text: str) -> list[Entity]:
    """The entities plus CNY for a price written with 块/毛 ("三块五", "2块", "5毛") when no
    currency is named; its span is the 块/毛 inside the price's span."""
    if any(e["entity"] == "currency" for e in entities):
        return entities
    for ent in entities:
        word = (
            _YUAN_WORD.search(text, ent["start"], ent["end"]) if ent["entity"] == "price" else None
        )
        if word:
            cur: Entity = {
                "entity": "currency",
                "value": "CNY",
                "start": word.start(),
                "end": word.end(),
                "extractor": ent.get("extractor", "farmchat"),
            }
            return sorted([*entities, cur], key=lambda e: e["start"])
    return entities


def _entity(tok: Tok, role: str, text: str) -> Entity:
    """The Rasa entity dict of a token with its role."""
    value = decimal_str(tok.value) if isinstance(tok.value, Decimal) else str(tok.value)
    if role == "ref":
        value = tok.text
    return {
        "entity": role,
        "value": value,
        "start": tok.start,
        "end": tok.end,
        "extractor": "farmchat",
    }


def _tokenize(folded: str) -> list[Tok]:
    """Scan folded text into typed tokens (numbers, units, currencies, words)."""
    tokens: list[Tok] = []
    for match in _TOKEN.finditer(folded):
        tok = _classify(match.lastgroup, match.group(), match.start(), match.end())
        if (
            tok.kind == "UNIT"
            and tok.text in _ADJACENT_ONLY
            and not _follows_number_or_per(tokens, tok)
        ):
            tok.kind = "WORD"
        tokens += _split_liang(tok)
    return _split_per_one(_join_number_words(tokens))


_LIANG = re.compile(r"([一二三四五六七八九两]|[一二三四五六七八九]?十[一二三四五六七八九]?)两")


def _split_liang(tok: Tok) -> list[Tok]:
    """ "二两花椒" is 2 两 (a tenth of a jin), not 22: a numeral ending in 两 after a digit is that
    many 两, written as jin (SPEC's units have no 两)."""
    match = (
        _LIANG.fullmatch(tok.text) if tok.kind in ("NUM", "WORD") and len(tok.text) > 1 else None
    )
    count = parse_number(match.group(1)) if match else None
    if match is None or count is None:
        return [tok]
    return [
        Tok("NUM", tok.start, tok.end - 1, match.group(1), count / 10),
        Tok("UNIT", tok.end - 1, tok.end, "两", "jin"),
    ]


def _classify(group: str | None, text: str, start: int, end: int) -> Tok:
    """A token with its kind and normalized value."""
    if group == "price":
        value = parse_price(text)
        return Tok("PRICE" if value is not None else "WORD", start, end, text, value)
    if group in ("num", "cnnum") or text in EN_NUMBER_WORDS:
        value = parse_number(text)
        return Tok("NUM" if value is not None else "WORD", start, end, text, value)
    if text in UNIT_WORDS:
        return Tok("UNIT", start, end, text, UNIT_WORDS[text])
    if text in CURRENCY_WORDS and text not in ("块", "块钱"):
        return Tok("CUR", start, end, text, CURRENCY_WORDS[text])
    return Tok("WORD", start, end, text)


def _follows_number_or_per(tokens: list[Tok], tok: Tok) -> bool:
    """Whether tok follows a number within one space or a per-word ("5t", "500 g", "per g")."""
    if not tokens:
        return False
    prev = tokens[-1]
    pinyin_per = prev.text == "yi" and tok.text in _PINYIN_UNITS
    return (
        (prev.kind == "NUM" and tok.start - prev.end <= 1)
        or prev.text in lx.PER_WORDS
        or pinyin_per
    )


def _join_number_words(tokens: list[Tok]) -> list[Tok]:
    """Merge runs of English number words ("two hundred") and "... and a half" into one number."""
    out: list[Tok] = []
    for tok in tokens:
        if tok.text == "half" and _and_a_half(out):
            while out[-1].kind != "NUM":
                out.pop()
            num = out[-1]
            amount = cast(Decimal, num.value) + Decimal("0.5")  # NUM tokens hold Decimals
            out[-1] = Tok("NUM", num.start, tok.end, num.text, amount)
            continue
        prev = out[-1] if out else None
        if (
            prev
            and tok.kind == "NUM"
            and prev.kind == "NUM"
            and prev.text.isalpha()
            and tok.text.isalpha()
            and prev.text != "half"
            and tok.text != "half"
        ):
            text = prev.text + " " + tok.text
            value = parse_number(text)
            if value is not None:
                out[-1] = Tok("NUM", prev.start, tok.end, text, value)
                continue
        out.append(tok)
    return out


def _and_a_half(out: list[Tok]) -> bool:
    """Whether the tokens end in a number then "and" or "and a" ("one and a half",
    "2 and half")."""
    words = [t.text for t in out[-3:]]
    if words[-2:] == ["and", "a"]:
        return len(out) >= 3 and out[-3].kind == "NUM"
    return words[-1:] == ["and"] and len(out) >= 2 and out[-2].kind == "NUM"


# Numerals that cannot take a trailing 一 as a digit: hundreds ("二百一斤" is 200 a jin) and
# tens with units ("四十八一斤" is 48 a jin; "二十一斤" stays 21 jin).
_PRICE_HEAD = re.compile("[百千万]|十[一二三四五六七八九]$")


def _split_per_one(tokens: list[Tok]) -> list[Tok]:
    """ "一百二一只", "二百一斤", "四十八一斤": a numeral that cannot end in 一 before a unit is a
    price, then 一 unit."""
    out: list[Tok] = []
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        head = tok.text[:-1]
        if (
            tok.kind in ("NUM", "WORD")
            and len(tok.text) > 2
            and tok.text.endswith("一")
            and nxt is not None
            and nxt.kind == "UNIT"
            and nxt.start == tok.end
            and _PRICE_HEAD.search(head)
            and (value := parse_number(head)) is not None
        ):
            out += [
                Tok("PRICE", tok.start, tok.end - 1, head, value),
                Tok("NUM", tok.end - 1, tok.end, "一", Decimal(1)),
            ]
            continue
        out.append(tok)
    return out


def _merge(claims: list[Tok], tokens: list[Tok]) -> list[Tok]:
    """Scanned tokens with those overlapping a claimed name replaced by the claim."""
    covered = bytearray(max((c.end for c in claims), default=0))
    for claim in claims:
        covered[claim.start : claim.end] = b"\x01" * (claim.end - claim.start)
    kept = [t for t in tokens if not any(covered[t.start : t.end])]
    return sorted(kept + claims, key=lambda t: t.start)


class _Roles:
    """Assigns entity roles to number, unit and currency tokens from their neighbours."""

    def __init__(self, tokens: list[Tok], folded: str = ""):
        self.toks = tokens
        self.folded = folded

    def at(self, i: int) -> Tok | None:
        return self.toks[i] if 0 <= i < len(self.toks) else None

    def is_(self, i: int, kind: str, texts: Container[str] | None = None) -> bool:
        tok = self.at(i)
        return (
            tok is not None
            and tok.kind == kind
            and tok.role is None
            and (texts is None or tok.text in texts)
        )

    def assign(self) -> None:
        """Per-units first (they decide 一斤), then every number left to right."""
        for i, tok in enumerate(self.toks):
            if tok.kind == "WORD" and tok.text in lx.PER_WORDS and self.is_(i + 1, "UNIT"):
                self.toks[i + 1].role = "price_unit"
            elif (
                tok.kind == "NUM"
                and self.is_(i + 1, "UNIT")
                and (
                    (tok.text == "一" and self._per_one(i))
                    or (tok.text == "one" and tok.value == 1 and self.asks_price)
                )
            ):
                self.toks[i + 1].role = "price_unit"
                tok.role = "_"
            elif tok.text in lx.ARTICLES and self.is_(i + 1, "UNIT") and self.asks_price:
                self.toks[i + 1].role = "price_unit"  # "how much is a bag of potatoes"
        for i, tok in enumerate(self.toks):
            if tok.role is None and tok.kind == "PRICE":
                self._price(i, i)
            elif tok.role is None and tok.kind == "NUM":
                self._number(i)
        tagged = {tok.value for tok in self.toks if tok.role == "currency"}
        for tok in self.toks:
            if (
                tok.kind == "CUR"
                and tok.role is None
                and tok.text != "sh"
                and tok.value not in tagged
            ):
                tok.role = "currency"  # "avocado price in bob"; once: "ksh 30/=" is one currency
                tagged.add(tok.value)
            tok.role = None if tok.role == "_" else tok.role

    @functools.cached_property
    def asks_price(self) -> bool:
        """Whether the message asks about a price ("how much", "cost", "多少钱", "几个钱")."""
        return any(tok.text in lx.PRICE_QUESTION for tok in self.toks) or bool(
            _PRICE_QUESTION.search(self.folded)
        )

    def _per_one(self, i: int) -> bool:
        """Whether 一 + unit at i means "per unit": after a price or a bare number ("35一斤"),
        before 多少钱 or a price, or in a message asking a price ("一筐桃子能卖几个钱")."""
        prev, nxt = self.at(i - 1), self.at(i + 2)
        if prev is not None and (prev.kind in ("PRICE", "CUR") or prev.text in lx.PRICE_HINTS):
            return True
        if prev is not None and prev.kind == "NUM" and self.toks[i].start - prev.end <= 1:
            return True
        if nxt is not None and (
            nxt.kind in ("PRICE", "CUR")
            or nxt.text in lx.PRICE_HINTS
            or (nxt.kind == "NUM" and self.is_(i + 3, "CUR"))
        ):
            return True
        if (
            nxt is not None
            and nxt.kind == "NUM"
            and nxt.text != "半"
            and nxt.start == self.toks[i + 1].end
            and self.toks[i].text == "一"
            and not (self.at(i + 3) is not None and self.toks[i + 3].kind == "UNIT")
        ):
            return True  # "一只一百三": 130 a piece
        if self.is_(i + 2, "NUM", {"半"}):
            return False  # 一吨半: one and a half tons
        amount = any(
            t.kind == "NUM" and j != i and self.is_(j + 1, "UNIT") for j, t in enumerate(self.toks)
        )
        later_price = any(
            t.kind in ("PRICE", "CUR")
            or (t.kind == "NUM" and self.toks[j - 1].text in lx.PRICE_CUES)
            for j, t in enumerate(self.toks[i + 2 :], start=i + 2)
        )
        return not amount and (later_price or self.asks_price)

    def _number(self, i: int) -> None:
        """Decide whether the number at i is a quantity, a price or a reference."""
        tok, nxt = self.toks[i], self.at(i + 1)
        if self.is_(i + 1, "UNIT") and not self._lone_piece(i):
            return self._quantity(i)
        if nxt is not None and nxt.text in lx.MORE_WORDS and self.is_(i + 2, "UNIT"):
            nxt.role = "_"  # "100 more kg"
            return self._quantity(i, unit_at=i + 2)
        if tok.text == "一":
            return None  # a lone 一 is grammar: "一有动静", "看一下"
        if (
            self._ref_word_after(i)
            or self._another_ref(i)
            or self._ref_before_new_value(i)
            or self._added_to(i)
        ):
            tok.role = "ref"  # "57号还剩20斤", "1023不接", "6120 and 6121", "lower 2210 to 55"
            return None
        if self._after_per_one(i):
            return self._price(i, i)  # "枸杞一斤四十"
        if self._unit_before(i):
            return self._quantity(i, unit_at=i - 1)  # "irish potatoes bags 10"
        if (
            tok.text == "4"
            and self.at(i - 1) is not None
            and self.toks[i - 1].text in lx.FOR_BEFORE
        ):
            return None  # SMS "how much 4 oranges": the 4 is "for"
        if tok.text == "half" and self.is_(i + 1, "WORD", lx.ARTICLES) and self.is_(i + 2, "UNIT"):
            self.toks[i + 1].role = "_"
            return self._quantity(i, unit_at=i + 2)
        if self.is_(i + 1, "CUR"):
            self.toks[i + 1].role = "currency"
            return self._price(i, i + 1)
        if self.is_(i - 1, "CUR") and not self._cur_taken(i - 1):
            self.toks[i - 1].role = "currency"
            return self._price(i, i)
        if self._dotted_currency_before(i):  # "Rs.30", "Ksh.45": the abbreviation's dot
            self.toks[i - 2].role, self.toks[i - 1].role = "currency", "_"
            return self._price(i, i)
        if self._per_unit_follows(i):
            return self._price(i, i)
        if (
            self.at(i - 1) is not None
            and self.toks[i - 1].text in lx.REF_NOUNS
            and self._ref_word_before(i)
            and not (nxt is not None and nxt.kind == "PRODUCT")
        ):
            tok.role = "ref"  # "listing 57 only 8 boxes left": the listing first
        elif (nxt is not None and nxt.kind == "PRODUCT") or self._quantity_cue(i):
            tok.role = "quantity"
        elif self._ref_word_before(i):
            tok.role = "ref"  # before price cues: "listing 57 now 15 kg"
        elif (nxt and nxt.text in ("each", *lx.PRICE_AFTER)) or self._price_cue_before(i):
            self._price(i, i)

    def _dotted_currency_before(self, i: int) -> bool:
        dot = self.at(i - 1)
        return (
            dot is not None
            and dot.text == "."
            and dot.end == self.toks[i].start
            and self.is_(i - 2, "CUR")
            and self.toks[i - 2].end == dot.start
            and not self._cur_taken(i - 2)
        )

    def _lone_piece(self, i: int) -> bool:
        """一个/一只 is everyday grammar; count it only when a product follows (一个西瓜)."""
        return (
            self.toks[i].text == "一"
            and self.toks[i + 1].value == "piece"
            and not self.is_(i + 2, "PRODUCT")
        )

    def _quantity(self, i: int, unit_at: int | None = None) -> None:
        """Quantity and unit at i, plus a trailing 半 and a telegraphic price after it."""
        unit_at = i + 1 if unit_at is None else unit_at
        tok = self.toks[i]
        tok.role, self.toks[unit_at].role = "quantity", "unit"
        last = unit_at
        if self.is_(last + 1, "NUM", {"半"}):  # 一吨半 = 1.5 ton
            tok.value = cast(Decimal, tok.value) + Decimal("0.5")  # NUM tokens hold Decimals
            self.toks[last + 1].role = "_"
            last += 1
        j = last + 1
        while self.at(j) is not None and (
            self.toks[j].kind == "PRODUCT" or self.toks[j].text in ",，"
        ):
            j += 1
        if self.is_(j, "NUM") and self._bare(j) and len(self.toks[j].text) <= 7:
            self.toks[j].role = "price"  # 苹果 500斤 2.5: the second number is the price

    def _bare(self, j: int) -> bool:
        """Whether the number at j stands alone (no unit, currency or per-unit after it)."""
        nxt = self.at(j + 1)
        return not (
            self.is_(j + 1, "UNIT")
            or self.is_(j + 1, "CUR")
            or self._per_unit_follows(j)
            or (nxt is not None and nxt.text in lx.QUANTITY_AFTER)
            or (nxt is not None and (nxt.text in lx.TIME_WORDS or _sms_for(self.toks[j], nxt)))
        )

    def _price(self, i: int, last: int) -> None:
        """Price at i; a unit after "a"/"一"/"per" following position `last` is its price_unit."""
        self.toks[i].role = "price"
        marker = self.at(last + 1)
        if (
            marker is not None
            and marker.text in lx.ARTICLES | lx.PER_WORDS | {"一"}
            and self.at(last + 2)
            and self.toks[last + 2].kind == "UNIT"
            and self.toks[last + 2].role in (None, "price_unit")
        ):
            self.toks[last + 2].role = "price_unit"
            marker.role = marker.role or "_"

    def _cur_taken(self, c: int) -> bool:
        """Whether the currency at c belongs to a number before it ("3 元 5斤")."""
        prev = self.at(c - 1)
        return prev is not None and prev.kind in ("NUM", "PRICE") and prev.role is not None

    def _per_unit_follows(self, i: int) -> bool:
        """Whether a per-marker and unit follow the number at i ("3/kg", "3 per bag", "55一斤")."""
        marker = self.at(i + 1)
        if marker is not None and marker.text == "一" and marker.role == "_":
            return self.toks[i + 2].role == "price_unit"
        return (
            marker is not None
            and marker.text in lx.PER_WORDS | lx.ARTICLES
            and self.at(i + 2) is not None
            and self.toks[i + 2].kind == "UNIT"
            and self.toks[i + 2].role in (None, "price_unit")
        )

    def _price_cue_before(self, i: int) -> bool:
        """Whether a price word precedes the number, maybe across fillers ("price to 3")."""
        nxt = self.at(i + 1)
        if nxt is not None and nxt.text in lx.TIME_WORDS:
            return False
        for j in range(i - 1, max(i - 5, -1), -1):
            tok = self.toks[j]
            if tok.text in lx.PRICE_CUES and tok.role is None:
                return True
            if tok.kind != "PRODUCT" and tok.text not in lx.PRICE_FILLERS:
                return False
        return False

    def _quantity_cue(self, i: int) -> bool:
        """A bare number with "left"/"剩" around it is an amount ("only 20 left", "还剩20")."""
        prev, nxt = self.at(i - 1), self.at(i + 1)
        return (nxt is not None and nxt.text in lx.QUANTITY_AFTER) or (
            prev is not None and prev.text in lx.QUANTITY_BEFORE
        )

    def _ref_word_after(self, i: int) -> bool:
        """Whether a 2+ digit bare number is followed by a reply or reference word ("1023行",
        "88接了", "57号", "4410, decline"); a day of the month ("5月21号") is not one."""
        if not (self.toks[i].text.isdigit() and len(self.toks[i].text) >= 2):
            return False
        nxt = self.at(i + 1)
        if nxt is not None and nxt.text in (",", "，") and nxt.end - self.toks[i].end <= 1:
            nxt = self.at(i + 2)
        if nxt is None or nxt.text not in lx.REF_AFTER:
            return False
        prev = self.at(i - 1)
        return not (nxt.text == "号" and prev is not None and prev.text in ("月", "日", "周"))

    def _ref_before_new_value(self, i: int) -> bool:
        """A 2+ digit bare number, then "to"/"改成" and another number: the first is the listing
        ("change 88 to 6", "lower 2210 to 55 bob/kg", "57改成4块")."""
        nxt, new = self.at(i + 1), self.at(i + 2)
        return (
            self.toks[i].text.isdigit()
            and len(self.toks[i].text) >= 2
            and nxt is not None
            and nxt.text in ("to", "改成", "改为", "改到", "->", "→")
            and new is not None
            and new.kind in ("NUM", "PRICE")
        )

    def _added_to(self, i: int) -> bool:
        """The number after "to" in "add 20 bags to 57": the listing stock is added to."""
        prev = self.at(i - 1)
        return (
            prev is not None
            and prev.text == "to"
            and self.toks[i].text.isdigit()
            and any(t.text in lx.ADD_WORDS for t in self.toks[: i - 1])
        )

    def _after_per_one(self, i: int) -> bool:
        """A bare number right after 一/每 + a price unit ("一斤四十", "每升八十五")."""
        unit, one = self.at(i - 1), self.at(i - 2)
        return (
            unit is not None
            and unit.role == "price_unit"
            and one is not None
            and one.text in ("一", "每")
            and self.toks[i].start == unit.end
        )

    def _another_ref(self, i: int) -> bool:
        """A number joined to a reference by "and"/"和"/"," ("accept 6120 and 6121")."""
        prev, ref = self.at(i - 1), self.at(i - 2)
        return (
            prev is not None
            and prev.text in ("and", "&", ",", "，", "和", "、", "跟")
            and ref is not None
            and ref.role == "ref"
            and self.toks[i].text.isdigit()
        )

    def _unit_before(self, i: int) -> bool:
        """A unit right before a bare number with nothing after it ("bags 15", "kg 50,")."""
        unit, nxt = self.at(i - 1), self.at(i + 1)
        return (
            unit is not None
            and self.is_(i - 1, "UNIT")
            and unit.text.isascii()
            and len(unit.text) > 2
            and self.toks[i].start - unit.end <= 1
            and (
                nxt is None
                or (nxt.kind not in ("UNIT", "CUR", "PRICE") and not self._per_unit_follows(i))
            )
        )

    def _ref_word_before(self, i: int) -> bool:
        """Whether a reference word precedes a 2+ digit number ("yes 1023", "订单1023")."""
        if not (self.toks[i].text.isdigit() and len(self.toks[i].text) >= 2):
            return False
        for j in range(i - 1, max(i - 5, -1), -1):
            text = self.toks[j].text
            if text in lx.REF_WORDS:
                return True
            if text not in lx.REF_FILLERS:
                return False
        return False


def _sms_for(num: Tok, nxt: Tok) -> bool:
    """SMS "4 sale", "4 u": the digit 4 standing for "for"."""
    return num.text == "4" and nxt.text in ("sale", "u", "you", "me", "now")
