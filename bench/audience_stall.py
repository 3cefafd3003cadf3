"""Benchmark: webhook replies while a broadcast's audience goes into the outbox.

    .venv/bin/python bench/audience_stall.py [--db sqlite|postgres] [--recipients 100000]
        [--rate 100] [--broadcasts 4] [--one-statement]

`farmchat serve` (core 0) answers signed Twilio webhooks offered at a constant rate by the
open-loop generator of bench/open_loop.c (core 1, latency counted from each request's due
time). First a baseline with no broadcast; then, every few seconds, an announcement to every
one of `--recipients` subscribers is queued, and the server's own broadcast sender resolves
it into the outbox. Each enqueue lasts from the broadcast's started_at until the benchmark
(on core 1) sees it sending, polling every 5 ms (20 ms on PostgreSQL); a reply counts as
"during the enqueue" when its request was in flight at any time in one of those windows.
`--one-statement` runs the server with the whole audience in one range (one INSERT …
SELECT), `--range N` with ranges of N user ids, for comparison. Sending is paced to a
trickle on the local fake Twilio, and each broadcast is set aside after its enqueue, so
that sending does not compete. Loopback only; every phase is bounded in time. Prints a
summary and one JSON line. Target: p99 < 100 ms during the enqueue.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RETIRE_AFTER = 1.0  # seconds after an enqueue: longer than any reply takes
RETIRE_RANGE = 2000  # outbox ids per set-aside transaction
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text, update  # noqa: E402

from bench.broadcast import fresh  # noqa: E402
from bench.twilio_load import (  # noqa: E402
    NUMBER,
    SID,
    TOKEN,
    build_open_loop,
    wait_up,
    write_requests,
)
from handlers import broadcasts as broadcast  # noqa: E402
from storage.models import Broadcast, Outbox, Subscription, User  # noqa: E402
from storage.uow import Database  # noqa: E402

PG = os.environ.get(
    "FARMCHAT_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/audience_stall"
)
PORT, FAKE_PORT = 18190, 18191
RANGED = (  # `farmchat serve` with other ranges than storage/broadcasts.py's (a comparison)
    "import sys; import storage.broadcasts as b; "
    "b.RANGES.update(sqlite={size}, postgresql={size}); "
    "from bot.cli import main; sys.exit(main(['serve']))"
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def summary(latencies: list[float]) -> dict:
    return {
        "replies": len(latencies),
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies, default=float("nan")), 1),
    }


# the database (a fresh one as bench/broadcast.py makes it) ------------------------------
async def seed(db: Database, count: int) -> None:
    """count SMS users subscribed to apple, every hundredth opted out."""
    now = datetime.now(UTC)
    for start in range(0, count, 10_000):
        ids = range(start + 1, min(count, start + 10_000) + 1)
        users = [
            {
                "id": i,
                "channel": "sms",
                "address": f"+86137{i:08d}",
                "language": "zh" if i % 2 else "en",
                "role": "user",
                "opted_out": i % 100 == 7,
                "created_at": now,
                "last_seen_at": now,
            }
            for i in ids
        ]
        subs = [
            {
                "user_id": i,
                "product": "apple",
                "active": True,
                "mode": "instant",
                "created_at": now,
            }
            for i in ids
        ]
        async with db.uow() as uow:
            await uow.session.execute(insert(User), users)
            await uow.session.execute(insert(Subscription), subs)
            await uow.commit()
    if db.dialect == "postgresql":  # ids were given: move the sequence past them
        async with db.uow() as uow:
            await uow.session.execute(
                text("SELECT setval('users_id_seq', (SELECT max(id) FROM users))")
            )
            await uow.commit()


async def queue(db: Database) -> int:
    async with db.uow() as uow:
        bc = broadcast.new_announcement(
            "Apple buyers at Wudu market Friday",
            datetime.now(UTC),
            None,
            by_lang={"zh": "周五武都市场收苹果"},
        )
        await broadcast.queue(uow, bc)
        await uow.commit()
        return bc.id


class Watch:
    """Reads a broadcast's progress without taking SQLite's writer lock (the benchmark's own
    units of work would begin with BEGIN IMMEDIATE and hold up the server)."""

    def __init__(self, db: Database, url: str):
        self.db, self.conn = db, None
        if db.dialect == "sqlite":
            self.conn = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)

    async def progress(self, broadcast_id: int) -> tuple[str, datetime | None, int | None]:
        if self.conn is not None:
            status, started, recipients = self.conn.execute(
                "SELECT status, started_at, recipients FROM broadcasts WHERE id = ?",
                (broadcast_id,),
            ).fetchone()
            when = datetime.fromisoformat(started).replace(tzinfo=UTC) if started else None
            return status, when, recipients
        q = select(Broadcast.status, Broadcast.started_at, Broadcast.recipients)
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(q.where(Broadcast.id == broadcast_id))).one()
        return row[0], row[1], row[2]

    async def window(self, broadcast_id: int, limit: float) -> tuple[float, float, int]:
        """(start, end) of the enqueue on this process's monotonic clock, and its recipients."""
        wall_to_mono = time.time() - time.monotonic()
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            status, started, recipients = await self.progress(broadcast_id)
            if status != "queued" and started is not None:
                return started.timestamp() - wall_to_mono, time.monotonic(), recipients or 0
            await asyncio.sleep(0.005 if self.conn is not None else 0.02)
        raise SystemExit(f"broadcast {broadcast_id} was not enqueued within {limit} s")


