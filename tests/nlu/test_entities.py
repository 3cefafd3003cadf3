"""Entity extractor: canonical values, spans into the original text, and robustness."""

from collections import Counter
from pathlib import Path

import pytest

from nlu.catalog import Catalog
from nlu.entities import EntityExtractor
from nlu.rasa_yaml import load_examples
from tests.nlu.sample import with_implied_currency

SAMPLE_FILE = Path(__file__).resolve().parents[1] / "data" / "nlu-sample.yml"
DATA = Path(__file__).resolve().parents[2] / "nlu" / "data"


def load_sample() -> list:
    """The annotated sample of tests/data: missing or empty, the module fails, never skips."""
    if not SAMPLE_FILE.is_file():
        pytest.fail(f"the entity sample is missing: {SAMPLE_FILE}", pytrace=False)
    examples = load_examples(SAMPLE_FILE)
    if not examples:
        pytest.fail(f"the entity sample holds no examples: {SAMPLE_FILE}", pytrace=False)
    return examples


SAMPLE = load_sample()


@pytest.fixture(scope="module")
def extractor():
    return EntityExtractor(Catalog.build())


def pairs(extractor, text):
    return sorted((e["entity"], e["value"]) for e in extractor.extract(text))


@pytest.mark.parametrize("example", SAMPLE, ids=[e.text for e in SAMPLE])
def test_sample_examples_extract_exactly_their_annotations(extractor, example):
    assert pairs(extractor, example.text) == with_implied_currency(example)


