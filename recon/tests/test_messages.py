"""Every reason code reads as a sentence with its amounts in major units."""

from __future__ import annotations

import uuid

import pytest

from recon.messages import exception_message
from recon.models import Reason, ReconException

CASES = {
    "payout_total_mismatch": (
        {"lines": 3},
        14505,
        15000,
        "Payout po_1 is 150.00 USD but its 3 lines add up to 145.05 USD",
    ),
    "line_net_mismatch": ({}, 9680, 9600, "net is 96.00 USD, but amount minus fee is 96.80 USD (difference -0.80 USD)"),
    "line_fee_mismatch": ({}, 310, 320, "fee is 3.20 USD, but its fee details add up to 3.10 USD"),
    "line_unmatched": ({"category": "charge", "object_id": "ch_9"}, 10000, None, "stands for ch_9"),
    "line_amount_mismatch": (
        {"object_amount": 10000, "object_currency": "EUR", "exchange_rate": "1.0925"},
        10925,
        11025,
        "its 100.00 EUR object comes to 109.25 USD at exchange rate 1.0925",
    ),
    "currency_mismatch": ({"against": "payout"}, 2000, 2000, "is in USD but its payout is in USD"),
    "payment_without_order": ({"order_id": "pi_gone"}, 10000, None, "points at order pi_gone"),
    "amount_mismatch": ({"tolerance": 50, "payments": 1}, 10051, 10000, "beyond the tolerance of 0.50 USD"),
    "order_unpaid": ({}, 4500, 0, "was paid (45.00 USD) but none of its payments is in a payout"),
    "refund_without_payment": ({"payment_id": "ch_x"}, 1000, None, "refunds ch_x"),
    "dispute_open": ({"status": "needs_response"}, 10000, None, "is needs_response"),
    "payout_failed": (
        {"status": "failed", "failure_code": "account_closed", "returned_by": {"line": "txn_f", "payout": "po_2"}},
        9680,
        0,
        "failed (account_closed). The funds came back in line txn_f of payout po_2.",
    ),
    "payout_reversed": ({"reversed_by": ["po_r"]}, 9680, 0, "was reversed by po_r"),
    "manual_payout_unitemized": (
        {"method": "instant", "carried_in": {"line": "txn_i", "payout": "po_2"}},
        4000,
        None,
        "cannot be itemized. It is carried as line txn_i in payout po_2.",
    ),
}


def test_every_reason_has_a_message():
    assert set(CASES) == set(Reason.values)


@pytest.mark.parametrize("reason", sorted(CASES))
def test_message_names_the_amounts(reason):
    detail, expected, actual, text = CASES[reason]
    subject = {"payout_total_mismatch": "po_1"}.get(reason, "ref_1")
    exception = ReconException(
        reason=reason,
        subject_type="payout",
        subject_id=uuid.uuid4(),
        subject_ref=subject,
        expected_minor=expected,
        expected_currency="USD",
        actual_minor=actual,
        actual_currency="USD" if actual is not None else "",
        detail=detail,
        tenant_id=uuid.uuid4(),
    )

    assert text in exception_message(exception)
