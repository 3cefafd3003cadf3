"""The NLU contract on the real model: the shared sample parses exactly; garbage falls back."""

from pathlib import Path

import pytest

from nlu.model import GARBAGE_CONFIDENCE
from nlu.rasa_yaml import load_examples
from tests.nlu.sample import pairs, with_implied_currency

SAMPLE = load_examples(Path(__file__).resolve().parents[1] / "data" / "nlu-sample.yml")
GARBAGE = [
    "",
    "   ",
    "\n\t",
    "😀😀😀",
    "🍎🍐🍑" * 100,
    "\x00\x01\x02\x03",
    "12345",
    "?!?!",
    "\ud800\udfff",
    "a" * 5000,
    "苹果" * 2500,
    "sell 50kg apples " * 300,
    bytes(range(256)).decode("latin-1"),
    "ÿþ\x00A\x00B\x00C",
    "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "\ufffd" * 40,
]


@pytest.mark.parametrize("example", SAMPLE, ids=[e.text for e in SAMPLE])
def test_sample_parses_to_its_intent_and_values(real_nlu, example):
    result = real_nlu.parse(example.text)
    assert result["intent"]["name"] == example.intent
    assert pairs(result["entities"]) == with_implied_currency(example)


@pytest.mark.parametrize("text", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_is_a_valid_low_confidence_fallback(real_nlu, text):
    result = real_nlu.parse(text)
    assert set(result) == {"text", "intent", "intent_ranking", "entities"}
    assert result["text"] == text
    assert result["intent"] == {
        "name": "out_of_scope",
        "confidence": GARBAGE_CONFIDENCE,
        "margin": GARBAGE_CONFIDENCE,
    }
    assert result["intent_ranking"][0] == {
        "name": "out_of_scope",
        "confidence": GARBAGE_CONFIDENCE,
    }
    assert result["entities"] == []


async def test_aparse_is_parse(real_nlu):
    for text in ["sell 50kg apples", "苹果多少钱", ""]:
        assert await real_nlu.aparse(text) == real_nlu.parse(text)
