"""Reconciliation of real objects others wrote (``../shared/data``), through our normalizers.

The shared files are real processor shapes, not a consistent ledger (see their README):
that is the point. Recon must find exactly the inconsistencies they contain, with the
amounts a person computes from the files by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connections.shopify import normalize as shopify
from connections.stripe import normalize as stripe
from recon.models import ReconPayout
from recon.tests.factories import connection, found, reconcile, write

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"

pytestmark = pytest.mark.usefixtures("in_a")


def load(*parts: str):
    return json.loads((DATA.joinpath(*parts)).read_text())


def paid_payout(payout_id: str, amount: int) -> dict:
    """A Stripe automatic payout in USD, paid (the shape of the 2023-08-16 API)."""
    return {
        "id": payout_id,
        "object": "payout",
        "amount": amount,
        "currency": "usd",
        "status": "paid",
        "automatic": True,
        "method": "standard",
        "arrival_date": 1626393600,
        "created": 1626307200,
        "failure_code": None,
        "original_payout": None,
    }


def test_shopify_payout_whose_transactions_do_not_add_up():
    # Shopify's REST fixtures: payout 623721858 of 41.90 USD, its summary, the 25 balance
    # transactions listed with it, and the shop's disputes.
    conn = connection("shopify")
    payout = load("shopify", "payout.json")["payout"]
    transactions = load("shopify", "payouts_transactions.json")["transactions"]
    disputes = load("shopify", "disputes.json")["disputes"] + [load("shopify", "dispute.json")["dispute"]]
    write(
        conn,
        shopify.normalize_rest_payout(payout),
        *[shopify.normalize_rest_balance_transaction(t) for t in transactions],
        *[shopify.normalize_rest_dispute(d) for d in disputes],
    )

    reconcile()

    payout_gid = "gid://shopify/ShopifyPaymentsPayout/623721858"
    exceptions = found()
    # By hand: the summary's gross minus fees is 2.13 - 0.12 + 44.52 - 1.32 - 3.54 + 0.23 = 41.90,
    # the payout amount; but the net of the 24 transactions besides the payout's own line is
    # 81.38. The payout is 39.48 short of its lines.
    summary = payout["summary"]
    gross = sum(float(v) for k, v in summary.items() if k.endswith("gross_amount"))
    fees = sum(float(v) for k, v in summary.items() if k.endswith("fee_amount"))
    assert round(gross - fees, 2) == 41.90
    total = exceptions[("payout_total_mismatch", payout_gid)]
    assert (total.expected_minor, total.actual_minor, total.difference_minor) == (8138, 4190, -3948)

    # Transaction 758509248: amount -1.50, fee -0.25, so net should be -1.25; it says -1.75.
    net = exceptions[("line_net_mismatch", "gid://shopify/ShopifyPaymentsBalanceTransaction/758509248")]
    assert (net.expected_minor, net.actual_minor) == (-125, -175)

    # The dispute line (726130462) stands for dispute 598735659, which is synced: linked, and
    # still needs a response. Four more disputes of the shop are open; two were won.
    open_disputes = {ref.rsplit("/", 1)[-1] for reason, ref in exceptions if reason == "dispute_open"}
    assert open_disputes == {"598735659", "815713555", "670893524", "85190714", "35982383"}
    assert exceptions[("dispute_open", "gid://shopify/ShopifyPaymentsDispute/598735659")].payout.source_id == payout_gid

    # No order transaction was synced: the 7 charge and 3 refund lines stand for nothing we
    # hold. The reserve hold (-42.00) and release (+42.00) and the adjustments need no object.
    unmatched = {ref.rsplit("/", 1)[-1] for reason, ref in exceptions if reason == "line_unmatched"}
    assert unmatched == {
        "746296004", "515523000", "620327031", "843310825", "357948134", "217609728", "567994517",
        "1006917261", "777128868", "201521674",
    }  # fmt: skip
    assert ReconPayout.objects.get(payout__source_id=payout_gid).lines_total_minor == 8138


def test_stripe_dispute_withdrawn_then_reinstated_from_dj_stripe_fixtures():
    # dj-stripe's charge (20.00, fee 0.88, net 19.12), its PaymentIntent, and the dispute of
    # 10.00 whose funds were withdrawn (fee 15.00, net -25.00) and reinstated (fee -15.00,
    # net +25.00): all in one payout of 19.12.
    conn = connection()
    charge = load("dj-stripe", "charge_ch_fakefakefakefakefake0001.json")
    intent = load("dj-stripe", "payment_intent_pi_fakefakefakefakefake0001.json")
    charge_txn = load("dj-stripe", "balance_transaction_txn_fake_ch_fakefakefakefakefake0001.json")
    dispute = load("dj-stripe", "dispute_dp_funds_reinstated_full.json")
    # dj-stripe's copy of the charge's balance transaction leaves out `source`, which Stripe
    # sends on every one; the charge names it as its balance_transaction.
    assert charge["balance_transaction"] == charge_txn["id"]
    charge_txn = {**charge_txn, "source": charge["id"]}
    payout = paid_payout("po_reinstated_1", 1912)
    payout_txn = {
        "id": "txn_po_reinstated_1",
        "object": "balance_transaction",
        "amount": -1912,
        "fee": 0,
        "net": -1912,
        "currency": "usd",
        "fee_details": [],
        "reporting_category": "payout",
        "type": "payout",
        "source": "po_reinstated_1",
        "created": 1626307200,
        "available_on": 1626307200,
        "exchange_rate": None,
    }
    write(
        conn,
        stripe.normalize_charge(charge),
        stripe.normalize_payment_intent(intent),
        stripe.normalize_dispute(dispute),
        stripe.normalize_payout(payout),
        *[
            stripe.normalize_balance_transaction(bt, payout_source_id="po_reinstated_1")
            for bt in [charge_txn, *dispute["balance_transactions"], payout_txn]
        ],
    )

    reconcile()

    exceptions = found()
    assert ("payout_total_mismatch", "po_reinstated_1") not in exceptions
    status = ReconPayout.objects.get(payout__source_id="po_reinstated_1")
    assert (status.lines_total_minor, status.difference_minor) == (1912, 0)
    from canonical.models import PayoutLine

    dispute_lines = PayoutLine.objects.filter(dispute__source_id=dispute["id"])
    assert sum(dispute_lines.values_list("net_minor", flat=True)) == 0  # -25.00 + 25.00
    assert sum(dispute_lines.values_list("fee_minor", flat=True)) == 0  # 15.00 - 15.00
    # dj-stripe left this dispute under_review although its funds came back: still open
    assert set(exceptions) == {("dispute_open", dispute["id"])}
    assert exceptions[("dispute_open", dispute["id"])].expected_minor == 1000


def test_a_partially_captured_charge_settles_what_was_captured():
    # dj-stripe's charge of 20.00, captured for 15.00 only: its balance transaction is 15.00
    # (fee 0.74, net 14.26) and its PaymentIntent asked for 20.00. The line agrees with the
    # payment; the order (the intent) is 5.00 short of what it asked, and that is reported.
    conn = connection()
    charge = {**load("dj-stripe", "charge_ch_fakefakefakefakefake0001.json"), "amount_captured": 1500}
    intent = load("dj-stripe", "payment_intent_pi_fakefakefakefakefake0001.json")
    charge_txn = {
        **load("dj-stripe", "balance_transaction_txn_fake_ch_fakefakefakefakefake0001.json"),
        "source": charge["id"],
        "amount": 1500,
        "fee": 74,
        "net": 1426,
    }
    charge_txn["fee_details"] = [{**charge_txn["fee_details"][0], "amount": 74}]
    payout = paid_payout("po_partial_1", 1426)
    write(
        conn,
        stripe.normalize_charge(charge),
        stripe.normalize_payment_intent(intent),
        stripe.normalize_payout(payout),
        stripe.normalize_balance_transaction(charge_txn, payout_source_id="po_partial_1"),
    )

    reconcile()

    exceptions = found()
    assert ("line_amount_mismatch", charge_txn["id"]) not in exceptions
    status = ReconPayout.objects.get(payout__source_id="po_partial_1")
    assert (status.lines_total_minor, status.difference_minor) == (1426, 0)
    short = exceptions[("amount_mismatch", intent["id"])]
    assert (short.expected_minor, short.actual_minor) == (2000, 1500)


def test_stripe_openapi_fixtures_are_not_a_consistent_ledger():
    # Stripe's OpenAPI fixtures: payout po_1Pgc79... of 11.00 (in transit) whose balance
    # transaction list holds one charge of 1.00 (fee 0); that charge has no PaymentIntent;
    # a dispute of 10.00 on it awaits a response.
    conn = connection()
    resources = load("stripe", "fixtures3.json")["resources"]
    payout = resources["payout"]
    write(
        conn,
        stripe.normalize_payout(payout),
        stripe.normalize_balance_transaction(resources["balance_transaction"], payout_source_id=payout["id"]),
        stripe.normalize_charge(resources["charge"]),
        stripe.normalize_refund(resources["refund"]),
        stripe.normalize_dispute(resources["dispute"]),
    )

    reconcile()

    exceptions = found()
    total = exceptions[("payout_total_mismatch", payout["id"])]
    assert (total.expected_minor, total.actual_minor, total.difference_minor) == (100, 1100, 1000)
    orphan = exceptions[("payment_without_order", resources["charge"]["id"])]
    assert (orphan.expected_minor, orphan.payout.source_id) == (100, payout["id"])
    assert exceptions[("dispute_open", resources["dispute"]["id"])].detail["status"] == "warning_needs_response"
    assert set(exceptions) == {
        ("payout_total_mismatch", payout["id"]),
        ("payment_without_order", resources["charge"]["id"]),
        ("dispute_open", resources["dispute"]["id"]),
    }
