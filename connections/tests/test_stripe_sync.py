"""Syncing a Stripe account from the Stripe sandbox over real HTTP into the canonical tables."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import date

import httpx
import pytest

from canonical.models import Dispute, Order, Payment, Payout, PayoutLine, Refund
from connections.models import Connection, SyncCursor, SyncJob
from connections.stripe.sandbox.server import DEFAULT_API_KEY, build_stripe_sandbox, stripe_sandbox_server
from connections.sync.runner import sync_job_run, sync_start

FAST = {"retry_base_delay": 0.01, "retry_max_delay": 0.05, "rate_limit": None}


@pytest.fixture
def sandbox():
    with stripe_sandbox_server(build_stripe_sandbox(seed=7, days=10)) as server:
        yield server


@pytest.fixture
def stripe_connection(tenant_a, in_tenant, sandbox):
    from connections.services import connection_create

    with in_tenant(tenant_a.tenant):
        yield connection_create(
            actor=tenant_a.admin,
            name="Stripe sandbox",
            provider="stripe",
            credentials={"api_key": DEFAULT_API_KEY, "webhook_secret": "whsec_test_secret_1234"},
            base_url=sandbox.url,
            backfill_start=date(2024, 1, 1),
        )


def run_sync(connection: Connection, **options) -> SyncJob:
    job = sync_start(connection=connection, trigger="test", enqueue=False)
    return sync_job_run(job=job, client_options=FAST, **options)


def table_checksum() -> str:
    """What a user would compare: every canonical row's identity and money, in a stable order."""
    parts = []
    for model in (Order, Payment, Refund, Dispute, Payout, PayoutLine):
        for row in model.objects.order_by("dedupe_key").values_list("dedupe_key", "content_hash"):
            parts.append("|".join(map(str, row)))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def test_backfill_fills_every_canonical_table(stripe_connection, sandbox):
    job = run_sync(stripe_connection)

    assert job.status == "succeeded", job.error_message
    ledger_bts = httpx.get(f"{sandbox.url}/__sandbox__/stats").json()
    assert ledger_bts["requests"] > 10
    assert Order.objects.count() > 0
    assert Payment.objects.count() > 0
    assert Refund.objects.count() > 0
    assert Dispute.objects.count() > 0
    assert Payout.objects.count() > 0
    assert PayoutLine.objects.count() > Payment.objects.count()
    assert job.created_count == sum(m.objects.count() for m in (Order, Payment, Refund, Dispute, Payout, PayoutLine))
    assert job.pages > 10


def test_every_automatic_paid_payout_adds_up_after_sync(stripe_connection):
    from django.db.models import Sum

    run_sync(stripe_connection)

    checked = 0
    for payout in Payout.objects.filter(automatic=True, status="paid"):
        # every line except the payout's own (another payout in between, e.g. an instant one, is a line here)
        lines = PayoutLine.objects.filter(payout_source_id=payout.source_id).exclude(source_object_id=payout.source_id)
        assert lines.aggregate(total=Sum("net_minor"))["total"] == payout.amount_minor, payout.source_id
        checked += 1
    assert checked > 3


def test_unchanged_resync_writes_nothing(stripe_connection):
    run_sync(stripe_connection)
    before = table_checksum()

    second = run_sync(stripe_connection)

    assert second.status == "succeeded"
    assert (second.created_count, second.updated_count) == (0, 0)
    assert second.unchanged_count > 0
    assert table_checksum() == before


def test_incremental_sync_picks_up_only_new_objects(stripe_connection, sandbox):
    run_sync(stripe_connection)
    payments_before = Payment.objects.count()

    added = httpx.post(f"{sandbox.url}/__sandbox__/advance", json={"days": 1}).json()
    job = run_sync(stripe_connection)

    assert job.status == "succeeded"
    assert Payment.objects.count() > payments_before
    assert job.created_count > 0
    assert added  # the sandbox said what it added
    # the look-back window re-reads some objects; they are unchanged, so nothing old is rewritten
    assert job.updated_count <= job.created_count


