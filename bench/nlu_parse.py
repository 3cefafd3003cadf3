"""Benchmark: built-in NLU parses per second in-process on one core, cached and uncached.

    taskset -c 0 .venv/bin/python bench/nlu_parse.py [--rounds 5] [FILE ...]

The texts are the held-out files' (tests/nlu/heldout*.yml unless files are given), each once.
"uncached" empties the model's parse cache before every round, so each text is a real parse
(entities, features, classifier); "cached" repeats the texts with the cache warm, as a server
sees its everyday "yes", "1", "help". Both are the median of the rounds, beside a baseline in
the same run (a regex tokenization of the same texts) so that figures from different machines
compare as ratios.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# E402: these imports need the checkout on sys.path first, so they cannot be at the top
from bot.bootstrap import build_catalog, load_nlu  # noqa: E402
from bot.config import load_settings  # noqa: E402
from nlu.rasa_yaml import load_examples  # noqa: E402


def rate(
    fn: Callable[[str], object], texts: list[str], before: Callable[[], None] | None = None
) -> float:
    """Texts per second through fn, after before() (untimed)."""
    if before:
        before()
    start = time.perf_counter()
    for text in texts:
        fn(text)
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args()
    settings = load_settings(
        ROOT / "config.yaml", environ={"FARMCHAT_NLU__CACHE_DIR": str(ROOT / ".farmchat-cache")}
    )
    model = load_nlu(settings, build_catalog(settings))
    files = args.files or sorted((ROOT / "tests" / "nlu").glob("heldout*.yml"))
    texts = list(dict.fromkeys(e.text for e in load_examples(*files)))
    words = re.compile(r"\w+")
    model.parse(texts[0])
    clear = model.cache_clear
    uncached = statistics.median(rate(model.parse, texts, clear) for _ in range(args.rounds))
    cached = statistics.median(rate(model.parse, texts) for _ in range(args.rounds))
    base = statistics.median(rate(words.findall, texts) for _ in range(args.rounds))
    print(
        f"texts: {len(texts)} distinct, from {', '.join(f.name for f in files)}  "
        f"rounds: {args.rounds}"
    )
    print(f"built-in parse, uncached: {uncached:,.0f} messages/s ({1e6 / uncached:.0f} µs each)")
    print(f"built-in parse, cached:   {cached:,.0f} messages/s ({1e6 / cached:.1f} µs each)")
    print(
        f"baseline regex tokenize:  {base:,.0f} messages/s; an uncached parse costs "
        f"{base / uncached:,.0f}x the baseline"
    )


if __name__ == "__main__":
    main()
