"""Handler rules with a scripted NLU (a fake), so each rule is tested apart from model quality."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from decimal import Decimal
from typing import ClassVar

import pytest
from sqlalchemy import select

from handlers.slots import amount, money
from handlers.table import INTENT_HANDLERS
from storage.models import Listing, Order
from tests.conftest import open_chat

FARMER, FARMER2, BUYER = "+8613800000001", "+8613800000005", "+254700000002"


def ent(entity: str, value: str) -> dict:
    return {"entity": entity, "value": value, "start": 0, "end": 0, "extractor": "fake"}


class FakeNLU:
    """Answers from a script: text → (intent, confidence, entities[, runner-up])."""

    intents: ClassVar[list[str]] = list(INTENT_HANDLERS)  # the model answers what the table routes

    def __init__(self, script: dict):
        self.script = script

    def parse(self, text: str) -> dict:
        intent, confidence, entities, *second = self.script.get(text, ("out_of_scope", 0.2, []))
        ranking = [{"name": intent, "confidence": confidence}]
        if second:
            ranking.append({"name": second[0][0], "confidence": second[0][1]})
        return {
            "text": text,
            "intent": ranking[0],
            "intent_ranking": ranking,
            "entities": entities,
        }

    async def aparse(self, text: str) -> dict:
        return self.parse(text)


SCRIPT = {
    "sell potatoes": (
        "sell",
        0.9,
        [
            ent("product", "potato"),
            ent("quantity", "10"),
            ent("unit", "bag"),
            ent("price", "2500"),
            ent("currency", "KES"),
            ent("price_unit", "bag"),
            ent("location", "nakuru"),
        ],
    ),
    "sell apples kg": (
        "sell",
        0.9,
        [
            ent("product", "apple"),
            ent("quantity", "100"),
            ent("unit", "kg"),
            ent("price", "6"),
            ent("price_unit", "kg"),
            ent("location", "wudu"),
        ],
    ),
    "sell apples far": (
        "sell",
        0.9,
        [
            ent("product", "apple"),
            ent("quantity", "100"),
            ent("unit", "kg"),
            ent("price", "5"),
            ent("price_unit", "kg"),
            ent("location", "lanzhou"),
        ],
    ),
    "buy potatoes": (
        "buy",
        0.9,
        [ent("product", "potato"), ent("quantity", "100"), ent("unit", "kg")],
    ),
    "buy apples": (
        "buy",
        0.9,
        [ent("product", "apple"), ent("quantity", "20"), ent("unit", "jin")],
    ),
    "apples 50kg": (
        "sell",
        0.40,
        [ent("product", "apple"), ent("quantity", "50"), ent("unit", "kg")],
        ("buy", 0.38),
    ),
    # confident enough (over nlu.confidence_threshold), but buy is close behind
    "pears 80kg": (
        "sell",
        0.55,
        [ent("product", "pear"), ent("quantity", "80"), ent("unit", "kg")],
        ("buy", 0.43),
    ),
    "pears 90kg": (
        "sell",
        0.75,
        [ent("product", "pear"), ent("quantity", "90"), ent("unit", "kg")],
        ("buy", 0.20),
    ),
    "buy": ("buy", 0.9, []),
    "yes": ("affirm", 0.95, []),
    "no": ("deny", 0.95, []),
    "I am in Chengxian": ("set_profile", 0.9, [ent("location", "chengxian")]),
    "sell a speck": (
        "sell",
        0.9,
        [
            ent("product", "apple"),
            ent("quantity", "0.0001"),
            ent("unit", "kg"),
            ent("price", "3"),
            ent("price_unit", "kg"),
        ],
    ),
    "sell for nothing": (
        "sell",
        0.9,
        [
            ent("product", "apple"),
            ent("quantity", "50"),
            ent("unit", "kg"),
            ent("price", "0.001"),
            ent("price_unit", "kg"),
        ],
    ),
}


@pytest.fixture
async def fake(sqlite_url, nlu_cache):
    async with AsyncExitStack() as stack:
        yield await open_chat(stack, sqlite_url, nlu_cache, FakeNLU(SCRIPT))


async def test_count_units_ask_how_many_instead_of_converting(fake):
    assert "KES 2,500/bag" in await fake.send(FARMER, "sell potatoes")
    offers = await fake.send(BUYER, "buy potatoes")  # 100 kg of a listing sold by the bag
    assert "1) 10 bags at KES 2,500/bag" in offers
    assert "How many bags" in await fake.send(BUYER, "1")
    created = await fake.send(BUYER, "3")
    assert "3 bags potato" in created and "KES 7,500" in created


async def test_offers_rank_nearest_first_and_convert_units(fake):
    await fake.send(FARMER, "sell apples far")  # cheaper, but in Lanzhou
    await fake.send(FARMER2, "sell apples kg")  # Wudu, near Chengxian
    await fake.send(BUYER, "I am in Chengxian")
    offers = await fake.send(BUYER, "buy apples")
    assert offers.index("Wudu") < offers.index("Lanzhou")
    created = await fake.send(BUYER, "1")
    assert (
        "20 jin apple" in created and "¥60.00" in created
    )  # 20 jin (10 kg of the Wudu listing), as the buyer asked


async def test_close_sell_and_buy_ask_which_was_meant(fake):
    assert "Do you want to sell or to buy?" in await fake.send(FARMER, "apples 50kg")
    assert "What price per kg" in await fake.send(FARMER, "sell")


async def test_a_confident_sell_with_buy_close_behind_still_asks(fake):
    # the parse's margin (0.12) is under nlu.ambiguity_margin, though 0.55 passes the threshold
    assert "Do you want to sell or to buy?" in await fake.send(FARMER, "pears 80kg")
    assert "What price per kg" in await fake.send(FARMER, "sell")
    await fake.send(FARMER, "cancel")
    assert "What price per kg" in await fake.send(
        FARMER, "pears 90kg"
    )  # a clear margin: no question


async def test_bare_yes_with_several_pending_orders_asks_which(fake):
    await fake.send(FARMER, "sell apples kg")
    for buyer in (BUYER, "+254700000003"):
        await fake.send(buyer, "buy apples")
        await fake.send(buyer, "1")
    question = await fake.send(FARMER, "yes")
    assert "Which order?" in question
    async with fake.svc.db.uow() as uow:
        first, second = (await uow.session.execute(select(Order).order_by(Order.id))).scalars()
    assert f"accepted order {second.id}" in await fake.send(FARMER, str(second.id))
    assert f"accepted order {first.id}" in await fake.send(FARMER, "yes")  # now only one is left


async def test_a_question_not_answered_is_asked_again(fake):
    assert "What do you want to buy" in await fake.send(BUYER, "buy")
    again = await fake.send(BUYER, "lalala")
    assert again.startswith("Sorry, I didn't get that.") and "What do you want to buy" in again


def test_amounts_are_rounded_to_what_the_database_keeps():
    assert amount("2.0005") == Decimal("2.001") and money("3.555") == Decimal("3.56")
    for nothing in ("0.0004", "0", "-1", "1e-9", "NaN", "sNaN", "Infinity", "1e12", "x", None):
        assert amount(nothing) is None, nothing
    assert money("0.004") is None and money("0.005") == Decimal("0.01")


async def test_a_quantity_or_price_that_rounds_to_nothing_is_asked_again(fake):
    assert "How much apple" in await fake.send(FARMER, "sell a speck")
    assert "What price per kg" in await fake.send(FARMER2, "sell for nothing")
    async with fake.svc.db.uow() as uow:
        assert (await uow.session.execute(select(Listing))).scalars().all() == []
    created = await fake.send(FARMER2, "3.5")
    assert "50 kg apple" in created and "¥3.50/kg" in created


async def test_two_processes_racing_for_the_last_stock(db_url, nlu_cache):
    """Two gateways with their own engines (as two `farmchat serve`) share one database."""
    async with AsyncExitStack() as stack:
        one = await open_chat(stack, db_url, nlu_cache, FakeNLU(SCRIPT))
        two = await open_chat(stack, db_url, nlu_cache, FakeNLU(SCRIPT))
        await one.send(FARMER, "sell apples kg")  # 100 kg
        buyers = [f"+2547000002{n:02d}" for n in range(20)]
        big = {
            **SCRIPT,
            "buy apples": (
                "buy",
                0.9,
                [ent("product", "apple"), ent("quantity", "100"), ent("unit", "kg")],
            ),
        }
        for chat in (one, two):
            chat.svc.gateway.nlu = FakeNLU(big)
        for n, buyer in enumerate(buyers):
            await (one if n % 2 else two).send(buyer, "buy apples")
        replies = await asyncio.gather(
            *((one if n % 2 else two).send(b, "1") for n, b in enumerate(buyers))
        )
        assert sum("Waiting for the farmer" in r for r in replies) == 1
        async with one.svc.db.uow() as uow:
            listing = (await uow.session.execute(select(Listing))).scalar_one()
            orders = list((await uow.session.execute(select(Order))).scalars())
        assert listing.quantity_available == 0 and len(orders) == 1
