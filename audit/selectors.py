from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from audit.filters import AuditEventFilter
from audit.models import AuditEvent
from ecomops.tenancy import current_tenant_id


def audit_event_list(*, user: Any, filters: dict | None = None) -> QuerySet[AuditEvent]:
    """The current tenant's audit events, filtered. Empty for a user without the permission."""
    if not user.has_perm("audit.view_auditevent"):
        return AuditEvent.objects.none()
    # Filter by tenant in the query too: RLS is the wall, not the filter (DESIGN §4).
    queryset = AuditEvent.objects.filter(tenant_id=current_tenant_id()).order_by("-created_at")
    return AuditEventFilter(filters or {}, queryset=queryset).qs
