"""Orders after they are placed: the farmer's YES/NO, cancel, expiry, a farmer who cannot be
reached, my orders."""

from __future__ import annotations

import re
from datetime import datetime

from handlers import buy, sell, texts
from handlers.context import Context, DomainError
from handlers.messages import Reply
from handlers.settings import Settings
from handlers.slots import ref_answer
from nlu.catalog import Catalog
from storage.models import Listing, Order, User
from storage.repos import REF_OFFSET
from storage.uow import UnitOfWork

# Words that answer an order; "ok", "好的", "thanks" right after an answer only acknowledge it.
EXPLICIT = {
    "yes",
    "y",
    "yes please",
    "accept",
    "accepted",
    "no",
    "n",
    "decline",
    "reject",
    "是",
    "是的",
    "接受",
    "同意",
    "不",
    "不要",
    "拒绝",
    "ndio",
    "hapana",
}


async def affirm(ctx: Context) -> list[Reply]:
    return await _answer(ctx, accept=True)


async def deny(ctx: Context) -> list[Reply]:
    return await _answer(ctx, accept=False)


async def _answer(ctx: Context, accept: bool) -> list[Reply]:
    """YES 1023 / NO 1023; a bare YES or NO applies to the only pending order, else asks."""
    ref = ref_answer(ctx)
    if ref is not None:
        return await _decide_all(ctx, _refs(ctx, ref), accept)
    pending = await ctx.uow.orders.pending_for_farmer(ctx.user.id)
    if not pending:
        return ctx.say("no_pending")
    if len(pending) == 1:
        return await decide(ctx, pending[0].id, accept)
    ctx.slots = {"accept": accept}
    return ctx.ask("orders.which", "which_order", items=_listed(ctx, pending), ref=pending[0].id)


def _listed(ctx: Context, pending: list[Order]) -> str:
    """'102: 10 kg apple; 103: …' / '102号：苹果10斤；…' (five at most)."""
    return ("；" if ctx.lang == "zh" else "; ").join(
        ctx.text(
            "which_order_item",
            ref=o.id,
            qty=ctx.qty(o.quantity, o.unit),
            product=ctx.product(o.product),
        )
        for o in pending[:5]
    )


def _refs(ctx: Context, first: int) -> list[int]:
    """Every order number of "yes 122 135" / "是126和129", the first one first."""
    found = [
        int(x) for x in re.findall(r"(?<!\d)\d{3,9}(?!\d)", ctx.parse.text) if int(x) > REF_OFFSET
    ]
    return list(dict.fromkeys([first, *found]))


async def _decide_all(ctx: Context, refs: list[int], accept: bool) -> list[Reply]:
    """Each order named gets its answer; one that cannot be answered says why, in the same
    reply."""
    lines = []
    for ref in refs:
        try:
            lines += [r.text for r in await decide(ctx, ref, accept)]
        except DomainError as err:
            lines.append(ctx.text(err.key, **err.values))
    return [Reply("\n".join(lines))]


async def on_decided(ctx: Context) -> list[Reply] | None:
    """Right after answering an order, a bare "ok" / "好的" answers no other order: it is
    acknowledged, or the orders still waiting are named."""
    words = ctx.parse.text.strip().lower().strip("!.。！ ")
    if (
        ref_answer(ctx) is not None
        or ctx.parse.intent not in ("affirm", "deny")
        or ctx.parse.entities
        or words in EXPLICIT
    ):
        return None  # "yes" / "no" still answer the only order waiting (SPEC §2)
    pending = await ctx.uow.orders.pending_for_farmer(ctx.user.id)
    ctx.done()
    if not pending:
        return ctx.say("ok")
    return ctx.say("still_waiting", items=_listed(ctx, pending), ref=pending[0].id)


async def on_which(ctx: Context) -> list[Reply] | None:
    ref = ref_answer(ctx)
    if ref is None:
        return None
    accept = {"affirm": True, "deny": False}.get(ctx.parse.intent)
    if accept is None:  # "1023": the answer the question was about
        accept = bool(ctx.slots.get("accept", True))
    ctx.done()
    return await decide(ctx, ref, accept)


