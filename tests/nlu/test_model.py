"""Intent model: parse shape, rules, garbage, fast scorer, cache, cross-validated quality."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from nlu.catalog import Catalog
from nlu.evaluate import cross_validate, evaluate, format_report
from nlu.model import _PARTS, NLU, analyze, cache_key, features_text, masked_text
from nlu.rasa_yaml import Example, load_examples
from nlu.shapes import Span

DATA = Path(__file__).resolve().parents[2] / "nlu" / "data"
HAS_DATA = any(DATA.glob("*.yml"))
FIXTURE = """version: "3.1"
nlu:
- intent: greet
  examples: |
    - hi
    - hello there
    - 你好
    - good morning
- intent: sell
  examples: |
    - sell [50](quantity) [kg](unit) [apples](product:apple)
    - 卖[苹果](product:apple)[50](quantity)[斤](unit:jin)
    - selling [20](quantity) [bags](unit:bag) of [maize](product:corn)
    - I have [3](quantity) [crates](unit:crate) [tomatoes](product:tomato) for sale
- intent: buy
  examples: |
    - buy [20](quantity) [kg](unit) [pears](product:pear)
    - 我要买[20](quantity)[斤](unit:jin)[苹果](product:apple)
    - need [5](quantity) [bags](unit:bag) of [beans](product)
    - looking for [garlic](product)
- intent: affirm
  examples: |
    - yes
    - ok [1023](ref)
    - 好
- intent: out_of_scope
  examples: |
    - what is the weather
    - tell me a joke
    - 今天天气怎么样
