"""The payout journal entry, as pure functions (DESIGN §6).

One balanced ``journalentry`` per payout, built from the payout's category totals and
the tenant's GL mapping. Amounts are integer minor units until the very end, where they
become ``Decimal`` with the currency's exponent; the entry is checked to balance to the
minor unit in integers before anything is built, and an entry that does not balance, or
that needs an account the mapping lacks, raises instead of being sent.

Sign convention - the one rule every field follows: each category total is signed so
that the categories add up to ``amount_minor``, the amount that reached the bank. That is
how a processor's balance transactions add up to a payout (Stripe's ``net`` values):
charges are positive, refunds, fees, disputes and reserve holds negative, dispute
reversals and reserve releases positive. A positive category is credited to its
account, a negative one debited; the bank is debited with a positive payout (credited
with a negative one, e.g. the reversal of a payout that failed after it was posted).

Where each category goes:

=========================  ===================  ==============================================
category                   mapping account      typical sign / line
=========================  ===================  ==============================================
gross_charges_minor        clearing             + credit undeposited funds (sales already booked)
refunds_minor              refunds              - debit
processor_fees_minor       processor_fees       - debit fee expense (lines' fees, and fee lines of
                                                their own such as Stripe's Instant Payout fee)
disputes_minor             chargebacks          - debit
dispute_fees_minor         dispute_fees         - debit (a refunded fee nets it to 0)
dispute_reversals_minor    chargebacks          + credit (won dispute)
adjustments_minor          adjustments          +/-
reserve_holds_minor        reserves             - debit reserve receivable
reserve_releases_minor     reserves             + credit
fx_difference_minor        fx_gain_loss         + gain credit / - loss debit
payout_reversal_minor      clearing             failed payout: money back in the processor balance
manual_payouts_minor       clearing             + a manual/instant payout's own entry; - its line
                                                swept into a later automatic payout
accepted_difference_minor  adjustments          +/- what the lines do not explain, accepted by a person
=========================  ===================  ==============================================

``accepted_difference_minor`` is the one field not summed from lines: a payout whose lines do
not add up to its amount is reconciled only once a person accepts the difference, and the
entry books exactly that difference (see :func:`unexplained_minor`) so it still balances.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from babel.numbers import list_currencies

from connections.shopify.money import currency_exponent as iso_exponent

Source = Literal["stripe", "shopify"]
EntryKind = Literal["payout", "reversal"]
SOURCES: frozenset[str] = frozenset({"stripe", "shopify"})
# NetSuite does not publish one number for every record; 80 characters keeps us well inside
# what SOAP, REST and CSV imports accept for externalId.
MAX_EXTERNAL_ID_LENGTH = 80


@dataclass(frozen=True)
class PayoutSummary:
    """What one payout consists of, in minor units of the settlement ``currency``.

    Category totals follow the module's sign rule (they add up to ``amount_minor``).
    ``currency_exponent`` overrides the ISO 4217 exponent for a processor's documented
    exceptions (e.g. Stripe sends ISK in two-decimal minor units).
    """

    tenant_id: str
    source: Source
    payout_id: str
    currency: str
    arrival_date: date
    subsidiary_id: str
    amount_minor: int
    gross_charges_minor: int = 0
    refunds_minor: int = 0
    processor_fees_minor: int = 0
    disputes_minor: int = 0
    dispute_fees_minor: int = 0
    dispute_reversals_minor: int = 0
    adjustments_minor: int = 0
    reserve_holds_minor: int = 0
    reserve_releases_minor: int = 0
    fx_difference_minor: int = 0
    payout_reversal_minor: int = 0
    accepted_difference_minor: int = 0
    manual_payouts_minor: int = 0
    kind: EntryKind = "payout"
    currency_exponent: int | None = None


@dataclass(frozen=True)
class GlMapping:
    """NetSuite internal ids of the accounts a tenant posts payouts to, plus currency ids.

    ``currency_ids`` maps ISO codes to NetSuite currency internal ids (NetSuite's
    ``refName`` for a currency is its display name, e.g. "USA", not the ISO code, so the id
    is the only reliable reference).
    """

    bank: str | None = None
    clearing: str | None = None
    processor_fees: str | None = None
    refunds: str | None = None
    chargebacks: str | None = None
    dispute_fees: str | None = None
    adjustments: str | None = None
    reserves: str | None = None
    fx_gain_loss: str | None = None
    currency_ids: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Category:
    """A payout category: the summary field, the mapping account, the line label."""

    field: str
    account: str
    label: str

    @property
    def name(self) -> str:
        """Short category name used in errors and line data (``refunds``, ``bank``)."""
        return "bank" if self.field == "amount_minor" else self.field.removesuffix("_minor")


CATEGORIES: tuple[Category, ...] = (
    Category("gross_charges_minor", "clearing", "Gross charges"),
    Category("refunds_minor", "refunds", "Refunds"),
    Category("processor_fees_minor", "processor_fees", "Processor fees"),
    Category("disputes_minor", "chargebacks", "Disputes (chargebacks)"),
    Category("dispute_fees_minor", "dispute_fees", "Dispute fees"),
    Category("dispute_reversals_minor", "chargebacks", "Dispute reversals (won)"),
    Category("adjustments_minor", "adjustments", "Adjustments"),
    Category("reserve_holds_minor", "reserves", "Reserve holds"),
    Category("reserve_releases_minor", "reserves", "Reserve releases"),
    Category("fx_difference_minor", "fx_gain_loss", "FX difference"),
    Category("payout_reversal_minor", "clearing", "Failed payout returned to processor balance"),
    Category("accepted_difference_minor", "adjustments", "Difference accepted in reconciliation"),
    Category("manual_payouts_minor", "clearing", "Payout made by hand (instant or manual)"),
)
BANK = Category("amount_minor", "bank", "Payout to bank")


class JournalBuildError(ValueError):
    """The payout cannot be turned into a journal entry."""


class UnbalancedEntryError(JournalBuildError):
    """Debits and credits differ (in minor units): the entry is not built, nothing is sent."""

    def __init__(self, debits_minor: int, credits_minor: int, currency: str) -> None:
        self.debits_minor = debits_minor
        self.credits_minor = credits_minor
        self.difference_minor = debits_minor - credits_minor
        super().__init__(
            f"journal entry does not balance: debits {debits_minor} != credits {credits_minor} "
            f"({currency} minor units, difference {self.difference_minor}); the category totals must add "
            "up to the payout amount"
        )


class UnmappedAccountError(JournalBuildError):
    """The GL mapping lacks an account (or the currency id) that this payout needs."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(
            f"GL mapping has no NetSuite id for: {', '.join(missing)} (categories name their mapping account: "
            + ", ".join(f"{c.name}->{c.account}" for c in (BANK, *CATEGORIES) if c.name in missing)
            + ")"
        )


