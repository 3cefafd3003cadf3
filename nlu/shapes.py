"""The shapes the NLU works in: Rasa's parse result, its intents and entities, and the
tokens the entity extractor reads a message into."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, TypedDict


class Span(TypedDict):
    """What masking needs of an entity: its name and where it is in the text."""

    entity: str
    start: int
    end: int


class Annotation(Span):
    """An entity as the training data annotates it: span and canonical value."""

    value: str


class Entity(Annotation):
    """An entity of a parse result, with the extractor that found it."""

    extractor: str


class IntentScore(TypedDict):
    """One row of the intent ranking."""

    name: str
    confidence: float


class Intent(IntentScore):
    """The parse's intent: the top of the ranking and its margin over the runner-up."""

    margin: float


class ParseResult(TypedDict):
    """Rasa's /model/parse answer, the shape every backend returns."""

    text: str
    intent: Intent
    intent_ranking: list[IntentScore]
    entities: list[Entity]


class Parser(Protocol):
    """Anything that parses a message into Rasa's shape (the built-in model, the Rasa backend)."""

    def parse(self, text: str) -> ParseResult: ...


@dataclass(slots=True)
class Tok:
    kind: str  # NUM PRICE UNIT CUR PRODUCT LOCATION NAME WORD
    start: int
    end: int
    text: str
    # Decimal for NUM and PRICE, the unit key or currency code for UNIT and CUR, the catalog
    # key for PRODUCT and LOCATION, the name for NAME
    value: Decimal | str | None = None
    role: str | None = None
