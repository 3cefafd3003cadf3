"""Dictionary matching of products and places: exact names, plurals, pinyin and typos."""

from __future__ import annotations

import re
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import OSA

from nlu.catalog import Catalog, _is_cjk
from nlu.lexicon import COMMON_WORDS, TYPO_DECOYS
from nlu.pinyin import homophone_forms

_WORD = re.compile(r"[a-z]{4,}")
_SUFFIXES = ("市", "县", "区", "镇")


def plurals(name: str) -> set[str]:
    """A lower-case English name with its plural forms (last word inflected)."""
    head, _, last = name.rpartition(" ")
    prefix = head + " " if head else ""
    forms = {last, last + "s"}
    if last.endswith(("o", "ch", "sh", "s", "x")):
        forms.add(last + "es")
    if last.endswith("y") and len(last) > 2 and last[-2] not in "aeiou":
        forms.add(last[:-1] + "ies")
    if last.endswith("i"):
        forms.update({last + "es", last + "s"})
    return {prefix + f for f in forms}


def pinyin_forms(name: str) -> set[str]:
    """Joined and spaced pinyin of a Chinese name of two or more characters ("pingguo")."""
    if len(name) < 2:  # one syllable ("li", "ji") collides with names and words
        return set()
    # only while building: its dictionaries take ~55 MB
    from pypinyin import lazy_pinyin

    syllables = lazy_pinyin(name)
    return {"".join(syllables), " ".join(syllables)}


class Gazetteer:
    """Finds product and place names in folded (lower-case, halfwidth) text."""

    def __init__(self, catalog: Catalog):
        self.names: dict[str, tuple[str, str]] = {}  # folded name -> (entity, key)
        for key, product in catalog.products.items():
            for name in product.en:
                for form in plurals(name.lower()):
                    self.names.setdefault(form, ("product", key))
            for name in product.zh:
                self.names.setdefault(name, ("product", key))
                for form in pinyin_forms(name):
                    self.names.setdefault(form, ("product", key))
        for key, place in catalog.places.items():
            for name in place.names:
                self.names.setdefault(name.lower(), ("location", key))
                bare = (
                    name[:-1]
                    if _is_cjk(name) and name.endswith(_SUFFIXES) and len(name) > 2
                    else name
                )
                for form in pinyin_forms(bare) if _is_cjk(name) else ():
                    self.names.setdefault(form, ("location", key))
        for key, product in catalog.products.items():  # after every real name, which wins
            for name in product.zh:
                for form in homophone_forms(name):
                    self.names.setdefault(form, ("product", key))
        self.pattern = self._compile()
        self.fuzzy_choices = sorted(
            n for n in self.names if " " not in n and n.isascii() and len(n) >= 4
        )

    def _compile(self) -> tuple[re.Pattern[str], re.Pattern[str]]:
        """Names as two character tries (Latin names bounded by non-letters), longest match first.

        The text fixes the path through a trie, and deeper branches are tried before a name
        ends, so the longest name at a position wins, as in a longest-first alternation, but
        each position costs one branch instead of every name. The two tries are two patterns:
        a pattern that opens with a branch of literals lets the regex engine skip every
        position whose character starts no name, which one alternation of both would not.
        """
        latin = [n for n in self.names if n.isascii()]
        other = [n for n in self.names if not n.isascii()]
        return re.compile(rf"(?<![a-z]){_trie_regex(latin, r'(?![a-z])')}"), re.compile(
            _trie_regex(other, "")
        )

    def find(self, folded: str) -> list[tuple[int, int, str, str]]:
        """(start, end, entity, key) of exact and fuzzy name matches, in text order."""
        found: list[tuple[int, int, str, str]] = []
        latin, other = self.pattern
        for match in [*latin.finditer(folded), *other.finditer(folded)]:
            entity, key = self.names[" ".join(match.group().replace("-", " ").split())]
            found.append((match.start(), match.end(), entity, key))
        taken = [(s, e) for s, e, _, _ in found]
        for word in _WORD.finditer(folded):  # four letters or more: shorter ones are never typos
            if any(s < word.end() and word.start() < e for s, e in taken):
                continue
            hit = self.fuzzy(word.group())
            if hit:
                found.append((word.start(), word.end(), *hit))
        return sorted(found)

    def fuzzy(self, word: str) -> tuple[str, str] | None:
        """(entity, key) of a misspelt product or place name ("aples", "tomatos")."""
        return _fuzzy_lookup(self, word)


_SEP, _END = " ", ""
# A character trie: each character maps to the trie of what may follow it; _END ends a name.
_Trie = dict[str, "_Trie"]


def _trie_regex(names: list[str], end: str) -> str:
    """A regex for the names, words joined by [\\s-]+, `end` asserted after each name."""
    trie: _Trie = {}
    for name in names:
        node = trie
        for ch in _SEP.join(name.split()):
            node = node.setdefault(ch, {})
        node[_END] = {}
    return _node_regex(trie, end) if trie else "(?!)"


def _node_regex(node: _Trie, end: str) -> str:
    """Children first (longer names), then the end of a name."""
    alts = [
        (r"[\s-]+" if ch == _SEP else re.escape(ch)) + _node_regex(child, end)
        for ch, child in sorted(node.items())
        if ch != _END
    ]
    if _END in node:
        alts.append(end)
    return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"


@lru_cache(maxsize=8192)
def _fuzzy_lookup(gazetteer: Gazetteer, word: str) -> tuple[str, str] | None:
    """Cached lookup within one edit (two from 8 letters); typos keep their first letter."""
    if len(word) < 4 or word in COMMON_WORDS or word in TYPO_DECOYS:
        return None
    limit = 2 if len(word) >= 8 else 1
    # A four-letter word may only have lost a letter ("aple"); swaps hit real words ("rich").
    choices = [
        c
        for c in gazetteer.fuzzy_choices
        if c[0] == word[0] and abs(len(c) - len(word)) <= limit and (len(word) > 4 or len(c) == 5)
    ]
    best = process.extractOne(word, choices, scorer=OSA.distance, score_cutoff=limit)
    return gazetteer.names[best[0]] if best else None
