"""The tenant's reconciliation settings through PATCH /api/v1/tenants/current/: read, change, refuse, audit."""

from __future__ import annotations

import json

import pytest

from audit.models import AuditEvent
from ecomops.tenancy import tenant_context
from tenants.models import Role, Tenant

URL = "/api/v1/tenants/current/"
SETTINGS = ["recon_amount_tolerance_minor", "recon_freshness_hours", "recon_unpaid_grace_days"]
DEFAULTS = {"recon_amount_tolerance_minor": 0, "recon_freshness_hours": 24, "recon_unpaid_grace_days": 7}
# As in test_roles.MATRIX: the roles that hold tenants.manage_settings (tenants/roles.py).
MAY_MANAGE_SETTINGS = {Role.OWNER}


def _settings(tenant: Tenant) -> dict[str, int]:
    return dict(Tenant.objects.filter(pk=tenant.pk).values(*SETTINGS).get())


def _update_events(tenant: Tenant) -> list[AuditEvent]:
    with tenant_context(tenant):
        return list(AuditEvent.objects.filter(action="tenant.updated").order_by("created_at"))


def test_get_returns_the_recon_settings(api_as, tenant_a):
    response = api_as(tenant_a.viewer, tenant_a.tenant).get(URL)

    assert response.status_code == 200
    assert response.json() == {
        "id": str(tenant_a.tenant.pk),
        "slug": "acme",
        "name": "Acme Ltd",
        "plan": "pro",
        **DEFAULTS,
    }


def test_owner_changes_all_three_settings_and_reads_them_back(api_as, tenant_a):
    client = api_as(tenant_a.owner, tenant_a.tenant)
    change = {"recon_amount_tolerance_minor": 50, "recon_freshness_hours": 48, "recon_unpaid_grace_days": 14}

    response = client.patch(URL, change, format="json")

    assert response.status_code == 200, response.content
    assert {k: response.json()[k] for k in SETTINGS} == change
    assert {k: client.get(URL).json()[k] for k in SETTINGS} == change
    assert _settings(tenant_a.tenant) == change


def test_a_partial_update_leaves_the_other_fields_alone(api_as, tenant_a):
    client = api_as(tenant_a.owner, tenant_a.tenant)

    response = client.patch(URL, {"recon_freshness_hours": 6}, format="json")

    assert response.status_code == 200, response.content
    body = client.get(URL).json()
    assert body["name"] == "Acme Ltd"
    assert {k: body[k] for k in SETTINGS} == {**DEFAULTS, "recon_freshness_hours": 6}


def test_name_and_a_setting_change_together(api_as, tenant_a):
    client = api_as(tenant_a.owner, tenant_a.tenant)

    response = client.patch(URL, {"name": "Acme Trading", "recon_unpaid_grace_days": 0}, format="json")

    assert response.status_code == 200, response.content
    body = client.get(URL).json()
    assert (body["name"], body["recon_unpaid_grace_days"]) == ("Acme Trading", 0)


def test_the_audit_event_records_old_and_new_of_each_changed_field(api_as, tenant_a):
    client = api_as(tenant_a.owner, tenant_a.tenant)

    client.patch(URL, {"recon_amount_tolerance_minor": 50, "recon_freshness_hours": 24}, format="json")

    [event] = _update_events(tenant_a.tenant)
    assert (event.actor_email, event.target_type, event.target_id) == (
        "owner@acme.example.com",
        "tenants.tenant",
        str(tenant_a.tenant.pk),
    )
    # freshness was sent at its current value: not a change, so not in the detail
    assert event.detail == {"recon_amount_tolerance_minor": [0, 50]}


