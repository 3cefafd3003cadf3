"""Sample farmers, listings and market prices written once (`farmchat demo`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from storage.models import Listing, MarketPrice, User

if TYPE_CHECKING:
    from storage.uow import UnitOfWork

LISTING_DAYS = 14


class Offer(NamedTuple):
    product: str
    quantity: Decimal
    unit: str
    price: Decimal
    currency: str
    price_unit: str


class Person(NamedTuple):
    address: str
    name: str
    place: str
    language: str


class Quote(NamedTuple):
    """A coordinator's published price for a product at a market."""

    product: str
    location: str
    price: Decimal
    currency: str
    unit: str


async def load(
    uow: UnitOfWork,
    channel: str,
    farmers: list[tuple[Person, list[Offer]]],
    coordinator: Person,
    quotes: list[Quote],
    now: datetime,
) -> int:
    """Write the samples in uow (not committed) unless the first farmer is there already;
    the number of listings written."""
    if not farmers or await uow.users.by_address(channel, farmers[0][0].address):
        return 0
    made = 0
    for person, offers in farmers:
        farmer = await _person(uow, channel, person, "user", now)
        for offer in offers:
            await uow.listings.add(await _listing(uow, farmer, offer, now))
            made += 1
    publisher = await _person(uow, channel, coordinator, "coordinator", now)
    for quote in quotes:
        await uow.prices.add(
            MarketPrice(**quote._asdict(), published_by=publisher.id, published_at=now)
        )
    return made


async def _person(uow: UnitOfWork, channel: str, person: Person, role: str, now: datetime) -> User:
    user = await uow.users.get_or_create(channel, person.address, now, role)
    user.name, user.place, user.language = person.name, person.place, person.language
    return user


async def _listing(uow: UnitOfWork, farmer: User, offer: Offer, now: datetime) -> Listing:
    return Listing(
        id=await uow.refs.allocate("listing"),
        farmer_id=farmer.id,
        product=offer.product,
        quantity_total=offer.quantity,
        quantity_available=offer.quantity,
        unit=offer.unit,
        price=offer.price,
        currency=offer.currency,
        price_unit=offer.price_unit,
        location=farmer.place,
        status="active",
        created_at=now,
        updated_at=now,
        expires_at=now + timedelta(days=LISTING_DAYS),
    )
