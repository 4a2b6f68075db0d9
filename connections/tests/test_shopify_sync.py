"""Syncing a Shopify Payments shop from the Shopify sandbox (GraphQL over real HTTP)."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest
from django.db.models import Sum

from canonical.models import Order, Payment, Payout, PayoutLine, Refund
from connections.shopify.client import RetryPolicy
from connections.shopify.sandbox.server import DEFAULT_ACCESS_TOKEN, DEFAULT_SHOP_DOMAIN, build_shopify_sandbox
from connections.sync.runner import sync_job_run, sync_start
from ecomops.sandbox_http import SandboxServer

FAST = {"retry": RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05)}


def small_shop(**options):
    # A generous cost budget: the throttling itself is tested in the client's own tests.
    return build_shopify_sandbox(days=6, orders_per_day=6, maximum_available=20000.0, restore_rate=20000.0, **options)


def connect(tenant_a, url: str, name: str = "Shop"):
    from connections.services import connection_create

    return connection_create(
        actor=tenant_a.admin,
        name=name,
        provider="shopify",
        credentials={"access_token": DEFAULT_ACCESS_TOKEN},
        base_url=url,
        account_id=DEFAULT_SHOP_DOMAIN,
        backfill_start=date(2026, 5, 1),
    )


@pytest.fixture
def sandbox():
    with SandboxServer(small_shop()) as server:
        yield server


@pytest.fixture
def shop(tenant_a, in_tenant, sandbox):
    with in_tenant(tenant_a.tenant):
        yield connect(tenant_a, sandbox.url)


def run_sync(connection):
    job = sync_start(connection=connection, trigger="test", enqueue=False)
    return sync_job_run(job=job, client_options=FAST)


def test_shopify_sync_fills_orders_payments_refunds_payouts_and_lines(shop):
    job = run_sync(shop)

    assert job.status == "succeeded", job.error_message
    assert Order.objects.filter(source="shopify").count() > 20
    assert Payment.objects.filter(source="shopify").count() > 20
    assert Refund.objects.exists()
    assert Payout.objects.exists()
    paid = Payout.objects.filter(status="paid")
    assert paid.exists()
    for payout in paid:
        # every line but the payout's own transfer line
        lines = PayoutLine.objects.filter(payout_source_id=payout.source_id).exclude(source_object_id=payout.source_id)
        assert lines.aggregate(total=Sum("net_minor"))["total"] == payout.amount_minor, payout.source_id


def test_shopify_resync_writes_nothing_and_advance_adds(shop, sandbox):
    run_sync(shop)
    again = run_sync(shop)
    assert (again.created_count, again.updated_count) == (0, 0)

    httpx.post(f"{sandbox.url}/__sandbox__/advance", json={"days": 1})
    later = run_sync(shop)

    assert later.status == "succeeded"
    assert later.created_count > 0


def test_shopify_throttled_and_5xx_then_success(shop, sandbox):
    httpx.post(f"{sandbox.url}/__sandbox__/faults", json={"kind": "429", "count": 2})
    httpx.post(f"{sandbox.url}/__sandbox__/faults", json={"kind": "502", "count": 1})

    job = run_sync(shop)

    assert job.status == "succeeded", job.error_message


def test_shopify_connection_test_reports_a_bad_token_in_words(shop):
    from connections.services import connection_test, connection_update

    ok, message = connection_test(actor=None, connection=shop)
    assert ok, message

    connection_update(actor=None, connection=shop, credentials={"access_token": "shpat_wrong_token_123456"})
    shop.refresh_from_db()
    ok, message = connection_test(actor=None, connection=shop)
    shop.refresh_from_db()

    assert not ok
    assert "shpat_wrong_token_123456" not in message
    assert shop.status == "broken"


def test_an_order_with_more_payments_than_a_query_reads_is_reported_incomplete(shop, sandbox):
    from connections.shopify.sandbox.business import OrderTransaction

    # given: a customer whose card was declined 60 times on one order (Shopify reads 50 at most)
    business = sandbox.app.business
    order = next(iter(business.orders.values()))
    first = order.transactions[0]
    for n in range(60):
        order.transactions.append(
            OrderTransaction(
                id=9_900_000_000_000 + n,
                order_id=order.id,
                kind="SALE",
                status="FAILURE",
                gateway="shopify_payments",
                amount=first.amount,
                processed_at=first.processed_at,
                error_code="CARD_DECLINED",
            )
        )

    job = run_sync(shop)

    # then: the sync ends, but says which order it could not read whole
    assert job.status == "succeeded", job.error_message
    assert job.error_count >= 1
    assert f"order {order.name} has more transactions" in job.error_message
    assert "the rest are missing" in job.error_message

    # and so does a webhook's sync of that order
    targeted = sync_start(
        connection=shop, trigger="webhook", target_ids=[f"gid://shopify/Order/{order.id}"], enqueue=False
    )
    targeted = sync_job_run(job=targeted, client_options=FAST)
    assert targeted.status == "succeeded", targeted.error_message
    assert f"order {order.name} has more transactions" in targeted.error_message


def test_an_open_dispute_is_updated_however_old_and_by_its_webhook(shop, sandbox):
    from canonical.models import Dispute
    from connections.models import SyncCursor

    app = sandbox.app
    business = app.business
    disputes = sorted(business.disputes.values(), key=lambda d: d.id)
    assert len(disputes) >= 2, "the sandbox's business has disputes"
    old, other = disputes[0], disputes[1]
    old.status, other.status = "NEEDS_RESPONSE", "UNDER_REVIEW"
    app._nodes.clear()  # the sandbox caches its projections; the business changed under it
    assert run_sync(shop).status == "succeeded"

    # when: months after they opened (far below the disputes stream's look-back) one is lost
    far_later = (business.now + timedelta(days=90)).isoformat().replace("+00:00", "Z")
    SyncCursor.objects.filter(connection=shop, stream="shopify.disputes").update(state={"high_water": far_later})
    old.status = "LOST"
    app._nodes.clear()
    job = run_sync(shop)

    # then: the scheduled sync has it
    assert job.status == "succeeded", job.error_message
    assert Dispute.objects.get(source_id=f"gid://shopify/ShopifyPaymentsDispute/{old.id}").status == "lost"

    # and a disputes/update webhook's sync reads the dispute it names
    other.status = "WON"
    app._nodes.clear()
    gid = f"gid://shopify/ShopifyPaymentsDispute/{other.id}"
    targeted = sync_job_run(
        job=sync_start(connection=shop, trigger="webhook", target_ids=[gid], enqueue=False), client_options=FAST
    )
    assert targeted.status == "succeeded", targeted.error_message
    assert targeted.error_message == ""
    assert Dispute.objects.get(source_id=gid).status == "won"


def test_payouts_are_dated_in_the_shops_time_zone_by_the_sync_and_the_webhook(tenant_a, in_tenant):
    # The sandbox issues payouts at 06:00 UTC: the evening before, in a shop in California.
    app = small_shop(iana_timezone="America/Los_Angeles")
    with SandboxServer(app) as server, in_tenant(tenant_a.tenant):
        shop = connect(tenant_a, server.url, "Shop in California")
        # a payouts/paid webhook's sync, before any full sync, dates the payout it names
        first = min(app.business.payouts)
        gid = f"gid://shopify/ShopifyPaymentsPayout/{first}"
        targeted = sync_job_run(
            job=sync_start(connection=shop, trigger="webhook", target_ids=[gid], enqueue=False), client_options=FAST
        )
        assert targeted.status == "succeeded", targeted.error_message
        payout = Payout.objects.get(connection=shop, source_id=gid)
        assert payout.raw_data["issuedAt"].endswith("T06:00:00Z"), payout.raw_data["issuedAt"]
        assert payout.arrival_date == date.fromisoformat(payout.raw_data["issuedAt"][:10]) - timedelta(days=1)

        # and so does the sync, for every payout
        job = run_sync(shop)
        assert job.status == "succeeded", job.error_message
        payouts = list(Payout.objects.filter(connection=shop))
        assert len(payouts) > 1
        for payout in payouts:
            issued = payout.raw_data["issuedAt"]
            assert issued.endswith("T06:00:00Z"), issued
            assert payout.arrival_date == date.fromisoformat(issued[:10]) - timedelta(days=1), payout.source_id


def test_a_shop_time_zone_nobody_knows_dates_payouts_in_utc_and_says_so(tenant_a, in_tenant):
    with SandboxServer(small_shop(iana_timezone="Mars/Olympus_Mons")) as server, in_tenant(tenant_a.tenant):
        shop = connect(tenant_a, server.url)
        job = run_sync(shop)
        assert "time zone 'Mars/Olympus_Mons' is unknown" in job.error_message
        payouts = list(Payout.objects.filter(connection=shop))
        assert payouts
        assert all(p.arrival_date == date.fromisoformat(p.raw_data["issuedAt"][:10]) for p in payouts)


WEBHOOK_SECRET = "shpss_test_app_secret_xyz"


def deliver_shopify_webhook(connection, topic: str, body: dict, event_id: str):
    """Post a signed webhook to the connection's endpoint; the response, as Shopify would see it."""
    import json

    from django.test import Client

    from connections.shopify.sandbox.server import sign_webhook

    raw = json.dumps(body).encode()
    return Client().post(
        f"/webhooks/shopify/{connection.pk}/",
        raw,
        content_type="application/json",
        HTTP_X_SHOPIFY_TOPIC=topic,
        HTTP_X_SHOPIFY_EVENT_ID=event_id,
        HTTP_X_SHOPIFY_HMAC_SHA256=sign_webhook(raw, WEBHOOK_SECRET),
    )


