"""The trie regexes behind the gazetteer and cues match as the plain alternations they replace."""

import random
import re

from nlu.cues import _INDEX, CUES, _pattern
from nlu.gazetteer import _trie_regex

NAMES = [
    "apple",
    "apples",
    "app",
    "sweet potato",
    "sweet potatoes",
    "potato",
    "pear",
    "pears",
    "li xian",
]
CJK = ["红枣", "红", "枣", "土豆", "土", "武都区", "武都"]


def longest_first(names: list[str], latin: bool) -> re.Pattern:
    parts = []
    for name in sorted(names, key=len, reverse=True):
        body = r"[\s-]+".join(map(re.escape, name.split()))
        parts.append(rf"(?<![a-z]){body}(?![a-z])" if latin else body)
    return re.compile("|".join(parts))


def texts(words: list[str], n: int = 3000) -> list[str]:
    rng = random.Random(7)
    glue = [" ", "", "-", "  ", "x", "s", "1", "的"]
    return [
        rng.choice(glue).join(
            rng.choice([*words, "a", "es", "-"]) for _ in range(rng.randint(1, 4))
        )
        for _ in range(n)
    ]


def test_latin_trie_finds_what_the_longest_first_alternation_finds():
    trie = re.compile(rf"(?<![a-z]){_trie_regex(NAMES, r'(?![a-z])')}")
    plain = longest_first(NAMES, latin=True)
    for text in texts(NAMES):
        assert [m.span() for m in trie.finditer(text)] == [
            m.span() for m in plain.finditer(text)
        ], text


def test_chinese_trie_finds_what_the_longest_first_alternation_finds():
    trie, plain = re.compile(_trie_regex(CJK, "")), longest_first(CJK, latin=False)
    for text in texts(CJK):
        assert [m.span() for m in trie.finditer(text)] == [
            m.span() for m in plain.finditer(text)
        ], text


def test_cue_presence_equals_its_regex():
    words = [w for text in CUES.values() for w in text.split()]
    plain = {name: _pattern(text.split()) for name, text in CUES.items()}
    for sample in texts(words, 3000):
        assert _INDEX.names(sample) == {name for name, p in plain.items() if p.search(sample)}, (
            sample
        )
