"""Selling: list produce with one question at a time, update, show and remove listings
(corrections of what was just written: handlers/corrections.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal

from handlers import buy, contact, currency, dialog, units
from handlers.context import Context, DomainError
from handlers.messages import Reply
from handlers.slots import (
    amount,
    bad_numbers,
    items,
    loose_number,
    money,
    total_price,
    unit_price_of_total,
    unknown_word,
)
from storage.models import Listing
from storage.repos import REF_OFFSET

SOLD_OUT = (
    "sold out",
    "soldout",
    "none left",
    "nothing left",
    "all gone",
    "all sold",
    "finished",
    "卖完",
    "售罄",
    "卖光",
    "没货",
    "没有了",
    "卖掉了",
    "全卖了",
    "都卖了",
)
# "sold 10kg" takes 10 kg off what is left; "100 more kg" / "又到了100斤" adds; anything else sets.
SOLD_SOME = re.compile(r"(?<![a-z])sold(?!\s*out)(?![a-z])|(?<!不)卖了|卖掉|卖出")
MORE = re.compile(
    r"(?<![a-z])(?:more|another|extra|additional|add)(?![a-z])|又|再来|多了|加了|新到"
)
TRADE = ("product", "quantity", "unit", "price", "currency", "price_unit", "location")


# a new listing --------------------------------------------------------------------------
async def sell(ctx: Context) -> list[Reply]:
    """A new listing (one per product the message names); "I have 100 more kg" adds to one."""
    more = await _listing_to_add_to(ctx)
    if isinstance(more, list):
        return more
    if more is not None:
        return await apply_update(ctx, more)
    found, lead = _read_items(ctx)
    ctx.slots = {**found[0], "_queue": found[1:]} if len(found) > 1 else found[0]
    return await _next(ctx, lead)


def _read_items(ctx: Context) -> tuple[list[dict[str, str]], list[str]]:
    """Each product's details, without numbers that make no sense (each named in lead)."""
    found, lead = items(ctx), []
    for slot, reason in bad_numbers(ctx).items():
        lead.append(ctx.text(reason, what=ctx.word(slot)))
        for item in found:
            item.pop(slot, None)
    if len(found) == 1 and total_price(ctx) and "price" in found[0]:
        found[0]["price_total"] = found[0].pop("price")
    return found, lead


async def on_answer(ctx: Context) -> list[Reply] | None:
    """The answer to the question asked (product, quantity or price); None if it is not one,
    or if the message is a request of its own (routing then starts over with it)."""
    return await dialog.answer(ctx, "sell", TRADE, sell, _next)


async def _next(ctx: Context, lead: list[str] | None = None) -> list[Reply]:
    """Ask for what is missing, else list it (and the next product of the message, if any)."""
    lead, s = list(lead or []), ctx.slots
    if "product" not in s:
        word = unknown_word(ctx)
        if word:
            lead.append(ctx.text("unknown_product_named", word=word))
        return _ask(ctx, lead, "sell.product", "ask_sell_product")
    if amount(s.get("quantity")) is None:
        return _ask(
            ctx, lead, "sell.quantity", "ask_sell_quantity", product=ctx.product(s["product"])
        )
    if "unit" not in s:  # "2 yuan per kg" then "about 70": 70 kg, the unit the user priced in
        s["unit"] = s.get("price_unit") or await currency.default_unit(ctx, s.get("currency"))
    if s.get("price_total") and (total := money(s["price_total"])) is not None:
        quantity = amount(s["quantity"])
        assert quantity is not None, "a missing quantity is asked for first (above)"
        s.pop("price_total")
        s["price"] = str(unit_price_of_total(total, quantity))
        s.setdefault("price_unit", s["unit"])
    if money(s.get("price")) is None:
        return _ask(
            ctx,
            lead,
            "sell.price",
            "ask_sell_price",
            unit=units.unit_name(s["unit"], ctx.lang),
            product=ctx.product(s["product"]),
        )
    return await _list(ctx, lead)


def _ask(ctx: Context, lead: list[str], state: str, key: str, **values: object) -> list[Reply]:
    """The question after any lead lines (the slots, the queue of products included, stay)."""
    return [Reply("\n".join([*lead, ctx.ask(state, key, **values)[0].text]))]