@pytest.mark.parametrize(
    "text, expected",
    [
        # colloquial amounts: "and a half", 八毛五, 一百二一只 (120 a piece), 3500/=, SMS "4 sale"
        (
            "two and a half tons of maize",
            [("product", "corn"), ("quantity", "2.5"), ("unit", "ton")],
        ),
        ("3 and half bags", [("quantity", "3.5"), ("unit", "bag")]),
        (
            "西红柿八毛五一斤",
            [("currency", "CNY"), ("price", "0.85"), ("price_unit", "jin"), ("product", "tomato")],
        ),
        (
            "鸭蛋先不说，鸡蛋一百二一箱",
            [("price", "120"), ("price_unit", "box"), ("product", "egg")],
        ),
        (
            "花椒二十斤，三百一斤",
            [
                ("price", "300"),
                ("price_unit", "jin"),
                ("product", "sichuan_pepper"),
                ("quantity", "20"),
                ("unit", "jin"),
            ],
        ),
        ("二十一斤核桃", [("product", "walnut"), ("quantity", "21"), ("unit", "jin")]),
        ("三百一十斤", [("quantity", "310"), ("unit", "jin")]),
        (
            "beans 20 bags 4500/= each",
            [
                ("currency", "KES"),
                ("price", "4500"),
                ("product", "beans"),
                ("quantity", "20"),
                ("unit", "bag"),
            ],
        ),
        # an abbreviation's dot is not a decimal point: Rs.30 is 30 rupees, Ksh.45 is 45 shillings
        (
            "have 300 kgs tomato, Rs.30/- per kg",
            [
                ("currency", "INR"),
                ("price", "30"),
                ("price_unit", "kg"),
                ("product", "tomato"),
                ("quantity", "300"),
                ("unit", "kg"),
            ],
        ),
        (
            "kale 40kg Ksh.45 per kg",
            [
                ("currency", "KES"),
                ("price", "45"),
                ("price_unit", "kg"),
                ("product", "kale"),
                ("quantity", "40"),
                ("unit", "kg"),
            ],
        ),
        ("Rs.30.50 onions", [("currency", "INR"), ("price", "30.5"), ("product", "onion")]),
        # 两 after a digit is the weight (a tenth of a jin), not part of the number: 二两 is not 22
        ("买二两花椒", [("product", "sichuan_pepper"), ("quantity", "0.2"), ("unit", "jin")]),
        ("两百斤苹果", [("product", "apple"), ("quantity", "200"), ("unit", "jin")]),
        (
            "sukuma wiki 50kg 30/= per kg",
            [
                ("currency", "KES"),
                ("price", "30"),
                ("price_unit", "kg"),
                ("product", "kale"),
                ("quantity", "50"),
                ("unit", "kg"),
            ],
        ),
        (
            "ksh 30/= per kg sukuma",
            [("currency", "KES"), ("price", "30"), ("price_unit", "kg"), ("product", "kale")],
        ),
        ("onions 2 tons 4 sale", [("product", "onion"), ("quantity", "2"), ("unit", "ton")]),
        # products: names, plurals, typos, pinyin, Chinese synonyms
        ("aples", [("product", "apple")]),
        ("tomatos and potatos", [("product", "potato"), ("product", "tomato")]),
        ("pingguo", [("product", "apple")]),
        ("tudou 2 ton", [("product", "potato"), ("quantity", "2"), ("unit", "ton")]),
        ("sweet potatoes", [("product", "sweet_potato")]),
        ("红薯和土豆", [("product", "potato"), ("product", "sweet_potato")]),
        ("鸡蛋", [("product", "egg")]),
        ("sukuma wiki", [("product", "kale")]),
        ("beens", [("product", "beans")]),
        ("peas and bears", []),
        ("hav 5 bags", [("quantity", "5"), ("unit", "bag")]),
        # quantities and units
        (
            "sell 50kg apples at 3/kg",
            [
                ("price", "3"),
                ("price_unit", "kg"),
                ("product", "apple"),
                ("quantity", "50"),
                ("unit", "kg"),
            ],
        ),
        ("一吨半苹果", [("product", "apple"), ("quantity", "1.5"), ("unit", "ton")]),
        ("半吨", [("quantity", "0.5"), ("unit", "ton")]),
        ("half a ton of maize", [("product", "corn"), ("quantity", "0.5"), ("unit", "ton")]),
        ("2k kg", [("quantity", "2000"), ("unit", "kg")]),
        ("1,500 kg", [("quantity", "1500"), ("unit", "kg")]),
        ("５０ｋｇ", [("quantity", "50"), ("unit", "kg")]),
        ("一百五十斤", [("quantity", "150"), ("unit", "jin")]),
        ("selling soya 1.5 t", [("product", "soybean"), ("quantity", "1.5"), ("unit", "ton")]),
        ("100 eggs", [("product", "egg"), ("quantity", "100")]),
        ("买一斤苹果", [("product", "apple"), ("quantity", "1"), ("unit", "jin")]),
        ("一个问题", []),
        ("only 20kg left", [("quantity", "20"), ("unit", "kg")]),
        # prices, currencies, price units
        ("3 yuan per kg", [("currency", "CNY"), ("price", "3"), ("price_unit", "kg")]),
        ("@40", [("price", "40")]),
        ("三块五一斤", [("currency", "CNY"), ("price", "3.5"), ("price_unit", "jin")]),
        ("3块5一斤", [("currency", "CNY"), ("price", "3.5"), ("price_unit", "jin")]),
        ("三块一斤", [("currency", "CNY"), ("price", "3"), ("price_unit", "jin")]),
        ("5毛", [("currency", "CNY"), ("price", "0.5")]),
        ("1块2毛", [("currency", "CNY"), ("price", "1.2")]),
        ("两块八", [("currency", "CNY"), ("price", "2.8")]),
        ("3块钱", [("currency", "CNY"), ("price", "3")]),
        ("每斤3元", [("currency", "CNY"), ("price", "3"), ("price_unit", "jin")]),
        (
            "苹果 500斤 2.5",
            [("price", "2.5"), ("product", "apple"), ("quantity", "500"), ("unit", "jin")],
        ),
        ("苹果多少钱一斤", [("price_unit", "jin"), ("product", "apple")]),
        ("KES 40/kg", [("currency", "KES"), ("price", "40"), ("price_unit", "kg")]),
        ("40 bob a kg", [("currency", "KES"), ("price", "40"), ("price_unit", "kg")]),
        ("$300 per ton", [("currency", "USD"), ("price", "300"), ("price_unit", "ton")]),
        ("₹1200 per bag", [("currency", "INR"), ("price", "1200"), ("price_unit", "bag")]),
        ("¥3.5/斤", [("currency", "CNY"), ("price", "3.5"), ("price_unit", "jin")]),
        ("4.2元/斤", [("currency", "CNY"), ("price", "4.2"), ("price_unit", "jin")]),
        ("change apple price to 3", [("price", "3"), ("product", "apple")]),
        ("how much is a bag of beans", [("price_unit", "bag"), ("product", "beans")]),
        ("avocado price in bob", [("currency", "KES"), ("product", "avocado")]),
        ("at 8pm", []),
        # locations
        ("I am in Wudu", [("location", "wudu")]),
        ("我在武都区", [("location", "wudu")]),
        ("Chengxian market", [("location", "chengxian")]),
        ("Wen County", [("location", "wenxian")]),
        ("成县", [("location", "chengxian")]),
        ("nairobi", [("location", "nairobi")]),
        # references
        ("yes 1023", [("ref", "1023")]),
        ("NO 57", [("ref", "57")]),
        ("cancel order 1023", [("ref", "1023")]),
        ("取消订单1023", [("ref", "1023")]),
        ("接受1023", [("ref", "1023")]),
        ("拒绝 88", [("ref", "88")]),
        ("yes 1", []),
        ("order 50 apples", [("product", "apple"), ("quantity", "50")]),
        # names
        ("my name is Li Wei", [("name", "Li Wei")]),
        ("call me peter", [("name", "peter")]),
        ("I am John", [("name", "John")]),
        ("I'm selling apples", [("product", "apple")]),
        ("i am in Nakuru", [("location", "nakuru")]),
        ("I'm lost", []),
        ("我叫王芳", [("name", "王芳")]),
        ("我叫王芳，在武都", [("location", "wudu"), ("name", "王芳")]),
        ("叫我小王就行", [("name", "小王")]),
        ("我是李伟", [("name", "李伟")]),
        ("我是农民", []),
        ("我是武都的", [("location", "wudu")]),
        ("my name is 王芳", [("name", "王芳")]),
        # names after registration phrases, a place, Swahili and pinyin; a capital makes a
        # currency word ("bob") a name after "my name is"
        ("pls register me as Otieno Ouma", [("name", "Otieno Ouma")]),
        ("enroll me as Grace, Kisumu", [("location", "kisumu"), ("name", "Grace")]),
        ("jina langu ni Wanjiru wa Nakuru", [("location", "nakuru"), ("name", "Wanjiru")]),
        ("mimi ni mkulima", []),
        ("my name is Bob Otieno", [("name", "Bob Otieno")]),
        ("price in bob", [("currency", "KES")]),
        ("wo jiao Li Na", [("name", "Li Na")]),
        ("wo shi nongmin", []),
        ("我是西和的杨建军", [("location", "xihe"), ("name", "杨建军")]),
        ("我是礼县人，叫何小燕", [("location", "lixian"), ("name", "何小燕")]),
        ("我是礼县的农民", [("location", "lixian")]),
        ("麻烦登记一下 孙志刚", [("name", "孙志刚")]),
        # references written after the number, topic first, or joined by "and"
        ("62号的梨卖完了", [("product", "pear"), ("ref", "62")]),
        ("3月12号发货", []),
        ("4051接了", [("ref", "4051")]),
        ("730不接 太远", [("ref", "730")]),
        ("approve 311 and 312", [("ref", "311"), ("ref", "312")]),
        ("2218, decline pls", [("ref", "2218")]),
        # a bare price before 一+unit, 一+unit in a price question, and what stays an amount
        (
            "核桃200斤 16一斤",
            [
                ("price", "16"),
                ("price_unit", "jin"),
                ("product", "walnut"),
                ("quantity", "200"),
                ("unit", "jin"),
            ],
        ),
        ("三十六一箱", [("price", "36"), ("price_unit", "box")]),
        ("一袋洋芋能卖多少", [("price_unit", "bag"), ("product", "potato")]),
        ("来一箱橙子", [("product", "orange"), ("quantity", "1"), ("unit", "box")]),
        (
            "收花椒 一吨半 价格好说",
            [("product", "sichuan_pepper"), ("quantity", "1.5"), ("unit", "ton")],
        ),
        ("what would a crate of tomatoes fetch", [("price_unit", "crate"), ("product", "tomato")]),
        ("pilipili bei gani kwa kilo", [("price_unit", "kg"), ("product", "chili")]),
        # threshold words and "to" before a bare number; a listing number after "change"
        ("ping me when beans drop under 90", [("price", "90"), ("product", "beans")]),
        ("change 412 to 38", [("price", "38"), ("ref", "412")]),
        ("大蒜高于4块告诉我", [("currency", "CNY"), ("price", "4"), ("product", "garlic")]),
        # amounts: "more" before the unit, the unit before the number, capital numerals
        (
            "got 30 extra crates of mangoes",
            [("product", "mango"), ("quantity", "30"), ("unit", "crate")],
        ),
        ("maize bags 40 for sale", [("product", "corn"), ("quantity", "40"), ("unit", "bag")]),
        ("玉米叁仟斤", [("product", "corn"), ("quantity", "3000"), ("unit", "jin")]),
        ("队伍很长", []),
        # more ways to give a name, and what is not one
        ("myself Ramesh Yadav from Nashik", [("name", "Ramesh Yadav")]),
        ("Wekesa here, from Eldoret", [("location", "eldoret"), ("name", "Wekesa")]),
        ("hello, Mercy Atieno here", [("name", "Mercy Atieno")]),
        ("Njeri is my name", [("name", "Njeri")]),
        ("REGISTER PAUL OTIENO KISUMU", [("location", "kisumu"), ("name", "PAUL OTIENO")]),
        ("俺叫马福贵", [("name", "马福贵")]),
        ("俺是徽县的刘金花", [("location", "huixian"), ("name", "刘金花")]),
        ("我姓周叫周丽", [("name", "周丽")]),
        ("我的名字写张小军", [("name", "张小军")]),
        ("登记地址 武都", [("location", "wudu")]),
        ("帮我叫个车", []),
        ("咋改名字呢", []),
        # refs before a new value, after "add ... to", after a reply word; lone 一;
        # approximate amounts
        (
            "lower 3310 to 48 bob/kg",
            [("currency", "KES"), ("price", "48"), ("price_unit", "kg"), ("ref", "3310")],
        ),
        ("add 15 crates to 208", [("quantity", "15"), ("ref", "208"), ("unit", "crate")]),
        ("接了接了 619", [("ref", "619")]),
        ("路太远 442不去", [("ref", "442")]),
        ("价格一有变化就说", []),
        ("还剩五十多斤", [("quantity", "50"), ("unit", "jin")]),
        ("改个价 核桃一斤十八", [("price", "18"), ("price_unit", "jin"), ("product", "walnut")]),
        ("bei 2500 kwa gunia", [("price", "2500"), ("price_unit", "bag")]),
        # pinyin with tone numbers, Swahili shilingi, "each" before a unit, a listing before "only"
        (
            "wo3 yao4 mai3 tu3dou4 20 jin1",
            [("product", "potato"), ("quantity", "20"), ("unit", "jin")],
        ),
        ("da4suan4 duo1shao3 qian2 yi1 jin1", [("price_unit", "jin"), ("product", "garlic")]),
        (
            "nauza vitunguu 300 shilingi kwa kilo",
            [("currency", "KES"), ("price", "300"), ("price_unit", "kg"), ("product", "onion")],
        ),
        (
            "pears @ 90 rmb each box",
            [("currency", "CNY"), ("price", "90"), ("price_unit", "box"), ("product", "pear")],
        ),
        ("listing 314 only 6 crates left", [("quantity", "6"), ("ref", "314"), ("unit", "crate")]),
        ("sold 12 bags, 30 remaining", [("quantity", "12"), ("quantity", "30"), ("unit", "bag")]),
        ("Achieng is my name, I farm in Kisumu", [("location", "kisumu"), ("name", "Achieng")]),
        ("names Kiprono", [("name", "Kiprono")]),
    ],
)
def test_extracts(extractor, text, expected):
    assert pairs(extractor, text) == sorted(expected)


