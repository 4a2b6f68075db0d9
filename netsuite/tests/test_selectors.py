"""Payout summaries: canonical payouts and lines -> the builder's category totals.

Hand-made payouts pin each shape to exact numbers; synced sandbox businesses (Stripe and
Shopify over real HTTP, then the recon engine) prove every reconciled payout becomes a
balanced entry.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from canonical.models import Payout, PayoutLine
from canonical.upsert import upsert_rows
from netsuite.journal import PayoutSummary, build_journal_entry
from netsuite.selectors import (
    NotPostableError,
    amount_field,
    payout_summaries,
    payout_summary,
    reversal_summary,
)
from netsuite.tests.factories import PayoutSpec, build_payout_rows, reconcile, write_payouts

SUMMARY_FIELDS = [f for f in PayoutSummary.__dataclass_fields__ if f.endswith("_minor") and f != "amount_minor"]


def categories_total(summary: PayoutSummary) -> int:
    return sum(getattr(summary, name) for name in SUMMARY_FIELDS)


def nonzero(summary: PayoutSummary) -> dict[str, int]:
    return {name: getattr(summary, name) for name in SUMMARY_FIELDS if getattr(summary, name)}


def payout(source_id: str) -> Payout:
    return Payout.objects.get(source_id=source_id)


def test_plain_payout_gross_charges_and_fees(posting) -> None:  # type: ignore[no-untyped-def]
    write_payouts(posting.stripe, PayoutSpec("po_plain", charges=(10000, 5000)))

    summary = payout_summary(payout=payout("po_plain"))

    # fees: 2.9% + 30 per charge -> 320 + 175
    assert nonzero(summary) == {"gross_charges_minor": 15000, "processor_fees_minor": -495}
    assert summary.amount_minor == 14505
    assert (summary.currency, summary.arrival_date, summary.subsidiary_id) == ("USD", date(2026, 11, 3), "1")
    assert summary.payout_id == "po_plain"
    assert type(summary.gross_charges_minor) is int  # SQL sums come back as exact integers


def test_payout_with_refund(posting) -> None:  # type: ignore[no-untyped-def]
    write_payouts(posting.stripe, PayoutSpec("po_refund", charges=(20000,), refunds=((0, 5000),)))

    summary = payout_summary(payout=payout("po_refund"))

    assert nonzero(summary) == {"gross_charges_minor": 20000, "refunds_minor": -5000, "processor_fees_minor": -610}
    assert summary.amount_minor == 14390


def test_payout_with_lost_dispute_puts_the_dispute_fee_on_its_own_line(posting) -> None:  # type: ignore[no-untyped-def]
    write_payouts(posting.stripe, PayoutSpec("po_lost", charges=(50000, 10000), disputes=((1, "lost"),)))

    summary = payout_summary(payout=payout("po_lost"))

    assert nonzero(summary) == {
        "gross_charges_minor": 60000,
        "processor_fees_minor": -1800,
        "disputes_minor": -10000,
        "dispute_fees_minor": -1500,
    }
    assert categories_total(summary) == summary.amount_minor == 46700


def test_payout_with_won_dispute_nets_disputes_and_refunded_fee(posting) -> None:  # type: ignore[no-untyped-def]
    write_payouts(posting.stripe, PayoutSpec("po_won", charges=(30000, 10000), disputes=((1, "won"),)))

    summary = payout_summary(payout=payout("po_won"))

    assert nonzero(summary) == {
        "gross_charges_minor": 40000,
        "processor_fees_minor": -1220,
        "disputes_minor": -10000,
        "dispute_reversals_minor": 10000,
    }
    assert summary.dispute_fees_minor == 0  # charged on the withdrawal, refunded on the reversal


def test_own_line_and_other_payouts_lines_are_left_out(posting) -> None:  # type: ignore[no-untyped-def]
    write_payouts(posting.stripe, PayoutSpec("po_a", charges=(10000,)), PayoutSpec("po_b", charges=(7000, 3000)))

    summaries = payout_summaries(payouts=Payout.objects.filter(source_id__in=["po_a", "po_b"]))

    by_source = {s.payout_id: s for s in summaries.values()}
    assert by_source["po_a"].gross_charges_minor == 10000
    assert by_source["po_b"].gross_charges_minor == 10000
    assert categories_total(by_source["po_a"]) == by_source["po_a"].amount_minor
    # the payout's own line (source object = the payout) is in the table, and not in the sums
    assert PayoutLine.objects.filter(source_object_id="po_a", payout_source_id="po_a").exists()


def test_shopify_categories_map_to_summary_fields(posting) -> None:  # type: ignore[no-untyped-def]
    extra = (
        {"category": "refund_failure", "amount": 1200},
        {"category": "shopify_billing", "amount": -900, "type": "billing_debit"},
        {"category": "tax", "amount": -300, "type": "import_tax"},
        {"category": "financing", "amount": -2000, "type": "lending_capital_remittance"},
        {"category": "transfer", "amount": 400, "type": "balance_transfer_inbound"},
        {"category": "other", "amount": -100},
        {"category": "reserve_transaction", "amount": -2500, "type": "risk_withdrawal"},
        {"category": "reserve_transaction", "amount": 700, "type": "risk_reversal"},
        {"category": "payout_minimum_balance_hold", "amount": -1000},
        {"category": "payout_minimum_balance_release", "amount": 600},
        {"category": "dispute", "amount": -1500, "type": "chargeback_fee"},
        {"category": "dispute_reversal", "amount": 1500, "type": "chargeback_fee_refund"},
        {"category": "fee", "amount": -250, "type": "stripe_fee"},
        {"category": "adjustment", "amount": 35},
        {"category": "payout_reversal", "amount": 5000, "type": "transfer_failure"},
        {"category": "brand_new_category", "amount": -10},
    )
    write_payouts(posting.stripe, PayoutSpec("po_mixed", charges=(40000,), extra_lines=extra))

    summary = payout_summary(payout=payout("po_mixed"))

    assert nonzero(summary) == {
        "gross_charges_minor": 40000,
        "processor_fees_minor": -1190 - 250,
        "refunds_minor": 1200,
        # billing, tax, financing, transfer, other, adjustment and the unknown category
        "adjustments_minor": -900 - 300 - 2000 + 400 - 100 + 35 - 10,
        "reserve_holds_minor": -2500 - 1000,
        "reserve_releases_minor": 700 + 600,
        "payout_reversal_minor": 5000,
        # chargeback_fee -1500 and its refund +1500
    }
    assert summary.dispute_fees_minor == 0
    assert categories_total(summary) == summary.amount_minor


@pytest.mark.parametrize(
    ("category", "negative", "expected"),
    [
        ("charge", False, "gross_charges_minor"),
        ("refund", True, "refunds_minor"),
        ("refund_failure", False, "refunds_minor"),
        ("dispute", True, "disputes_minor"),
        ("dispute_reversal", False, "dispute_reversals_minor"),
        ("payout_reversal", False, "payout_reversal_minor"),
        ("payout", True, "manual_payouts_minor"),
        ("payout_minimum_balance_hold", True, "reserve_holds_minor"),
        ("payout_minimum_balance_release", False, "reserve_releases_minor"),
        ("reserve_transaction", True, "reserve_holds_minor"),
        ("reserve_transaction", False, "reserve_releases_minor"),
        ("shopify_billing", True, "adjustments_minor"),
        ("tax", True, "adjustments_minor"),
        ("financing", False, "adjustments_minor"),
        ("transfer", False, "adjustments_minor"),
        ("other", True, "adjustments_minor"),
        ("never_heard_of_it", True, "adjustments_minor"),
    ],
)
def test_every_category_has_a_field(category: str, negative: bool, expected: str) -> None:
    assert amount_field(category, negative) == expected


def test_jpy_payout_in_whole_yen(posting) -> None:  # type: ignore[no-untyped-def]
    write_payouts(posting.stripe, PayoutSpec("po_jpy", charges=(5000,), currency="JPY"))

    summary = payout_summary(payout=payout("po_jpy"))
    entry = build_journal_entry(summary, posting.mapping.as_journal_mapping())

    assert summary.currency_exponent == 0
    assert [str(i.get("debit", i.get("credit"))) for i in entry["line"]["items"]] == ["4825", "5000", "175"]
    assert entry["currency"] == {"id": "5"}


def test_line_in_another_currency_is_not_postable(posting) -> None:  # type: ignore[no-untyped-def]
    spec = build_payout_rows(PayoutSpec("po_mixed_ccy", charges=(10000,)))
    rows = []
    for row in spec.rows:
        if row.kind == "payout_line" and row.fields["reporting_category"] == "charge":
            row.fields["currency"] = "EUR"
        rows.append(row)
    upsert_rows(rows, connection_id=posting.stripe.pk, tenant_id=posting.stripe.tenant_id, subsidiary_id="1")

    with pytest.raises(NotPostableError, match="mixes currencies"):
        payout_summary(payout=payout("po_mixed_ccy"))


def test_automatic_payout_without_lines_yet_is_not_postable(posting) -> None:  # type: ignore[no-untyped-def]
    spec = build_payout_rows(PayoutSpec("po_unlisted", charges=(10000,)))
    only_payout = [r for r in spec.rows if r.kind == "payout"]
    upsert_rows(only_payout, connection_id=posting.stripe.pk, tenant_id=posting.stripe.tenant_id, subsidiary_id="1")

    with pytest.raises(NotPostableError, match="no lines yet"):
        payout_summary(payout=payout("po_unlisted"))


def test_manual_payout_moves_its_amount_from_clearing_to_the_bank(posting) -> None:  # type: ignore[no-untyped-def]
    spec = build_payout_rows(PayoutSpec("po_instant", charges=(10000,)))
    only_payout = [r for r in spec.rows if r.kind == "payout"]
    only_payout[0].fields.update(automatic=False, method="instant")
    upsert_rows(only_payout, connection_id=posting.stripe.pk, tenant_id=posting.stripe.tenant_id, subsidiary_id="1")

    summary = payout_summary(payout=payout("po_instant"))

    assert (summary.amount_minor, summary.manual_payouts_minor, summary.gross_charges_minor) == (9680, 9680, 0)
    assert categories_total(summary) == summary.amount_minor


def test_reversal_summary_credits_the_bank(posting) -> None:  # type: ignore[no-untyped-def]
    write_payouts(posting.stripe, PayoutSpec("po_failed", charges=(10000,), status="failed"))

    summary = reversal_summary(payout=payout("po_failed"))
    entry = build_journal_entry(summary, posting.mapping.as_journal_mapping())

    assert (summary.kind, summary.amount_minor, summary.payout_reversal_minor) == ("reversal", -9680, -9680)
    assert [
        (i["account"]["id"], "debit" in i, str(i.get("debit", i.get("credit")))) for i in entry["line"]["items"]
    ] == [
        ("101", False, "96.80"),
        ("110", True, "96.80"),
    ]


# ------------------------------------------------------------------ synced sandbox businesses


def _assert_reconciled_payouts_balance(posting, source: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Every reconciled payout of ``source`` sums to its amount and builds a balanced entry."""
    reconciled = Payout.objects.filter(source=source, recon__status="reconciled")
    summaries = payout_summaries(payouts=reconciled)
    assert summaries, f"no reconciled {source} payout"
    mapping = posting.mapping.as_journal_mapping()
    seen: dict[str, int] = {}
    for summary in summaries.values():
        assert isinstance(summary, PayoutSummary), summary
        assert categories_total(summary) == summary.amount_minor, summary
        entry = build_journal_entry(summary, mapping)
        items = entry["line"]["items"]
        assert sum(i.get("debit", Decimal(0)) for i in items) == sum(i.get("credit", Decimal(0)) for i in items)
        for name, value in nonzero(summary).items():
            seen[name] = seen.get(name, 0) + 1
            assert isinstance(value, int)
    return seen


