"""Starting and running sync jobs (the services behind API, pages, webhooks and `manage.py sync`)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.db import connection as db
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import Outcome
from audit.services import audit_record
from connections.models import Connection, Provider, SyncJob, SyncJobStatus
from connections.services import connection_credentials_accepted, connection_mark
from connections.sync.engine import DEFAULT_COMMIT_ROWS, SyncProgress, run_streams
from connections.sync.time_zone import AccountTimeZone, time_zone_store
from tenants.services import ServiceError

logger = structlog.get_logger(__name__)


def sync_start(
    *,
    connection: Connection,
    actor: Any = None,
    trigger: str = "manual",
    target_ids: list[str] | None = None,
    enqueue: bool = True,
) -> SyncJob:
    """Create a queued SyncJob and hand it to a worker on the ``sync`` queue."""
    if connection.provider == Provider.NETSUITE:
        raise ServiceError("NetSuite connections are posted to, not synced from.", code="not_syncable")
    if not connection.enabled:
        raise ServiceError("This connection is disabled; enable it to sync.", code="disabled")
    sync_interrupted_sweep(connection=connection)
    context = structlog.contextvars.get_contextvars()
    job = SyncJob.objects.create(
        connection=connection,
        kind="targeted" if target_ids else ("incremental" if connection.last_sync_succeeded_at else "backfill"),
        trigger=trigger,
        requested_by_id=getattr(actor, "pk", None) if getattr(actor, "is_authenticated", False) else None,
        target_ids=list(target_ids or []),
        correlation_id=str(context.get("correlation_id", "")),
    )
    audit_record(
        action="sync.requested",
        actor=actor,
        actor_kind=None if actor else trigger,
        target=job,
        detail={"connection": str(connection.pk), "trigger": trigger, "targets": len(target_ids or [])},
    )
    if enqueue:
        _hand_to_worker(job)
    return job


def _hand_to_worker(job: SyncJob) -> None:
    """Queue the job's run on the ``sync`` queue."""
    from ecomops.tasks import enqueue as enqueue_task

    enqueue_task("connections.tasks.sync_job_run", tenant_id=job.connection.tenant_id, queue="sync", job_id=str(job.pk))


def sync_interrupted_sweep(*, connection: Connection) -> int:
    """Mark as failed the connection's 'running' jobs whose worker is gone.

    A running sync holds a PostgreSQL advisory lock for its connection; the database drops
    it when the worker's connection dies. A job still 'running' while the lock is free was
    interrupted (worker killed, machine lost). Its committed batches stay; the next run
    resumes from the cursors they committed.
    """
    running = list(SyncJob.objects.filter(connection=connection, status=SyncJobStatus.RUNNING))
    if not running:
        return 0
    if not _lock_free(_lock_key(connection.pk)):
        return 0
    for job in running:
        _finish(job, SyncJobStatus.FAILED, INTERRUPTED)
    return len(running)


INTERRUPTED = (
    "Interrupted: the worker running this sync stopped. "
    "Rows committed before that are kept; the next sync resumes after them."
)


def _lock_key(connection_id: Any) -> int:
    return int.from_bytes(hashlib.blake2b(str(connection_id).encode(), digest_size=8).digest(), "big", signed=True)


def _streams_for(connection: Connection, job: SyncJob, client_options: dict[str, Any]):
    """The job's streams, what collects their row errors, and the account's time zone (read
    by the streams that need it, or by the runner before a full sync)."""
    from connections.providers import client_for

    client = client_for(connection, **client_options)
    if connection.provider == Provider.STRIPE:
        from connections.sync.stripe import (
            RowErrors,
            StripePayoutStream,
            StripeTargetedStream,
            stripe_account_time_zone,
            stripe_open_ids,
            stripe_streams,
        )

        errors = RowErrors()
        time_zone = stripe_account_time_zone(client, errors)
        if job.target_ids:
            payouts = StripePayoutStream(client, connection.backfill_start, errors)
            return [StripeTargetedStream(client, job.target_ids, errors, payouts)], errors, time_zone
        open_ids = stripe_open_ids(connection)
        streams = stripe_streams(client, backfill_start=connection.backfill_start, errors=errors, open_ids=open_ids)
        return streams, errors, time_zone
    from connections.sync.shopify import (
        ShopifyRowErrors,
        shop_time_zone,
        shopify_open_dispute_ids,
        shopify_streams,
        shopify_targeted_streams,
    )

    errors = ShopifyRowErrors()
    time_zone = shop_time_zone(client, errors)
    if job.target_ids:
        return shopify_targeted_streams(client, job.target_ids, errors, time_zone), errors, time_zone
    open_disputes = shopify_open_dispute_ids(connection)
    streams = shopify_streams(
        client,
        backfill_start=connection.backfill_start,
        errors=errors,
        time_zone=time_zone,
        open_dispute_ids=open_disputes,
    )
    return streams, errors, time_zone


