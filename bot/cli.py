"""The `farmchat` command: serve, chat, demo, db upgrade|current|backup|restore, nlu, wechat."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from bot import accounts, broadcast_cli, logs
from bot.config import ConfigError, Settings, load_settings
from storage.db import SchemaError

METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # bot/metrics.py: the workers' numbers

log = logging.getLogger("farmchat")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="farmchat", description="Chat marketplace for farm produce.")
    p.add_argument("--config", help="config file (default: $FARMCHAT_CONFIG or ./config.yaml)")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP server (webhooks, /model/parse, /healthz)")
    serve.add_argument("--worker", type=int, help=argparse.SUPPRESS)  # set by the supervisor
    chat = sub.add_parser("chat", help="talk to the bot in the terminal")
    chat.add_argument(
        "--as", dest="address", default="+8613800000001", help="your phone number (E.164)"
    )
    demo = sub.add_parser("demo", help="load sample farmers, listings and prices")
    demo.add_argument(
        "--channel",
        choices=["console", "sms", "whatsapp", "wechat"],
        help="the sample farmers' channel (default: sms when Twilio is configured, else "
        "wechat when WeChat is, else console)",
    )
    sub.add_parser("fake-twilio", help="run a local fake of Twilio's Messages API (see --help)")
    broadcast_cli.add_parser(sub)
    accounts.add_parser(sub)
    sub.add_parser(
        "fake-wechat", help="a local fake WeChat: serve its API or push a message (see --help)"
    )
    wechat = sub.add_parser("wechat", help="WeChat Official Account tools")
    wechat.add_argument("action", choices=["menu"], help="menu: install the default custom menu")
    db = sub.add_parser("db", help="database schema and backups")
    db_sub = db.add_subparsers(dest="action", required=True)
    db_sub.add_parser("upgrade", help="apply the migrations (creates the schema when empty)")
    db_sub.add_parser("current", help="show the schema revision")
    backup = db_sub.add_parser("backup", help="a consistent copy, safe while serve runs")
    backup.add_argument("path", help="the backup file to write (replaced when it exists)")
    restore = db_sub.add_parser("restore", help="replace the database with a backup")
    restore.add_argument("path", help="a file that `farmchat db backup` wrote")
    restore.add_argument(
        "--force", action="store_true", help="even while a server or another process uses it"
    )
    restore.add_argument(
        "--database",
        help="restore into this SQLite file, or this database of the PostgreSQL server, "
        "instead of the configured one",
    )
    nlu = sub.add_parser("nlu", help="the built-in language model")
    nlu_sub = nlu.add_subparsers(dest="action", required=True)
    nlu_sub.add_parser("train", help="train now and cache the model")
    parse = nlu_sub.add_parser("parse", help="parse one message, print Rasa-style JSON")
    parse.add_argument("text")
    test = nlu_sub.add_parser("test", help="evaluate on a Rasa YAML test file")
    test.add_argument("file")
    test.add_argument("--min-intent-accuracy", type=float, default=0.0)
    test.add_argument("--min-entity-f1", type=float, default=0.0)
    test.add_argument("--errors", type=int, default=50, help="how many errors to list")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["fake-twilio"]:  # its own options, no farmchat config needed
        from bot.fakes.twilio import main as fake_main

        return fake_main(argv[1:])
    if argv[:1] == ["fake-wechat"]:
        from bot.fakes.wechat import main as fake_wechat_main

        return fake_wechat_main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"farmchat: {exc}", file=sys.stderr)
        return 2
    logs.setup("WARNING" if args.command in ("chat", "nlu") else settings.logging.level)
    try:
        return COMMANDS[args.command](settings, args) or 0
    except (SchemaError, ConfigError) as exc:
        print(f"farmchat: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _serve(settings: Settings, args) -> int:
    workers = settings.server.workers
    if workers > 1 and args.worker is None:
        return _supervise(settings, args)
    loop = asyncio.new_event_loop()
    _stop_once(loop)  # before the imports and the start-up: a SIGTERM then stops them too

    from aiohttp import web

    from bot.app import create_app

    if args.worker is None:
        print(f"farmchat serving on http://{settings.server.host}:{settings.server.port}")
    app = create_app(settings, background=args.worker in (None, 0), worker=args.worker or 0)
    app.on_startup.append(_freeze_gc)  # after the services (and the NLU model) are up
    if workers > 1:
        # A worker waiting for SQLite's writer lock waits in a thread (storage/sqlite_inline.py);
        # when its turn comes it needs the GIL, which the loop would hold for up to 5 ms.
        sys.setswitchinterval(0.0005)
    try:
        web.run_app(
            app,
            host=settings.server.host,
            port=settings.server.port,
            reuse_port=workers > 1,
            print=None,
            shutdown_timeout=10,  # seconds for the requests in progress
            handle_signals=False,  # _stop_once's instead
            loop=loop,
        )
    except web.GracefulExit as stop:
        # The stop came while run_app was unwinding a start-up that had just failed: its
        # GracefulExit (a SystemExit, status 1, silent) would replace that failure. A stop was
        # asked for, so the exit is clean; the failure is told.
        if stop.__context__ is not None:
            failure = stop.__context__
            log.warning("stopped while starting, which had failed: %r", failure)
    for sig in (signal.SIGTERM, signal.SIGINT):  # stopped: a signal now would cut the exit short
        signal.signal(sig, signal.SIG_IGN)
    return 0


def _stop_once(loop: asyncio.AbstractEventLoop) -> None:
    """The first SIGTERM or SIGINT starts the graceful stop; the ones after it are ignored.

    aiohttp's own handler raises GracefulExit at every signal, and one that comes during the
    stop cancels the stop itself: the sends it lets finish, the database connections it
    closes. Under systemd's default KillMode every process of the unit gets the SIGTERM, the
    supervisor passes it on as well, and a Ctrl-C reaches the whole process group. This
    handler outlives the loop (the loop's own would go with it, leaving the last moments to
    the default action) and reaches it through call_soon_threadsafe, as asyncio.Runner's
    SIGINT handler does."""
    stopping = False

    def stop() -> None:
        from aiohttp.web import GracefulExit  # imported by then: run_app runs the loop

        raise GracefulExit()

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping and not loop.is_closed():
            stopping = True
            loop.call_soon_threadsafe(stop)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


async def _freeze_gc(app) -> None:
    """Move what exists at startup (the NLU model's vocabularies and weights: hundreds of
    thousands of objects that live as long as the process) out of the garbage collector's
    reach, so a full collection does not walk them all and stall every request in flight.
    See https://docs.python.org/3/library/gc.html#gc.freeze."""
    import gc

    gc.collect()
    gc.freeze()


