"""The shared NLU sample's expected (entity, value) pairs, with the currency 块/毛 implies."""

from __future__ import annotations


def pairs(entities) -> list[tuple[str, str]]:
    """Sorted (entity, value) pairs of entity dicts."""
    return sorted((e["entity"], str(e["value"])) for e in entities)


def with_implied_currency(example) -> list[tuple[str, str]]:
    """The sample's pairs plus the CNY that a 块/毛 price names (SPEC §4 counts 块 and 块钱
    among the CNY words; the shared sample annotates the price span alone)."""
    found = pairs(example.entities)
    prices = [
        example.text[e["start"] : e["end"]] for e in example.entities if e["entity"] == "price"
    ]
    if any("块" in p or "毛" in p for p in prices) and not any(k == "currency" for k, _ in found):
        found = sorted([*found, ("currency", "CNY")])
    return found