async def _list(ctx: Context, lead: list[str]) -> list[Reply]:
    queue = ctx.slots.get("_queue") or []
    listing = await _create(ctx)
    matched = await buy.match_requests(ctx, listing)
    place = ctx.then(ctx.place(listing.location)) if listing.location else ""
    created = ctx.text(
        "listing_created",
        ref=listing.id,
        qty=ctx.qty(listing.quantity_total, listing.unit),
        product=ctx.product(listing.product),
        price=ctx.price(listing),
        place=place,
    )
    lines = [*lead, created, *matched]
    made = [*ctx.slots.get("_made", []), listing.id]
    if queue:  # the next product of the same message
        ctx.done()
        ctx.slots = {**queue[0], "_queue": queue[1:], "_made": made}
        return [Reply("\n".join([*lines, (await _next(ctx))[0].text]))]
    written(ctx, *made)
    name = await contact.ask_name_once(ctx)
    return [Reply("\n".join([*lines, name] if name else lines))]


def written(ctx: Context, *listings: Listing | int) -> None:
    """Remember the listings just written, so that the next message can correct them."""
    ids = [x if isinstance(x, int) else x.id for x in listings]
    ctx.done()
    ctx.state, ctx.slots = "sell.written", {"listing": ids[-1], "listings": ids}


async def _create(ctx: Context) -> Listing:
    s, now = ctx.slots, ctx.now
    if s.get("location") and not ctx.user.place:
        ctx.user.place = s["location"]
    quantity = amount(s["quantity"])
    listing = Listing(
        id=await ctx.uow.refs.allocate("listing"),
        farmer_id=ctx.user.id,
        product=s["product"],
        quantity_total=quantity,
        quantity_available=quantity,
        unit=s["unit"],
        price=money(s["price"]),
        currency=await currency.currency_for(ctx, s.get("currency")),
        price_unit=s.get("price_unit") or s["unit"],
        location=s.get("location") or ctx.user.place,
        status="active",
        created_at=now,
        updated_at=now,
        expires_at=now + timedelta(days=ctx.market.listing_lifetime_days),
    )
    return await ctx.uow.listings.add(listing)


def which(ctx: Context, listings: list[Listing], action: str = "change") -> list[Reply]:
    """Several listings could be meant: name them and how to say which."""
    items_ = ", ".join(
        f"{x.id} {ctx.qty(x.quantity_available, x.unit)} {ctx.product(x.product)}"
        for x in listings[:5]
    )
    key = "which_listing_ref" if action == "change" else "which_listing_cancel"
    return ctx.say(key, items=items_, ref=listings[-1].id)


async def set_price(
    ctx: Context, listing: Listing, price: Decimal, values: Mapping[str, str | None]
) -> None:
    listing.price = price
    listing.currency = await currency.currency_for(ctx, values.get("currency"), listing)
    listing.price_unit = values.get("price_unit") or listing.price_unit


# updating a listing ---------------------------------------------------------------------
async def update_listing(ctx: Context) -> list[Reply]:
    listing = await _listing_to_update(ctx)
    if isinstance(listing, list):
        return listing
    return await apply_update(ctx, listing)


async def apply_update(ctx: Context, listing: Listing) -> list[Reply]:
    """What is left (set, taken off or added to) and the price, as the message says."""
    bad = bad_numbers(ctx)
    if bad:
        slot, reason = next(iter(bad.items()))
        return ctx.say(reason, what=ctx.word(slot))
    quantity, price = amount(ctx.parse.first("quantity")), money(ctx.parse.first("price"))
    sold_out = any(word in ctx.parse.text.lower() for word in SOLD_OUT) and quantity is None
    if quantity is None and price is None and not sold_out:
        price = money(loose_number(ctx))  # "apples now 3.5"
    if quantity is None and price is None and not sold_out:
        return ctx.say("ask_update")
    if sold_out:
        listing.quantity_available = Decimal(0)
    elif quantity is not None:
        problem = _change_quantity(ctx, listing, quantity, ctx.parse.first("unit"))
        if problem:
            return problem
    if price is not None:
        await set_price(
            ctx, listing, price, {k: ctx.parse.first(k) for k in ("currency", "price_unit")}
        )
    listing.updated_at = ctx.now
    written(ctx, listing)
    return ctx.say(
        "listing_updated",
        ref=listing.id,
        product=ctx.product(listing.product),
        qty=ctx.qty(listing.quantity_available, listing.unit),
        price=ctx.price(listing),
    )


