"""The role matrix: for each role, which endpoints it may use and which it may not."""

from __future__ import annotations

import pytest

from tenants.models import Role

ALL = set(Role.values)

# (method, path template, body, roles allowed). Paths may use {viewer_id}.
MATRIX = [
    ("get", "/api/v1/tenants/current/", None, ALL),
    ("patch", "/api/v1/tenants/current/", {"name": "Acme Ltd"}, {"owner"}),
    ("get", "/api/v1/users/", None, ALL),
    ("get", "/api/v1/users/{viewer_id}/", None, ALL),
    ("post", "/api/v1/users/", {"email": "new.hire@acme.example.com", "role": "viewer"}, {"owner"}),
    ("patch", "/api/v1/users/{viewer_id}/", {"role": "viewer"}, {"owner"}),
    ("get", "/api/v1/audit/", None, {"owner", "admin", "accountant"}),
]


@pytest.mark.parametrize("role", Role.values)
@pytest.mark.parametrize(("method", "path", "body", "allowed"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
def test_role_matrix(api_as, tenant_a, role, method, path, body, allowed):
    client = api_as(tenant_a.user(role), tenant_a.tenant)
    url = path.format(viewer_id=tenant_a.viewer.pk)

    response = getattr(client, method)(url, body, format="json") if body else getattr(client, method)(url)

    if role in allowed:
        assert response.status_code in (200, 201), (role, method, url, response.status_code, response.content)
    else:
        assert response.status_code == 403, (role, method, url, response.status_code)


def test_role_change_is_audited_and_takes_effect(api_as, tenant_a, in_tenant):
    from audit.models import AuditEvent

    owner = api_as(tenant_a.owner, tenant_a.tenant)
    viewer_client = api_as(tenant_a.viewer, tenant_a.tenant)
    assert viewer_client.get("/api/v1/audit/").status_code == 403

    response = owner.patch(f"/api/v1/users/{tenant_a.viewer.pk}/", {"role": "accountant"}, format="json")

    assert response.status_code == 200
    assert response.json()["role"] == "accountant"
    assert viewer_client.get("/api/v1/audit/").status_code == 200
    with in_tenant(tenant_a.tenant):
        event = AuditEvent.objects.get(action="membership.role_changed")
    assert (event.actor_email, event.target_id, event.detail) == (
        "owner@acme.example.com",
        str(tenant_a.viewer.pk),
        {"from": "viewer", "to": "accountant"},
    )


def test_last_owner_cannot_be_demoted(api_as, tenant_a):
    response = api_as(tenant_a.owner, tenant_a.tenant).patch(
        f"/api/v1/users/{tenant_a.owner.pk}/", {"role": "viewer"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "last_owner"


def test_unknown_role_is_a_clear_400(api_as, tenant_a):
    response = api_as(tenant_a.owner, tenant_a.tenant).patch(
        f"/api/v1/users/{tenant_a.viewer.pk}/", {"role": "god"}, format="json"
    )
    assert response.status_code == 400
    assert "role" in response.json()


def test_guardian_object_permission_on_the_tenant_adds_to_the_role(tenant_a, in_tenant):
    from guardian.shortcuts import assign_perm

    from tenants.models import User
    from tenants.permissions import has_tenant_perm

    viewer = tenant_a.viewer
    assert not has_tenant_perm(viewer, "tenants.export_data", tenant_a.tenant)

    assign_perm("tenants.export_data", viewer, tenant_a.tenant)

    fresh = User.objects.get(pk=viewer.pk)
    assert has_tenant_perm(fresh, "tenants.export_data", tenant_a.tenant)
    with in_tenant(tenant_a.tenant):
        assert fresh.has_perm("tenants.export_data")


def test_role_permissions_do_not_carry_to_another_tenant(worlds, tenant_a, tenant_b, in_tenant):
    both = worlds["both"]  # accountant in A, viewer in B
    with in_tenant(tenant_a.tenant):
        assert both.has_perm("audit.view_auditevent")
    from tenants.permissions import forget_cached_permissions

    forget_cached_permissions(both)
    with in_tenant(tenant_b.tenant):
        assert not both.has_perm("audit.view_auditevent")
    assert not both.has_perm("audit.view_auditevent")  # public: no tenant, no tenant permissions
