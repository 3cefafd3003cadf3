"""Chinese written in pinyin, read as the Chinese it spells ("wo de dingdan" → 我的订单).

Farmers without a Chinese keyboard, and their children typing for them, write toneless pinyin.
The classifier learned its Chinese from characters, so a pinyin message is given a second
reading in characters: each run of pinyin words becomes the characters that the training data
most often writes for that sound. The table is built with pypinyin when the model is trained
and pickled with it; parsing needs only the table.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from functools import lru_cache
from typing import TypedDict

_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_LATIN = re.compile(r"[a-z]+|[A-Z]+|\S+")
MAX_WORD = 4  # syllables per table entry
MIN_COUNT = 2  # a spelling seen once in the training data is not trusted
# A message reads as pinyin when the table covers this share of its lower-case syllables.
PINYIN_SHARE = 0.6


def common_chars() -> list[str]:
    """The 3,755 common characters (GB2312 level 1)."""
    return [
        bytes([hi, lo]).decode("gb2312")
        for hi in range(0xB0, 0xD8)
        for lo in range(0xA1, 0xFF)
        if not (hi == 0xD7 and lo > 0xF9)
    ]


@lru_cache(maxsize=1)
def _by_sound() -> dict[str, tuple[str, ...]]:
    """Common characters by their toneless syllable (only while building: needs pypinyin)."""
    from pypinyin import lazy_pinyin

    sounds: dict[str, list[str]] = defaultdict(list)
    for ch in common_chars():
        sounds[lazy_pinyin(ch)[0]].append(ch)
    return {k: tuple(v) for k, v in sounds.items() if k.isascii() and k.isalpha()}


def syllable_inventory() -> frozenset[str]:
    """Every toneless pinyin syllable of the common characters."""
    return frozenset(_by_sound())


def homophone_forms(name: str) -> set[str]:
    """A Chinese name with one character typed as a same-sounding common one, the commonest
    slip of a pinyin keyboard ("平果" for 苹果, "士豆" for 土豆); forms that are words of their
    own ("李子" is a plum, not 梨子) are left out. Names of one character are left alone."""
    if len(name) < 2:
        return set()
    from pypinyin import lazy_pinyin

    words = _word_parts()
    forms = set()
    for i, sound in enumerate(lazy_pinyin(name)):
        for ch in _by_sound().get(sound, ()):
            form = name[:i] + ch + name[i + 1 :]
            if ch != name[i] and form not in words:
                forms.add(form)
    return forms


@lru_cache(maxsize=1)
def _word_parts() -> frozenset[str]:
    """pypinyin's 47,000 words and every run of two or more characters inside them ("小卖" of
    小卖部): a slip that spells part of a real word is left unread."""
    from pypinyin.constants import PHRASES_DICT

    words = {*PHRASES_DICT, *_MORE_WORDS}
    return frozenset(
        word[i:j] for word in words for i in range(len(word)) for j in range(i + 2, len(word) + 1)
    )


# Everyday words pypinyin's list lacks that a slip would otherwise turn into a product.
_MORE_WORDS = ("小卖部",)


class _PinyinState(TypedDict):
    """What a pickled Pinyin keeps: the table and the syllable inventory, not the cache."""

    table: dict[tuple[str, ...], str]
    syllables: frozenset[str]


class Pinyin:
    """Reads pinyin runs of a (masked, folded) text as Chinese characters."""

    def __init__(self, table: dict[tuple[str, ...], str], syllables: frozenset[str]):
        self.table, self.syllables = table, syllables
        self._split = lru_cache(maxsize=8192)(self._split_word)

    def __getstate__(self) -> _PinyinState:
        return {"table": self.table, "syllables": self.syllables}

    def __setstate__(self, state: _PinyinState) -> None:
        type(self).__init__(self, state["table"], state["syllables"])

    @classmethod
    def build(cls, chinese_texts: list[str]) -> Pinyin:
        """The table from masked Chinese training texts: for each sound of one to MAX_WORD
        characters, the spelling seen most often (a lone syllable only when one spelling
        clearly dominates: "mai" is both 买 and 卖, so it stays unread)."""
        from pypinyin import lazy_pinyin

        counts: Counter[str] = Counter()
        for text in chinese_texts:
            for run in _CJK_RUN.findall(text):
                for n in range(1, MAX_WORD + 1):
                    counts.update(run[i : i + n] for i in range(len(run) - n + 1))
        by_sound: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
        for chars, count in counts.items():
            if count >= MIN_COUNT:
                by_sound[tuple(lazy_pinyin(chars))][chars] = count
        table: dict[tuple[str, ...], str] = {}
        for sound, spellings in by_sound.items():
            (best, n1), *rest = spellings.most_common(2)
            if len(sound) > 1 or not rest or n1 >= 3 * rest[0][1]:
                table[sound] = best
        return cls(table, syllable_inventory())

    def read(self, masked: str) -> str:
        """The text with its pinyin runs written in characters, or "" when it is not pinyin.

        It is pinyin when a word of two or more syllables is in the table and the table covers
        most of the lower-case words' syllables (English and Swahili words that are syllables
        too, "you", "men", "sawa", rarely make such a run). Placeholders (PRODUCT, NUM, ...)
        and other words stay as they are, so the reading looks like a masked Chinese training
        text ("PRODUCT 多少钱一 UNIT")."""
        words = _LATIN.findall(masked)
        split = [self._split(w) if w.islower() else None for w in words]
        if sum(map(bool, split)) * 2 < sum(w.islower() for w in words):  # mostly not syllables
            return ""
        out: list[str] = []
        run: list[str] = []
        covered = total = longest = 0
        for word, syllables in zip(words, split, strict=True):
            if syllables:
                run += syllables
                total += len(syllables)
                continue
            total += word.islower()
            chars, n, widest = self._chars(run)
            out += [chars, word]
            covered, longest, run = covered + n, max(longest, widest), []
        chars, n, widest = self._chars(run)
        out.append(chars)
        covered, longest = covered + n, max(longest, widest)
        if longest < 2 or covered < PINYIN_SHARE * total:
            return ""
        return " ".join(w for w in out if w)

    def _chars(self, syllables: list[str]) -> tuple[str, int, int]:
        """Longest-first table lookup over a run of syllables: the characters, how many
        syllables the table covered, and the most syllables one entry covered."""
        out, i, covered, widest = [], 0, 0, 0
        while i < len(syllables):
            for n in range(min(MAX_WORD, len(syllables) - i), 0, -1):
                chars = self.table.get(tuple(syllables[i : i + n]))
                if chars:
                    out.append(chars)
                    i, covered, widest = i + n, covered + n, max(widest, n)
                    break
            else:
                i += 1
        return "".join(out), covered, widest

    def _split_word(self, word: str) -> tuple[str, ...] | None:
        """The fewest syllables that spell a word ("dingdan" → ding dan), or None."""
        best: list[tuple[str, ...] | None] = [()] + [None] * len(word)
        for end in range(1, len(word) + 1):
            for start in range(max(0, end - 6), end):
                prev = best[start]
                if prev is not None and word[start:end] in self.syllables:
                    cand, known = (*prev, word[start:end]), best[end]
                    if known is None or len(cand) < len(known):
                        best[end] = cand
        return best[-1] or None