def test_lines_paid_out_after_their_charges_were_synced_are_linked_as_they_are_written(stripe_connection, sandbox):
    run_sync(stripe_connection)
    # a backfill reads the lines and the charges side by side: no reconciliation has linked them
    known_payments = {p.source_id: p.pk for p in Payment.objects.all()}
    payouts_before = set(Payout.objects.values_list("source_id", flat=True))

    httpx.post(f"{sandbox.url}/__sandbox__/advance", json={"days": 3})
    assert run_sync(stripe_connection).status == "succeeded"

    # the new days' payouts paid out charges synced before (their lines were stored unpaid, or are new)
    paid_out_now = PayoutLine.objects.exclude(payout_source_id__in=[*payouts_before, ""]).filter(
        reporting_category="charge", source_object_id__in=known_payments
    )
    assert paid_out_now.count() > 0
    assert {line.source_object_id: line.payment_id for line in paid_out_now} == {
        line.source_object_id: known_payments[line.source_object_id] for line in paid_out_now
    }


def test_429_and_5xx_are_retried_and_the_sync_succeeds(stripe_connection, sandbox):
    httpx.post(f"{sandbox.url}/__sandbox__/faults", json={"kind": "429", "count": 3})
    httpx.post(f"{sandbox.url}/__sandbox__/faults", json={"kind": "503", "count": 2})

    job = run_sync(stripe_connection)

    assert job.status == "succeeded", job.error_message
    assert httpx.get(f"{sandbox.url}/__sandbox__/stats").json()["faults_served"] == 5


def test_malformed_page_fails_the_job_clearly_and_keeps_what_was_committed(stripe_connection, sandbox):
    # given: the first stream pages fine, then a page comes back truncated
    httpx.post(
        f"{sandbox.url}/__sandbox__/faults", json={"kind": "malformed", "count": 1, "path_prefix": "/v1/charges"}
    )

    job = run_sync(stripe_connection, commit_rows=1)

    assert job.status == "failed"
    assert "charges" in job.error_message
    assert Order.objects.count() > 0  # the payment intents stream committed before the failure
    assert SyncCursor.objects.get(connection=stripe_connection, stream="stripe.payment_intents").state["high_water"]

    # and the next run picks up and completes
    retry = run_sync(stripe_connection)
    assert retry.status == "succeeded"
    assert Payment.objects.count() > 0


def test_a_sync_leaves_the_workers_garbage_collector_as_it_found_it(stripe_connection, sandbox):
    # A worker process runs many tasks: the sync's own collector thresholds must not outlive
    # it, whether it fails (a malformed page) or succeeds.
    import gc

    before = gc.get_threshold()
    httpx.post(f"{sandbox.url}/__sandbox__/faults", json={"kind": "malformed", "count": 1})

    assert run_sync(stripe_connection).status == "failed"
    assert gc.get_threshold() == before
    assert run_sync(stripe_connection).status == "succeeded"
    assert gc.get_threshold() == before


def test_a_revoked_key_marks_the_connection_broken(stripe_connection):
    from connections.services import connection_update

    connection_update(actor=None, connection=stripe_connection, credentials={"api_key": "sk_test_revoked_key_99"})
    stripe_connection.refresh_from_db()

    job = run_sync(stripe_connection)

    stripe_connection.refresh_from_db()
    assert job.status == "failed"
    assert stripe_connection.status == "broken"
    assert "sk_test_revoked_key_99" not in job.error_message
    assert "sk_test_revoked_key_99" not in stripe_connection.status_message


def test_a_failure_in_one_lane_leaves_every_stream_resumable_to_the_clean_result(stripe_connection, sandbox):
    # given: payouts (read beside the charges, in the other lane) get a truncated page
    httpx.post(
        f"{sandbox.url}/__sandbox__/faults", json={"kind": "malformed", "count": 1, "path_prefix": "/v1/payouts"}
    )
    failed = run_sync(stripe_connection, commit_rows=1)
    assert failed.status == "failed"
    assert "payouts" in failed.error_message

    # when: the next run resumes every stream from its own committed cursor
    resumed = run_sync(stripe_connection)
    assert resumed.status == "succeeded", resumed.error_message
    after_resume = table_checksum()

    # then: the tables equal those of a clean run from nothing
    for model in (PayoutLine, Payout, Refund, Dispute, Payment, Order):
        model.objects.all().delete()
    SyncCursor.objects.filter(connection=stripe_connection).delete()
    clean = run_sync(stripe_connection)
    assert clean.status == "succeeded"
    assert table_checksum() == after_resume


