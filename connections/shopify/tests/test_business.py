"""The generated business is a consistent ledger, deterministic, and fast."""

from __future__ import annotations

from collections import Counter

import pytest

from connections.shopify.sandbox.business import MAX_QUIET_DAYS, SUMMARY_BUCKETS, ShopifyBusiness


@pytest.fixture(scope="module")
def business() -> ShopifyBusiness:
    return ShopifyBusiness(seed=7, days=30)


def test_default_business_is_a_month_of_about_twenty_orders_a_day() -> None:
    # How fast it builds is not a unit test's to judge (a busy machine made 1 s into 1.4 s).
    business = ShopifyBusiness()
    assert 450 <= len(business.orders) <= 750  # ~20 orders a day for 30 days


def test_every_line_nets_amount_minus_fee(business: ShopifyBusiness) -> None:
    bad = [line.id for line in business.balance_transactions.values() if line.net != line.amount - line.fee]
    assert bad == []


def test_payout_net_is_exactly_the_sum_of_its_lines(business: ShopifyBusiness) -> None:
    assert business.payouts
    for payout in business.payouts.values():
        lines = business.payout_lines(payout.id)
        assert payout.net == sum(line.net for line in lines), payout.id
        # and its own TRANSFER line takes exactly that out of the balance
        transfer = business.balance_transactions[payout.transfer_line_id]
        assert (transfer.type, transfer.amount, transfer.payout_id) == ("TRANSFER", -payout.net, payout.id)


def test_payout_summary_agrees_with_its_lines(business: ShopifyBusiness) -> None:
    # Buckets written out here, not imported, so a wrong mapping in the generator fails the test.
    expected_bucket = {
        "CHARGE": "charges",
        "REFUND": "refunds",
        "RESERVED_FUNDS_WITHDRAWAL": "reservedFunds",
        "RESERVED_FUNDS_REVERSAL": "reservedFunds",
        "TRANSFER_FAILURE": "retriedPayouts",
        "DISPUTE_WITHDRAWAL": "adjustments",
        "DISPUTE_REVERSAL": "adjustments",
        "ADJUSTMENT": "adjustments",
    }
    for payout in business.payouts.values():
        sums: dict[str, list[int]] = {bucket: [0, 0] for bucket in (*SUMMARY_BUCKETS, "adjustments")}
        for line in business.payout_lines(payout.id):
            sums[expected_bucket[line.type]][0] += line.amount
            sums[expected_bucket[line.type]][1] += line.fee
        assert {bucket: tuple(v) for bucket, v in sums.items()} == payout.summary, payout.id
        assert sum(gross - fee for gross, fee in payout.summary.values()) == payout.net


def test_each_line_is_paid_out_once_and_only_when_available(business: ShopifyBusiness) -> None:
    paid = Counter(line_id for payout in business.payouts.values() for line_id in payout.line_ids)
    assert [line_id for line_id, count in paid.items() if count > 1] == []
    for payout in business.payouts.values():
        for line in business.payout_lines(payout.id):
            assert line.payout_id == payout.id
            assert line.available_at <= payout.issued_at


def test_business_contains_the_reconciliation_traps(business: ShopifyBusiness) -> None:
    types = Counter(line.type for line in business.balance_transactions.values())
    statuses = Counter(payout.status for payout in business.payouts.values())
    disputes = Counter(dispute.status for dispute in business.disputes.values())
    orders = list(business.orders.values())
    for transaction_type in ("REFUND", "DISPUTE_REVERSAL", "RESERVED_FUNDS_WITHDRAWAL", "RESERVED_FUNDS_REVERSAL"):
        assert types[transaction_type] >= 1, transaction_type
    assert types["ADJUSTMENT"] >= 1
    assert types["DISPUTE_WITHDRAWAL"] >= 2
    assert types["TRANSFER_FAILURE"] == 1
    assert statuses["FAILED"] == 1
    assert statuses["PAID"] > 20
    assert disputes["WON"] >= 1
    assert disputes["LOST"] >= 1
    assert {o.financial_status for o in orders} >= {"PAID", "PARTIALLY_REFUNDED", "REFUNDED"}
    assert any(o.cancelled_at for o in orders)
    assert len({o.presentment_currency for o in orders}) >= 5
    assert any(line.is_gift_card for o in orders for line in o.line_items)
    assert any(t.gateway == "gift_card" for o in orders for t in o.transactions)
    assert any(t.kind == "CAPTURE" for o in orders for t in o.transactions)
    assert any(t.status == "FAILURE" for o in orders for t in o.transactions)


def test_won_dispute_is_withdrawn_then_reinstated(business: ShopifyBusiness) -> None:
    won = next(d for d in business.disputes.values() if d.status == "WON")
    lines = [
        line
        for line in business.balance_transactions.values()
        if line.type.startswith("DISPUTE") and line.source_id == won.id
    ]
    assert sorted((line.type, line.amount) for line in lines) == [
        ("DISPUTE_REVERSAL", won.amount),
        ("DISPUTE_WITHDRAWAL", -won.amount),
    ]
    assert sum(line.net for line in lines) == 0  # money and chargeback fee both came back


def test_failed_payout_money_goes_out_again_as_retried_payout(business: ShopifyBusiness) -> None:
    failed = next(p for p in business.payouts.values() if p.status == "FAILED")
    failure = next(line for line in business.balance_transactions.values() if line.type == "TRANSFER_FAILURE")
    assert (failure.amount, failure.source_id) == (failed.net, failed.id)
    retry = business.payouts[failure.payout_id]
    assert retry.issued_at > failure.transaction_date
    assert retry.summary["retriedPayouts"] == (failed.net, 0)


