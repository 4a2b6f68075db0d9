"""Exact conversion between Shopify's decimal money and integer minor units.

Shopify sends money as decimal strings (GraphQL ``Decimal``: ``"29.99"``, ``"1500.0"``; REST:
``"409.94"``). The canonical model stores integer minor units, so every amount goes through
``to_minor_units``: arithmetic on the decimal digits themselves, never a float, and an
amount that is not a whole number of minor units is refused instead of rounded, because a
rounded cent is a reconciliation difference nobody can explain later.

This lives with the Shopify connection because Shopify is the provider that speaks decimals;
it has no Shopify-specific logic and could move to ``canonical`` if another source needs it.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import lru_cache

try:  # babel knows which codes are ISO 4217 currencies (CLDR's list)
    from babel.numbers import is_currency as _babel_is_currency
except ImportError:  # pragma: no cover - babel is a pinned requirement
    _babel_is_currency = None

# ISO 4217's minor units where they are not 2 (the ISO 4217 list, "List One"). Not CLDR's
# digits, which babel's get_currency_precision gives: CLDR says how many decimals people are
# shown (0 for RSD, IQD, LBP, YER...), while an amount may carry ISO's (Shopify sends
# "1299.50" RSD), and a conversion must never refuse a valid amount.
ISO_4217_EXPONENTS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW"), 0),
    **dict.fromkeys(("PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    "CLF": 4,
    "UYW": 4,
}

# Codes in Shopify's CurrencyCode enum that are not ISO 4217 (so not in CLDR): the Jersey pound
# and Kiribati dollar are pegged 1:1 to GBP and AUD and written with cents; Shopify shows USDC
# balances to the cent. An amount with more digits is refused, never silently rescaled.
_SHOPIFY_EXTRA_CURRENCIES = {"JEP": 2, "KID": 2, "USDC": 2}


class MoneyError(ValueError):
    """An amount or currency that cannot be represented exactly in minor units."""


@lru_cache(maxsize=512)
def currency_exponent(currency: str) -> int:
    """Number of decimal digits of the currency's ISO 4217 minor unit (USD 2, JPY 0, KWD 3, RSD 2).

    Raises ``MoneyError`` for a code that is not a currency, so a typo never defaults to 2.
    """
    if not isinstance(currency, str) or not currency.strip():
        raise MoneyError(f"currency code must be a non-empty string, got {currency!r}")
    code = currency.strip().upper()
    if code in _SHOPIFY_EXTRA_CURRENCIES:
        return _SHOPIFY_EXTRA_CURRENCIES[code]
    known = _babel_is_currency(code) if _babel_is_currency is not None else len(code) == 3 and code.isalpha()
    if not known:
        raise MoneyError(f"unknown currency code {currency!r}")
    return ISO_4217_EXPONENTS.get(code, 2)


def to_minor_units(amount: str | int | Decimal, currency: str) -> int:
    """Convert a decimal amount in ``currency`` to integer minor units, exactly.

    ``"12.30"`` USD → 1230, ``"1500.0"`` JPY → 1500, ``"1.234"`` KWD → 1234. Trailing zeros
    beyond the exponent are fine; a non-zero digit beyond it (``"12.345"`` USD, ``"10.5"`` JPY)
    raises ``MoneyError``. Floats are refused outright: they cannot carry a decimal amount
    exactly.
    """
    if isinstance(amount, bool | float):
        raise MoneyError(f"refusing {type(amount).__name__} amount {amount!r}: pass the decimal string")
    if isinstance(amount, str):
        text = amount.strip()
        if not text:
            raise MoneyError("empty amount")
        try:
            value = Decimal(text)
        except InvalidOperation as exc:
            raise MoneyError(f"not a decimal amount: {amount!r}") from exc
    elif isinstance(amount, int | Decimal):
        value = Decimal(amount)
    else:
        raise MoneyError(f"unsupported amount type {type(amount).__name__}")
    if not value.is_finite():
        raise MoneyError(f"not a finite amount: {amount!r}")

    exponent = currency_exponent(currency)
    sign, digits, exp = value.as_tuple()
    assert isinstance(exp, int)  # finite, checked above
    # Work on the digit tuple rather than Decimal arithmetic: the default decimal context has
    # 28 digits of precision and would round a very long amount without telling anyone.
    shift = exp + exponent
    coefficient = int("".join(map(str, digits))) if digits else 0
    if shift >= 0:
        minor = coefficient * 10**shift
    else:
        scale = 10**-shift
        minor, remainder = divmod(coefficient, scale)
        if remainder:
            raise MoneyError(f"{amount!r} {currency.upper()} has more decimals than the currency allows ({exponent})")
    return -minor if sign else minor


def format_minor_units(minor: int, currency: str, *, trim: bool = False) -> str:
    """Render integer minor units as a decimal string.

    ``trim=False`` gives the REST style with every minor digit (``"25.00"``, ``"1500"``);
    ``trim=True`` gives what Shopify's GraphQL ``Decimal`` looks like: trailing zeros dropped
    but at least one decimal digit (``"25.0"``, ``"25.5"``, ``"1500.0"``).
    """
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise MoneyError(f"minor units must be an int, got {minor!r}")
    exponent = currency_exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**exponent)
    fraction_text = str(fraction).rjust(exponent, "0") if exponent else ""
    if trim:
        fraction_text = fraction_text.rstrip("0") or "0"
    return f"{sign}{whole}.{fraction_text}" if fraction_text else f"{sign}{whole}"
