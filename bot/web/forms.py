"""Reading posted forms: every value checked against what it may be, with the reason a bad
one is refused, so a page answers 400 with words instead of failing."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from bot.config import CURRENCIES
from handlers import units
from nlu.catalog import Catalog

PRICE_UNITS = (*units.KG_PER_UNIT, "litre", "bag", "box", "crate", "piece")
CHANNELS = ("sms", "whatsapp", "wechat")
MAX_PRICE = Decimal("1000000")
MAX_TEXT = 1000


class FormError(Exception):
    """A value a form may not have; the message names the field."""


def field(form: Mapping[str, object], name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def product(catalog: Catalog, value: str, required: bool = True) -> str | None:
    if not value and not required:
        return None
    if value not in catalog.products:
        raise FormError("product")
    return value


def place(catalog: Catalog, value: str) -> str | None:
    if not value:
        return None
    if value not in catalog.places:
        raise FormError("place")
    return value


def price(value: str) -> Decimal:
    try:
        amount = Decimal(value.replace(",", "."))
    except InvalidOperation:
        raise FormError("price") from None
    if not amount.is_finite() or amount <= 0 or amount >= MAX_PRICE:
        raise FormError("price")
    return amount.quantize(Decimal("0.01"))


def choice(value: str, allowed: tuple[str, ...], name: str, default: str | None = None) -> str:
    if not value and default is not None:
        return default
    if value not in allowed:
        raise FormError(name)
    return value


def currency(value: str, default: str) -> str:
    return choice(value, CURRENCIES, "currency", default)


def text(value: str, name: str, required: bool = False) -> str:
    if required and not value:
        raise FormError(name)
    if len(value) > MAX_TEXT:
        raise FormError(name)
    return value


def local_time(value: str, timezone: str, now: datetime) -> datetime | None:
    """A datetime-local input ('2026-12-03T18:00') in the market's zone; None when empty. A
    time already past is refused rather than sent at once by surprise."""
    if not value:
        return None
    try:
        local = datetime.fromisoformat(value)
    except ValueError:
        raise FormError("send_at") from None
    if local.tzinfo is not None:
        raise FormError("send_at")
    when = local.replace(tzinfo=ZoneInfo(timezone))
    if when <= now:
        raise FormError("send_at")
    return when
