"""PostgreSQL backend: django-tenants' schema switching plus the row-level-security tenant id.

django-tenants sets ``search_path`` lazily, when a cursor is next taken after a tenant
switch. We set ``app.current_tenant_id`` in the same statement, so the two walls can never
disagree: the schema and the RLS setting always name the same tenant, and in the public
schema the setting is empty, so no tenant row is visible (fail closed).

The setting is session-level (``set_config(..., false)``), not ``SET LOCAL``: a sync job
commits page by page inside one tenant context, and a ``SET LOCAL`` would vanish at the
first commit. Like ``SET``, it is transactional: after a rollback django-tenants forgets its
cached search path and we re-issue both on the next cursor.
"""

from __future__ import annotations

import django.db.utils
from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper
from django_tenants.utils import get_limit_set_calls, quote_schema_name

try:
    import psycopg
except ImportError:  # pragma: no cover - psycopg 3 is a requirement
    psycopg = None

SET_TENANT_SQL = "SELECT set_config('search_path', %s, false), set_config('app.current_tenant_id', %s, false)"


class DatabaseWrapper(TenantDatabaseWrapper):
    def current_tenant_id(self) -> str:
        """The RLS tenant id for the selected tenant: '' in the public schema."""
        pk = getattr(self.tenant, "pk", None)
        return str(pk) if pk else ""

    def _handle_search_path(self, cursor=None):
        if self._setting_search_path:
            return
        if get_limit_set_calls() and self.search_path_set_schemas:
            return
        search_paths = self._get_cursor_search_paths()  # validates every schema name
        self._setting_search_path = True
        cursor_for_setting = self.connection.cursor() if cursor is None else cursor
        try:
            cursor_for_setting.execute(
                SET_TENANT_SQL,
                [",".join(quote_schema_name(s) for s in search_paths), self.current_tenant_id()],
            )
        except (django.db.utils.DatabaseError, psycopg.Error):
            # The transaction is already failed; the next statement fails too, and the
            # rollback that follows makes us set both again.
            self.search_path_set_schemas = None
        else:
            self.search_path_set_schemas = search_paths
        finally:
            self._setting_search_path = False
            if cursor is None:
                cursor_for_setting.close()
