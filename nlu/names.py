"""Person names introduced by "my name is X", "call me X", "我叫X" and similar."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nlu.lexicon import COMMON_WORDS
from nlu.normalize import CURRENCY_WORDS, EN_NUMBER_WORDS, UNIT_WORDS

if TYPE_CHECKING:
    from nlu.gazetteer import Gazetteer
    from nlu.shapes import Tok


def _phrases(words: str) -> str:
    """An alternation of the phrases, longest first (so "我的名字写" wins over "我的名字")."""
    return "|".join(
        p.replace(" ", r"\s+") for p in sorted(words.split("|"), key=len, reverse=True)
    )


# Phrases after which a name follows, whatever it is.
_EN_SURE = re.compile(
    r"(?<![a-z])(?:"
    + _phrases(
        "my name is|my name's|my names are|my names|name is|name's|name:|call me|i am called|"
        "i'm called|im called|set name|set my name to|set name to|change my name to|"
        "change name to|register me as|register my name as|register me|name as|sign me up as|"
        "sign up as|enroll me as|put me down as|save me as|register as|register|name to|"
        "jina langu ni|jina langu|naitwa|names ni|new user|myself|wo jiao|wojiao|jiao wo|"
        "wo de mingzi shi|mingzi shi|mera naam|mera name|jina|names|name"
    )
    + r")(?![a-z'])\s*[:：-]?\s*"
)
# "i am"/"i'm" introduce many things besides names, so those need an unknown word after.
_EN_MAYBE = re.compile(r"(?<![a-z])(?:i am|i'm|im|i`m|this is)\s+")
# "mimi ni" (Swahili "I am"), "wo shi" (pinyin 我是), a message opening with "am": a name only
# when written with a capital ("wo shi Liu Yang", not "wo shi nongmin").
_EN_CAPITAL = re.compile(r"(?<![a-z])(?:mimi ni|wo shi|woshi)\s+|^am\s+")
# A capitalized name before "here" / "is my name" ("Moses Kamau here", "Faith is my name").
_EN_BEFORE = re.compile(
    r"((?:[A-Z][a-zA-Z'-]*\s+){0,2}[A-Z][a-zA-Z'-]*)\s+"
    r"(?:here\b|is my name|ndio jina langu|ni jina langu)"
)
_NOT_NAMES_BEFORE = {"hi", "hello", "hey", "it's", "its", "i", "this", "yes", "ok", "sir", "madam"}
# Words that end a name: Swahili "wa"/"kutoka" (of, from), pinyin "zai" (在).
_EN_AFTER_NAME = {
    "wa",
    "kutoka",
    "zai",
    "from",
    "frm",
    "in",
    "at",
    "of",
    "jiu",
    "here",
    "btw",
    "hai",
    "pls",
    "please",
    "sorry",
    "po",
    "i",
}
_EN_WORD = re.compile(r"[a-z][a-z'.-]*")
_LATIN_LETTER = re.compile("[a-z]")
_ZH_SURE = re.compile(
    "(?:"
    + _phrases(
        "我叫|叫我|俺叫|叫俺|她叫|他叫|称呼我|我的名字是|我的名字叫|我的名字写|我的名字|名字是|名字叫|名字改成|名字改为|"
        "名字写成|名字写|名字登记成|名字登记为|名字|改名字|称呼改为|称呼改成|称呼|改名为|改名叫|改名|我名叫|"
        "本人叫|姓名改成|姓名改为|姓名改|姓名|登记|注册|帮我登记|帮我注册|登记一下|注册一下|帮我登记一下|"
        "登个记|登记成"
    )
    + r"|(?<=[人的\s，,])叫|(?<=姓[\u4e00-\u9fff])叫)\s*[:：]?\s*"
)
_ZH_MAYBE = re.compile(r"(?:我是|俺是|我就是|本人是|本人)\s*")
# Characters that end a Chinese name ("我叫王芳在武都" → 王芳).
_ZH_STOP = set(
    "在是的从住来卖买要想做啊呀吧呢哦了和跟也我，,。.!！?？ 、；;：:有种养今就行好哩嘛吗么啦"
)
# First characters or endings that make "我是X" a role, not a name (我是农民, 我是卖苹果的).
_ZH_NOT_FIRST = set("农买卖谁哪这那你他她新来从在想要个一做种养收管本不很真也都还就用合村")
_ZH_NOT_LAST = ("户", "民", "人", "家", "商", "员", "者", "社", "的", "站", "长")
# What follows 登记/名字 and is never a name: "登记地址", "帮我叫个车", "名字不对".
_ZH_NEVER = (
    "地址",
    "电话",
    "号码",
    "手机",
    "信息",
    "资料",
    "一下",
    "不对",
    "个",
    "一",
    "这",
    "那",
)


class NameFinder:
    """Finds name spans in folded text; other entity claims are never names."""

    def __init__(self, gazetteer: Gazetteer):
        # products and places: never names
        self.places = {n for n in gazetteer.names if n.isascii()}
        self.known = (
            COMMON_WORDS | set(UNIT_WORDS) | set(CURRENCY_WORDS) | EN_NUMBER_WORDS | self.places
        )

    def find(self, folded: str, claims: Sequence[Tok], text: str = "") -> list[tuple[int, int]]:
        """(start, end) of each name, at most one per introducing phrase; text is the unfolded
        message (a capital makes "Bob" a name after "my name is")."""
        text = text or folded
        spans: list[tuple[int, int] | None] = []
        if _LATIN_LETTER.search(folded):
            self._english_names(folded, text, spans)
        if not folded.isascii():
            places = {c.start: c.end for c in claims if c.kind == "LOCATION"}
            for pattern, sure in ((_ZH_SURE, True), (_ZH_MAYBE, False)):
                for match in pattern.finditer(folded):
                    spans.append(_chinese(folded, _after_place(folded, match.end(), places), sure))
        taken, found = [(c.start, c.end) for c in claims], []
        for span in spans:  # one name per place in the text, claims first
            if span and not any(a < span[1] and span[0] < b for a, b in taken):
                found.append(span)
                taken.append(span)
        return found

    def _english_names(self, folded: str, text: str, spans: list[tuple[int, int] | None]) -> None:
        """Spans of names the English, Swahili and pinyin phrases introduce."""
        for pattern, sure in ((_EN_SURE, True), (_EN_MAYBE, False)):
            for match in pattern.finditer(folded):
                spans.append(self._english(folded, text, match.end(), sure))
        for match in _EN_CAPITAL.finditer(folded):
            if match.end() < len(text) and text[match.end()].isupper():
                spans.append(self._english(folded, text, match.end(), True))
        for match in _EN_BEFORE.finditer(text):  # "Moses Kamau here", "Hi Faith here"
            start = match.start(1)
            for word in match.group(1).split():
                if word.lower() not in _NOT_NAMES_BEFORE:
                    break
                start = text.index(word, start) + len(word) + 1
            if start < match.end(1):
                spans.append((start, match.end(1)))

    def _english(self, folded: str, text: str, pos: int, sure: bool) -> tuple[int, int] | None:
        """Up to three name words at pos; after "i am" the first must be an unknown word."""
        if _chinese_name_here(folded, pos):
            return _chinese(folded, pos, sure)
        end, count, begin = pos, 0, pos
        for word in _EN_WORD.finditer(folded, pos):
            gap, bare = folded[end : word.start()], word.group().strip(".'-")
            capital = sure and text[word.start()].isupper() and bare not in self.places
            known = (bare in self.known and not capital) or bare in _EN_AFTER_NAME
            if count == 3 or (count and gap.strip()) or known:
                break
            begin = word.start() if not count else begin
            end, count = word.start() + len(word.group().rstrip(".'-")), count + 1
        first = folded[pos:end].split()[0] if count else ""
        if not count or (not sure and (first in self.known or first.endswith("ing"))):
            return None  # "i am disposing of ...": a verb, not a name
        return begin, end


def _after_place(folded: str, pos: int, places: dict[int, int]) -> int:
    """Past a place that opens "我是徽县的张秀英" / "我是宕昌人 叫…": where the name may start."""
    if pos not in places:
        return pos
    end = places[pos]
    while end < len(folded) and folded[end] in "的人 ，,叫":
        end += 1
    return end


def _chinese_name_here(folded: str, pos: int) -> bool:
    return pos < len(folded) and "\u4e00" <= folded[pos] <= "\u9fff"


def _chinese(folded: str, pos: int, sure: bool) -> tuple[int, int] | None:
    """A 1-4 character Chinese name (or a Latin one) at pos, cut at the first stop character."""
    end = pos
    while (
        end < len(folded)
        and end - pos < 4
        and "\u4e00" <= folded[end] <= "\u9fff"
        and folded[end] not in _ZH_STOP
    ):
        end += 1
    if end == pos:
        latin = _EN_WORD.match(folded, pos)
        return (pos, latin.end()) if latin and sure else None
    name = folded[pos:end]
    role = name[0] in _ZH_NOT_FIRST or name.endswith(_ZH_NOT_LAST)
    if (
        len(name) < 2
        or name.startswith(_ZH_NEVER)
        or (not sure and (role or folded[end : end + 1] == "的"))
    ):
        return None
    return pos, end
