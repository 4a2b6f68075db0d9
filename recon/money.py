"""Minor-unit exponents as each processor counts them, for FX comparisons and display.

Stripe documents its own list (docs.stripe.com/currencies): zero-decimal currencies, and
three-decimal ones whose last digit must be 0. Where Stripe differs from ISO 4217 (ISK,
HUF, TWD, UGX are sent with two decimals for backwards compatibility; MGA is zero-decimal),
amounts in its API follow its list, so a conversion must too. Shopify speaks ISO 4217
(``connections.shopify.money.currency_exponent``, which reads CLDR through babel).
"""

from __future__ import annotations

from decimal import Decimal

from ecomops.money import STRIPE_THREE_DECIMAL, STRIPE_ZERO_DECIMAL, minor_exponent


def amount_with_code(amount: int | None, currency: str, source: str = "stripe") -> str:
    """``10050, "USD"`` → ``"100.50 USD"``; ``5000, "JPY"`` → ``"5000 JPY"``; None → ``"—"``.

    The code after the amount, never a symbol: reconciliation compares amounts across
    currencies, where "$" would not say which dollar (``ecomops.money.format_minor`` gives
    the symbol form for the data tables).
    """
    if amount is None:
        return "—"
    exponent = minor_exponent(currency, source)
    value = Decimal(amount).scaleb(-exponent)
    return f"{value:.{exponent}f} {currency}".strip()


def exponent_sql(column: str) -> str:
    """A SQL expression for the Stripe exponent of a currency column (codes come from this module)."""
    zero = ", ".join(f"'{code}'" for code in sorted(STRIPE_ZERO_DECIMAL))
    three = ", ".join(f"'{code}'" for code in sorted(STRIPE_THREE_DECIMAL))
    return f"(CASE WHEN {column} IN ({zero}) THEN 0 WHEN {column} IN ({three}) THEN 3 ELSE 2 END)"