@pytest.mark.slow
def test_synced_stripe_business_every_reconciled_payout_balances(posting) -> None:  # type: ignore[no-untyped-def]
    from connections.services import connection_update
    from connections.stripe.sandbox.server import DEFAULT_API_KEY, stripe_sandbox_server
    from connections.sync.runner import sync_job_run, sync_start

    with stripe_sandbox_server(seed=1, days=14) as stripe:
        connection = connection_update(
            actor=None,
            connection=posting.stripe,
            credentials={"api_key": DEFAULT_API_KEY},
            base_url=stripe.url,
            backfill_start=date(2024, 1, 1),
        )
        job = sync_job_run(job=sync_start(connection=connection, trigger="test", enqueue=False))
        assert job.status == "succeeded", job.error_message
    run = reconcile()
    assert run.payouts_reconciled >= 5

    seen = _assert_reconciled_payouts_balance(posting, "stripe")

    # the business has the traps: refunds, disputes, a min-balance hold and release, a failed
    # payout's money carried by the next payout, an instant payout swept into a later one
    for name in (
        "gross_charges_minor",
        "processor_fees_minor",
        "refunds_minor",
        "disputes_minor",
        "dispute_fees_minor",
        "dispute_reversals_minor",
        "reserve_holds_minor",
        "reserve_releases_minor",
        "payout_reversal_minor",
        "manual_payouts_minor",
    ):
        assert seen.get(name), f"no reconciled payout exercised {name}: {seen}"
    failed = Payout.objects.get(source="stripe", status="failed")
    assert reversal_summary(payout=failed).amount_minor == -failed.amount_minor


