"""Runs as records, the incremental engine, freshness, the after-sync hook and the exceptions workflow."""

from __future__ import annotations

import uuid
from datetime import timedelta
from unittest import mock

import pytest
import structlog
from django.utils import timezone

from audit.models import AuditEvent
from connections.models import ConnectionStatus, SyncJob, SyncJobStatus
from recon.changes import expected_triggers, installed_triggers
from recon.models import ReconChange, ReconException, ReconPayout, ReconRun
from recon.services import (
    ScopeNotFound,
    exception_acknowledge,
    exception_bulk,
    exception_resolve,
    recon_after_sync,
    recon_run_start,
)
from recon.tests.factories import (
    connection,
    found,
    line_row,
    order_row,
    payout_own_line,
    payout_row,
    reconcile,
    sale,
    write,
)
from tenants.services import ServiceError

pytestmark = pytest.mark.usefixtures("in_a")


def short_payout(conn, n: int = 1, *, paid: int = 10000) -> None:
    """po_n whose one sale nets 96.80 but which pays ``paid``: a payout_total_mismatch."""
    write(
        conn,
        *sale(conn, n, payout=f"po_{n}", amount=10000, fee=320),
        payout_row(f"po_{n}", paid),
        payout_own_line(f"po_{n}", paid),
    )


# ---------------------------------------------------------------------- the run record


def test_a_run_records_scope_counts_duration_and_who_started_it(tenant_a):
    conn = connection()
    short_payout(conn, 1)
    write(conn, *sale(conn, 2, payout="po_2", amount=5000, fee=175), payout_row("po_2", 4825))

    run = recon_run_start(actor=tenant_a.accountant, trigger="api", connection_ids=[conn.pk], enqueue=False)
    from recon.services import recon_run_execute

    run = recon_run_execute(run=run)

    assert (run.status, run.mode, run.trigger) == ("completed", "full", "api")
    assert (run.requested_by_id, run.requested_by_email) == (tenant_a.accountant.pk, tenant_a.accountant.email)
    assert run.connection_ids == [str(conn.pk)]
    assert (run.payouts_evaluated, run.payouts_reconciled, run.payouts_with_exceptions) == (2, 1, 1)
    assert run.lines_evaluated == 3
    assert (run.exceptions_opened, run.exceptions_by_reason) == (1, {"payout_total_mismatch": 1})
    assert run.duration_ms is not None
    assert run.finished_at >= run.started_at
    assert run.freshness[0]["connection_id"] == str(conn.pk)
    assert run.freshness[0]["fresh"] is True
    assert AuditEvent.objects.filter(action="recon.run_finished", target_id=str(run.pk)).exists()


def test_targeted_run_evaluates_only_the_payouts_asked_for():
    conn = connection()
    short_payout(conn, 1)
    short_payout(conn, 2)

    run = reconcile(payout_ids=["po_2"])

    assert (run.mode, run.payouts_evaluated) == ("targeted", 1)
    assert set(found()) == {("payout_total_mismatch", "po_2")}


def test_unknown_scope_is_refused_naming_the_field():
    connection()
    with pytest.raises(ServiceError) as missing:
        recon_run_start(trigger="api", payout_ids=["po_nowhere"], enqueue=False)
    assert missing.value.field == "payout_ids"
    with pytest.raises(ServiceError) as dates:
        recon_run_start(
            trigger="api",
            date_from=timezone.now().date(),
            date_to=timezone.now().date() - timedelta(days=1),
            enqueue=False,
        )
    assert dates.value.field == "date_to"


# ---------------------------------------------------------------------- incremental and idempotent


def test_change_capture_triggers_are_on_every_canonical_table(tenant_a):
    assert installed_triggers(tenant_a.tenant.schema_name) == expected_triggers()