# the processes --------------------------------------------------------------------------
def server_env(url: str, poll: float) -> dict:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FARMCHAT_DATABASE__URL": url,
        "FARMCHAT_SERVER__PORT": str(PORT),
        "FARMCHAT_SERVER__WORKERS": "1",
        "FARMCHAT_SERVER__PUBLIC_URL": f"http://127.0.0.1:{PORT}",
        "FARMCHAT_TWILIO__ACCOUNT_SID": SID,
        "FARMCHAT_TWILIO__AUTH_TOKEN": TOKEN,
        "FARMCHAT_TWILIO__FROM_NUMBER": NUMBER,
        "FARMCHAT_TWILIO__API_BASE": f"http://127.0.0.1:{FAKE_PORT}",
        "FARMCHAT_BROADCAST__RATES": '{"sms": 5}',  # a trickle: the enqueue is what is measured
        "FARMCHAT_BROADCAST__POLL_SECONDS": str(poll),
        "FARMCHAT_BROADCAST__DIGEST_TIME": "",
        "FARMCHAT_LOGGING__LEVEL": "WARNING",
        "FARMCHAT_CONFIG": str(ROOT / "config.yaml"),
        "FARMCHAT_NLU__CACHE_DIR": str(ROOT / ".farmchat-cache"),
    }


def start_processes(url: str, work: Path, size: int, poll: float) -> list[subprocess.Popen]:
    fake = [sys.executable, "-m", "bot.fakes.twilio", "--port", str(FAKE_PORT)]
    fake += ["--account-sid", SID, "--auth-token", TOKEN]
    serve = ["-c", RANGED.format(size=size)] if size else ["-m", "bot.cli", "serve"]
    return [
        subprocess.Popen(["taskset", "-c", "1", *fake], cwd=ROOT, stdout=subprocess.DEVNULL),
        subprocess.Popen(
            ["taskset", "-c", "0", sys.executable, *serve],
            cwd=ROOT,
            env=server_env(url, poll),
            stdout=subprocess.DEVNULL,
            stderr=open(work / "serve.log", "w"),
        ),
    ]


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def launch_load(binary: Path, data: Path, rate: float, seconds: int, trace: Path):
    """The open-loop generator on core 1; its requests are due from (about) the returned time."""
    cmd = ["taskset", "-c", "1", str(binary), "127.0.0.1", str(PORT), "/webhooks/twilio"]
    cmd += [str(data), str(rate), str(seconds)]
    began = time.monotonic() + 0.2  # bench/open_loop.c: start = now + 0.2 s
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OPEN_LOOP_TRACE": str(trace)},
    )
    return proc, began


# the run --------------------------------------------------------------------------------
async def broadcasts(
    db: Database, watch: Watch, args, began: float
) -> list[tuple[float, float, int]]:
    """After the baseline, queue one broadcast every args.gap seconds; their enqueue windows."""
    windows = []
    for n in range(args.broadcasts):
        await asyncio.sleep(max(0.0, began + args.baseline + n * args.gap - time.monotonic()))
        broadcast_id = await queue(db)
        windows.append(await watch.window(broadcast_id, args.gap + 30))
        await retire(db, broadcast_id)
        await asyncio.sleep(args.settle)  # the database digests the set-aside rows
    return windows


