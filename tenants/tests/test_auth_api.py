"""The auth API: register, login (throttled), refresh rotation, switch tenant, tenant binding."""

from __future__ import annotations

import pytest
from django.db import connection

from audit.models import AuditEvent
from conftest import PASSWORD
from ecomops.tenancy import tenant_context
from tenants.models import Membership, Role, Tenant


def _events(tenant: Tenant, action: str) -> list[AuditEvent]:
    with tenant_context(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("created_at"))


def test_register_creates_user_trial_tenant_and_owner(api, db):
    response = api.post(
        "/api/v1/auth/register/",
        {"email": "New.Owner@Example.com", "password": PASSWORD, "tenant_name": "Gamma Goods"},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["access"]
    assert body["refresh"]
    tenant = Tenant.objects.get(slug="gamma-goods")
    assert tenant.plan_id == "trial"
    membership = Membership.objects.get(tenant=tenant)
    assert (membership.user.email, membership.role) == ("new.owner@example.com", Role.OWNER)
    current = api.get("/api/v1/tenants/current/", HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert current.json() == {
        "id": str(tenant.pk),
        "slug": "gamma-goods",
        "name": "Gamma Goods",
        "plan": "trial",
        "recon_amount_tolerance_minor": 0,
        "recon_freshness_hours": 24,
        "recon_unpaid_grace_days": 7,
    }
    [event] = _events(tenant, "auth.register")
    assert event.actor_email == "new.owner@example.com"


def test_two_names_that_would_share_a_schema_get_two_tenants(api, db):
    first = api.post(
        "/api/v1/auth/register/",
        {"email": "one@delta.example.com", "password": PASSWORD, "tenant_name": "Delta Co"},
        format="json",
    )
    second = api.post(
        "/api/v1/auth/register/",
        {"email": "two@delta.example.com", "password": PASSWORD, "tenant_name": "delta_co"},
        format="json",
    )

    assert (first.status_code, second.status_code) == (201, 201), second.content
    schemas = sorted(Tenant.objects.filter(slug__startswith="delta-co").values_list("slug", "schema_name"))
    assert schemas == [("delta-co", "t_delta_co"), ("delta-co-2", "t_delta_co_2")]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "owner@acme.example.com", "password": PASSWORD, "tenant_name": "Dup"}, "email"),
        ({"email": "short@example.com", "password": "abc", "tenant_name": "Weak"}, "password"),
        ({"email": "not-an-email", "password": PASSWORD, "tenant_name": "Bad"}, "email"),
        ({"email": "x@example.com", "password": PASSWORD}, "tenant_name"),
        ({"email": "p" * 250 + "@example.com", "password": PASSWORD, "tenant_name": "Long"}, "email"),
    ],
)
def test_register_refuses_bad_input_with_the_field_named(api, tenant_a, body, field):
    tenants_before = Tenant.objects.count()

    response = api.post("/api/v1/auth/register/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert Tenant.objects.count() == tenants_before


def test_login_returns_tokens_bound_to_last_used_tenant(api, tenant_a):
    response = api.post("/api/v1/auth/login/", {"email": "owner@acme.example.com", "password": PASSWORD}, format="json")

    assert response.status_code == 200
    access = response.json()["access"]
    current = api.get("/api/v1/tenants/current/", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert current.json()["slug"] == "acme"
    assert [e.outcome for e in _events(tenant_a.tenant, "auth.login")] == ["success"]


def test_login_with_wrong_password_is_401_and_audited(api, tenant_a):
    response = api.post("/api/v1/auth/login/", {"email": "owner@acme.example.com", "password": "nope"}, format="json")

    assert response.status_code == 401
    assert response.json()["detail"] == "Email or password is incorrect."
    [event] = _events(tenant_a.tenant, "auth.login")
    assert (event.outcome, event.detail["reason"]) == ("failure", "bad_credentials")


def test_login_is_throttled_after_repeated_failures(api, tenant_a):
    statuses = [
        api.post(
            "/api/v1/auth/login/", {"email": "viewer@acme.example.com", "password": "wrong"}, format="json"
        ).status_code
        for _ in range(6)
    ]
    # even the right password is refused while locked out
    locked = api.post("/api/v1/auth/login/", {"email": "viewer@acme.example.com", "password": PASSWORD}, format="json")

    assert statuses[:4] == [401] * 4
    assert statuses[-1] == 429
    assert locked.status_code == 429
    assert "Too many failed login attempts" in locked.json()["detail"]


def test_refresh_rotates_and_refuses_a_used_refresh_token(api, tenant_a):
    login = api.post("/api/v1/auth/login/", {"email": "admin@acme.example.com", "password": PASSWORD}, format="json")
    first_refresh = login.json()["refresh"]

    rotated = api.post("/api/v1/auth/refresh/", {"refresh": first_refresh}, format="json")
    reused = api.post("/api/v1/auth/refresh/", {"refresh": first_refresh}, format="json")

    assert rotated.status_code == 200
    assert rotated.json()["refresh"] != first_refresh
    new_access = rotated.json()["access"]
    assert api.get("/api/v1/tenants/current/", HTTP_AUTHORIZATION=f"Bearer {new_access}").json()["slug"] == "acme"
    assert reused.status_code == 401
    assert api.post("/api/v1/auth/refresh/", {"refresh": rotated.json()["refresh"]}, format="json").status_code == 200


def test_switch_tenant_for_a_member_gives_tokens_for_the_other_tenant(api_as, worlds, tenant_a, tenant_b):
    both = worlds["both"]
    client = api_as(both, tenant_a.tenant)

    response = client.post("/api/v1/auth/switch-tenant/", {"tenant": "beta"}, format="json")

    assert response.status_code == 200
    access = response.json()["access"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert client.get("/api/v1/tenants/current/").json()["slug"] == "beta"
    assert [e.actor_email for e in _events(tenant_b.tenant, "auth.switch_tenant")] == ["both@example.com"]


def test_switch_tenant_by_id_works_too(api_as, worlds, tenant_a, tenant_b):
    client = api_as(worlds["both"], tenant_a.tenant)
    response = client.post("/api/v1/auth/switch-tenant/", {"tenant": str(tenant_b.tenant.pk)}, format="json")
    assert response.status_code == 200


@pytest.mark.parametrize("target", ["beta", "no-such-tenant"])
def test_switch_tenant_without_membership_is_403(api_as, tenant_a, tenant_b, target):
    response = api_as(tenant_a.owner, tenant_a.tenant).post(
        "/api/v1/auth/switch-tenant/", {"tenant": target}, format="json"
    )
    assert response.status_code == 403


@pytest.mark.parametrize("how", ["header-slug", "header-id", "domain"])
def test_a_token_is_refused_on_another_tenant(api_as, tenant_a, tenant_b, how, settings):
    from tenants.models import Domain

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".ecomops.test"]

    client = api_as(tenant_a.owner, tenant_a.tenant)
    if how == "header-slug":
        response = client.get("/api/v1/tenants/current/", HTTP_X_TENANT="beta")
    elif how == "header-id":
        response = client.get("/api/v1/tenants/current/", HTTP_X_TENANT=str(tenant_b.tenant.pk))
    else:
        Domain.objects.create(domain="beta.ecomops.test", tenant=tenant_b.tenant)
        response = client.get("/api/v1/tenants/current/", HTTP_HOST="beta.ecomops.test")

    assert response.status_code == 401
    assert "not valid for this tenant" in response.json()["detail"]


def test_a_token_names_its_own_tenant_explicitly(api_as, tenant_a):
    response = api_as(tenant_a.owner, tenant_a.tenant).get("/api/v1/tenants/current/", HTTP_X_TENANT="acme")
    assert response.status_code == 200


def test_unknown_tenant_and_foreign_tenant_look_the_same(api_as, tenant_a, tenant_b):
    client = api_as(tenant_a.owner, tenant_a.tenant)
    foreign = client.get("/api/v1/tenants/current/", HTTP_X_TENANT="beta")
    unknown = client.get("/api/v1/tenants/current/", HTTP_X_TENANT="nope")
    assert (foreign.status_code, foreign.json()) == (unknown.status_code, unknown.json())


@pytest.mark.parametrize("reference", ["acme\x00", "\x00", "acme beta", "x" * 10_000])
def test_a_tenant_named_by_no_slug_nor_id_is_unknown_not_a_failure(api_as, tenant_a, reference):
    client = api_as(tenant_a.owner, tenant_a.tenant)

    named = client.get("/api/v1/tenants/current/", HTTP_X_TENANT=reference)
    unknown = client.get("/api/v1/tenants/current/", HTTP_X_TENANT="nope")

    assert (
        (named.status_code, named.json())
        == (unknown.status_code, unknown.json())
        == (
            401,
            {"detail": "This token is not valid for this tenant."},
        )
    )


def test_a_removed_member_token_stops_working(api_as, tenant_a):
    client = api_as(tenant_a.viewer, tenant_a.tenant)
    Membership.objects.filter(user=tenant_a.viewer, tenant=tenant_a.tenant).update(is_active=False)
    assert client.get("/api/v1/tenants/current/").status_code == 401


def test_requests_leave_the_connection_in_public(api_as, tenant_a):
    api_as(tenant_a.owner, tenant_a.tenant).get("/api/v1/tenants/current/")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema(), current_setting('app.current_tenant_id', true)")
        assert cursor.fetchone() == ("public", "")


def test_a_sign_up_that_fails_after_its_tenant_was_made_leaves_no_tenant(db, monkeypatch):
    """The same email registered twice at the same moment: both pass the "already exists" check,
    the second one's user insert hits the unique constraint after its tenant schema exists."""
    from django.db import connection as db_connection

    from tenants import services
    from tenants.models import User

    tenant_create = services.tenant_create

    def tenant_create_while_the_other_commits(**kwargs):
        tenant = tenant_create(**kwargs)
        User.objects.create(email="racer@example.com")  # the other sign-up, done meanwhile
        return tenant

    monkeypatch.setattr(services, "tenant_create", tenant_create_while_the_other_commits)
    tenants_before = Tenant.objects.count()

    with pytest.raises(services.ServiceError) as refused:
        services.user_register(email="racer@example.com", password=PASSWORD, tenant_name="Racer")

    assert (refused.value.field, refused.value.code) == ("email", "exists")
    assert Tenant.objects.count() == tenants_before
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 't_racer%%'")
        assert cursor.fetchone()[0] == 0
