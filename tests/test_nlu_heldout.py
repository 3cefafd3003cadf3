"""The built-in model on the held-out files (never trained on) meets the quality bar per language.

- heldout.yml: written separately from nlu/data in the data's own styles.
- heldout_styles.yml: written from SPEC §5 and the README only, in styles nlu/data lacked
  (SMS shorthand, Kenyan and Indian English, pinyin, dialect, mixed), frozen before the model
  was changed for them.
- heldout_voices.yml: written the same way in other voices, and kept for its score only: its
  errors were never read while the model and data were worked on. Its bar is lower, since it is
  the estimate of how the model does on phrasing nobody tuned it to.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nlu.evaluate import evaluate, format_report, language
from nlu.rasa_yaml import load_examples

HERE = Path(__file__).parent / "nlu"
HELDOUT = HERE / "heldout.yml"
GATED = [HELDOUT, HERE / "heldout_styles.yml"]
VOICES = HERE / "heldout_voices.yml"
MIN_INTENT_ACCURACY = 0.97
MIN_ENTITY_F1 = 0.99
# heldout_voices.yml, never read: a regression guard a little under its measured figures
MIN_VOICES_INTENT_ACCURACY = 0.94
MIN_VOICES_ENTITY_F1 = 0.98


@pytest.mark.parametrize("path", [*GATED, VOICES], ids=lambda p: p.name)
def test_heldout_file_is_big_enough_and_covers_every_intent(real_nlu, path):
    examples = load_examples(path)
    assert len(examples) >= (400 if path.name == "heldout_styles.yml" else 290)
    assert {e.intent for e in examples} == set(real_nlu.intents)
    assert {language(e.text) for e in examples} == {"en", "zh"}


@pytest.mark.parametrize("path", GATED, ids=lambda p: p.name)
def test_builtin_model_meets_the_bar_in_each_language(real_nlu, path):
    report = evaluate(real_nlu, load_examples(path))
    figures = report.by_language()
    assert set(figures) == {"en", "zh"}
    for lang, (accuracy, f1) in figures.items():
        summary = f"{path.name} [{lang}]\n" + format_report(report, max_errors=40)
        assert accuracy >= MIN_INTENT_ACCURACY, summary
        assert f1 >= MIN_ENTITY_F1, summary


def test_builtin_model_on_the_file_nobody_tuned_to(real_nlu):
    for lang, (accuracy, f1) in evaluate(real_nlu, load_examples(VOICES)).by_language().items():
        # the errors are not printed: reading them would make this file one more tuned set
        figures = f"{lang}: intent {accuracy:.1%}, entity F1 {f1:.1%}"
        assert accuracy >= MIN_VOICES_INTENT_ACCURACY, figures
        assert f1 >= MIN_VOICES_ENTITY_F1, figures


def test_languages_are_split_as_the_reports_say():
    assert [
        language(t) for t in ["sell 50kg apples", "wo de dingdan", "卖apple 50斤", "苹果"]
    ] == ["en", "en", "zh", "zh"]
