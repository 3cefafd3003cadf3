"""Buying: ranked offers, choice by number, pending orders, standing requests."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from datetime import timedelta
from decimal import Decimal

from handlers import contact, currency, dialog, texts, units
from handlers.context import ByLanguage, Context, Slots
from handlers.messages import Reply
from handlers.slots import (
    amount,
    bad_numbers,
    bare_number,
    choice_number,
    items,
    only_details,
    unknown_word,
)
from storage.models import BuyRequest, Listing, Order, User
from storage.repos import ListingRow, OfferedRow, OfferRow, UserRow

WANT = ("product", "quantity", "unit", "location")


# How offers are ordered: stock, the buyer's money, distance, currency, price, age.
OfferKey = tuple[int, bool, float, str, Decimal | float, int]


async def buy(ctx: Context) -> list[Reply]:
    """Offers for the first product the message names (one at a time: the others are named)."""
    found = items(ctx)
    lead = [ctx.text(reason, what=ctx.word(slot)) for slot, reason in bad_numbers(ctx).items()]
    ctx.slots = {k: v for k, v in found[0].items() if k in WANT and not (k == "quantity" and lead)}
    if len(found) > 1:
        rest = ", ".join(ctx.product(x["product"]) for x in found[1:] if x.get("product"))
        lead.append(ctx.text("one_at_a_time", product=ctx.product(found[0]["product"]), rest=rest))
    return await _next(ctx, lead)


async def on_answer(ctx: Context) -> list[Reply] | None:
    return await dialog.answer(ctx, "buy", WANT, buy, _next)


async def _next(ctx: Context, lead: list[str] | None = None) -> list[Reply]:
    s, lead = ctx.slots, list(lead or [])
    if "product" not in s:
        word = unknown_word(ctx)
        if word:
            lead.append(ctx.text("unknown_product_named", word=word))
        return _lead(lead, ctx.ask("buy.product", "ask_buy_product"))
    if amount(s.get("quantity")) is None:
        return _lead(
            lead, ctx.ask("buy.quantity", "ask_buy_quantity", product=ctx.product(s["product"]))
        )
    if "unit" not in s:
        s["unit"] = await currency.default_unit(ctx)
    return _lead(lead, await _offer_self(ctx, exclude=()))


def _lead(lead: list[str], replies: list[Reply]) -> list[Reply]:
    return [Reply("\n".join([*lead, replies[0].text]))] if lead else replies


async def _offer_self(ctx: Context, exclude: Collection[int]) -> list[Reply]:
    want: dict[str, str] = {
        k: ctx.slots[k] for k in ("product", "quantity", "unit") if k in ctx.slots
    }
    found = await offers_for(ctx, ctx.user, want, exclude, place=ctx.slots.get("location"))
    if found is None:
        ctx.state, ctx.slots = "buy.standing", {**want, "location": ctx.slots.get("location")}
        return ctx.say("no_offers", product=ctx.product(want["product"]))
    text, ctx.slots = found
    if ctx.words:
        ctx.slots["_words"] = ctx.words
    ctx.state = "buy.choice"
    return [Reply(text)]


async def offers_for(
    ctx: Context,
    buyer: User,
    want: dict[str, str],
    exclude: Collection[int],
    place: str | None = None,
) -> tuple[str, Slots] | None:
    """The best offers as text in the buyer's language plus the buy.choice slots; None if none.
    An offer with less than asked is marked; on SMS, offers are dropped before the call to
    action."""
    listings = await rank(ctx, buyer, want, exclude, place or buyer.place)
    if not listings:
        return None
    lang = ctx.lang_of(buyer) if buyer.id != ctx.user.id else ctx.lang
    farmers = {i: await _user_row(ctx, i) for i in {x.farmer_id for x in listings}}
    lines = [
        _offer_line(ctx, want, n, x, farmers[x.farmer_id], lang) for n, x in enumerate(listings, 1)
    ]
    name = (
        ctx.product(want["product"], lang)
        if buyer.id == ctx.user.id
        else ctx.catalog.product_name(want["product"], lang)
    )
    text, shown = ctx.fit_list(
        buyer.channel,
        lambda kept: texts.t(
            "offers",
            lang,
            product=name,
            Product=name[:1].upper() + name[1:],
            items="\n".join(kept),
        ),
        lines,
    )
    slots: Slots = {
        **want,
        "offers": [[x.id, str(x.quantity_available)] for x in listings[:shown]],
        "_ask": ["pick_number", {"n": str(shown)}],
    }
    return text, slots


def _offer_line(
    ctx: Context, want: dict[str, str], n: int, x: OfferRow, farmer: UserRow, lang: str
) -> str:
    need = units.convert(Decimal(want["quantity"]), want["unit"], x.unit)
    short = need is not None and x.quantity_available < need
    return texts.t(
        "offer_line_short" if short else "offer_line",
        lang,
        n=n,
        qty=units.qty(x.quantity_available, x.unit, lang),
        price=units.unit_price(x.price, x.currency, x.price_unit, lang),
        where=_where(ctx, x, farmer, lang),
    )


def _where(ctx: Context, listing: OfferRow, farmer: UserRow, lang: str) -> str:
    """', Wudu 王大伯' — where the produce is and who sells it, as far as known."""
    parts = " ".join(p for p in (ctx.catalog.place_name(listing.location, lang), farmer.name) if p)
    return ("，" if lang == "zh" else ", ") + parts if parts else ""


async def rank(
    ctx: Context, buyer: User, want: dict[str, str], exclude: Collection[int], place: str | None
) -> list[OfferRow]:
    """Same product; enough stock first, then nearest, then cheapest (SPEC §2). Light rows with
    the listing columns an offer shows (repos.CANDIDATES), not ORM objects."""
    need = Decimal(want["quantity"])
    found = await ctx.uow.listings.candidates(
        want["product"],
        ctx.now,
        buyer.id,
        want["unit"],
        need,
        units.convert(need, want["unit"], "kg"),
        k=ctx.market.max_offers + len(exclude),
    )  # an excluded listing may take a place in its group
    candidates = [x for x in found if x.id not in exclude]
    key = offer_key(ctx, want, place, currency.user_currency(ctx, buyer, place))
    return sorted(candidates, key=key)[: ctx.market.max_offers]


def offer_key(
    ctx: Context, want: dict[str, str], place: str | None, money_of: str | None = None
) -> Callable[[OfferRow], OfferKey]:
    """The order of offers: enough stock first, then in the buyer's money (an Indian buyer is
    not sent to a yuan listing first), then nearest, then cheapest, then oldest."""
    need = Decimal(want["quantity"])
    origin = _coords(ctx, place)
    money_of = money_of or ctx.market.currency

    def key(x: OfferRow) -> OfferKey:
        have = units.convert(need, want["unit"], x.unit)
        stock = 1 if have is None else (0 if x.quantity_available >= have else 2)
        return (
            stock,
            x.currency != money_of,
            _distance(ctx, origin, x.location),
            x.currency,
            _comparable(ctx, x),
            x.id,
        )

    return key


def _coords(ctx: Context, place: str | None) -> tuple[float, float] | None:
    """Where a gazetteer place is, when the place is known and has coordinates."""
    known = ctx.catalog.places.get(place) if place is not None else None
    return known.coords if known is not None else None


def _distance(ctx: Context, origin: tuple[float, float] | None, location: str | None) -> float:
    target = _coords(ctx, location)
    if origin is None or target is None:
        return math.inf
    (lat1, lon1), (lat2, lon2) = (
        (math.radians(p[0]), math.radians(p[1])) for p in (origin, target)
    )
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 6371 * 2 * math.asin(math.sqrt(h))


def _comparable(ctx: Context, listing: OfferRow) -> Decimal | float:
    """The price per display unit (compared only within one currency: the key puts it first)."""
    per = units.price_per(listing.price, listing.price_unit, ctx.market.display_unit)
    return per if per is not None else math.inf


async def on_choice(ctx: Context) -> list[Reply] | None:
    """The buyer's pick ("2", "two", "#2", "第二个"); one with less than asked is confirmed
    first."""
    number, offers = choice_number(ctx.parse.text), ctx.slots.get("offers", [])
    if number is None:
        return await _new_amount(ctx)
    if not 1 <= number <= len(offers):
        return ctx.say("only_offers" if len(offers) > 1 else "only_offer", n=len(offers))
    listing_id, shown = offers[number - 1]
    listing = await _listing_row(ctx, listing_id)
    need = units.convert(Decimal(ctx.slots["quantity"]), ctx.slots["unit"], listing.unit)
    if need is None:
        ctx.slots["listing"] = listing_id
        return ctx.ask(
            "buy.count",
            "ask_count_quantity",
            unit=units.unit_name(listing.unit, ctx.lang, 2),
            qty=ctx.qty(listing.quantity_available, listing.unit),
        )
    if need > Decimal(shown):
        return _confirm_smaller(ctx, listing, Decimal(shown), number)
    return await place_order(ctx, listing, need)


async def _new_amount(ctx: Context) -> list[Reply] | None:
    """ "actually 50kg" / "改成五十斤" while choosing: the offers again for the new amount."""
    same = ctx.parse.first("product") in (None, ctx.slots.get("product"))
    if not (
        ctx.parse.first("quantity") and same and (only_details(ctx) or dialog.is_correction(ctx))
    ):
        return None
    ctx.slots.update(
        quantity=ctx.parse.first("quantity"), unit=ctx.parse.first("unit") or ctx.slots["unit"]
    )
    lead = ctx.text(
        "slot_changed", what=ctx.qty(Decimal(ctx.slots["quantity"]), ctx.slots["unit"])
    )
    return _lead([lead], await _offer_self(ctx, exclude=()))


def _confirm_smaller(ctx: Context, listing: OfferRow, have: Decimal, number: int) -> list[Reply]:
    """The offer holds less than asked: say so and ask before ordering what it has."""
    total = units.line_total(have, listing.unit, listing.price, listing.price_unit)
    ctx.slots["partial"] = [listing.id, str(have), number]
    want = ctx.qty(Decimal(ctx.slots["quantity"]), ctx.slots["unit"])
    return ctx.ask(
        "buy.smaller",
        "confirm_smaller",
        n=number,
        qty=ctx.qty(have, listing.unit),
        want=want,
        total=units.money(total, listing.currency) if total is not None else ctx.price(listing),
    )


async def on_smaller(ctx: Context) -> list[Reply] | None:
    """yes: order what the offer has; no: back to the offers; another number: that offer."""
    if choice_number(ctx.parse.text) is not None:
        ctx.state = "buy.choice"
        return await on_choice(ctx)
    if ctx.parse.intent == "affirm":
        listing_id, have, _ = ctx.slots["partial"]
        return await place_order(ctx, await _listing_row(ctx, listing_id), Decimal(have))
    if ctx.parse.intent == "deny":
        ctx.slots.pop("partial", None)
        ctx.state = "buy.choice"
        ctx.slots["_ask"] = ["pick_number", {"n": str(len(ctx.slots.get("offers", [])))}]
        return ctx.say("pick_another", n=len(ctx.slots.get("offers", [])))
    return None


async def on_count(ctx: Context) -> list[Reply] | None:
    """How many of an offer's units: only a number answers ("buy 10 kg kale" is a request)."""
    if not only_details(ctx) or ctx.parse.first("product") not in (None, ctx.slots.get("product")):
        return None
    value = amount(ctx.parse.first("quantity") or bare_number(ctx))
    if value is None:
        return None
    return await place_order(ctx, await _listing_row(ctx, ctx.slots["listing"]), value)


