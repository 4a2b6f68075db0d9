"""Row-level security DDL, applied to every tenant-schema table of a TenantScopedModel.

The policy compares the row's ``tenant_id`` with ``app.current_tenant_id``. ``NULLIF`` matters:
once a setting has been reset it reads ``''`` rather than NULL, and ``''::uuid`` would raise
instead of matching nothing. ``FORCE`` makes the table owner (the application role) obey.
"""

from __future__ import annotations

from django.db import connection

POLICY_NAME = "tenant_isolation"
TENANT_PREDICATE = "tenant_id = NULLIF(current_setting('app.current_tenant_id', true), '')::uuid"


def rls_statements(table: str) -> list[str]:
    """The DDL for one table. Table names come from model metadata, never from input."""
    quoted = connection.ops.quote_name(table)
    return [
        f"ALTER TABLE {quoted} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {quoted} FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {POLICY_NAME} ON {quoted}",
        f"CREATE POLICY {POLICY_NAME} ON {quoted} USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE})",
    ]


def install_row_level_security(models: list) -> list[str]:
    """Install the tenant policy on each model's table in the current schema (idempotent)."""
    installed = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        existing = {row[0] for row in cursor.fetchall()}
        for model in models:
            table = model._meta.db_table
            if table not in existing:
                continue  # this schema does not hold the model (e.g. public)
            for statement in rls_statements(table):
                cursor.execute(statement)
            installed.append(table)
    return installed


def migration_tenant(cursor) -> str | None:  # cursor: a DB-API cursor of the migrating connection
    """For a data migration: the tenant that owns the schema being migrated, made current for
    row-level security until the migration's transaction ends; None in a schema no tenant owns.

    A migration runs with no tenant selected, and the policy then hides every row.
    """
    cursor.execute("SELECT id::text FROM public.tenants_tenant WHERE schema_name = current_schema()")
    row = cursor.fetchone()
    if row is None:
        return None
    cursor.execute("SELECT set_config('app.current_tenant_id', %s, true)", [row[0]])
    return row[0]
