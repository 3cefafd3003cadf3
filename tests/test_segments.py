"""SMS segment counting (GSM-7 / UCS-2) and fitting replies into 2 segments."""

from __future__ import annotations

import random

import pytest

from handlers.segments import (
    GSM7_BASIC,
    GSM7_EXTENDED,
    encoding,
    fit,
    segments,
    smart_gsm,
    units,
)

# 3GPP TS 23.038 default alphabet typed row by row (0x00-0x7F), "\x1b" = escape at 0x1B.
GSM_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


def test_gsm_tables_are_the_default_alphabet_and_its_extension():
    assert len(GSM_TABLE) == 128 and GSM_TABLE[0x1B] == "\x1b" and GSM_TABLE[0x09] == "Ç"
    assert frozenset(GSM_TABLE) - {"\x1b"} == GSM7_BASIC and len(GSM7_BASIC) == 127
    assert frozenset("^{}\\[~]|€\f") == GSM7_EXTENDED and not GSM7_BASIC & GSM7_EXTENDED


@pytest.mark.parametrize(
    "char, enc",
    [
        ("Ç", "GSM-7"),
        ("ç", "UCS-2"),  # only the capital is in 03.38 (0x09)
        ("`", "UCS-2"),
        ("\t", "UCS-2"),
        ("á", "UCS-2"),
        ("é", "GSM-7"),
        ("¥", "GSM-7"),
        ("$", "GSM-7"),
        ("¤", "GSM-7"),
        ("€", "GSM-7"),
        ("\f", "GSM-7"),
        ("\x1b", "UCS-2"),
        ("’", "UCS-2"),
        ("…", "UCS-2"),
        ("\u00a0", "UCS-2"),
        ("苹", "UCS-2"),
        ("🍎", "UCS-2"),
    ],
)
def test_single_character_encoding(char, enc):
    assert encoding(char) == enc


@pytest.mark.parametrize(
    "text, enc, n_units, n_segments",
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),  # 153 + 8
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),  # 153 + 153 | + 1
        ("Price €3 per kg", "GSM-7", 16, 1),  # one € keeps GSM-7, 15 chars = 16 septets
        ("€" + "a" * 158, "GSM-7", 160, 1),
        ("€" + "a" * 159, "GSM-7", 161, 2),
        ("a" * 158 + "\f", "GSM-7", 160, 1),
        ("{" * 80, "GSM-7", 160, 1),
        ("{" * 81, "GSM-7", 162, 2),
        ("a" * 151 + "€" + "a" * 153, "GSM-7", 306, 2),  # 151+2 = 153 exactly | 153
        ("a" * 152 + "€" + "a" * 10, "GSM-7", 164, 2),  # € can't take septets 153-154: 152 | 2+10
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),  # 152 | 2+151 | 1: ceil(306/153) says 2
        ("{" * 153, "GSM-7", 306, 3),  # 76 per segment (152 septets): 76 | 76 | 1
        ("苹" * 70, "UCS-2", 70, 1),
        ("苹" * 71, "UCS-2", 71, 2),  # 67 + 4
        ("苹" * 134, "UCS-2", 134, 2),
        ("苹" * 135, "UCS-2", 135, 3),
        ("🍎" * 35, "UCS-2", 70, 1),
        ("🍎" * 36, "UCS-2", 72, 2),  # an emoji is a surrogate pair
        ("🍎" * 66, "UCS-2", 132, 2),
        ("🍎" * 67, "UCS-2", 134, 3),  # 33 pairs (66 units) | 33 | 1
        ("苹" * 66 + "🍎" + "苹" * 65, "UCS-2", 133, 2),  # pair can't take units 67-68: 66 | 2+65
        ("苹" * 66 + "🍎" + "苹" * 66, "UCS-2", 134, 3),  # 66 | 67 | 1: ceil(134/67) says 2
        ("a" * 66 + "🍎" + "a", "UCS-2", 69, 1),
        ("a" * 66 + "🍎" + "a" * 3, "UCS-2", 71, 2),
        ("sell 50 jin 苹果", "UCS-2", 14, 1),
        ("a" * 160 + "苹", "UCS-2", 161, 3),  # 67 | 67 | 27
        ("“quoted”", "UCS-2", 8, 1),
        ("price ¥3.50 apples", "GSM-7", 18, 1),
    ],
)
def test_encoding_units_and_segments(text, enc, n_units, n_segments):
    assert (encoding(text), units(text), segments(text)) == (enc, n_units, n_segments)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ok",
        "a" * 306,
        "苹" * 134,
        "🍎" * 66,
        "a" * 151 + "€" + "a" * 153,
        "\n".join(["line"] * 61),  # 61*4 + 60 = 304 septets
    ],
)
def test_fit_returns_a_text_that_fits_unchanged(text):
    assert fit(text) is text