def test_lines_not_paid_out_yet_are_stored_and_linked_once_their_payout_comes(stripe_connection, sandbox):
    # the balance-transaction stream skips lines already linked to a payout (they are final);
    # what it must still write are the lines no payout has itemized yet
    first = run_sync(stripe_connection)
    assert first.status == "succeeded", first.error_message
    pending = set(PayoutLine.objects.filter(payout_source_id="").values_list("source_id", flat=True))
    assert pending, "the sandbox's last days are not paid out yet"

    httpx.post(f"{sandbox.url}/__sandbox__/advance", json={"days": 7})
    second = run_sync(stripe_connection)

    assert second.status == "succeeded", second.error_message
    linked = PayoutLine.objects.filter(source_id__in=pending).exclude(payout_source_id="")
    assert linked.count() > 0
    # and nothing was stored twice
    assert PayoutLine.objects.count() == PayoutLine.objects.values("source_id").distinct().count()


def test_a_run_that_gets_the_lock_ends_jobs_whose_worker_is_gone(stripe_connection):
    # the next sync is requested (its sweep finds nothing to end) ...
    job = sync_start(connection=stripe_connection, trigger="test", enqueue=False)
    # ... while a job whose worker was just killed still says 'running' (the database had not
    # yet noticed the dead connection and released its lock when the sweep looked)
    orphan = SyncJob.objects.create(connection=stripe_connection, status="running", kind="backfill", trigger="test")

    job = sync_job_run(job=job, client_options=FAST)

    assert job.status == "succeeded", job.error_message
    orphan.refresh_from_db()
    assert orphan.status == "failed"
    assert orphan.error_message.startswith("Interrupted")


def run_targeted(connection: Connection, ids: list[str], **client_options) -> SyncJob:
    job = sync_start(connection=connection, trigger="webhook", target_ids=ids, enqueue=False)
    return sync_job_run(job=job, client_options={**FAST, **client_options})


def first_charge_id(sandbox) -> str:
    headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    return httpx.get(f"{sandbox.url}/v1/charges?limit=1", headers=headers).json()["data"][0]["id"]


def test_a_webhook_sync_that_succeeds_does_not_hide_a_failing_full_sync(stripe_connection, sandbox):
    # given: the full sync fails (Stripe keeps answering 503)
    httpx.post(f"{sandbox.url}/__sandbox__/faults", json={"kind": "503", "count": 1000})
    full = sync_job_run(
        job=sync_start(connection=stripe_connection, trigger="schedule", enqueue=False),
        client_options={**FAST, "max_retries": 1},
    )
    assert full.status == "failed"
    stripe_connection.refresh_from_db()
    failing_since, failing_message = stripe_connection.last_sync_failed_at, stripe_connection.status_message
    httpx.delete(f"{sandbox.url}/__sandbox__/faults")

    # when: a webhook's targeted sync of one charge succeeds
    targeted = run_targeted(stripe_connection, [first_charge_id(sandbox)])

    # then: the connection still says its sync is failing and was never synced
    assert targeted.status == "succeeded", targeted.error_message
    stripe_connection.refresh_from_db()
    assert stripe_connection.status == "error"
    assert stripe_connection.status_message == failing_message
    assert stripe_connection.last_sync_succeeded_at is None
    assert stripe_connection.last_sync_failed_at == failing_since


def test_a_webhook_sync_of_a_missing_object_fails_alone(stripe_connection):
    full = run_sync(stripe_connection)
    assert full.status == "succeeded", full.error_message
    stripe_connection.refresh_from_db()
    synced_at = stripe_connection.last_sync_succeeded_at

    targeted = run_targeted(stripe_connection, ["ch_does_not_exist"])

    assert targeted.status == "failed"
    assert "ch_does_not_exist" in targeted.error_message
    stripe_connection.refresh_from_db()
    assert (stripe_connection.status, stripe_connection.status_message) == ("ok", "Last sync succeeded.")
    assert stripe_connection.last_sync_succeeded_at == synced_at
    assert stripe_connection.last_sync_failed_at is None


