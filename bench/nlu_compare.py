"""Benchmark: the built-in NLU against a Rasa server, side by side, on the held-out files.

    scripts/rasa.sh                      # once: venv, model, server on 127.0.0.1:5005
    .venv/bin/python bench/nlu_compare.py [--rasa-url http://127.0.0.1:5005] [--seconds 10]

One run measures, for both: intent accuracy and entity F1 on each held-out file
(tests/nlu/heldout*.yml; Rasa's entities through farmchat's normalizers), HTTP /model/parse
throughput with the same wrk POST script (wrk on core 1, the servers on core 0; the texts
repeat, so farmchat answers them from its parse cache), and resident memory of the serving
processes; plus built-in parses/s in-process on one core, uncached and cached. `farmchat serve`
is started here with the built-in backend; the Rasa server is the one at --rasa-url (its pid
from --rasa-pid, default the pid file scripts/rasa.sh writes). Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TypedDict

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# E402: these imports need the checkout on sys.path first, so they cannot be at the top
from bot.bootstrap import build_catalog, load_nlu  # noqa: E402
from bot.config import load_settings  # noqa: E402
from nlu.evaluate import Report  # noqa: E402
from nlu.model import NLU  # noqa: E402
from nlu.rasa_backend import RasaNLU  # noqa: E402
from nlu.rasa_yaml import Example, load_examples  # noqa: E402

HELDOUT = sorted((ROOT / "tests" / "nlu").glob("heldout*.yml"))
RASA_PID = Path.home() / ".cache" / "farmchat" / "rasa-server.pid"
LUA = """
local reqs = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do
    reqs[#reqs + 1] = wrk.format("POST", args[2], {["Content-Type"] = "application/json"}, line)
  end
end
function request()
  i = i + 1
  if i > #reqs then i = 1 end
  return reqs[i]
end
"""


def in_process_rate(model: NLU, texts: list[str], rounds: int = 5, cached: bool = False) -> float:
    """Median parses/s of the built-in model over the texts, one core; uncached empties its
    parse cache before each round."""
    rates = []
    for _ in range(rounds):
        if not cached:
            model.cache_clear()
        start = time.perf_counter()
        for text in texts:
            model.parse(text)
        rates.append(len(texts) / (time.perf_counter() - start))
    return statistics.median(rates)


async def score(nlu: NLU | RasaNLU, examples: list[Example]) -> Report:
    """Held-out report, parsing with aparse (the Rasa backend goes over HTTP)."""
    report = Report()
    for example in examples:
        report.add(example, await nlu.aparse(example.text))
    await nlu.aclose()
    return report


class WrkFigures(TypedDict):
    rate: float
    requests: int
    p50: str | None
    p99: str | None
    non_2xx: int


def wrk_figure(pattern: str, out: str) -> str:
    """The first group of a pattern in wrk's output; wrk failed when it is not there."""
    match = re.search(pattern, out)
    if match is None:
        raise SystemExit(f"wrk's output has no {pattern!r}:\n{out}")
    return match.group(1)


def run_wrk(
    url: str, script: Path, data: Path, seconds: int, connections: int, path: str
) -> WrkFigures:
    """wrk's rate, request count, latencies and errors for POSTs of the data lines."""
    cmd = [
        "taskset",
        "-c",
        "1",
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(script),
        url,
        "--",
        str(data),
        path,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    lat = dict(re.findall(r"\s+(50|99)%\s+([\d.]+\w+)", out))
    return {
        "rate": float(wrk_figure(r"Requests/sec:\s+([\d.]+)", out)),
        "requests": int(wrk_figure(r"(\d+) requests in", out)),
        "p50": lat.get("50"),
        "p99": lat.get("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, in MB."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            rss = re.search(r"VmRSS:\s+(\d+)", status)
            if rss is None:  # no VmRSS line (a zombie): skipped, with its children
                continue
            total += int(rss.group(1))
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return total / 1024


def wait_up(url: str, seconds: float = 120) -> None:
    """Until GET url answers."""
    import urllib.request

    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception:  # not up yet
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer")


def start_farmchat(port: int, work: Path) -> subprocess.Popen[bytes]:
    """`farmchat serve` with the built-in backend on core 0."""
    env = {
        **os.environ,
        "FARMCHAT_DATABASE__URL": f"sqlite+aiosqlite:///{work / 'bench.db'}",
        "FARMCHAT_SERVER__PORT": str(port),
        "FARMCHAT_NLU__BACKEND": "builtin",
        "FARMCHAT_LOGGING__LEVEL": "WARNING",
        "FARMCHAT_CONFIG": str(ROOT / "config.yaml"),
        "FARMCHAT_NLU__CACHE_DIR": str(ROOT / ".farmchat-cache"),
        "FARMCHAT_NLU__PARSE_ENDPOINT__RATE_PER_SECOND": "0",  # wrk measures, not a client
    }
    return subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "-m", "bot.cli", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(work / "serve.log", "w"),
    )


def row(name: str, builtin: float | None, rasa: float | None, fmt: str) -> str:
    """One markdown table row."""

    def cell(v: float | None) -> str:
        return "n/a" if v is None else format(v, fmt)

    return f"| {name} | {cell(builtin)} | {cell(rasa)} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rasa-url", default="http://127.0.0.1:5005")
    parser.add_argument("--rasa-pid", type=int, default=None)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    settings = load_settings(
        ROOT / "config.yaml", environ={"FARMCHAT_NLU__CACHE_DIR": str(ROOT / ".farmchat-cache")}
    )
    catalog = build_catalog(settings)
    builtin = load_nlu(settings, catalog)
    files = {path.name: load_examples(path) for path in HELDOUT}
    texts = list(dict.fromkeys(e.text for examples in files.values() for e in examples))
    rasa = RasaNLU(args.rasa_url, builtin, catalog, timeout=30)
    reports = {
        name: (asyncio.run(score(builtin, ex)), asyncio.run(score(rasa, ex)))
        for name, ex in files.items()
    }
    if rasa.stats["fallbacks"]:
        raise SystemExit(
            f"Rasa at {args.rasa_url} failed {rasa.stats['fallbacks']} parses: "
            "figures would be the built-in's"
        )
    rate = in_process_rate(builtin, texts)
    cached_rate = in_process_rate(builtin, texts, cached=True)

    work = Path(tempfile.mkdtemp(prefix="farmchat-nlu-bench-"))
    data, script = work / "bodies.jsonl", work / "post.lua"
    data.write_text(
        "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts),
        encoding="utf-8",
    )
    script.write_text(LUA)
    port = 18190
    proc = start_farmchat(port, work)
    try:
        wait_up(f"http://127.0.0.1:{port}/healthz")
        farm = run_wrk(
            f"http://127.0.0.1:{port}",
            script,
            data,
            args.seconds,
            args.connections,
            "/model/parse",
        )
        farm_rss = tree_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    rasa_path = "/model/parse"
    r_http = run_wrk(args.rasa_url, script, data, args.seconds, args.connections, rasa_path)
    rasa_pid = args.rasa_pid or (int(RASA_PID.read_text()) if RASA_PID.exists() else None)
    rasa_rss = tree_rss_mb(rasa_pid) if rasa_pid else None

    print(
        f"held-out texts: {len(texts)} distinct; "
        f"wrk: {args.connections} connections, {args.seconds}s, core 1\n"
    )
    print("| | built-in | Rasa 3.6 (DIET) |\n|---|---|---|")
    for name, (b_report, r_report) in reports.items():
        print(
            row(
                f"{name} ({b_report.total}): intent accuracy (%)",
                100 * b_report.intent_accuracy,
                100 * r_report.intent_accuracy,
                ".1f",
            )
        )
        print(
            row(
                f"{name}: entity F1 (%)", 100 * b_report.entity_f1, 100 * r_report.entity_f1, ".1f"
            )
        )
    print(row("parses/s in-process, one core, uncached", rate, None, ",.0f"))
    print(row("parses/s in-process, one core, cached", cached_rate, None, ",.0f"))
    print(row("POST /model/parse req/s (wrk)", farm["rate"], r_http["rate"], ",.0f"))
    print(
        f"| /model/parse p50 / p99 | {farm['p50']} / {farm['p99']} "
        f"| {r_http['p50']} / {r_http['p99']} |"
    )
    print(row("server RSS (MB)", farm_rss, rasa_rss, ".0f"))
    print(
        f"\nHTTP throughput ratio built-in/Rasa: {farm['rate'] / r_http['rate']:.1f}x; "
        f"non-2xx: farmchat {farm['non_2xx']}, Rasa {r_http['non_2xx']}"
    )
    quality = {
        name: {
            "builtin": [b.intent_accuracy, b.entity_f1],
            "rasa": [r.intent_accuracy, r.entity_f1],
        }
        for name, (b, r) in reports.items()
    }
    print(
        json.dumps(
            {
                "quality": quality,
                "builtin": {
                    "in_process_rate": rate,
                    "cached_rate": cached_rate,
                    "http": farm,
                    "rss_mb": farm_rss,
                },
                "rasa": {"http": r_http, "rss_mb": rasa_rss},
            }
        )
    )


if __name__ == "__main__":
    main()