def _metrics_dir() -> Path:
    """A new, empty directory for the workers' metrics (prometheus-client's multiprocess
    mode), made before any worker starts: PROMETHEUS_MULTIPROC_DIR when the operator set one,
    emptied first, else a temporary one."""
    import shutil
    import tempfile

    given = os.environ.get(METRICS_DIR)
    if not given:
        return Path(tempfile.mkdtemp(prefix="farmchat-metrics-"))
    shutil.rmtree(given, ignore_errors=True)
    Path(given).mkdir(parents=True)
    return Path(given)


def _supervise(settings: Settings, args) -> int:
    """Migrate and train once, then run `server.workers` serve processes on one port.

    SIGTERM or SIGINT stops them all, and so does any worker ending; the exit status is 0 when
    every worker stopped cleanly, else that of the first one that did not."""
    import shutil

    from bot.bootstrap import build_catalog, load_nlu, open_database

    workers = _Workers()  # a signal from here on stops them, even before they start
    signal.signal(signal.SIGTERM, workers.stop)
    signal.signal(signal.SIGINT, workers.stop)

    async def prepare() -> None:
        await (await open_database(settings)).close()

    asyncio.run(prepare())
    if not workers.stopping:
        load_nlu(settings, build_catalog(settings))  # the workers load the cached model
    base = [
        sys.executable,
        "-m",
        "bot.cli",
        *(["--config", args.config] if args.config else []),
        "serve",
    ]
    numbers = _metrics_dir()  # every worker's metrics, summed at a scrape
    env = {**os.environ, METRICS_DIR: str(numbers)}
    for n in range(settings.server.workers):
        if not workers.stopping:
            workers.procs.append(subprocess.Popen([*base, "--worker", str(n)], env=env))
    if workers.stopping:
        workers.stop()  # the signal came while they were starting
    else:
        print(
            f"farmchat serving on http://{settings.server.host}:{settings.server.port} "
            f"with {len(workers.procs)} workers"
        )
    code = workers.wait()
    if not os.environ.get(METRICS_DIR):  # the directory made for this run
        shutil.rmtree(numbers, ignore_errors=True)
    return code


