"""Rasa backend: entity normalizers (table) and the built-in fallback when Rasa is down or slow."""

import asyncio
import logging
import socket

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from nlu.catalog import Catalog
from nlu.rasa_backend import EntityNormalizer, RasaNLU


@pytest.fixture(scope="module")
def normalizer():
    return EntityNormalizer(Catalog.build())


@pytest.mark.parametrize(
    "entity, text, value",
    [
        ("product", "apples", "apple"),
        ("product", "苹果", "apple"),
        ("product", "pingguo", "apple"),
        ("product", "aples", "apple"),
        ("product", "maize", "corn"),
        ("product", "sukuma wiki", "kale"),
        ("product", "红枣", "jujube"),
        ("product", "sichuan pepper", "sichuan_pepper"),
        ("product", "sweet_potato", "sweet_potato"),
        ("product", "地瓜", "sweet_potato"),
        ("location", "wudu", "wudu"),
        ("location", "Wudu", "wudu"),
        ("location", "武都区", "wudu"),
        ("location", "成县", "chengxian"),
        ("location", "Nakuru", "nakuru"),
        ("quantity", "50", "50"),
        ("quantity", "五十", "50"),
        ("quantity", "一百五", "150"),
        ("quantity", "半", "0.5"),
        ("quantity", "half", "0.5"),
        ("quantity", "2k", "2000"),
        ("quantity", "1,500", "1500"),
        ("quantity", "一吨半", "1.5"),
        ("unit", "kgs", "kg"),
        ("unit", "斤", "jin"),
        ("unit", "tonnes", "ton"),
        ("unit", "sacks", "bag"),
        ("unit", "箱", "box"),
        ("unit", "筐", "crate"),
        ("unit", "只", "piece"),
        ("unit", "升", "litre"),
        ("unit", "lbs", "lb"),
        ("unit", "克", "g"),
        ("price_unit", "kg", "kg"),
        ("price_unit", "个", "piece"),
        ("price", "三块五", "3.5"),
        ("price", "3块5", "3.5"),
        ("price", "5毛", "0.5"),
        ("price", "2.50", "2.5"),
        ("price", "1块2毛", "1.2"),
        ("price", "一百二", "120"),
        ("currency", "元", "CNY"),
        ("currency", "ksh", "KES"),
        ("currency", "bob", "KES"),
        ("currency", "₹", "INR"),
        ("currency", "$", "USD"),
        ("currency", "rmb", "CNY"),
        ("ref", "1023", "1023"),
        ("ref", "#57", "57"),
        ("name", "Li Wei", "Li Wei"),
    ],
)
def test_normalizes_rasa_entity_values(normalizer, entity, text, value):
    assert normalizer.value(entity, text) == value


@pytest.mark.parametrize(
    "entity, text",
    [
        ("product", "weather"),
        ("location", "apple"),
        ("quantity", "lots"),
        ("unit", "yuan"),
        ("price", "cheap"),
        ("currency", "kg"),
        ("ref", "none"),
        ("name", "  "),
        ("colour", "red"),
    ],
)
def test_rejects_what_no_normalizer_accepts(normalizer, entity, text):
    assert normalizer.value(entity, text) is None


def test_numbers_come_from_the_span_names_from_the_value_first(normalizer):
    text = "土鸡一只"
    ent = {"entity": "quantity", "value": "1.5", "start": 2, "end": 3}
    assert normalizer.entity(ent, text)["value"] == "1"
    ent = {"entity": "product", "value": "chicken", "start": 0, "end": 2}
    assert normalizer.entity(ent, text)["value"] == "chicken"


def test_entity_uses_the_span_when_the_value_is_not_canonical(normalizer):
    text = "sell 50 kilos of aples"
    ent = {
        "entity": "unit",
        "value": "kilos",
        "start": 8,
        "end": 13,
        "extractor": "DIETClassifier",
    }
    assert normalizer.entity(ent, text)["value"] == "kg"
    ent = {
        "entity": "product",
        "value": "???",
        "start": 17,
        "end": 22,
        "extractor": "DIETClassifier",
    }
    assert normalizer.entity(ent, text) == {
        "entity": "product",
        "value": "apple",
        "start": 17,
        "end": 22,
        "extractor": "DIETClassifier",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_falls_back_to_builtin_when_rasa_is_down(real_nlu, caplog):
    rasa = RasaNLU(f"http://127.0.0.1:{free_port()}", real_nlu, Catalog.build(), timeout=1)
    with caplog.at_level(logging.WARNING, logger="nlu.rasa_backend"):
        result = await rasa.aparse("sell 50kg apples")
    assert result == real_nlu.parse("sell 50kg apples")
    assert rasa.health()["fallbacks"] == 1 and rasa.health()["rasa_parses"] == 0
    assert "using the built-in model" in caplog.text
    assert rasa.parse("苹果多少钱") == real_nlu.parse("苹果多少钱")  # the blocking variant too
    assert rasa.health()["fallbacks"] == 2
    await rasa.aclose()


async def test_falls_back_when_rasa_is_slow(real_nlu):
    async def slow(request):
        await asyncio.sleep(2)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/model/parse", slow)
    async with TestServer(app, host="127.0.0.1") as server:
        rasa = RasaNLU(str(server.make_url("/")), real_nlu, Catalog.build(), timeout=0.2)
        started = asyncio.get_running_loop().time()
        result = await rasa.aparse("need 3 crates of tomatoes")
        assert asyncio.get_running_loop().time() - started < 1.5
        await rasa.aclose()
    assert result["intent"]["name"] == "buy"
    assert rasa.health()["fallbacks"] == 1


def test_rasa_jieba_dictionary_is_current():
    from pathlib import Path

    from nlu.rasa_export import jieba_userdict

    committed = Path(__file__).resolve().parents[2] / "rasa" / "jieba" / "farmchat.txt"
    assert committed.read_text(encoding="utf-8") == jieba_userdict(Catalog.build()), (
        "run: python -m nlu.rasa_export > rasa/jieba/farmchat.txt"
    )