async def place_order(ctx: Context, listing: OfferedRow, quantity: Decimal) -> list[Reply]:
    """Reserve the stock atomically, then record the order and ask the farmer (listing: a
    Listing or a light row of its columns, read only). A farmer no message can reach here
    gets no order."""
    farmer = await _user_row(ctx, listing.farmer_id)
    if not ctx.reaches(farmer.channel):
        return _unreachable(ctx, listing.id, farmer)
    if not await ctx.uow.listings.reserve(listing.id, quantity, ctx.now):
        reply = ctx.text("sold_out", qty=ctx.qty(quantity, listing.unit))
        return [Reply(reply + "\n" + (await _offer_self(ctx, exclude=()))[0].text)]
    timeout = timedelta(hours=ctx.market.order_accept_timeout_hours)
    order = await ctx.uow.orders.add(
        Order(
            id=await ctx.uow.refs.allocate("order"),
            listing_id=listing.id,
            buyer_id=ctx.user.id,
            farmer_id=listing.farmer_id,
            product=listing.product,
            quantity=quantity,
            unit=listing.unit,
            price=listing.price,
            currency=listing.currency,
            price_unit=listing.price_unit,
            status="pending",
            created_at=ctx.now,
            expires_at=ctx.now + timeout,
        )
    )
    ctx.tell(
        farmer,
        "order_request",
        ref=order.id,
        buyer=ctx.name_of(ctx.user),
        **order_values(ctx, order),
    )
    asked_unit = ctx.slots.get("unit")
    ctx.done()
    mine = {k: v(ctx.lang) for k, v in order_values(ctx, order).items()} | {
        "product": ctx.product(order.product)
    }
    if asked_unit and (as_asked := units.convert(quantity, listing.unit, asked_unit)) is not None:
        mine["qty"] = ctx.qty(as_asked, asked_unit)  # as the buyer said it
    reply = ctx.text(
        "order_created",
        ref=order.id,
        farmer=ctx.name_of(farmer, "unnamed_farmer")(ctx.lang),
        **mine,
    )
    name = await contact.ask_name_once(ctx)
    return [Reply(f"{reply}\n{name}" if name else reply)]


