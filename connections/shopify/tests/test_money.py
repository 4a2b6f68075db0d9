"""Decimal strings <-> integer minor units, exactly, by each currency's exponent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connections.shopify.money import MoneyError, currency_exponent, format_minor_units, to_minor_units


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [("USD", 2), ("usd", 2), ("JPY", 0), ("KWD", 3), ("BHD", 3), ("CLP", 0), ("EUR", 2), ("JEP", 2), ("ISK", 0)],
)
def test_currency_exponent(currency: str, exponent: int) -> None:
    assert currency_exponent(currency) == exponent


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        # ISO 4217 gives these decimals where CLDR (what a price is shown with) gives none: an
        # amount with them is money Shopify sends, not an error
        ("1299.50", "RSD", 129950),
        ("0.250", "IQD", 250),
        ("12.34", "LBP", 1234),
        ("99.99", "YER", 9999),
        ("5.25", "AFN", 525),
        ("10.10", "MGA", 1010),
    ],
)
def test_iso_4217_minor_units_not_cldr_display_digits(amount: str, currency: str, minor: int) -> None:
    assert to_minor_units(amount, currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("12.30", "USD", 1230),
        ("12.3", "usd", 1230),
        ("0.0", "USD", 0),
        ("-0.05", "USD", -5),
        ("409.94", "USD", 40994),
        ("1500", "JPY", 1500),
        ("1500.0", "JPY", 1500),  # Shopify GraphQL writes whole yen with a ".0"
        ("1.234", "KWD", 1234),
        ("1.2", "KWD", 1200),
        ("-12.500", "KWD", -12500),
        (Decimal("19.99"), "USD", 1999),
        (12, "USD", 1200),
        (1500, "JPY", 1500),
        ("123456789012345678901234567890.12", "USD", 12345678901234567890123456789012),
    ],
)
def test_to_minor_units_is_exact(amount: str | int | Decimal, currency: str, minor: int) -> None:
    assert to_minor_units(amount, currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("12.345", "USD"), ("0.001", "USD"), ("1500.5", "JPY"), ("1.2345", "KWD")],
)
def test_to_minor_units_refuses_more_decimals_than_the_currency_has(amount: str, currency: str) -> None:
    with pytest.raises(MoneyError, match="more decimals"):
        to_minor_units(amount, currency)


@pytest.mark.parametrize("amount", [12.3, 0.1, True, "abc", "", "NaN", "Infinity", None])
def test_to_minor_units_refuses_floats_and_non_amounts(amount: object) -> None:
    with pytest.raises(MoneyError):
        to_minor_units(amount, "USD")  # type: ignore[arg-type]


def test_unknown_currency_is_refused_not_defaulted() -> None:
    with pytest.raises(MoneyError, match="unknown currency"):
        to_minor_units("1.00", "ZZZ")


@pytest.mark.parametrize(
    ("minor", "currency", "trim", "text"),
    [
        (2500, "USD", True, "25.0"),
        (2550, "USD", True, "25.5"),
        (2555, "USD", True, "25.55"),
        (2500, "USD", False, "25.00"),
        (-5, "USD", False, "-0.05"),
        (1500, "JPY", True, "1500.0"),
        (1500, "JPY", False, "1500"),
        (1234, "KWD", True, "1.234"),
        (12500, "KWD", True, "12.5"),
        (0, "USD", True, "0.0"),
    ],
)
def test_format_minor_units(minor: int, currency: str, trim: bool, text: str) -> None:
    assert format_minor_units(minor, currency, trim=trim) == text


@pytest.mark.parametrize("currency", ["USD", "JPY", "KWD"])
def test_format_and_parse_round_trip(currency: str) -> None:
    for minor in (-100_001, -1, 0, 1, 7, 99, 100, 1_000, 123_456_789):
        assert to_minor_units(format_minor_units(minor, currency, trim=True), currency) == minor
        assert to_minor_units(format_minor_units(minor, currency), currency) == minor