async def retire(db: Database, broadcast_id: int) -> None:
    """After its enqueue, a broadcast is set aside (its rows skipped, itself done), so the next
    enqueue is measured alone, not beside the sending of the last one. It waits for the
    requests in flight at the window's end to be answered, and skips the rows a range of ids
    at a time: one UPDATE of 99k rows would hold SQLite's write lock for a few hundred ms and
    be counted against the enqueue that just ended."""
    await asyncio.sleep(RETIRE_AFTER)
    async with db.uow() as uow:
        ids = select(func.min(Outbox.id), func.max(Outbox.id)).where(
            Outbox.broadcast_id == broadcast_id
        )
        low, high = (await uow.session.execute(ids)).one()
    for start in range(low or 0, (high or -1) + 1, RETIRE_RANGE):
        async with db.uow() as uow:
            rows = update(Outbox).where(
                Outbox.broadcast_id == broadcast_id,
                Outbox.id.between(start, start + RETIRE_RANGE - 1),
            )
            await uow.session.execute(rows.values(status="skipped"))
            await uow.commit()
        await asyncio.sleep(0.01)
    async with db.uow() as uow:
        done = update(Broadcast).where(Broadcast.id == broadcast_id)
        await uow.session.execute(done.values(status="done"))
        await uow.commit()


def classify(trace: Path, began: float, baseline: float, windows) -> tuple[list, list[list]]:
    """Latencies (ms) of the baseline's replies, and per enqueue of those in flight during it."""
    before: list[float] = []
    during: list[list[float]] = [[] for _ in windows]
    for line in trace.read_text().splitlines():
        offset, ms = (float(x) for x in line.split())
        due, done = began + offset, began + offset + ms / 1000
        if 1.0 <= offset <= baseline - 0.5:
            before.append(ms)
        for n, (start, end, _) in enumerate(windows):
            if due <= end and done >= start:
                during[n].append(ms)
    return before, during


async def run(args, work: Path) -> dict:
    url = PG if args.db == "postgres" else f"sqlite+aiosqlite:///{work / 'bench.db'}"
    db = await fresh(url)
    await seed(db, args.recipients)
    data = work / "requests.txt"
    seconds = int(args.baseline + args.broadcasts * args.gap + 2)
    users = int(args.rate * seconds / 5) + 25
    write_requests(data, f"http://127.0.0.1:{PORT}/webhooks/twilio", users, 10**6, "SA")
    binary = build_open_loop(work)
    size = 2**30 if args.one_statement else args.range  # every user id, within an int4
    procs = start_processes(url, work, size, args.poll)
    try:
        wait_up(PORT)
        trace = work / "trace.txt"
        load, began = launch_load(binary, data, args.rate, seconds, trace)
        windows = await broadcasts(db, Watch(db, url), args, began)
        out, err = await asyncio.to_thread(load.communicate, timeout=seconds + 120)
        if load.returncode:
            raise SystemExit(err)
    finally:
        stop(procs)
        await db.close()
    before, during = classify(trace, began, args.baseline, windows)
    return {
        "db": args.db,
        "recipients_each": [n for _, _, n in windows],
        "enqueue_s": [round(end - start, 2) for start, end, _ in windows],
        "ranges": "one statement"
        if args.one_statement
        else f"ranges of {args.range or 'storage/broadcasts.py RANGES'}",
        "offered_rate": args.rate,
        "poll_seconds": args.poll,
        "baseline": summary(before),
        "during_enqueue": summary([ms for each in during for ms in each]),
        "each_enqueue": [summary(each) for each in during],
        "open_loop": json.loads(out.strip().splitlines()[-1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=100, help="webhooks offered per second")
    parser.add_argument("--broadcasts", type=int, default=4)
    parser.add_argument("--baseline", type=float, default=8, help="seconds with no broadcast")
    parser.add_argument("--gap", type=float, default=12, help="seconds between broadcasts")
    parser.add_argument(
        "--settle", type=float, default=3, help="seconds of quiet after setting one aside"
    )
    parser.add_argument(
        "--poll", type=float, default=2.0, help="broadcast.poll_seconds (config.yaml: 2)"
    )
    parser.add_argument("--range", type=int, default=0, help="user ids per range (0: as built)")
    parser.add_argument("--one-statement", action="store_true", help="no ranges: a comparison")
    args = parser.parse_args()
    os.sched_setaffinity(0, {1})  # beside the load generator, off the server's core
    work = Path(tempfile.mkdtemp(prefix="farmchat-stall-"))
    result = asyncio.run(run(args, work))
    base, during = result["baseline"], result["during_enqueue"]
    print(
        f"db={result['db']} {result['ranges']}: {len(result['enqueue_s'])} broadcasts of "
        f"{result['recipients_each'][0]:,} recipients, enqueue {result['enqueue_s']} s; "
        f"webhooks offered at {args.rate:.0f}/s"
    )
    for name, s in (("no broadcast", base), ("during the enqueue", during)):
        print(
            f"  {name:20} {s['replies']:5} replies  p50 {s['p50_ms']} ms  p99 {s['p99_ms']} ms  "
            f"max {s['max_ms']} ms"
        )
    each = ", ".join(f"{s['p99_ms']}" for s in result["each_enqueue"])
    print(f"  p99 of each enqueue: {each} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