@pytest.mark.slow
def test_synced_shopify_business_every_reconciled_payout_balances(posting) -> None:  # type: ignore[no-untyped-def]
    from connections.services import connection_create
    from connections.shopify.client import RetryPolicy
    from connections.shopify.sandbox.server import DEFAULT_ACCESS_TOKEN, DEFAULT_SHOP_DOMAIN, build_shopify_sandbox
    from connections.sync.runner import sync_job_run, sync_start
    from ecomops.sandbox_http import SandboxServer
    from netsuite.services import gl_mapping_create
    from netsuite.tests.factories import full_mapping_values

    app = build_shopify_sandbox(days=12, orders_per_day=6, maximum_available=20000.0, restore_rate=20000.0)
    with SandboxServer(app) as server:
        shop = connection_create(
            actor=None,
            name="Shop",
            provider="shopify",
            credentials={"access_token": DEFAULT_ACCESS_TOKEN},
            base_url=server.url,
            account_id=DEFAULT_SHOP_DOMAIN,
            backfill_start=date(2026, 5, 1),
            subsidiary_id="2",
        )
        job = sync_job_run(
            job=sync_start(connection=shop, trigger="test", enqueue=False),
            client_options={"retry": RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05)},
        )
        assert job.status == "succeeded", job.error_message
    gl_mapping_create(
        actor=None,
        connection=shop,
        netsuite_connection=posting.netsuite,
        subsidiary_id="2",
        **full_mapping_values(posting.sandbox.credentials),
    )
    run = reconcile()
    assert run.payouts_reconciled >= 5

    seen = _assert_reconciled_payouts_balance(posting, "shopify")

    assert seen.get("gross_charges_minor")
    assert seen.get("refunds_minor")
    assert seen.get("processor_fees_minor")