def shared_fixture(name: str) -> dict:
    """A REST webhook body as Shopify sends it (the topic's object), from shared/data/shopify."""
    import json
    from pathlib import Path

    return json.loads((Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "shopify" / name).read_text())


@pytest.mark.parametrize(
    ("topic", "fixture", "key"),
    [
        ("order_transactions/create", "transaction.json", "transaction"),
        ("refunds/create", "refund.json", "refund"),
        ("tender_transactions/create", "tender_transactions.json", "tender_transactions"),
    ],
)
def test_a_webhook_naming_an_order_syncs_that_order(shop, sandbox, topic, fixture, key):
    from connections.models import SyncJob
    from connections.services import connection_update

    connection_update(actor=None, connection=shop, credentials={**shop.credentials, "webhook_secret": WEBHOOK_SECRET})
    order = next(o for o in sandbox.app.business.orders.values() if o.refunds)
    body = shared_fixture(fixture)[key]
    body = {**(body[0] if isinstance(body, list) else body), "order_id": order.id}

    response = deliver_shopify_webhook(shop, topic, body, event_id=f"evt-{topic}")

    assert response.status_code == 202, response.content
    job_id = response.json()["sync_job"]
    assert job_id, f"{topic} carries the order's id: its sync reads that order"
    job = SyncJob.objects.get(pk=job_id)
    assert (job.kind, job.target_ids) == ("targeted", [f"gid://shopify/Order/{order.id}"])
    job = sync_job_run(job=job, client_options=FAST)
    assert job.status == "succeeded", job.error_message
    order_gid = f"gid://shopify/Order/{order.id}"
    assert Order.objects.filter(source_id=order_gid).exists()
    assert Payment.objects.filter(order_source_id=order_gid).exists()
    assert Refund.objects.filter(order_source_id=order_gid).count() == sum(len(r.transactions) for r in order.refunds)


