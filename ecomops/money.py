"""Money: minor-unit exponents as each processor counts them, and formatting for people.

Stripe documents its own list (docs.stripe.com/currencies): zero-decimal currencies, and
three-decimal ones. Where Stripe differs from ISO 4217 (ISK, HUF, TWD, UGX are sent with two
decimals; MGA is zero-decimal), amounts in its API follow its list, so a conversion must too.
Shopify speaks ISO 4217 (``connections.shopify.money.currency_exponent``, ISO's minor units).
"""

from __future__ import annotations

from decimal import Decimal

from connections.shopify.money import MoneyError, currency_exponent

STRIPE_ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "VND", "VUV", "XAF", "XOF", "XPF"}
)
STRIPE_THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})


def minor_exponent(currency: str, source: str = "stripe") -> int:
    """Decimal places of ``currency``'s minor unit in ``source``'s API (USD 2, JPY 0, KWD 3)."""
    code = (currency or "").upper()
    if source == "stripe":
        if code in STRIPE_ZERO_DECIMAL:
            return 0
        return 3 if code in STRIPE_THREE_DECIMAL else 2
    try:
        return currency_exponent(code)
    except MoneyError:
        return 2


def format_minor(amount_minor: int | None, currency: str, source: str = "stripe") -> str:
    """``123450, "USD"`` -> ``"1,234.50 USD"``; ``5000, "JPY"`` -> ``"5,000 JPY"``; None -> ``"—"``.

    The one money format of the console: exact (Decimal, never a float), grouped, with the
    currency's code after the amount rather than a symbol, since reconciliation puts amounts
    of several currencies side by side and "$" would not say which dollar. Decimals as the
    source's API counts them.
    """
    if amount_minor is None:
        return "—"
    code = (currency or "").upper()
    return f"{_major(amount_minor, code, source, grouped=True)} {code}".strip()


def major_units(amount_minor: int | None, currency: str, source: str = "stripe") -> str:
    """``123450, "USD"`` -> ``"1234.50"``: the exact amount for a spreadsheet (no grouping, no
    code); None -> ``""``."""
    if amount_minor is None:
        return ""
    return _major(amount_minor, currency, source, grouped=False)


def _major(amount_minor: int, currency: str, source: str, *, grouped: bool) -> str:
    """Minor units as an exact decimal in major units, with every decimal the currency has."""
    exponent = minor_exponent(currency, source)
    value = Decimal(int(amount_minor)).scaleb(-exponent)
    return f"{value:,.{exponent}f}" if grouped else f"{value:.{exponent}f}"
