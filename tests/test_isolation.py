"""Both walls of tenant isolation, each proved on its own.

Wall 1 is the schema (django-tenants): a query in tenant A's context resolves unqualified
tables to A's schema. Wall 2 is row-level security: even a schema-qualified query into B's
schema, under A's context, sees none of B's rows; outside any tenant nothing is visible.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.utils import ProgrammingError

from audit.models import AuditEvent
from audit.services import audit_record


@pytest.fixture
def events(tenant_a, tenant_b, in_tenant):
    with in_tenant(tenant_a.tenant):
        a_event = audit_record(action="test.a_only", actor=tenant_a.owner)
    with in_tenant(tenant_b.tenant):
        b_event = audit_record(action="test.b_only", actor=tenant_b.owner)
    return a_event, b_event


def _count(sql: str, params: list | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


def test_api_lists_only_own_tenants_audit_events(events, tenant_a, api_as):
    a_event, b_event = events

    response = api_as(tenant_a.owner, tenant_a.tenant).get("/api/v1/audit/", {"page_size": 1000})

    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    assert str(a_event.pk) in ids
    assert str(b_event.pk) not in ids


def test_other_tenants_object_id_is_404(events, tenant_a, api_as):
    a_event, b_event = events
    client = api_as(tenant_a.owner, tenant_a.tenant)

    assert client.get(f"/api/v1/audit/{a_event.pk}/").status_code == 200
    assert client.get(f"/api/v1/audit/{b_event.pk}/").status_code == 404


def test_other_tenants_member_is_404(tenant_a, tenant_b, api_as):
    client = api_as(tenant_a.owner, tenant_a.tenant)

    assert client.get(f"/api/v1/users/{tenant_a.viewer.pk}/").status_code == 200
    assert client.get(f"/api/v1/users/{tenant_b.viewer.pk}/").status_code == 404


def test_rls_alone_hides_other_schema_rows(events, tenant_a, tenant_b, in_tenant):
    b_schema = connection.ops.quote_name(tenant_b.tenant.schema_name)
    with in_tenant(tenant_b.tenant):
        assert _count(f"SELECT count(*) FROM {b_schema}.audit_auditevent") >= 1  # the rows exist

    with in_tenant(tenant_a.tenant):
        # schema-qualified: the search_path wall is bypassed, only RLS stands
        assert _count(f"SELECT count(*) FROM {b_schema}.audit_auditevent") == 0


def test_no_tenant_context_sees_nothing(events, tenant_a, tenant_b):
    for world in (tenant_a, tenant_b):
        schema = connection.ops.quote_name(world.tenant.schema_name)
        assert _count(f"SELECT count(*) FROM {schema}.audit_auditevent") == 0


def test_insert_with_other_tenant_id_is_refused(tenant_a, tenant_b, in_tenant):
    with in_tenant(tenant_a.tenant), pytest.raises(ProgrammingError, match="row-level security"), transaction.atomic():
        AuditEvent.objects.create(action="test.forged", tenant_id=tenant_b.tenant.pk)


def test_orm_outside_tenant_refuses_to_write():
    from ecomops.tenancy import NoTenantContext

    with pytest.raises(NoTenantContext):
        AuditEvent(action="test.nowhere")


def test_application_role_cannot_bypass_rls(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False)


def test_context_is_left_cleanly(tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        assert _count("SELECT count(*) FROM pg_namespace WHERE nspname = current_schema()") == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema(), current_setting('app.current_tenant_id', true)")
        assert cursor.fetchone() == ("public", "")


def test_a_bearer_header_does_not_take_a_signed_in_page_into_another_tenant(tenant_a, tenant_b):
    from conftest import signed_in

    client = signed_in(tenant_a.owner.email)
    forged = {"HTTP_AUTHORIZATION": "Bearer x", "HTTP_X_TENANT": tenant_b.tenant.slug}

    dashboard = client.get("/", **forged).content.decode()
    admin = client.get("/admin/", **forged).content.decode()

    assert tenant_b.tenant.name not in dashboard
    assert tenant_a.tenant.name in dashboard  # the session's own tenant
    assert tenant_b.tenant.name not in admin
