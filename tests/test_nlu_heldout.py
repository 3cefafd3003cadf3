"""The built-in model on the held-out test file (never trained on) meets the quality bar."""

from __future__ import annotations

from pathlib import Path

from nlu.evaluate import evaluate, format_report
from nlu.rasa_yaml import load_examples

HELDOUT = Path(__file__).parent / "nlu" / "heldout.yml"
MIN_INTENT_ACCURACY = 0.97
MIN_ENTITY_F1 = 0.95


def test_heldout_file_is_big_enough_and_covers_every_intent(real_nlu):
    examples = load_examples(HELDOUT)
    assert len(examples) >= 300
    assert {e.intent for e in examples} == set(real_nlu.intents)


def test_builtin_model_meets_the_bar_on_the_heldout_file(real_nlu):
    report = evaluate(real_nlu, load_examples(HELDOUT))
    summary = format_report(report, max_errors=30)
    assert report.intent_accuracy >= MIN_INTENT_ACCURACY, summary
    assert report.entity_f1 >= MIN_ENTITY_F1, summary
