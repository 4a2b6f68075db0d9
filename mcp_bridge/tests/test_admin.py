"""The console's schedules: each tenant sees its own, turns them on and off, runs one now."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from audit.models import AuditEvent
from conftest import signed_in
from connections.tests.factories import ConnectionFactory
from mcp_bridge.models import Schedule
from mcp_bridge.services import schedule_create
from recon.models import ReconRun

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
CHANGELIST = "/admin/mcp_bridge/schedule/"


def _schedules(tenant_a, tenant_b, in_tenant) -> tuple[Schedule, Schedule]:
    with in_tenant(tenant_b.tenant):
        ConnectionFactory(name="Stripe B")
        theirs = schedule_create(actor=tenant_b.owner, kind="recon.run", every_hours=5, now=T0)
    with in_tenant(tenant_a.tenant):
        ConnectionFactory(name="Stripe A")
        ours = schedule_create(actor=tenant_a.owner, kind="recon.run", every_hours=7, now=T0)
    return ours, theirs


def test_the_console_lists_only_the_tenants_own_schedules(tenant_a, tenant_b, in_tenant):
    _schedules(tenant_a, tenant_b, in_tenant)

    page = signed_in("accountant@acme.example.com").get(CHANGELIST)

    assert page.status_code == 200
    text = page.content.decode()
    assert "every 7 hours" in text
    assert "owner@acme.example.com" in text
    assert "every 5 hours" not in text
    assert "owner@beta.example.com" not in text


def test_an_admin_disables_a_schedule_and_an_accountant_runs_one_now(tenant_a, tenant_b, in_tenant):
    ours, _ = _schedules(tenant_a, tenant_b, in_tenant)

    disabled = signed_in("admin@acme.example.com").post(
        CHANGELIST, {"action": "disable_selected", "_selected_action": [str(ours.pk)]}
    )
    ran = signed_in("accountant@acme.example.com").post(
        CHANGELIST, {"action": "run_selected_now", "_selected_action": [str(ours.pk)]}
    )

    assert (disabled.status_code, ran.status_code) == (302, 302)
    with in_tenant(tenant_a.tenant):
        ours.refresh_from_db()
        assert ours.enabled is False
        run = ReconRun.objects.get(pk=ours.last_recon_run_id)
        assert (run.trigger, run.requested_by_email) == ("schedule", "accountant@acme.example.com")
        assert ours.next_run_at == datetime(2026, 6, 1, 15, 0, tzinfo=UTC)


def test_an_accountant_cannot_disable_and_a_viewer_cannot_see_schedules(tenant_a, tenant_b, in_tenant):
    ours, _ = _schedules(tenant_a, tenant_b, in_tenant)

    attempt = signed_in("accountant@acme.example.com").post(
        CHANGELIST, {"action": "disable_selected", "_selected_action": [str(ours.pk)]}
    )

    assert signed_in("viewer@acme.example.com").get(CHANGELIST).status_code == 403
    assert attempt.status_code in (200, 302)  # the action is not offered: Django says so, nothing changes
    with in_tenant(tenant_a.tenant):
        assert Schedule.objects.get(pk=ours.pk).enabled is True


def test_running_now_says_per_schedule_which_the_role_may_not_start_and_runs_the_others(tenant_a, tenant_b, in_tenant):
    recon, _ = _schedules(tenant_a, tenant_b, in_tenant)
    with in_tenant(tenant_a.tenant):
        sync = schedule_create(actor=tenant_a.owner, kind="sync", every_hours=3, now=T0)

    answer = signed_in("accountant@acme.example.com").post(
        CHANGELIST, {"action": "run_selected_now", "_selected_action": [str(recon.pk), str(sync.pk)]}, follow=True
    )

    said = sorted((m.level_tag, m.message) for m in answer.context["messages"])  # in the order of their uuids
    with in_tenant(tenant_a.tenant):
        recon.refresh_from_db()
        sync.refresh_from_db()
    assert said == [
        (
            "error",
            "Sync, every 3 hours: Your role in this tenant does not allow starting a sync "
            "(needs connections.sync_connection), which this schedule would start.",
        ),
        ("info", f"Reconciliation run, every 7 hours: run {recon.last_recon_run_id} queued."),
    ]
    assert recon.last_outcome == "queued"
    assert (sync.last_run_at, sync.last_outcome) == (None, "")


# --------------------------------------------------------------------------- adding one

ADD = f"{CHANGELIST}add/"


def _admin_without(app_label: str, codename: str) -> None:
    """The admin role, still allowed to create schedules, no longer allowed ``app_label.codename``
    (a narrowed role: the default roles that create schedules may start both kinds)."""
    from django.contrib.auth.models import Group, Permission

    Group.objects.get(name="admin").permissions.remove(
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
    )


def test_an_admin_adds_a_daily_schedule_of_the_connections_ticked(tenant_a, tenant_b, in_tenant):
    with in_tenant(tenant_b.tenant):
        ConnectionFactory(name="Stripe B")
    with in_tenant(tenant_a.tenant):
        stripe = ConnectionFactory(name="Stripe EU")
        ConnectionFactory(name="Stripe paused", enabled=False)
    browser = signed_in("admin@acme.example.com")

    form = browser.get(ADD)
    added = browser.post(
        ADD,
        {"kind": "sync", "daily_at": "06:00", "time_zone": "Europe/Berlin", "connection_ids": [str(stripe.pk)]},
        follow=True,
    )

    offered = form.content.decode()
    assert form.status_code == 200
    assert "Stripe EU" in offered
    assert "Stripe paused" not in offered  # disabled: the service would refuse it
    assert "Stripe B" not in offered  # the other tenant's
    assert added.redirect_chain == [(CHANGELIST, 302)]
    assert [m.message for m in added.context["messages"]] == [
        "The schedule “Sync, daily at 06:00 Europe/Berlin” was added successfully."
    ]
    with in_tenant(tenant_a.tenant):
        schedule = Schedule.objects.get()
        event = AuditEvent.objects.get(action="schedule.created", target_id=str(schedule.pk))
    assert (schedule.kind, schedule.when, schedule.connection_ids, schedule.enabled) == (
        "sync",
        "daily at 06:00 Europe/Berlin",
        [str(stripe.pk)],
        True,
    )
    assert schedule.next_run_local.endswith("06:00 Europe/Berlin")
    assert schedule.next_run_at > schedule.created_at
    assert (schedule.created_by_email, event.actor_email) == ("admin@acme.example.com", "admin@acme.example.com")
    assert event.detail["when"] == "daily at 06:00 Europe/Berlin"


@pytest.mark.parametrize(
    ("typed", "field", "says"),
    [
        (
            {"daily_at": "06:00", "time_zone": "Mars/Olympus"},
            "time_zone",
            "'Mars/Olympus' is not a known IANA time zone (e.g. Europe/Berlin, America/New_York, UTC).",
        ),
        ({"every_hours": "six"}, "every_hours", "must be a whole number of hours from 1 to 168."),
        ({"every_hours": "2", "daily_at": "06:00"}, "daily_at", "give every_hours or daily_at, not both."),
    ],
)
def test_a_refused_add_shows_the_services_message_on_its_field_and_creates_nothing(
    tenant_a, in_tenant, typed, field, says
):
    with in_tenant(tenant_a.tenant):
        ConnectionFactory(name="Stripe EU")

    answer = signed_in("admin@acme.example.com").post(ADD, {"kind": "recon.run", **typed})

    assert answer.status_code == 200  # the form again, as the admin shows a refused one
    form = answer.context["adminform"].form
    assert form.errors == {field: [says]}
    text = answer.content.decode()
    assert says.replace("'", "&#x27;") in text
    for value in typed.values():
        assert f'value="{value}"' in text  # what was typed is kept
    with in_tenant(tenant_a.tenant):
        assert not Schedule.objects.exists()
        assert not AuditEvent.objects.filter(action="schedule.created").exists()


def test_a_role_that_may_not_start_syncs_is_refused_a_sync_schedule_on_the_kind(tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        ConnectionFactory(name="Stripe EU")
    _admin_without("connections", "sync_connection")  # still adds schedules and runs reconciliations

    answer = signed_in("admin@acme.example.com").post(ADD, {"kind": "sync", "every_hours": "2"})

    assert answer.status_code == 200
    assert answer.context["adminform"].form.errors == {
        "kind": [
            "Your role in this tenant does not allow starting a sync (needs connections.sync_connection), "
            "which this schedule would start."
        ]
    }
    with in_tenant(tenant_a.tenant):
        assert not Schedule.objects.exists()


def test_adding_needs_add_schedule_and_leave_to_start_some_kind(tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        ConnectionFactory(name="Stripe EU")
    accountant = signed_in("accountant@acme.example.com")  # starts reconciliations, adds no schedules

    listed = accountant.get(CHANGELIST).content.decode()
    refused = [accountant.get(ADD).status_code, accountant.post(ADD, {"kind": "recon.run", "every_hours": "2"})]
    _admin_without("connections", "sync_connection")
    _admin_without("recon", "run_recon")
    admin_starting_nothing = signed_in("admin@acme.example.com").post(ADD, {"kind": "recon.run", "every_hours": "2"})

    assert ADD not in listed  # no "Add schedule" button
    assert [refused[0], refused[1].status_code, admin_starting_nothing.status_code] == [403, 403, 403]
    assert ADD in signed_in("owner@acme.example.com").get(CHANGELIST).content.decode()
    with in_tenant(tenant_a.tenant):
        assert not Schedule.objects.exists()


def test_a_schedule_added_is_still_not_edited_here(tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        ConnectionFactory(name="Stripe EU")
        schedule = schedule_create(actor=tenant_a.owner, kind="recon.run", every_hours=7, now=T0)

    owner = signed_in("owner@acme.example.com")
    page = owner.get(f"{CHANGELIST}{schedule.pk}/change/")
    attempt = owner.post(f"{CHANGELIST}{schedule.pk}/change/", {"kind": "sync", "every_hours": "1"})

    assert page.status_code == 200
    assert 'name="every_hours"' not in page.content.decode()  # shown, not offered for typing
    assert attempt.status_code == 403
    with in_tenant(tenant_a.tenant):
        schedule.refresh_from_db()
    assert (schedule.kind, schedule.every_hours) == ("recon.run", 7)
