"""The settings handlers read, as protocols: the application's configuration (bot/config.py)
provides them, and handlers never import the application."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class MarketRules(Protocol):
    @property
    def currency(self) -> str: ...
    @property
    def display_unit(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def order_accept_timeout_hours(self) -> float: ...
    @property
    def listing_lifetime_days(self) -> float: ...
    @property
    def max_offers(self) -> int: ...


class Understanding(Protocol):
    @property
    def confidence_threshold(self) -> float: ...
    @property
    def ambiguity_margin(self) -> float: ...


class BroadcastRules(Protocol):
    @property
    def digest_time(self) -> str: ...
    @property
    def cost_per_sms_segment(self) -> float: ...
    @property
    def cost_per_message(self) -> Mapping[str, float]: ...
    @property
    def cost_currency(self) -> str: ...


class Place(Protocol):
    @property
    def currency(self) -> str | None: ...


class Settings(Protocol):
    """What a handler may read of the configuration."""

    @property
    def market(self) -> MarketRules: ...
    @property
    def nlu(self) -> Understanding: ...
    @property
    def broadcast(self) -> BroadcastRules: ...
    @property
    def places(self) -> Mapping[str, Place]: ...


def default_lang(settings: Settings) -> str:
    """Chinese where the market trades in yuan, else English."""
    return "zh" if settings.market.currency == "CNY" else "en"
