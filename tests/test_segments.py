"""SMS segment counting (GSM-7 / UCS-2) and fitting replies into 2 segments."""

from __future__ import annotations

import random

import pytest

from bot.segments import encoding, fit, segments, units


@pytest.mark.parametrize("text, enc, n_units, n_segments", [
    ("", "GSM-7", 0, 0),
    ("a" * 160, "GSM-7", 160, 1), ("a" * 161, "GSM-7", 161, 2),  # 161 > 160: 153 + 8
    ("a" * 306, "GSM-7", 306, 2), ("a" * 307, "GSM-7", 307, 3),
    ("€" + "a" * 158, "GSM-7", 160, 1), ("€" + "a" * 159, "GSM-7", 161, 2),  # € costs 2 septets
    ("a" * 152 + "€" + "a" * 10, "GSM-7", 164, 2),  # € does not fit in 153: moves to segment 2
    ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),  # 152 | 2+151 | 1 — not 2, the split costs one
    ("苹" * 70, "UCS-2", 70, 1), ("苹" * 71, "UCS-2", 71, 2), ("苹" * 134, "UCS-2", 134, 2),
    ("苹" * 135, "UCS-2", 135, 3), ("🍎" * 35, "UCS-2", 70, 1), ("🍎" * 36, "UCS-2", 72, 2),
    ("a" * 66 + "🍎" + "a", "UCS-2", 69, 1), ("a" * 66 + "🍎" + "a" * 3, "UCS-2", 71, 2),
    ("price ¥3.50 apples", "GSM-7", 18, 1), ("sell 苹果", "UCS-2", 7, 1), ("“quoted”", "UCS-2", 8, 1),
])
def test_encoding_units_and_segments(text, enc, n_units, n_segments):
    assert (encoding(text), units(text), segments(text)) == (enc, n_units, n_segments)


def test_fit_drops_trailing_lines_before_cutting():
    text = "\n".join(f"{n}) 50 kg at KES 40/kg, Nakuru farmer number {n}" for n in range(1, 12))
    fitted = fit(text)
    assert segments(fitted) <= 2 and fitted.startswith("1) 50 kg") and text.startswith(fitted)
    assert not fitted.endswith("...")  # whole lines were enough


def test_fit_cuts_long_text_at_a_word_with_gsm_dots():
    fitted = fit("word " * 200)
    assert segments(fitted) == 2 and fitted.endswith("...") and encoding(fitted) == "GSM-7"
    assert fitted[:-3].endswith("word")


def test_fit_cuts_chinese_with_an_ellipsis():
    fitted = fit("苹果价格很好" * 40)
    assert segments(fitted) == 2 and fitted.endswith("…")


def test_fit_keeps_what_fits_and_never_exceeds():
    rng = random.Random(7)
    alphabet = "abc xyz 123\n€[]苹果价¥🍎"
    for _ in range(1500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 500)))
        fitted = fit(text)
        assert fitted and segments(fitted) <= 2
        if segments(text) <= 2:
            assert fitted == text


def test_no_text_asks_for_a_carrier_keyword_alone():
    """Twilio treats STOP, CANCEL... sent alone as an opt-out and answers HELP/INFO itself."""
    import re

    from bot.twilio_webhook import OPT_IN, OPT_OUT
    from handlers.texts import TEXTS

    keywords = OPT_OUT | OPT_IN | {"HELP", "INFO", "STOP"}
    for key, langs in TEXTS.items():
        for quoted in re.findall(r"['‘“]([^'’”]+)['’”]", langs["en"]):
            assert quoted.strip().upper() not in keywords, f"{key} asks for {quoted!r} alone"
