"""`farmchat demo`: sample farmers, listings and coordinator prices to try the bot with."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple
from urllib.parse import urlsplit

from bot.channels.console.channel import CHANNEL
from bot.config import Settings
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


CHANNELS = (CHANNEL, "sms", "whatsapp", "wechat")  # where the sample people can be


class Loaded(NamedTuple):
    made: int  # listings created now (0: they were there)
    channel: str  # the channel the sample people are on


def _offers(rows: list[tuple]) -> list[Offer]:
    return [Offer(p, Decimal(q), u, Decimal(price), c, per) for p, q, u, price, c, per in rows]


def address(channel: str, phone: str) -> str:
    """A sample person's address on a channel: the phone number, or on WeChat an OpenID."""
    return f"oDemo{phone.lstrip('+')}" if channel == "wechat" else phone


def _person(channel: str, who: Sequence[str]) -> Person:
    phone, *rest = who
    return Person(address(channel, phone), *rest)


async def loaded_on(db: Database) -> str | None:
    """The channel the sample data is on, if it was loaded."""
    async with db.uow() as uow:
        for channel in CHANNELS:
            if await uow.users.by_address(channel, address(channel, FARMERS[0][0])):
                return channel
    return None


async def load_demo(db: Database, channel: str = CHANNEL) -> Loaded:
    """Create the sample data once, its people on `channel` (where it is already, it stays)."""
    there = await loaded_on(db)
    if there is not None:
        return Loaded(0, there)
    farmers = [(_person(channel, who), _offers(listings)) for *who, listings in FARMERS]
    quotes = [Quote(p, place, Decimal(price), c, u) for p, place, price, c, u in PRICES]
    coordinator = _person(channel, COORDINATOR)
    async with db.uow() as uow:
        made = await samples.load(uow, channel, farmers, coordinator, quotes, utcnow())
        await uow.commit()
    return Loaded(made, channel)


def farmers_on(channel: str) -> str:
    """'+8613800000011 王大伯, …': the sample farmers as their addresses on the channel."""
    return ", ".join(f"{address(channel, phone)} {name}" for phone, name, *_ in FARMERS)


def channel_for(settings: Settings) -> str:
    """Where sample people can be told of orders: SMS when Twilio is configured, else WeChat
    when it is, else the console."""
    if settings.twilio.enabled:
        return "sms"
    return "wechat" if settings.wechat.enabled else CHANNEL


def real_api(settings: Settings, channel: str) -> str | None:
    """The provider API that messages to sample people on the channel would go through, when
    it is not on this machine (a local fake is)."""
    base = {"sms": settings.twilio.api_base, "whatsapp": settings.twilio.api_base}.get(
        channel, settings.wechat.api_base if channel == "wechat" else ""
    )
    host = urlsplit(base).hostname if base else None
    if host is None or host == "localhost":
        return None
    try:
        return None if ipaddress.ip_address(host).is_loopback else base
    except ValueError:  # a name: the provider's
        return base


def where(channel: str) -> str:
    """What a user needs to know to play the sample farmers."""
    if channel == CHANNEL:
        return (
            "The farmers are console users: answer for one with "
            f"`farmchat chat --as {FARMERS[0][0]}` (or /as {FARMERS[0][0]} in a chat)."
        )
    return f"The farmers are {channel} users, told of orders by {channel}: {farmers_on(channel)}."