def test_a_webhook_sync_with_a_revoked_key_marks_the_connection_broken(stripe_connection, sandbox):
    from connections.services import connection_update

    charge_id = first_charge_id(sandbox)
    assert run_sync(stripe_connection).status == "succeeded"
    connection_update(actor=None, connection=stripe_connection, credentials={"api_key": "sk_test_revoked_key_99"})
    stripe_connection.refresh_from_db()

    targeted = run_targeted(stripe_connection, [charge_id])

    assert targeted.status == "failed"
    stripe_connection.refresh_from_db()
    assert stripe_connection.status == "broken"


@pytest.fixture
def lock_held_elsewhere(stripe_connection):
    """The connection's sync lock, held by another database session (a sync on another worker)."""
    import psycopg
    from django.db import connection as db

    from connections.sync.runner import _lock_key
    from ecomops.dbsetup import database_url

    other = psycopg.connect(database_url(db.settings_dict), autocommit=True)
    other.execute("SELECT pg_advisory_lock(%s)", [_lock_key(stripe_connection.pk)])
    yield other
    other.close()


def test_a_sync_that_finds_another_running_waits_and_is_resumed_once_it_ends(
    stripe_connection, sandbox, lock_held_elsewhere
):
    from datetime import timedelta

    from django.utils import timezone

    from connections.sync.runner import sync_waiting_resume

    # given: another sync of the connection runs while a webhook's job is tried
    job = run_targeted(stripe_connection, [first_charge_id(sandbox)])

    # then: the job waits, saying so, and the connection is not in error
    assert job.status == "queued"
    assert job.error_message.startswith("Waiting: another sync of this connection is running")
    stripe_connection.refresh_from_db()
    assert stripe_connection.status != "error"
    later = timezone.now() + timedelta(minutes=3)
    assert sync_waiting_resume(now=later) == []  # still held: nothing to hand over

    # when: the other sync's lock is freed without its runner handing the job over (its worker
    # died), the scheduler's tick does. (Unlocked explicitly: a closed session's locks are freed
    # only once the server has noticed.)
    lock_held_elsewhere.execute("SELECT pg_advisory_unlock_all()")
    assert sync_waiting_resume(now=later) == [job]
    assert sync_waiting_resume() == []  # just handed over: not again on the next tick

    done = sync_job_run(job=job, client_options=FAST)
    assert done.status == "succeeded", done.error_message
    assert (done.error_message, done.object_count) == ("", 1)


def test_open_disputes_and_uncaptured_payments_are_updated_however_old(stripe_connection, sandbox):
    ledger = sandbox.app.ledger
    # given: a dispute under review and a card authorization waiting for its capture
    dispute = next(d for d in ledger.seq("disputes").items if d["status"] not in ("won", "lost"))
    intent = next(
        p
        for p in ledger.seq("payment_intents").items
        if p["status"] == "succeeded" and not ledger.get("charges", p["latest_charge"])["amount_refunded"]
    )
    received = intent["amount_received"]
    dispute["status"] = "under_review"
    intent.update(status="requires_capture", amount_received=0)
    assert run_sync(stripe_connection).status == "succeeded"
    assert Order.objects.get(source_id=intent["id"]).financial_status == "authorized"

    # when: months later (both now far below their streams' look-back windows) the bank
    # decides the dispute and the authorization is captured
    far_later = ledger.now + 90 * 86_400
    for stream in ("stripe.disputes", "stripe.payment_intents"):
        SyncCursor.objects.filter(connection=stripe_connection, stream=stream).update(state={"high_water": far_later})
    dispute["status"] = "lost"
    intent.update(status="succeeded", amount_received=received)
    job = run_sync(stripe_connection)

    # then: the next sync has both
    assert job.status == "succeeded", job.error_message
    assert Dispute.objects.get(source_id=dispute["id"]).status == "lost"
    assert Order.objects.get(source_id=intent["id"]).financial_status == "paid"

    # and, decided and captured, neither is read one by one again
    from connections.sync.stripe import stripe_open_ids

    assert not {dispute["id"], intent["id"]} & set(stripe_open_ids(stripe_connection))