@dataclass(frozen=True)
class JournalLine:
    """One line, in integer minor units; exactly one of debit/credit is non-zero."""

    account_id: str
    category: str
    debit_minor: int
    credit_minor: int
    memo: str


def currency_exponent(currency: str, override: int | None = None) -> int:
    """Minor-unit exponent: ``override`` if given, else ISO 4217's (JPY 0, USD 2, KWD 3, RSD 2)."""
    code = currency.upper()
    if code not in _known_currencies():
        raise JournalBuildError(f"unknown ISO 4217 currency {currency!r}")
    if override is not None:
        if not 0 <= override <= 4:
            raise JournalBuildError(f"implausible currency exponent {override} for {code}")
        return override
    return iso_exponent(code)


def minor_to_decimal(amount_minor: int, exponent: int) -> Decimal:
    """Exact conversion: ``1234, 2 -> Decimal('12.34')``; ``1200, 2 -> Decimal('12.00')``."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError("amounts must be integer minor units")
    return Decimal(amount_minor).scaleb(-exponent)


def external_id_for(tenant_id: str | int, source: str, payout_id: str, kind: EntryKind = "payout") -> str:
    """The journal entry's NetSuite ``externalId``: deterministic, short, unique per payout.

    ``ecomops-{source}-{tenant tag}-{payout id}[-rev]-{digest}``, lower case. NetSuite
    compares external ids case-insensitively, while processor ids (``po_1AbC``) are case-
    sensitive: the trailing digest of the exact (tenant, source, payout, kind) keeps two
    payouts that differ only in case - or in characters we replace - apart. The readable
    part is trimmed to fit :data:`MAX_EXTERNAL_ID_LENGTH`; the digest never is.
    """
    if source not in SOURCES:
        raise JournalBuildError(f"unknown source {source!r}")
    if not str(payout_id):
        raise JournalBuildError("payout_id is required")
    identity = f"{tenant_id}\x1f{source}\x1f{payout_id}\x1f{kind}"
    digest = hashlib.blake2b(identity.encode(), digest_size=6).hexdigest()
    tenant_tag = hashlib.blake2b(f"tenant\x1f{tenant_id}".encode(), digest_size=4).hexdigest()
    readable = re.sub(r"[^a-z0-9_.]+", "_", str(payout_id).lower()).strip("_") or "payout"
    suffix = ("-rev" if kind == "reversal" else "") + f"-{digest}"
    head = f"ecomops-{source}-{tenant_tag}-"
    room = MAX_EXTERNAL_ID_LENGTH - len(head) - len(suffix)
    return f"{head}{readable[:room]}{suffix}"


def unexplained_minor(summary: PayoutSummary) -> int:
    """What the category totals leave unexplained of the payout amount (0 for a sound summary)."""
    return summary.amount_minor - sum(int(getattr(summary, category.field)) for category in CATEGORIES)


def build_lines(summary: PayoutSummary, mapping: GlMapping) -> list[JournalLine]:
    """The entry's lines in minor units: bank first, then one per non-zero category.

    Raises UnmappedAccountError (naming every missing category) or UnbalancedEntryError.
    """
    needed: list[tuple[Category, int]] = []
    if summary.amount_minor:
        needed.append((BANK, summary.amount_minor))
    for category in CATEGORIES:
        amount = getattr(summary, category.field)
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise TypeError(f"{category.field} must be integer minor units, got {amount!r}")
        if amount:
            needed.append((category, amount))
    if not needed:
        raise JournalBuildError(f"payout {summary.payout_id} has nothing to post (all amounts are zero)")

    missing = [c.name for c, _ in needed if not getattr(mapping, c.account)]
    if summary.currency.upper() not in mapping.currency_ids:
        missing.append(f"currency:{summary.currency.upper()}")
    if missing:
        raise UnmappedAccountError(missing)

    subject = f"{summary.source} payout {summary.payout_id}"
    lines: list[JournalLine] = []
    for category, amount in needed:
        account_id = str(getattr(mapping, category.account))
        if category is BANK:
            debit, credit = (amount, 0) if amount > 0 else (0, -amount)  # money in: debit the bank
        else:
            debit, credit = (0, amount) if amount > 0 else (-amount, 0)  # added to the payout: credit
        lines.append(
            JournalLine(
                account_id=account_id,
                category=category.name,
                debit_minor=debit,
                credit_minor=credit,
                memo=f"{category.label} - {subject}",
            )
        )
    debits = sum(line.debit_minor for line in lines)
    credits = sum(line.credit_minor for line in lines)
    if debits != credits:
        raise UnbalancedEntryError(debits, credits, summary.currency.upper())
    return lines


def build_journal_entry(summary: PayoutSummary, mapping: GlMapping) -> dict[str, Any]:
    """The NetSuite REST ``journalentry`` body for a payout (amounts as exact ``Decimal``).

    Send it with :func:`netsuite.jsonio.dumps` (the client does), which writes each
    Decimal as a JSON number with the currency's decimals, e.g. ``"debit": 12.30``.
    """
    if summary.source not in SOURCES:
        raise JournalBuildError(f"unknown source {summary.source!r}")
    exponent = currency_exponent(summary.currency, summary.currency_exponent)
    lines = build_lines(summary, mapping)
    code = summary.currency.upper()
    if summary.kind == "reversal":
        memo = f"EcomOps: reversal of failed {summary.source} payout {summary.payout_id}"
    else:
        memo = f"EcomOps: {summary.source} payout {summary.payout_id} arriving {summary.arrival_date.isoformat()}"
    items: list[dict[str, Any]] = []
    for line in lines:
        item: dict[str, Any] = {"account": {"id": line.account_id}}
        if line.debit_minor:
            item["debit"] = minor_to_decimal(line.debit_minor, exponent)
        else:
            item["credit"] = minor_to_decimal(line.credit_minor, exponent)
        item["memo"] = line.memo
        items.append(item)
    return {
        "externalId": external_id_for(summary.tenant_id, summary.source, summary.payout_id, summary.kind),
        "tranDate": summary.arrival_date.isoformat(),
        "subsidiary": {"id": str(summary.subsidiary_id)},
        "currency": {"id": str(mapping.currency_ids[code])},
        "memo": memo,
        "line": {"items": items},
    }


_CURRENCIES: frozenset[str] | None = None


def _known_currencies() -> frozenset[str]:
    global _CURRENCIES
    if _CURRENCIES is None:
        _CURRENCIES = frozenset(list_currencies())
    return _CURRENCIES
