"""The built-in NLU: a scikit-learn intent classifier over entity-masked text."""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import pickle
import re
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, TypedDict, cast

import numpy as np
import numpy.typing as npt

from nlu.catalog import Catalog
from nlu.cues import cue_tokens
from nlu.entities import EntityExtractor
from nlu.keywords import INTENT_OF_LONE_WORD
from nlu.normalize import fold
from nlu.pinyin import Pinyin
from nlu.rasa_yaml import Example, load_examples, yaml_files
from nlu.shapes import Entity, Intent, IntentScore, ParseResult, Span

if TYPE_CHECKING:
    # untyped (no stubs): these names only document what the classifier is built from
    from sklearn.pipeline import FeatureUnion, Pipeline

log = logging.getLogger(__name__)

FALLBACK_INTENT = "out_of_scope"
GARBAGE_CONFIDENCE = 0.3  # below nlu.confidence_threshold: the help fallback answers
MAX_TEXT = 1000  # longer than any trade message (a 6-part SMS is ~900 characters)
# Parses kept per process, by text: "1", "yes", "help", "apple price?" arrive all day long,
# and a parse depends on nothing but the text and the loaded model.
PARSE_CACHE = 4096
_ODD_CATEGORIES = {"Cc", "Cf", "Cn", "Co", "Cs"}
# Placeholders let "sell 50kg apples" teach "sell 3 bags of maize" (SPEC §5 entities).
_PLACEHOLDERS = {
    "product": "PRODUCT",
    "quantity": "NUM",
    "price": "PRICE",
    "unit": "UNIT",
    "price_unit": "UNIT",
    "currency": "CUR",
    "location": "PLACE",
    "ref": "REF",
    "name": "NAME",
}
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")
_SPACES = re.compile(r"\s+")
_SEP = "\x1f"
_MEANINGFUL = re.compile(r"[a-z\u4e00-\u9fff]")
_ONLY_QUESTION_MARKS = re.compile(r"[?？\s]+")
# Lone confirmations are unambiguous; the classifier would only add noise to them.
_AFFIRM = {
    "yes",
    "y",
    "yeah",
    "yep",
    "ok",
    "okay",
    "accept",
    "confirm",
    "sure",
    "好",
    "好的",
    "可以",
    "行",
    "确认",
    "接受",
    "同意",
    "是",
    "是的",
    "对",
    "嗯",
}
_DENY = {"no", "n", "nope", "decline", "reject", "不", "不要", "拒绝", "不行", "不同意"}
_REF_TAIL = re.compile(r"[\s#:.,!！。]*(?:\d{2,})?[\s.!！。]*")
_CODE_FILES = (
    "model.py",
    "cues.py",
    "entities.py",
    "normalize.py",
    "gazetteer.py",
    "lexicon.py",
    "names.py",
    "pinyin.py",
    "rasa_yaml.py",
)
_CJK = re.compile(r"[\u4e00-\u9fff]")


def masked_text(text: str, entities: Sequence[Span], folded: str | None = None) -> str:
    """Folded text (folded: fold(text), if the caller has it) with entity spans replaced by
    placeholders and digits by NUM."""
    folded, parts, pos = (fold(text) if folded is None else folded).replace(_SEP, " "), [], 0
    for ent in entities:
        if ent["start"] < pos:
            continue
        parts += [
            _DIGITS.sub(" NUM ", folded[pos : ent["start"]]),
            f" {_PLACEHOLDERS.get(ent['entity'], 'ENT')} ",
        ]
        pos = ent["end"]
    parts.append(_DIGITS.sub(" NUM ", folded[pos:]))
    return _SPACES.sub(" ", "".join(parts)).strip()


def features_text(text: str, entities: Sequence[Span], pinyin: Pinyin | None = None) -> str:
    """What the classifier reads: masked text (and, for pinyin, its reading in characters),
    a separator, then intent cue tokens."""
    folded = fold(text)
    masked = masked_text(text, entities, folded)
    reading = pinyin.read(masked) if pinyin is not None else ""
    if reading:
        return f"{masked} {reading}{_SEP}" + " ".join(cue_tokens(f"{folded} {reading}"))
    return masked + _SEP + " ".join(cue_tokens(folded))


