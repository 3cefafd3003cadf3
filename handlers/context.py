"""What a handler gets: the message, the user, the parse, storage and a way to reply."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from handlers import texts, units
from handlers.messages import InboundMessage, Reply
from handlers.settings import MarketRules, Settings, default_lang
from nlu.catalog import Catalog
from nlu.shapes import Entity, IntentScore, ParseResult
from storage.models import User
from storage.repos import UserRow
from storage.uow import UnitOfWork

# The open question's details as the conversation store keeps them: JSON values (strings,
# numbers, lists and objects of them) under keys each capability names for itself.
Slots = dict[str, Any]
# A text that differs by the reader's language (a name, an amount), rendered for one language.
ByLanguage = Callable[[str], str]


class Priced(Protocol):
    """What a price is written from: a Listing, or a light row of its columns."""

    @property
    def price(self) -> Decimal: ...
    @property
    def currency(self) -> str: ...
    @property
    def price_unit(self) -> str: ...


class DomainError(Exception):
    """A rule of the market was broken; the gateway answers with the text of `key`."""

    def __init__(self, key: str, **values: object):
        super().__init__(key)
        self.key, self.values = key, values


@dataclass
class Parse:
    """The NLU result, with helpers to read canonical entity values."""

    text: str
    intent: str
    confidence: float
    entities: list[Entity] = field(default_factory=list)
    ranking: list[IntentScore] = field(default_factory=list)
    margin: float = 1.0  # over the runner-up intent

    @classmethod
    def from_nlu(cls, result: ParseResult) -> Parse:
        ranking = list(result.get("intent_ranking", []))
        confidence = result["intent"]["confidence"]
        runner_up = ranking[1]["confidence"] if len(ranking) > 1 else 0.0
        return cls(
            text=result["text"],
            intent=result["intent"]["name"],
            confidence=confidence,
            entities=list(result.get("entities", [])),
            ranking=ranking,
            margin=result["intent"].get("margin", confidence - runner_up),
        )

    def all(self, entity: str) -> list[str]:
        return [e["value"] for e in self.entities if e["entity"] == entity]

    def first(self, entity: str) -> str | None:
        values = self.all(entity)
        return values[0] if values else None


@dataclass(kw_only=True)
class Scope:
    """What work for users reads and writes with or without a conversation: storage,
    settings, the catalog, the time, the language its texts are in, and the notices it queues
    for users (a price digest has a scope and no conversation)."""

    uow: UnitOfWork
    settings: Settings
    catalog: Catalog
    now: datetime
    lang: str
    notices: list[Reply] = field(default_factory=list)
    # product key -> the known name the user wrote for it ("maize" for corn), for replies to them
    words: dict[str, str] = field(default_factory=dict)

    # texts and notices -------------------------------------------------------------------
    def text(self, key: str, **values: object) -> str:
        return texts.t(key, self.lang, **values)

    def lang_of(self, user: UserRow) -> str:
        return user.language or self.default_lang

    def tell(self, user: UserRow, key: str, **values: object) -> None:
        """Queue a notification to another user, in that user's language.

        A value may be a function of the language, for names and amounts that differ by it.
        """
        lang = self.lang_of(user)
        rendered = {k: v(lang) if callable(v) else v for k, v in values.items()}
        self.push(user, texts.t(key, lang, **rendered))

    def push(self, user: UserRow, text: str) -> None:
        self.notices.append(Reply(text, to=user.id))

    # formatting ------------------------------------------------------------------------
    @property
    def market(self) -> MarketRules:
        return self.settings.market

    @property
    def default_lang(self) -> str:
        return default_lang(self.settings)

    def product(self, key: str, lang: str | None = None) -> str:
        """The product's name; in English the user's own word for it when they used a known one."""
        lang = lang or self.lang
        return (
            self.words.get(key, "")
            if lang != "zh" and self.words.get(key)
            else self.catalog.product_name(key, lang)
        )

    def place(self, key: str | None, lang: str | None = None) -> str:
        return self.catalog.place_name(key, lang or self.lang)

    def qty(self, value: Decimal, unit: str, lang: str | None = None) -> str:
        return units.qty(value, unit, lang or self.lang)

    def price(self, listing: Priced, lang: str | None = None) -> str:
        return units.unit_price(
            listing.price, listing.currency, listing.price_unit, lang or self.lang
        )

    def word(self, key: str, lang: str | None = None) -> str:
        return texts.word(key, lang or self.lang)

    def name_of(self, user: UserRow, fallback: str = "unnamed") -> ByLanguage:
        """A user's name, or 'a buyer' / 'a farmer' in the reader's language."""
        return lambda lang: user.name or texts.word(fallback, lang)

    @staticmethod
    def contact_of(user: UserRow, ref: int) -> ByLanguage:
        """How the other side of order ref reaches this user: a shared phone, the SMS or
        WhatsApp number, or (WeChat, no phone shared) messages relayed through the bot."""
        address = user.address.removeprefix("whatsapp:")
        phone = user.phone or (
            address if user.channel != "wechat" and address.startswith("+") else None
        )
        if phone:
            return lambda lang: phone
        return lambda lang: texts.t("contact_via_bot", lang, ref=ref)


@dataclass(kw_only=True)
class Context(Scope):
    """What a handler works on: the message (None for work that no message started, such as
    an order whose deadline passed), its sender, the parse and the open question, on top of
    the scope's storage, texts and notices."""

    msg: InboundMessage | None
    user: User
    parse: Parse
    state: str | None = None
    slots: Slots = field(default_factory=dict)
    # Whether a text fits one reply on a channel (SMS: 2 segments); the gateway knows channels.
    fits: Callable[[str, str], bool] = lambda channel, text: True
    # Whether users on a channel can be sent messages here (its provider is configured).
    reaches: Callable[[str], bool] = lambda channel: True

    @classmethod
    def on_behalf_of(
        cls, user: User, uow: UnitOfWork, settings: Settings, catalog: Catalog, now: datetime
    ) -> Context:
        """Work done for a user without a message of theirs (a deadline): replies are notices."""
        ctx = cls(
            msg=None,
            user=user,
            parse=Parse("", "expire", 1.0),
            lang="",
            uow=uow,
            settings=settings,
            catalog=catalog,
            now=now,
        )
        ctx.lang = ctx.lang_of(user)
        return ctx

    @property
    def channel(self) -> str:
        """The channel replies go out on: the message's, else the user's."""
        return self.msg.channel if self.msg is not None else self.user.channel

    # replies ---------------------------------------------------------------------------
    def say(self, key: str, **values: object) -> list[Reply]:
        return [Reply(self.text(key, **values))]

    def fit_list(
        self, channel: str, render: Callable[[list[str]], str], lines: list[str]
    ) -> tuple[str, int]:
        """render(lines), dropping lines from the end until it fits one reply on the channel
        (an SMS list keeps its call to action); the text and how many lines it kept."""
        shown = len(lines)
        while shown > 1 and not self.fits(channel, render(lines[:shown])):
            shown -= 1
        return render(lines[:shown]), shown

    def aside(self, text: str) -> str:
        """' (Wudu)' in English, '（武都）' in Chinese."""
        return f"（{text}）" if self.lang == "zh" else f" ({text})"

    def then(self, text: str) -> str:
        """', Wudu' in English, '，武都' in Chinese."""
        return f"，{text}" if self.lang == "zh" else f", {text}"

    def ask(self, state: str, key: str, **values: object) -> list[Reply]:
        """Open a question: remember the state and slots, then ask it."""
        self.state = state
        self.slots["_ask"] = [key, {k: str(v) for k, v in values.items()}]
        if self.words:
            self.slots["_words"] = self.words
        return self.say(key, **values)

    def done(self) -> None:
        self.state, self.slots = None, {}