def test_an_upsert_records_what_changed_and_an_unchanged_one_records_nothing():
    conn = connection()
    rows = sale(conn, 1, payout="po_1", amount=10000, fee=320)

    write(conn, *rows)
    changes = {(c.kind, key) for c in ReconChange.objects.all() for key in c.keys}
    assert changes == {("payment", "ch_1"), ("order", "pi_1"), ("payout", "po_1")}

    ReconChange.objects.all().delete()
    write(conn, *rows)
    assert not ReconChange.objects.exists()


def test_rerun_with_nothing_changed_evaluates_nothing_and_changes_nothing():
    conn = connection()
    short_payout(conn, 1)
    first = reconcile()
    exception = ReconException.objects.get()

    second = reconcile()

    assert (second.mode, second.payouts_evaluated) == ("incremental", 0)
    assert (second.exceptions_opened, second.exceptions_updated, second.exceptions_auto_resolved) == (0, 0, 0)
    assert ReconException.objects.count() == 1
    exception.refresh_from_db()
    assert exception.first_seen_run_id == first.pk


def test_rerun_after_a_change_re_evaluates_only_that_payout_and_never_duplicates():
    conn = connection()
    short_payout(conn, 1)
    short_payout(conn, 2)
    reconcile()

    write(conn, payout_row("po_2", 10001))  # a different wrong amount
    run = reconcile()

    assert (run.mode, run.payouts_evaluated) == ("incremental", 1)
    assert ReconException.objects.filter(reason="payout_total_mismatch").count() == 2
    assert found()[("payout_total_mismatch", "po_2")].actual_minor == 10001
    assert run.exceptions_updated == 1


def test_changed_tenant_settings_re_evaluate_everything(tenant_settings):
    conn = connection()
    write(conn, order_row("pi_1", total=10030))
    write(conn, *sale(conn, 1, payout="po_1", amount=10000, fee=320)[1:], payout_row("po_1", 9680))
    reconcile()
    assert ("amount_mismatch", "pi_1") in found()

    tenant_settings(recon_amount_tolerance_minor=50)
    run = reconcile()

    assert run.mode == "full"
    assert found()[("amount_mismatch", "pi_1")].state == "resolved"


def test_cause_gone_closes_it_with_a_note_and_cause_back_reopens_it():
    conn = connection()
    short_payout(conn, 1)
    reconcile()
    exception = ReconException.objects.get()

    write(conn, payout_row("po_1", 9680))  # corrected
    fixed = reconcile()
    exception.refresh_from_db()
    assert (exception.state, exception.resolved_by_kind) == ("resolved", "system")
    assert exception.system_note == f"cause gone (run {fixed.pk})"
    assert ReconPayout.objects.get().status == "reconciled"

    write(conn, payout_row("po_1", 10000))  # wrong again
    broken = reconcile()
    exception.refresh_from_db()
    assert (exception.state, exception.resolved_by_kind, broken.exceptions_reopened) == ("open", "", 1)
    assert ReconException.objects.count() == 1

    # the engine's own state changes are audited too
    events = AuditEvent.objects.filter(target_id=str(exception.pk)).order_by("created_at")
    assert [(e.action, e.actor_kind, e.detail["from"], e.detail["to"], e.detail["note"]) for e in events] == [
        ("recon.exception_resolved", "system", "open", "resolved", f"cause gone (run {fixed.pk})"),
        ("recon.exception_reopened", "system", "resolved", "open", f"cause back (run {broken.pk})"),
    ]


def test_a_persons_note_and_acknowledgement_survive_reruns(tenant_a):
    conn = connection()
    short_payout(conn, 1)
    reconcile()
    exception = exception_acknowledge(
        actor=tenant_a.accountant, exception=ReconException.objects.get(), note="asked the bank"
    )

    write(conn, payout_row("po_1", 10002))  # still wrong, by another amount
    reconcile()
    exception.refresh_from_db()

    assert (exception.state, exception.note, exception.actual_minor) == ("acknowledged", "asked the bank", 10002)
    assert exception.acknowledged_by_email == tenant_a.accountant.email

    write(conn, payout_row("po_1", 9680))  # fixed at the source
    reconcile()
    exception.refresh_from_db()
    assert (exception.state, exception.resolved_by_kind, exception.note) == ("resolved", "system", "asked the bank")