def deliver_stripe_event(connection: Connection, event_type: str, obj: dict) -> SyncJob:
    """Post a signed event to the connection's webhook endpoint and run the sync it queued
    (as the worker would: the test's transaction never commits, so nothing is handed over)."""
    import json
    import time

    from django.test import Client

    from connections.stripe.sandbox.server import sign_webhook

    body = json.dumps(
        {
            "id": f"evt_{obj['id']}_{event_type}",
            "object": "event",
            "type": event_type,
            "api_version": "2023-08-16",
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": obj},
        }
    ).encode()
    signature = sign_webhook(body, connection.credentials["webhook_secret"])
    response = Client().post(
        f"/webhooks/stripe/{connection.pk}/", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )
    assert response.status_code == 202, response.content
    job = SyncJob.objects.get(pk=response.json()["sync_job"])
    return sync_job_run(job=job, client_options=FAST)


def test_a_charge_refunded_webhook_brings_the_refunds_of_the_charge(stripe_connection, sandbox):
    ledger = sandbox.app.ledger
    # given: a refunded charge (Stripe's charge.refunded event carries the charge;
    # since API 2022-11-15 a charge no longer lists its refunds unless asked to expand them)
    refund = next(r for r in ledger.seq("refunds").items if r["status"] == "succeeded")
    charge = dict(ledger.get("charges", refund["charge"]))
    refunds_of_charge = {r["id"]: r["amount"] for r in ledger.seq("refunds").items if r["charge"] == charge["id"]}
    assert "refunds" not in charge

    # when: the webhook arrives and its sync runs
    job = deliver_stripe_event(stripe_connection, "charge.refunded", charge)

    # then: the refunds are there, not left for the next scheduled sync
    assert job.status == "succeeded", job.error_message
    assert dict(Refund.objects.filter(payment_source_id=charge["id"]).values_list("source_id", "amount_minor")) == (
        refunds_of_charge
    )
    assert Payment.objects.filter(source_id=charge["id"]).exists()


def test_credentials_a_webhook_sync_proves_working_again_let_the_scheduled_sync_resume(stripe_connection, sandbox):
    from datetime import timedelta

    from connections.schedule import connections_due

    assert run_sync(stripe_connection).status == "succeeded"
    stripe_connection.refresh_from_db()
    synced_at = stripe_connection.last_sync_succeeded_at
    charge = dict(sandbox.app.ledger.seq("charges").items[0])

    # given: Stripe refuses the key for a while (a restricted key whose read permission was
    # removed, say), so the scheduled sync fails and the connection is broken
    real_key, sandbox.app.api_key = sandbox.app.api_key, "sk_test_some_other_key_0000"
    refused = run_sync(stripe_connection)
    assert refused.status == "failed"
    stripe_connection.refresh_from_db()
    assert stripe_connection.status == "broken"
    assert stripe_connection not in connections_due(every=timedelta(0))  # a broken one waits for a person

    # when: the key works again (fixed in Stripe's dashboard, nothing changed here) and a
    # webhook's sync reads through it
    sandbox.app.api_key = real_key
    targeted = deliver_stripe_event(stripe_connection, "charge.updated", charge)

    # then: the credentials are no longer called refused, and the scheduled sync runs again
    assert targeted.status == "succeeded", targeted.error_message
    stripe_connection.refresh_from_db()
    assert stripe_connection.status != "broken"
    assert "accepted" in stripe_connection.status_message
    assert stripe_connection in connections_due(every=timedelta(0))
    # but the webhook's sync still does not speak for the connection: its last full sync failed
    assert stripe_connection.status == "error"
    assert stripe_connection.last_sync_succeeded_at == synced_at
    assert stripe_connection.last_sync_failed_at > synced_at


# ---------------------------------------------------------------------- the account's time zone


def test_a_sync_stores_the_accounts_time_zone_from_stripe(tenant_a, in_tenant):
    from connections.services import connection_create

    sandbox = build_stripe_sandbox(seed=7, days=10, timezone="America/Los_Angeles")
    with stripe_sandbox_server(sandbox) as server, in_tenant(tenant_a.tenant):
        conn = connection_create(
            actor=tenant_a.admin,
            name="Stripe in California",
            provider="stripe",
            credentials={"api_key": DEFAULT_API_KEY},
            base_url=server.url,
        )
        assert conn.time_zone == ""

        job = run_sync(conn)

        conn.refresh_from_db()
        assert job.status == "succeeded", job.error_message
        assert conn.time_zone == "America/Los_Angeles"


