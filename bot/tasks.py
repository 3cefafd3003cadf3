"""The sweeper's work: expire overdue orders, old listings and buy requests; send what is
still due in the outbox (retries, and notifications a crash left behind)."""

from __future__ import annotations

import logging
from datetime import datetime

from bot.bootstrap import Services
from bot.gateway import utcnow
from handlers import orders
from storage import schedule

log = logging.getLogger(__name__)


async def expire_orders(svc: Services, now: datetime) -> int:
    """Each overdue order in its own transaction: stock back, both sides told."""
    async with svc.db.uow() as uow:
        due = [o.id for o in await uow.orders.overdue(now)]
    for order_id in due:
        async with svc.db.uow() as uow:
            notices = await orders.expire_overdue(uow, svc.settings, svc.catalog, order_id, now)
            claimed = await svc.outbound.queue(uow, notices, now)
            await uow.commit()
        await svc.outbound.deliver(claimed)
    return len(due)


async def expire_listings(svc: Services, now: datetime) -> int:
    """Listings and buy requests past their time; how many listings."""
    async with svc.db.uow() as uow:
        count = await uow.listings.expire(now)
        await schedule.expire_requests(uow, now)
        await uow.commit()
    return count


async def sweep(svc: Services, now: datetime | None = None) -> dict[str, int]:
    """One sweep; what it did."""
    now = now or utcnow()
    result = {
        "orders_expired": await expire_orders(svc, now),
        "listings_expired": await expire_listings(svc, now),
        "outbox_sent": await svc.outbound.flush(),
    }
    if any(result.values()):
        log.info("sweep: %s", result)
    return result