def test_a_webhook_naming_no_order_syncs_what_changed_since_the_last_sync(shop, sandbox):
    from connections.models import SyncJob
    from connections.services import connection_update

    connection_update(actor=None, connection=shop, credentials={**shop.credentials, "webhook_secret": WEBHOOK_SECRET})
    assert run_sync(shop).status == "succeeded"
    day = httpx.post(f"{sandbox.url}/__sandbox__/advance", json={"days": 1}).json()["days"][0]
    new_orders = set(day["orders_created"])
    assert new_orders, "the day brought orders"
    body = {k: v for k, v in shared_fixture("refund.json")["refund"].items() if k != "order_id"}

    response = deliver_shopify_webhook(shop, "refunds/create", body, event_id="evt-refund-without-order")

    # then: no order to target, so the connection's incremental sync reads what changed
    assert response.status_code == 202, response.content
    job = SyncJob.objects.get(pk=response.json()["sync_job"])
    assert (job.kind, job.trigger, job.target_ids) == ("incremental", "webhook", [])
    job = sync_job_run(job=job, client_options=FAST)
    assert job.status == "succeeded", job.error_message
    assert set(Order.objects.filter(source_id__in=new_orders).values_list("source_id", flat=True)) == new_orders


def test_test_orders_are_not_booked_and_the_job_says_so(shop, sandbox):
    import dataclasses

    from connections.shopify.sandbox.business import OrderTransaction

    # given: beside the real business, a test order (Shopify Payments in test mode) paid in full
    business = sandbox.app.business
    real = next(o for o in business.orders.values() if o.successful("SALE", "CAPTURE") and not o.refunds)
    test_id = max(business.orders) + 1
    test_order = dataclasses.replace(
        real,
        id=test_id,
        number=real.number + 100_000,
        transactions=[dataclasses.replace(t, id=t.id + 10**12, order_id=test_id) for t in real.successful("SALE")],
        refunds=[],
        dispute_ids=[],
        test=True,
    )
    assert all(isinstance(t, OrderTransaction) for t in test_order.transactions)
    business.orders[test_id] = test_order
    sandbox.app._nodes.clear()

    job = run_sync(shop)

    # then: the real order is booked, the test order and its payment are not (no money moved:
    # it never reaches a payout, and would wait there as an unpaid order), and the job says so
    assert job.status == "succeeded", job.error_message
    assert Order.objects.filter(source_id=f"gid://shopify/Order/{real.id}").exists()
    assert not Order.objects.filter(source_id=f"gid://shopify/Order/{test_id}").exists()
    assert not Payment.objects.filter(order_source_id=f"gid://shopify/Order/{test_id}").exists()
    assert f"1 test order(s) not booked (no money moved, never paid out): {test_order.name}" in job.error_message
    assert job.error_count == 0


