"""A business synced from a processor's sandbox over real HTTP reconciles to exactly its traps.

The sandboxes' businesses are consistent by construction except for what they plant on
purpose (a payout that fails after being paid, open disputes, Stripe's instant payout that
cannot be itemized), so every other exception would be the engine misreading real shapes:
disputes withdrawn then reinstated, gift cards, card authorizations not captured yet, payout
reserve holds, presentment currencies settled in the shop's currency, Stripe's fee for an
instant payout on a line of its own.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from canonical.models import Payout, PayoutLine
from connections.services import connection_create
from connections.shopify.client import RetryPolicy
from connections.shopify.sandbox.server import DEFAULT_ACCESS_TOKEN, DEFAULT_SHOP_DOMAIN, build_shopify_sandbox
from connections.stripe.sandbox.server import DEFAULT_API_KEY, build_stripe_sandbox, stripe_sandbox_server
from connections.sync.runner import sync_job_run, sync_start
from ecomops.sandbox_http import SandboxServer
from netsuite.journal import GlMapping, build_journal_entry, build_lines
from netsuite.selectors import payout_summary
from recon.models import ReconException, ReconPayout
from recon.selectors import payout_explain
from recon.tests.factories import reconcile

OPEN_DISPUTES = {"NEEDS_RESPONSE", "UNDER_REVIEW"}

pytestmark = pytest.mark.usefixtures("in_a")


def test_a_synced_shopify_business_reconciles_to_just_its_traps(tenant_a):
    app = build_shopify_sandbox(maximum_available=1_000_000.0, restore_rate=1_000_000.0)
    business = app.business
    with SandboxServer(app) as server:
        shop = connection_create(
            actor=tenant_a.admin,
            name="Shop",
            provider="shopify",
            credentials={"access_token": DEFAULT_ACCESS_TOKEN},
            base_url=server.url,
            account_id=DEFAULT_SHOP_DOMAIN,
            backfill_start=date(2020, 1, 1),
        )
        job = sync_job_run(
            job=sync_start(connection=shop, trigger="test", enqueue=False),
            client_options={"retry": RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05)},
        )
    assert job.status == "succeeded", job.error_message

    reconcile()

    exceptions = list(ReconException.objects.all())
    reasons = Counter(e.reason for e in exceptions)
    # what the business plants: one payout failed after being paid, disputes still open
    assert reasons["payout_failed"] == 1
    assert reasons["dispute_open"] == sum(d.status in OPEN_DISPUTES for d in business.disputes.values()) > 0
    # and nothing else: no line, payout or payment the engine misread. (The business ends
    # with orders whose card authorization is not captured yet: partly paid, they are not
    # short while the capture may still come.)
    assert any(
        any(t.kind == "AUTHORIZATION" for t in order.transactions)
        and not any(t.kind == "CAPTURE" for t in order.transactions)
        and order.received.shop > 0
        for order in business.orders.values()
    )
    assert set(reasons) == {"payout_failed", "dispute_open"}, reasons


MAPPING = GlMapping(
    bank="100",
    clearing="110",
    processor_fees="600",
    refunds="410",
    chargebacks="420",
    dispute_fees="610",
    adjustments="690",
    reserves="120",
    fx_gain_loss="700",
    currency_ids={"USD": "1"},
)


def test_a_synced_stripe_business_reconciles_to_just_its_traps_and_books_the_instant_payout_fee(tenant_a):
    with stripe_sandbox_server(build_stripe_sandbox(seed=7, days=10)) as server:
        stripe = connection_create(
            actor=tenant_a.admin,
            name="Stripe",
            provider="stripe",
            credentials={"api_key": DEFAULT_API_KEY},
            base_url=server.url,
            backfill_start=date(2024, 1, 1),
        )
        job = sync_job_run(
            job=sync_start(connection=stripe, trigger="test", enqueue=False),
            client_options={"retry_base_delay": 0.01, "retry_max_delay": 0.05, "rate_limit": None},
        )
    assert job.status == "succeeded", job.error_message

    # the instant payout (1,685.87 USD on day 5) cost 1.5% of it, 25.29 USD: a fee line of its
    # own, stored with the automatic payout that swept it and the instant payout's line in
    instant = Payout.objects.get(automatic=False)
    assert (instant.method, instant.amount_minor) == ("instant", 168587)
    fee = PayoutLine.objects.get(reporting_category="fee")
    assert (fee.type, fee.amount_minor, fee.fee_minor, fee.net_minor) == ("stripe_fee", -2529, 0, -2529)
    assert (fee.fee_details, fee.source_object_id) == ([], "")
    carrier = Payout.objects.get(source_id=fee.payout_source_id)
    assert carrier.automatic
    assert carrier.source_created_at > instant.source_created_at
    swept = PayoutLine.objects.get(source_object_id=instant.source_id)
    assert (swept.payout_source_id, swept.amount_minor, swept.fee_minor) == (carrier.source_id, -168587, 0)

    reconcile()

    # the traps the business plants, and nothing else: the fee line explains its share of
    # the payout that carries it
    reasons = Counter(ReconException.objects.values_list("reason", flat=True))
    assert reasons["payout_failed"] == 1
    assert reasons["manual_payout_unitemized"] == 1
    assert reasons["dispute_open"] >= 1
    assert set(reasons) == {"payout_failed", "manual_payout_unitemized", "dispute_open"}, reasons
    recon = ReconPayout.objects.get(payout=carrier)
    assert (recon.status, recon.lines_total_minor, recon.difference_minor) == ("reconciled", carrier.amount_minor, 0)
    explained = payout_explain(user=tenant_a.admin, payout_id=carrier.pk)
    assert explained["by_category"]["fee"] == {"count": 1, "amount_minor": -2529, "fee_minor": 0, "net_minor": -2529}
    fee_line = next(line for line in explained["lines"] if line["category"] == "fee")
    checks = (fee_line["net_ok"], fee_line["fee_ok"], fee_line["matched"], fee_line["exceptions"])
    assert checks == (True, True, None, [])
    assert explained["difference_minor"] == 0

    # its journal entry books the fee to processor fees, with the card fees of its charges,
    # and balances to the cent; the instant payout's own entry books no fee (once is enough)
    card_fees = sum(
        PayoutLine.objects.filter(payout_source_id=carrier.source_id, reporting_category="charge").values_list(
            "fee_minor", flat=True
        )
    )
    lines = build_lines(payout_summary(payout=carrier), MAPPING)
    processor_fees = [line for line in lines if line.category == "processor_fees"]
    assert [(line.account_id, line.debit_minor, line.credit_minor) for line in processor_fees] == [
        ("600", card_fees + 2529, 0)
    ]
    assert sum(line.debit_minor for line in lines) == sum(line.credit_minor for line in lines)
    assert next(line for line in lines if line.category == "bank").debit_minor == carrier.amount_minor
    entry = build_journal_entry(payout_summary(payout=carrier), MAPPING)
    assert sum(item.get("debit", 0) for item in entry["line"]["items"]) == sum(
        item.get("credit", 0) for item in entry["line"]["items"]
    )
    instant_lines = build_lines(payout_summary(payout=instant), MAPPING)
    assert [(line.category, line.debit_minor, line.credit_minor) for line in instant_lines] == [
        ("bank", 168587, 0),
        ("manual_payouts", 0, 168587),
    ]
