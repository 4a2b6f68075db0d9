"""Every table in a tenant schema carries the tenant policy, enabled and forced."""

from __future__ import annotations

from django.db import connection

from ecomops.rls import POLICY_NAME

# django_migrations is django-tenants' per-schema migration ledger: no tenant data, and the
# migrate command must read it before any tenant is selected.
NOT_TENANT_DATA = {"django_migrations"}


def test_every_tenant_table_has_forced_rls_with_the_tenant_policy(tenant_a):
    schema = tenant_a.tenant.schema_name
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   p.qual, p.with_check, p.cmd
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_policies p ON p.schemaname = n.nspname AND p.tablename = c.relname
                                    AND p.policyname = %s
            WHERE n.nspname = %s AND c.relkind IN ('r', 'p')
            ORDER BY c.relname
            """,
            [POLICY_NAME, schema],
        )
        rows = cursor.fetchall()

    tables = [row for row in rows if row[0] not in NOT_TENANT_DATA]
    assert tables, "the tenant schema has no tables"
    problems = []
    for name, enabled, forced, qual, with_check, cmd in tables:
        if not enabled or not forced:
            problems.append(f"{name}: RLS enabled={enabled} forced={forced}")
        elif not qual or "app.current_tenant_id" not in qual or "NULLIF" not in qual:
            problems.append(f"{name}: policy USING is {qual!r}")
        elif not with_check or "app.current_tenant_id" not in with_check:
            problems.append(f"{name}: policy WITH CHECK is {with_check!r}")
        elif cmd != "ALL":
            problems.append(f"{name}: policy applies to {cmd}, not ALL")
    assert not problems, "\n".join(problems)


def test_every_tenant_model_is_in_the_tenant_schema(tenant_a):
    from ecomops.models import tenant_scoped_models

    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", [tenant_a.tenant.schema_name])
        tables = {row[0] for row in cursor.fetchall()}
    missing = [m._meta.db_table for m in tenant_scoped_models() if m._meta.db_table not in tables]
    assert not missing
