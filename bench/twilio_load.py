"""Benchmark: signed Twilio webhooks against `farmchat serve`, beside a raw aiohttp endpoint.

    .venv/bin/python bench/twilio_load.py [--db sqlite|postgres] [--seconds 10] [--connections 32]

Simulated users run real flows (sell, buy, choose, price, help); every request is signed in
advance with Twilio's RequestValidator and carries its own MessageSid, so no request is a
dedupe hit. wrk (Debian package `wrk`) sends them from core 1 while the server runs on core
0, so the load generator does not starve the server. The open-loop run uses a small C generator
(bench/open_loop.c, compiled into the work dir) rather than Python, so that it costs the server
almost no CPU. The raw endpoint parses the same form and answers the same TwiML with no
signature check, database or NLU: the ratio says what farmchat's work costs. Everything is on
127.0.0.1 and every run is bounded in time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twilio.request_validator import RequestValidator  # noqa: E402

from tests.pgbouncer_rig import running_pgbouncer, through  # noqa: E402

PG_URL = os.environ.get(
    "FARMCHAT_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)  # the database tests.conftest.reset_postgres empties first
PORT, RAW_PORT, FAKE_PORT = 18180, 18181, 18182

TOKEN, SID, NUMBER = "bench-token", "AC" + "0" * 32, "+15005550006"
METRICS_TOKEN = "bench-metrics-token-0123456789"
PUBLIC = "https://farm.bench"  # every host's server.public_url with --hosts
PRODUCTS = ["apples", "pears", "walnuts", "potatoes", "honey", "kiwi", "garlic", "tomatoes"]
RAW_SERVER = """
import sys
from aiohttp import web
async def echo(request):
    form = await request.post()
    body = form.get("Body", "")
    xml = ('<?xml version="1.0" encoding="UTF-8"?>'
           f'<Response><Message>{body}</Message></Response>')
    return web.Response(text=xml, content_type="text/xml")
app = web.Application()
app.router.add_post("/webhooks/twilio", echo)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


# users per block of the request file (--block): a buyer's next message comes a block after
# the one before, so with fewer connections than this in flight a user's messages never
# overlap, as a person's do not (each waits for the answer)
BLOCK = 64


def conversations(users: int, first: int = 0, block: int = BLOCK) -> list[tuple[str, str]]:
    """(sender, text) in an order a real crowd could produce, the five flows evenly mixed.

    Users come in blocks: a block's farmers list, then its buyers order from what is listed
    (each buyer: buy, choose "1", ask a price, ask for help). Every stretch of the file holds
    all five flows in equal parts, so a short run measures the mix, not just the first flow.
    """
    msgs = []
    for start in range(first, first + users, block):
        ns = range(start, min(first + users, start + block))
        # every farmer's listing text is their own (as in a real market), so the NLU's parse
        # cache serves the buyers' short repeated messages but never a listing
        msgs += [
            (
                f"+86138{n:08d}",
                f"sell {50 + n % 997}kg {PRODUCTS[n % len(PRODUCTS)]} at {2 + n % 5}/kg",
            )
            for n in ns
        ]
        buyers = [(f"+25470{n:07d}", PRODUCTS[(n * 3) % len(PRODUCTS)]) for n in ns]
        msgs += [(b, f"buy 5 kg {product}") for b, product in buyers]
        msgs += [(b, "1") for b, _ in buyers]
        msgs += [(b, f"{product} price?") for b, product in buyers]
        msgs += [(b, "help") for b, _ in buyers]
    return msgs


def signed_requests(
    url: str, messages: list[tuple[str, str]], prefix: str = "SM", sid_offset: int = 0
) -> list[dict]:
    validator = RequestValidator(TOKEN)
    out = []
    for n, (sender, text) in enumerate(messages):
        fields = {
            "MessageSid": f"{prefix}{sid_offset + n:032x}",
            "AccountSid": SID,
            "From": sender,
            "To": NUMBER,
            "Body": text,
            "NumMedia": "0",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        out.append({"body": urlencode(fields), "sig": validator.compute_signature(url, fields)})
    return out


LUA = """
local reqs = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do
    local sig, body = line:match("^(%S+) (.*)$")
    reqs[#reqs + 1] = wrk.format("POST", "/webhooks/twilio",
      {["Content-Type"] = "application/x-www-form-urlencoded", ["X-Twilio-Signature"] = sig}, body)
  end
end
function request()
  i = i + 1
  if i > #reqs then i = 1 end
  return reqs[i]
end
"""


def wait_up(port: int, seconds: float = 90, host: str = "127.0.0.1") -> None:
    import urllib.request

    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=1)
            return
        except Exception as exc:
            if "404" in str(exc) or "405" in str(exc):
                return
            time.sleep(0.3)
    raise SystemExit(f"server on {port} did not start")