def text_part(features: str) -> str:
    """The masked text of a features string."""
    return features.partition(_SEP)[0]


def cue_part(features: str) -> str:
    """The cue tokens of a features string."""
    return features.partition(_SEP)[2]


_WORD_TOKEN = r"(?u)\b\w+\b"
_WHITE = re.compile(r"\s\s+")
# (name, analyzer, n-gram range, weight): char n-grams (typos, unsegmented Chinese), word
# n-grams, and intent cues (priors, not evidence: a light weight lets the examples overrule them).
_PARTS = (
    ("chars", "char_wb", (1, 4), 1.0),
    ("words", "word", (1, 2), 1.0),
    ("cues", "cue", (1, 1), 0.3),
)
_C = 20  # inverse regularization of the logistic regression


def _vectorizer() -> FeatureUnion:
    """The scikit-learn features the classifier is trained on (imported only to train)."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    def part(name: str, kind: str, grams: tuple[int, int]) -> CountVectorizer | TfidfVectorizer:
        if kind == "cue":
            return CountVectorizer(
                preprocessor=cue_part, binary=True, lowercase=False, token_pattern=r"\S+"
            )
        return TfidfVectorizer(
            preprocessor=text_part,
            analyzer=kind,
            ngram_range=grams,
            sublinear_tf=True,
            lowercase=False,
            **({"token_pattern": _WORD_TOKEN} if kind == "word" else {}),
        )

    return FeatureUnion(
        [(name, part(name, kind, grams)) for name, kind, grams, _ in _PARTS],
        transformer_weights={name: weight for name, _, _, weight in _PARTS},
    )


def char_wb_ngrams(text: str, lo: int, hi: int) -> list[str]:
    """scikit-learn's char_wb analyzer: n-grams inside space-padded words (checked in tests)."""
    grams: list[str] = []
    for word in _WHITE.sub(" ", text).split():
        word = f" {word} "
        size = len(word)
        for n in range(lo, hi + 1):
            grams += [word[i : i + n] for i in range(max(1, size - n + 1))]
            if size <= n:  # a short word counts once, however long n gets
                break
    return grams


def word_ngrams(tokens: list[str], lo: int, hi: int) -> list[str]:
    """scikit-learn's word n-grams of a token list (unigrams first, then bigrams ...)."""
    grams = list(tokens) if lo == 1 else []
    for n in range(max(2, lo), min(hi, len(tokens)) + 1):
        grams += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return grams


_WORDS = re.compile(_WORD_TOKEN)
_TOKENS = re.compile(r"\S+")


def analyze(kind: str, grams: tuple[int, int], features: str) -> list[str]:
    """The terms one feature part reads from a features string."""
    if kind == "cue":
        return _TOKENS.findall(cue_part(features))
    text = text_part(features)
    if kind == "char_wb":
        return char_wb_ngrams(text, *grams)
    return word_ngrams(_WORDS.findall(text), *grams)


# One feature part as the scorer reads it: analyzer kind, n-gram range, term -> coefficient row,
# weight, sublinear tf, norm ("l2" or None), binary counts.
_ScorerPart = tuple[str, tuple[int, int], dict[str, int], float, bool, str | None, bool]


