"""Tenants' schedules: created with clear refusals, run by the minute tick once per due time,
daily times kept on the local clock across DST changes, failures recorded without stopping the tick.

The tick (``mcp_bridge.schedule.tenant_schedules_run``) is called directly with the time it runs at,
against PostgreSQL; what it queued is read back as the rows a person would look at (the ReconRun,
the SyncJobs, the audit trail).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection as db
from django.db import transaction

from audit.models import AuditEvent
from connections.models import Connection, SyncJob
from connections.tests.factories import ConnectionFactory
from ecomops.tenancy import tenant_context
from mcp_bridge.models import Schedule
from mcp_bridge.schedule import tenant_schedules_run
from mcp_bridge.services import schedule_create, schedule_run_now, schedule_set_enabled
from recon.models import ReconRun
from tenants.services import ServiceError

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def in_a(tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        yield tenant_a


def _runs() -> list[ReconRun]:
    return list(ReconRun.objects.filter(trigger="schedule").order_by("queued_at"))


def _tick(at: datetime, tenant) -> None:
    tenant_schedules_run(now=at)  # every tenant in turn, then back in the test's
    assert db.tenant == tenant


# --------------------------------------------------------------------------- the tick


def test_tick_queues_a_scheduled_recon_run_once_per_due_time(in_a):
    ConnectionFactory(name="Stripe EU")
    schedule = schedule_create(actor=in_a.admin, kind="recon.run", every_hours=6, now=T0)
    assert schedule.next_run_at == T0 + timedelta(hours=6)

    _tick(T0 + timedelta(hours=5, minutes=59), in_a.tenant)  # not due yet
    assert _runs() == []

    _tick(T0 + timedelta(hours=6), in_a.tenant)
    _tick(T0 + timedelta(hours=6), in_a.tenant)  # a second tick at the same time
    _tick(T0 + timedelta(hours=6, minutes=1), in_a.tenant)  # and the next minute's

    runs = _runs()
    assert len(runs) == 1
    assert (runs[0].trigger, runs[0].status, runs[0].requested_by_email) == ("schedule", "queued", "")
    schedule.refresh_from_db()
    assert schedule.last_recon_run_id == runs[0].pk
    assert (schedule.last_outcome, schedule.last_error) == ("queued", "")
    assert schedule.last_run_at == T0 + timedelta(hours=6)
    assert schedule.next_run_at == T0 + timedelta(hours=12)
    event = AuditEvent.objects.get(action="schedule.ran", target_id=str(schedule.pk))
    assert (event.actor_kind, event.outcome, event.detail["recon_run"]) == ("schedule", "success", str(runs[0].pk))


def test_sync_schedule_syncs_every_enabled_connection(in_a):
    stripe = ConnectionFactory(name="Stripe US")
    shopify = ConnectionFactory(name="Shop", provider="shopify", credentials={"access_token": "shpat_x"})
    ConnectionFactory(name="Old Stripe", enabled=False)
    ConnectionFactory(name="Books", provider="netsuite")
    schedule = schedule_create(actor=in_a.admin, kind="sync", every_hours=1, now=T0)

    _tick(T0 + timedelta(hours=1), in_a.tenant)

    jobs = SyncJob.objects.filter(trigger="schedule")
    assert {job.connection_id for job in jobs} == {stripe.pk, shopify.pk}
    schedule.refresh_from_db()
    assert sorted(schedule.last_sync_job_ids) == sorted(str(job.pk) for job in jobs)
    assert schedule.last_outcome == "queued"


def test_sync_still_queued_from_the_last_time_is_not_queued_again(in_a):
    ConnectionFactory(name="Stripe slow")
    schedule_create(actor=in_a.admin, kind="sync", every_hours=1, now=T0)

    _tick(T0 + timedelta(hours=1), in_a.tenant)
    _tick(T0 + timedelta(hours=2), in_a.tenant)  # the first sync has not started yet

    assert SyncJob.objects.filter(trigger="schedule").count() == 1


def test_deleted_or_disabled_connection_is_recorded_and_the_tick_carries_on(in_a):
    gone = ConnectionFactory(name="Stripe closed")
    switched_off = ConnectionFactory(name="Stripe paused")
    healthy = ConnectionFactory(name="Stripe main")
    of_gone = schedule_create(actor=in_a.admin, kind="sync", every_hours=2, connection_ids=[str(gone.pk)], now=T0)
    of_off = schedule_create(
        actor=in_a.admin, kind="recon.run", every_hours=2, connection_ids=[str(switched_off.pk)], now=T0
    )
    of_healthy = schedule_create(actor=in_a.admin, kind="sync", every_hours=2, connection_ids=[str(healthy.pk)], now=T0)
    gone_id = gone.pk
    gone.delete()
    Connection.objects.filter(pk=switched_off.pk).update(enabled=False)

    _tick(T0 + timedelta(hours=2), in_a.tenant)

    for schedule in (of_gone, of_off, of_healthy):
        schedule.refresh_from_db()
    assert (of_gone.last_outcome, of_gone.last_error) == ("failed", f"Connection {gone_id} no longer exists.")
    assert of_off.last_outcome == "failed"
    assert of_off.last_error == f"Connection Stripe paused ({switched_off.pk}) is disabled."
    assert _runs() == []  # nothing queued for the disabled one
    assert of_healthy.last_outcome == "queued"
    assert SyncJob.objects.get(trigger="schedule").connection_id == healthy.pk
    # the failed ones stay, due again next time
    assert Schedule.objects.filter(pk__in=[of_gone.pk, of_off.pk], enabled=True).count() == 2
    assert of_gone.next_run_at == T0 + timedelta(hours=4)
    failed = AuditEvent.objects.get(action="schedule.ran", target_id=str(of_off.pk))
    assert failed.outcome == "failure"
    assert "is disabled" in failed.detail["error"]


def test_a_tenant_without_mcp_tools_keeps_its_schedules_running(tenant_b, in_tenant):
    with in_tenant(tenant_b.tenant):  # tenant B is on the trial plan: no MCP tools
        ConnectionFactory(name="Stripe B")
        schedule = schedule_create(actor=tenant_b.owner, kind="recon.run", every_hours=3, now=T0)

        _tick(T0 + timedelta(hours=3), tenant_b.tenant)

        assert len(_runs()) == 1
        schedule.refresh_from_db()
        assert schedule.last_outcome == "queued"


def test_a_deactivated_tenant_starts_nothing(tenant_b, in_tenant):
    from tenants.models import Tenant

    with in_tenant(tenant_b.tenant):
        ConnectionFactory(name="Stripe B")
        schedule = schedule_create(actor=tenant_b.owner, kind="recon.run", every_hours=3, now=T0)
    Tenant.objects.filter(pk=tenant_b.tenant.pk).update(is_active=False)

    tenant_schedules_run(now=T0 + timedelta(hours=3))

    with in_tenant(tenant_b.tenant):
        assert _runs() == []
        assert Schedule.objects.get(pk=schedule.pk).next_run_at == T0 + timedelta(hours=3)  # due when back


def test_a_worker_down_for_days_runs_a_missed_schedule_once(in_a):
    ConnectionFactory(name="Stripe EU")
    daily = schedule_create(actor=in_a.admin, kind="recon.run", daily_at="06:00", time_zone="UTC", now=T0)
    hourly = schedule_create(actor=in_a.admin, kind="recon.run", every_hours=4, now=T0)

    back = T0 + timedelta(days=3, hours=1)  # 2026-06-04 09:00
    _tick(back, in_a.tenant)

    assert len(_runs()) == 2  # one each
    daily.refresh_from_db()
    hourly.refresh_from_db()
    assert daily.next_run_at == datetime(2026, 6, 5, 6, 0, tzinfo=UTC)
    assert hourly.next_run_at == datetime(2026, 6, 4, 12, 0, tzinfo=UTC)  # still on its 08:00 + 4h grid


def test_a_disabled_schedule_does_not_run_and_resumes_from_now(in_a):
    ConnectionFactory(name="Stripe EU")
    schedule = schedule_create(actor=in_a.admin, kind="recon.run", every_hours=1, now=T0)
    schedule_set_enabled(schedule=schedule, actor=in_a.admin, enabled=False)

    _tick(T0 + timedelta(hours=5), in_a.tenant)
    assert _runs() == []

    schedule = schedule_set_enabled(schedule=schedule, actor=in_a.admin, enabled=True, now=T0 + timedelta(hours=5))
    assert schedule.next_run_at == T0 + timedelta(hours=6)
    assert AuditEvent.objects.filter(action="schedule.disabled", target_id=str(schedule.pk)).exists()


def test_run_now_queues_the_work_and_keeps_the_next_time(in_a):
    ConnectionFactory(name="Stripe EU")
    schedule = schedule_create(actor=in_a.admin, kind="recon.run", every_hours=24, now=T0)

    ran = schedule_run_now(schedule=schedule, actor=in_a.admin)

    run = ReconRun.objects.get(pk=ran.last_recon_run_id)
    assert (run.trigger, run.requested_by_email) == ("schedule", in_a.admin.email)
    assert ran.next_run_at == T0 + timedelta(hours=24)


# --------------------------------------------------------------------------- daily times and DST


def test_daily_time_on_the_night_clocks_go_back_runs_once(in_a):
    ConnectionFactory(name="Stripe US")
    # New York falls back on 2026-11-01: 01:30 happens at 05:30 UTC (EDT) and again at 06:30 UTC (EST).
    schedule = schedule_create(
        actor=in_a.admin,
        kind="recon.run",
        daily_at="01:30",
        time_zone="America/New_York",
        now=datetime(2026, 10, 31, 12, 0, tzinfo=UTC),
    )
    assert schedule.next_run_at == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)

    _tick(datetime(2026, 11, 1, 5, 30, tzinfo=UTC), in_a.tenant)
    _tick(datetime(2026, 11, 1, 6, 30, tzinfo=UTC), in_a.tenant)  # 01:30 on the wall clock again

    assert len(_runs()) == 1
    schedule.refresh_from_db()
    assert schedule.next_run_at == datetime(2026, 11, 2, 6, 30, tzinfo=UTC)  # 01:30 EST


def test_daily_time_in_the_hour_clocks_skip_runs_after_the_gap(in_a):
    # Berlin springs forward on 2026-03-29 from 02:00 to 03:00: 02:30 does not exist that day.
    schedule = schedule_create(
        actor=in_a.admin,
        kind="sync",
        daily_at="02:30",
        time_zone="Europe/Berlin",
        now=datetime(2026, 3, 28, 12, 0, tzinfo=UTC),
    )
    assert schedule.next_run_at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert schedule.due_after(schedule.next_run_at) == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert schedule.daily_at == time(2, 30)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"kind": "backup", "every_hours": 1}, "kind", "'backup' is not a kind: use one of recon.run, sync."),
        ({"kind": "sync"}, "every_hours", "give every_hours (1 to 168) or daily_at (HH:MM, with time_zone)."),
        ({"kind": "sync", "every_hours": 2, "daily_at": "06:00"}, "daily_at", "not both"),
        ({"kind": "sync", "every_hours": 0}, "every_hours", "from 1 to 168"),
        ({"kind": "sync", "every_hours": 169}, "every_hours", "from 1 to 168"),
        ({"kind": "sync", "daily_at": "24:00", "time_zone": "UTC"}, "daily_at", "'24:00' is not a time of day"),
        ({"kind": "sync", "daily_at": "6pm", "time_zone": "UTC"}, "daily_at", "HH:MM"),
        ({"kind": "sync", "daily_at": "06:00"}, "time_zone", "time_zone is required with daily_at"),
        ({"kind": "sync", "daily_at": "06:00", "time_zone": "Mars/Olympus"}, "time_zone", "not a known IANA"),
        ({"kind": "sync", "daily_at": "06:00", "time_zone": "../../etc/passwd"}, "time_zone", "not a known IANA"),
        ({"kind": "sync", "every_hours": 2, "time_zone": "UTC"}, "time_zone", "goes with daily_at"),
        ({"kind": "sync", "every_hours": 2, "connection_ids": ["nope"]}, "connection_ids", "'nope' is not"),
    ],
    ids=[
        "kind",
        "no-when",
        "both-whens",
        "zero-hours",
        "over-a-week",
        "hour-24",
        "not-hh-mm",
        "no-zone",
        "unknown-zone",
        "path-as-zone",
        "zone-with-hours",
        "not-an-id",
    ],
)
def test_create_refuses_bad_input_naming_the_field(in_a, fields, field, says):
    with pytest.raises(ServiceError) as refused:
        schedule_create(actor=in_a.admin, **fields)

    assert refused.value.field == field
    assert says in str(refused.value)
    assert not Schedule.objects.exists()


def test_create_refuses_another_tenants_or_a_disabled_connection(in_a, tenant_b, in_tenant):
    with in_tenant(tenant_b.tenant):
        theirs = ConnectionFactory(name="Stripe B")
    with in_tenant(in_a.tenant):
        paused = ConnectionFactory(name="Stripe paused", enabled=False)

        with pytest.raises(ServiceError) as not_here:
            schedule_create(actor=in_a.admin, kind="sync", every_hours=1, connection_ids=[str(theirs.pk)])
        with pytest.raises(ServiceError) as disabled:
            schedule_create(actor=in_a.admin, kind="sync", every_hours=1, connection_ids=[str(paused.pk)])

    assert (not_here.value.field, not_here.value.code) == ("connection_ids", "not_found")
    assert str(not_here.value) == f"No Stripe or Shopify connection {theirs.pk} in this tenant."
    assert str(disabled.value) == f"Stripe paused ({paused.pk}) is disabled; enable it first."


# --------------------------------------------------------------------------- who may start what a schedule starts


def _admin_without(world, app_label: str, codename: str):
    """The admin, whose role still creates schedules but no longer allows ``app_label.codename``
    (a narrowed role: the default roles that create schedules may start both kinds). A fresh copy
    of the user: the shared one keeps the permissions it read before, for the tests after this."""
    from django.contrib.auth.models import Group, Permission

    from tenants.models import User

    Group.objects.get(name="admin").permissions.remove(
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
    )
    return User.objects.get(pk=world.admin.pk)


@pytest.mark.parametrize(
    ("kind", "taken", "says"),
    [
        (
            "sync",
            ("connections", "sync_connection"),
            "Your role in this tenant does not allow starting a sync (needs connections.sync_connection), "
            "which this schedule would start.",
        ),
        (
            "recon.run",
            ("recon", "run_recon"),
            "Your role in this tenant does not allow starting a reconciliation run (needs recon.run_recon), "
            "which this schedule would start.",
        ),
    ],
)
def test_create_refuses_a_role_that_may_not_start_what_the_schedule_starts(in_a, kind, taken, says):
    ConnectionFactory(name="Stripe EU")
    narrowed = _admin_without(in_a, *taken)

    with pytest.raises(ServiceError) as refused:
        schedule_create(actor=narrowed, kind=kind, every_hours=1, now=T0)

    assert (refused.value.code, refused.value.field, str(refused.value)) == ("forbidden", "kind", says)
    assert not Schedule.objects.exists()
    assert not AuditEvent.objects.filter(action="schedule.created").exists()


@pytest.mark.parametrize("role", ["accountant", "viewer"])
def test_create_refuses_a_role_that_may_not_create_schedules_whatever_it_may_start(in_a, role):
    """The accountant may start reconciliation runs but not create schedules: the service says so
    itself, not only the page, the API and the MCP tool in front of it."""
    ConnectionFactory(name="Stripe EU")

    with pytest.raises(ServiceError) as refused:
        schedule_create(actor=in_a.user(role), kind="recon.run", every_hours=1, now=T0)

    assert (refused.value.code, refused.value.field) == ("forbidden", None)
    assert str(refused.value) == (
        "Your role in this tenant does not allow creating schedules (needs mcp_bridge.add_schedule)."
    )
    assert not Schedule.objects.exists()
    assert not AuditEvent.objects.filter(action="schedule.created").exists()


def test_the_platform_itself_creates_a_schedule_without_a_person(in_a):
    ConnectionFactory(name="Stripe EU")

    schedule = schedule_create(actor=None, kind="sync", every_hours=2, now=T0)

    assert (schedule.next_run_at, schedule.created_by_email) == (T0 + timedelta(hours=2), "")
    assert AuditEvent.objects.filter(action="schedule.created", target_id=str(schedule.pk)).count() == 1


def test_run_now_refuses_a_role_that_may_not_start_what_the_schedule_starts_and_keeps_nothing(in_a):
    ConnectionFactory(name="Stripe EU")
    schedule = schedule_create(actor=in_a.admin, kind="sync", every_hours=1, now=T0)

    with pytest.raises(ServiceError) as refused:
        schedule_run_now(schedule=schedule, actor=in_a.accountant)

    assert (refused.value.code, refused.value.field) == ("forbidden", "schedule")
    assert str(refused.value) == (
        "Your role in this tenant does not allow starting a sync (needs connections.sync_connection), "
        "which this schedule would start."
    )
    schedule.refresh_from_db()
    assert (schedule.last_run_at, schedule.last_outcome, schedule.last_error) == (None, "", "")
    assert not SyncJob.objects.exists()
    assert not AuditEvent.objects.filter(action="schedule.ran").exists()


# --------------------------------------------------------------------------- two workers


def test_a_schedule_another_worker_holds_is_skipped_not_run_twice(committed_tenant):
    """Two ticks at once: the one that finds the row locked skips it (SKIP LOCKED) instead of
    waiting and running it again once the first commits."""
    world = committed_tenant("sched-locks")
    with tenant_context(world.tenant):
        ConnectionFactory(name="Stripe EU")
        schedule = schedule_create(actor=world.owner, kind="recon.run", every_hours=1, now=T0)
    locked, release, done = threading.Event(), threading.Event(), threading.Event()

    def other_worker() -> None:  # holds the row as a tick mid-run does, then runs it itself
        try:
            with tenant_context(world.tenant), transaction.atomic():
                Schedule.objects.select_for_update().get(pk=schedule.pk)
                locked.set()
                release.wait(30)
            with tenant_context(world.tenant):
                from mcp_bridge.services import schedules_run_due

                schedules_run_due(now=T0 + timedelta(hours=1))
        finally:
            db.close()
            done.set()

    thread = threading.Thread(target=other_worker)
    thread.start()
    assert locked.wait(30)
    tenant_schedules_run(now=T0 + timedelta(hours=1))  # while the other holds it
    with tenant_context(world.tenant):
        assert ReconRun.objects.filter(trigger="schedule").count() == 0
    release.set()
    assert done.wait(30)
    thread.join()
    tenant_schedules_run(now=T0 + timedelta(hours=1))  # after the other ran it

    with tenant_context(world.tenant):
        assert ReconRun.objects.filter(trigger="schedule").count() == 1
        assert Schedule.objects.get(pk=schedule.pk).next_run_at == T0 + timedelta(hours=2)


# --------------------------------------------------------------------------- roles


@pytest.mark.parametrize(
    ("role", "codenames"),
    [
        ("owner", {"add_schedule", "change_schedule", "delete_schedule", "view_schedule"}),
        ("admin", {"add_schedule", "change_schedule", "delete_schedule", "view_schedule"}),
        ("accountant", {"view_schedule"}),
        ("viewer", set()),
    ],
)
def test_roles_hold_the_schedule_permissions_from_the_first_migrate(db, role, codenames):
    """mcp_bridge is the last installed app: its permissions must reach the roles on the migrate
    that creates them (the test database is migrated once, from nothing)."""
    from django.contrib.auth.models import Group

    group = Group.objects.get(name=role)

    assert set(group.permissions.filter(content_type__app_label="mcp_bridge").values_list("codename", flat=True)) == (
        codenames
    )


# --------------------------------------------------------------------------- the platform's tick


def test_the_minute_tick_follows_the_setting(settings, db):
    from django_q.models import Schedule as QSchedule

    from mcp_bridge.schedule import SCHEDULE_FUNC, SCHEDULE_NAME, ensure_schedule

    settings.TENANT_SCHEDULES = True
    ensure_schedule()
    ensure_schedule()  # idempotent
    tick = QSchedule.objects.get(name=SCHEDULE_NAME)
    assert (tick.func, tick.schedule_type, tick.minutes, tick.repeats) == (SCHEDULE_FUNC, QSchedule.MINUTES, 1, -1)

    settings.TENANT_SCHEDULES = False
    ensure_schedule()
    assert not QSchedule.objects.filter(name=SCHEDULE_NAME).exists()
