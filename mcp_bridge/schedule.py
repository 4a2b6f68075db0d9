"""Tenants' own schedules, run when due: the platform's one minute tick for them.

django-q2's scheduler calls :func:`tenant_schedules_run` every minute (the schedule is kept by
``mcp_bridge.apps`` after each migrate; ``TENANT_SCHEDULES=false`` removes it). It runs in the
public schema and enters each active tenant in turn, where ``services.schedules_run_due`` claims
the due schedules and queues their work on the ``recon`` and ``sync`` queues like any other.

A schedule is a feature of its tenant, not of the MCP tools that may have created it: a tenant
whose plan no longer includes MCP tools, or whose creator left, keeps its schedules running.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import structlog
from django.conf import settings

SCHEDULE_NAME = "mcp_bridge: run tenants' schedules"
SCHEDULE_FUNC = "mcp_bridge.schedule.tenant_schedules_run"
logger = structlog.get_logger(__name__)


def enabled() -> bool:
    return bool(getattr(settings, "TENANT_SCHEDULES", True))


def tenant_schedules_run(now: datetime | None = None) -> dict[str, int]:
    """The tick: in every active tenant, run the schedules that are due. Returns the counts
    (``ran``; ``failed`` runs, which recorded their error; ``tenants_failed``). One tenant's
    trouble is logged and the others carry on."""
    from ecomops.tenancy import unsafe_all_tenants
    from mcp_bridge.models import ScheduleOutcome
    from mcp_bridge.services import schedules_run_due

    counts = {"ran": 0, "failed": 0, "tenants_failed": 0}
    with structlog.contextvars.bound_contextvars(correlation_id=uuid.uuid4().hex, task=SCHEDULE_FUNC):
        for tenant in unsafe_all_tenants():
            if not tenant.is_active:  # a deactivated tenant starts nothing
                continue
            try:
                ran = schedules_run_due(now=now)
            except Exception:
                counts["tenants_failed"] += 1
                logger.exception("tenant_schedules_failed", tenant_id=str(tenant.pk))
                continue
            counts["ran"] += len(ran)
            counts["failed"] += sum(1 for s in ran if s.last_outcome == ScheduleOutcome.FAILED)
        if any(counts.values()):
            logger.info("tenant_schedules_ran", **counts)
    return counts


def ensure_schedule() -> None:
    """Keep the one django-q2 schedule in step with the setting (called after migrate)."""
    from ecomops.tasks import keep_minute_schedule

    keep_minute_schedule(name=SCHEDULE_NAME, func=SCHEDULE_FUNC, enabled=enabled())
