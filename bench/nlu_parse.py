"""Benchmark: built-in NLU parses per second in-process on one core, over the held-out texts.

    .venv/bin/python bench/nlu_parse.py [--rounds 5]

Reports the median of the rounds, and a baseline in the same run (a regex tokenization of
the same texts) so figures from different machines can be compared as ratios.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.bootstrap import build_catalog, load_nlu  # noqa: E402
from bot.config import load_settings  # noqa: E402
from nlu.rasa_yaml import load_examples  # noqa: E402


def rate(fn, texts) -> float:
    start = time.perf_counter()
    for text in texts:
        fn(text)
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    settings = load_settings(ROOT / "config.yaml", environ={"FARMCHAT_NLU__CACHE_DIR": str(ROOT / ".farmchat-cache")})
    model = load_nlu(settings, build_catalog(settings))
    texts = [e.text for e in load_examples(ROOT / "tests" / "nlu" / "heldout.yml")]
    words = re.compile(r"\w+")
    model.parse(texts[0])
    parse = statistics.median(rate(model.parse, texts) for _ in range(args.rounds))
    base = statistics.median(rate(words.findall, texts) for _ in range(args.rounds))
    print(f"texts: {len(texts)}  rounds: {args.rounds}")
    print(f"built-in parse: {parse:,.0f} messages/s ({1e6 / parse:.0f} µs each)")
    print(f"baseline regex tokenize: {base:,.0f} messages/s; parse costs {base / parse:,.0f}x the baseline")


if __name__ == "__main__":
    main()