async def decide(ctx: Context, ref: int, accept: bool) -> list[Reply]:
    order = await ctx.uow.orders.get(ref)
    if order is None:
        raise DomainError("unknown_ref", ref=ref)
    if order.farmer_id != ctx.user.id:
        raise DomainError("not_your_order", ref=ref)
    if not await ctx.uow.orders.transition(
        order, ("pending",), "accepted" if accept else "declined", ctx.now
    ):
        return ctx.say("order_not_pending", ref=ref, status=ctx.word(order.status))
    if ctx.state is None:
        ctx.state = "orders.decided"  # a bare "ok" next answers no other order
    buyer = await _party(ctx, order.buyer_id)
    values = buy.order_values(ctx, order)
    mine = {k: v(ctx.lang) for k, v in values.items()}
    if accept:
        ctx.tell(
            buyer,
            "order_accepted_buyer",
            ref=ref,
            name=ctx.name_of(ctx.user, "unnamed_farmer"),
            contact=ctx.contact_of(ctx.user, ref),
            **values,
        )
        return ctx.say(
            "order_accepted_farmer",
            ref=ref,
            name=ctx.name_of(buyer)(ctx.lang),
            contact=ctx.contact_of(buyer, ref)(ctx.lang),
            **mine,
        )
    await ctx.uow.listings.release(order.listing_id, order.quantity, ctx.now)
    await tell_buyer_and_reoffer(ctx, order, buyer, "order_declined_buyer")
    return ctx.say("order_declined_farmer", ref=ref, qty=mine["qty"], listing=order.listing_id)


async def tell_buyer_and_reoffer(ctx: Context, order: Order, buyer: User, key: str) -> None:
    """The buyer hears what happened and, in the same message, the next offers."""
    want = {"product": order.product, "quantity": str(order.quantity), "unit": order.unit}
    lang = ctx.lang_of(buyer)
    news = texts.t(key, lang, ref=order.id)
    found = await buy.offers_for(ctx, buyer, want, exclude=(order.listing_id,))
    if found is None:  # nothing else on offer: the buyer may wait for the next listing
        more = texts.t("no_offers", lang, product=ctx.catalog.product_name(order.product, lang))
        await ctx.uow.conversations.save(
            buyer.id, "buy.standing", {**want, "location": buyer.place}, ctx.now
        )
    else:
        more, slots = found
        await ctx.uow.conversations.save(buyer.id, "buy.choice", slots, ctx.now)
    ctx.push(buyer, f"{news}\n{more}")


async def cancel(ctx: Context) -> list[Reply]:
    """cancel 1023 (an order of mine), cancel 57 (a listing of mine), or "cancel my peach
    listing" (the only listing of that product)."""
    ref = ref_answer(ctx)
    if ref is None:
        return await _cancel_by_product(ctx)
    order = await ctx.uow.orders.get(ref)
    if order is not None:
        return await _cancel_order(ctx, order)
    return await _remove_listing(ctx, await sell.owned_listing(ctx, ref))


async def _cancel_by_product(ctx: Context) -> list[Reply]:
    product = ctx.parse.first("product")
    listings = await ctx.uow.listings.of_farmer(ctx.user.id, ctx.now, product) if product else []
    if len(listings) != 1:
        return (
            ctx.say("nothing_to_cancel") if not listings else sell.which(ctx, listings, "cancel")
        )
    return await _remove_listing(ctx, listings[0])


async def _remove_listing(ctx: Context, listing: Listing) -> list[Reply]:
    listing.status, listing.updated_at = "cancelled", ctx.now
    for pending in await ctx.uow.orders.pending_for_listing(listing.id):
        await ctx.uow.orders.transition(pending, ("pending",), "cancelled", ctx.now)
        buyer = await _party(ctx, pending.buyer_id)
        ctx.tell(
            buyer,
            "order_cancelled_other",
            ref=pending.id,
            who=lambda lang: ctx.word("farmer", lang),
            **buy.order_values(ctx, pending),
        )
    return ctx.say("listing_cancelled", ref=listing.id)