def _read_time_zone_and_run(
    job: SyncJob, connection: Connection, streams: list, time_zone: AccountTimeZone, **options: Any
) -> SyncProgress:
    """Run the streams; a full sync reads the account's time zone first.

    Every full sync asks, not only one that meets a payout: the month close ends each
    connection's month at midnight in its time zone, whether or not payouts came. A webhook's
    few objects need not ask (a Shopify payout among them does, to date it). Whatever was
    read is stored, even if the streams fail after."""
    try:
        if not job.target_ids:
            time_zone.zone()
        return run_streams(job=job, connection=connection, streams=streams, **options)
    finally:
        time_zone_store(connection=connection, time_zone=time_zone)


def sync_job_run(
    *,
    job: SyncJob,
    commit_rows: int = DEFAULT_COMMIT_ROWS,
    client_options: dict[str, Any] | None = None,
    on_commit: Any = None,
) -> SyncJob:
    """Run a job to the end in the current tenant context. Safe to run twice (resumes)."""
    from connections.providers import is_auth_failure

    connection = job.connection
    if job.status in (SyncJobStatus.SUCCEEDED, SyncJobStatus.FAILED):
        return job  # a redelivered task: the job already ended
    key = _lock_key(connection.pk)
    if not _try_lock(key):
        # Another sync of the connection runs: wait for it rather than fail, or a webhook's
        # update (already answered 202, so never sent again) would be lost. That sync's
        # runner enqueues the waiting jobs once it has unlocked (``sync_waiting_enqueue``).
        SyncJob.objects.filter(pk=job.pk, status=SyncJobStatus.QUEUED).update(
            error_message=WAITING, heartbeat_at=timezone.now()
        )
        # It may have ended between the try above and the line above, looking for waiting
        # jobs before this one was one: try once more so that nobody waits for nothing.
        if not _try_lock(key):
            job.refresh_from_db()
            logger.info("sync_waiting", job_id=str(job.pk), connection_id=str(connection.pk))
            return job
    try:
        job.refresh_from_db()
        if job.status in (SyncJobStatus.SUCCEEDED, SyncJobStatus.FAILED):
            return job  # another delivery of this task ran it while this one waited for the lock
        # Holding the lock, this is the connection's only live sync: another job still
        # 'running' lost its worker. The sweep when this job was requested can miss it, because
        # the database frees a killed worker's lock only once it notices the connection is gone.
        for stale in SyncJob.objects.filter(connection=connection, status=SyncJobStatus.RUNNING).exclude(pk=job.pk):
            _finish(stale, SyncJobStatus.FAILED, INTERRUPTED)
        SyncJob.objects.filter(pk=job.pk).update(
            status=SyncJobStatus.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now(), error_message=""
        )
        job.refresh_from_db()
        logger.info("sync_started", job_id=str(job.pk), connection_id=str(connection.pk), kind=job.kind)
        streams, errors, time_zone = _streams_for(connection, job, client_options or {})
        try:
            progress = _read_time_zone_and_run(
                job, connection, streams, time_zone, commit_rows=commit_rows, on_commit=on_commit
            )
            if connection.provider == Provider.SHOPIFY:
                from connections.sync.shopify import shopify_test_order_disputes_remove

                shopify_test_order_disputes_remove(job=job, connection=connection, errors=errors)
        except Exception as exc:
            auth = is_auth_failure(exc)
            message = _describe(exc)
            if auth or not job.target_ids:
                # Refused credentials break every sync, targeted or not. Anything else a
                # targeted job meets (one object gone, one 5xx) is that job's own failure:
                # the connection's state is the full sync's to tell.
                connection_mark(connection=connection, ok=False, message=message, auth_failure=auth)
            if not job.target_ids:
                Connection.objects.filter(pk=connection.pk).update(last_sync_failed_at=timezone.now())
            _finish(job, SyncJobStatus.FAILED, message, errors=errors.messages)
            logger.warning("sync_failed", job_id=str(job.pk), error=message)
            return job
        message = "; ".join([*errors.messages[:20], *errors.notes()])
        _finish(job, SyncJobStatus.SUCCEEDED, message, errors=errors.messages)
        if not job.target_ids:
            # Only a full sync says the connection is synced: a webhook's targeted job reads a
            # few objects, and month-end close trusts last_sync_succeeded_at for freshness.
            Connection.objects.filter(pk=connection.pk).update(last_sync_succeeded_at=timezone.now())
            connection_mark(connection=connection, ok=True, message="Last sync succeeded.")
        else:
            # It read through the stored credentials: if they were refused before, they are
            # not now, and a broken connection is left out of the scheduled syncs.
            by = "a webhook's sync" if job.trigger == "webhook" else "a targeted sync"
            connection_credentials_accepted(connection=connection, by=by)
        logger.info(
            "sync_succeeded",
            job_id=str(job.pk),
            pages=progress.pages,
            objects=progress.objects,
            created=progress.result.created,
            updated=progress.result.updated,
            unchanged=progress.result.unchanged,
        )
        _after_successful_sync(job)
        return job
    finally:
        _unlock(key)
        sync_waiting_enqueue(connection=connection)


