"""The console's schedules: each tenant sees its own, turns them on and off, runs one now."""

from __future__ import annotations

from datetime import UTC, datetime

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
