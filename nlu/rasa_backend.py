"""The Rasa backend: a Rasa 3.6 server's /model/parse, with farmchat's normalizers and a fallback.

Each message goes to the server; its entities are run through the same normalizers as the
built-in extractor so values are canonical (SPEC §5). When the server is down, slow (past the
timeout) or answers badly, the built-in model parses the message instead, a warning is logged
and the `fallbacks` counter goes up (shown at /healthz).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Mapping
from typing import Any, TypedDict

import aiohttp

from nlu.catalog import Catalog
from nlu.entities import implied_currency
from nlu.gazetteer import Gazetteer
from nlu.model import NLU, top_intent
from nlu.normalize import (
    currency_code,
    decimal_str,
    fold,
    parse_number,
    parse_price,
    parse_quantity,
    unit_key,
)
from nlu.shapes import Entity, IntentScore, ParseResult

log = logging.getLogger(__name__)
_DIGITS = re.compile(r"\d+")


class EntityNormalizer:
    """Canonical values (SPEC §5) for entities found by another extractor, e.g. Rasa's DIET."""

    def __init__(self, catalog: Catalog):
        self.gazetteer = Gazetteer(catalog)
        self.keys = {"product": set(catalog.products), "location": set(catalog.places)}

    # ent: one of the server's entity dicts, JSON of any shape
    def entity(self, ent: Mapping[str, Any], text: str) -> Entity | None:
        """The entity with a canonical value, or None when no normalizer accepts it."""
        name = ent.get("entity")
        if not isinstance(name, str):
            return None  # every normalizer is for a named entity
        # the server's offsets go into the entity as they came (JSON: ints unless malformed)
        start: Any = ent.get("start")
        end: Any = ent.get("end")
        span = text[start:end] if isinstance(start, int) and isinstance(end, int) else ""
        value = str(ent.get("value") or "")
        # Numbers: the span as written (Rasa's synonym mapper turns every "一" into "1.5" once it
        # has seen 一吨半); names: Rasa's value first, since it may already be the catalog key.
        order = (span, value) if name in ("quantity", "price") else (value, span)
        for candidate in dict.fromkeys(s for s in order if s.strip()):
            canonical = self.value(name, candidate)
            if canonical is not None:
                return {
                    "entity": name,
                    "value": canonical,
                    "start": start,
                    "end": end,
                    "extractor": ent.get("extractor", "rasa"),
                }
        return None

    def value(self, entity: str, text: str) -> str | None:
        """Canonical value of one entity text, or None."""
        if entity in ("product", "location"):
            return self.place_or_product(entity, text)
        if entity in ("unit", "price_unit"):
            return unit_key(text)
        if entity == "currency":
            return currency_code(text)
        if entity == "quantity":
            return quantity_value(text)
        if entity == "price":
            price = parse_price(text)
            return None if price is None else decimal_str(price)
        if entity == "ref":
            digits = "".join(_DIGITS.findall(text))
            return digits or None
        if entity == "name":
            return text.strip() or None
        return None

    def place_or_product(self, entity: str, text: str) -> str | None:
        """Catalog or gazetteer key of a name (exact, suffixed, pinyin or misspelt)."""
        folded = fold(text).strip()
        if folded in self.keys[entity]:
            return folded
        keys = [key for _, _, kind, key in self.gazetteer.find(folded) if kind == entity]
        if keys:
            return keys[0]
        hit = self.gazetteer.names.get(folded)
        return hit[1] if hit and hit[0] == entity else None


def quantity_value(text: str) -> str | None:
    """Plain decimal of a quantity span: "50", "一百五", "half", "2k", or "一吨半" (1.5)."""
    number = parse_number(text)
    if number is None:
        amount = parse_quantity(text)
        number = amount[0] if amount else None
    return None if number is None else decimal_str(number)


class RasaHealth(TypedDict):
    """What /healthz shows about the Rasa backend."""

    backend: str
    url: str
    rasa_parses: int
    fallbacks: int


class RasaNLU:
    """Parses with a Rasa server, normalizing its entities; the built-in model is the fallback."""

    def __init__(
        self, url: str, fallback: NLU, catalog: Catalog, token: str = "", timeout: float = 2.0
    ):
        self.url = url.rstrip("/") + "/model/parse"
        self.params = {"token": token} if token else {}
        self.timeout = timeout
        self.fallback = fallback
        self.normalizer = EntityNormalizer(catalog)
        self.stats: Counter[str] = Counter()
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def intents(self) -> list[str]:
        """The intents of the built-in fallback (the same training data as the Rasa model)."""
        return self.fallback.intents

    async def aparse(self, text: str) -> ParseResult:
        """Rasa's parse of one message, or the built-in parse if Rasa fails; never raises."""
        text = text if isinstance(text, str) else str(text)
        if not text.strip():
            return self.fallback.parse(text)
        try:
            session = self._client()
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            async with session.post(
                self.url, json={"text": text}, params=self.params, timeout=timeout
            ) as resp:
                resp.raise_for_status()
                body = await resp.json(content_type=None)
            return self._result(text, body)
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as exc:
            return self._fall_back(text, exc)

    def parse(self, text: str) -> ParseResult:
        """Blocking variant of aparse (CLI, tests); async code should await aparse."""
        text = text if isinstance(text, str) else str(text)
        if not text.strip():
            return self.fallback.parse(text)
        query = f"?{urllib.parse.urlencode(self.params)}" if self.params else ""
        request = urllib.request.Request(
            self.url + query,
            data=json.dumps({"text": text}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            # the configured server's URL, never one from a message
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                return self._result(text, json.loads(resp.read()))
        # URLError and timeouts are OSErrors
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return self._fall_back(text, exc)

    # body: the server's JSON answer, checked only by the KeyError/TypeError the callers catch
    def _result(self, text: str, body: dict[str, Any]) -> ParseResult:
        """farmchat's parse shape from Rasa's answer, entities normalized."""
        ranking: list[IntentScore] = [
            {"name": str(r["name"]), "confidence": float(r["confidence"])}
            for r in body.get("intent_ranking") or [body["intent"]]
        ]
        entities = implied_currency(
            [e for raw in body.get("entities") or [] if (e := self.normalizer.entity(raw, text))],
            text,
        )
        self.stats["rasa"] += 1
        return {
            "text": text,
            "intent": top_intent(ranking),
            "intent_ranking": ranking[:10],
            "entities": sorted(entities, key=lambda e: e["start"]),
        }

    def _fall_back(self, text: str, exc: Exception) -> ParseResult:
        """The built-in parse, logged and counted."""
        self.stats["fallbacks"] += 1
        log.warning(
            "Rasa NLU at %s failed (%s: %s); using the built-in model",
            self.url,
            type(exc).__name__,
            exc or "timeout",
        )
        return self.fallback.parse(text)

    def health(self) -> RasaHealth:
        """Counters for /healthz: parses answered by Rasa and by the fallback."""
        return {
            "backend": "rasa",
            "url": self.url,
            "rasa_parses": self.stats["rasa"],
            "fallbacks": self.stats["fallbacks"],
        }

    def _client(self) -> aiohttp.ClientSession:
        """One keep-alive session, made inside the running loop on first use."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session, self._loop = aiohttp.ClientSession(), loop
        return self._session

    async def aclose(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