# how a worker ends when stopped: by itself, or killed by the signal before its handler was set
# (main() answers a KeyboardInterrupt with 130)
CLEAN_STOP = (0, 130, -signal.SIGTERM, -signal.SIGINT)


class _Workers:
    """The supervisor's worker processes: each sent SIGTERM once, each reaped once, its exit
    status kept (os.wait() reaps it for good: Popen.wait() after it would answer 0)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.stopping = False
        self._told: set[int] = set()
        self._ended: dict[int, int] = {}  # pid: exit code (a signal's is negative), as they end

    def stop(self, *_signal: object) -> None:
        """SIGTERM to each worker still running that has not had it (the signal handler)."""
        self.stopping = True
        for proc in self.procs:
            if proc.pid not in self._told and proc.pid not in self._ended:
                self._told.add(proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)

    def wait(self) -> int:
        """Reap every worker, stopping the others when the first ends (a crash, or the signal);
        0 when all ended cleanly, else the first unclean one's status (128 + a signal)."""
        pids = {proc.pid: proc for proc in self.procs}
        while len(self._ended) < len(pids):
            try:
                pid, status = os.wait()
            except ChildProcessError:  # none left
                break
            if pid in pids:
                code = self._ended[pid] = pids[pid].returncode = os.waitstatus_to_exitcode(status)
                if code not in CLEAN_STOP:
                    number = self.procs.index(pids[pid])
                    log.error("worker %s ended with status %s; stopping the others", number, code)
                self.stop()
        unclean = [code for code in self._ended.values() if code not in CLEAN_STOP]
        if not unclean:
            return 0
        return unclean[0] if unclean[0] > 0 else 128 - unclean[0]


def _chat(settings: Settings, args) -> int:
    import aiohttp

    from bot import channels
    from bot.app import channel_senders
    from bot.bootstrap import services
    from bot.channels.addresses import e164
    from bot.channels.console.channel import Terminal, chat
    from bot.outbound.push import PrintSender
    from bot.supervisor import background

    try:
        address = e164(args.address)
    except ValueError as exc:
        print(f"farmchat: --as: {exc}", file=sys.stderr)
        return 2
    terminal = Terminal()
    serving = channels.enabled(settings)

    async def run() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            # the configured providers send to their users; what they cannot is printed here
            senders = channel_senders(serving, session)
            senders.fallback = PrintSender(terminal.notify)
            async with services(settings, sender=senders) as svc, background(svc, lead=False):
                for channel in serving:
                    await channel.start(svc)
                try:
                    await chat(svc.gateway, address, write=terminal.write, read=terminal.read)
                finally:
                    for channel in serving:
                        await channel.stop()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        terminal.write("")  # Ctrl-C: the shell's prompt on a line of its own
        raise
    finally:
        terminal.restore()
    return 0


def _demo(settings: Settings, args) -> int:
    from bot import demo
    from bot.bootstrap import open_database

    channel = args.channel or demo.channel_for(settings)
    real = None if args.channel else demo.real_api(settings, channel)

    async def run() -> demo.Loaded | None:
        db = await open_database(settings)
        try:
            there = await demo.loaded_on(db)
            if real and there is None:
                return None
            return await demo.load_demo(db, channel)
        finally:
            await db.close()

    loaded = asyncio.run(run())
    if loaded is None:
        print(
            f"farmchat: demo data not loaded: its farmers would be {channel} users at sample "
            f"numbers, sent real messages through {real}. Choose --channel {channel} for "
            "that, or --channel console",
            file=sys.stderr,
        )
        return 2
    print(
        f"demo data: {loaded.made} listings created" if loaded.made else "demo data already loaded"
    )
    print(demo.where(loaded.channel))
    return 0