def test_the_stored_time_zone_is_kept_when_a_later_sync_cannot_read_one(stripe_connection, sandbox):
    sandbox.app.timezone = "Europe/Berlin"
    assert run_sync(stripe_connection).status == "succeeded"

    # when: Stripe names a time zone nobody knows ...
    sandbox.app.timezone = "Mars/Olympus_Mons"
    unknown = run_sync(stripe_connection)
    stripe_connection.refresh_from_db()
    after_unknown = stripe_connection.time_zone
    # ... and then does not answer for the account at all
    httpx.post(f"{sandbox.url}/__sandbox__/faults", json={"kind": "503", "count": 1000, "path_prefix": "/v1/account"})
    unanswered = sync_job_run(
        job=sync_start(connection=stripe_connection, trigger="test", enqueue=False),
        client_options={**FAST, "max_retries": 1},
    )
    stripe_connection.refresh_from_db()

    # then: the job says so, and the connection keeps the time zone read before
    assert unknown.status == "succeeded", unknown.error_message
    assert "the Stripe account's time zone 'Mars/Olympus_Mons' is unknown" in unknown.error_message
    assert after_unknown == "Europe/Berlin"
    assert unanswered.status == "failed"
    assert stripe_connection.time_zone == "Europe/Berlin"


# ---------------------------------------------------------------------- refunds on their orders


def refund_now(sandbox, charge_id: str, amount: int | None = None) -> dict:
    """Refund a charge in the sandbox now (all that is left of it without ``amount``)."""
    payload = {"charge": charge_id} if amount is None else {"charge": charge_id, "amount": amount}
    response = httpx.post(f"{sandbox.url}/__sandbox__/refund", json=payload)
    assert response.status_code == 200, response.text
    return response.json()["refund"]


def fail_refund_now(sandbox, refund_id: str) -> dict:
    """The customer's bank returns a refund: it fails and its money comes back."""
    response = httpx.post(f"{sandbox.url}/__sandbox__/fail_refund", json={"refund": refund_id})
    assert response.status_code == 200, response.text
    return response.json()["refund"]


def oldest_unrefunded_charge(sandbox) -> dict:
    """A charge paid on the business's first day: older than every stream's look-back once it
    has run for ten days, so its PaymentIntent and charge are not read again by a sync."""
    return next(
        c
        for c in sandbox.app.ledger.seq("charges").items
        if c["status"] == "succeeded" and not c["disputed"] and not c["amount_refunded"]
    )


def order_status(charge: dict) -> str:
    return Order.objects.get(source_id=charge["payment_intent"]).financial_status


def test_a_backfill_shows_what_was_refunded_of_each_stripe_order(stripe_connection, sandbox, api_as, tenant_a):
    ledger = sandbox.app.ledger

    job = run_sync(stripe_connection)

    # then: each order paid says what Stripe's charge says was refunded of it
    assert job.status == "succeeded", job.error_message
    expected = {}
    for intent in ledger.seq("payment_intents").items:
        if intent["status"] == "succeeded":
            charge = ledger.get("charges", intent["latest_charge"])
            refunded, captured = charge["amount_refunded"], charge["amount_captured"]
            expected[intent["id"]] = (
                "refunded" if refunded >= captured else "partially_refunded" if refunded else "paid"
            )
    assert dict(Order.objects.filter(source_id__in=expected).values_list("source_id", "financial_status")) == expected
    # the business refunds charges in full, in part, and in several parts (60% in three)
    statuses = Counter(expected.values())
    assert statuses["refunded"] >= 1
    assert statuses["partially_refunded"] >= 2
    # and a controller filtering the orders finds them
    api = api_as(tenant_a.accountant, tenant_a.tenant)
    listed = api.get("/api/v1/tables/orders/", {"financial_status": "refunded"}).json()
    assert {row["source_id"] for row in listed["results"]} == {k for k, v in expected.items() if v == "refunded"}


