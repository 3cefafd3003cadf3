"""The training data covers SPEC §5: every intent in both languages, every unit, currency,
product, place."""

import re
from collections import Counter
from pathlib import Path

import pytest

from nlu.catalog import Catalog
from nlu.rasa_yaml import load_examples

DATA = Path(__file__).resolve().parents[2] / "nlu" / "data"
HELDOUT = sorted(Path(__file__).resolve().parent.glob("heldout*.yml"))
INTENTS = {
    "greet",
    "help",
    "sell",
    "buy",
    "price_query",
    "affirm",
    "deny",
    "cancel",
    "my_listings",
    "my_orders",
    "update_listing",
    "subscribe",
    "unsubscribe",
    "set_profile",
    "broadcast",
    "out_of_scope",
}
UNITS = {"kg", "jin", "ton", "g", "lb", "litre", "bag", "box", "crate", "piece"}
CURRENCIES = {"CNY", "KES", "INR", "USD"}
CJK = re.compile(r"[\u4e00-\u9fff]")
# Colloquial numbers and prices (SPEC §4) that must appear in the training text.
COLLOQUIAL = ["三块五", "3块5", "5毛", "一百五", "半吨", "一吨半", "half a ton", "2k"]
MIN_PER_LANGUAGE = 40


@pytest.fixture(scope="module")
def examples():
    return load_examples(DATA)


def language(text: str) -> str:
    """zh for any text with Chinese characters (mixed included), else en."""
    return "zh" if CJK.search(text) else "en"


def values(examples, entity: str) -> set[str]:
    """Canonical values of one entity across the examples."""
    return {str(e["value"]) for ex in examples for e in ex.entities if e["entity"] == entity}


def test_every_intent_has_enough_examples_in_both_languages(examples):
    counts = Counter((ex.intent, language(ex.text)) for ex in examples)
    short = {
        (i, lang): counts[(i, lang)]
        for i in INTENTS
        for lang in ("en", "zh")
        if counts[(i, lang)] < MIN_PER_LANGUAGE
    }
    assert not short, short
    assert {ex.intent for ex in examples} == INTENTS


def test_every_unit_and_currency_is_annotated(examples):
    assert values(examples, "unit") >= UNITS
    assert values(examples, "price_unit") >= UNITS
    assert values(examples, "currency") >= CURRENCIES


def test_every_catalog_product_and_place_is_annotated(examples):
    catalog = Catalog.build()
    assert set(catalog.products) - values(examples, "product") == set()
    assert set(catalog.places) - values(examples, "location") == set()


def test_colloquial_numbers_and_mixed_language_appear(examples):
    texts = [ex.text for ex in examples]
    assert [c for c in COLLOQUIAL if not any(c in t for t in texts)] == []
    mixed = [t for t in texts if CJK.search(t) and re.search(r"[a-zA-Z]{3,}", t)]
    assert len(mixed) >= 20


def test_no_heldout_sentence_is_in_the_training_data(examples):
    def key(text: str) -> str:  # case, spaces and punctuation aside
        return re.sub(r"[\W_]+", "", text.lower())

    trained = {key(ex.text) for ex in examples}
    assert len(HELDOUT) == 3
    leaked = [
        ex.text for ex in load_examples(*HELDOUT) if key(ex.text) and key(ex.text) in trained
    ]
    assert leaked == []
