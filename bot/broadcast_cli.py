"""`farmchat broadcast`: publish a price or an announcement from the shell, with the same
preview and confirmation as by chat; show progress; cancel. A running `farmchat serve`
sends it; --wait sends it from this process instead (and shows the delivery summary).

    farmchat broadcast price apple 4.2 --unit kg --place wudu
    farmchat broadcast text "明天上午9点合作社开会" --en "Co-op meeting tomorrow 9am" \
        --at "2026-11-29 08:00"
    farmchat broadcast status [ID]
    farmchat broadcast cancel ID
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from bot.config import Settings
from handlers import broadcasts as broadcast
from storage import broadcasts as records
from storage import schedule
from storage.models import Broadcast


def add_parser(sub) -> None:
    p = sub.add_parser("broadcast", help="send a price or an announcement to subscribers")
    actions = p.add_subparsers(dest="action", required=True)
    price = actions.add_parser("price", help="publish a market price and broadcast it")
    price.add_argument("product", help="catalog key or name, e.g. apple or 苹果")
    price.add_argument("price")
    price.add_argument("--unit", help="per unit (default: market.display_unit)")
    price.add_argument("--currency", help="default: market.currency")
    price.add_argument(
        "--place", help="market, e.g. wudu (subscribers of other places are left out)"
    )
    text = actions.add_parser("text", help="an announcement, sent as written to every subscriber")
    text.add_argument("text")
    text.add_argument("--en", help="the text for English readers")
    text.add_argument("--zh", help="the text for Chinese readers")
    text.add_argument("--product", help="only subscribers of this product")
    text.add_argument("--place", help="only subscribers of this place (or of no place)")
    for action in (price, text):
        action.add_argument(
            "--at", help="send later, local time 'YYYY-MM-DD HH:MM' (market.timezone)"
        )
        action.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        action.add_argument(
            "--wait", action="store_true", help="send from this process until done"
        )
    status = actions.add_parser("status", help="progress of recent broadcasts, or of one")
    status.add_argument("id", nargs="?", type=int)
    cancel = actions.add_parser("cancel", help="cancel a broadcast not yet started")
    cancel.add_argument("id", type=int)


def run(settings: Settings, args) -> int:
    return asyncio.run(_run(settings, args))


async def _run(settings: Settings, args) -> int:
    from bot.bootstrap import build_catalog, open_database

    db = await open_database(settings)
    try:
        if args.action == "status":
            return await _status(db, args.id)
        if args.action == "cancel":
            return await _cancel(db, args.id)
        return await _create(db, settings, build_catalog(settings), args)
    finally:
        await db.close()


def _key(names: dict, given: str | None, what: str) -> str | None:
    """A catalog key from a key or any of its names; exits with a message when unknown."""
    if not given:
        return None
    wanted = given.strip().lower()
    for key, item in names.items():
        known = getattr(item, "names", None) or [*item.en, *item.zh]
        if wanted == key or wanted in (n.lower() for n in known):
            return key
    raise SystemExit(f"farmchat: unknown {what} {given!r}")


def _when(settings: Settings, text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        local = datetime.strptime(text, "%Y-%m-%d %H:%M")
    except ValueError:
        raise SystemExit("farmchat: --at must be 'YYYY-MM-DD HH:MM'") from None
    return local.replace(tzinfo=ZoneInfo(settings.market.timezone))


def _draft(settings: Settings, catalog, args, now: datetime) -> Broadcast:
    place = _key(catalog.places, args.place, "place")
    if args.action == "text":
        product = _key(catalog.products, args.product, "product")
        by_lang = {k: v for k, v in (("en", args.en), ("zh", args.zh)) if v}
        return broadcast.new_announcement(args.text, now, None, product, place, by_lang)
    try:
        price = Decimal(args.price)
    except InvalidOperation:
        raise SystemExit(f"farmchat: {args.price!r} is not a price") from None
    product = _key(catalog.products, args.product, "product")
    if product is None:
        raise SystemExit("farmchat: which product?")
    currency = args.currency or settings.market.currency
    unit = args.unit or settings.market.display_unit
    return broadcast.new_price(catalog, settings, product, place, price, currency, unit, now, None)


async def _create(db, settings: Settings, catalog, args) -> int:
    now = datetime.now(ZoneInfo("UTC"))
    send_at = _when(settings, args.at)
    async with db.uow() as uow:
        bc = _draft(settings, catalog, args, now)
        seen = await broadcast.preview(uow, bc, settings)
        for lang in broadcast.LANGS:
            print(f"[{lang}] {broadcast.text_for(bc, lang)}")
        channels = ", ".join(f"{c} {n:,}" for c, n in sorted(seen.by_channel.items())) or "nobody"
        print(
            f"audience: {seen.audience:,} ({channels}); "
            f"SMS segments per message: {seen.segments_text()}; "
            f"estimated cost: {seen.cost_text()}"
        )
        if not args.yes and not _confirm("send" if not send_at else f"schedule for {args.at}"):
            print("not sent")
            return 1
        await records.save(uow, bc)
        await broadcast.confirm(uow, bc, now, "shell", send_at=send_at)
        await uow.commit()
    print(f"broadcast {bc.id} {bc.status}")
    if args.wait:
        await _send_here(db, settings, catalog, bc.id)
    return 0


def _confirm(what: str) -> bool:
    if not sys.stdin.isatty():
        print(f"{what}? (use --yes when not at a terminal)")
        return False
    return input(f"{what}? [y/N] ").strip().lower() in ("y", "yes")


async def _send_here(db, settings: Settings, catalog, broadcast_id: int) -> None:
    """Send with this process's own outbox service (and scheduler, for --at) until done."""
    import aiohttp

    from bot import channels
    from bot.app import channel_senders
    from bot.outbound.push import PrintSender
    from bot.outbound.sender import Outbound
    from bot.supervisor import Supervisor

    async with aiohttp.ClientSession() as session:
        senders = channel_senders(channels.enabled(settings), session)
        senders.fallback = PrintSender()
        supervisor = Supervisor(Outbound(db, senders, settings), catalog)
        supervisor.start(dispatch=False)  # the drain below sends; the scheduler fires --at
        try:
            await supervisor.dispatcher.drain(broadcast_id, timeout=7 * 24 * 3600)
        finally:
            await supervisor.stop()
    await _status(db, broadcast_id)


async def _status(db, broadcast_id: int | None) -> int:
    async with db.uow() as uow:
        rows = await schedule.recent(uow, broadcast_id)
        for bc in rows:
            tally = await broadcast.counts(uow, bc.id)
            done = ", ".join(f"{k} {v:,}" for k, v in sorted(tally.items())) or "-"
            when = f" at {bc.send_at:%Y-%m-%d %H:%M} UTC" if bc.status == "scheduled" else ""
            print(
                f"{bc.id} {bc.kind} {bc.product or ''} {bc.status}{when}: "
                f"{bc.recipients or 0:,} recipients; {done}"
            )
    if broadcast_id is not None and not rows:
        print(f"farmchat: no broadcast {broadcast_id}", file=sys.stderr)
        return 1
    return 0


async def _cancel(db, broadcast_id: int) -> int:
    async with db.uow() as uow:
        ok = await broadcast.cancel(uow, broadcast_id, "shell", datetime.now(ZoneInfo("UTC")))
        await uow.commit()
    print(
        f"broadcast {broadcast_id} cancelled"
        if ok
        else f"broadcast {broadcast_id} cannot be cancelled"
    )
    return 0 if ok else 1
