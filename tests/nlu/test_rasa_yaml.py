"""Loader of Rasa 3.1 training-data YAML."""

from pathlib import Path

import pytest

from nlu.rasa_yaml import Example, load_examples, parse_annotated

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "nlu-sample.yml"  # shared/docs, vendored
DATA = Path(__file__).resolve().parents[2] / "nlu" / "data"


@pytest.mark.parametrize(
    "line, text, entities",
    [
        ("plain text", "plain text", []),
        ("[apples](product:apple)", "apples", [("product", "apple", 0, 6)]),
        (
            "sell [50](quantity) [kg](unit)",
            "sell 50 kg",
            [("quantity", "50", 5, 7), ("unit", "kg", 8, 10)],
        ),
        (
            '[三块五]{"entity": "price", "value": "3.5"}一斤',
            "三块五一斤",
            [("price", "3.5", 0, 3)],
        ),
        (
            '[yuan]{"entity": "currency", "value": "CNY"} ok',
            "yuan ok",
            [("currency", "CNY", 0, 4)],
        ),
        ("[Wudu](location:wudu) market", "Wudu market", [("location", "wudu", 0, 4)]),
        (
            "[一](quantity:1.5)[吨](unit:ton)半",
            "一吨半",
            [("quantity", "1.5", 0, 1), ("unit", "ton", 1, 2)],
        ),
        ("no [brackets] here", "no [brackets] here", []),
        ("[a b](name) and [c](x:y)", "a b and c", [("name", "a b", 0, 3), ("x", "y", 8, 9)]),
    ],
)
def test_parse_annotated(line, text, entities):
    plain, ents = parse_annotated(line)
    assert plain == text
    assert [(e["entity"], e["value"], e["start"], e["end"]) for e in ents] == entities
    for e in ents:  # spans index the plain text
        assert plain[e["start"] : e["end"]]


def test_load_sample_file():
    examples = load_examples(SAMPLE)
    assert len(examples) == 13
    first = examples[0]
    assert first == Example(
        "selling 30 kg pears at 4 yuan per kg",
        "sell",
        (
            {"entity": "quantity", "value": "30", "start": 8, "end": 10},
            {"entity": "unit", "value": "kg", "start": 11, "end": 13},
            {"entity": "product", "value": "pear", "start": 14, "end": 19},
            {"entity": "price", "value": "4", "start": 23, "end": 24},
            {"entity": "currency", "value": "CNY", "start": 25, "end": 29},
            {"entity": "price_unit", "value": "kg", "start": 34, "end": 36},
        ),
    )
    assert {e.intent for e in examples} == {
        "sell",
        "buy",
        "price_query",
        "update_listing",
        "subscribe",
        "broadcast",
    }


def test_skips_non_intent_sections_and_reads_directories(tmp_path):
    (tmp_path / "b.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - hi\n    - hello\n'
        "- synonym: apple\n  examples: |\n    - aple\n"
        "- regex: ref\n  examples: |\n    - \\d{4}\n"
        "- lookup: city\n  examples: |\n    - Wudu\n",
        encoding="utf-8",
    )
    (tmp_path / "a.yaml").write_text(
        'version: "3.1"\nnlu:\n- intent: affirm\n  examples:\n  - text: "yes [12](ref)"\n',
        encoding="utf-8",
    )
    (tmp_path / "notes.txt").write_text("- intent: nope", encoding="utf-8")
    examples = load_examples(tmp_path)
    assert [(e.intent, e.text) for e in examples] == [
        ("affirm", "yes 12"),
        ("greet", "hi"),
        ("greet", "hello"),
    ]
    assert examples[0].entities == ({"entity": "ref", "value": "12", "start": 4, "end": 6},)


def test_empty_file_and_several_paths(tmp_path):
    (tmp_path / "empty.yml").write_text("", encoding="utf-8")
    assert load_examples(tmp_path / "empty.yml") == []
    assert len(load_examples(SAMPLE, tmp_path)) == 13


@pytest.mark.skipif(not any(DATA.glob("*.yml")), reason="no training data yet")
def test_training_data_loads_with_consistent_spans():
    examples = load_examples(DATA)
    assert len(examples) > 100
    for ex in examples:
        assert ex.text.strip() and ex.intent
        for ent in ex.entities:
            assert 0 <= ent["start"] < ent["end"] <= len(ex.text)
            assert ent["value"].strip()
