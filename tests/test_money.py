"""The console's one money format: exact, grouped, with the currency's code."""

from __future__ import annotations

import pytest

from ecomops.money import format_minor, major_units


@pytest.mark.parametrize(
    ("amount", "currency", "source", "shown"),
    [
        (123450, "USD", "stripe", "1,234.50 USD"),
        (-9680, "usd", "stripe", "-96.80 USD"),
        (0, "EUR", "stripe", "0.00 EUR"),
        (5000, "JPY", "stripe", "5,000 JPY"),  # zero-decimal
        (1234567, "KWD", "stripe", "1,234.567 KWD"),  # three decimals
        (12345678901234567, "USD", "stripe", "123,456,789,012,345.67 USD"),  # no float on the way
        (10000, "ISK", "stripe", "100.00 ISK"),  # Stripe sends ISK with two decimals
        (100, "ISK", "shopify", "100 ISK"),  # Shopify follows ISO 4217: none
        (None, "USD", "stripe", "—"),
    ],
)
def test_amounts_are_shown_exactly_with_their_code(amount, currency, source, shown):
    assert format_minor(amount, currency, source) == shown


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [(123450, "USD", "1234.50"), (-12, "USD", "-0.12"), (5000, "JPY", "5000"), (None, "USD", "")],
)
def test_amounts_for_a_spreadsheet_are_exact_and_plain(amount, currency, shown):
    assert major_units(amount, currency) == shown
