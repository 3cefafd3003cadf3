"""The `farmchat` command: serve, chat, demo, db upgrade, nlu train|parse|test, wechat menu."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from bot import accounts, broadcast_cli, logs
from bot.config import ConfigError, Settings, load_settings
from storage.db import SchemaError

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
    sub.add_parser("demo", help="load sample farmers, listings and prices")
    sub.add_parser("fake-twilio", help="run a local fake of Twilio's Messages API (see --help)")
    broadcast_cli.add_parser(sub)
    accounts.add_parser(sub)
    sub.add_parser(
        "fake-wechat", help="a local fake WeChat: serve its API or push a message (see --help)"
    )
    wechat = sub.add_parser("wechat", help="WeChat Official Account tools")
    wechat.add_argument("action", choices=["menu"], help="menu: install the default custom menu")
    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade", "current"])
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
    from aiohttp import web

    from bot.app import create_app

    workers = settings.server.workers
    if workers > 1 and args.worker is None:
        return _supervise(settings, args)
    if args.worker is None:
        print(f"farmchat serving on http://{settings.server.host}:{settings.server.port}")
    app = create_app(settings, background=args.worker in (None, 0), worker=args.worker or 0)
    app.on_startup.append(_freeze_gc)  # after the services (and the NLU model) are up
    if workers > 1:
        # A worker waiting for SQLite's writer lock waits in a thread (storage/sqlite_inline.py);
        # when its turn comes it needs the GIL, which the loop would hold for up to 5 ms.
        sys.setswitchinterval(0.0005)
    web.run_app(
        app,
        host=settings.server.host,
        port=settings.server.port,
        reuse_port=workers > 1,
        print=None,
        shutdown_timeout=10,
    )
    return 0


async def _freeze_gc(app) -> None:
    """Move what exists at startup (the NLU model's vocabularies and weights: hundreds of
    thousands of objects that live as long as the process) out of the garbage collector's
    reach, so a full collection does not walk them all and stall every request in flight.
    See https://docs.python.org/3/library/gc.html#gc.freeze."""
    import gc

    gc.collect()
    gc.freeze()


def _supervise(settings: Settings, args) -> int:
    """Migrate and train once, then run `server.workers` serve processes on one port."""
    import os
    import signal
    import subprocess

    from bot.bootstrap import build_catalog, load_nlu, open_database

    async def prepare() -> None:
        await (await open_database(settings)).close()

    asyncio.run(prepare())
    load_nlu(settings, build_catalog(settings))  # the workers load the cached model
    base = [
        sys.executable,
        "-m",
        "bot.cli",
        *(["--config", args.config] if args.config else []),
        "serve",
    ]
    procs = [subprocess.Popen([*base, "--worker", str(n)]) for n in range(settings.server.workers)]

    def stop(signum, _frame) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(
        f"farmchat serving on http://{settings.server.host}:{settings.server.port} "
        f"with {len(procs)} workers"
    )
    os.wait()  # the first worker to end (a crash, or the signal above) ends them all
    stop(signal.SIGTERM, None)
    codes = [proc.wait() for proc in procs]
    return next((code for code in codes if code not in (0, -signal.SIGTERM)), 0)


def _chat(settings: Settings, args) -> int:
    from bot.bootstrap import services
    from bot.channels.addresses import e164
    from bot.channels.console.channel import chat
    from bot.outbound.push import PrintSender
    from bot.supervisor import background

    try:
        address = e164(args.address)
    except ValueError as exc:
        print(f"farmchat: --as: {exc}", file=sys.stderr)
        return 2

    async def run() -> None:
        async with (
            services(settings, sender=PrintSender()) as svc,
            background(svc, dispatch=False, lead=False),
        ):
            await chat(svc.gateway, address)

    asyncio.run(run())
    return 0


def _demo(settings: Settings, args) -> None:
    from bot.bootstrap import open_database
    from bot.demo import load_demo

    async def run() -> int:
        db = await open_database(settings)
        try:
            return await load_demo(db)
        finally:
            await db.close()

    made = asyncio.run(run())
    print(f"demo data: {made} listings created" if made else "demo data already loaded")


def _db(settings: Settings, args) -> None:
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