def test_successive_changes_audit_the_value_each_replaced(api_as, tenant_a):
    client = api_as(tenant_a.owner, tenant_a.tenant)

    client.patch(URL, {"recon_unpaid_grace_days": 10}, format="json")
    client.patch(URL, {"recon_unpaid_grace_days": 3, "name": "Acme Two"}, format="json")

    assert [e.detail for e in _update_events(tenant_a.tenant)] == [
        {"recon_unpaid_grace_days": [7, 10]},
        {"recon_unpaid_grace_days": [10, 3], "name": ["Acme Ltd", "Acme Two"]},
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("recon_amount_tolerance_minor", "5"),
        ("recon_amount_tolerance_minor", 5.0),
        ("recon_amount_tolerance_minor", 5.5),
        ("recon_amount_tolerance_minor", True),
        ("recon_amount_tolerance_minor", None),
        ("recon_amount_tolerance_minor", -1),
        ("recon_amount_tolerance_minor", 1_000_001),
        ("recon_freshness_hours", 0),
        ("recon_freshness_hours", 721),
        ("recon_freshness_hours", "24"),
        ("recon_freshness_hours", False),
        ("recon_unpaid_grace_days", -1),
        ("recon_unpaid_grace_days", 366),
        ("recon_unpaid_grace_days", [7]),
        ("recon_unpaid_grace_days", None),
    ],
)
def test_an_invalid_setting_is_a_400_naming_it_and_nothing_is_saved(api_as, tenant_a, field, value):
    client = api_as(tenant_a.owner, tenant_a.tenant)
    # a valid change alongside the bad one must not be saved either
    other = "recon_freshness_hours" if field != "recon_freshness_hours" else "recon_unpaid_grace_days"

    response = client.patch(URL, {field: value, other: 12, "name": "Renamed"}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert list(body) == [field], body
    assert isinstance(body[field], list)
    assert body[field][0]
    assert _settings(tenant_a.tenant) == DEFAULTS
    assert client.get(URL).json()["name"] == "Acme Ltd"
    assert _update_events(tenant_a.tenant) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5", "A whole number is required (a JSON integer, not a string or decimal)."),
        (-1, "Ensure this value is greater than or equal to 0."),
        (1_000_001, "Ensure this value is less than or equal to 1000000."),
        (None, "This field may not be null."),
    ],
)
def test_the_400_says_what_is_wrong(api_as, tenant_a, value, message):
    response = api_as(tenant_a.owner, tenant_a.tenant).patch(
        URL, {"recon_amount_tolerance_minor": value}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"recon_amount_tolerance_minor": [message]}


def test_every_invalid_field_is_named_at_once(api_as, tenant_a):
    response = api_as(tenant_a.owner, tenant_a.tenant).patch(
        URL, {"recon_freshness_hours": 0, "recon_unpaid_grace_days": "7", "tolerance": 5}, format="json"
    )

    assert response.status_code == 400
    assert sorted(response.json()) == ["recon_freshness_hours", "recon_unpaid_grace_days", "tolerance"]


@pytest.mark.parametrize(
    "body",
    [
        {"recon_tolerance": 5},
        {"recon_amount_tolerance_minor": 5, "slug": "evil"},
        {"name": "Acme Ltd", "plan": "enterprise"},
    ],
)
def test_unknown_fields_are_a_400_naming_them_and_nothing_is_saved(api_as, tenant_a, body):
    client = api_as(tenant_a.owner, tenant_a.tenant)
    unknown = sorted(set(body) - {"name", *SETTINGS})

    response = client.patch(URL, body, format="json")

    assert response.status_code == 400
    assert response.json() == {name: ["Unknown field."] for name in unknown}
    assert _settings(tenant_a.tenant) == DEFAULTS
    assert (client.get(URL).json()["slug"], client.get(URL).json()["plan"]) == ("acme", "pro")


def test_an_empty_patch_is_a_400(api_as, tenant_a):
    response = api_as(tenant_a.owner, tenant_a.tenant).patch(URL, {}, format="json")

    assert response.status_code == 400
    assert "non_field_errors" in response.json()
    assert _update_events(tenant_a.tenant) == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"recon_freshness_hours": 0}, "recon_freshness_hours"),
        ({"recon_amount_tolerance_minor": "5"}, "recon_amount_tolerance_minor"),
        ({"recon_unpaid_grace_days": True}, "recon_unpaid_grace_days"),
        ({"name": "   "}, "name"),
    ],
)
def test_the_service_refuses_what_the_api_refuses_for_other_callers(tenant_a, changes, field):
    from tenants.services import ServiceError, tenant_update

    with pytest.raises(ServiceError) as refused:
        # a valid change rides along and must not be saved either
        tenant_update(actor=tenant_a.owner, tenant=tenant_a.tenant, **{"recon_freshness_hours": 12, **changes})

    assert refused.value.field == field
    assert _settings(tenant_a.tenant) == DEFAULTS


