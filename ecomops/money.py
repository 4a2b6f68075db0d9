"""Money for people: integer minor units shown in their currency, exactly (never via float)."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency, get_currency_precision


def format_minor(amount_minor: int | None, currency: str) -> str:
    if amount_minor is None:
        return ""
    exponent = get_currency_precision(currency)
    amount = Decimal(int(amount_minor)).scaleb(-exponent)
    return format_currency(amount, currency, locale="en_US", currency_digits=True)
