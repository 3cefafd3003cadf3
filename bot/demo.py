"""`farmchat demo`: sample farmers, listings and coordinator prices to try the bot with."""

from __future__ import annotations

from decimal import Decimal

from bot.channels.console.channel import CHANNEL
from bot.gateway import utcnow
from storage import samples
from storage.samples import Offer, Person, Quote
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


def _offers(rows: list[tuple]) -> list[Offer]:
    return [Offer(p, Decimal(q), u, Decimal(price), c, per) for p, q, u, price, c, per in rows]


async def load_demo(db: Database) -> int:
    """Create the sample data once; return the number of listings created (0 if present)."""
    farmers = [(Person(*who), _offers(listings)) for *who, listings in FARMERS]
    quotes = [Quote(p, place, Decimal(price), c, u) for p, place, price, c, u in PRICES]
    async with db.uow() as uow:
        made = await samples.load(uow, CHANNEL, farmers, Person(*COORDINATOR), quotes, utcnow())
        await uow.commit()
    return made