@pytest.mark.parametrize(
    "text",
    [
        "I have 50 kg of apples in Wudu, 3 yuan/kg",
        "卖５０斤苹果，三块五一斤",
        "my name is Li Wei",
        "ＹＥＳ １０２３",
        "İİ apples 5kg",
    ],
)
def test_spans_index_the_original_text(extractor, text):
    entities = extractor.extract(text)
    assert entities
    assert [e["start"] for e in entities] == sorted(e["start"] for e in entities)
    for e in entities:
        assert 0 <= e["start"] < e["end"] <= len(text)
        assert e["extractor"] == "farmchat"
        assert isinstance(e["value"], str)
    names = [e for e in entities if e["entity"] == "name"]
    assert all(text[e["start"] : e["end"]] == e["value"] for e in names)


def test_span_text(extractor):
    text = "卖５０斤苹果，三块五一斤"
    spans = {e["entity"]: text[e["start"] : e["end"]] for e in extractor.extract(text)}
    assert spans == {
        "quantity": "５０",
        "unit": "斤",
        "product": "苹果",
        "price": "三块五",
        "price_unit": "斤",
        "currency": "块",
    }


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "😀😀😀",
        "\x00\x01\x02\x1f",
        "\ud800",
        "a" * 5000,
        "苹果50斤" * 900,
        "一" * 5000,
        bytes(range(256)).decode("latin-1") * 20,
        "[](){}",
        "1" * 5000,
        "....",
        "-1.5kg",
        None,
        12345,
    ],
)
def test_garbage_never_raises(extractor, text):
    result = extractor.extract(text)
    assert isinstance(result, list)


def test_custom_catalog_products_and_places():
    catalog = Catalog.build(
        extra_products={"durian": ["durian", "榴莲"], "apple": ["fuji"]},
        extra_places={"kitale": {"names": ["Kitale"]}},
    )
    extractor = EntityExtractor(catalog)
    assert pairs(extractor, "durians in Kitale") == [("location", "kitale"), ("product", "durian")]
    assert pairs(extractor, "榴莲 fuji") == [("product", "apple"), ("product", "durian")]


def test_training_data_entity_f1(extractor):
    assert any(DATA.glob("*.yml")), f"no training data in {DATA}"
    tp = fp = fn = 0
    for ex in load_examples(DATA):
        want = Counter((e["entity"], e["value"]) for e in ex.entities)
        got = Counter((e["entity"], e["value"]) for e in extractor.extract(ex.text))
        tp, fp, fn = (
            tp + sum((want & got).values()),
            fp + sum((got - want).values()),
            fn + sum((want - got).values()),
        )
    f1 = 2 * tp / (2 * tp + fp + fn)
    assert f1 >= 0.95