def _unreachable(ctx: Context, listing_id: int, farmer: UserRow) -> list[Reply]:
    """The offer's farmer is on a channel this deployment cannot send to: say so, and let the
    buyer pick another offer when there is one."""
    offers = ctx.slots.get("offers", [])
    n = next((i for i, (lid, _) in enumerate(offers, 1) if lid == listing_id), 1)
    name = ctx.aside(farmer.name) if farmer.name else ""
    sorry = ctx.text("farmer_unreachable", n=n, name=name)
    if len(offers) < 2:
        ctx.done()
        return [Reply(sorry)]
    ctx.state = "buy.choice"
    for key in ("partial", "listing"):
        ctx.slots.pop(key, None)
    ctx.slots["_ask"] = ["pick_number", {"n": str(len(offers))}]
    space = "" if ctx.lang == "zh" else " "
    return [Reply(sorry + space + ctx.text("pick_number", n=len(offers)))]


def order_values(ctx: Context, order: Order) -> dict[str, ByLanguage]:
    """Quantity, product and total of an order, each as a function of the reader's language."""
    total = units.line_total(order.quantity, order.unit, order.price, order.price_unit)
    return {
        "qty": lambda lang: units.qty(order.quantity, order.unit, lang),
        "product": lambda lang: ctx.catalog.product_name(order.product, lang),
        "total": lambda lang: (
            units.money(total, order.currency)
            if total is not None
            else units.unit_price(order.price, order.currency, order.price_unit, lang)
        ),
    }