async def _cancel_order(ctx: Context, order: Order) -> list[Reply]:
    me = ctx.user.id
    if me not in (order.buyer_id, order.farmer_id):
        raise DomainError("unknown_ref", ref=order.id)
    if not await ctx.uow.orders.transition(order, ("pending", "accepted"), "cancelled", ctx.now):
        return ctx.say("order_not_pending", ref=order.id, status=ctx.word(order.status))
    await ctx.uow.listings.release(order.listing_id, order.quantity, ctx.now)
    other_id, who = (
        (order.farmer_id, "buyer") if me == order.buyer_id else (order.buyer_id, "farmer")
    )
    other = await _party(ctx, other_id)
    ctx.tell(
        other,
        "order_cancelled_other",
        ref=order.id,
        who=lambda lang: ctx.word(who, lang),
        **buy.order_values(ctx, order),
    )
    return ctx.say("order_cancelled", ref=order.id)


async def my_orders(ctx: Context) -> list[Reply]:
    orders = await ctx.uow.orders.of_user(ctx.user.id)
    if not orders:
        return ctx.say("no_orders")
    lines = []
    for o in orders:
        values = {k: v(ctx.lang) for k, v in buy.order_values(ctx, o).items()}
        role = ctx.word("buying" if o.buyer_id == ctx.user.id else "selling")
        lines.append(
            ctx.text("order_line", ref=o.id, role=role, status=ctx.word(o.status), **values)
        )
    return ctx.say("my_orders", items="\n".join(lines))


async def expire(ctx: Context, order: Order) -> None:
    """A pending order past its deadline: stock back, both told, the buyer offered the next."""
    if not await ctx.uow.orders.transition(order, ("pending",), "expired", ctx.now):
        return
    await ctx.uow.listings.release(order.listing_id, order.quantity, ctx.now)
    farmer = await _party(ctx, order.farmer_id)
    ctx.tell(
        farmer,
        "order_expired_farmer",
        ref=order.id,
        listing=order.listing_id,
        qty=buy.order_values(ctx, order)["qty"],
    )
    await tell_buyer_and_reoffer(
        ctx, order, await _party(ctx, order.buyer_id), "order_expired_buyer"
    )


async def expire_overdue(
    uow: UnitOfWork, settings: Settings, catalog: Catalog, order_id: int, now: datetime
) -> list[Reply]:
    """The sweeper's expiry of one order past its deadline, seen from the farmer's side: the
    notices for both sides (none if it was answered or cancelled meanwhile)."""
    order = await uow.orders.get(order_id)
    farmer = await uow.users.get(order.farmer_id) if order is not None else None
    if order is None or farmer is None:
        return []
    ctx = Context.on_behalf_of(farmer, uow, settings, catalog, now)
    await expire(ctx, order)
    return ctx.notices


async def unreachable_farmers(
    uow: UnitOfWork, settings: Settings, catalog: Catalog, notice_ids: list[int], now: datetime
) -> list[Reply]:
    """Orders whose farmer could not be asked (the new-order notices that never reached
    them): each cancelled, its stock back, its buyer told and offered the next; the notices."""
    notices: list[Reply] = []
    for order in await uow.orders.asked_by(notice_ids):
        buyer = await uow.users.get(order.buyer_id)
        if buyer is None or not await uow.orders.transition(order, ("pending",), "cancelled", now):
            continue
        await uow.listings.release(order.listing_id, order.quantity, now)
        ctx = Context.on_behalf_of(buyer, uow, settings, catalog, now)
        await tell_buyer_and_reoffer(ctx, order, buyer, "order_unreachable_buyer")
        notices += ctx.notices
    return notices


async def _party(ctx: Context, user_id: int) -> User:
    """A farmer or buyer of an order (the order's foreign keys: always there)."""
    user = await ctx.uow.users.get(user_id)
    assert user is not None, f"order party {user_id} exists"
    return user
