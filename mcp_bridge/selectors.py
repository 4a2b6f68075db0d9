"""Reads of a tenant's schedules, narrowed by the user's permissions."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from ecomops.tenancy import current_tenant_id
from mcp_bridge.models import Schedule

VIEW_SCHEDULE = "mcp_bridge.view_schedule"


def schedule_list(*, user: Any) -> QuerySet[Schedule]:
    """The current tenant's schedules, next due first; none for a user who may not see them."""
    if not user.has_perm(VIEW_SCHEDULE):
        return Schedule.objects.none()
    return Schedule.objects.filter(tenant_id=current_tenant_id()).order_by("next_run_at", "pk")


def schedule_get(*, user: Any, schedule_id: Any) -> Schedule:
    """One schedule of the current tenant; missing, another tenant's and forbidden are the same 404."""
    try:
        pk = schedule_id if isinstance(schedule_id, uuid.UUID) else uuid.UUID(str(schedule_id))
    except ValueError:
        raise Http404("No such schedule.") from None
    schedule = schedule_list(user=user).filter(pk=pk).first()
    if schedule is None:
        raise Http404("No such schedule.")
    return schedule
