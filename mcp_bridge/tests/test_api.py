"""The schedules API: listed per tenant and filtered, created with refusals naming the field,
turned on and off, and run now, each by the roles allowed to; another tenant's schedule is a 404.

Answers are checked against what ``/api/v1/schema/`` documents for them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from audit.models import AuditEvent
from connections.models import Connection
from connections.tests.factories import ConnectionFactory
from mcp_bridge.models import Schedule
from mcp_bridge.services import schedule_create
from recon.models import ReconRun
from recon.tests import test_api_schema

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
LIST = "/api/v1/schedules/"
ONE = "/api/v1/schedules/{id}/"

documented = test_api_schema.documented  # checks an answer against what the schema says of it


@pytest.fixture
def schedules(tenant_a, tenant_b, in_tenant):
    """In tenant A a recon schedule every 6 hours and a disabled daily sync; in tenant B one of its own."""
    with in_tenant(tenant_b.tenant):
        ConnectionFactory(name="Stripe B")
        theirs = schedule_create(actor=tenant_b.owner, kind="recon.run", every_hours=5, now=T0)
    with in_tenant(tenant_a.tenant):
        stripe = ConnectionFactory(name="Stripe A")
        recon = schedule_create(actor=tenant_a.owner, kind="recon.run", every_hours=6, now=T0)
        sync = schedule_create(actor=tenant_a.owner, kind="sync", daily_at="06:00", time_zone="Europe/Berlin", now=T0)
        Schedule.objects.filter(pk=sync.pk).update(enabled=False)
    return {"recon": recon, "sync": sync, "theirs": theirs, "stripe": stripe}


def test_list_shows_the_tenants_own_schedules_in_words_and_filters_them(tenant_a, api_as, schedules, documented):
    owner = api_as(tenant_a.owner, tenant_a.tenant)

    everything = owner.get(LIST)
    disabled = owner.get(LIST, {"enabled": "false"})
    recon = owner.get(LIST, {"kind": "recon.run"})

    documented("get", LIST, everything)
    assert everything.status_code == 200
    body = everything.json()
    assert body["count"] == 2
    assert [(s["kind"], s["when"], s["enabled"]) for s in body["results"]] == [
        ("recon.run", "every 6 hours", True),  # due at 14:00 UTC, next due first
        ("sync", "daily at 06:00 Europe/Berlin", False),  # 04:00 UTC the next day
    ]
    assert (body["results"][1]["daily_at"], body["results"][1]["time_zone"]) == ("06:00", "Europe/Berlin")
    assert [s["id"] for s in disabled.json()["results"]] == [str(schedules["sync"].pk)]
    assert [s["id"] for s in recon.json()["results"]] == [str(schedules["recon"].pk)]


@pytest.mark.parametrize(
    ("query", "field"),
    [({"kind": "nightly"}, "kind"), ({"enabled": "maybe"}, "enabled"), ({"knd": "sync"}, "knd")],
)
def test_list_refuses_a_filter_it_cannot_apply_naming_it(tenant_a, api_as, schedules, documented, query, field):
    answer = api_as(tenant_a.owner, tenant_a.tenant).get(LIST, query)

    documented("get", LIST, answer)
    assert answer.status_code == 400
    assert field in answer.json()


def test_create_answers_the_schedule_and_its_next_run(tenant_a, api_as, in_tenant, documented):
    with in_tenant(tenant_a.tenant):
        stripe = ConnectionFactory(name="Stripe A")

    answer = api_as(tenant_a.admin, tenant_a.tenant).post(
        LIST, {"kind": "sync", "daily_at": "06:00", "time_zone": "Europe/Berlin", "connection_ids": [str(stripe.pk)]}
    )

    documented("post", LIST, answer)
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert (body["when"], body["connection_ids"], body["enabled"]) == (
        "daily at 06:00 Europe/Berlin",
        [str(stripe.pk)],
        True,
    )
    assert body["created_by_email"] == "admin@acme.example.com"
    with in_tenant(tenant_a.tenant):
        schedule = Schedule.objects.get(pk=body["id"])
        assert schedule.next_run_at.astimezone(UTC).strftime("%H:%M") in ("04:00", "05:00")  # 06:00 Berlin
        assert AuditEvent.objects.filter(action="schedule.created", target_id=str(schedule.pk)).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "nightly", "every_hours": 6}, "kind"),
        ({"kind": "recon.run"}, "every_hours"),
        ({"kind": "recon.run", "every_hours": 0}, "every_hours"),
        ({"kind": "recon.run", "every_hours": "6"}, "every_hours"),
        ({"kind": "recon.run", "daily_at": "25:00", "time_zone": "UTC"}, "daily_at"),
        ({"kind": "recon.run", "daily_at": "06:00", "time_zone": "Mars/Olympus"}, "time_zone"),
        ({"kind": "recon.run", "every_hours": 6, "time_zone": "UTC"}, "time_zone"),
        ({"kind": "recon.run", "every_hours": 6, "connection_ids": ["x"]}, "connection_ids"),
        ({"kind": "recon.run", "every_hours": 6, "evry_hours": 6}, "evry_hours"),
    ],
)
def test_create_refuses_bad_input_naming_the_field_and_creates_nothing(
    tenant_a, api_as, in_tenant, documented, body, field
):
    answer = api_as(tenant_a.owner, tenant_a.tenant).post(LIST, body)

    documented("post", LIST, answer)
    assert answer.status_code == 400
    assert field in answer.json(), answer.json()
    with in_tenant(tenant_a.tenant):
        assert not Schedule.objects.exists()


def test_create_over_another_tenants_connection_is_a_404_naming_it(
    tenant_a, tenant_b, api_as, schedules, in_tenant, documented
):
    with in_tenant(tenant_a.tenant):
        before = Schedule.objects.count()
    with in_tenant(tenant_b.tenant):
        theirs = str(Connection.objects.get(name="Stripe B").pk)
    answer = api_as(tenant_a.owner, tenant_a.tenant).post(
        LIST, {"kind": "recon.run", "every_hours": 6, "connection_ids": [theirs]}
    )

    documented("post", LIST, answer)
    assert answer.status_code == 404
    assert theirs in answer.json()["connection_ids"][0]
    assert "Stripe B" not in answer.json()["detail"]  # nothing of the other tenant's is told
    with in_tenant(tenant_a.tenant):
        assert Schedule.objects.count() == before


@pytest.mark.parametrize(
    ("role", "body", "status"),
    [
        ("accountant", {"kind": "recon.run", "every_hours": 6}, 403),  # may run recon, not add schedules
        ("viewer", {"kind": "recon.run", "every_hours": 6}, 403),
        ("admin", {"kind": "sync", "every_hours": 6}, 201),
    ],
)
def test_create_by_role(tenant_a, api_as, in_tenant, role, body, status):
    with in_tenant(tenant_a.tenant):
        ConnectionFactory(name="Stripe A")

    answer = api_as(tenant_a.user(role), tenant_a.tenant).post(LIST, body)

    assert answer.status_code == status, answer.json()


def test_create_of_what_the_role_may_not_start_is_a_403_and_creates_nothing(tenant_a, api_as, in_tenant, documented):
    from django.contrib.auth.models import Group, Permission

    with in_tenant(tenant_a.tenant):
        ConnectionFactory(name="Stripe A")
    Group.objects.get(name="admin").permissions.remove(  # still adds schedules, no longer syncs
        Permission.objects.get(content_type__app_label="connections", codename="sync_connection")
    )

    answer = api_as(tenant_a.admin, tenant_a.tenant).post(LIST, {"kind": "sync", "every_hours": 6})

    documented("post", LIST, answer)
    assert answer.status_code == 403
    assert answer.json() == {
        "detail": "Your role in this tenant does not allow starting a sync (needs connections.sync_connection), "
        "which this schedule would start.",
        "code": "forbidden",
    }
    with in_tenant(tenant_a.tenant):
        assert not Schedule.objects.exists()


def test_a_viewer_can_not_list_schedules(tenant_a, api_as, schedules):
    assert api_as(tenant_a.viewer, tenant_a.tenant).get(LIST).status_code == 403


def test_another_tenants_schedule_is_a_404_everywhere(tenant_a, tenant_b, api_as, schedules, in_tenant, documented):
    owner = api_as(tenant_a.owner, tenant_a.tenant)
    theirs = ONE.format(id=schedules["theirs"].pk)

    answers = {
        "detail": owner.get(theirs),
        "enable": owner.post(f"{theirs}enable/"),
        "disable": owner.post(f"{theirs}disable/"),
        "run": owner.post(f"{theirs}run/"),
    }

    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(answers, 404)
    documented("get", "/api/v1/schedules/{id}/", answers["detail"])
    documented("post", "/api/v1/schedules/{id}/run/", answers["run"])
    with in_tenant(tenant_b.tenant):
        theirs_now = Schedule.objects.get(pk=schedules["theirs"].pk)
        assert (theirs_now.enabled, theirs_now.last_run_at) == (True, None)


def test_an_admin_disables_and_enables_a_schedule_an_accountant_may_not(tenant_a, api_as, schedules, documented):
    path = ONE.format(id=schedules["recon"].pk)
    admin = api_as(tenant_a.admin, tenant_a.tenant)

    refused = api_as(tenant_a.accountant, tenant_a.tenant).post(f"{path}disable/")
    disabled = admin.post(f"{path}disable/")
    enabled = admin.post(f"{path}enable/")

    documented("post", "/api/v1/schedules/{id}/disable/", refused)
    documented("post", "/api/v1/schedules/{id}/disable/", disabled)
    documented("post", "/api/v1/schedules/{id}/enable/", enabled)
    assert refused.status_code == 403
    assert (disabled.status_code, disabled.json()["enabled"]) == (200, False)
    assert (enabled.status_code, enabled.json()["enabled"]) == (200, True)
    assert admin.get(path).json()["enabled"] is True


def test_an_accountant_runs_a_recon_schedule_now_but_not_a_sync(tenant_a, api_as, schedules, in_tenant, documented):
    accountant = api_as(tenant_a.accountant, tenant_a.tenant)
    recon, sync = ONE.format(id=schedules["recon"].pk), ONE.format(id=schedules["sync"].pk)

    ran = accountant.post(f"{recon}run/")
    refused = accountant.post(f"{sync}run/")  # syncing needs connections.sync_connection

    documented("post", "/api/v1/schedules/{id}/run/", ran)
    documented("post", "/api/v1/schedules/{id}/run/", refused)
    assert ran.status_code == 202, ran.json()
    assert refused.status_code == 403
    assert refused.json() == {
        "detail": "Your role in this tenant does not allow starting a sync (needs connections.sync_connection), "
        "which this schedule would start.",
        "code": "forbidden",
    }
    body = ran.json()
    assert body["last_outcome"] == "queued"
    assert body["next_run_at"] == accountant.get(recon).json()["next_run_at"]  # the next time stays
    with in_tenant(tenant_a.tenant):
        run = ReconRun.objects.get(pk=body["last_recon_run_id"])
        assert (run.trigger, run.requested_by_email) == ("schedule", "accountant@acme.example.com")


def test_run_now_that_queues_nothing_is_a_409_saying_why(tenant_a, api_as, schedules, in_tenant, documented):
    with in_tenant(tenant_a.tenant):
        stripe = ConnectionFactory(name="Stripe named")
        schedule = schedule_create(actor=tenant_a.owner, kind="sync", every_hours=1, connection_ids=[str(stripe.pk)])
        stripe.enabled = False
        stripe.save(update_fields=["enabled"])
    path = ONE.format(id=schedule.pk)

    answer = api_as(tenant_a.owner, tenant_a.tenant).post(f"{path}run/")

    documented("post", "/api/v1/schedules/{id}/run/", answer)
    assert answer.status_code == 409
    assert answer.json()["code"] == "schedule_failed"
    assert "Stripe named" in answer.json()["detail"]
    assert "is disabled" in answer.json()["detail"]


@pytest.mark.parametrize("action", ["run", "disable", "enable"])
def test_an_action_that_takes_no_body_refuses_one_and_changes_nothing(tenant_a, api_as, schedules, in_tenant, action):
    path = ONE.format(id=schedules["recon"].pk)
    with in_tenant(tenant_a.tenant):
        before = Schedule.objects.filter(pk=schedules["recon"].pk).values().get()

    # "run it for this connection only" would otherwise run it over every connection, unsaid
    answer = api_as(tenant_a.owner, tenant_a.tenant).post(
        f"{path}{action}/", {"connection_ids": [str(schedules["stripe"].pk)]}, format="json"
    )

    assert answer.status_code == 400, answer.content
    assert answer.json() == {"connection_ids": ["Unknown field."]}
    with in_tenant(tenant_a.tenant):
        assert Schedule.objects.filter(pk=schedules["recon"].pk).values().get() == before
        assert not ReconRun.objects.exists()
