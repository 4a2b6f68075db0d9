"""Every rule of DESIGN §5 and every processor trap, with numbers computed by hand.

Each test builds a small ledger through the canonical upsert, runs reconciliation and
checks what an accountant would: the payout's status, the reason codes found, and the
expected / actual amounts. Amounts are minor units (cents unless said otherwise).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from canonical.models import PayoutLine
from recon.models import ReconPayout
from recon.tests.factories import (
    connection,
    dispute_row,
    found,
    line_row,
    open_found,
    order_row,
    payment_row,
    payout_own_line,
    payout_row,
    reconcile,
    refund_row,
    sale,
    write,
)

pytestmark = pytest.mark.usefixtures("in_a")


def status_of(source_id: str) -> ReconPayout:
    return ReconPayout.objects.get(payout__source_id=source_id)


def test_payout_whose_lines_add_up_is_reconciled():
    conn = connection()
    # 100.00 - 3.20 fee = 96.80; 50.00 - 1.75 = 48.25; payout 145.05
    write(
        conn,
        *sale(conn, 1, payout="po_1", amount=10000, fee=320),
        *sale(conn, 2, payout="po_1", amount=5000, fee=175),
        payout_row("po_1", 14505),
        payout_own_line("po_1", 14505),
    )

    run = reconcile()

    assert open_found() == {}
    assert run.payouts_reconciled == 1
    payout = status_of("po_1")
    assert (payout.status, payout.lines_total_minor, payout.difference_minor, payout.line_count) == (
        "reconciled",
        14505,
        0,
        3,
    )
    # linking as it goes: each charge line now points at its payment
    line = PayoutLine.objects.get(source_id="txn_ch_1")
    assert line.payment.source_id == "ch_1"


def test_payout_whose_lines_do_not_add_up():
    conn = connection()
    # lines: 96.80 + 48.25 = 145.05; the payout says 150.00
    write(
        conn,
        *sale(conn, 1, payout="po_1", amount=10000, fee=320),
        *sale(conn, 2, payout="po_1", amount=5000, fee=175),
        payout_row("po_1", 15000),
        payout_own_line("po_1", 15000),
    )

    reconcile()

    exception = found()[("payout_total_mismatch", "po_1")]
    assert (exception.expected_minor, exception.actual_minor, exception.difference_minor) == (14505, 15000, 495)
    assert exception.payout.source_id == "po_1"
    assert status_of("po_1").status == "exceptions"
    assert status_of("po_1").difference_minor == 495
    assert "145.05 USD" in exception.message
    assert "150.00 USD" in exception.message


def test_only_the_payouts_own_line_is_left_out_of_the_sum():
    conn = connection()
    # An instant payout po_inst (30.00) made in between is a 'payout' line inside po_2's
    # list: it is part of po_2's sum. 96.80 - 30.00 = 66.80.
    write(
        conn,
        *sale(conn, 1, payout="po_2", amount=10000, fee=320),
        line_row("txn_po_inst", payout="po_2", amount=-3000, category="payout", object_id="po_inst"),
        payout_row("po_2", 6680),
        payout_own_line("po_2", 6680),
    )

    reconcile()

    assert ("payout_total_mismatch", "po_2") not in found()
    assert status_of("po_2").lines_total_minor == 6680


def test_line_whose_net_is_not_amount_minus_fee():
    conn = connection()
    # 100.00 - 3.20 = 96.80, but the line says 96.00; the payout pays what the lines say
    write(
        conn,
        *sale(conn, 1, payout="po_1", amount=10000, fee=320, net=9600),
        payout_row("po_1", 9600),
        payout_own_line("po_1", 9600),
    )

    reconcile()

    exception = found()[("line_net_mismatch", "txn_ch_1")]
    assert (exception.expected_minor, exception.actual_minor, exception.difference_minor) == (9680, 9600, -80)
    assert exception.payout.source_id == "po_1"
    assert ("payout_total_mismatch", "po_1") not in found()


def test_fee_that_is_not_the_sum_of_its_fee_details():
    conn = connection()
    # fee 3.20 but details 2.90 + 0.20 = 3.10; another line lists eight details adding to
    # 0.80 with a fee of 0.90 (the rare long list is summed on its own); a fourth line's
    # second detail has no amount: its fee of 3.20 is explained by 2.90 only
    write(
        conn,
        *sale(conn, 1, payout="po_1", amount=10000, fee=320, fee_details=[290, 20]),
        *sale(conn, 2, payout="po_1", amount=2000, fee=90, fee_details=[10] * 8),
        *sale(conn, 3, payout="po_1", amount=2000, fee=80, fee_details=[10] * 8),
        *sale(conn, 4, payout="po_1", amount=10000, fee=320, fee_details=[290, None]),
        payout_row("po_1", 9680 + 1910 + 1920 + 9680),
        payout_own_line("po_1", 23190),
    )

    reconcile()

    assert found()[("line_fee_mismatch", "txn_ch_1")].expected_minor == 310
    assert found()[("line_fee_mismatch", "txn_ch_1")].actual_minor == 320
    assert (
        found()[("line_fee_mismatch", "txn_ch_2")].expected_minor,
        found()[("line_fee_mismatch", "txn_ch_2")].actual_minor,
    ) == (80, 90)
    assert ("line_fee_mismatch", "txn_ch_3") not in found()
    assert (
        found()[("line_fee_mismatch", "txn_ch_4")].expected_minor,
        found()[("line_fee_mismatch", "txn_ch_4")].actual_minor,
    ) == (290, 320)
    assert ("payout_total_mismatch", "po_1") not in found()


def test_payout_that_fails_after_it_was_paid_and_its_reversal():
    conn = connection()
    # po_1 paid 96.80; days later it fails: a payout_failure line (+96.80, category
    # payout_reversal, source po_1) returns the money and rides in po_2 with a new sale
    # (50.00 - 1.75 = 48.25): po_2 = 96.80 + 48.25 = 145.05
    write(
        conn,
        *sale(conn, 1, payout="po_1", amount=10000, fee=320),
        payout_row("po_1", 9680),
        payout_own_line("po_1", 9680),
    )
    assert reconcile().payouts_reconciled == 1
    assert status_of("po_1").status == "reconciled"

    write(
        conn,
        payout_row("po_1", 9680, status="failed", failure_code="account_closed"),
        line_row("txn_fail_po_1", payout="po_2", amount=9680, category="payout_reversal", object_id="po_1"),
        *sale(conn, 2, payout="po_2", amount=5000, fee=175),
        payout_row("po_2", 14505),
        payout_own_line("po_2", 14505),
    )
    run = reconcile()

    assert run.mode == "incremental"
    failed = found()[("payout_failed", "po_1")]
    assert (failed.expected_minor, failed.actual_minor) == (9680, 0)
    assert failed.detail["failure_code"] == "account_closed"
    assert failed.detail["returned_by"] == {"line": "txn_fail_po_1", "payout": "po_2", "amount": 9680}
    assert status_of("po_1").status == "exceptions"
    assert status_of("po_2").status == "reconciled"
    assert status_of("po_2").lines_total_minor == 14505


def test_the_money_of_a_failed_payout_coming_back_later_is_named_on_its_exception():
    conn = connection()
    # po_1 (96.80) fails; only in a later sync does its +96.80 come back, in po_2
    write(
        conn,
        *sale(conn, 1, payout="po_1", amount=10000, fee=320),
        payout_row("po_1", 9680, status="failed", failure_code="account_closed"),
        payout_own_line("po_1", 9680),
    )
    reconcile()
    assert found()[("payout_failed", "po_1")].detail["returned_by"] is None

    write(
        conn,
        line_row("txn_fail_po_1", payout="po_2", amount=9680, category="payout_reversal", object_id="po_1"),
        payout_row("po_2", 9680),
        payout_own_line("po_2", 9680),
    )
    run = reconcile()

    assert run.mode == "incremental"
    failed = found()[("payout_failed", "po_1")]
    assert failed.detail["returned_by"] == {"line": "txn_fail_po_1", "payout": "po_2", "amount": 9680}


def test_an_incremental_run_keeps_an_order_mismatch_on_its_payout_like_a_full_run():
    from recon.models import ReconState

    conn = connection()
    # pi_1 is 120.00: ch_a (100.00) went out in po_1, ch_c (10.00) waits in the balance: the
    # payments come to 110.00, 10.00 short; the exception belongs to po_1
    write(
        conn,
        order_row("pi_1", total=12000),
        payment_row("ch_a", order="pi_1", amount=10000),
        line_row("txn_a", payout="po_1", amount=10000, fee=320, object_id="ch_a"),
        payout_row("po_1", 9680),
        payout_own_line("po_1", 9680),
        payment_row("ch_c", order="pi_1", amount=1000),
        line_row("txn_c", payout=None, amount=1000, fee=59, object_id="ch_c"),
    )
    assert reconcile().mode == "full"
    assert found()[("amount_mismatch", "pi_1")].payout.source_id == "po_1"

    # ch_c's balance line changes while it still waits (its fee settles at 0.60)
    write(conn, line_row("txn_c", payout=None, amount=1000, fee=60, object_id="ch_c"))
    assert reconcile().mode == "incremental"
    incremental = found()[("amount_mismatch", "pi_1")]
    ReconState.objects.all().delete()  # the next run is a full one
    assert reconcile().mode == "full"
    full = found()[("amount_mismatch", "pi_1")]

    assert incremental.payout.source_id == full.payout.source_id == "po_1"
    assert (incremental.expected_minor, incremental.actual_minor) == (12000, 11000)
    assert status_of("po_1").status == "exceptions"


@pytest.mark.parametrize(("amounts", "tolerance"), [((10000, 10000), 0), ((9990, 9990), 50)])
def test_an_order_charged_twice_is_an_amount_mismatch(amounts, tolerance, tenant_settings):
    tenant_settings(recon_amount_tolerance_minor=tolerance)
    conn = connection("shopify")
    # a Shopify order of 100.00 charged twice; each charge alone matches it (within the
    # tolerance), together they are about 200.00: both went out in po_1 (a Stripe order is a
    # PaymentIntent, which cannot have two succeeded charges)
    first, second = amounts
    write(
        conn,
        order_row("pi_1", total=10000),
        payment_row("ch_1", order="pi_1", amount=first),
        payment_row("ch_2", order="pi_1", amount=second),
        line_row("txn_ch_1", payout="po_1", amount=first, fee=320, object_id="ch_1"),
        line_row("txn_ch_2", payout="po_1", amount=second, fee=320, object_id="ch_2"),
        payout_row("po_1", first + second - 640),
        payout_own_line("po_1", first + second - 640),
    )

    reconcile()

    mismatch = open_found()[("amount_mismatch", "pi_1")]
    assert (mismatch.expected_minor, mismatch.actual_minor) == (10000, first + second)
    assert mismatch.payout.source_id == "po_1"
    assert status_of("po_1").status == "exceptions"


def test_a_payout_that_failed_before_it_listed_any_line_is_reported_once():
    conn = connection()
    # po_x (50.00, automatic) failed at once: the processor lists no lines for it
    write(conn, payout_row("po_x", 5000, status="failed", failure_code="invalid_account_number"))

    reconcile()

    assert {reason for reason, ref in open_found() if ref == "po_x"} == {"payout_failed"}


def test_a_reversed_payout():
    conn = connection()
    # po_1 (96.80) was reversed by po_r (-96.80, original_payout po_1): nothing stays in the bank
    write(
        conn,
        *sale(conn, 1, payout="po_1", amount=10000, fee=320),
        payout_row("po_1", 9680),
        payout_own_line("po_1", 9680),
        payout_row("po_r", -9680, reversal_of="po_1"),
    )

    reconcile()

    reversed_ = found()[("payout_reversed", "po_1")]
    assert (reversed_.expected_minor, reversed_.actual_minor) == (9680, 0)
    assert reversed_.detail["reversed_by"] == ["po_r"]
    # the reversal itself is no itemized payout: not a total mismatch, not "unitemized"
    assert {reason for reason, ref in found() if ref == "po_r"} == set()


def test_a_reversal_the_bank_refused_reverses_nothing():
    conn = connection()
    # po_1 (96.80) was to be reversed by po_r (-96.80); the bank refused the reversal, so the
    # 96.80 stayed in the bank: po_1 is not reversed; po_r is reported as a failed payout
    write(
        conn,
        *sale(conn, 1, payout="po_1", amount=10000, fee=320),
        payout_row("po_1", 9680),
        payout_own_line("po_1", 9680),
        payout_row("po_r", -9680, reversal_of="po_1"),
    )
    reconcile()
    assert ("payout_reversed", "po_1") in open_found()

    write(conn, payout_row("po_r", -9680, reversal_of="po_1", status="failed"))  # later: it failed
    reconcile()  # incremental: the reversal's change brings po_1 back into scope

    assert ("payout_reversed", "po_1") not in open_found()
    assert found()[("payout_reversed", "po_1")].state == "resolved"
    assert ("payout_failed", "po_r") in open_found()
    assert status_of("po_1").status == "reconciled"


def test_manual_instant_payout_is_unitemized_not_a_total_mismatch():
    conn = connection()
    # po_inst (40.00, instant, automatic=False): no line carries its id. Its own balance
    # line (-40.00) is swept into the next automatic payout po_2: 96.80 - 40.00 = 56.80
    write(
        conn,
        payout_row("po_inst", 4000, automatic=False, method="instant"),
        *sale(conn, 1, payout="po_2", amount=10000, fee=320),
        line_row("txn_po_inst", payout="po_2", amount=-4000, category="payout", object_id="po_inst"),
        payout_row("po_2", 5680),
        payout_own_line("po_2", 5680),
    )

    reconcile()

    exceptions = found()
    unitemized = exceptions[("manual_payout_unitemized", "po_inst")]
    assert (unitemized.expected_minor, unitemized.actual_minor) == (4000, None)
    assert unitemized.detail["carried_in"] == {"line": "txn_po_inst", "payout": "po_2"}
    assert ("payout_total_mismatch", "po_inst") not in exceptions
    assert status_of("po_2").status == "reconciled"


def _instant_payout_swept_with_its_fee(conn, *, swept_into_amount: int) -> None:
    # po_inst pays out 40.00 instantly; Stripe's fee for it (1.5%: 0.60) leaves the balance on
    # a line of its own (stripe_fee, category fee, no source object). The next automatic
    # payout po_2 sweeps both in: 100.00 - 3.20 - 40.00 - 0.60 = 56.20
    write(
        conn,
        payout_row("po_inst", 4000, automatic=False, method="instant"),
        *sale(conn, 1, payout="po_2", amount=10000, fee=320),
        line_row("txn_po_inst", payout="po_2", amount=-4000, category="payout", object_id="po_inst"),
        line_row("txn_inst_fee", payout="po_2", amount=-60, category="fee", type="stripe_fee"),
        payout_row("po_2", swept_into_amount),
        payout_own_line("po_2", swept_into_amount),
    )


def test_an_instant_payout_fee_on_a_line_of_its_own_is_part_of_the_payout_that_sweeps_it():
    conn = connection()
    _instant_payout_swept_with_its_fee(conn, swept_into_amount=5620)

    reconcile()

    assert set(open_found()) == {("manual_payout_unitemized", "po_inst")}
    payout = status_of("po_2")
    assert (payout.status, payout.lines_total_minor, payout.difference_minor, payout.line_count) == (
        "reconciled",
        5620,
        0,
        4,
    )


def test_a_payout_that_did_not_lose_the_instant_payout_fee_is_a_difference_of_the_fee():
    conn = connection()
    # the lines say 56.20 (the 0.60 fee taken); the bank got 56.80
    _instant_payout_swept_with_its_fee(conn, swept_into_amount=5680)

    reconcile()

    exception = found()[("payout_total_mismatch", "po_2")]
    assert (exception.expected_minor, exception.actual_minor, exception.difference_minor) == (5620, 5680, 60)


def test_dispute_withdrawn_then_reinstated_nets_to_zero_fees_included():
    conn = connection()
    # charge 100.00 (fee 3.20, net 96.80); dispute withdraws 100.00 + 15.00 fee (net -115.00);
    # won: reinstated 100.00 and the fee refunded (fee -15.00, net +115.00). Payout 96.80.
    write(
        conn,
        *sale(conn, 1, payout="po_1", amount=10000, fee=320),
        dispute_row("dp_1", payment="ch_1", amount=10000, status="won"),
        line_row("txn_dp_1", payout="po_1", amount=-10000, fee=1500, category="dispute", object_id="dp_1"),
        line_row("txn_dp_1r", payout="po_1", amount=10000, fee=-1500, category="dispute_reversal", object_id="dp_1"),
        payout_row("po_1", 9680),
        payout_own_line("po_1", 9680),
    )

    reconcile()

    assert open_found() == {}
    assert status_of("po_1").status == "reconciled"
    dispute_lines = PayoutLine.objects.filter(dispute__source_id="dp_1")
    assert sorted(dispute_lines.values_list("net_minor", flat=True)) == [-11500, 11500]
    assert sum(dispute_lines.values_list("fee_minor", flat=True)) == 0


def test_dispute_still_open_is_reported_with_its_payout():
    conn = connection()
    write(
        conn,
        *sale(conn, 1, payout="po_1", amount=10000, fee=320),
        dispute_row("dp_1", payment="ch_1", amount=10000, status="needs_response"),
        line_row("txn_dp_1", payout="po_1", amount=-10000, fee=1500, category="dispute", object_id="dp_1"),
        payout_row("po_1", 9680 - 11500),
        payout_own_line("po_1", -1820),
    )

    reconcile()

    dispute = found()[("dispute_open", "dp_1")]
    assert (dispute.expected_minor, dispute.expected_currency) == (10000, "USD")
    assert dispute.payout.source_id == "po_1"
    assert status_of("po_1").status == "exceptions"


def test_dispute_lines_that_move_other_than_the_disputed_amount():
    conn = connection()
    # dp_1 disputes 100.00: its withdrawal takes only 90.00; dp_2 disputes 40.00 and was won:
    # taken out right (-40.00), put back as 45.00
    write(
        conn,
        *sale(conn, 1, payout="po_1", amount=10000, fee=320),
        *sale(conn, 2, payout="po_1", amount=4000, fee=146),
        dispute_row("dp_1", payment="ch_1", amount=10000, status="lost"),
        dispute_row("dp_2", payment="ch_2", amount=4000, status="won"),
        line_row("txn_dp_1", payout="po_1", amount=-9000, fee=1500, category="dispute", object_id="dp_1"),
        line_row("txn_dp_2", payout="po_1", amount=-4000, fee=1500, category="dispute", object_id="dp_2"),
        line_row("txn_dp_2r", payout="po_1", amount=4500, fee=-1500, category="dispute_reversal", object_id="dp_2"),
        # 96.80 + 38.54 - 105.00 - 55.00 + 60.00 = 35.34
        payout_row("po_1", 3534),
        payout_own_line("po_1", 3534),
    )

    reconcile()

    exceptions = found()
    short = exceptions[("line_amount_mismatch", "txn_dp_1")]
    assert (short.expected_minor, short.actual_minor, short.difference_minor) == (-10000, -9000, 1000)
    assert {"type": "dispute", "source_id": "dp_1"} in [
        {k: v for k, v in ref.items() if k != "id"} for ref in short.involved
    ]
    over = exceptions[("line_amount_mismatch", "txn_dp_2r")]
    assert (over.expected_minor, over.actual_minor, over.difference_minor) == (4000, 4500, 500)
    assert ("line_amount_mismatch", "txn_dp_2") not in exceptions
    assert status_of("po_1").status == "exceptions"


def test_chargeback_fee_lines_are_not_compared_with_the_disputed_amount():
    conn = connection(provider="shopify")
    # Shopify books the chargeback fee as a line of its own, against the dispute: 100.00 out
    # (DISPUTE_WITHDRAWAL) and 15.00 out (CHARGEBACK_FEE); the dispute was won, so both come
    # back (DISPUTE_REVERSAL, CHARGEBACK_FEE_REFUND). 50.00 EUR disputed on dp_2 left as
    # 54.63 USD at 1.0925 (54.625, rounded by the processor).
    write(
        conn,
        *sale(conn, 1, payout="po_1", amount=10000, fee=320),
        order_row("pi_2", total=5000, currency="EUR"),
        payment_row("ch_2", order="pi_2", amount=5000, currency="EUR"),
        line_row("txn_ch_2", payout="po_1", amount=5463, fee=188, object_id="ch_2", exchange_rate="1.0925"),
        dispute_row("dp_1", payment="ch_1", amount=10000, status="won"),
        dispute_row("dp_2", payment="ch_2", amount=5000, status="lost", currency="EUR"),
        *[
            line_row(f"txn_{n}", payout="po_1", amount=amount, category=category, type=kind, object_id=dispute)
            for n, amount, category, kind, dispute in [
                (1, -10000, "dispute", "DISPUTE_WITHDRAWAL", "dp_1"),
                (2, -1500, "dispute", "CHARGEBACK_FEE", "dp_1"),
                (3, 10000, "dispute_reversal", "DISPUTE_REVERSAL", "dp_1"),
                (4, 1500, "dispute_reversal", "CHARGEBACK_FEE_REFUND", "dp_1"),
                (5, -1500, "dispute", "CHARGEBACK_FEE", "dp_2"),
            ]
        ],
        line_row(
            "txn_6",
            payout="po_1",
            amount=-5463,
            category="dispute",
            type="DISPUTE_WITHDRAWAL",
            object_id="dp_2",
            exchange_rate="1.0925",
        ),
        # 96.80 + 52.75 - 54.63 - 15.00 = 79.92
        payout_row("po_1", 7992),
        payout_own_line("po_1", 7992),
    )

    reconcile()

    assert open_found() == {}
    assert status_of("po_1").status == "reconciled"


def test_several_partial_refunds_on_one_charge():
    conn = connection()
    # charge 200.00 (fee 6.10 -> 193.90); refunds 50.00, 50.00 and 20.00 of it in the same
    # payout: 193.90 - 120.00 = 73.90
    write(
        conn,
        *sale(conn, 1, payout="po_1", amount=20000, fee=610),
        refund_row("re_1", payment="ch_1", amount=5000),
        refund_row("re_2", payment="ch_1", amount=5000),
        refund_row("re_3", payment="ch_1", amount=2000),
        line_row("txn_re_1", payout="po_1", amount=-5000, category="refund", object_id="re_1"),
        line_row("txn_re_2", payout="po_1", amount=-5000, category="refund", object_id="re_2"),
        line_row("txn_re_3", payout="po_1", amount=-2000, category="refund", object_id="re_3"),
        payout_row("po_1", 7390),
        payout_own_line("po_1", 7390),
    )

    reconcile()

    assert open_found() == {}
    assert status_of("po_1").lines_total_minor == 7390
    linked = dict(PayoutLine.objects.filter(refund__isnull=False).values_list("source_id", "refund__source_id"))
    assert linked == {"txn_re_1": "re_1", "txn_re_2": "re_2", "txn_re_3": "re_3"}


def test_refund_line_that_disagrees_and_refund_without_its_payment():
    conn = connection()
    # re_1 refunds 50.00 but its line takes 55.00; re_2 (10.00) names a charge never synced
    write(
        conn,
        *sale(conn, 1, payout="po_1", amount=20000, fee=610),
        refund_row("re_1", payment="ch_1", amount=5000),
        refund_row("re_2", payment="ch_missing", amount=1000),
        line_row("txn_re_1", payout="po_1", amount=-5500, category="refund", object_id="re_1"),
        line_row("txn_re_2", payout="po_1", amount=-1000, category="refund", object_id="re_2"),
        payout_row("po_1", 19390 - 6500),
        payout_own_line("po_1", 12890),
    )

    reconcile()

    exceptions = found()
    assert (
        exceptions[("line_amount_mismatch", "txn_re_1")].expected_minor,
        exceptions[("line_amount_mismatch", "txn_re_1")].actual_minor,
    ) == (-5000, -5500)
    orphan = exceptions[("refund_without_payment", "re_2")]
    assert (orphan.expected_minor, orphan.detail["payment_id"]) == (1000, "ch_missing")
    assert orphan.payout.source_id == "po_1"


def test_charge_in_eur_settled_in_usd_is_compared_through_the_line():
    conn = connection()
    # 100.00 EUR at 1.0925 USD/EUR settles as 109.25 USD (fee 3.47 -> 105.78). The payment
    # and the order stay in EUR; the line carries USD and the rate.
    write(
        conn,
        order_row("pi_1", total=10000, currency="EUR"),
        payment_row("ch_1", order="pi_1", amount=10000, currency="EUR"),
        line_row("txn_ch_1", payout="po_1", amount=10925, fee=347, object_id="ch_1", exchange_rate="1.0925"),
        # 5000 JPY at 0.0068 is 34.00 USD (JPY has no minor unit)
        order_row("pi_2", total=5000, currency="JPY"),
        payment_row("ch_2", order="pi_2", amount=5000, currency="JPY"),
        line_row("txn_ch_2", payout="po_1", amount=3400, fee=129, object_id="ch_2", exchange_rate="0.0068"),
        payout_row("po_1", 10578 + 3271),
        payout_own_line("po_1", 13849),
    )

    reconcile()

    assert open_found() == {}
    assert status_of("po_1").status == "reconciled"


def test_fx_line_beyond_the_rate_and_a_foreign_payment_without_rate():
    conn = connection()
    # 100.00 EUR at 1.0925 should be 109.25 USD, the line says 110.25; ch_2 is 50.00 GBP
    # but its USD line has no exchange rate: not comparable
    write(
        conn,
        order_row("pi_1", total=10000, currency="EUR"),
        payment_row("ch_1", order="pi_1", amount=10000, currency="EUR"),
        line_row("txn_ch_1", payout="po_1", amount=11025, fee=350, object_id="ch_1", exchange_rate="1.0925"),
        order_row("pi_2", total=5000, currency="GBP"),
        payment_row("ch_2", order="pi_2", amount=5000, currency="GBP"),
        line_row("txn_ch_2", payout="po_1", amount=6350, fee=214, object_id="ch_2"),
        payout_row("po_1", 10675 + 6136),
        payout_own_line("po_1", 16811),
    )

    reconcile()

    exceptions = found()
    fx = exceptions[("line_amount_mismatch", "txn_ch_1")]
    assert (fx.expected_minor, fx.actual_minor, fx.difference_minor) == (10925, 11025, 100)
    currency = exceptions[("currency_mismatch", "txn_ch_2")]
    assert (currency.expected_currency, currency.actual_currency) == ("GBP", "USD")


def test_a_foreign_refund_or_dispute_line_without_rate_is_a_currency_mismatch():
    conn = connection()
    # ch_1: 100.00 EUR settled at 1.0925 as 109.25 USD (fee 3.47). re_1 gives back 50.00 EUR as
    # -54.63 USD and dp_1 withdraws the other 50.00 EUR as -54.62 USD, both lines with no
    # rate: neither can be compared with its object, so each is a currency mismatch.
    # Lines: 105.78 - 54.63 - 54.62 = -3.47; the payout says the same, so it adds up.
    write(
        conn,
        order_row("pi_1", total=10000, currency="EUR"),
        payment_row("ch_1", order="pi_1", amount=10000, currency="EUR"),
        line_row("txn_ch_1", payout="po_1", amount=10925, fee=347, object_id="ch_1", exchange_rate="1.0925"),
        refund_row("re_1", payment="ch_1", amount=5000, currency="EUR"),
        line_row("txn_re_1", payout="po_1", amount=-5463, category="refund", object_id="re_1"),
        dispute_row("dp_1", payment="ch_1", amount=5000, status="lost", currency="EUR"),
        line_row("txn_dp_1", payout="po_1", amount=-5462, category="dispute", object_id="dp_1"),
        payout_row("po_1", -347),
        payout_own_line("po_1", -347),
    )

    reconcile()

    exceptions = open_found()
    refund = exceptions[("currency_mismatch", "txn_re_1")]
    dispute = exceptions[("currency_mismatch", "txn_dp_1")]
    assert (refund.expected_minor, refund.expected_currency, refund.actual_minor, refund.actual_currency) == (
        -5000, "EUR", -5463, "USD")  # fmt: skip
    assert refund.detail == {"against": "refund"}
    assert (dispute.expected_minor, dispute.expected_currency, dispute.actual_minor) == (-5000, "EUR", -5462)
    assert set(exceptions) == {("currency_mismatch", "txn_re_1"), ("currency_mismatch", "txn_dp_1")}


def test_line_in_another_currency_than_its_payout():
    conn = connection()
    write(
        conn,
        *sale(conn, 1, payout="po_1", amount=10000, fee=320),
        order_row("pi_2", total=2000, currency="EUR"),
        payment_row("ch_2", order="pi_2", amount=2000, currency="EUR"),
        line_row("txn_ch_2", payout="po_1", amount=2000, fee=88, object_id="ch_2", currency="EUR"),
        payout_row("po_1", 9680 + 1912),
        payout_own_line("po_1", 11592),
    )

    reconcile()

    exception = found()[("currency_mismatch", "txn_ch_2")]
    assert (exception.expected_currency, exception.actual_currency) == ("USD", "EUR")
    assert exception.detail["against"] == "payout"


def test_shopify_gift_card_sale_is_a_liability_not_revenue():
    conn = connection("shopify")
    order = "gid://shopify/Order/1"
    card = "gid://shopify/OrderTransaction/11"
    # a 50.00 gift card and a 25.00 beanie: the customer pays 75.00 by card. Shopify fee 2.48.
    # Order 2 (60.00) is paid 20.00 by gift card and 40.00 by card (fee 1.46).
    write(
        conn,
        order_row(order, total=7500, gift_card_sold=5000, source="shopify"),
        payment_row(card, order=order, amount=7500, gateway="shopify_payments", source="shopify"),
        line_row(
            "gid://shopify/ShopifyPaymentsBalanceTransaction/1",
            payout="gid://shopify/ShopifyPaymentsPayout/1",
            amount=7500,
            fee=248,
            object_id=card,
            source="shopify",
            order_id=order,
        ),
        order_row("gid://shopify/Order/2", total=6000, source="shopify"),
        payment_row(
            "gid://shopify/OrderTransaction/21",
            order="gid://shopify/Order/2",
            amount=2000,
            gateway="gift_card",
            gift_card=True,
            source="shopify",
        ),
        payment_row(
            "gid://shopify/OrderTransaction/22",
            order="gid://shopify/Order/2",
            amount=4000,
            gateway="shopify_payments",
            source="shopify",
        ),
        line_row(
            "gid://shopify/ShopifyPaymentsBalanceTransaction/2",
            payout="gid://shopify/ShopifyPaymentsPayout/1",
            amount=4000,
            fee=146,
            object_id="gid://shopify/OrderTransaction/22",
            source="shopify",
        ),
        payout_row("gid://shopify/ShopifyPaymentsPayout/1", 7252 + 3854, source="shopify"),
    )

    reconcile()

    # no amount mismatch (the gift card is part of what the customer paid for), no unpaid
    # gift-card payment (it moves no processor money)
    assert open_found() == {}
    assert status_of("gid://shopify/ShopifyPaymentsPayout/1").status == "reconciled"


def test_payout_minimum_balance_hold_and_release():
    conn = connection()
    # po_1: 193.90 of sales, 100.00 held back (a line with no source object) -> 93.90.
    # po_2: 48.25 of sales plus the 100.00 released -> 148.25.
    write(
        conn,
        *sale(conn, 1, payout="po_1", amount=20000, fee=610),
        line_row("txn_hold", payout="po_1", amount=-10000, category="payout_minimum_balance_hold"),
        payout_row("po_1", 9390),
        payout_own_line("po_1", 9390),
        *sale(conn, 2, payout="po_2", amount=5000, fee=175),
        line_row("txn_release", payout="po_2", amount=10000, category="payout_minimum_balance_release"),
        payout_row("po_2", 14825),
        payout_own_line("po_2", 14825),
    )

    reconcile()

    assert open_found() == {}
    assert (status_of("po_1").lines_total_minor, status_of("po_2").lines_total_minor) == (9390, 14825)


def test_order_edited_after_its_payout():
    conn = connection()
    write(
        conn,
        *sale(conn, 1, payout="po_1", amount=10000, fee=320),
        payout_row("po_1", 9680),
        payout_own_line("po_1", 9680),
    )
    assert reconcile().payouts_reconciled == 1

    # the order is edited to 120.00 after its payout: the 100.00 paid no longer covers it
    write(conn, order_row("pi_1", total=12000))
    run = reconcile()

    assert run.mode == "incremental"
    assert run.payouts_evaluated == 1
    mismatch = found()[("amount_mismatch", "pi_1")]
    assert (mismatch.expected_minor, mismatch.actual_minor, mismatch.difference_minor) == (12000, 10000, -2000)
    assert mismatch.payout.source_id == "po_1"
    assert status_of("po_1").status == "exceptions"

    # the customer pays the 20.00 difference: the cause is gone and the exception closes itself
    write(conn, payment_row("ch_1b", order="pi_1", amount=2000))
    run = reconcile()

    mismatch.refresh_from_db()
    assert (mismatch.state, mismatch.resolved_by_kind) == ("resolved", "system")
    assert mismatch.system_note == f"cause gone (run {run.pk})"
    assert status_of("po_1").status == "reconciled"


def test_payment_without_an_order():
    conn = connection()
    write(
        conn,
        payment_row("ch_1", order="pi_gone", amount=10000),
        line_row("txn_ch_1", payout="po_1", amount=10000, fee=320, object_id="ch_1"),
        payment_row("ch_2", order=None, amount=500),
        payout_row("po_1", 9680),
        payout_own_line("po_1", 9680),
    )

    reconcile()

    exceptions = found()
    first = exceptions[("payment_without_order", "ch_1")]
    assert (first.expected_minor, first.detail["order_id"], first.payout.source_id) == (10000, "pi_gone", "po_1")
    assert exceptions[("payment_without_order", "ch_2")].detail["order_id"] is None


def test_line_whose_payment_was_never_synced():
    conn = connection()
    write(
        conn,
        line_row("txn_ch_9", payout="po_1", amount=10000, fee=320, object_id="ch_9"),
        payout_row("po_1", 9680),
        payout_own_line("po_1", 9680),
    )

    reconcile()

    unmatched = found()[("line_unmatched", "txn_ch_9")]
    assert (unmatched.expected_minor, unmatched.detail["object_id"]) == (10000, "ch_9")


def test_order_paid_but_in_no_payout_after_the_grace_period(tenant_settings):
    tenant_settings(recon_unpaid_grace_days=7)
    conn = connection()
    now = timezone.now()
    write(
        conn,
        # the newest line (yesterday) says how far the data reaches
        *sale(conn, 1, payout="po_1", amount=10000, fee=320),
        payout_row("po_1", 9680),
        payout_own_line("po_1", 9680),
        # paid ten days ago, in no payout: past the 7-day grace period
        order_row("pi_old", total=4500, created=now - timedelta(days=10)),
        payment_row("ch_old", order="pi_old", amount=4500, created=now - timedelta(days=10)),
        # its charge is in the balance but not paid out yet: still unpaid
        order_row("pi_bal", total=3000, created=now - timedelta(days=10)),
        payment_row("ch_bal", order="pi_bal", amount=3000),
        line_row("txn_ch_bal", payout=None, amount=3000, fee=117, object_id="ch_bal"),
        # paid three days ago: within the grace period
        order_row("pi_new", total=2500, created=now - timedelta(days=3)),
        payment_row("ch_new", order="pi_new", amount=2500),
    )

    reconcile()

    unpaid = {ref: e for (reason, ref), e in found().items() if reason == "order_unpaid"}
    assert set(unpaid) == {"pi_old", "pi_bal"}
    assert (unpaid["pi_old"].expected_minor, unpaid["pi_old"].actual_minor) == (4500, 0)

    # eleven days on, the newer order is past the grace period too (the data reaches that far)
    later = now + timedelta(days=11)
    write(conn, *sale(conn, 5, payout="po_5", amount=100, fee=33, created=later), payout_row("po_5", 67))
    run = reconcile(now=later)

    assert run.mode == "incremental"
    assert ("order_unpaid", "pi_new") in found()


def test_a_payment_in_no_payout_is_owed_even_if_another_of_its_order_was_paid_out():
    conn = connection("shopify")
    # pi_1 is 120.00: ch_a (100.00) went out in po_1; ch_b (20.00, a month ago) never did
    write(
        conn,
        order_row("pi_1", total=12000),
        payment_row("ch_a", order="pi_1", amount=10000),
        line_row("txn_a", payout="po_1", amount=10000, fee=320, object_id="ch_a"),
        payout_row("po_1", 9680),
        payout_own_line("po_1", 9680),
        payment_row("ch_b", order="pi_1", amount=2000),
    )

    reconcile()

    unpaid = open_found()[("order_unpaid", "pi_1")]
    assert (unpaid.expected_minor, unpaid.actual_minor) == (2000, 0)  # the 20.00 still owed
    assert [p["source_id"] for p in unpaid.involved if p["type"] == "payment"] == ["ch_b"]


def test_the_grace_period_runs_from_the_capture_not_from_the_order(tenant_settings):
    tenant_settings(recon_unpaid_grace_days=7)
    conn = connection()
    now = timezone.now()
    write(
        conn,
        *sale(conn, 1, payout="po_1", amount=10000, fee=320),
        payout_row("po_1", 9680),
        payout_own_line("po_1", 9680),
        # authorized ten days ago, captured an hour ago: its charge waits for the next payout
        order_row("pi_late", total=5000, created=now - timedelta(days=10)),
        payment_row("ch_late", order="pi_late", amount=5000, created=now - timedelta(hours=1)),
    )

    reconcile()
    assert ("order_unpaid", "pi_late") not in found()

    # eight days after the capture it is still in no payout: now it is late
    later = now + timedelta(days=8)
    write(conn, *sale(conn, 5, payout="po_5", amount=100, fee=33, created=later), payout_row("po_5", 67))
    run = reconcile(now=later)

    assert run.mode == "incremental"
    unpaid = open_found()[("order_unpaid", "pi_late")]
    assert (unpaid.expected_minor, unpaid.actual_minor) == (5000, 0)


def test_order_awaiting_a_capture_is_short_only_after_the_grace_period(tenant_settings):
    tenant_settings(recon_unpaid_grace_days=7)
    conn = connection()
    now = timezone.now()
    write(
        conn,
        *sale(conn, 1, payout="po_1", amount=10000, fee=320),
        payout_row("po_1", 9680),
        payout_own_line("po_1", 9680),
        # 47.29: 42.29 paid by gift card two days ago, the card's 5.00 authorized, not captured
        order_row(
            "pi_auth", total=4729, financial_status="partially_paid", source="shopify", created=now - timedelta(days=2)
        ),
        payment_row("gc_auth", order="pi_auth", amount=4229, gateway="gift_card", gift_card=True),
        # a Stripe partial capture: nothing more will come
        order_row("pi_part", total=4729, financial_status="partially_captured", created=now - timedelta(days=2)),
        payment_row("ch_part", order="pi_part", amount=4229),
        # the same shortfall on an order that says it is paid: a difference at once
        order_row("pi_paid", total=4729, created=now - timedelta(days=2)),
        payment_row("gc_paid", order="pi_paid", amount=4229, gateway="gift_card", gift_card=True),
        # awaiting a capture but already paid 6.00 more than its total: a difference at once
        order_row("pi_over", total=2000, financial_status="authorized", created=now - timedelta(days=2)),
        payment_row("gc_over", order="pi_over", amount=2600, gateway="gift_card", gift_card=True),
    )

    reconcile()

    amount = {ref: e for (reason, ref), e in found().items() if reason == "amount_mismatch"}
    assert set(amount) == {"pi_paid", "pi_over", "pi_part"}
    assert (amount["pi_over"].expected_minor, amount["pi_over"].actual_minor) == (2000, 2600)

    # ten days on the data reaches past the grace period and the capture never came
    later = now + timedelta(days=10)
    write(conn, *sale(conn, 5, payout="po_5", amount=100, fee=33, created=later), payout_row("po_5", 67))
    run = reconcile(now=later)

    assert run.mode == "incremental"
    short = found()[("amount_mismatch", "pi_auth")]
    assert (short.expected_minor, short.actual_minor, short.state) == (4729, 4229, "open")


def test_amounts_within_and_beyond_the_tolerance(tenant_settings):
    tenant_settings(recon_amount_tolerance_minor=50)
    conn = connection()
    write(
        conn,
        # paid 100.00 for an order of 100.50: 0.50 off, within the tolerance
        order_row("pi_1", total=10050),
        payment_row("ch_1", order="pi_1", amount=10000),
        line_row("txn_ch_1", payout="po_1", amount=10000, fee=320, object_id="ch_1"),
        # paid 100.00 for an order of 100.51: beyond it
        order_row("pi_2", total=10051),
        payment_row("ch_2", order="pi_2", amount=10000),
        line_row("txn_ch_2", payout="po_1", amount=10000, fee=320, object_id="ch_2"),
        payout_row("po_1", 19360),
        payout_own_line("po_1", 19360),
    )

    reconcile()

    amount = {ref: e for (reason, ref), e in found().items() if reason == "amount_mismatch"}
    assert set(amount) == {"pi_2"}
    assert (amount["pi_2"].expected_minor, amount["pi_2"].actual_minor) == (10051, 10000)
    assert amount["pi_2"].detail["tolerance"] == 50


def test_pending_payout_is_pending_not_reconciled():
    conn = connection()
    write(
        conn,
        *sale(conn, 1, payout="po_1", amount=10000, fee=320),
        payout_row("po_1", 9680, status="in_transit"),
        payout_own_line("po_1", 9680),
    )

    reconcile()

    assert status_of("po_1").status == "pending"