class Scorer:
    """Class probabilities of the fitted pipeline, as plain dicts and numpy arrays.

    It is what the cache holds, so a served model never imports scikit-learn (about 100 MB
    of a process's memory) and skips sklearn's per-call validation of a one-row batch.
    Checked equal to the pipeline's predict_proba in tests. Every term maps straight to its
    row of the coefficient matrix, and the character n-grams of each word are looked up once
    and remembered (words recur: "PRODUCT", "NUM", "sell", "多少钱"), so an uncached parse
    mostly counts rows.
    """

    _WORD_CACHE = 20_000  # remembered words per process (a few MB at most); cleared when full

    def __init__(self, pipeline: Pipeline):
        union, clf = pipeline.steps[0][1], pipeline.steps[-1][1]
        vectors = dict(union.transformer_list)
        self.parts: list[_ScorerPart] = []
        self.idf: list[float] = []
        offset = 0
        for name, kind, grams, weight in _PARTS:
            vec = vectors[name]
            rows = {term: i + offset for term, i in vec.vocabulary_.items()}
            idf = vec.idf_.tolist() if getattr(vec, "use_idf", False) else [1.0] * len(rows)
            self.idf += idf
            self.parts.append(
                (
                    kind,
                    grams,
                    rows,
                    weight,
                    getattr(vec, "sublinear_tf", False),
                    getattr(vec, "norm", None),
                    getattr(vec, "binary", False),
                )
            )
            offset += len(rows)
        self.coef_t: npt.NDArray[np.float64] = np.ascontiguousarray(clf.coef_.T)
        self.intercept: npt.NDArray[np.float64] = np.array(clf.intercept_)
        self.classes = [str(c) for c in clf.classes_]
        self._words: dict[str, tuple[int, ...]] = {}

    def __getstate__(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k != "_words"}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state, _words={})

    def _hits(
        self, kind: str, grams: tuple[int, int], rows: dict[str, int], features: str
    ) -> list[int]:
        """Coefficient rows of the terms one part reads, repeated as often as they occur."""
        if kind != "char_wb":
            return [
                r for term in analyze(kind, grams, features) if (r := rows.get(term)) is not None
            ]
        words = self._words
        hits: list[int] = []
        for word in text_part(features).split():
            found = words.get(word)
            if found is None:
                if len(words) >= self._WORD_CACHE:
                    words.clear()
                found = words[word] = tuple(
                    r for term in char_wb_ngrams(word, *grams) if (r := rows.get(term)) is not None
                )
            hits += found
        return hits

    def __call__(self, text: str) -> npt.NDArray[np.float64]:
        """Class probabilities of one features string: each part's tf-idf row, l2-normalized
        and weighted, times its coefficient rows (a term seen once has tf 1)."""
        scores = self.intercept.copy()
        idf, coef_t = self.idf, self.coef_t
        for kind, grams, rows, weight, sublinear, norm, binary in self.parts:
            hits = self._hits(kind, grams, rows, text)
            if not hits:
                continue
            counts = Counter(hits)
            keys = list(counts)
            if binary or len(keys) == len(hits):  # every term once: tf 1
                tf = [idf[r] for r in keys]
            elif sublinear:
                tf = [(1 + math.log(c) if c > 1 else 1.0) * idf[r] for r, c in counts.items()]
            else:
                tf = [c * idf[r] for r, c in counts.items()]
            scale = weight / math.hypot(*tf) if norm == "l2" else weight
            scores += np.asarray(tf) @ coef_t[keys] * scale
        if len(self.classes) == 2:  # binary LogisticRegression has one decision column
            scores = np.array([-scores[0], scores[0]])
        scores = np.exp(scores - scores.max())
        probs: npt.NDArray[np.float64] = scores / scores.sum()
        return probs


class _NLUState(TypedDict):
    """What a pickled model keeps: no scikit-learn pipeline, no parse cache."""

    scorer: Scorer
    extractor: EntityExtractor
    pinyin: NotRequired[Pinyin | None]  # absent from pickles older than the pinyin reading


class _CacheStats(TypedDict):
    hits: int
    misses: int
    size: int


class BuiltinHealth(TypedDict):
    """What /healthz shows about the built-in model."""

    backend: str
    intents: int
    parse_cache: _CacheStats