def test_a_person_resolved_exception_stays_resolved_while_the_cause_persists(tenant_a):
    conn = connection()
    short_payout(conn, 1)
    reconcile()
    exception_resolve(actor=tenant_a.accountant, exception=ReconException.objects.get(), note="bank fee, booked")

    write(conn, *sale(conn, 2, payout="po_1", amount=100, fee=33))  # po_1 changes, still short
    reconcile()
    exception = ReconException.objects.get(reason="payout_total_mismatch")

    assert (exception.state, exception.resolved_by_kind, exception.note) == ("resolved", "user", "bank fee, booked")
    assert ReconPayout.objects.get(payout__source_id="po_1").status == "reconciled"


def test_a_person_resolved_exception_reopens_when_the_difference_grows(tenant_a):
    conn = connection()
    short_payout(conn, 1)  # pays 100.00 for lines netting 96.80: 3.20 off
    reconcile()
    exception_resolve(actor=tenant_a.accountant, exception=ReconException.objects.get(), note="bank fee, booked")

    write(conn, payout_row("po_1", 15000), payout_own_line("po_1", 15000))  # now 53.20 off
    run = reconcile()
    exception = ReconException.objects.get(reason="payout_total_mismatch")

    assert (exception.state, exception.resolved_by_kind, exception.resolved_by_email) == ("open", "", "")
    assert (exception.expected_minor, exception.actual_minor) == (9680, 15000)
    assert exception.note == "bank fee, booked"  # the person's words stay
    assert exception.system_note == (
        f"larger than when it was resolved: then 96.80 USD expected, 100.00 USD actual (run {run.pk})"
    )
    assert run.exceptions_reopened == 1
    assert ReconPayout.objects.get(payout__source_id="po_1").status == "exceptions"
    reopened = AuditEvent.objects.get(target_id=str(exception.pk), action="recon.exception_reopened")
    assert (reopened.actor_kind, reopened.detail["from"], reopened.detail["note"]) == (
        "system", "resolved", exception.system_note)  # fmt: skip


# ---------------------------------------------------------------------- freshness


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (lambda: {"last_sync_succeeded_at": None}, "never synced successfully"),
        (lambda: {"status": ConnectionStatus.BROKEN, "status_message": "Stripe HTTP 401"}, "credentials refused"),
        # times taken when the test runs, not when it is collected: the connection's last
        # success is "a minute ago" at run time, and a failure must come after it
        (lambda: {"last_sync_failed_at": timezone.now()}, "last sync failed at"),
        (lambda: {"last_sync_succeeded_at": timezone.now() - timedelta(hours=30)}, "30 h ago, beyond the 24 h"),
    ],
)
def test_stale_source_ends_the_run_as_stale_with_the_reason(changes, reason):
    conn = connection(**changes())
    short_payout(conn, 1)

    run = reconcile()

    assert run.status == "stale"
    assert reason in run.stale_reason
    assert conn.name in run.stale_reason
    assert run.freshness[0]["fresh"] is False
    assert run.payouts_evaluated == 1  # the numbers are there; they are not called green


def test_fresh_sources_complete(tenant_settings):
    tenant_settings(recon_freshness_hours=48)
    connection(last_sync_succeeded_at=timezone.now() - timedelta(hours=30))

    assert reconcile().status == "completed"


# ---------------------------------------------------------------------- after a sync