def _db(settings: Settings, args) -> int | None:
    if args.action in ("backup", "restore"):
        return _db_copy(settings, args)
    from storage.db import create_engine, current_revision, head_revision, upgrade

    async def run() -> str | None:
        engine = create_engine(settings.database.url)
        try:
            if args.action == "upgrade":
                await upgrade(engine)
            return await current_revision(engine)
        finally:
            await engine.dispose()

    revision = asyncio.run(run())
    print(f"schema revision {revision} (newest: {head_revision()})")
    return 0


def _db_copy(settings: Settings, args) -> int:
    """db backup PATH, db restore PATH [--force] [--database NAME]; exit 2: refused, 1: failed."""
    from storage import backup
    from storage.db import head_revision

    try:
        if args.action == "backup":
            report = backup.backup(settings.database.url, args.path)
        else:
            report = backup.restore(settings.database.url, args.path, args.force, args.database)
    except backup.BackupError as exc:
        print(f"farmchat: {args.action} not done: {logs.scrub(str(exc))}", file=sys.stderr)
        return exc.exit_code
    size = f", {report.size / 1e6:.1f} MB" if report.size else ""
    done = "backup written:" if args.action == "backup" else f"restored {args.path} into"
    print(f"{done} {report.where} ({report.kind}{size}; {report.check})")
    print("rows: " + ", ".join(f"{table} {n}" for table, n in report.counts.items()))
    status = backup.revision_status(report.revision)
    print(f"schema revision {report.revision} ({status}; this farmchat's: {head_revision()})")
    if args.action == "restore" and status == "older":
        print(
            "run `farmchat db upgrade` to bring it up to date "
            "(`farmchat serve` does it at start when database.auto_upgrade is true)"
        )
    elif status == "unknown":
        print("a newer farmchat made this schema: serve it with that version")
    return 0


def _nlu(settings: Settings, args) -> int:
    from bot.bootstrap import build_catalog, load_nlu

    catalog = build_catalog(settings)
    if args.action == "train":
        import shutil

        shutil.rmtree(settings.nlu.cache_dir, ignore_errors=True)
    model = load_nlu(settings, catalog)
    if args.action == "train":
        print(f"trained: {len(model.intents)} intents, cached in {settings.nlu.cache_dir}")
    elif args.action == "parse":
        print(json.dumps(model.parse(args.text), ensure_ascii=False, indent=2))
    else:
        return _nlu_test(model, args)
    return 0


def _nlu_test(model, args) -> int:
    from nlu.evaluate import evaluate, format_report
    from nlu.rasa_yaml import load_examples

    report = evaluate(model, load_examples(args.file))
    print(format_report(report, max_errors=args.errors))
    figures = [(report.intent_accuracy, report.entity_f1), *report.by_language().values()]
    ok = all(acc >= args.min_intent_accuracy and f1 >= args.min_entity_f1 for acc, f1 in figures)
    if not ok:
        print(
            f"FAILED: below --min-intent-accuracy {args.min_intent_accuracy} "
            f"or --min-entity-f1 {args.min_entity_f1} (overall or in a language)"
        )
    return 0 if ok else 1


def _wechat(settings: Settings, args) -> int:
    import aiohttp

    from bot.bootstrap import open_database
    from bot.channels.wechat.send import DEFAULT_MENU, WeChatApi, install_menu

    if not settings.wechat.enabled:
        print(
            "farmchat: WeChat is not configured "
            "(set wechat.app_id, FARMCHAT_WECHAT__APP_SECRET, ...)",
            file=sys.stderr,
        )
        return 2

    async def run() -> None:
        db = await open_database(settings)
        try:
            async with aiohttp.ClientSession() as session:
                await install_menu(WeChatApi(settings.wechat, session, db))
        finally:
            await db.close()

    try:
        asyncio.run(run())
    except Exception as exc:  # SendError and friends: say what WeChat said, no traceback
        print(f"farmchat: menu not installed: {exc}", file=sys.stderr)
        return 1
    buttons: list[dict[str, object]] = DEFAULT_MENU["button"]  # type: ignore[assignment]
    names = [str(b["name"]) for b in buttons]
    print(f"menu installed: {' | '.join(names)}")
    return 0


COMMANDS = {
    "serve": _serve,
    "chat": _chat,
    "demo": _demo,
    "db": _db,
    "nlu": _nlu,
    "wechat": _wechat,
    "broadcast": broadcast_cli.run,
    "admin": accounts.run,
}

if __name__ == "__main__":
    sys.exit(main())
