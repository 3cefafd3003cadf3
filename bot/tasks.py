"""Background work: expire overdue orders and old listings, push what is still in the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from sqlalchemy import update

from bot.bootstrap import Services
from bot.gateway import utcnow
from handlers import orders
from handlers.context import Context, Parse
from storage.models import BuyRequest

log = logging.getLogger(__name__)


async def expire_orders(svc: Services, now: datetime) -> int:
    """Each overdue order in its own transaction: stock back, both sides told."""
    async with svc.db.uow() as uow:
        due = [o.id for o in await uow.orders.overdue(now)]
    for order_id in due:
        async with svc.db.uow() as uow:
            order = await uow.orders.get(order_id)
            farmer = await uow.users.get(order.farmer_id)
            ctx = Context(
                msg=None,
                user=farmer,
                parse=Parse("", "expire", 1.0),
                lang="",
                uow=uow,
                settings=svc.settings,
                catalog=svc.catalog,
                now=now,
            )
            ctx.lang = ctx.lang_of(farmer)
            await orders.expire(ctx, order)
            ids = await svc.outbound.queue(uow, ctx.notices, now)
            await uow.commit()
        await svc.outbound.deliver(ids)
    return len(due)


async def expire_listings(svc: Services, now: datetime) -> int:
    async with svc.db.uow() as uow:
        count = await uow.listings.expire(now)
        stmt = update(BuyRequest).where(BuyRequest.status == "open", BuyRequest.expires_at <= now)
        await uow.session.execute(stmt.values(status="expired"))
        await uow.commit()
    return count


async def sweep(svc: Services, now: datetime | None = None) -> dict:
    now = now or utcnow()
    result = {
        "orders_expired": await expire_orders(svc, now),
        "listings_expired": await expire_listings(svc, now),
        "outbox_sent": await svc.outbound.flush(),
    }
    if any(result.values()):
        log.info("sweep: %s", result)
    return result


async def run_sweeper(svc: Services, stop: asyncio.Event) -> None:
    """Sweep at the configured interval until told to stop; one failure never ends the loop."""
    while not stop.is_set():
        try:
            await sweep(svc)
        except Exception:
            log.exception("sweep failed")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), svc.settings.market.sweep_interval_seconds)


@contextlib.asynccontextmanager
async def sweeper(svc: Services):
    """Run the sweeper beside the app; on exit let a sweep in progress finish its transaction."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_sweeper(svc, stop), name="farmchat-sweeper")
    try:
        yield task
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 30)
        except TimeoutError:
            log.warning("sweeper did not stop in 30 s; cancelled")