def test_refunds_never_exceed_what_was_charged(business: ShopifyBusiness) -> None:
    for order in business.orders.values():
        assert order.refunded.shop <= order.received.shop, order.name
        assert order.refunded.presentment <= order.received.presentment, order.name


def test_gift_card_sale_is_paid_by_card_and_gift_card_payment_moves_no_processor_money(
    business: ShopifyBusiness,
) -> None:
    gift_card_payments = [t for o in business.orders.values() for t in o.transactions if t.gateway == "gift_card"]
    charged = {
        line.source_order_transaction_id for line in business.balance_transactions.values() if line.type == "CHARGE"
    }
    assert gift_card_payments
    assert all(t.id not in charged for t in gift_card_payments)


def test_same_seed_same_business_and_advance_only_appends() -> None:
    grown = ShopifyBusiness(seed=11, days=5)
    grown.advance(2)
    direct = ShopifyBusiness(seed=11, days=7)

    def fingerprint(b: ShopifyBusiness) -> tuple[object, ...]:
        return (
            [(o.id, o.total, o.updated_at, o.financial_status) for o in b.orders.values()],
            [(x.id, x.type, x.amount, x.fee, x.payout_id) for x in b.balance_transactions.values()],
            [(p.id, p.net, p.status) for p in b.payouts.values()],
        )

    assert fingerprint(grown) == fingerprint(direct)
    assert fingerprint(ShopifyBusiness(seed=12, days=7)) != fingerprint(direct)


def test_advance_reports_created_and_updated_orders() -> None:
    business = ShopifyBusiness(seed=3, days=10)
    before = {o.id: o.updated_at for o in business.orders.values()}
    [report] = business.advance(1)
    assert report.orders_created
    assert all(i not in before for i in report.orders_created)
    changed = {o.id for o in business.orders.values() if o.id in before and o.updated_at != before[o.id]}
    assert changed == set(report.orders_updated)


# --------------------------------------------------------------------------- settling (the demo's)


def test_a_shop_that_stops_on_its_last_day_leaves_its_last_payout_scheduled() -> None:
    business = ShopifyBusiness(seed=7, days=30)

    assert [p.status for p in business.payouts.values() if p.status == "SCHEDULED"] == ["SCHEDULED"]
    assert not business.settled


@pytest.fixture(scope="module")
def settled() -> ShopifyBusiness:
    return ShopifyBusiness(seed=7, days=30, settle=True)


def test_a_settled_shop_ends_with_every_payout_paid_and_every_line_paid_out(settled: ShopifyBusiness) -> None:
    assert {p.status for p in settled.payouts.values()} == {"PAID", "FAILED"}
    paid = Counter(line_id for payout in settled.payouts.values() for line_id in payout.line_ids)
    transfers = {payout.transfer_line_id for payout in settled.payouts.values()}
    assert [i for i in settled.balance_transactions if i not in paid and i not in transfers] == []
    assert [line_id for line_id, count in paid.items() if count > 1] == []
    for payout in settled.payouts.values():
        lines = settled.payout_lines(payout.id)
        assert all(line.payout_id == payout.id and line.available_at <= payout.issued_at for line in lines)
        assert payout.net > 0
        assert payout.signed_net == sum(line.net for line in lines), payout.id
        assert sum(gross - fee for gross, fee in payout.summary.values()) == payout.signed_net, payout.id
        transfer = settled.balance_transactions[payout.transfer_line_id]
        assert (transfer.type, transfer.amount, transfer.payout_id) == ("TRANSFER", -payout.signed_net, payout.id)
    # the whole balance went out: what came in, less what the payouts took to the bank
    assert sum(line.net for line in settled.balance_transactions.values()) == 0


def test_a_settled_shops_quiet_days_take_no_order_and_withdraw_a_negative_balance(settled: ShopifyBusiness) -> None:
    end_of_sales = ShopifyBusiness(seed=7, days=30).now

    assert settled.now > end_of_sales
    assert [o.name for o in settled.orders.values() if o.created_at >= end_of_sales] == []
    after_sales = [line for line in settled.balance_transactions.values() if line.transaction_date >= end_of_sales]
    assert {line.type for line in after_sales} - {"TRANSFER"}  # refunds, captures or disputes scheduled before
    withdrawals = [p for p in settled.payouts.values() if p.transaction_type == "WITHDRAWAL"]
    assert withdrawals
    assert all(p.status == "PAID" and p.signed_net == -p.net < 0 for p in withdrawals)


def test_settling_only_adds_quiet_days_to_the_shop(settled: ShopifyBusiness) -> None:
    plain = ShopifyBusiness(seed=7, days=30)

    assert list(settled.orders)[: len(plain.orders)] == list(plain.orders)
    assert [(o.id, o.total) for o in settled.orders.values()] == [(o.id, o.total) for o in plain.orders.values()]
    lines = [(x.id, x.type, x.amount, x.fee) for x in plain.balance_transactions.values()]
    assert [(x.id, x.type, x.amount, x.fee) for x in settled.balance_transactions.values()][: len(lines)] == lines
    assert [(p.id, p.net) for p in settled.payouts.values()][: len(plain.payouts)] == [
        (p.id, p.net) for p in plain.payouts.values()
    ]


def test_settling_stops_after_at_most_the_quiet_days_it_is_given() -> None:
    business = ShopifyBusiness(seed=7, days=30)

    assert len(business.settle(max_days=2)) == 2
    assert (business.days_simulated, business.settled) == (32, False)
    reports = business.settle()
    assert 0 < len(reports) <= MAX_QUIET_DAYS
    assert all(report.orders_created == [] for report in reports)
    assert business.settled
    assert business.settle() == []  # settled stays settled
