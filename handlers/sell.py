"""Selling: list produce with one question at a time, update, show and remove listings."""

from __future__ import annotations

from datetime import timedelta

from bot.messages import Reply
from handlers import buy, contact, currency, units
from handlers.context import Context, DomainError
from handlers.slots import amount, from_parse, merge, money, number_answer
from storage.models import Listing

SOLD_OUT = ("sold out", "soldout", "none left", "卖完", "售罄", "卖光", "没货", "没有了")


async def sell(ctx: Context) -> list[Reply]:
    ctx.slots = from_parse(ctx)
    return await _next(ctx)


async def on_answer(ctx: Context) -> list[Reply] | None:
    """Read the answer to the question asked (product, quantity or price), then go on."""
    asked = ctx.state.split(".")[1]
    new = from_parse(ctx)
    if asked == "product" and "product" not in new:
        return None
    if asked in ("quantity", "price"):
        value = number_answer(ctx, asked)
        if value is None:
            return None
        new.pop("quantity" if asked == "price" else "price", None)
        new[asked] = value
        if asked == "price" and "unit" in new:
            new.setdefault("price_unit", new.pop("unit"))
    merge(ctx, new)
    return await _next(ctx)


async def _next(ctx: Context) -> list[Reply]:
    s = ctx.slots
    if "product" not in s:
        return ctx.ask("sell.product", "ask_sell_product")
    if amount(s.get("quantity")) is None:
        return ctx.ask("sell.quantity", "ask_sell_quantity", product=ctx.product(s["product"]))
    s.setdefault("unit", ctx.market.display_unit)
    if money(s.get("price")) is None:
        return ctx.ask("sell.price", "ask_sell_price", unit=units.unit_name(s["unit"], ctx.lang))
    listing = await _create(ctx)
    ctx.done()
    matched = await buy.match_requests(ctx, listing)
    place = f", {ctx.place(listing.location)}" if listing.location else ""
    created = ctx.text("listing_created", ref=listing.id, qty=ctx.qty(listing.quantity_total, listing.unit),
                       product=ctx.product(listing.product), price=ctx.price(listing), place=place)
    return [Reply("\n".join([created, *matched]))]


async def _create(ctx: Context) -> Listing:
    s, now = ctx.slots, ctx.now
    if s.get("location") and not ctx.user.place:
        ctx.user.place = s["location"]
    quantity = amount(s["quantity"])
    listing = Listing(
        id=await ctx.uow.refs.allocate("listing"), farmer_id=ctx.user.id, product=s["product"],
        quantity_total=quantity, quantity_available=quantity, unit=s["unit"],
        price=money(s["price"]), currency=await currency.currency_for(ctx, s.get("currency")),
        price_unit=s.get("price_unit") or s["unit"], location=s.get("location") or ctx.user.place,
        status="active", created_at=now, updated_at=now,
        expires_at=now + timedelta(days=ctx.market.listing_lifetime_days),
    )
    return await ctx.uow.listings.add(listing)


async def update_listing(ctx: Context) -> list[Reply]:
    listing = await _listing_to_update(ctx)
    if isinstance(listing, list):
        return listing
    quantity, price = amount(ctx.parse.first("quantity")), money(ctx.parse.first("price"))
    sold_out = any(word in ctx.parse.text.lower() for word in SOLD_OUT) and quantity is None
    if quantity is None and price is None and not sold_out:
        return ctx.say("ask_update")
    if quantity is not None or sold_out:
        _set_quantity(listing, quantity, ctx.parse.first("unit"))
    if price is not None:
        listing.price = price
        listing.currency = await currency.currency_for(ctx, ctx.parse.first("currency"), listing)
        listing.price_unit = ctx.parse.first("price_unit") or listing.price_unit
    listing.updated_at = ctx.now
    return ctx.say("listing_updated", ref=listing.id, product=ctx.product(listing.product),
                   qty=ctx.qty(listing.quantity_available, listing.unit), price=ctx.price(listing))


def _set_quantity(listing: Listing, quantity, unit: str | None) -> None:
    """The farmer says what is left now; mass units convert, other units replace."""
    if quantity is None:
        listing.quantity_available = 0
        return
    converted = units.convert(quantity, unit or listing.unit, listing.unit)
    if converted is None:
        converted, listing.unit = quantity, unit
    listing.quantity_available = converted
    listing.quantity_total = max(listing.quantity_total, converted)


async def _listing_to_update(ctx: Context) -> Listing | list[Reply]:
    """The listing meant: by reference, by product, or the farmer's only one."""
    ref = ctx.parse.first("ref")
    if ref:
        return await owned_listing(ctx, int(ref))
    product = ctx.parse.first("product")
    listings = await ctx.uow.listings.of_farmer(ctx.user.id, ctx.now, product)
    if not listings:
        return ctx.say("no_listings")
    if len(listings) > 1 and not product:
        items = ", ".join(f"{x.id} {ctx.product(x.product)}" for x in listings[:5])
        example = f"{ctx.product(listings[0].product)} 20 kg" if ctx.lang != "zh" else \
            f"{ctx.product(listings[0].product)}还剩20斤"
        return ctx.say("which_listing", items=items, example=example)
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
    lines = [ctx.text("listing_line", ref=x.id, product=ctx.product(x.product), price=ctx.price(x),
                      qty=ctx.qty(x.quantity_available, x.unit)) for x in listings[:5]]
    return ctx.say("my_listings", items="\n".join(lines), ref=listings[0].id)