def test_a_refund_long_after_the_order_and_two_partial_refunds_that_make_the_whole(stripe_connection, sandbox):
    assert run_sync(stripe_connection).status == "succeeded"
    charge = oldest_unrefunded_charge(sandbox)
    assert order_status(charge) == "paid"

    # when: half of it is refunded, ten days after the order, and the scheduled sync runs
    refund_now(sandbox, charge["id"], charge["amount"] // 2)
    first = run_sync(stripe_connection)

    # then: the order is partly refunded
    assert first.status == "succeeded", first.error_message
    assert order_status(charge) == "partially_refunded"

    # when: the rest is refunded too
    refund_now(sandbox, charge["id"])
    second = run_sync(stripe_connection)

    # then: the two refunds make the whole
    assert second.status == "succeeded", second.error_message
    assert order_status(charge) == "refunded"


def test_a_refund_that_fails_gives_the_order_back_its_paid_status(stripe_connection, sandbox):
    assert run_sync(stripe_connection).status == "succeeded"
    charge = oldest_unrefunded_charge(sandbox)
    refund = refund_now(sandbox, charge["id"])
    assert run_sync(stripe_connection).status == "succeeded"
    assert order_status(charge) == "refunded"

    # when: the bank returns the refund (the card was closed) and the next sync reads it
    fail_refund_now(sandbox, refund["id"])
    job = run_sync(stripe_connection)

    # then: the money is the shop's again, and the order says paid
    assert job.status == "succeeded", job.error_message
    assert Refund.objects.get(source_id=refund["id"]).status == "failed"
    assert order_status(charge) == "paid"


def refunds_far_behind(connection: Connection, sandbox) -> None:
    """As if the refunds were made months ago: the refunds stream's look-back reads none of them."""
    far_later = sandbox.app.ledger.now + 90 * 86_400
    SyncCursor.objects.filter(connection=connection, stream="stripe.refunds").update(state={"high_water": far_later})


def test_a_refund_that_fails_long_after_it_succeeded_comes_with_its_failure(stripe_connection, sandbox):
    assert run_sync(stripe_connection).status == "succeeded"
    charge = oldest_unrefunded_charge(sandbox)
    refund = refund_now(sandbox, charge["id"])
    assert run_sync(stripe_connection).status == "succeeded"
    assert order_status(charge) == "refunded"
    refunds_far_behind(stripe_connection, sandbox)

    # when: weeks later the bank returns the refund, and the scheduled sync runs (no webhook)
    fail_refund_now(sandbox, refund["id"])
    job = run_sync(stripe_connection)

    # then: the refund's failure, read as a balance transaction, brought the refund along
    assert job.status == "succeeded", job.error_message
    assert Refund.objects.get(source_id=refund["id"]).status == "failed"
    assert order_status(charge) == "paid"
    assert PayoutLine.objects.get(source_object_id=refund["id"], reporting_category="refund_failure")


def test_a_pending_refund_is_read_again_until_it_settles_however_old(stripe_connection, sandbox):
    from connections.sync.stripe import stripe_open_ids

    assert run_sync(stripe_connection).status == "succeeded"
    charge = oldest_unrefunded_charge(sandbox)
    refund = sandbox.app.ledger.get("refunds", refund_now(sandbox, charge["id"])["id"])
    refund["status"] = "pending"
    assert run_sync(stripe_connection).status == "succeeded"
    assert Refund.objects.get(source_id=refund["id"]).status == "pending"
    refunds_far_behind(stripe_connection, sandbox)

    # when: long after, the refund goes through
    refund["status"] = "succeeded"
    job = run_sync(stripe_connection)

    # then: the next sync has it, and, settled, it is not read one by one again
    assert job.status == "succeeded", job.error_message
    assert Refund.objects.get(source_id=refund["id"]).status == "succeeded"
    assert refund["id"] not in stripe_open_ids(stripe_connection)


def test_refunds_arriving_by_webhook_update_an_order_synced_before(stripe_connection, sandbox):
    assert run_sync(stripe_connection).status == "succeeded"
    charge = oldest_unrefunded_charge(sandbox)

    # when: part of the charge is refunded and Stripe says so (charge.refunded carries the charge)
    refund = refund_now(sandbox, charge["id"], 500)
    ledger = sandbox.app.ledger
    refunded = deliver_stripe_event(stripe_connection, "charge.refunded", ledger.get("charges", charge["id"]))

    # then: the webhook's sync alone updates the order
    assert refunded.status == "succeeded", refunded.error_message
    assert order_status(charge) == "partially_refunded"

    # when: the refund fails later (refund.failed carries the refund)
    fail_refund_now(sandbox, refund["id"])
    failed = deliver_stripe_event(stripe_connection, "refund.failed", ledger.get("refunds", refund["id"]))

    # then: the order is paid again, without waiting for the next full sync
    assert failed.status == "succeeded", failed.error_message
    assert order_status(charge) == "paid"


def test_an_order_that_arrives_after_its_refund_says_it_was_refunded(stripe_connection, sandbox):
    # given: a refund and its charge, read by a webhook's sync before the order ever was
    charge = oldest_unrefunded_charge(sandbox)
    refund = refund_now(sandbox, charge["id"])
    assert run_targeted(stripe_connection, [refund["id"], charge["id"]]).status == "succeeded"
    assert not Order.objects.filter(source_id=charge["payment_intent"]).exists()

    # when: the PaymentIntent comes last
    job = run_targeted(stripe_connection, [charge["payment_intent"]])

    # then: its order is refunded from the start
    assert job.status == "succeeded", job.error_message
    assert order_status(charge) == "refunded"


def test_an_order_read_again_with_changes_keeps_its_refund_status(stripe_connection, sandbox):
    assert run_sync(stripe_connection).status == "succeeded"
    charge = oldest_unrefunded_charge(sandbox)
    refund_now(sandbox, charge["id"], 700)
    assert run_sync(stripe_connection).status == "succeeded"
    assert order_status(charge) == "partially_refunded"

    # when: the PaymentIntent changes (its description is edited) and is read again
    sandbox.app.ledger.get("payment_intents", charge["payment_intent"])["description"] = "Order, gift wrapped"
    job = run_targeted(stripe_connection, [charge["payment_intent"]])

    # then: the order is rewritten from it, and still says what was refunded of it
    assert (job.status, job.updated_count) == ("succeeded", 1), job.error_message
    order = Order.objects.get(source_id=charge["payment_intent"])
    assert (order.raw_data["description"], order.financial_status) == ("Order, gift wrapped", "partially_refunded")


def test_an_orders_refund_status_is_no_change_for_reconciliation(stripe_connection, sandbox):
    from recon.models import ReconChange, ReconException, ReconPayout
    from recon.tests.factories import reconcile

    def findings() -> tuple[set, set]:
        return (
            set(ReconException.objects.values_list("reason", "subject_ref", "state")),
            set(ReconPayout.objects.values_list("payout__source_id", "status")),
        )

    # given: a synced and reconciled account
    assert run_sync(stripe_connection).status == "succeeded"
    assert reconcile().mode == "full"
    before = findings()
    charge = oldest_unrefunded_charge(sandbox)
    order_hash = Order.objects.get(source_id=charge["payment_intent"]).content_hash

    # when: a refund alone is read (its order changes status, and nothing else about it)
    refund = refund_now(sandbox, charge["id"])
    assert run_targeted(stripe_connection, [refund["id"]]).status == "succeeded"

    # then: the order says refunded, but its content is the PaymentIntent's as before, so
    # reconciliation's change log names the refund only
    order = Order.objects.get(source_id=charge["payment_intent"])
    assert (order.financial_status, order.content_hash) == ("refunded", order_hash)
    assert set(ReconChange.objects.values_list("kind", flat=True)) == {"refund"}
    # and the next run re-evaluates no payout for it and finds what it found before
    run = reconcile()
    assert (run.mode, run.payouts_evaluated) == ("incremental", 0)
    assert findings() == before

    # when: the refund fails and a full incremental sync reads it with everything else
    fail_refund_now(sandbox, refund["id"])
    assert run_sync(stripe_connection).status == "succeeded"

    # then: the order is paid again and reconciliation, incremental, still finds the same
    assert order_status(charge) == "paid"
    run = reconcile()
    assert run.mode == "incremental"
    assert findings() == before