class NLU:
    """Intent classification plus rule-based entities, answering in Rasa's parse shape."""

    def __init__(
        self,
        scorer: Scorer,
        extractor: EntityExtractor,
        pinyin: Pinyin | None = None,
        pipeline: Pipeline | None = None,
    ):
        """pipeline: the fitted scikit-learn pipeline, kept only in the process that trained it."""
        self.scorer, self.extractor, self.pinyin, self.pipeline = (
            scorer,
            extractor,
            pinyin,
            pipeline,
        )
        self._cached = functools.lru_cache(maxsize=PARSE_CACHE)(self._parse)

    def __getstate__(self) -> _NLUState:
        return {"scorer": self.scorer, "extractor": self.extractor, "pinyin": self.pinyin}

    def __setstate__(self, state: _NLUState) -> None:
        type(self).__init__(self, state["scorer"], state["extractor"], state.get("pinyin"))

    @classmethod
    def train(cls, examples: list[Example], catalog: Catalog) -> NLU:
        """Fit the intent classifier on the examples' entity-masked texts."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        extractor = EntityExtractor(catalog)
        entities = [extractor.extract(ex.text) for ex in examples]
        pinyin = Pinyin.build(
            [
                masked_text(ex.text, ents)
                for ex, ents in zip(examples, entities, strict=True)
                if _CJK.search(ex.text)
            ]
        )
        texts = [
            features_text(ex.text, ents, pinyin)
            for ex, ents in zip(examples, entities, strict=True)
        ]
        pipeline = make_pipeline(_vectorizer(), LogisticRegression(C=_C, max_iter=3000))
        pipeline.fit(texts, [ex.intent for ex in examples])
        return cls(Scorer(pipeline), extractor, pinyin, pipeline)

    @classmethod
    def load_or_train(
        cls, catalog: Catalog, data_paths: list[str], cache_dir: str, isolate: bool = False
    ) -> NLU:
        """The cached model for these data, catalog and code, trained and stored if absent.

        isolate: train in a child process, so this one (a server) never loads scikit-learn;
        in-process training is the fallback when the child cannot write the cache.
        """
        path = Path(cache_dir) / f"nlu-{cache_key(catalog, data_paths)}.pkl"
        nlu = _load(path)
        if nlu is None and isolate:
            import multiprocessing

            child = multiprocessing.get_context("spawn").Process(
                target=_train_to_cache,
                args=(catalog, list(data_paths), cache_dir),
                name="farmchat-nlu-train",
            )
            child.start()
            child.join()
            nlu = _load(path)
        if nlu is None:
            nlu = cls.train(load_examples(*data_paths), catalog)
            _atomic_dump(nlu, path)
        return nlu

    @property
    def intents(self) -> list[str]:
        """Intent names the classifier knows."""
        return list(self.scorer.classes)

    def parse(self, text: str) -> ParseResult:
        """Rasa's parse result for one message; never raises. The caller's own copy: a parse
        served from the cache is copied out of it."""
        r = self._cached(text if isinstance(text, str) else str(text))
        return {
            "text": r["text"],
            "intent": r["intent"].copy(),
            "intent_ranking": [i.copy() for i in r["intent_ranking"]],
            "entities": [e.copy() for e in r["entities"]],
        }

    def _parse(self, text: str) -> ParseResult:
        if is_garbage(text):
            ranking = self._garbage_ranking()
            return {
                "text": text,
                "intent": top_intent(ranking),
                "intent_ranking": ranking,
                "entities": [],
            }
        try:
            entities = self.extractor.extract(text)
            ranking = self._ranking(text, entities)
        except Exception:  # a parse must never fail a conversation
            log.exception("NLU parse failed")
            entities, ranking = [], [{"name": FALLBACK_INTENT, "confidence": 0.0}]
        return {
            "text": text,
            "intent": top_intent(ranking),
            "intent_ranking": ranking[:10],
            "entities": entities,
        }

    async def aparse(self, text: str) -> ParseResult:
        """The same parse, awaitable like the Rasa backend's (the model is in-process and fast)."""
        return self.parse(text)

    def cache_clear(self) -> None:
        """Forget every cached parse (benchmarks measure the uncached cost with it)."""
        self._cached.cache_clear()

    def health(self) -> BuiltinHealth:
        """What /healthz shows about the model."""
        cache = self._cached.cache_info()
        return {
            "backend": "builtin",
            "intents": len(self.intents),
            "parse_cache": {"hits": cache.hits, "misses": cache.misses, "size": cache.currsize},
        }

    async def aclose(self) -> None:
        """Nothing to release; here so both backends close alike."""

    def _garbage_ranking(self) -> list[IntentScore]:
        """The fallback ranking: out_of_scope at low confidence, the rest at zero."""
        first: IntentScore = {"name": FALLBACK_INTENT, "confidence": GARBAGE_CONFIDENCE}
        return (
            [first]
            + [{"name": n, "confidence": 0.0} for n in self.intents if n != FALLBACK_INTENT]
        )[:10]

    def _ranking(self, text: str, entities: list[Entity]) -> list[IntentScore]:
        """Intents by confidence, with a few unambiguous rules in front of the classifier."""
        folded = fold(text).strip()
        if _ONLY_QUESTION_MARKS.fullmatch(folded):  # "?", "??": what is this?
            asks_help: IntentScore = {"name": "help", "confidence": 1.0}
            return [asks_help] + [r for r in self._garbage_ranking() if r["name"] != "help"]
        if not _MEANINGFUL.search(folded):  # emoji, digits or punctuation only
            return self._garbage_ranking()
        probs = self.scorer(features_text(text, entities, self.pinyin)).tolist()
        names = self.scorer.classes
        # the top 11: 10 after a rule
        order = sorted(range(len(probs)), key=probs.__getitem__, reverse=True)[:11]
        ranking: list[IntentScore] = [{"name": names[i], "confidence": probs[i]} for i in order]
        rule = _rule_intent(folded)
        if rule:
            by_rule: IntentScore = {"name": rule, "confidence": 1.0}
            ranking = [by_rule] + [r for r in ranking if r["name"] != rule]
        return ranking