def test_a_dispute_on_a_test_order_is_not_booked_by_the_sync_nor_by_its_webhook(shop, sandbox):
    from canonical.models import Dispute
    from connections.models import SyncJob
    from connections.services import connection_update

    # given: beside the real disputes, a chargeback the merchant simulated on a test order
    made = httpx.post(f"{sandbox.url}/__sandbox__/test_chargeback").json()
    business = sandbox.app.business
    real = {
        f"gid://shopify/ShopifyPaymentsDispute/{d.id}"
        for d in business.disputes.values()
        if not business.orders[d.order_id].test
    }
    assert real, "the sandbox's business has real disputes"
    not_booked = f"1 dispute(s) on test orders not booked (simulated, never paid out): {made['dispute']}"

    job = run_sync(shop)

    # then: the real disputes are booked; the simulated one is not (it would wait in
    # reconciliation as an open dispute no payout ever carries), and the job says so
    assert job.status == "succeeded", job.error_message
    assert set(Dispute.objects.filter(connection=shop).values_list("source_id", flat=True)) == real
    assert not Order.objects.filter(source_id=made["order"]).exists()
    assert not_booked in job.error_message
    assert job.error_count == 0

    # and the disputes/create webhook naming it: its targeted sync reads it and books nothing either
    connection_update(actor=None, connection=shop, credentials={**shop.credentials, "webhook_secret": WEBHOOK_SECRET})
    legacy_dispute, legacy_order = (int(made[k].rsplit("/", 1)[-1]) for k in ("dispute", "order"))
    body = {**shared_fixture("dispute.json")["dispute"], "id": legacy_dispute, "order_id": legacy_order}
    response = deliver_shopify_webhook(shop, "disputes/create", body, event_id="evt-test-chargeback")
    assert response.status_code == 202, response.content
    targeted = SyncJob.objects.get(pk=response.json()["sync_job"])
    assert (targeted.kind, targeted.target_ids) == ("targeted", [made["dispute"]])
    targeted = sync_job_run(job=targeted, client_options=FAST)
    assert targeted.status == "succeeded", targeted.error_message
    assert targeted.error_message == not_booked
    assert not Dispute.objects.filter(source_id=made["dispute"]).exists()


