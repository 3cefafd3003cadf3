"""What a handler gets: the message, the user, the parse, storage and a way to reply."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from handlers import texts, units
from handlers.messages import InboundMessage, Reply
from handlers.settings import Settings, default_lang
from nlu.catalog import Catalog
from storage.models import Listing, User
from storage.uow import UnitOfWork


class DomainError(Exception):
    """A rule of the market was broken; the gateway answers with the text of `key`."""

    def __init__(self, key: str, **values):
        super().__init__(key)
        self.key, self.values = key, values


@dataclass
class Parse:
    """The NLU result, with helpers to read canonical entity values."""

    text: str
    intent: str
    confidence: float
    entities: list[dict] = field(default_factory=list)
    ranking: list[dict] = field(default_factory=list)
    margin: float = 1.0  # over the runner-up intent

    @classmethod
    def from_nlu(cls, result: dict) -> Parse:
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


@dataclass
class Context:
    msg: InboundMessage
    user: User
    parse: Parse
    lang: str
    uow: UnitOfWork
    settings: Settings
    catalog: Catalog
    now: datetime
    state: str | None = None
    slots: dict = field(default_factory=dict)
    notices: list[Reply] = field(default_factory=list)
    # Whether a text fits one reply on a channel (SMS: 2 segments); the gateway knows channels.
    fits: Callable[[str, str], bool] = lambda channel, text: True
    # product key -> the known name the user wrote for it ("maize" for corn), for replies to them
    words: dict = field(default_factory=dict)

    # replies ---------------------------------------------------------------------------
    def text(self, key: str, **values) -> str:
        return texts.t(key, self.lang, **values)

    def say(self, key: str, **values) -> list[Reply]:
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

    def lang_of(self, user: User) -> str:
        return user.language or self.default_lang

    def tell(self, user: User, key: str, **values) -> None:
        """Queue a notification to another user, in that user's language.

        A value may be a function of the language, for names and amounts that differ by it.
        """
        lang = self.lang_of(user)
        rendered = {k: v(lang) if callable(v) else v for k, v in values.items()}
        self.push(user, texts.t(key, lang, **rendered))

    def push(self, user: User, text: str) -> None:
        self.notices.append(Reply(text, to=user.id))

    def ask(self, state: str, key: str, **values) -> list[Reply]:
        """Open a question: remember the state and slots, then ask it."""
        self.state = state
        self.slots["_ask"] = [key, {k: str(v) for k, v in values.items()}]
        if self.words:
            self.slots["_words"] = self.words
        return self.say(key, **values)

    def done(self) -> None:
        self.state, self.slots = None, {}

    # formatting ------------------------------------------------------------------------
    @property
    def market(self):
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

    def price(self, listing: Listing, lang: str | None = None) -> str:
        return units.unit_price(
            listing.price, listing.currency, listing.price_unit, lang or self.lang
        )

    def word(self, key: str, lang: str | None = None) -> str:
        return texts.word(key, lang or self.lang)

    def name_of(self, user: User, fallback: str = "unnamed"):
        """A user's name, or 'a buyer' / 'a farmer' in the reader's language."""
        return lambda lang: user.name or texts.word(fallback, lang)

    @staticmethod
    def contact_of(user: User, ref: int):
        """How the other side of order ref reaches this user: a shared phone, the SMS or
        WhatsApp number, or (WeChat, no phone shared) messages relayed through the bot."""
        address = user.address.removeprefix("whatsapp:")
        phone = user.phone or (
            address if user.channel != "wechat" and address.startswith("+") else None
        )
        if phone:
            return lambda lang: phone
        return lambda lang: texts.t("contact_via_bot", lang, ref=ref)