def test_a_successful_sync_queues_one_recon_run_for_its_connection(django_capture_on_commit_callbacks):
    conn = connection()
    job = SyncJob.objects.create(connection=conn, status=SyncJobStatus.SUCCEEDED)

    with django_capture_on_commit_callbacks() as callbacks:
        run = recon_after_sync(job=job)
        again = recon_after_sync(job=job)  # a second sync before the run started

    assert (run.trigger, run.status, run.connection_ids, run.sync_job_id) == ("sync", "queued", [str(conn.pk)], job.pk)
    assert again.pk == run.pk
    assert len(callbacks) == 1  # one task on the recon queue
    assert ReconRun.objects.count() == 1


# ---------------------------------------------------------------------- the exceptions workflow


def test_acknowledge_and_resolve_are_audited_with_who_and_why(tenant_a):
    conn = connection()
    short_payout(conn, 1)
    reconcile()
    exception = ReconException.objects.get()

    exception_acknowledge(actor=tenant_a.accountant, exception=exception)
    exception = exception_resolve(actor=tenant_a.admin, exception=exception, note="refund booked by hand")

    assert (exception.state, exception.resolved_by_kind, exception.resolved_by_email) == (
        "resolved", "user", tenant_a.admin.email)  # fmt: skip
    assert exception.note == "refund booked by hand"
    actions = list(
        AuditEvent.objects.filter(target_id=str(exception.pk))
        .order_by("created_at")
        .values_list("action", "actor_email")
    )
    assert actions == [
        ("recon.exception_acknowledged", tenant_a.accountant.email),
        ("recon.exception_resolved", tenant_a.admin.email),
    ]
    assert ReconPayout.objects.get().status == "reconciled"  # nothing open on it any more


def test_resolving_needs_a_note_and_cannot_happen_twice(tenant_a):
    conn = connection()
    short_payout(conn, 1)
    reconcile()
    exception = ReconException.objects.get()

    with pytest.raises(ServiceError) as no_note:
        exception_resolve(actor=tenant_a.accountant, exception=exception, note="  ")
    assert no_note.value.field == "note"
    exception_resolve(actor=tenant_a.accountant, exception=exception, note="ok")
    with pytest.raises(ServiceError) as twice:
        exception_resolve(actor=tenant_a.accountant, exception=exception, note="again")
    assert twice.value.field == "state"


def test_bulk_action_changes_what_it_can_and_reports_the_rest(tenant_a):
    conn = connection()
    short_payout(conn, 1)
    short_payout(conn, 2)
    write(conn, line_row("txn_orphan", payout="po_3", amount=100, object_id="ch_none"), payout_row("po_3", 100))
    reconcile()
    ids = list(ReconException.objects.order_by("subject_ref").values_list("pk", flat=True))
    exception_resolve(actor=tenant_a.accountant, exception=ReconException.objects.get(pk=ids[0]), note="done")

    result = exception_bulk(actor=tenant_a.accountant, ids=ids, action="acknowledge", note="looking")

    assert len(result.changed) == len(ids) - 1
    assert result.skipped == [{"id": str(ids[0]), "reason": "already resolved"}]
    assert set(ReconException.objects.exclude(pk=ids[0]).values_list("state", flat=True)) == {"acknowledged"}
    assert AuditEvent.objects.filter(action="recon.exception_acknowledged").count() == len(ids) - 1


