"""Intent accuracy and entity precision/recall/F1 of an NLU against annotated examples."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nlu.rasa_yaml import Example
from nlu.shapes import Parser, ParseResult

if TYPE_CHECKING:
    from nlu.catalog import Catalog


@dataclass
class Error:
    text: str
    expected: str
    predicted: str
    missing: list[tuple[str, str]]
    extra: list[tuple[str, str]]


@dataclass
class Report:
    total: int = 0
    intent_correct: int = 0
    true_pos: int = 0
    false_pos: int = 0
    false_neg: int = 0
    per_intent: dict[str, Counter[str]] = field(default_factory=dict)  # intent -> {total, correct}
    # en/zh -> {total, correct, tp, fp, fn}
    per_language: dict[str, Counter[str]] = field(default_factory=dict)
    errors: list[Error] = field(default_factory=list)

    @property
    def intent_accuracy(self) -> float:
        return self.intent_correct / self.total if self.total else 0.0

    @property
    def entity_precision(self) -> float:
        found = self.true_pos + self.false_pos
        return self.true_pos / found if found else 1.0

    @property
    def entity_recall(self) -> float:
        wanted = self.true_pos + self.false_neg
        return self.true_pos / wanted if wanted else 1.0

    @property
    def entity_f1(self) -> float:
        p, r = self.entity_precision, self.entity_recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def by_language(self) -> dict[str, tuple[float, float]]:
        """(intent accuracy, entity F1) per language (zh: any Chinese character; en: the rest)."""
        out: dict[str, tuple[float, float]] = {}
        for lang, c in sorted(self.per_language.items()):
            wrong = c["fp"] + c["fn"]
            out[lang] = (
                c["correct"] / c["total"],
                2 * c["tp"] / (2 * c["tp"] + wrong) if c["tp"] + wrong else 1.0,
            )
        return out

    def add(self, example: Example, parsed: ParseResult) -> None:
        """Score one parse against its example (entities as a multiset of (entity, value))."""
        predicted = parsed["intent"]["name"]
        expected_pairs = Counter((e["entity"], str(e["value"])) for e in example.entities)
        got_pairs = Counter((e["entity"], str(e["value"])) for e in parsed["entities"])
        missing, extra = expected_pairs - got_pairs, got_pairs - expected_pairs
        self.total += 1
        self.intent_correct += predicted == example.intent
        self.true_pos += sum((expected_pairs & got_pairs).values())
        self.false_pos += sum(extra.values())
        self.false_neg += sum(missing.values())
        counts = self.per_intent.setdefault(example.intent, Counter())
        counts["total"] += 1
        counts["correct"] += predicted == example.intent
        self.per_language.setdefault(language(example.text), Counter()).update(
            total=1,
            correct=int(predicted == example.intent),
            tp=sum((expected_pairs & got_pairs).values()),
            fp=sum(extra.values()),
            fn=sum(missing.values()),
        )
        if predicted != example.intent or missing or extra:
            self.errors.append(
                Error(
                    example.text,
                    example.intent,
                    predicted,
                    sorted(missing.elements()),
                    sorted(extra.elements()),
                )
            )

    def merge(self, other: Report) -> None:
        """Add another report's counts (cross-validation folds)."""
        for name in ("total", "intent_correct", "true_pos", "false_pos", "false_neg"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for intent, counts in other.per_intent.items():
            self.per_intent.setdefault(intent, Counter()).update(counts)
        for lang, counts in other.per_language.items():
            self.per_language.setdefault(lang, Counter()).update(counts)
        self.errors.extend(other.errors)


_CJK = re.compile(r"[\u4e00-\u9fff]")


def language(text: str) -> str:
    """zh for any text with Chinese characters (mixed included), else en (pinyin included)."""
    return "zh" if _CJK.search(text) else "en"


def evaluate(nlu: Parser, examples: list[Example]) -> Report:
    """Parse every example and score intents and entities."""
    report = Report()
    for example in examples:
        report.add(example, nlu.parse(example.text))
    return report


def format_report(report: Report, max_errors: int = 50) -> str:
    """A plain-text summary for the CLI: totals, per-intent accuracy, first errors."""
    lines = [
        f"examples: {report.total}",
        f"intent accuracy: {report.intent_accuracy:.1%}",
        f"entities: precision {report.entity_precision:.1%}  recall {report.entity_recall:.1%}"
        f"  F1 {report.entity_f1:.1%}",
    ]
    for lang, (accuracy, f1) in report.by_language().items():
        lines.append(
            f"  {lang}: {report.per_language[lang]['total']} examples, "
            f"intent accuracy {accuracy:.1%}, entity F1 {f1:.1%}"
        )
    lines.append("per intent:")
    for intent, counts in sorted(report.per_intent.items()):
        lines.append(f"  {intent:<16} {counts['correct']:>4}/{counts['total']:<4}")
    if report.errors:
        lines.append(
            f"errors ({len(report.errors)}, first {min(max_errors, len(report.errors))}):"
        )
    for err in report.errors[:max_errors]:
        intent = (
            err.expected if err.expected == err.predicted else f"{err.expected} -> {err.predicted}"
        )
        detail = "".join(
            [
                f" missing={err.missing}" if err.missing else "",
                f" extra={err.extra}" if err.extra else "",
            ]
        )
        lines.append(f"  [{intent}] {err.text}{detail}")
    return "\n".join(lines)


def cross_validate(
    examples: list[Example], catalog: Catalog, folds: int = 5, seed: int = 0
) -> Report:
    """Stratified k-fold cross-validation of NLU.train on the examples."""
    from sklearn.model_selection import StratifiedKFold

    from nlu.model import NLU

    labels = [ex.intent for ex in examples]
    report = Report()
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_idx, test_idx in splitter.split(examples, labels):
        nlu = NLU.train([examples[i] for i in train_idx], catalog)
        report.merge(evaluate(nlu, [examples[i] for i in test_idx]))
    return report


if __name__ == "__main__":  # python -m nlu.evaluate [data paths...]: cross-validation
    import sys

    from nlu.catalog import Catalog
    from nlu.rasa_yaml import load_examples

    data = load_examples(*(sys.argv[1:] or ["nlu/data"]))
    print(format_report(cross_validate(data, Catalog.build()), max_errors=200))
