"""Correcting what was just written: right after a listing is confirmed, "no, 3.5" / "actually
100kg" / "不对，是3块5" / "改成80斤" change it and the reply says what changed (SPEC §3)."""

from __future__ import annotations

from decimal import Decimal

from handlers import dialog, units
from handlers.context import Context
from handlers.messages import Reply
from handlers.sell import LEADING_REF, TRADE, apply_update, set_price, which, written
from handlers.slots import amount, bad_numbers, bare_number, from_parse, money
from storage.models import Listing
from storage.repos import REF_OFFSET


async def on_written(ctx: Context) -> list[Reply] | None:
    """Right after listings are confirmed: "no, 3.5" / "actually 100kg" / "改成80斤" change the one
    meant (asking which when that is unclear). None for anything else, an update of another
    product included: the listings stay as they are and the message is routed as usual."""
    mine = await _written_listings(ctx)
    if not mine or dialog.is_new_request(ctx, None) or await _names_other(ctx, mine):
        return None
    leading = LEADING_REF.match(ctx.parse.text)
    if leading and int(leading.group(1)) not in {x.id for x in mine}:
        return None  # "143 now 100 per kg" right after listing 159 is about listing 143
    product, marker = ctx.parse.first("product"), dialog.is_correction(ctx)
    if product and not marker and all(x.product != product for x in mine):
        return None  # "sold 20 jin apples" right after listing pears is about the apples
    if ctx.parse.intent == "cancel" and not ctx.parse.first("ref") and not product:
        return ctx.say("to_remove", ref=mine[-1].id)  # never a silent "cancelled" of nothing
    if (
        ctx.parse.intent == "affirm"  # "ok"
        and not ctx.parse.entities
        and not marker
        and not await ctx.uow.orders.pending_for_farmer(ctx.user.id)
    ):
        return ctx.say("ok")
    meant = [x for x in mine if x.product == product] or mine
    if ctx.parse.intent == "update_listing" and dialog.confident(ctx) and not marker:
        return await apply_update(ctx, meant[0]) if len(meant) == 1 else which(ctx, meant)
    values = {k: v for k, v in from_parse(ctx).items() if k in TRADE}
    bare = None if {"quantity", "price"} & values.keys() else bare_number(ctx)
    if bare is None and not (values and marker):
        if (
            marker
            and ctx.parse.intent == "deny"
            and not values
            and not await ctx.uow.orders.pending_for_farmer(ctx.user.id)
        ):
            return ctx.say("ask_correction", ref=mine[-1].id)
        return None
    if bare is not None:
        values["price"] = bare  # a bare number after a listing is its price (README)
    return await _correct(ctx, meant[0], values) if len(meant) == 1 else which(ctx, meant)


async def _written_listings(ctx: Context) -> list[Listing]:
    ids = ctx.slots.get("listings") or [ctx.slots.get("listing", 0)]
    found = [await ctx.uow.listings.get(i) for i in ids]
    return [
        x for x in found if x is not None and x.status == "active" and x.farmer_id == ctx.user.id
    ]


async def _names_other(ctx: Context, mine: list[Listing]) -> bool:
    """Whether the message names another of the user's orders or listings ("no 1023" answers
    an order); a number that is no such reference ("no, 150") is a value, not a reference."""
    ref = ctx.parse.first("ref")
    if not ref or int(ref) <= REF_OFFSET or int(ref) in {x.id for x in mine}:
        return False
    order = await ctx.uow.orders.get(int(ref))
    if order is not None:
        return ctx.user.id in (order.buyer_id, order.farmer_id)
    listing = await ctx.uow.listings.get(int(ref))
    return listing is not None and listing.farmer_id == ctx.user.id


async def _correct(ctx: Context, listing: Listing, values: dict[str, str]) -> list[Reply]:
    bad = bad_numbers(ctx)
    if bad:
        slot, reason = next(iter(bad.items()))
        return ctx.say(reason, what=ctx.word(slot))
    changes = []
    if values.get("product") and values["product"] != listing.product:
        changes.append(f"{ctx.product(listing.product)} → {ctx.product(values['product'])}")
        listing.product = values["product"]
    if (quantity := amount(values.get("quantity"))) is not None:
        before = ctx.qty(listing.quantity_total, listing.unit)
        if units.convert(Decimal(1), values.get("unit") or listing.unit, listing.unit) is None:
            return ctx.say(
                "wrong_unit", ref=listing.id, unit=units.unit_name(listing.unit, ctx.lang, 2)
            )
        _reset_total(listing, quantity, values.get("unit"))
        if ctx.qty(listing.quantity_total, listing.unit) != before:
            changes.append(f"{before} → {ctx.qty(listing.quantity_total, listing.unit)}")
    if (price := money(values.get("price"))) is not None:
        before = ctx.price(listing)
        await set_price(ctx, listing, price, values)
        if ctx.price(listing) != before:
            changes.append(f"{before} → {ctx.price(listing)}")
    if not changes:
        return ctx.say("nothing_changed", ref=listing.id)
    listing.updated_at = ctx.now
    written(ctx, listing)
    return ctx.say(
        "listing_corrected",
        ref=listing.id,
        changes="; ".join(changes),
        qty=ctx.qty(listing.quantity_available, listing.unit),
        product=ctx.product(listing.product),
        price=ctx.price(listing),
    )


def _reset_total(listing: Listing, quantity: Decimal, unit: str | None) -> None:
    """The listing's whole quantity was meant to be `quantity`; what orders hold stays held."""
    held = listing.quantity_total - listing.quantity_available
    converted = units.convert(quantity, unit or listing.unit, listing.unit)
    assert converted is not None, "_correct answers wrong_unit for units that do not convert"
    listing.quantity_total = max(converted, held)
    listing.quantity_available = listing.quantity_total - held