LISTINGS = "\n".join(f"{n}) 50 kg at KES 40/kg, Nakuru farmer number {n}" for n in range(1, 12))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("word " * 200, " ".join(["word"] * 60) + "..."),  # 5*60-1 + 3 = 302 ≤ 306; 61 words: 307
        (
            "apples, " * 100,
            ", ".join(["apples"] * 38) + "...",
        ),  # 8*37 + 7 = 303 ends in ','; dropped
        ("a" * 1000, "a" * 303 + "..."),  # one long word: hard cut, 303 + 3 = 306
        ("{" * 200, "{" * 151 + "..."),  # 76 {'s | 75 {'s + '...' = 150 + 3 = 153
        ("苹果价格很好" * 40, ("苹果价格很好" * 40)[:133] + "…"),  # 133 + 1 = 134 = 67 | 67
        ("🍎" * 100, "🍎" * 66 + "…"),  # 33 pairs | 33 pairs + '…' = 67; never half a pair
        ("word " * 100 + "苹果", " ".join(["word"] * 60) + "..."),  # kept part is GSM-7: '...'
        ("苹果 " * 100, "苹果 " * 44 + "苹…"),  # 3*44 + 1 + 1 = 134: cut between 苹 and 果
    ],
)
def test_fit_cuts_at_a_boundary_with_an_ellipsis_in_the_same_encoding(text, expected):
    fitted = fit(text)
    assert fitted == expected and segments(fitted) <= 2
    assert encoding(fitted) == encoding(fitted[:-3] if fitted.endswith("...") else fitted[:-1])


def test_fit_drops_whole_trailing_lines_before_cutting():
    fitted = fit(LISTINGS)
    assert segments(LISTINGS) > 2 and segments(fitted) <= 2
    assert fitted == "\n".join(LISTINGS.split("\n")[: len(fitted.split("\n"))])  # whole lines
    assert (
        segments(fitted + "\n" + LISTINGS.split("\n")[len(fitted.split("\n"))]) > 2
    )  # as many as fit
    assert not fitted.endswith("...")


def test_fit_cuts_the_first_line_when_it_alone_is_too_long():
    text = "Apples: " + "red and sweet " * 40 + "\nsecond line\nthird line"
    fitted = fit(text)
    assert segments(fitted) == 2 and fitted.endswith("...") and "\n" not in fitted
    assert text.startswith(fitted[:-3]) and fitted[:-3].endswith("sweet")


def test_fit_never_returns_empty_for_a_blank_first_line():
    fitted = fit("\n" + "a" * 400)
    assert fitted.strip() and segments(fitted) <= 2


def test_fit_chinese_reply_with_a_short_english_tail():
    text = "您的订单 1023 已接受。" * 20
    fitted = fit(text)
    assert encoding(fitted) == "UCS-2" and fitted.endswith("…") and segments(fitted) == 2
    assert units(fitted) >= 130  # packed close to the 134-unit limit, not cut short


@pytest.mark.parametrize(
    "text, max_segments, expected",
    [
        ("a" * 200, 1, "a" * 157 + "..."),
        ("苹" * 100, 1, "苹" * 69 + "…"),
        ("a" * 500, 3, "a" * 456 + "..."),
    ],
)
def test_fit_other_segment_limits(text, max_segments, expected):
    assert fit(text, max_segments) == expected and segments(expected) == max_segments


def _reference_segments(text: str) -> int:
    """Independent oracle: fewest runs of whole characters, each within the segment's units."""
    if not text:
        return 0
    gsm = all((ch in GSM_TABLE and ch != "\x1b") or ch in "^{}\\[~]|€\f" for ch in text)
    costs = [
        (2 if ch in "^{}\\[~]|€\f" else 1) if gsm else len(ch.encode("utf-16-le")) // 2
        for ch in text
    ]
    single, per = (160, 153) if gsm else (70, 67)
    if sum(costs) <= single:
        return 1
    best = [0] + [len(costs)] * len(costs)  # best[i]: fewest segments for the first i characters
    for end in range(1, len(costs) + 1):
        used, start = 0, end
        while start > 0 and used + costs[start - 1] <= per:
            used, start = used + costs[start - 1], start - 1
            best[end] = min(best[end], best[start] + 1)
    return best[-1]


def test_random_texts_count_right_and_always_fit():
    rng = random.Random(20240601)
    alphabet = [*"abc xyz 123 ,.\n€[]^\f苹果价¥é", "🍎", "’", "…", "  "]
    for case in range(2000):
        # lengths cluster around the 1- and 2-segment limits of both encodings
        length = rng.choice(
            [
                rng.randint(0, 40),
                rng.randint(60, 170),
                rng.randint(120, 330),
                rng.randint(300, 700),
            ]
        )
        text = "".join(
            rng.choice(alphabet[:18] if case % 3 == 0 else alphabet) for _ in range(length)
        )
        if case < 400:  # the expensive oracle on a sample; it agrees with the greedy packing
            assert segments(text) == _reference_segments(text), text
        fitted = fit(text)
        assert segments(fitted) <= 2, text
        assert bool(fitted) == bool(text), text
        if segments(text) <= 2:
            assert fitted == text
        elif not fitted.endswith(("...", "…")):
            assert text.startswith(fitted), text  # whole lines kept
        else:
            kept = fitted[:-3] if fitted.endswith("...") else fitted[:-1]
            assert text.startswith(kept) and encoding(kept) == encoding(fitted), text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("It’s ‘fresh’", "It's 'fresh'"),
        ("“Apples” — 50\u00a0kg…", '"Apples" - 50 kg...'),
        ("10–20 kg", "10-20 kg"),
        ("苹果 “好”", '苹果 "好"'),
        ("plain", "plain"),
    ],
)
def test_smart_gsm_replaces_look_alikes(text, expected):
    assert smart_gsm(text) == expected


def test_smart_gsm_keeps_an_english_reply_in_gsm_7():
    text = "We’ve got “Nakuru” potatoes — 90\u00a0kg at KES 40/kg…"
    assert encoding(text) == "UCS-2" and encoding(smart_gsm(text)) == "GSM-7"