def _copies_on_the_same_payout(exception: ReconException, count: int) -> list:
    """``count`` open exceptions like ``exception`` (other subjects), all on its payout."""
    copies = [
        ReconException(
            reason="line_unmatched",
            subject_type="payout_line",
            subject_id=uuid.uuid4(),
            subject_ref=f"txn_copy_{n}",
            payout_id=exception.payout_id,
            connection_id=exception.connection_id,
        )
        for n in range(count - 1)
    ]
    ReconException.objects.bulk_create(copies)
    return [exception.pk, *(c.pk for c in copies)]


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
@pytest.mark.parametrize("count", [50, 500])
def test_a_bulk_action_takes_the_same_few_queries_however_many_exceptions(
    tenant_a, action, count, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    conn = connection()
    short_payout(conn, 1)
    reconcile()
    ids = _copies_on_the_same_payout(ReconException.objects.get(), count)

    with django_assert_max_num_queries(10), django_capture_on_commit_callbacks():
        result = exception_bulk(actor=tenant_a.accountant, ids=ids, action=action, note="batch")

    assert len(result.changed) == count


def test_a_bulk_action_audits_each_exception_as_a_single_action_would(tenant_a):
    conn = connection()
    short_payout(conn, 1)
    write(conn, line_row("txn_orphan", payout="po_1", amount=100, object_id="ch_none"))
    reconcile()
    first, second = ReconException.objects.order_by("subject_ref")
    exception_acknowledge(actor=tenant_a.accountant, exception=first)
    structlog.contextvars.bind_contextvars(correlation_id="bulk-corr-1")

    try:
        exception_bulk(actor=tenant_a.admin, ids=[first.pk, second.pk], action="resolve", note="written off")
    finally:
        structlog.contextvars.unbind_contextvars("correlation_id")

    events = {
        e.target_id: e
        for e in AuditEvent.objects.filter(action="recon.exception_resolved", correlation_id="bulk-corr-1")
    }
    assert set(events) == {str(first.pk), str(second.pk)}
    for exception, previous in ((first, "acknowledged"), (second, "open")):
        event = events[str(exception.pk)]
        assert (event.actor_id, event.actor_email, event.actor_kind, event.target_type, event.outcome) == (
            tenant_a.admin.pk, tenant_a.admin.email, "user", "recon.reconexception", "success")  # fmt: skip
        assert event.detail == {
            "reason": exception.reason,
            "subject": exception.subject_ref,
            "from": previous,
            "to": "resolved",
            "note": "written off",
            "bulk": True,
        }
    resolved = ReconException.objects.get(pk=first.pk)
    assert (resolved.resolved_by_kind, resolved.resolved_by_id, resolved.resolved_by_email, resolved.note) == (
        "user", tenant_a.admin.pk, tenant_a.admin.email, "written off")  # fmt: skip
    assert resolved.acknowledged_by_email == tenant_a.accountant.email  # who acknowledged it stays on record
    assert resolved.resolved_at == resolved.state_changed_at is not None


def test_acknowledging_in_bulk_without_a_note_keeps_the_note_and_skips_what_is_acknowledged(tenant_a):
    conn = connection()
    short_payout(conn, 1)
    short_payout(conn, 2)
    reconcile()
    first, second = ReconException.objects.order_by("subject_ref")
    exception_acknowledge(actor=tenant_a.accountant, exception=first, note="asked the bank")

    result = exception_bulk(actor=tenant_a.admin, ids=[first.pk, second.pk], action="acknowledge")

    assert (result.changed, result.skipped) == (
        [str(second.pk)],
        [{"id": str(first.pk), "reason": "already acknowledged"}],
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.note, first.acknowledged_by_email) == ("asked the bank", tenant_a.accountant.email)
    assert (second.state, second.note, second.acknowledged_by_email) == ("acknowledged", "", tenant_a.admin.email)
    assert ReconPayout.objects.get(payout_id=second.payout_id).open_exceptions == 1  # acknowledged is still open


def test_unknown_ids_in_a_bulk_action_change_nothing(tenant_a):
    conn = connection()
    short_payout(conn, 1)
    reconcile()
    exception = ReconException.objects.get()
    unknown = uuid.uuid4()

    with pytest.raises(ScopeNotFound) as refused:
        exception_bulk(actor=tenant_a.admin, ids=[exception.pk, unknown], action="resolve", note="done")

    assert str(unknown) in str(refused.value)
    assert ReconException.objects.get().state == "open"
    assert not AuditEvent.objects.filter(action="recon.exception_resolved").exists()


def test_resolving_a_payouts_last_exceptions_in_bulk_reconciles_it_and_queues_its_posting(
    tenant_a, django_capture_on_commit_callbacks
):
    conn = connection()
    short_payout(conn, 1)
    short_payout(conn, 2)
    write(conn, line_row("txn_orphan", payout="po_1", amount=100, object_id="ch_none"))
    reconcile()
    on_po_1 = list(ReconException.objects.filter(payout__source_id="po_1").values_list("pk", flat=True))
    assert len(on_po_1) == 2

    with mock.patch("ecomops.tasks.enqueue") as enqueue, django_capture_on_commit_callbacks():
        exception_bulk(actor=tenant_a.accountant, ids=on_po_1, action="resolve", note="booked by hand")

    statuses = dict(ReconPayout.objects.values_list("payout__source_id", "status"))
    assert statuses == {"po_1": "reconciled", "po_2": "exceptions"}
    assert ReconPayout.objects.get(payout__source_id="po_1").open_exceptions == 0
    payout_id = str(ReconPayout.objects.get(payout__source_id="po_1").payout_id)
    enqueue.assert_called_once_with(
        "netsuite.tasks.postings_after_recon_task",
        tenant_id=tenant_a.tenant.pk,
        queue="posting",
        payout_ids=[payout_id],
    )


# ---------------------------------------------------------------------- the lines' links


def test_links_written_after_a_large_run_by_the_follow_up_task_are_idempotent():
    from canonical.models import PayoutLine
    from recon.services import recon_run_execute
    from recon.tasks import recon_links_write_task

    conn = connection()
    rows = [*sale(conn, 1, payout="po_1", amount=10000, fee=320), *sale(conn, 2, payout="po_2", amount=5000, fee=175)]
    # the lines before their payments, as a backfill may read them: nothing linked on arrival
    write(conn, *[row for row in rows if row.kind == "payout_line"])
    write(conn, *[row for row in rows if row.kind != "payout_line"], payout_row("po_1", 9680), payout_row("po_2", 4825))
    run = recon_run_execute(run=recon_run_start(trigger="api", enqueue=False), write_links="skip")
    assert not PayoutLine.objects.filter(payment__isnull=False).exists()

    written = recon_links_write_task(run_id=str(run.pk), connection_ids=[str(conn.pk)])

    assert written == 2
    assert dict(PayoutLine.objects.values_list("source_id", "payment__source_id")) == {
        "txn_ch_1": "ch_1",
        "txn_ch_2": "ch_2",
    }
    assert recon_links_write_task(run_id=str(run.pk), connection_ids=[str(conn.pk)]) == 0
    assert not ReconChange.objects.exists()  # writing links is not a change recon reacts to


def test_a_run_left_running_by_a_dead_worker_is_marked_interrupted():
    connection()
    dead = ReconRun.objects.create(trigger="sync", status="running", started_at=timezone.now() - timedelta(hours=2))

    reconcile()

    dead.refresh_from_db()
    assert dead.status == "failed"
    assert dead.error_message.startswith("Interrupted")


def test_a_changed_payout_re_checks_its_lines_but_leaves_order_findings_alone():
    conn = connection()
    # pi_1 is short-paid (order 120.00, payment 100.00); po_1 carries its charge
    write(conn, order_row("pi_1", total=12000))
    write(conn, *sale(conn, 1, payout="po_1", amount=10000, fee=320)[1:], payout_row("po_1", 9680))
    reconcile()
    assert found()[("amount_mismatch", "pi_1")].state == "open"

    write(conn, payout_row("po_1", 9000))  # the payout changes at the source
    run = reconcile()

    assert (run.mode, run.payouts_evaluated) == ("incremental", 1)
    assert found()[("payout_total_mismatch", "po_1")].actual_minor == 9000
    mismatch = found()[("amount_mismatch", "pi_1")]
    assert (mismatch.state, mismatch.last_seen_run_id) != ("resolved", run.pk)
    assert mismatch.state == "open"