def top_intent(ranking: list[IntentScore]) -> Intent:
    """The parse's "intent": Rasa's name and confidence, plus the margin over the runner-up, so
    the dialog can ask "sell or buy?" when the two are close (SPEC §3)."""
    second = ranking[1]["confidence"] if len(ranking) > 1 else 0.0
    return {**ranking[0], "margin": ranking[0]["confidence"] - second}


def is_garbage(text: str) -> bool:
    """Too long for a chat message, or binary-looking (control or unassigned characters)."""
    if len(text) > MAX_TEXT:
        return True
    odd = sum(
        1 for ch in text if unicodedata.category(ch) in _ODD_CATEGORIES and ch not in "\t\n\r"
    )
    return odd * 10 > len(text)


def _rule_intent(folded: str) -> str | None:
    """affirm/deny for a lone "yes"/"no"/"好" (optional reference), or a lone stop/start
    word (nlu/keywords.py)."""
    words = re.match(r"[^\s\d#:.,!！。]+", folded)
    if not words or _REF_TAIL.fullmatch(folded, words.end()) is None:
        return None
    head = words.group()
    if head in INTENT_OF_LONE_WORD and words.end() == len(folded.rstrip(".!！。")):
        return INTENT_OF_LONE_WORD[head]
    return "affirm" if head in _AFFIRM else "deny" if head in _DENY else None


def cache_key(catalog: Catalog, data_paths: list[str]) -> str:
    """Hash of training files, catalog and this package's code: any change retrains."""
    digest = hashlib.sha256()
    for path in yaml_files(*data_paths):
        digest.update(str(path.name).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(repr(sorted((k, p.en, p.zh) for k, p in catalog.products.items())).encode())
    digest.update(repr(sorted((k, p.names) for k, p in catalog.places.items())).encode())
    here = Path(__file__).parent
    for name in _CODE_FILES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:16]


def _load(path: Path) -> NLU | None:
    """The model pickled at path, or None when absent or unreadable (it is then retrained)."""
    if not path.exists():
        return None
    try:
        with path.open("rb") as fh:
            return cast(NLU, pickle.load(fh))  # only _atomic_dump writes these files
    except Exception:  # a broken cache file is just retrained
        log.warning("unreadable NLU cache %s, retraining", path)
        return None


def _train_to_cache(catalog: Catalog, data_paths: list[str], cache_dir: str) -> None:
    """A child process's work: train and write the cache file."""
    NLU.load_or_train(catalog, data_paths, cache_dir)


def _atomic_dump(nlu: NLU, path: Path) -> None:
    """Write the pickle beside its final name and rename, so readers never see half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(nlu, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        log.warning("could not write NLU cache %s", path, exc_info=True)