@pytest.mark.parametrize("role", Role.values)
def test_only_roles_with_manage_settings_may_change_the_settings(api_as, tenant_a, role):
    client = api_as(tenant_a.user(role), tenant_a.tenant)

    response = client.patch(URL, {"recon_amount_tolerance_minor": 25}, format="json")

    if role in MAY_MANAGE_SETTINGS:
        assert response.status_code == 200, response.content
        assert client.get(URL).json()["recon_amount_tolerance_minor"] == 25
    else:
        assert response.status_code == 403, (role, response.content)
        assert client.get(URL).json()["recon_amount_tolerance_minor"] == 0
        assert _settings(tenant_a.tenant) == DEFAULTS
        assert _update_events(tenant_a.tenant) == []


def test_a_patch_in_tenant_a_never_changes_tenant_b(api_as, tenant_a, tenant_b):
    before_b = _settings(tenant_b.tenant)

    response = api_as(tenant_a.owner, tenant_a.tenant).patch(
        URL, {"recon_amount_tolerance_minor": 99, "recon_unpaid_grace_days": 30}, format="json"
    )

    assert response.status_code == 200
    assert _settings(tenant_b.tenant) == before_b
    assert api_as(tenant_b.owner, tenant_b.tenant).get(URL).json()["recon_amount_tolerance_minor"] == 0
    assert _update_events(tenant_b.tenant) == []


def test_a_token_for_tenant_a_cannot_patch_tenant_b(api_as, tenant_a, tenant_b):
    response = api_as(tenant_a.owner, tenant_a.tenant).patch(
        URL, {"recon_amount_tolerance_minor": 99}, format="json", HTTP_X_TENANT="beta"
    )

    assert response.status_code == 401
    assert _settings(tenant_b.tenant) == DEFAULTS
    assert _settings(tenant_a.tenant) == DEFAULTS


@pytest.mark.parametrize(
    ("change", "next_mode"),
    [
        ({"recon_amount_tolerance_minor": 50}, "full"),
        ({"recon_unpaid_grace_days": 14}, "full"),
        # freshness only decides whether a run is stale, not what the rules find
        ({"recon_freshness_hours": 48}, "incremental"),
    ],
)
def test_a_rule_setting_change_makes_the_next_recon_run_full(api_as, tenant_a, change, next_mode):
    from recon.models import RunTrigger
    from recon.services import recon_run_execute, recon_run_start
    from recon.tests.factories import connection

    def run_now() -> str:
        with tenant_context(tenant_a.tenant):
            run = recon_run_execute(run=recon_run_start(trigger=RunTrigger.API, enqueue=False))
            assert run.status == "completed", run.error_message
            return run.mode

    with tenant_context(tenant_a.tenant):
        connection()  # no canonical rows needed: the mode depends on the settings fingerprint
    assert [run_now(), run_now()] == ["full", "incremental"]

    response = api_as(tenant_a.owner, tenant_a.tenant).patch(URL, change, format="json")
    assert response.status_code == 200, response.content

    assert run_now() == next_mode


def test_a_form_encoded_patch_is_refused_as_unsupported_and_changes_nothing(api_as, tenant_a):
    client = api_as(tenant_a.owner, tenant_a.tenant)

    response = client.patch(URL, "recon_freshness_hours=6", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415
    assert "application/x-www-form-urlencoded" in response.json()["detail"]
    assert _settings(tenant_a.tenant) == DEFAULTS
    assert _update_events(tenant_a.tenant) == []


def test_the_schema_offers_only_a_json_body_for_the_settings(api_as, tenant_a):
    client = api_as(tenant_a.viewer, tenant_a.tenant)
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = json.loads(response.content)

    body = schema["paths"]["/api/v1/tenants/current/"]["patch"]["requestBody"]["content"]
    assert list(body) == ["application/json"]
