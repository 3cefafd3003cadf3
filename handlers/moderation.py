"""What a coordinator does to listings and orders from the dashboard: expire a listing (its
orders still waiting for the farmer are cancelled, their stock released, and the farmer and
buyers are told) and cancel an order (its stock released, buyer and farmer told). The users
hear it as they would in chat, in their own language, with the texts the chat uses; every
change is written to the audit log in the same transaction.

The caller queues the notices through the outbox before committing and pushes them after,
as a message's notices are."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from handlers import orders, texts
from handlers.context import Context
from handlers.messages import Reply
from handlers.settings import Settings
from nlu.catalog import Catalog
from storage import audit, moderation
from storage.models import Order, User
from storage.uow import UnitOfWork

CANCELLABLE = ("pending", "accepted")  # SPEC §4: pending → cancelled, accepted → cancelled


@dataclass
class Outcome:
    """What an action did: whether it changed anything (a second click changes nothing), the
    status the listing or order has now, the orders it cancelled, and the notices to send."""

    changed: bool
    status: str
    cancelled: list[int] = field(default_factory=list)
    notices: list[Reply] = field(default_factory=list)


async def _user(uow: UnitOfWork, user_id: int) -> User:
    user = await uow.users.get(user_id)
    assert user is not None, f"user {user_id} exists"  # listings' and orders' foreign keys
    return user


async def expire_listing(
    uow: UnitOfWork,
    settings: Settings,
    catalog: Catalog,
    listing_id: int,
    actor: str,
    now: datetime,
) -> Outcome | None:
    """Take an active listing off the market now. Each of its orders still waiting for the
    farmer is cancelled and its stock released; its buyer is told and offered the next
    matches, as after a decline. The farmer is told the listing is down and which orders went
    with it. Accepted orders stand. None when there is no such listing."""
    listing = await uow.listings.get(listing_id)
    if listing is None:
        return None
    if not await moderation.expire_listing(uow, listing_id, now):
        return Outcome(changed=False, status=listing.status)
    farmer = await _user(uow, listing.farmer_id)
    ctx = Context.on_behalf_of(farmer, uow, settings, catalog, now)
    gone: list[Order] = []
    for pending in await uow.orders.pending_for_listing(listing_id):
        if not await uow.orders.transition(pending, ("pending",), "cancelled", now):
            continue
        await uow.listings.release(pending.listing_id, pending.quantity, now)
        await orders.tell_buyer_and_reoffer(
            ctx, pending, await _user(uow, pending.buyer_id), "order_cancelled"
        )
        gone.append(pending)
    lang = ctx.lang_of(farmer)
    lines = [texts.t("listing_cancelled", lang, ref=listing_id)]
    lines += [texts.t("order_cancelled", lang, ref=o.id) for o in gone]
    ctx.push(farmer, "\n".join(lines))
    await audit.record(
        uow,
        actor,
        "listing.expired",
        moderation.subject_of_listing(listing_id),
        now,
        product=listing.product,
        farmer=f"user #{farmer.id}",
        orders_cancelled=[o.id for o in gone],
    )
    return Outcome(True, "expired", [o.id for o in gone], ctx.notices)


async def cancel_order(
    uow: UnitOfWork,
    settings: Settings,
    catalog: Catalog,
    order_id: int,
    actor: str,
    now: datetime,
) -> Outcome | None:
    """Cancel a pending or accepted order: its stock goes back to the listing and both sides
    are told; a buyer still waiting for the farmer is offered the next matches, as after a
    decline. An order already answered otherwise is left as it is. None when there is no such
    order."""
    order = await uow.orders.get(order_id)
    if order is None:
        return None
    before = order.status
    if not await uow.orders.transition(order, CANCELLABLE, "cancelled", now):
        return Outcome(changed=False, status=order.status)
    await uow.listings.release(order.listing_id, order.quantity, now)
    farmer = await _user(uow, order.farmer_id)
    buyer = await _user(uow, order.buyer_id)
    ctx = Context.on_behalf_of(farmer, uow, settings, catalog, now)
    ctx.tell(farmer, "order_cancelled", ref=order.id)
    if buyer.id != farmer.id:
        if before == "pending":
            await orders.tell_buyer_and_reoffer(ctx, order, buyer, "order_cancelled")
        else:
            ctx.tell(buyer, "order_cancelled", ref=order.id)
    await audit.record(
        uow,
        actor,
        "order.cancelled",
        moderation.subject_of_order(order.id),
        now,
        was=before,
        listing=order.listing_id,
        quantity=str(order.quantity),
        unit=order.unit,
        buyer=f"user #{buyer.id}",
        farmer=f"user #{farmer.id}",
    )
    return Outcome(True, "cancelled", [order.id], ctx.notices)
