"""The contract between normalizers and the bulk upsert.

A normalizer is a pure function from one source object (as the provider's API returns
it) to zero or more ``CanonicalRow``s. It knows nothing of tenants, connections or the
database; the sync adds those and hands the rows to the bulk upsert, which computes the
dedupe key from the connection and ``source_id``.

Money fields end in ``_minor`` and are ``int`` in the currency's minor unit; currencies
are upper-case ISO 4217 codes. Timestamps are timezone-aware ``datetime`` in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Kind = Literal["order", "payment", "refund", "dispute", "payout", "payout_line"]
Source = Literal["stripe", "shopify"]

# The fields each kind carries besides the common ones (source, source_id, raw_data,
# source_created_at, source_updated_at). A normalizer fills every listed field; the
# value may be None where the provider has nothing.
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    # Stripe: a PaymentIntent (what the customer was asked to pay). Shopify: an Order.
    "order": (
        "order_number",  # Shopify order name ("#1001") or Stripe metadata order id / PI id
        "currency",
        "total_minor",  # what the customer owes, after discounts, incl. tax and shipping
        "gift_card_sold_minor",  # gift cards sold on the order: a liability, not revenue
        "financial_status",  # paid, partially_paid (more to come), partially_captured (final),
        # authorized, pending, refunded, partially_refunded, voided
        "cancelled",  # bool
    ),
    # Stripe: a Charge. Shopify: a successful SALE/CAPTURE OrderTransaction.
    "payment": (
        "order_source_id",  # source id of the order it pays (PI id / order GID), or None
        "currency",
        "amount_minor",
        "status",  # succeeded, failed, pending
        "captured",  # bool
        "gateway",  # stripe, shopify_payments, gift_card, manual, ...
        "is_gift_card",  # paid with a gift card (no processor money moves)
        "balance_transaction_source_id",  # txn_... where the processor says so
    ),
    "refund": (
        "payment_source_id",  # charge id / parent transaction GID
        "order_source_id",
        "currency",
        "amount_minor",
        "status",
        "reason",
    ),
    "dispute": (
        "payment_source_id",
        "currency",
        "amount_minor",
        "status",  # needs_response, under_review, won, lost, warning_closed, ...
        "reason",
    ),
    "payout": (
        "currency",
        "amount_minor",
        "status",  # paid, pending, in_transit, failed, canceled
        "method",  # standard, instant
        "automatic",  # bool: False for manual payouts (cannot be itemized)
        "arrival_date",  # date
        "failure_code",
        "reversal_of_source_id",  # for a payout that reverses another (Stripe `original_payout`)
    ),
    # One balance transaction.
    "payout_line": (
        "payout_source_id",  # the payout that paid it out, or None while unpaid
        "type",  # the provider's type (charge, refund, adjustment, payout, ...)
        "reporting_category",  # charge, refund, dispute, dispute_reversal, fee, payout,
        # payout_reversal, payout_minimum_balance_hold, payout_minimum_balance_release,
        # adjustment, gift_card, reserve_transaction, other ...
        "currency",  # settlement currency
        "amount_minor",
        "fee_minor",
        "net_minor",
        "fee_details",  # list of {"amount_minor", "currency", "type", "description"}
        "exchange_rate",  # str decimal or None
        "source_object_id",  # ch_/re_/dp_/po_ id or Shopify GID the line stands for
        "source_object_type",  # charge, refund, dispute, payout, adjustment, ...
        "source_order_id",  # Shopify: the order the line belongs to; Stripe: None
        "available_on",  # date or None
    ),
}

_FIELD_SETS = {kind: frozenset(names) for kind, names in KIND_FIELDS.items()}


@dataclass(frozen=True)
class CanonicalRow:
    kind: Kind
    source: Source
    source_id: str
    fields: dict[str, Any]
    raw_data: dict[str, Any]
    source_created_at: datetime | None = None
    source_updated_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.fields.keys() != _FIELD_SETS[self.kind]:  # a C-level set comparison, no copies
            expected, got = _FIELD_SETS[self.kind], set(self.fields)
            raise ValueError(
                f"{self.kind} row {self.source_id}: "
                f"missing {sorted(expected - got)}, unexpected {sorted(got - expected)}"
            )
