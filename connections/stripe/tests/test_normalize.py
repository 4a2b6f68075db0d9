"""Stripe normalizers on real Stripe objects (stripe/openapi and dj-stripe fixtures) and the sandbox."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from canonical.rows import KIND_FIELDS, CanonicalRow
from connections.stripe.normalize import (
    normalize,
    normalize_balance_transaction,
    normalize_charge,
    normalize_dispute,
    normalize_payment_intent,
    normalize_payout,
    normalize_refund,
    source_object_type,
)
from connections.stripe.sandbox.business import StripeBusiness
from connections.stripe.tests.openapi_schema import SHARED_DATA

STRIPE = json.loads((SHARED_DATA / "stripe" / "fixtures3.json").read_text())["resources"]


def dj(name: str) -> dict:
    return json.loads((SHARED_DATA / "dj-stripe" / f"{name}.json").read_text())


# ----------------------------------------------------------------------------- stripe/openapi fixtures3


def test_fixture_balance_transaction() -> None:
    row = normalize_balance_transaction(STRIPE["balance_transaction"])
    assert (row.kind, row.source, row.source_id) == ("payout_line", "stripe", "txn_1PgaxNB7WZ01zgkWEV3TLf40")
    assert row.fields == {
        "payout_source_id": None,
        "type": "charge",
        "reporting_category": "charge",
        "currency": "USD",
        "amount_minor": 100,
        "fee_minor": 0,
        "net_minor": 100,
        "fee_details": [],
        "exchange_rate": None,
        "source_object_id": "ch_1PgafuB7WZ01zgkWXYmPNZs8",
        "source_object_type": "charge",
        "source_order_id": None,
        "available_on": date(2009, 2, 13),
    }
    assert row.source_created_at == datetime(2009, 2, 13, 23, 31, 30, tzinfo=UTC)
    assert row.raw_data == STRIPE["balance_transaction"]


def test_fixture_payout() -> None:
    row = normalize_payout(STRIPE["payout"])
    assert row.source_id == "po_1Pgc79B7WZ01zgkWu1KToYf4"
    assert row.fields == {
        "currency": "USD",
        "amount_minor": 1100,
        "status": "in_transit",
        "method": "standard",
        "automatic": True,
        "arrival_date": date(2009, 2, 13),
        "failure_code": None,
        "reversal_of_source_id": None,
    }


def test_fixture_charge_refund_dispute_payment_intent() -> None:
    charge = normalize_charge(STRIPE["charge"])
    assert charge.kind == "payment"
    assert charge.fields == {
        "order_source_id": None,
        "currency": "USD",
        "amount_minor": 100,
        "status": "succeeded",
        "captured": False,
        "gateway": "stripe",
        "is_gift_card": False,
        "balance_transaction_source_id": "txn_1PgaxNB7WZ01zgkWEV3TLf40",
    }
    refund = normalize_refund(STRIPE["refund"])
    assert refund.fields == {
        "payment_source_id": "ch_1PgafuB7WZ01zgkWXYmPNZs8",
        "order_source_id": None,
        "currency": "USD",
        "amount_minor": 100,
        "status": "succeeded",
        "reason": None,
    }
    dispute = normalize_dispute(STRIPE["dispute"])
    assert dispute.fields == {
        "payment_source_id": "ch_1PgafuB7WZ01zgkWXYmPNZs8",
        "currency": "USD",
        "amount_minor": 1000,
        "status": "warning_needs_response",
        "reason": "general",
    }
    order = normalize_payment_intent(STRIPE["payment_intent"])
    assert order.kind == "order"
    assert order.fields == {
        "order_number": "pi_1PgafyB7WZ01zgkWSjxsAJo3",  # no metadata order_id: the PI id
        "currency": "USD",
        "total_minor": 1099,
        "gift_card_sold_minor": 0,
        "financial_status": "pending",  # requires_payment_method
        "cancelled": False,
    }
    assert order.source_updated_at == datetime(2009, 2, 13, 23, 31, 30, tzinfo=UTC)  # canceled_at is set there


# ----------------------------------------------------------------------------- dj-stripe fixtures


def test_dj_stripe_charge_balance_transaction_with_card_fee() -> None:
    row = normalize_balance_transaction(dj("balance_transaction_txn_fake_ch_fakefakefakefakefake0001"))
    assert row.fields["amount_minor"] == 2000
    assert row.fields["fee_minor"] == 88
    assert row.fields["net_minor"] == 1912
    assert row.fields["fee_details"] == [
        {"amount_minor": 88, "currency": "USD", "type": "stripe_fee", "description": "Stripe processing fees"}
    ]
    assert row.fields["reporting_category"] == "charge"
    assert row.fields["source_object_id"] == "ch_fakefakefakefakefake0001"
    assert row.fields["available_on"] == date(2019, 5, 23)


def test_dj_stripe_charge() -> None:
    row = normalize_charge(dj("charge_ch_fakefakefakefakefake0001"))
    assert row.fields["amount_minor"] == 2000
    assert row.fields["currency"] == "USD"
    assert row.fields["order_source_id"] == "pi_fakefakefakefakefake0001"
    assert row.fields["captured"] is True
    assert row.fields["balance_transaction_source_id"] == "txn_fake_ch_fakefakefakefakefake0001"


def test_a_partially_captured_charge_is_the_amount_captured() -> None:
    # authorized 20.00, captured 15.00: only 15.00 moves and settles (its balance transaction
    # says 1500), the other 5.00 is released without any Refund object
    charge = {**dj("charge_ch_fakefakefakefakefake0001"), "amount_captured": 1500, "captured": True}

    row = normalize_charge(charge)

    assert row.fields["amount_minor"] == 1500
    assert row.fields["captured"] is True


def test_an_uncaptured_authorization_keeps_its_amount_and_says_so() -> None:
    charge = {**dj("charge_ch_fakefakefakefakefake0001"), "amount_captured": 0, "captured": False}

    row = normalize_charge(charge)

    assert (row.fields["amount_minor"], row.fields["captured"]) == (2000, False)


def test_dj_stripe_dispute_withdrawal_line_is_a_dispute_by_category_not_type() -> None:
    row = normalize_balance_transaction(dj("dispute_txn_fakefakefakefake01"))
    assert (row.fields["type"], row.fields["reporting_category"]) == ("adjustment", "dispute")
    assert (row.fields["amount_minor"], row.fields["fee_minor"], row.fields["net_minor"]) == (-1000, 1500, -2500)
    assert row.fields["fee_details"][0]["description"] == "Dispute fee"
    assert row.fields["source_object_type"] == "dispute"
    assert row.fields["source_object_id"] == "dp_1JHRCWJSZQVUcJYgEHzUiuvb"


def test_dj_stripe_dispute_funds_withdrawn_then_reinstated() -> None:
    dispute = dj("dispute_dp_funds_reinstated_full")
    row = normalize_dispute(dispute)
    assert row.fields == {
        "payment_source_id": "ch_fakefakefakefakefake0001",
        "currency": "USD",
        "amount_minor": 1000,
        "status": "under_review",
        "reason": "fraudulent",
    }
    lines = [normalize_balance_transaction(bt) for bt in dispute["balance_transactions"]]
    assert [line.fields["reporting_category"] for line in lines] == ["dispute", "dispute_reversal"]
    assert [line.fields["net_minor"] for line in lines] == [-2500, 2500]
    assert [line.fields["fee_minor"] for line in lines] == [1500, -1500]
    assert lines[1].fields["fee_details"] == [
        {"amount_minor": -1500, "currency": "USD", "type": "stripe_fee", "description": "Dispute fee refund"}
    ]
    assert sum(line.fields["net_minor"] for line in lines) == 0
    open_dispute = normalize_dispute(dj("dispute_dp_fakefakefakefake01"))
    assert open_dispute.fields["status"] == "needs_response"


def test_dj_stripe_payment_intents() -> None:
    order = normalize_payment_intent(dj("payment_intent_pi_fakefakefakefakefake0001"))
    assert order.fields["total_minor"] == 2000
    assert order.fields["financial_status"] == "paid"
    assert order.fields["order_number"] == "pi_fakefakefakefakefake0001"
    destination = normalize_payment_intent(dj("payment_intent_pi_destination_charge"))
    assert (destination.fields["total_minor"], destination.fields["currency"]) == (190200, "USD")
    # dj-stripe stores absent values as "": still a paid order, no cancellation.
    disputed = normalize_payment_intent(dj("dispute_pi_fakefakefakefake01"))
    assert disputed.fields["financial_status"] == "paid"
    assert disputed.fields["cancelled"] is False
    assert disputed.source_updated_at is None


@pytest.mark.parametrize("name", ["payout_custom_bank_account", "payout_custom_card"])
def test_a_decimal_string_amount_is_refused_not_guessed(name: str) -> None:
    payout = dj(name)
    assert payout["amount"] == "10.00"
    with pytest.raises(ValueError, match=r"payout po_1JR569QuFmP1Mw5uxasKoRx5: amount is '10\.00', not an integer"):
        normalize_payout(payout)


def test_a_charge_with_decimal_string_amounts_is_refused() -> None:
    with pytest.raises(ValueError, match=r"charge ch_1JHRCWJSZQVUcJYgOCavbxio: amount is '10\.00'"):
        normalize_charge(dj("dispute_ch_fakefakefakefake01"))


# ----------------------------------------------------------------------------- rules


def _bt(**overrides: object) -> dict:
    base = {
        "id": "txn_1",
        "object": "balance_transaction",
        "amount": 1000,
        "available_on": 1_700_000_000,
        "created": 1_699_900_000,
        "currency": "usd",
        "exchange_rate": None,
        "fee": 59,
        "fee_details": [
            {"amount": 59, "currency": "usd", "type": "stripe_fee", "description": "Stripe processing fees"}
        ],
        "net": 941,
        "reporting_category": "charge",
        "source": "ch_1",
        "status": "available",
        "type": "charge",
    }
    return base | overrides


def test_an_instant_payout_fee_is_a_fee_line_of_its_own_with_no_source_object() -> None:
    # Stripe's fee for an Instant Payout of 1,685.87 USD (1.5%: 25.29), as the list of the
    # automatic payout that swept it in returns it
    fee = _bt(
        id="txn_3QjhDTzB5eeSvY8D25yvqJyx",
        amount=-2529,
        fee=0,
        fee_details=[],
        net=-2529,
        reporting_category="fee",
        type="stripe_fee",
        source=None,
        description="Instant Payout fee (po_1N5mZguFpDHJsXYuLZM9wyso)",
    )

    row = normalize_balance_transaction(fee, payout_source_id="po_1D4NAHRjxxLF3NN7FvPpoFJT")

    assert row.fields == {
        "payout_source_id": "po_1D4NAHRjxxLF3NN7FvPpoFJT",
        "type": "stripe_fee",
        "reporting_category": "fee",
        "currency": "USD",
        "amount_minor": -2529,
        "fee_minor": 0,
        "net_minor": -2529,
        "fee_details": [],
        "exchange_rate": None,
        "source_object_id": None,
        "source_object_type": None,
        "source_order_id": None,
        "available_on": date(2023, 11, 14),
    }


def test_net_is_passed_through_not_recomputed() -> None:
    row = normalize_balance_transaction(_bt(net=940))
    assert row.fields["net_minor"] == 940  # the reconciliation must see the mismatch


def test_payout_source_id_comes_from_the_caller() -> None:
    assert normalize_balance_transaction(_bt(), payout_source_id="po_9").fields["payout_source_id"] == "po_9"
    assert normalize(_bt(), payout_source_id="po_9").fields["payout_source_id"] == "po_9"


def test_expanded_source_object() -> None:
    row = normalize_balance_transaction(_bt(source={"id": "re_5", "object": "refund", "amount": 100}))
    assert (row.fields["source_object_id"], row.fields["source_object_type"]) == ("re_5", "refund")


def test_source_type_from_prefix() -> None:
    assert [
        source_object_type(s)
        for s in ("ch_1", "py_1", "re_1", "pyr_1", "dp_1", "du_1", "po_1", "tr_1", "zz_1", None, "")
    ] == [
        "charge",
        "charge",
        "refund",
        "refund",
        "dispute",
        "dispute",
        "payout",
        "transfer",
        "other",
        None,
        None,
    ]


def test_multi_currency_and_zero_decimal() -> None:
    row = normalize_balance_transaction(_bt(exchange_rate=1.0929, amount=1093, net=1034))
    assert row.fields["exchange_rate"] == "1.0929"
    assert normalize_balance_transaction(_bt(exchange_rate=6.8e-05)).fields["exchange_rate"] == "0.000068"
    charge = normalize_charge({**STRIPE["charge"], "currency": "jpy", "amount": 4800})
    assert (charge.fields["currency"], charge.fields["amount_minor"]) == ("JPY", 4800)  # 4,800 yen, not 48


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("amount", 10.0, "amount is 10.0, not an integer"),
        ("amount", True, "amount is True, not an integer"),
        ("fee", None, "fee is None"),
        ("currency", "us dollars", "not a three-letter ISO 4217 code"),
        ("reporting_category", None, "no reporting_category"),
        ("created", "2024-01-01", "not a unix timestamp"),
        ("object", "charge", "expected a Stripe balance_transaction"),
        ("exchange_rate", "abc", "not a number"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalize_balance_transaction(_bt(**{field: value}))


def test_payment_intent_states() -> None:
    pi = {
        **STRIPE["payment_intent"],
        "metadata": {"order_id": "ORD-7"},
        "status": "succeeded",
        "amount": 5000,
        "amount_received": 5000,
    }
    assert normalize_payment_intent(pi).fields["order_number"] == "ORD-7"
    assert normalize_payment_intent(pi).fields["financial_status"] == "paid"
    # captured 42.29 of a 50.00 authorization: final, the rest released
    partial = normalize_payment_intent({**pi, "amount_received": 4229})
    assert (partial.fields["financial_status"], partial.fields["total_minor"]) == ("partially_captured", 5000)
    expanded = {**pi, "latest_charge": {**STRIPE["charge"], "amount_refunded": 1000}}
    assert normalize_payment_intent(expanded).fields["financial_status"] == "partially_refunded"
    expanded = {**pi, "latest_charge": {**STRIPE["charge"], "amount_refunded": 5000}}
    assert normalize_payment_intent(expanded).fields["financial_status"] == "refunded"
    authorized = normalize_payment_intent({**pi, "status": "requires_capture", "amount_received": 0})
    assert authorized.fields["financial_status"] == "authorized"
    canceled = normalize_payment_intent({**pi, "status": "canceled", "amount_received": 0})
    assert (canceled.fields["financial_status"], canceled.fields["cancelled"]) == ("voided", True)
    with pytest.raises(ValueError, match="unknown PaymentIntent status"):
        normalize_payment_intent({**pi, "status": "exploded"})


def test_normalize_dispatches_and_refuses_unknown_objects() -> None:
    assert normalize(STRIPE["refund"]).kind == "refund"
    with pytest.raises(ValueError, match="no Stripe normalizer for object type 'transfer'"):
        normalize(STRIPE["transfer"])


# ----------------------------------------------------------------------------- the whole sandbox


def test_every_sandbox_object_normalizes_and_payouts_reconcile_on_canonical_rows() -> None:
    business = StripeBusiness(seed=7, days=30)
    rows: dict[str, list[CanonicalRow]] = {}
    for resource, col in business.cols.items():
        rows[resource] = [normalize(obj) for obj in col.items]
        for row in rows[resource]:
            assert set(row.fields) == set(KIND_FIELDS[row.kind])
            assert row.source_created_at is not None
            assert row.source_created_at.tzinfo is UTC
            for name, value in row.fields.items():
                if name.endswith("_minor"):
                    assert type(value) is int
                if name == "currency":
                    assert value.isupper()
    for payout in (row for row in rows["payouts"] if row.fields["automatic"]):
        lines = [
            normalize_balance_transaction(business.get("balance_transactions", txn), payout_source_id=payout.source_id)
            for txn in business.payout_line_ids(payout.source_id)
        ]
        own = payout.raw_data["balance_transaction"]
        assert all(line.fields["payout_source_id"] == payout.source_id for line in lines)
        assert sum(line.fields["net_minor"] for line in lines if line.source_id != own) == payout.fields["amount_minor"]
    orders = {row.source_id: row for row in rows["payment_intents"]}
    for payment in rows["charges"]:
        assert payment.fields["order_source_id"] in orders
    jpy = [p for p in rows["charges"] if p.fields["currency"] == "JPY"]
    assert jpy
    assert all(p.fields["amount_minor"] % 100 == 0 for p in jpy)
    instant = [p for p in rows["payouts"] if not p.fields["automatic"]]
    assert [(p.fields["method"], p.fields["status"]) for p in instant] == [("instant", "paid")]
    failed = [p for p in rows["payouts"] if p.fields["status"] == "failed"]
    assert [p.fields["failure_code"] for p in failed] == ["account_closed"]