"""


@pytest.fixture(scope="module")
def catalog():
    return Catalog.build()


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("data")
    (path / "nlu.yml").write_text(FIXTURE, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def small_nlu(catalog, fixture_dir):
    return NLU.train(load_examples(fixture_dir), catalog)


@pytest.fixture(scope="module")
def nlu(catalog, fixture_dir):
    return NLU.train(load_examples(DATA if HAS_DATA else fixture_dir), catalog)


def assert_parse_shape(result, text):
    assert set(result) == {"text", "intent", "intent_ranking", "entities"}
    assert result["text"] == text
    assert set(result["intent"]) == {"name", "confidence", "margin"}
    assert type(result["intent"]["confidence"]) is float
    assert 0.0 <= result["intent"]["confidence"] <= 1.0
    ranking = result["intent_ranking"]
    assert 1 <= len(ranking) <= 10
    assert {**ranking[0], "margin": result["intent"]["margin"]} == result["intent"]
    confidences = [r["confidence"] for r in ranking]
    assert confidences == sorted(confidences, reverse=True)
    assert all(type(c) is float and 0.0 <= c <= 1.0 for c in confidences)
    assert isinstance(result["entities"], list)


def test_masked_text_replaces_entities_and_digits():
    text = "sell 50kg apples at 3/kg, call 0712"
    entities: list[Span] = [
        {"entity": "quantity", "start": 5, "end": 7},
        {"entity": "unit", "start": 7, "end": 9},
        {"entity": "product", "start": 10, "end": 16},
        {"entity": "price", "start": 20, "end": 21},
        {"entity": "price_unit", "start": 22, "end": 24},
    ]
    assert masked_text(text, entities) == "sell NUM UNIT PRODUCT at PRICE / UNIT , call NUM"
    assert "\x1f" not in masked_text("a\x1fb", [])


def test_features_generalize_across_products(catalog):
    from nlu.entities import EntityExtractor

    extractor = EntityExtractor(catalog)
    a = features_text("sell 50kg apples", extractor.extract("sell 50kg apples"))
    b = features_text("sell 3 bags maize", extractor.extract("sell 3 bags maize"))
    assert a == b


def test_parse_shape_and_intent(small_nlu):
    result = small_nlu.parse("sell 30 kg pears")
    assert_parse_shape(result, "sell 30 kg pears")
    assert result["intent"]["name"] == "sell"
    assert [(e["entity"], e["value"]) for e in result["entities"]] == [
        ("quantity", "30"),
        ("unit", "kg"),
        ("product", "pear"),
    ]
    assert small_nlu.parse("我要买10斤梨")["intent"]["name"] == "buy"
    assert sorted(small_nlu.intents) == ["affirm", "buy", "greet", "out_of_scope", "sell"]


@pytest.mark.parametrize(
    "text, intent",
    [
        ("yes", "affirm"),
        ("YES 1023", "affirm"),
        ("好", "affirm"),
        ("ok.", "affirm"),
        ("接受 1023", "affirm"),
        ("no", "deny"),
        ("No 57", "deny"),
        ("拒绝1023", "deny"),
    ],
)
def test_lone_confirmations_are_rules(nlu, text, intent):
    if intent not in nlu.intents:
        pytest.skip("intent not in training data")
    result = nlu.parse(text)
    assert result["intent"]["name"] == intent and result["intent"]["confidence"] == 1.0
    assert result["intent"]["margin"] == 1.0 - result["intent_ranking"][1]["confidence"]


def test_a_bare_question_mark_asks_for_help(nlu):
    for text in ["?", "??", " ？？ "]:
        assert nlu.parse(text)["intent"]["name"] == "help"
    assert nlu.parse("?!?!")["intent"]["name"] == "out_of_scope"  # punctuation noise stays garbage


def test_the_parse_gives_the_margin_over_the_runner_up(nlu):
    for text in ["sell 50kg apples", "wanna get sum maize", "苹果多少钱", "hmm"]:
        result = nlu.parse(text)
        first, second = result["intent_ranking"][:2]
        assert result["intent"]["name"] == first["name"]
        assert result["intent"]["margin"] == pytest.approx(
            first["confidence"] - second["confidence"]
        )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "😀😀😀",
        "\x00\x01\x02",
        "12345",
        "?!?!",
        "\ud800",
        "a" * 5000,
        "苹果" * 2500,
        bytes(range(256)).decode("latin-1"),
    ],
)
def test_garbage_gives_valid_low_confidence_response(small_nlu, text):
    result = small_nlu.parse(text)
    assert_parse_shape(result, text)
    if not any(ch.isalpha() for ch in text):
        assert result["intent"]["name"] == "out_of_scope"
        assert result["intent"]["confidence"] <= 0.5


def test_non_string_input_does_not_raise(small_nlu):
    assert_parse_shape(small_nlu.parse(None), "None")


def test_fast_scorer_matches_sklearn(nlu):
    texts = [
        "sell 50kg apples",
        "你好",
        "what is the weather",
        "yes",
        "zzz qqq",
        "",
        "卖 apples  50kg\t三块五",
        "a",
        "  two   spaces ",
    ]
    texts += [ex.text for ex in (load_examples(DATA) if HAS_DATA else [])][:400]
    from nlu.entities import EntityExtractor

    extractor = nlu.extractor
    feats = [features_text(t, extractor.extract(t)) for t in texts]
    fast = np.array([nlu.scorer(f) for f in feats])
    assert np.allclose(fast, nlu.pipeline.predict_proba(feats), atol=1e-9)
    assert isinstance(extractor, EntityExtractor)


def test_analyzers_match_sklearn(nlu):
    """The scorer's own n-gram analyzers produce exactly scikit-learn's terms, in order."""
    texts = [
        "sell 50kg apples",
        "卖 apples  50kg\t三块五",
        "a",
        "",
        " ab ",
        "x\x1fcue_sell cue_price",
    ]
    texts += [ex.text for ex in (load_examples(DATA) if HAS_DATA else [])]
    feats = [features_text(t, nlu.extractor.extract(t)) for t in texts]
    union = nlu.pipeline.steps[0][1]
    vectors = dict(union.transformer_list)
    for name, kind, grams, _ in _PARTS:
        sk = vectors[name].build_analyzer()
        for f in feats:
            assert analyze(kind, grams, f) == sk(f), (name, f)


def test_served_model_loads_without_sklearn_or_pypinyin(catalog, fixture_dir, tmp_path):
    """A cache hit in a fresh process (what `farmchat serve` does) imports neither library."""
    import subprocess
    import sys

    cache = tmp_path / "cache"
    NLU.load_or_train(catalog, [str(fixture_dir)], str(cache), isolate=True)  # trained in a child
    assert len(list(cache.glob("*.pkl"))) == 1
    code = (
        "import sys; from nlu.catalog import Catalog; from nlu.model import NLU; "
        f"m = NLU.load_or_train(Catalog.build(), [{str(fixture_dir)!r}], {str(cache)!r}); "
        "print(m.parse('sell 50kg apples')['intent']['name'], "
        "sorted(n for n in ('sklearn', 'scipy', 'pypinyin') if n in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout.split()
    assert out == ["sell", "[]"]


def test_cache_reused_and_rebuilt_on_change(catalog, fixture_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(fixture_dir, data)
    cache = tmp_path / "cache"
    first = NLU.load_or_train(catalog, [str(data)], str(cache))
    files = sorted(cache.glob("*.pkl"))
    assert len(files) == 1
    second = NLU.load_or_train(catalog, [str(data)], str(cache))
    assert second.parse("sell 50kg apples") == first.parse("sell 50kg apples")
    assert sorted(cache.glob("*.pkl")) == files  # reused, nothing new written
    files[0].write_bytes(b"not a pickle")  # a corrupt cache is retrained, not fatal
    assert (
        NLU.load_or_train(catalog, [str(data)], str(cache)).parse("hi")["intent"]["name"]
        == "greet"
    )

    (data / "nlu.yml").write_text(
        FIXTURE + "- intent: help\n  examples: |\n    - help\n    - menu\n", encoding="utf-8"
    )
    third = NLU.load_or_train(catalog, [str(data)], str(cache))
    assert "help" in third.intents and "help" not in first.intents
    assert len(list(cache.glob("*.pkl"))) == 2


def test_cache_key_depends_on_data_and_catalog(catalog, fixture_dir, tmp_path):
    key = cache_key(catalog, [str(fixture_dir)])
    assert key == cache_key(Catalog.build(), [str(fixture_dir)])
    assert key != cache_key(
        Catalog.build(extra_products={"durian": ["durian"]}), [str(fixture_dir)]
    )
    other = tmp_path / "x.yml"
    other.write_text(FIXTURE.replace("hello there", "hello you"), encoding="utf-8")
    assert key != cache_key(catalog, [str(other)])


def test_evaluate_report(small_nlu):
    examples = [
        Example(
            "sell 50 kg apples",
            "sell",
            (
                {"entity": "quantity", "value": "50", "start": 5, "end": 7},
                {"entity": "unit", "value": "kg", "start": 8, "end": 10},
                {"entity": "product", "value": "apple", "start": 11, "end": 17},
            ),
        ),
        Example("hi", "buy", ({"entity": "product", "value": "pear", "start": 0, "end": 2},)),
    ]
    report = evaluate(small_nlu, examples)
    assert report.total == 2 and report.intent_correct == 1
    assert (report.true_pos, report.false_pos, report.false_neg) == (3, 0, 1)
    assert report.entity_precision == 1.0 and report.entity_recall == 0.75
    assert abs(report.entity_f1 - 6 / 7) < 1e-9
    assert len(report.errors) == 1
    error = report.errors[0]
    assert (error.expected, error.predicted, error.missing, error.extra) == (
        "buy",
        "greet",
        [("product", "pear")],
        [],
    )
    text = format_report(report)
    assert "intent accuracy: 50.0%" in text and "[buy -> greet] hi" in text


@pytest.mark.skipif(not HAS_DATA, reason="no training data yet")
def test_cross_validation_quality(catalog):
    report = cross_validate(load_examples(DATA), catalog, folds=5)
    assert report.entity_f1 >= 0.95
    assert report.intent_accuracy >= 0.85


def test_a_repeated_text_is_parsed_once_and_every_caller_gets_its_own_copy(catalog, fixture_dir):
    nlu = NLU.train(load_examples(fixture_dir), catalog)
    first = nlu.parse("sell 50kg apples")
    first["intent"]["name"] = "changed by a caller"
    first["entities"].clear()
    first["intent_ranking"][0]["confidence"] = -1.0
    again = nlu.parse("sell 50kg apples")
    assert (
        again["intent"]["name"] == "sell"
        and again["entities"]
        and again["intent_ranking"][0]["confidence"] > 0
    )
    assert again == nlu._parse("sell 50kg apples")  # the same as parsing it afresh
    assert nlu.health()["parse_cache"] == {"hits": 1, "misses": 1, "size": 1}
    nlu.parse("buy 5 kg pears")
    assert nlu.health()["parse_cache"]["misses"] == 2