async def on_standing(ctx: Context) -> list[Reply] | None:
    """ "Tell me when some is listed?" — yes saves a standing request."""
    if ctx.parse.intent == "deny":
        ctx.done()
        return ctx.say("ok")
    if ctx.parse.intent != "affirm":
        return None
    s = ctx.slots
    await ctx.uow.requests.add(
        BuyRequest(
            buyer_id=ctx.user.id,
            product=s["product"],
            quantity=amount(s.get("quantity")),
            unit=s.get("unit"),
            location=s.get("location") or ctx.user.place,
            status="open",
            created_at=ctx.now,
            expires_at=ctx.now + timedelta(days=ctx.market.listing_lifetime_days),
        )
    )
    ctx.done()
    return ctx.say("request_saved", product=ctx.product(s["product"]))


async def match_requests(ctx: Context, listing: Listing) -> list[str]:
    """A new listing meets the standing requests for its product: both sides are told.

    Returns the lines for the farmer, who is the sender and gets them in the reply.
    """
    lines = []
    for request in await ctx.uow.requests.open_for(listing.product, ctx.now):
        if request.buyer_id == listing.farmer_id:
            continue
        request.status, request.matched_listing_id = "matched", listing.id
        buyer = await ctx.uow.users.get(request.buyer_id)
        assert buyer is not None, "a standing request's buyer is a user (a foreign key)"
        want = {
            "product": listing.product,
            "quantity": str(request.quantity or listing.quantity_available),
            "unit": request.unit or listing.unit,
        }
        await offer_to(ctx, buyer, want, exclude=())
        wanted = (
            ctx.aside(ctx.qty(request.quantity, request.unit))
            if request.quantity and request.unit
            else ""
        )
        named = ctx.aside(buyer.name) if buyer.name else ""
        lines.append(
            ctx.text(
                "request_matched_farmer",
                ref=listing.id,
                want=wanted,
                product=ctx.product(listing.product),
                buyer=named,
            )
        )
    return lines


async def offer_to(
    ctx: Context, buyer: User, want: dict[str, str], exclude: Collection[int]
) -> bool:
    """Push offers to another buyer and open their choice question; False if none exist."""
    found = await offers_for(ctx, buyer, want, exclude)
    if found is None:
        return False
    text, slots = found
    await ctx.uow.conversations.save(buyer.id, "buy.choice", slots, ctx.now)
    ctx.push(buyer, text)
    return True


async def _user_row(ctx: Context, user_id: int) -> UserRow:
    """A listing's farmer (the listing's foreign key: always there)."""
    row = await ctx.uow.users.row(user_id)
    assert row is not None, f"user {user_id} exists"
    return row


async def _listing_row(ctx: Context, listing_id: int) -> ListingRow:
    """A listing the buyer was offered (listings are closed, never deleted)."""
    row = await ctx.uow.listings.row(listing_id)
    assert row is not None, f"listing {listing_id} exists"
    return row
