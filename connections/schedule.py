"""Incremental syncs on a schedule: every connection is synced again once its last sync is
older than ``SYNC_INTERVAL_MINUTES`` (DESIGN §7: a backfill, then incremental syncs).

django-q2's scheduler calls ``sync_due_connections`` every minute (the schedule is kept by
``connections.apps`` after each migrate; ``SYNC_INTERVAL_MINUTES=0`` removes it). It runs
in the public schema and looks at each tenant in turn; the syncs themselves run on the
``sync`` queue like any other.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db.models import Max, Q
from django.utils import timezone

from connections.models import Connection, ConnectionStatus, Provider, SyncJob, SyncJobStatus

SCHEDULE_NAME = "connections: sync what is due"
SCHEDULE_FUNC = "connections.schedule.sync_due_connections"
logger = structlog.get_logger(__name__)


def interval() -> timedelta | None:
    minutes = int(getattr(settings, "SYNC_INTERVAL_MINUTES", 0) or 0)
    return timedelta(minutes=minutes) if minutes > 0 else None


def connections_due(*, every: timedelta, now: datetime | None = None) -> list[Connection]:
    """The current tenant's connections a scheduled sync should start now.

    Enabled Stripe and Shopify connections whose credentials have not been refused (a broken
    one waits for a person to fix it), with no sync queued or running, whose latest sync was
    queued at least ``every`` ago, or that never synced.

    Only full (backfill or incremental) syncs count as "latest": a webhook's targeted sync
    reads the few objects it names, not payouts or balance transactions, so a shop sending
    webhooks every few minutes would otherwise never be fully synced again.
    """
    now = now or timezone.now()
    # A webhook's targeted job does not hold the full sync back: it may be waiting for the
    # connection's lock (``runner.WAITING``), and a full sync queued beside it simply waits
    # its turn in the same way.
    busy = (
        SyncJob.objects.filter(status__in=[SyncJobStatus.QUEUED, SyncJobStatus.RUNNING])
        .exclude(kind="targeted")
        .values("connection_id")
    )
    candidates = (
        Connection.objects.filter(enabled=True, provider__in=[Provider.STRIPE, Provider.SHOPIFY])
        .exclude(status=ConnectionStatus.BROKEN)
        .exclude(pk__in=busy)
        .annotate(last_queued=Max("sync_jobs__queued_at", filter=~Q(sync_jobs__kind="targeted")))
        .order_by("name")
    )
    return [c for c in candidates if c.last_queued is None or c.last_queued <= now - every]


def sync_due(*, every: timedelta, now: datetime | None = None) -> list[SyncJob]:
    """Start (queue) a sync of every connection of the current tenant that is due."""
    from connections.sync.runner import sync_start

    return [sync_start(connection=c, trigger="schedule") for c in connections_due(every=every, now=now)]


def sync_due_connections() -> int:
    """The schedule's task: in every tenant, hand waiting jobs whose connection is free to a
    worker again, and queue the syncs that are due. Returns how many jobs were (re)queued.

    A waiting job is normally handed over by the sync it waited for, when that one ends;
    this tick covers a worker that died before it could.
    """
    from connections.sync.runner import sync_waiting_resume
    from ecomops.tenancy import unsafe_all_tenants

    every = interval()
    started = 0
    for tenant in unsafe_all_tenants():
        try:
            started += len(sync_waiting_resume())
            if every is not None:
                started += len(sync_due(every=every))
        except Exception:  # one tenant's trouble must not stop the others' syncs
            logger.exception("scheduled_sync_failed", tenant_id=str(tenant.pk))
    return started


def ensure_schedule() -> None:
    """Keep the one django-q2 schedule in step with the setting (called after migrate)."""
    from ecomops.tasks import keep_minute_schedule

    keep_minute_schedule(name=SCHEDULE_NAME, func=SCHEDULE_FUNC, enabled=interval() is not None)
