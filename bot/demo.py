"""`farmchat demo`: sample farmers, listings and coordinator prices to try the bot with."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from bot.channels.console.channel import CHANNEL
from bot.gateway import utcnow
from storage.models import Listing, MarketPrice
from storage.uow import Database

FARMERS = [
    # address, name, place, language, listings: (product, qty, unit, price, currency, per)
    (
        "+8613800000011",
        "王大伯",
        "wudu",
        "zh",
        [
            ("apple", 500, "jin", "3.00", "CNY", "jin"),
            ("walnut", 200, "jin", "12.00", "CNY", "jin"),
        ],
    ),
    (
        "+8613800000012",
        "李娟",
        "chengxian",
        "zh",
        [("apple", 300, "jin", "3.60", "CNY", "jin"), ("kiwi", 400, "jin", "4.50", "CNY", "jin")],
    ),
    (
        "+8613800000013",
        "Zhang Wei",
        "tianshui",
        "en",
        [("apple", 2, "ton", "6.40", "CNY", "kg"), ("potato", 1000, "kg", "1.20", "CNY", "kg")],
    ),
    (
        "+254700000011",
        "Wanjiku",
        "nakuru",
        "en",
        [("potato", 40, "bag", "2500", "KES", "bag"), ("kale", 100, "kg", "30", "KES", "kg")],
    ),
]
COORDINATOR = ("+8613900000000", "陇南电商办", "longnan", "zh")
PRICES = [
    ("apple", "wudu", "4.20", "CNY", "kg"),
    ("apple", "chengxian", "4.00", "CNY", "kg"),
    ("walnut", "wudu", "24.00", "CNY", "kg"),
    ("potato", "nakuru", "2400", "KES", "bag"),
]


async def load_demo(db: Database) -> int:
    """Create the sample data once; return the number of listings created (0 if present)."""
    now = utcnow()
    async with db.uow() as uow:
        if await uow.users.by_address(CHANNEL, FARMERS[0][0]):
            return 0
        made = 0
        for address, name, place, lang, listings in FARMERS:
            farmer = await uow.users.get_or_create(CHANNEL, address, now, "user")
            farmer.name, farmer.place, farmer.language = name, place, lang
            for product, qty, unit, price, currency, per in listings:
                await uow.listings.add(
                    Listing(
                        id=await uow.refs.allocate("listing"),
                        farmer_id=farmer.id,
                        product=product,
                        quantity_total=Decimal(qty),
                        quantity_available=Decimal(qty),
                        unit=unit,
                        price=Decimal(price),
                        currency=currency,
                        price_unit=per,
                        location=place,
                        status="active",
                        created_at=now,
                        updated_at=now,
                        expires_at=now + timedelta(days=14),
                    )
                )
                made += 1
        address, name, place, lang = COORDINATOR
        coordinator = await uow.users.get_or_create(CHANNEL, address, now, "coordinator")
        coordinator.name, coordinator.place, coordinator.language = name, place, lang
        for product, place, price, currency, unit in PRICES:
            await uow.prices.add(
                MarketPrice(
                    product=product,
                    location=place,
                    price=Decimal(price),
                    currency=currency,
                    unit=unit,
                    published_by=coordinator.id,
                    published_at=now,
                )
            )
        await uow.commit()
    return made
