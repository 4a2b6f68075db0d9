"""Scheduled incremental syncs: which connections are due, and the real django-q2 scheduler
queueing one that the real worker then runs against the Stripe sandbox."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from connections.models import Connection, ConnectionStatus, SyncJob, SyncJobStatus
from connections.schedule import SCHEDULE_FUNC, SCHEDULE_NAME, connections_due, ensure_schedule, sync_due
from connections.services import connection_create
from connections.stripe.sandbox.server import DEFAULT_API_KEY, build_stripe_sandbox, stripe_sandbox_server
from ecomops.tenancy import tenant_context
from tests.worker import Worker, schedule_every_minute_from_now, wait_for

HOUR = timedelta(hours=1)


def stripe(admin, name: str, **fields) -> Connection:
    conn = connection_create(actor=admin, name=name, provider="stripe", credentials={"api_key": "sk_test_sched_000000"})
    if fields:
        Connection.objects.filter(pk=conn.pk).update(**fields)
        conn.refresh_from_db()
    return conn


def job(conn: Connection, status: str, queued_ago: timedelta) -> SyncJob:
    return SyncJob.objects.create(
        connection=conn, kind="incremental", trigger="manual", status=status, queued_at=timezone.now() - queued_ago
    )


def test_what_is_due_and_what_is_not(tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        never = stripe(tenant_a.admin, "A never synced")
        stale = stripe(tenant_a.admin, "B synced two hours ago", last_sync_succeeded_at=timezone.now() - 2 * HOUR)
        job(stale, SyncJobStatus.SUCCEEDED, 2 * HOUR)
        failed = stripe(tenant_a.admin, "C failed two hours ago")
        job(failed, SyncJobStatus.FAILED, 2 * HOUR)
        recent = stripe(tenant_a.admin, "D synced ten minutes ago")
        job(recent, SyncJobStatus.SUCCEEDED, timedelta(minutes=10))
        running = stripe(tenant_a.admin, "E running for three hours")
        job(running, SyncJobStatus.RUNNING, 3 * HOUR)
        stripe(tenant_a.admin, "F disabled", enabled=False)
        stripe(tenant_a.admin, "G credentials refused", status=ConnectionStatus.BROKEN)

        due = connections_due(every=HOUR)
        jobs = sync_due(every=HOUR)

        assert [c.name for c in due] == [never.name, stale.name, failed.name]
        assert {(j.connection_id, j.trigger, j.status, j.kind) for j in jobs} == {
            (never.pk, "schedule", "queued", "backfill"),
            (stale.pk, "schedule", "queued", "incremental"),
            (failed.pk, "schedule", "queued", "backfill"),
        }
        # queued now: not due again
        assert connections_due(every=HOUR) == []


def test_webhook_syncs_do_not_postpone_the_scheduled_sync(tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        # given a connection fully synced five hours ago
        conn = stripe(tenant_a.admin, "Busy shop", last_sync_succeeded_at=timezone.now() - 5 * HOUR)
        job(conn, SyncJobStatus.SUCCEEDED, 5 * HOUR)
        # and a webhook's targeted sync of one charge ten minutes ago
        SyncJob.objects.create(
            connection=conn,
            kind="targeted",
            trigger="webhook",
            target_ids=["ch_1"],
            status=SyncJobStatus.SUCCEEDED,
            queued_at=timezone.now() - timedelta(minutes=10),
        )

        # when the scheduler looks, then the full sync is due all the same
        jobs = sync_due(every=HOUR)

        assert [(j.connection_id, j.kind) for j in jobs] == [(conn.pk, "incremental")]


def test_a_webhook_job_waiting_for_the_connection_does_not_hold_back_its_scheduled_sync(tenant_a, in_tenant):
    from connections.sync.runner import WAITING

    with in_tenant(tenant_a.tenant):
        conn = stripe(tenant_a.admin, "Shop", last_sync_succeeded_at=timezone.now() - 5 * HOUR)
        job(conn, SyncJobStatus.SUCCEEDED, 5 * HOUR)
        SyncJob.objects.create(
            connection=conn,
            kind="targeted",
            trigger="webhook",
            target_ids=["ch_1"],
            status=SyncJobStatus.QUEUED,
            error_message=WAITING,
            queued_at=timezone.now() - 3 * HOUR,
        )

        assert [(j.connection_id, j.kind) for j in sync_due(every=HOUR)] == [(conn.pk, "incremental")]


def test_other_tenants_connections_are_their_own(tenant_a, tenant_b, in_tenant):
    with in_tenant(tenant_b.tenant):
        theirs = stripe(tenant_b.admin, "B's Stripe")
    with in_tenant(tenant_a.tenant):
        assert connections_due(every=HOUR) == []
        assert sync_due(every=HOUR) == []
    with in_tenant(tenant_b.tenant):
        assert [c.pk for c in connections_due(every=HOUR)] == [theirs.pk]


def test_the_schedule_follows_the_setting(settings, db):
    from django_q.models import Schedule

    settings.SYNC_INTERVAL_MINUTES = 30
    ensure_schedule()
    ensure_schedule()  # idempotent
    schedule = Schedule.objects.get(name=SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        SCHEDULE_FUNC,
        Schedule.MINUTES,
        1,
        -1,
    )

    settings.SYNC_INTERVAL_MINUTES = 0
    ensure_schedule()
    assert not Schedule.objects.filter(name=SCHEDULE_NAME).exists()


@pytest.mark.slow
def test_the_real_scheduler_queues_a_due_sync_and_the_worker_runs_it(committed_tenant, tmp_path, monkeypatch):
    """django-q2's scheduler (inside ``qcluster``) runs the schedule; the sync it queues runs
    on the same worker, over HTTP to the sandbox."""
    from django_q.models import Schedule

    monkeypatch.setenv("SYNC_INTERVAL_MINUTES", "60")  # the worker's settings read it
    world = committed_tenant("sched")
    with stripe_sandbox_server(build_stripe_sandbox(seed=4, days=3)) as sandbox:
        with tenant_context(world.tenant):
            conn = connection_create(
                actor=world.owner,
                name="Stripe",
                provider="stripe",
                credentials={"api_key": DEFAULT_API_KEY},
                base_url=sandbox.url,
                backfill_start=date(2024, 1, 1),
            )
        schedule_every_minute_from_now(SCHEDULE_NAME, SCHEDULE_FUNC)
        worker = Worker(tmp_path / "worker.log").start()
        try:

            def synced():
                with tenant_context(world.tenant):
                    done = SyncJob.objects.filter(connection=conn, status=SyncJobStatus.SUCCEEDED).first()
                    return done

            done = wait_for(synced, timeout=120, message="a scheduled sync (see the worker's log)")
        finally:
            worker.stop()
            Schedule.objects.filter(name=SCHEDULE_NAME).delete()

    assert (done.trigger, done.kind) == ("schedule", "backfill")
    assert done.object_count > 0