def _change_quantity(
    ctx: Context, listing: Listing, quantity: Decimal, unit: str | None
) -> list[Reply] | None:
    """Set what is left, or take off what was sold, or add what came in; a reply if it can't."""
    text = ctx.parse.text.lower()
    mode = "sub" if SOLD_SOME.search(text) else "add" if MORE.search(text) else "set"
    converted = units.convert(quantity, unit or listing.unit, listing.unit)
    if converted is None:  # 300 kg left of a listing sold by the bag: its price is per bag
        return ctx.say(
            "wrong_unit", ref=listing.id, unit=units.unit_name(listing.unit, ctx.lang, 2)
        )
    if mode == "sub":
        if converted > listing.quantity_available:
            return ctx.say(
                "not_that_much",
                ref=listing.id,
                qty=ctx.qty(listing.quantity_available, listing.unit),
            )
        listing.quantity_available -= converted
    elif mode == "add":
        listing.quantity_available += converted
        listing.quantity_total += converted
    else:  # what is left now
        listing.quantity_available = converted
        listing.quantity_total = max(listing.quantity_total, converted)
    return None


async def _listing_to_add_to(ctx: Context) -> Listing | list[Reply] | None:
    """The listing "I have 100 more kg" / "又到了100斤" adds to, "卖了30斤" takes from or
    "核桃卖掉了" empties (the product's, or the only one; asks which when unclear); None for a
    new listing."""
    text = ctx.parse.text.lower()
    sold_out = any(word in text for word in SOLD_OUT) and not ctx.parse.first("quantity")
    some = (MORE.search(text) or SOLD_SOME.search(text)) and ctx.parse.first("quantity")
    if not (sold_out or some) or ctx.parse.first("price"):
        return None
    product = ctx.parse.first("product")
    listings = await ctx.uow.listings.of_farmer(ctx.user.id, ctx.now, product)
    if not listings:
        return None
    return listings[-1] if len(listings) == 1 else await _listing_to_update(ctx)


LEADING_REF = re.compile(
    r"^\s*(?:#|no\.?\s*|listing\s*)?(\d{3,9})\s*号?\s*(?=now\b|is\b|at\b|only\b|left\b|sold\b|"
    r"price\b|还剩|剩|改成|改为|现在|卖了|卖完|价格|:|：)",
    re.I,
)


async def leading_listing(ctx: Context) -> Listing | None:
    """ "143 now 100 per kg" / "153还剩10斤": a message opening with one of the farmer's listing
    numbers is about that listing, and the number is no price or amount (its entities go)."""
    match = LEADING_REF.match(ctx.parse.text)
    if not match or int(match.group(1)) <= REF_OFFSET:
        return None
    listing = await owned_listing(ctx, int(match.group(1)))  # another's or none: said so
    start, end = match.span(1)
    ctx.parse.entities = [e for e in ctx.parse.entities if e["start"] >= end]
    ctx.parse.text = ctx.parse.text[:start] + " " * (end - start) + ctx.parse.text[end:]
    return listing


async def _listing_to_update(ctx: Context) -> Listing | list[Reply]:
    """The listing meant: by reference, by product, or the farmer's only one."""
    ref = ctx.parse.first("ref")
    if ref:
        return await owned_listing(ctx, int(ref))
    named = await leading_listing(ctx)
    if named is not None:
        return named
    product = ctx.parse.first("product")
    listings = await ctx.uow.listings.of_farmer(ctx.user.id, ctx.now, product)
    if not listings:
        return ctx.say("no_listings")
    if len(listings) > 1 and not product:
        items_ = ", ".join(f"{x.id} {ctx.product(x.product)}" for x in listings[:5])
        example = (
            f"{ctx.product(listings[0].product)} 20 kg"
            if ctx.lang != "zh"
            else f"{ctx.product(listings[0].product)}还剩20斤"
        )
        return ctx.say("which_listing", items=items_, example=example)
    if len(listings) > 1:  # two listings of the product: never guess which one changed
        return which(ctx, listings)
    return listings[-1]


async def owned_listing(ctx: Context, ref: int) -> Listing:
    listing = await ctx.uow.listings.get(ref)
    if listing is None or listing.status != "active":
        raise DomainError("unknown_ref", ref=ref)
    if listing.farmer_id != ctx.user.id and ctx.user.role != "coordinator":
        raise DomainError("not_your_listing", ref=ref)
    return listing


async def my_listings(ctx: Context) -> list[Reply]:
    listings = await ctx.uow.listings.of_farmer(ctx.user.id, ctx.now)
    if not listings:
        return ctx.say("no_listings")
    shown = listings[-5:]  # the newest five; the rest are counted
    lines = [
        ctx.text(
            "listing_line",
            ref=x.id,
            product=ctx.product(x.product),
            price=ctx.price(x),
            qty=ctx.qty(x.quantity_available, x.unit),
        )
        for x in shown
    ]
    if len(listings) > len(shown):
        lines.append(ctx.text("more_listings", n=len(listings) - len(shown)))
    return ctx.say("my_listings", items="\n".join(lines), ref=shown[0].id)
