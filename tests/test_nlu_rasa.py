"""The held-out files through the Rasa backend (a real Rasa 3.6 server), beside the built-in model.

Skipped unless FARMCHAT_TEST_RASA_URL names a running server (scripts/rasa.sh starts one);
CI sets it. On each file the built-in model must do at least as well as Rasa.
"""

from __future__ import annotations

import os

import pytest

from nlu.catalog import Catalog
from nlu.evaluate import Report, evaluate, format_report
from nlu.rasa_backend import RasaNLU
from nlu.rasa_yaml import load_examples
from tests.test_nlu_heldout import GATED, VOICES

RASA_URL = os.environ.get("FARMCHAT_TEST_RASA_URL", "")
# a sanity floor: the bar is "the built-in model does at least as well"
MIN_RASA_INTENT_ACCURACY = 0.75
MIN_RASA_ENTITY_F1 = 0.75
pytestmark = pytest.mark.skipif(
    not RASA_URL, reason="set FARMCHAT_TEST_RASA_URL to a running Rasa server"
)


async def rasa_report(rasa: RasaNLU, examples) -> Report:
    report = Report()
    for example in examples:
        report.add(example, await rasa.aparse(example.text))
    return report


@pytest.mark.parametrize("path", [*GATED, VOICES], ids=lambda p: p.name)
async def test_heldout_through_rasa(real_nlu, path):
    rasa = RasaNLU(
        RASA_URL,
        real_nlu,
        Catalog.build(),
        token=os.environ.get("FARMCHAT_NLU__RASA__TOKEN", ""),
        timeout=30,
    )
    examples = load_examples(path)
    try:
        report = await rasa_report(rasa, examples)
    finally:
        await rasa.aclose()
    summary = format_report(report, max_errors=0)
    print(summary)
    assert rasa.health()["fallbacks"] == 0, "Rasa did not answer every message"
    assert report.intent_accuracy >= MIN_RASA_INTENT_ACCURACY, summary
    assert report.entity_f1 >= MIN_RASA_ENTITY_F1, summary
    builtin = evaluate(real_nlu, examples)
    assert builtin.intent_accuracy >= report.intent_accuracy
    assert builtin.entity_f1 >= report.entity_f1
