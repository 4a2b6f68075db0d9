"""Minor-unit exponents as each processor counts them, in SQL, for FX comparisons.

Stripe documents its own list (docs.stripe.com/currencies): zero-decimal currencies, and
three-decimal ones whose last digit must be 0. Where Stripe differs from ISO 4217 (ISK,
HUF, TWD, UGX are sent with two decimals for backwards compatibility; MGA is zero-decimal),
amounts in its API follow its list, so a conversion must too. Shopify speaks ISO 4217
(``connections.shopify.money.currency_exponent``, which reads CLDR through babel).
"""

from __future__ import annotations

from ecomops.money import STRIPE_THREE_DECIMAL, STRIPE_ZERO_DECIMAL


def exponent_sql(column: str) -> str:
    """A SQL expression for the Stripe exponent of a currency column (codes come from this module)."""
    zero = ", ".join(f"'{code}'" for code in sorted(STRIPE_ZERO_DECIMAL))
    three = ", ".join(f"'{code}'" for code in sorted(STRIPE_THREE_DECIMAL))
    return f"(CASE WHEN {column} IN ({zero}) THEN 0 WHEN {column} IN ({three}) THEN 3 ELSE 2 END)"
