"""Table tests of the number, price, quantity, unit and currency normalizers."""

from decimal import Decimal

import pytest

from nlu.normalize import (
    currency_code,
    decimal_str,
    fold,
    fold_width,
    parse_number,
    parse_price,
    parse_quantity,
    unit_key,
)

D = Decimal


@pytest.mark.parametrize(
    "text, value",
    [
        ("50", D("50")),
        ("0.5", D("0.5")),
        (".5", D("0.5")),
        ("1,500", D("1500")),
        ("12,000.5", D("12000.5")),
        ("2k", D("2000")),
        ("1.5k", D("1500")),
        ("2K", D("2000")),
        ("3万", D("30000")),
        ("1.5万", D("15000")),
        ("5千", D("5000")),
        ("五十", D("50")),
        ("一百五", D("150")),
        ("一百五十", D("150")),
        ("两千", D("2000")),
        ("二十五点五", D("25.5")),
        ("十", D("10")),
        ("十五", D("15")),
        ("两", D("2")),
        ("一百零五", D("105")),
        ("一万二", D("12000")),
        ("两百五十", D("250")),
        ("零", D("0")),
        ("三点五", D("3.5")),
        ("半", D("0.5")),
        ("half", D("0.5")),
        ("Half", D("0.5")),
        ("fifty", D("50")),
        ("two hundred", D("200")),
        ("twenty five", D("25")),
        ("twenty-five", D("25")),
        ("one thousand", D("1000")),
        ("one", D("1")),
        ("３５", D("35")),
        ("１，５００", D("1500")),
        ("２ｋ", D("2000")),
    ],
)
def test_parse_number(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize(
    "text", ["", "abc", "点", "一点", "十点", "几十", "1.2.3", "k", "一" * 50, "half a"]
)
def test_parse_number_rejects(text):
    assert parse_number(text) is None


@pytest.mark.parametrize(
    "text, value",
    [
        ("三块五", D("3.5")),
        ("3块5", D("3.5")),
        ("5毛", D("0.5")),
        ("五毛", D("0.5")),
        ("五毛钱", D("0.5")),
        ("1块2毛", D("1.2")),
        ("两块八", D("2.8")),
        ("3块钱", D("3")),
        ("3块", D("3")),
        ("两块", D("2")),
        ("四块五", D("4.5")),
        ("十块", D("10")),
        ("3块50", D("3.5")),
        ("12块8", D("12.8")),
        ("3.5", D("3.5")),
        ("40", D("40")),
        ("１块２", D("1.2")),
        ("一块二毛", D("1.2")),
        ("3 块 5", D("3.5")),
        ("八毛五", D("0.85")),
        ("5毛5", D("0.55")),
        ("三毛二", D("0.32")),
        ("九毛钱", D("0.9")),
    ],
)
def test_parse_price(text, value):
    assert parse_price(text) == value


@pytest.mark.parametrize("text", ["块", "毛", "abc块", ""])
def test_parse_price_rejects(text):
    assert parse_price(text) is None


@pytest.mark.parametrize(
    "text, amount, unit",
    [
        ("一吨半", "1.5", "ton"),
        ("半吨", "0.5", "ton"),
        ("两斤半", "2.5", "jin"),
        ("50kg", "50", "kg"),
        ("50 kg", "50", "kg"),
        ("３５ｋｇ", "35", "kg"),
        ("3 bags", "3", "bag"),
        ("二十斤", "20", "jin"),
        ("5公斤", "5", "kg"),
        ("5千克", "5", "kg"),
        ("10 tons", "10", "ton"),
        ("2 tonnes", "2", "ton"),
        ("500g", "500", "g"),
        ("500克", "500", "g"),
        ("80 lbs", "80", "lb"),
        ("20 litres", "20", "litre"),
        ("5升", "5", "litre"),
        ("3箱", "3", "box"),
        ("4 crates", "4", "crate"),
        ("10个", "10", "piece"),
        ("100 pcs", "100", "piece"),
        ("2k kg", "2000", "kg"),
        ("一百五十斤", "150", "jin"),
        ("5袋", "5", "bag"),
    ],
)
def test_parse_quantity(text, amount, unit):
    assert parse_quantity(text) == (D(amount), unit)


@pytest.mark.parametrize("text", ["kg", "50", "五十", "lots of kg", ""])
def test_parse_quantity_rejects(text):
    assert parse_quantity(text) is None


@pytest.mark.parametrize(
    "word, key",
    [
        ("kg", "kg"),
        ("KG", "kg"),
        ("kgs", "kg"),
        ("kilos", "kg"),
        ("kilogram", "kg"),
        ("公斤", "kg"),
        ("千克", "kg"),
        ("斤", "jin"),
        ("jin", "jin"),
        ("catties", "jin"),
        ("吨", "ton"),
        ("tons", "ton"),
        ("tonne", "ton"),
        ("t", "ton"),
        ("g", "g"),
        ("grams", "g"),
        ("克", "g"),
        ("lb", "lb"),
        ("lbs", "lb"),
        ("pounds", "lb"),
        ("litre", "litre"),
        ("liters", "litre"),
        ("l", "litre"),
        ("升", "litre"),
        ("bag", "bag"),
        ("bags", "bag"),
        ("sacks", "bag"),
        ("袋", "bag"),
        ("包", "bag"),
        ("box", "box"),
        ("boxes", "box"),
        ("cartons", "box"),
        ("箱", "box"),
        ("crates", "crate"),
        ("筐", "crate"),
        ("pieces", "piece"),
        ("pcs", "piece"),
        ("个", "piece"),
        ("只", "piece"),
        ("头", "piece"),
        ("颗", "piece"),
        ("ｋｇ", "kg"),
        ("Kg.", "kg"),
    ],
)
def test_unit_key(word, key):
    assert unit_key(word) == key


@pytest.mark.parametrize("word", ["apple", "", "per", "kilometer"])
def test_unit_key_unknown(word):
    assert unit_key(word) is None


@pytest.mark.parametrize(
    "word, code",
    [
        ("元", "CNY"),
        ("块", "CNY"),
        ("块钱", "CNY"),
        ("¥", "CNY"),
        ("￥", "CNY"),
        ("rmb", "CNY"),
        ("RMB", "CNY"),
        ("yuan", "CNY"),
        ("kuai", "CNY"),
        ("ksh", "KES"),
        ("KES", "KES"),
        ("shillings", "KES"),
        ("bob", "KES"),
        ("rs", "INR"),
        ("rupees", "INR"),
        ("₹", "INR"),
        ("inr", "INR"),
        ("$", "USD"),
        ("usd", "USD"),
        ("dollars", "USD"),
        ("ＵＳＤ", "USD"),
        ("/=", "KES"),
    ],
)
def test_currency_code(word, code):
    assert currency_code(word) == code


@pytest.mark.parametrize("word", ["euro", "", "kg", "/-"])
def test_currency_code_unknown(word):
    assert currency_code(word) is None


@pytest.mark.parametrize(
    "text, folded",
    [
        ("３５ｋｇ", "35kg"),
        ("苹果，３块", "苹果,3块"),
        ("ＡＢＣ！", "ABC!"),
        ("a\u3000b", "a b"),
        ("￥５", "¥5"),
        ("plain", "plain"),
    ],
)
def test_fold_width(text, folded):
    assert fold_width(text) == folded


@pytest.mark.parametrize(
    "text", ["ＡＢＣ ｋｇ", "İstanbul 50KG", "Straße", "😀 ok", "\x00\x01", ""]
)
def test_fold_keeps_length(text):
    assert len(fold(text)) == len(text)
    assert fold("SELL 50 KG") == "sell 50 kg"


@pytest.mark.parametrize(
    "value, text",
    [
        (D("50"), "50"),
        (D("50.0"), "50"),
        (D("0.50"), "0.5"),
        (D("2E+3"), "2000"),
        (D("15000.0"), "15000"),
        (D("3.25"), "3.25"),
        (D("0"), "0"),
    ],
)
def test_decimal_str(value, text):
    assert decimal_str(value) == text


def test_values_are_decimal_never_float():
    quantity = parse_quantity("一吨半")
    assert quantity is not None
    for value in (parse_number("二十五点五"), parse_price("三块五"), quantity[0]):
        assert isinstance(value, Decimal)
