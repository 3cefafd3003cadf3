"""How amounts are converted and written: Decimal all the way, units and currencies right."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from handlers import units


@pytest.mark.parametrize(
    "qty, frm, to, expected",
    [
        (D("50"), "jin", "kg", D("25")),
        (D("2"), "ton", "jin", D("4000")),
        (D("500"), "g", "kg", D("0.5")),
        (D("1"), "lb", "kg", D("0.45359237")),
        (D("3"), "bag", "bag", D("3")),
    ],
)
def test_mass_units_convert(qty, frm, to, expected):
    assert units.convert(qty, frm, to) == expected


@pytest.mark.parametrize(
    "frm, to", [("bag", "kg"), ("kg", "box"), ("litre", "kg"), ("piece", "crate")]
)
def test_count_units_do_not_convert_to_mass(frm, to):
    assert units.convert(D("1"), frm, to) is None


@pytest.mark.parametrize(
    "value, currency, per, lang, text",
    [
        (D("3.5"), "CNY", "jin", "zh", "¥3.50/斤"),
        (D("40"), "KES", "kg", "en", "KES 40/kg"),
        (D("2500"), "KES", "bag", "en", "KES 2,500/bag"),
        (D("2"), "USD", "lb", "en", "$2.00/lb"),
        (D("20.5"), "INR", "kg", "en", "₹20.50/kg"),
    ],
)
def test_prices_are_written_with_currency_and_unit(value, currency, per, lang, text):
    assert units.unit_price(value, currency, per, lang) == text


@pytest.mark.parametrize(
    "value, unit, lang, text",
    [
        (D("50.000"), "kg", "en", "50 kg"),
        (D("50"), "jin", "zh", "50斤"),
        (D("3"), "bag", "en", "3 bags"),
        (D("1"), "box", "en", "1 box"),
        (D("2.5"), "ton", "zh", "2.5吨"),
        (D("0.333"), "kg", "en", "0.33 kg"),
    ],
)
def test_quantities_are_written_with_their_unit(value, unit, lang, text):
    assert units.qty(value, unit, lang) == text


def test_price_per_other_unit_and_line_total():
    assert units.price_per(D("4.2"), "kg", "jin") == D("2.10")
    assert units.line_total(D("20"), "jin", D("3.5"), "jin") == D("70.0")
    assert units.line_total(D("20"), "jin", D("6"), "kg") == D("60.0")
    assert units.line_total(D("2"), "bag", D("6"), "kg") is None


def test_the_sql_thinning_uses_the_same_kg_per_unit():
    from storage.repos import KG_PER_UNIT as IN_SQL

    assert {unit: float(kg) for unit, kg in units.KG_PER_UNIT.items()} == IN_SQL


def test_an_int_quantity_or_amount_is_written_like_a_decimal():
    """'apples sold out' once stored an int 0 that could not be quantized (the reply crashed)."""
    from handlers import units

    assert units.qty(0, "kg", "en") == "0 kg" and units.qty(0, "jin", "zh") == "0斤"
    assert units.money(0, "CNY") == "¥0.00" and units.money(40, "KES") == "KES 40"