def test_a_test_orders_dispute_stored_before_is_removed_by_the_sync_and_its_exception_closes(shop, sandbox):
    from audit.models import AuditEvent
    from canonical.models import Dispute
    from canonical.upsert import upsert_rows
    from connections.providers import client_for
    from connections.shopify.normalize import normalize_dispute
    from recon.models import ReconException
    from recon.tests.factories import reconcile

    # given: the shop's real disputes, synced
    assert run_sync(shop).status == "succeeded"
    real = {d.source_id: d.content_hash for d in Dispute.objects.filter(connection=shop)}
    # and a chargeback simulated on a test order, stored as the sync stored it before it asked the order `test`
    made = httpx.post(f"{sandbox.url}/__sandbox__/test_chargeback").json()
    node = client_for(shop, **FAST).get_dispute(made["dispute"])
    del node["order"]["test"]
    upsert_rows([normalize_dispute(node)], connection_id=shop.pk, tenant_id=shop.tenant_id)
    reconcile()
    exception = ReconException.objects.get(reason="dispute_open", subject_ref=made["dispute"])
    assert exception.state == "open"
    real_open = set(
        ReconException.objects.filter(reason="dispute_open", state="open")
        .exclude(pk=exception.pk)
        .values_list("subject_ref", flat=True)
    )
    assert real_open, "the real open disputes have their exceptions"

    # when: the sync reads it again, now with its order's `test`
    job = run_sync(shop)

    # then: it is gone, the job says so, and the audit trail has it under the dispute's id
    assert job.status == "succeeded", job.error_message
    assert job.error_count == 0
    assert not Dispute.objects.filter(source_id=made["dispute"]).exists()
    assert (
        "1 dispute(s) on test orders stored before removed (simulated, never paid out; reconciliation closes "
        f"what they caused): {made['dispute']}"
    ) in job.error_message
    assert "not booked (simulated" not in job.error_message
    [event] = AuditEvent.objects.filter(target_type="canonical.dispute", target_id=made["dispute"])
    assert event.action == "canonical.shopify_test_order_dispute_removed"
    assert (event.actor_kind, event.detail["sync_job"], event.detail["status"]) == (
        "sync",
        str(job.pk),
        "needs_response",
    )

    # and the next reconciliation closes its exception, saying why; the real disputes are untouched
    run = reconcile()
    exception.refresh_from_db()
    assert (exception.state, exception.resolved_by_kind) == ("resolved", "system")
    assert exception.system_note == f"cause gone: the dispute is no longer stored (run {run.pk})"
    closed = AuditEvent.objects.get(action="recon.exception_resolved", target_id=str(exception.pk))
    assert closed.detail["note"] == exception.system_note
    assert {d.source_id: d.content_hash for d in Dispute.objects.filter(connection=shop)} == real
    assert (
        set(ReconException.objects.filter(reason="dispute_open", state="open").values_list("subject_ref", flat=True))
        == real_open
    )

    # and a later sync neither finds it to remove again nor names it as removed
    again = run_sync(shop)
    assert again.status == "succeeded", again.error_message
    assert "removed" not in again.error_message
    assert AuditEvent.objects.filter(target_id=made["dispute"]).count() == 1


def test_a_webhooks_sync_removes_the_stored_test_orders_dispute_it_names(shop, sandbox):
    from canonical.models import Dispute
    from canonical.upsert import upsert_rows
    from connections.providers import client_for
    from connections.shopify.normalize import normalize_dispute

    # given: a simulated chargeback stored before the sync asked the order `test`
    made = httpx.post(f"{sandbox.url}/__sandbox__/test_chargeback").json()
    node = client_for(shop, **FAST).get_dispute(made["dispute"])
    del node["order"]["test"]
    upsert_rows([normalize_dispute(node)], connection_id=shop.pk, tenant_id=shop.tenant_id)

    # when: a disputes/update webhook names it
    job = sync_start(connection=shop, trigger="webhook", target_ids=[made["dispute"]], enqueue=False)
    job = sync_job_run(job=job, client_options=FAST)

    # then: its sync removes it, and says so and nothing else
    assert job.status == "succeeded", job.error_message
    assert not Dispute.objects.filter(source_id=made["dispute"]).exists()
    assert job.error_message == (
        "1 dispute(s) on test orders stored before removed (simulated, never paid out; reconciliation closes "
        f"what they caused): {made['dispute']}"
    )


