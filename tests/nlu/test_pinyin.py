"""Pinyin read as the Chinese it spells, and product names typed with a same-sounding character."""

import pytest

from nlu.catalog import Catalog
from nlu.gazetteer import Gazetteer
from nlu.pinyin import Pinyin, homophone_forms, syllable_inventory

CHINESE = [
    "我的订单",
    "我的订单呢",
    "我的货",
    "我的货呢",
    "取消订阅",
    "取消订阅吧",
    "多少钱一斤",
    "PRODUCT 多少钱",
    "我要买 PRODUCT",
    "我要买 PRODUCT 啊",
    "卖 PRODUCT",
    "买 PRODUCT",
    "不要了",
    "不要了啊",
]


@pytest.fixture(scope="module")
def pinyin():
    return Pinyin.build(CHINESE)


@pytest.mark.parametrize(
    "masked, reading",
    [
        ("wo de dingdan", "我的订单"),
        ("wode dingdan", "我的订单"),  # syllables run together
        ("quxiao dingyue", "取消订阅"),
        ("PRODUCT duoshao qian", "PRODUCT 多少钱"),  # placeholders stay where they are
        ("wo yao mai PRODUCT", "我要买 PRODUCT"),  # "mai" is 买 inside 我要买
        ("bu yao le", "不要了"),
    ],
)
def test_pinyin_reads_as_the_characters_of_the_training_data(pinyin, masked, reading):
    assert pinyin.read(masked) == reading


@pytest.mark.parametrize(
    "masked",
    [
        "mai PRODUCT",  # 买 or 卖: as often one as the other, so unread
        "you can go",
        "he is a man",
        "sawa",
        "hapana asante",
        "nataka PRODUCT",
        "i have NUM UNIT",
        "wo",  # one syllable is not enough to call a message pinyin
    ],
)
def test_english_swahili_and_lone_syllables_are_not_read(pinyin, masked):
    assert pinyin.read(masked) == ""


def test_syllables_cover_pinyin_and_not_english():
    syllables = syllable_inventory()
    assert {"wo", "de", "ding", "dan", "zhuang", "lv", "er"} <= syllables
    assert not {"the", "have", "kg", "sell"} & syllables
    assert 380 < len(syllables) < 420


def test_a_product_typed_with_a_same_sounding_character_is_found():
    assert {"平果", "评果"} <= homophone_forms("苹果")
    assert "大算" in homophone_forms("大蒜")
    gazetteer = Gazetteer(Catalog.build())
    found = {
        key for _, _, entity, key in gazetteer.find("卖平果两千斤 还有大算") if entity == "product"
    }
    assert found == {"apple", "garlic"}


def test_slips_that_spell_real_words_are_left_alone():
    assert "李子" not in homophone_forms("梨子")  # a plum, not a pear
    assert "例子" not in homophone_forms("栗子")  # "an example"
    assert "大早" not in homophone_forms("大枣")  # "early morning"
    assert homophone_forms("梨") == set()  # one character: too many collisions
    gazetteer = Gazetteer(Catalog.build())
    assert [key for *_, key in gazetteer.find("我开了个小卖部")] == []
    assert [key for *_, key in gazetteer.find("一大早就去了")] == []