WAITING = "Waiting: another sync of this connection is running; this one starts when it ends."
# How long a waiting job's hand-over to a worker may take before the scheduler's tick hands
# it over again (its task lost with a worker that died, say). Running it twice is harmless.
WAITING_RESEND = timedelta(minutes=2)


def _try_lock(key: int) -> bool:
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        return bool(cursor.fetchone()[0])


def _unlock(key: int) -> None:
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def _lock_free(key: int) -> bool:
    """Whether no sync holds the lock now (taken and given back at once)."""
    if not _try_lock(key):
        return False
    _unlock(key)
    return True


def sync_waiting_enqueue(*, connection: Connection) -> SyncJob | None:
    """Hand the connection's oldest waiting job to a worker again; returns it, if any.

    Only the oldest: it takes the lock, and the others wait on, each handed over when the
    one before it ends. Handing over all of them at once would have every one but the first
    find the lock taken again, N times over for N waiting jobs.
    """
    job = (
        SyncJob.objects.filter(connection=connection, status=SyncJobStatus.QUEUED, error_message=WAITING)
        .order_by("queued_at", "pk")
        .first()
    )
    if job is None:
        return None
    SyncJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
    _hand_to_worker(job)
    logger.info("sync_waiting_enqueued", job_id=str(job.pk), connection_id=str(connection.pk))
    return job


def sync_waiting_resume(*, now: datetime | None = None) -> list[SyncJob]:
    """The current tenant's waiting jobs whose connection no sync holds any more, handed to a
    worker again: the runner that ended did so already, unless its worker died first."""
    now = now or timezone.now()
    stale = SyncJob.objects.filter(status=SyncJobStatus.QUEUED, error_message=WAITING).filter(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lte=now - WAITING_RESEND)
    )
    resumed = []
    for connection in Connection.objects.filter(pk__in=stale.values("connection_id")).order_by("pk"):
        if _lock_free(_lock_key(connection.pk)):
            job = sync_waiting_enqueue(connection=connection)
            if job is not None:
                resumed.append(job)
    return resumed


def _after_successful_sync(job: SyncJob) -> None:
    """Hook for follow-up work (reconciliation subscribes here)."""
    from connections.signals import sync_succeeded

    sync_succeeded(job)


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 900 else text[:900] + "..."


def _finish(job: SyncJob, status: str, message: str, errors: list[str] | None = None) -> None:
    with transaction.atomic():
        SyncJob.objects.filter(pk=job.pk).update(
            status=status,
            finished_at=timezone.now(),
            error_message=message,
            error_count=len(errors or []) + (1 if status == SyncJobStatus.FAILED else 0),
        )
        job.refresh_from_db()
        audit_record(
            action="sync.finished",
            actor_kind="task",
            target=job,
            outcome=Outcome.SUCCESS if status == SyncJobStatus.SUCCEEDED else Outcome.FAILURE,
            detail={
                "status": status,
                "pages": job.pages,
                "objects": job.object_count,
                "created": job.created_count,
                "updated": job.updated_count,
                "unchanged": job.unchanged_count,
                "errors": job.error_count,
                "message": message[:500],
            },
        )