def run_wrk(
    port: int, script: Path, data: Path, seconds: int, connections: int, host: str = "127.0.0.1"
) -> dict:
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
        f"http://{host}:{port}",
        "--",
        str(data),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    rate = float(_found(r"Requests/sec:\s+([\d.]+)", out))
    total = int(_found(r"(\d+) requests in", out))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    lat = dict(re.findall(r"\s+(50|99)%\s+([\d.]+\w+)", out))
    return {
        "rate": rate,
        "requests": total,
        "p50": lat.get("50"),
        "p99": lat.get("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "raw": out,
    }


def _counter(text: str, name: str) -> float:
    """A counter's value summed over its samples in a /metrics text."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


# what each process is, by its command line: the CPU a message costs, process by process
KINDS = (
    (("bot.cli", " serve"), "farmchat"),
    (("bot.fakes.twilio",), "fake Twilio"),
    (("pgbouncer",), "PgBouncer"),
    (("wrk",), "load generator"),
    (("open_loop",), "load generator"),
)


def _kind(stat: Path) -> str | None:
    try:
        name = stat.read_text().split("(", 1)[1].split(")", 1)[0]
        cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    if name == "postgres" or name.startswith("postgres:"):
        return "PostgreSQL"
    return next((kind for needles, kind in KINDS if all(n in cmdline for n in needles)), None)


def _cpu() -> dict[str, float]:
    """CPU seconds used so far by kind of process (PostgreSQL's backends included: those
    that ended are in their parent's children times), and the machine's idle seconds."""
    tick, total = (
        os.sysconf("SC_CLK_TCK"),
        dict.fromkeys(
            ["farmchat", "PostgreSQL", "PgBouncer", "fake Twilio", "load generator"], 0.0
        ),
    )
    for stat in Path("/proc").glob("[0-9]*/stat"):
        kind = _kind(stat)
        if kind is None:
            continue
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime stime cutime cstime: fields 14-17 of stat, 12-15 after the name
        total[kind] += sum(int(f) for f in fields[11:15]) / tick
    cpu_line = Path("/proc/stat").read_text().splitlines()[0].split()
    total["idle"] = (int(cpu_line[4]) + int(cpu_line[5])) / tick  # idle and iowait
    return total


def database_work(bases: list[str], db: str) -> dict:
    """What farmchat's workers (of every host: their base URLs) have asked of the database so
    far (their /metrics), and on PostgreSQL the server's CPU seconds."""
    import urllib.request

    text = ""
    for base in bases:
        request = urllib.request.Request(
            base + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            text += resp.read().decode()
    return {
        "messages": _counter(text, "farmchat_inbound_messages_total"),
        "statements": _counter(text, "farmchat_database_statements_total"),
        "commits": _counter(text, "farmchat_database_commits_total"),
        "cpu": _cpu(),
        "sessions": _postgres_sessions() if db == "postgres" else None,
    }


def _postgres_sessions() -> int:
    """Connections opened so far to the benchmark's database (pg_stat_database.sessions):
    a pool that keeps its connections opens none under load."""
    from sqlalchemy.engine import make_url

    name = make_url(PG_URL).database or "test"
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", name, "-Atc",
         f"SELECT sessions FROM pg_stat_database WHERE datname = '{name}'"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return int(out.stdout.strip() or 0)


def per_message(before: dict, after: dict) -> dict:
    """Statements, commits, round trips (PostgreSQL: a statement each, and BEGIN and COMMIT
    each transaction; the pool pings only a connection idle for 10 s, none under load) and
    PostgreSQL's CPU per message answered between two readings."""
    n = max(after["messages"] - before["messages"], 1)
    statements = (after["statements"] - before["statements"]) / n
    commits = (after["commits"] - before["commits"]) / n
    out = {
        "messages": int(n),
        "statements": round(statements, 2),
        "commits": round(commits, 2),
        "round_trips": round(statements + 2 * commits, 2),
    }
    out["cpu_ms"] = {
        kind: round((after["cpu"][kind] - seconds) / n * 1000, 3)
        for kind, seconds in before["cpu"].items()
    }
    if after["sessions"] is not None:
        out["server_cpu_ms"] = out["cpu_ms"]["PostgreSQL"]
        out["connections_opened"] = after["sessions"] - before["sessions"]
    return out


def pgbench(seconds: int) -> dict:
    """pgbench -N (simple updates, no branch contention) on the same server, in a database
    of its own (made and filled at scale 10 first): what this PostgreSQL does on this machine
    with 16 clients on 2 threads."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))
    binary = shutil.which("pgbench") or (str(found[-1]) if found else None)
    if binary is None:
        raise SystemExit("pgbench not found (Debian's postgresql package has it)")
    where = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"]
    subprocess.run(
        ["psql", *where, "-qc", "CREATE DATABASE farmchat_pgbench"], capture_output=True
    )  # already there: fine
    base = [binary, *where]
    subprocess.run([*base, "-i", "-q", "-s", "10", "farmchat_pgbench"], check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    out = subprocess.run(
        [*base, "-N", "-c", "16", "-j", "2", "-T", str(seconds), "farmchat_pgbench"],
        check=True, capture_output=True, text=True, timeout=seconds + 120,
    ).stdout  # fmt: skip
    tps = float(_found(r"tps = ([\d.]+)", out))
    latency = float(_found(r"latency average = ([\d.]+) ms", out))
    return {"tps": tps, "latency_ms": latency}


def _found(pattern: str, out: str) -> str:
    """The first group of pattern in wrk's output; wrk failed when it is not there."""
    match = re.search(pattern, out)
    if match is None:
        raise SystemExit(f"wrk printed no {pattern!r}:\n{out}")
    return match.group(1)


def write_requests(
    path: Path,
    url: str,
    users: int,
    first: int,
    prefix: str,
    sid_offset: int = 0,
    block: int = BLOCK,
) -> int:
    """Pre-signed requests, one per line ("signature body"); every MessageSid distinct (and
    distinct from other files' with another sid_offset)."""
    reqs = signed_requests(url, conversations(users, first, block), prefix, sid_offset)
    path.write_text("".join(f"{r['sig']} {r['body']}\n" for r in reqs))
    return len(reqs)


def build_open_loop(work: Path) -> Path:
    """bench/open_loop.c compiled into the work dir (before any server starts: fail early)."""
    binary = work / "open_loop"
    cc = shutil.which("cc") or "gcc"
    built = subprocess.run(
        [cc, "-O2", "-o", str(binary), str(ROOT / "bench" / "open_loop.c")],
        capture_output=True,
        text=True,
    )
    if built.returncode:
        raise SystemExit(f"compiling bench/open_loop.c failed:\n{built.stderr}")
    return binary


def open_loop(
    binary: Path,
    port: int,
    data: Path,
    rate: float,
    seconds: int,
    host: str = "127.0.0.1",
    trace: Path | None = None,
) -> dict:
    """Constant offered rate from core 1 (bench/open_loop.c), latency counted from due time;
    with trace, every answered request's latency in that file."""
    cmd = [
        "taskset",
        "-c",
        "1",
        str(binary),
        host,
        str(port),
        "/webhooks/twilio",
        str(data),
        str(rate),
        str(seconds),
    ]
    env = {**os.environ, **({"OPEN_LOOP_TRACE": str(trace)} if trace else {})}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, env=env)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def server_env(args, work: Path, port: int, fake_port: int, pooler: int | None) -> dict:
    db = f"sqlite+aiosqlite:///{work / 'bench.db'}" if args.db == "sqlite" else PG_URL
    if pooler is not None:
        db = through(db, pooler)
    return {
        **os.environ,
        "FARMCHAT_DATABASE__URL": db,
        "FARMCHAT_DATABASE__TRANSACTION_POOLING": str(pooler is not None).lower(),
        "FARMCHAT_SERVER__PORT": str(port),
        "FARMCHAT_SERVER__WORKERS": str(args.workers),
        "FARMCHAT_SERVER__PUBLIC_URL": f"http://127.0.0.1:{port}",
        "FARMCHAT_TWILIO__ACCOUNT_SID": SID,
        "FARMCHAT_TWILIO__AUTH_TOKEN": TOKEN,
        "FARMCHAT_TWILIO__FROM_NUMBER": NUMBER,
        "FARMCHAT_TWILIO__API_BASE": f"http://127.0.0.1:{fake_port}",
        "FARMCHAT_LOGGING__LEVEL": "WARNING",
        "FARMCHAT_METRICS__ACCESS": "token",
        "FARMCHAT_METRICS__TOKEN": METRICS_TOKEN,
        "FARMCHAT_CONFIG": str(ROOT / "config.yaml"),
        "FARMCHAT_NLU__CACHE_DIR": str(ROOT / ".farmchat-cache"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--users", type=int, default=6000)
    parser.add_argument(
        "--block",
        type=int,
        default=BLOCK,
        help="users per block of the request file: keep it above --connections, or a user's "
        "next message is sent before the answer to the one before",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="farmchat serve processes (server.workers)"
    )
    parser.add_argument(
        "--rate", type=float, default=500, help="offered rate of the open-loop run (0: skip)"
    )
    parser.add_argument("--rate-seconds", type=int, default=10)
    parser.add_argument(
        "--pgbench-seconds",
        type=int,
        default=10,
        help="with --db postgres: pgbench -N on the same server first, for this long (0: no)",
    )
    parser.add_argument(
        "--pgbouncer",
        action="store_true",
        help="PostgreSQL through Debian's pgbouncer in transaction mode (started here)",
    )
    parser.add_argument(
        "--hosts",
        type=int,
        default=0,
        help="with --db postgres: this many farmchat hosts, each in a network namespace made "
        "here (root), each sent its own users' share of the load (0: one server on loopback)",
    )
    args = parser.parse_args()
    if (args.pgbouncer or args.hosts) and args.db != "postgres":
        raise SystemExit("--pgbouncer and --hosts are for --db postgres")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="farmchat-bench-"))
    url = f"http://127.0.0.1:{PORT}/webhooks/twilio"
    data, paced = work / "requests.txt", work / "paced.txt"
    count = write_requests(data, url, args.users, 0, "SM", block=args.block)
    paced_users = max(1, int(args.rate * args.rate_seconds / 5) + 1)
    write_requests(
        paced, url, paced_users, 10**6, "SP", block=args.block
    )  # other users, other ids: no dedupe hits
    generator = build_open_loop(work) if args.rate else None
    script = work / "post.lua"
    script.write_text(LUA)
    if args.db == "postgres":
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
    # The server gets core 0 (both cores with several workers); wrk and the fake provider core 1.
    cores = "0" if args.workers == 1 else "0,1"
    bench = (
        pgbench(args.pgbench_seconds) if args.db == "postgres" and args.pgbench_seconds else None
    )
    if args.hosts:
        farm, raw, paced_run = hosts_and_load(args, work, generator)
        count *= args.hosts
    else:
        with contextlib.ExitStack() as stack:
            pooler = stack.enter_context(running_pgbouncer(20)) if args.pgbouncer else None
            farm, raw, paced_run = serve_and_load(
                args, work, cores, pooler, data, paced, generator
            )
    report(args, count, raw, farm, paced_run, bench)


def fake_provider(host: str = "127.0.0.1") -> subprocess.Popen:
    """The fake Twilio on core 1."""
    return subprocess.Popen(
        ["taskset", "-c", "1", sys.executable, "-m", "bot.fakes.twilio", "--host", host,
         "--port", str(FAKE_PORT), "--account-sid", SID, "--auth-token", TOKEN],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def stop_all(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=60)  # a server behind on its queue finishes what it accepted
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def hosts_and_load(args, work: Path, generator: Path | None):
    """args.hosts farmchat hosts (server.workers each), each in a network namespace of its
    own with the same public URL, on one PostgreSQL (over its socket, or PgBouncer's); each
    host gets a wrk of its own and its own users, all at once, then its share of the offered
    rate. The raw endpoint's run is on loopback, as in the one-server mode."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.netns_rig import missing, namespaces, over_socket

    if missing():
        raise SystemExit(f"--hosts: {missing()}")
    url, n = PUBLIC + "/webhooks/twilio", args.hosts
    files = []
    for i in range(n):  # host i: its own users and MessageSids, in the load and the paced run
        data, paced = work / f"requests-{i}.txt", work / f"paced-{i}.txt"
        write_requests(data, url, args.users, i * 100_000, "SM", i * 10**7, args.block)
        paced_users = max(1, int(args.rate / n * args.rate_seconds / 5) + 1)
        write_requests(paced, url, paced_users, 10**6 + i * 100_000, "SP", i * 10**7, args.block)
        files.append((data, paced))
    script = work / "post.lua"
    socket_dir = Path(tempfile.mkdtemp(prefix="farmchat-bench-pgbouncer-"))
    with contextlib.ExitStack() as stack:
        if args.pgbouncer:
            port = stack.enter_context(running_pgbouncer(20, socket_dir))
            db_url = over_socket(PG_URL, str(socket_dir), port)
        else:
            db_url = over_socket(PG_URL)
        spaces = stack.enter_context(namespaces(n))
        serve_log = stack.enter_context(open(work / "serve.log", "w"))
        procs = [fake_provider("0.0.0.0")]
        stack.callback(stop_all, procs)
        procs.append(
            subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", RAW_SERVER,
                              str(RAW_PORT)])
        )  # fmt: skip
        for ns in spaces:
            env = server_env(args, work, PORT, FAKE_PORT, None)
            env.update(
                FARMCHAT_DATABASE__URL=db_url,
                FARMCHAT_DATABASE__TRANSACTION_POOLING=str(args.pgbouncer).lower(),
                FARMCHAT_SERVER__HOST=ns.inside,
                FARMCHAT_SERVER__PUBLIC_URL=PUBLIC,
                FARMCHAT_TWILIO__API_BASE=f"http://{ns.outside}:{FAKE_PORT}",
            )
            procs.append(
                subprocess.Popen(ns.command(sys.executable, "-m", "bot.cli", "serve"), cwd=ROOT,
                                 env=env, stdout=subprocess.DEVNULL, stderr=serve_log)
            )  # fmt: skip
        for ns in spaces:
            wait_up(PORT, host=ns.inside)
        wait_up(RAW_PORT)
        raw = run_wrk(RAW_PORT, script, files[0][0], args.seconds, args.connections)
        bases = [f"http://{ns.inside}:{PORT}" for ns in spaces]
        before = database_work(bases, args.db)
        with ThreadPoolExecutor(n) as pool:
            runs = list(pool.map(
                lambda i: run_wrk(PORT, script, files[i][0], args.seconds,
                                  max(1, args.connections // n), spaces[i].inside),
                range(n),
            ))  # fmt: skip
        farm = {
            "rate": sum(r["rate"] for r in runs),
            "requests": sum(r["requests"] for r in runs),
            "p50": " / ".join(str(r["p50"]) for r in runs),
            "p99": " / ".join(str(r["p99"]) for r in runs),
            "non_2xx": sum(r["non_2xx"] for r in runs),
            "hosts": n,
        }
        farm["database"] = per_message(before, database_work(bases, args.db))
        paced_run = None
        if generator is not None:
            traces = [work / f"trace-{i}.txt" for i in range(n)]
            with ThreadPoolExecutor(n) as pool:
                parts = list(pool.map(
                    lambda i: open_loop(generator, PORT, files[i][1], args.rate / n,
                                        args.rate_seconds, spaces[i].inside, traces[i]),
                    range(n),
                ))  # fmt: skip
            paced_run = merged(parts, traces)
    shutil.rmtree(socket_dir, ignore_errors=True)
    return farm, raw, paced_run


def merged(parts: list[dict], traces: list[Path]) -> dict:
    """Open-loop runs on several hosts at once as one: rates summed, percentiles of every
    answered request's latency together (from the generators' traces)."""
    latencies = sorted(
        float(line.split()[1]) for trace in traces for line in trace.read_text().splitlines()
    )

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1)

    return {
        "offered_rate": sum(p["offered_rate"] for p in parts),
        "achieved_rate": round(sum(p["achieved_rate"] for p in parts), 1),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] if latencies else None,
        "non_2xx": sum(p["non_2xx"] for p in parts),
        "failed": sum(p["failed"] for p in parts),
    }


def serve_and_load(args, work: Path, cores: str, pooler: int | None, data, paced, generator):
    port, raw_port, fake_port = PORT, RAW_PORT, FAKE_PORT
    script = work / "post.lua"
    with open(work / "serve.log", "w") as serve_log:
        procs = [
            fake_provider(),
            subprocess.Popen(
                ["taskset", "-c", cores, sys.executable, "-m", "bot.cli", "serve"],
                cwd=ROOT,
                env=server_env(args, work, port, fake_port, pooler),
                stdout=subprocess.DEVNULL,
                stderr=serve_log,
            ),
            subprocess.Popen(
                ["taskset", "-c", "0", sys.executable, "-c", RAW_SERVER, str(raw_port)]
            ),
        ]
        try:
            wait_up(port)
            wait_up(raw_port)
            raw = run_wrk(raw_port, script, data, args.seconds, args.connections)
            bases = [f"http://127.0.0.1:{port}"]
            before = database_work(bases, args.db)
            farm = run_wrk(port, script, data, args.seconds, args.connections)
            farm["database"] = per_message(before, database_work(bases, args.db))
            paced_run = (
                open_loop(generator, port, paced, args.rate, args.rate_seconds)
                if generator is not None
                else None
            )
        finally:
            stop_all(procs)
    return farm, raw, paced_run


def report(
    args, count: int, raw: dict, farm: dict, paced: dict | None, bench: dict | None
) -> None:
    wrapped = farm["requests"] > count
    texts = [text for _, text in conversations(args.users, block=args.block)]
    print(
        (f"hosts={args.hosts} (network namespaces) " if args.hosts else "")
        + f"db={args.db} workers={args.workers} users={args.users} block={args.block} "
        f"signed requests={count} connections={args.connections} seconds={args.seconds}"
    )
    print(
        f"distinct texts: {len(set(texts))} of {len(texts)} "
        "(every listing differs; buyers' messages repeat)"
    )
    for name, r in (("raw aiohttp form echo", raw), ("farmchat /webhooks/twilio", farm)):
        print(
            f"{name:28} {r['rate']:8.0f} msg/s  p50 {r['p50']}  p99 {r['p99']}  "
            f"non-2xx {r['non_2xx']}"
        )
    print(
        f"ratio farmchat/raw: {farm['rate'] / raw['rate']:.3f}"
        + ("  (requests wrapped around: some were dedupe hits)" if wrapped else "")
    )
    work = farm["database"]
    print(
        f"per message: {work['statements']} statements, {work['commits']} commits, "
        f"{work['round_trips']} round trips"
        + (
            f", PostgreSQL CPU {work['server_cpu_ms']} ms; {work['connections_opened']} "
            "connections opened in the run"
            if "server_cpu_ms" in work
            else ""
        )
    )
    cpu = work["cpu_ms"]
    print(
        "CPU per message: "
        + ", ".join(
            f"{kind} {ms:.2f} ms" for kind, ms in cpu.items() if kind != "idle" and ms >= 0.01
        )
        + f"; the machine idle {cpu['idle']:.2f} ms (both cores: "
        f"{cpu['idle'] / (1000 / farm['rate'] * (os.cpu_count() or 1)):.0%})"
    )
    if bench:
        print(
            f"pgbench -N -c 16 -j 2 on the same server: {bench['tps']:.0f} tps "
            f"(latency {bench['latency_ms']} ms); farmchat's rate {farm['rate']:.0f} msg/s "
            f"is {farm['rate'] / bench['tps']:.1%} of it"
        )
    if paced:
        print(
            f"open loop at {paced['offered_rate']:.0f} msg/s offered: "
            f"{paced['achieved_rate']} answered/s, "
            f"p50 {paced['p50_ms']} ms  p90 {paced['p90_ms']} ms  p99 {paced['p99_ms']} ms  "
            f"max {paced['max_ms']} ms  non-2xx {paced['non_2xx']}  failed {paced['failed']}"
        )
    print(
        json.dumps(
            {
                "raw": {k: v for k, v in raw.items() if k != "raw"},
                "farmchat": {k: v for k, v in farm.items() if k != "raw"},
                "open_loop": paced,
                "pgbench": bench,
            }
        )
    )


if __name__ == "__main__":
    main()
