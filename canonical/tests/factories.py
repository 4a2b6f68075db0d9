"""Canonical rows as normalizers would produce them, for upsert and recon tests."""

from __future__ import annotations

from datetime import UTC, date, datetime

from canonical.rows import CanonicalRow


def payout_line_row(
    source_id: str, *, payout: str = "po_1", amount: int = 1000, fee: int = 59, **overrides
) -> CanonicalRow:
    fields = {
        "payout_source_id": payout,
        "type": "charge",
        "reporting_category": "charge",
        "currency": "USD",
        "amount_minor": amount,
        "fee_minor": fee,
        "net_minor": amount - fee,
        "fee_details": [{"amount_minor": fee, "currency": "USD", "type": "stripe_fee", "description": "fee"}],
        "exchange_rate": None,
        "source_object_id": "ch_" + source_id,
        "source_object_type": "charge",
        "source_order_id": None,
        "available_on": date(2026, 11, 2),
    }
    fields.update(overrides)
    return CanonicalRow(
        kind="payout_line",
        source="stripe",
        source_id=source_id,
        fields=fields,
        raw_data={"id": source_id, "amount": fields["amount_minor"], "fee": fields["fee_minor"]},
        source_created_at=datetime(2026, 11, 1, tzinfo=UTC),
    )