def test_a_test_orders_dispute_a_stored_payout_line_stands_for_is_kept_and_named(shop, sandbox):
    from canonical.models import Dispute
    from canonical.upsert import upsert_rows
    from connections.providers import client_for
    from connections.shopify.normalize import normalize_balance_transaction, normalize_dispute

    # given: a simulated chargeback stored before, with a line standing for it (as a sync that
    # booked test balance transactions stored it)
    made = httpx.post(f"{sandbox.url}/__sandbox__/test_chargeback").json()
    node = client_for(shop, **FAST).get_dispute(made["dispute"])
    del node["order"]["test"]
    line = normalize_balance_transaction(
        {
            "id": "gid://shopify/ShopifyPaymentsBalanceTransaction/99",
            "type": "DISPUTE_WITHDRAWAL",
            "test": False,
            "transactionDate": node["initiatedAt"],
            "amount": {"amount": "-34.0", "currencyCode": "USD"},
            "fee": {"amount": "15.0", "currencyCode": "USD"},
            "net": {"amount": "-49.0", "currencyCode": "USD"},
            "sourceType": "DISPUTE",
            "sourceId": made["dispute"].rsplit("/", 1)[-1],
            "sourceOrderTransactionId": None,
            "adjustmentReason": None,
            "associatedOrder": {"id": made["order"], "name": "#test"},
            "associatedPayout": {"id": None, "status": "PENDING"},
        }
    )
    assert line is not None
    upsert_rows([normalize_dispute(node), line], connection_id=shop.pk, tenant_id=shop.tenant_id)

    job = run_sync(shop)

    # then: the line's money moved, so what it stands for stays, and the job names it for a person
    assert job.status == "succeeded", job.error_message
    assert Dispute.objects.filter(source_id=made["dispute"]).exists()
    assert (
        "1 dispute(s) on test orders kept, as a payout line stands for them (a line never disappears; look at "
        f"them): {made['dispute']}"
    ) in job.error_message
    assert "removed" not in job.error_message


def test_a_sync_stores_the_shops_time_zone_even_with_no_payout_to_date(tenant_a, in_tenant):
    from connections.models import Connection

    with SandboxServer(small_shop(iana_timezone="America/Los_Angeles")) as server, in_tenant(tenant_a.tenant):
        shop = connect(tenant_a, server.url, "Shop in California")
        # nothing to read: the shop's business begins long before its backfill start
        Connection.objects.filter(pk=shop.pk).update(backfill_start=date(2099, 1, 1))
        shop.refresh_from_db()

        job = run_sync(shop)

        shop.refresh_from_db()
        assert job.status == "succeeded", job.error_message
        assert not Payout.objects.filter(connection=shop).exists()
        assert shop.time_zone == "America/Los_Angeles"


def test_a_test_balance_transaction_is_not_booked_and_its_payout_still_reconciles(shop, sandbox):
    from recon.models import ReconException, ReconPayout
    from recon.tests.factories import reconcile

    def outcome():
        payouts = {
            r.payout.source_id: (r.status, r.difference_minor) for r in ReconPayout.objects.select_related("payout")
        }
        return payouts, sorted(ReconException.objects.filter(state="open").values_list("reason", "subject_ref"))

    assert run_sync(shop).status == "succeeded"
    reconcile()
    before = outcome()
    reconciled = sorted(ref for ref, (status, _) in before[0].items() if status == "reconciled")
    assert reconciled, "the sandbox's business has payouts that reconcile"

    # given: a charge taken in Shopify Payments test mode, listed with a payout it is not part of
    payout_gid = reconciled[-1]
    paid = sandbox.app.business.payouts[int(payout_gid.rsplit("/", 1)[-1])]
    made = httpx.post(f"{sandbox.url}/__sandbox__/test_charge", json={"payout": payout_gid}).json()

    job = run_sync(shop)

    # then: no line for it, from the payout's listing nor from the listing of every balance
    # transaction, and the job says why
    assert job.status == "succeeded", job.error_message
    assert not PayoutLine.objects.filter(source_id=made["balance_transaction"]).exists()
    assert not Order.objects.filter(source_id=made["order"]).exists()
    assert (
        f"1 test balance transaction(s) not booked (test money, never paid out): {made['balance_transaction']}"
        in job.error_message
    )
    assert job.error_count == 0
    lines = PayoutLine.objects.filter(payout_source_id=payout_gid).exclude(source_object_id=payout_gid)
    assert lines.count() == len(paid.line_ids)
    assert lines.aggregate(total=Sum("net_minor"))["total"] == paid.net

    # and reconciliation finds what it found before: that payout still reconciles
    reconcile()
    assert outcome() == before
    assert before[0][payout_gid] == ("reconciled", 0)
