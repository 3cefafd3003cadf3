"""Benchmark: what each conversation flow costs in-process (gateway, NLU, database; no HTTP).

    .venv/bin/python bench/gateway_flows.py [--db sqlite|postgres] [--users 400]

Runs the webhook benchmark's flows (sell, buy, choose, price, help) through Gateway.handle on
one core, one message at a time, and reports the mean CPU-bound cost of each flow in
milliseconds beside a baseline measured in the same run (one `SELECT 1` transaction through
the same Database), so runs on different machines compare as ratios. Bounded by --users.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.twilio_load import PRODUCTS  # noqa: E402
from bot.bootstrap import services  # noqa: E402
from bot.config import load_settings  # noqa: E402
from handlers.messages import InboundMessage  # noqa: E402

PG = os.environ.get("FARMCHAT_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def flows(n: int) -> list[tuple[str, str, str]]:
    """(flow, sender, text) for user pair n: a farmer lists, a buyer runs four messages."""
    farmer, buyer = f"+86138{n:08d}", f"+25470{n:07d}"
    product = PRODUCTS[n % len(PRODUCTS)]
    return [
        ("sell", farmer, f"sell {50 + n % 50}kg {product} at {2 + n % 5}/kg"),
        ("buy", buyer, f"buy 5 kg {product}"),
        ("choose", buyer, "1"),
        ("price", buyer, f"{product} price?"),
        ("help", buyer, "help"),
    ]


async def run(url: str, users: int) -> dict[str, float]:
    settings = load_settings(
        ROOT / "config.yaml",
        environ={
            "FARMCHAT_DATABASE__URL": url,
            "FARMCHAT_NLU__CACHE_DIR": str(ROOT / ".farmchat-cache"),
            "FARMCHAT_LOGGING__LEVEL": "WARNING",
        },
    )
    costs: dict[str, list[float]] = {}
    async with services(settings) as svc:
        seq = 0
        for n in range(users):
            for flow, sender, body in flows(n):
                seq += 1
                msg = InboundMessage(
                    channel="sms",
                    sender=sender,
                    text=body,
                    message_id=f"SM{seq:032x}",
                    received_at=datetime.now(UTC),
                )
                start = time.perf_counter()
                await svc.gateway.handle(msg)
                costs.setdefault(flow, []).append(time.perf_counter() - start)
        base = []
        for _ in range(users):
            start = time.perf_counter()
            async with svc.db.uow() as uow:
                await uow.session.execute(text("SELECT 1"))
                await uow.commit()
            base.append(time.perf_counter() - start)
    # the first users warm caches; the median of the rest is robust to a stray pause
    report = {flow: statistics.median(v[len(v) // 10 :]) * 1000 for flow, v in costs.items()}
    report["baseline: SELECT 1 transaction"] = statistics.median(base) * 1000
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--users", type=int, default=400)
    args = parser.parse_args()
    if args.db == "postgres":
        import subprocess

        subprocess.run(
            [
                sys.executable,
                "-c",
                "import asyncio,sys; sys.path.insert(0,'.');"
                "from tests.conftest import reset_postgres, PG_URL; "
                "asyncio.run(reset_postgres(PG_URL))",
            ],
            cwd=ROOT,
            check=True,
        )
        url = PG
    else:
        url = f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/flows.db"
    report = asyncio.run(run(url, args.users))
    mix = statistics.mean(v for k, v in report.items() if not k.startswith("baseline"))
    print(f"db={args.db} users={args.users} (median ms per message, one at a time)")
    for flow, ms in report.items():
        print(f"  {flow:32} {ms:6.2f} ms")
    print(
        f"  {'mean of the five flows':32} {mix:6.2f} ms  "
        f"(= {1000 / mix:,.0f} messages/s on one core)"
    )


if __name__ == "__main__":
    main()
