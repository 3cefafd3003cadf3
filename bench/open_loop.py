"""Open-loop load: POST pre-signed requests at a constant rate and report latency percentiles.

    python bench/open_loop.py URL REQUESTS_FILE RATE SECONDS

Each request is due at start + i/RATE and is sent then, whether or not earlier ones have been
answered; its latency counts from when it was due, not from when it was sent, so a slow server
cannot hide its queue (no coordinated omission, unlike a closed-loop tool such as wrk). The run
is bounded: RATE x SECONDS requests, each with a 30 s timeout. Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import aiohttp


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run(url: str, lines: list[tuple[str, str]], rate: float, seconds: float) -> dict:
    total = int(rate * seconds)
    latencies: list[float] = []
    trace: list[tuple[float, float]] = []
    errors = {"non_2xx": 0, "failed": 0}
    connector = aiohttp.TCPConnector(limit=512)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        start = time.perf_counter() + 0.2

        async def one(i: int) -> None:
            due = start + i / rate
            sig, body = lines[i % len(lines)]
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            try:
                async with http.post(
                    url,
                    data=body.encode(),
                    headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        "X-Twilio-Signature": sig,
                    },
                ) as resp:
                    await resp.read()
                    if resp.status >= 300:
                        errors["non_2xx"] += 1
            except (TimeoutError, aiohttp.ClientError):
                errors["failed"] += 1
                return
            latencies.append(time.perf_counter() - due)
            trace.append((due - start, time.perf_counter() - due))

        await asyncio.gather(*(one(i) for i in range(total)))
        elapsed = time.perf_counter() - start
    ms = [x * 1000 for x in latencies]
    if os.environ.get("OPEN_LOOP_TRACE"):
        with open(os.environ["OPEN_LOOP_TRACE"], "w") as fh:
            fh.writelines(f"{d:.4f} {x * 1000:.2f}\n" for d, x in sorted(trace))
    return {
        "offered_rate": rate,
        "requests": total,
        "answered": len(ms),
        "achieved_rate": round(len(ms) / elapsed, 1),
        "p50_ms": round(percentile(ms, 0.50), 1),
        "p90_ms": round(percentile(ms, 0.90), 1),
        "p99_ms": round(percentile(ms, 0.99), 1),
        "max_ms": round(max(ms, default=float("nan")), 1),
        **errors,
    }


def _request(line: str) -> tuple[str, str]:
    """(signature, body) of one line of the requests file."""
    signature, body = line.rstrip("\n").split(" ", 1)
    return signature, body


def main() -> None:
    url, path, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    with open(path) as fh:
        lines = [_request(line) for line in fh if line.strip()]
    print(json.dumps(asyncio.run(run(url, lines, rate, seconds))))


if __name__ == "__main__":
    main()
