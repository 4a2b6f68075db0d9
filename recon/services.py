"""Writes for reconciliation: starting and running recon runs, and working exceptions.

Every service takes keyword-only arguments, runs in a transaction and records an audit
event; follow-up work (the worker running a run, the link write-back of a large run) is
queued with ``transaction.on_commit`` through ``ecomops.tasks.enqueue``.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.db import connection as db
from django.utils import timezone

from audit.models import Outcome
from audit.services import audit_actor_columns, audit_record, audit_target_type
from canonical.models import Payout
from connections.models import PAYMENT_PROVIDERS, Connection, SyncJob
from ecomops.tenancy import current_tenant
from ecomops.text import is_storable
from recon.close import Month, close_snapshot, month_close
from recon.engine import INLINE_LINK_LIMIT, Engine, RuleSettings, delete_consumed_changes, link_lines
from recon.freshness import freshness_now, source_freshness
from recon.models import (
    RUN_COUNTS,
    ExceptionState,
    MonthClose,
    PayoutStatus,
    ReconException,
    ReconPayout,
    ReconRun,
    ReconState,
    RunMode,
    RunStatus,
    RunTrigger,
)
from tenants.models import Tenant
from tenants.services import ServiceError, parse_ids

logger = structlog.get_logger(__name__)

QUEUED_RUN_REUSE = timedelta(minutes=10)
LINK_BATCH_PAYOUTS = 500  # payouts per transaction when a follow-up task writes the links


class ScopeNotFound(ServiceError):
    """Ids in the request that are not in this tenant: answered as 404, like any other tenant's id."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, field=field, code="not_found")


# ---------------------------------------------------------------------- starting a run


def _actor_fields(actor: Any) -> tuple[int | None, str]:
    if actor is not None and getattr(actor, "is_authenticated", False):
        return actor.pk, actor.email
    return None, ""


def _resolve_connections(connection_ids: list[Any] | None) -> list[Connection]:
    queryset = Connection.objects.filter(tenant_id=current_tenant().pk, provider__in=PAYMENT_PROVIDERS)
    if not connection_ids:
        return list(queryset.filter(enabled=True).order_by("pk"))
    ids = parse_ids(connection_ids, field="connection_ids")
    found = list(queryset.filter(pk__in=ids).order_by("pk"))
    missing = sorted(str(i) for i in set(ids) - {c.pk for c in found})
    if missing:
        raise ScopeNotFound(
            f"No Stripe or Shopify connection {', '.join(missing)} in this tenant.", field="connection_ids"
        )
    return found


def resolve_payouts(references: list[Any], *, field: str = "payout_ids") -> list[Payout]:
    """Payouts of the current tenant by id or by source id (``po_…``, a Shopify GID)."""
    tenant_id = current_tenant().pk
    by_id, by_source = [], []
    for reference in references:
        try:
            by_id.append(reference if isinstance(reference, uuid.UUID) else uuid.UUID(str(reference)))
        except ValueError:
            by_source.append(str(reference))
    found = list(Payout.objects.filter(tenant_id=tenant_id, pk__in=by_id)) + list(
        # a reference PostgreSQL cannot hold names no stored payout: not found, without asking it
        Payout.objects.filter(tenant_id=tenant_id, source_id__in=[s for s in by_source if is_storable(s)])
    )
    missing = sorted({str(r) for r in by_id} - {str(p.pk) for p in found}) + sorted(
        set(by_source) - {p.source_id for p in found}
    )
    if missing:
        raise ScopeNotFound(f"No payout {', '.join(missing)} in this tenant.", field=field)
    return found


def recon_run_start(
    *,
    actor: Any = None,
    trigger: str = RunTrigger.API,
    connection_ids: list[Any] | None = None,
    payout_ids: list[Any] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    sync_job: SyncJob | None = None,
    enqueue: bool = True,
) -> ReconRun:
    """Record a queued run with its scope and hand it to a worker on the ``recon`` queue.

    ``connection_ids`` empty means every enabled Stripe and Shopify connection; ``payout_ids``
    (ids or source ids) or a date range on the payouts' arrival date make it targeted.
    """
    if trigger not in RunTrigger.values:
        raise ServiceError(f"Unknown trigger {trigger!r}.", field="trigger")
    if date_from and date_to and date_from > date_to:
        raise ServiceError("date_to is before date_from.", field="date_to")
    if payout_ids is not None and not payout_ids:  # an empty list must not read as "every payout"
        raise ServiceError(
            "Give at least one payout, or leave payout_ids out to reconcile every payout.", field="payout_ids"
        )
    connections = _resolve_connections(connection_ids)
    payouts = resolve_payouts(payout_ids) if payout_ids else []
    if payouts and connection_ids:
        outside = [p.source_id for p in payouts if p.connection_id not in {c.pk for c in connections}]
        if outside:
            raise ServiceError(
                f"Payout(s) {', '.join(outside)} are not from the connections given.", field="payout_ids"
            )
    elif payouts:
        # the payouts name their connections (enabled or not)
        connection_ids = sorted({p.connection_id for p in payouts}, key=str)
        connections = _resolve_connections(connection_ids)
    requested_by_id, requested_by_email = _actor_fields(actor)
    context = structlog.contextvars.get_contextvars()
    with transaction.atomic():
        run = ReconRun.objects.create(
            trigger=trigger,
            requested_by_id=requested_by_id,
            requested_by_email=requested_by_email,
            sync_job_id=sync_job.pk if sync_job else None,
            correlation_id=str(context.get("correlation_id", "")),
            connection_ids=[str(c.pk) for c in connections] if connection_ids else [],
            payout_ids=sorted({str(p.pk) for p in payouts}),
            date_from=date_from,
            date_to=date_to,
        )
        audit_record(
            action="recon.run_requested",
            actor=actor,
            actor_kind=None if requested_by_id else trigger,
            target=run,
            detail={
                "trigger": trigger,
                "connections": run.connection_ids,
                "payouts": len(run.payout_ids),
                "date_from": str(date_from or ""),
                "date_to": str(date_to or ""),
            },
        )
        if enqueue:
            from ecomops.tasks import enqueue as enqueue_task

            enqueue_task("recon.tasks.recon_run_task", tenant_id=run.tenant_id, queue="recon", run_id=str(run.pk))
    return run


def recon_after_sync(*, job: SyncJob) -> ReconRun | None:
    """After a successful sync: reconcile what it changed, on the worker's ``recon`` queue.

    A run already queued for the connection (not started yet) will read the same changes,
    so no second one is queued. Never fails the sync: a problem here is logged and audited.
    """
    try:
        connection_id = str(job.connection_id)
        waiting = ReconRun.objects.filter(
            tenant_id=job.tenant_id,
            status=RunStatus.QUEUED,
            trigger=RunTrigger.SYNC,
            connection_ids=[connection_id],
            # a run queued long ago and never started may have lost its task: queue afresh
            queued_at__gte=timezone.now() - QUEUED_RUN_REUSE,
        ).first()
        if waiting is not None:
            return waiting
        return recon_run_start(trigger=RunTrigger.SYNC, connection_ids=[job.connection_id], sync_job=job)
    except Exception as exc:  # the sync succeeded; reconciliation must not undo that
        logger.exception("recon_after_sync_failed", job_id=str(job.pk))
        audit_record(
            action="recon.run_requested",
            actor_kind="sync",
            target=job,
            outcome=Outcome.FAILURE,
            detail={"error": str(exc)[:500]},
        )
        return None


# ---------------------------------------------------------------------- running


def _lock_key(tenant_id: Any) -> int:
    digest = hashlib.blake2b(f"recon:{tenant_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _rule_settings(tenant: Any) -> RuleSettings:
    return RuleSettings(tolerance_minor=tenant.recon_amount_tolerance_minor, grace_days=tenant.recon_unpaid_grace_days)


def recon_run_execute(*, run: ReconRun, write_links: str = "auto", now: datetime | None = None) -> ReconRun:
    """Run a queued run to the end in the current tenant context. Safe to run twice.

    ``write_links="skip"`` leaves the lines' links to the caller (the benchmark times that
    step on its own); by default they are written after the commit, inline or by a task.
    ``now`` is the clock the rules read (the grace period, freshness): the current time
    unless a caller (a test) says otherwise.

    The evaluation and its merge commit together; two runs of the same tenant are
    serialized by a transaction-level advisory lock rather than row locks: the engine reads
    and writes whole sets (every exception of a payout, the change log) that no row lock
    covers, and the lock ends with the transaction, however it ends. Runs wait for each
    other rather than interleave; syncs never take this lock, so they are never blocked.
    """
    if run.is_finished or run.status == RunStatus.RUNNING:
        return run  # a redelivered task, or another worker has it
    claimed = ReconRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=timezone.now()
    )
    run.refresh_from_db()
    if not claimed:
        return run
    tenant = current_tenant()
    started = time.monotonic()
    steps = Steps()
    try:
        with transaction.atomic():
            with db.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(tenant.pk)])
            steps.mark("wait for the tenant's recon lock")
            _sweep_interrupted(tenant_id=tenant.pk, current=run)
            now = now or timezone.now()
            connections = _resolve_connections(run.connection_ids or None)
            # The settings as they are now (the owner may have changed them since this
            # process loaded the tenant).
            settings = Tenant.objects.only(
                "recon_amount_tolerance_minor", "recon_freshness_hours", "recon_unpaid_grace_days"
            ).get(pk=tenant.pk)
            freshness = source_freshness(connections=connections, window_hours=settings.recon_freshness_hours, now=now)
            steps.mark("scope and freshness")
            result, link_plan = _evaluate(run=run, tenant=settings, connections=connections, now=now, steps=steps)
            run.mode = result.mode
            for name in RUN_COUNTS:
                setattr(run, name, getattr(result, name))
            run.freshness = freshness.sources
            run.stale_reason = "; ".join(freshness.reasons)
            run.status = RunStatus.STALE if freshness.stale else RunStatus.COMPLETED
            run.finished_at = timezone.now()
            run.duration_ms = int((time.monotonic() - started) * 1000)
            run.step_timings = steps.timings
            run.save()
            audit_record(
                action="recon.run_finished",
                actor_kind="task",
                target=run,
                outcome=Outcome.SUCCESS,
                detail={
                    "status": run.status,
                    "mode": run.mode,
                    "payouts": run.payouts_evaluated,
                    "opened": run.exceptions_opened,
                    "auto_resolved": run.exceptions_auto_resolved,
                    "stale_reason": run.stale_reason[:500],
                    "duration_ms": run.duration_ms,
                },
            )
    except Exception as exc:
        logger.exception("recon_run_failed", run_id=str(run.pk))
        ReconRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED,
            error_message=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        run.refresh_from_db()
        audit_record(
            action="recon.run_finished",
            actor_kind="task",
            target=run,
            outcome=Outcome.FAILURE,
            detail={"error": run.error_message[:500]},
        )
        return run
    # The commit is part of the run (it writes the WAL of everything the run wrote).
    steps.mark("commit")
    run.duration_ms = int((time.monotonic() - started) * 1000)
    run.step_timings = steps.timings
    ReconRun.objects.filter(pk=run.pk).update(duration_ms=run.duration_ms, step_timings=run.step_timings)
    if write_links != "skip":
        _write_links(run=run, plan=link_plan)
    if run.status == RunStatus.COMPLETED and run.trigger != RunTrigger.BENCH:
        # Only a complete, fresh run makes payouts postable: never post on stale data. It
        # speaks only for the connections it read, all fresh; another connection's payouts
        # wait for a run of their own (they may have been judged on stale data). A benchmark's
        # run posts nothing: its tenant is dropped when it ends.
        from ecomops.tasks import enqueue as enqueue_task

        enqueue_task(
            "netsuite.tasks.postings_after_recon_task",
            tenant_id=run.tenant_id,
            queue="posting",
            on_commit=False,
            run_id=str(run.pk),
            connection_ids=[source["connection_id"] for source in run.freshness],
        )
    logger.info("recon_run_finished", run_id=str(run.pk), status=run.status, duration_ms=run.duration_ms)
    return run


def _sweep_interrupted(*, tenant_id: Any, current: ReconRun) -> None:
    """Mark as failed the runs left 'running' by a worker that died (past the task timeout,
    after which django-q2 has given up on them too); their transaction rolled back, so
    nothing of theirs was kept."""
    from django.conf import settings

    timeout = timedelta(seconds=int(settings.Q_CLUSTER.get("timeout", 1800)))
    ReconRun.objects.filter(
        tenant_id=tenant_id, status=RunStatus.RUNNING, started_at__lt=timezone.now() - timeout
    ).exclude(pk=current.pk).update(
        status=RunStatus.FAILED,
        error_message="Interrupted: the worker running this reconciliation stopped; nothing of it was kept.",
        finished_at=timezone.now(),
    )


@dataclass
class LinkPlan:
    """Which lines' links the run resolved: per connection, all of them (None) or these payouts."""

    payout_keys: dict[uuid.UUID, list[str] | None]
    lines: int


def _data_now(tenant_id: Any, connection_ids: list[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    """The time of the newest payout line of each connection: how far its data reaches."""
    result: dict[uuid.UUID, datetime] = {}
    with db.cursor() as cursor:
        for connection_id in connection_ids:
            # One backward walk of the (tenant_id, source_created_at) index per connection.
            cursor.execute(
                """SELECT source_created_at FROM canonical_payoutline
                   WHERE tenant_id = %s AND connection_id = %s AND source_created_at IS NOT NULL
                   ORDER BY source_created_at DESC LIMIT 1""",
                [tenant_id, connection_id],
            )
            row = cursor.fetchone()
            if row:
                result[connection_id] = row[0]
    return result


class Steps:
    """Where a run's time goes: ``mark(label)`` records the time since the previous mark."""

    def __init__(self) -> None:
        self.timings: list[list[Any]] = []
        self._last = time.monotonic()

    def mark(self, label: str) -> None:
        now = time.monotonic()
        self.timings.append([label, round((now - self._last) * 1000, 1)])
        self._last = now

    def add(self, timings: list[tuple[str, float]]) -> None:
        """Statements timed elsewhere (the engine's), already accounted for up to now."""
        self.timings.extend([label, round(seconds * 1000, 1)] for label, seconds in timings)
        self._last = time.monotonic()


def _evaluate(
    *, run: ReconRun, tenant: Any, connections: list[Connection], now: datetime, steps: Steps
) -> tuple[Any, LinkPlan]:
    settings = _rule_settings(tenant)
    connection_ids = [c.pk for c in connections]
    states = {
        s.connection_id: s for s in ReconState.objects.filter(tenant_id=tenant.pk, connection_id__in=connection_ids)
    }
    targeted = bool(run.payout_ids or run.date_from or run.date_to)
    if targeted:
        mode = RunMode.TARGETED
    elif connection_ids and all(
        c.pk in states and states[c.pk].settings_fingerprint == settings.fingerprint for c in connections
    ):
        mode = RunMode.INCREMENTAL
    else:
        # A first run, a new connection or changed settings: nothing to be incremental from.
        mode = RunMode.FULL
    engine = Engine(
        tenant_id=tenant.pk,
        run_id=run.pk,
        connection_ids=connection_ids,
        settings=settings,
        now=now,
        data_now=_data_now(tenant.pk, connection_ids),
    )
    result, consumed = engine.run(
        mode=mode,
        payout_ids=[uuid.UUID(p) for p in run.payout_ids],
        date_from=run.date_from,
        date_to=run.date_to,
        previous_cutoffs={cid: s.unpaid_cutoff for cid, s in states.items()},
    )
    steps.add(engine.timings)
    if mode != RunMode.TARGETED:
        delete_consumed_changes(tenant.pk, consumed)
        steps.mark("delete the change log rows read")
        for conn in connections:
            state = states.get(conn.pk)
            if state is None:
                state = ReconState(connection=conn, settings_fingerprint=settings.fingerprint)
            state.settings_fingerprint = settings.fingerprint
            state.unpaid_cutoff = engine.cutoffs[conn.pk]
            state.updated_at = now
            if mode == RunMode.FULL:
                state.baseline_run = run
            state.save()
    if mode == RunMode.FULL:
        plan = LinkPlan(payout_keys=dict.fromkeys(connection_ids), lines=result.lines_evaluated)
    else:
        keys: dict[uuid.UUID, list[str] | None] = {}
        for connection_id, source_id in Payout.objects.filter(pk__in=result.payout_ids).values_list(
            "connection_id", "source_id"
        ):
            keys.setdefault(connection_id, []).append(source_id)  # type: ignore[union-attr]
        plan = LinkPlan(payout_keys=keys, lines=result.lines_evaluated)
    steps.mark("recon state")
    return result, plan


def _write_links(*, run: ReconRun, plan: LinkPlan) -> None:
    """Store each evaluated line's payment / refund / dispute link, now or in a follow-up task."""
    if not plan.payout_keys:
        return
    if plan.lines > INLINE_LINK_LIMIT:
        from ecomops.tasks import enqueue as enqueue_task

        enqueue_task(
            "recon.tasks.recon_links_write_task",
            tenant_id=run.tenant_id,
            queue="recon",
            on_commit=False,
            run_id=str(run.pk),
            connection_ids=[str(c) for c in plan.payout_keys],
        )
        return
    with transaction.atomic():
        for connection_id, keys in plan.payout_keys.items():
            link_lines(tenant_id=run.tenant_id, connection_id=connection_id, payout_keys=keys)


def recon_links_write(*, connection_ids: list[Any], batch_payouts: int = LINK_BATCH_PAYOUTS) -> int:
    """Write the links of every paid-out line of the connections, a batch of payouts per transaction.

    Short transactions keep row locks brief against concurrent syncs; each batch writes only
    the links that differ, so running it again (or after a crash) is harmless.
    """
    tenant_id = current_tenant().pk
    written = 0
    for connection_id in parse_ids(connection_ids, field="connection_ids"):
        keys = list(
            Payout.objects.filter(tenant_id=tenant_id, connection_id=connection_id)
            .order_by("source_id")
            .values_list("source_id", flat=True)
        )
        for start in range(0, len(keys), batch_payouts):
            with transaction.atomic():
                written += link_lines(
                    tenant_id=tenant_id, connection_id=connection_id, payout_keys=keys[start : start + batch_payouts]
                )
    return written


# ---------------------------------------------------------------------- exceptions workflow


def _refresh_payout_statuses(payout_ids: set[Any]) -> None:
    """Recount the open exceptions of these payouts and set their status accordingly."""
    payout_ids = {p for p in payout_ids if p is not None}
    if not payout_ids:
        return
    with db.cursor() as cursor:
        cursor.execute(
            """
            UPDATE recon_reconpayout rp SET
                open_exceptions = (SELECT count(*) FROM recon_reconexception e
                                   WHERE e.tenant_id = %(t)s AND e.payout_id = rp.payout_id
                                     AND e.state IN ('open', 'acknowledged')),
                status = CASE
                    WHEN EXISTS (SELECT 1 FROM recon_reconexception e
                                 WHERE e.tenant_id = %(t)s AND e.payout_id = rp.payout_id
                                   AND e.state IN ('open', 'acknowledged')) THEN 'exceptions'
                    WHEN po.status IN ('pending', 'in_transit', 'scheduled') THEN 'pending'
                    ELSE 'reconciled' END
            FROM canonical_payout po
            WHERE rp.tenant_id = %(t)s AND po.tenant_id = %(t)s AND po.id = rp.payout_id
              AND rp.payout_id = ANY(%(ids)s)
            """,
            {"t": current_tenant().pk, "ids": list(payout_ids)},
        )


def _postings_for_reconciled(payout_ids: set[Any]) -> None:
    """Payouts a person's action left reconciled are postable now, as after a run: their
    postings are created on the posting queue once this transaction commits, rather than at
    the next run. Only on fresh data: the tenant's latest run must have completed (a stale
    one makes nothing postable, see ``recon_run_execute``)."""
    payout_ids = {p for p in payout_ids if p is not None}
    if not payout_ids:
        return
    tenant_id = current_tenant().pk
    last = ReconRun.objects.filter(tenant_id=tenant_id).exclude(status=RunStatus.QUEUED).order_by("-queued_at").first()
    if last is None or last.status != RunStatus.COMPLETED:
        return
    reconciled = list(
        ReconPayout.objects.filter(
            tenant_id=tenant_id, payout_id__in=payout_ids, status=PayoutStatus.RECONCILED
        ).values_list("payout_id", "connection_id")
    )
    # The last run may not have read these payouts' connections: each must be fresh now.
    fresh = freshness_now(connection_ids={c for _, c in reconciled}).fresh_connection_ids
    reconciled = [(p, c) for p, c in reconciled if str(c) in fresh]
    if not reconciled:
        return
    from ecomops.tasks import enqueue as enqueue_task

    enqueue_task(
        "netsuite.tasks.postings_after_recon_task",
        tenant_id=tenant_id,
        queue="posting",
        payout_ids=[str(p) for p, _ in reconciled],
    )


ACTIONS = ("acknowledge", "resolve")
AUDIT_ACTIONS = {"acknowledge": "recon.exception_acknowledged", "resolve": "recon.exception_resolved"}


def _refusal(state: str, *, action: str, note: str) -> str | None:
    """Why ``action`` does not apply to an exception in ``state``, or None when it does."""
    if state == ExceptionState.RESOLVED:
        return "already resolved"
    if action == "acknowledge" and state == ExceptionState.ACKNOWLEDGED and not note:
        return "already acknowledged"
    return None


def _action_fields(*, action: str, actor: Any, note: str, now: datetime) -> dict[str, Any]:
    """What an action writes on each exception it applies to (one, or many in one UPDATE)."""
    user_id, email = _actor_fields(actor)
    if action == "acknowledge":
        fields: dict[str, Any] = {
            "state": ExceptionState.ACKNOWLEDGED,
            "acknowledged_by_id": user_id,
            "acknowledged_by_email": email,
            "acknowledged_at": now,
        }
    else:
        fields = {
            "state": ExceptionState.RESOLVED,
            "resolved_by_kind": "user",
            "resolved_by_id": user_id,
            "resolved_by_email": email,
            "resolved_at": now,
        }
    if note:
        fields["note"] = note
    fields["state_changed_at"] = now
    return fields


def _transition(exception: ReconException, *, action: str, actor: Any, note: str) -> str | None:
    """Apply one action to a locked exception; returns why it was refused, or None."""
    refused = _refusal(exception.state, action=action, note=note)
    if refused:
        return refused
    for name, value in _action_fields(action=action, actor=actor, note=note, now=timezone.now()).items():
        setattr(exception, name, value)
    return None


def _clean_note(note: str | None, *, required: bool, to: str = "resolve an exception") -> str:
    note = (note or "").strip()
    if required and not note:
        raise ServiceError(f"A note saying why is required to {to}.", field="note")
    if len(note) > 4000:
        raise ServiceError("The note is longer than 4000 characters.", field="note")
    if "\x00" in note:  # PostgreSQL text cannot hold it
        raise ServiceError("The note contains a NUL character, which cannot be stored.", field="note")
    return note


def exception_act(*, actor: Any, exception: ReconException, action: str, note: str = "") -> ReconException:
    """Acknowledge, or resolve (with a note), one exception."""
    if action not in ACTIONS:
        raise ServiceError(f"Unknown action {action!r}; choose one of {', '.join(ACTIONS)}.", field="action")
    note = _clean_note(note, required=action == "resolve")
    with transaction.atomic():
        locked = ReconException.objects.select_for_update().get(pk=exception.pk)
        previous = locked.state
        refused = _transition(locked, action=action, actor=actor, note=note)
        if refused:
            raise ServiceError(f"Cannot {action} this exception: {refused}.", field="state", code="invalid_state")
        locked.save()
        _refresh_payout_statuses({locked.payout_id})
        _postings_for_reconciled({locked.payout_id})
        _audit_transition(actor=actor, exception=locked, action=action, previous=previous, note=note)
    return locked


def _audit_transition(
    *, actor: Any, exception: ReconException, action: str, previous: str, note: str, **extra: Any
) -> None:
    audit_record(
        action=AUDIT_ACTIONS[action],
        actor=actor,
        target=exception,
        detail={
            "reason": exception.reason,
            "subject": exception.subject_ref,
            "from": previous,
            "to": exception.state,
            "note": note,
            **extra,
        },
    )


def exception_acknowledge(*, actor: Any, exception: ReconException, note: str = "") -> ReconException:
    return exception_act(actor=actor, exception=exception, action="acknowledge", note=note)


def exception_resolve(*, actor: Any, exception: ReconException, note: str) -> ReconException:
    return exception_act(actor=actor, exception=exception, action="resolve", note=note)


@dataclass
class BulkResult:
    changed: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


# The event of each exception a bulk action changed (``p``: its id and state before), as
# _audit_transition writes it through audit_record, set-based: one INSERT for the whole batch.
# The detail's keys are fixed and none is secret-named, so audit_record's redaction has
# nothing to do here.
_BULK_AUDIT = """
    INSERT INTO audit_auditevent (id, tenant_id, created_at, action, actor_id, actor_email, actor_kind, target_type,
                                  target_id, outcome, correlation_id, detail)
    SELECT gen_random_uuid(), %(t)s, %(now)s, %(action)s, %(actor_id)s, %(actor_email)s, %(actor_kind)s,
           %(target_type)s, e.id::text, %(outcome)s, %(correlation_id)s,
           jsonb_build_object('reason', e.reason, 'subject', e.subject_ref, 'from', p.previous, 'to', e.state,
                              'note', %(note)s::text, 'bulk', true)
    FROM unnest(%(ids)s::uuid[], %(previous)s::text[]) AS p(id, previous)
    JOIN recon_reconexception e ON e.tenant_id = %(t)s AND e.id = p.id
"""


def exception_bulk(*, actor: Any, ids: list[Any], action: str, note: str = "") -> BulkResult:
    """Apply one action to many exceptions in one transaction; ones it does not apply to are reported.

    Set-based, so that 1000 exceptions cost what 10 do: one locked read, one UPDATE, one
    INSERT of their audit events, then each touched payout's status and count.

    Rows are locked with ``select_for_update()`` ordered by primary key: two bulk actions on
    overlapping selections then take their locks in the same order and queue rather than
    deadlock (Saleor's lock_objects does the same). The one that waited reads the states the
    other left, so it skips what is already done: each exception changes, and is audited, once.
    """
    if action not in ACTIONS:
        raise ServiceError(f"Unknown action {action!r}; choose one of {', '.join(ACTIONS)}.", field="action")
    if not ids:
        raise ServiceError("Give at least one exception id.", field="ids")
    if len(ids) > 1000:
        raise ServiceError("At most 1000 exceptions per bulk action.", field="ids")
    note = _clean_note(note, required=action == "resolve")
    wanted = set(parse_ids(ids, field="ids"))
    tenant_id = current_tenant().pk
    result = BulkResult()
    with transaction.atomic():
        locked = list(
            ReconException.objects.select_for_update()
            .filter(tenant_id=tenant_id, pk__in=wanted)
            .order_by("pk")
            .values_list("pk", "state", "payout_id")
        )
        missing = sorted(str(i) for i in wanted - {pk for pk, _, _ in locked})
        if missing:
            raise ScopeNotFound(f"No exception {', '.join(missing)} in this tenant.", field="ids")
        previous: dict[uuid.UUID, str] = {}
        payouts = set()
        for pk, state, payout_id in locked:
            refused = _refusal(state, action=action, note=note)
            if refused:
                result.skipped.append({"id": str(pk), "reason": refused})
                continue
            previous[pk] = state
            payouts.add(payout_id)
            result.changed.append(str(pk))
        if not previous:
            return result
        now = timezone.now()
        ReconException.objects.filter(tenant_id=tenant_id, pk__in=previous).update(
            **_action_fields(action=action, actor=actor, note=note, now=now)
        )
        with db.cursor() as cursor:
            cursor.execute(
                _BULK_AUDIT,
                {
                    "t": tenant_id,
                    "now": now,
                    "action": AUDIT_ACTIONS[action],
                    **audit_actor_columns(actor=actor),
                    "target_type": audit_target_type(ReconException),
                    "outcome": Outcome.SUCCESS.value,
                    "note": note,
                    "ids": list(previous),
                    "previous": list(previous.values()),
                },
            )
        logger.info("audit", action=AUDIT_ACTIONS[action], outcome=Outcome.SUCCESS.value, targets=len(previous))
        _refresh_payout_statuses(payouts)
        _postings_for_reconciled(payouts)
    return result


# ---------------------------------------------------------------------- closing a month


def month_close_record(*, actor: Any, month: Month, note: str = "") -> MonthClose:
    """Close ``month``: only when every item of its checklist holds; audited, with a snapshot
    of its payouts and totals as they are now."""
    note = _clean_note(note, required=False)
    already = ServiceError(f"{month.label} is already closed.", field="month", code="already_closed")
    with transaction.atomic():
        if MonthClose.objects.filter(month=month.first, reopened_at__isnull=True).exists():
            raise already
        close = month_close(user=actor, month=month)
        if close is None:
            raise ServiceError("You may not see this month's reconciliation.", code="forbidden")
        unmet = [c for c in close["checks"] if not c["passed"]]
        if unmet:
            reasons = " ".join(f"{c['title']}: {c['detail'].rstrip('.')}." for c in unmet)
            raise ServiceError(f"{month.label} is not ready to close. {reasons}", field="month", code="not_ready")
        user_id, email = _actor_fields(actor)
        try:
            with transaction.atomic():  # two closes at once: the unique constraint lets one through
                record = MonthClose.objects.create(
                    month=month.first,
                    closed_by_id=user_id,
                    closed_by_email=email,
                    note=note,
                    snapshot=close_snapshot(close),
                )
        except IntegrityError:
            raise already from None
        audit_record(
            action="recon.month_closed",
            actor=actor,
            target=record,
            detail={"month": month.label, "note": note, **record.snapshot},
        )
    return record


def month_reopen(*, actor: Any, month: Month, note: str) -> MonthClose:
    """Reopen a closed month, saying why; the close stays on record."""
    note = _clean_note(note, required=True, to="reopen a month")
    with transaction.atomic():
        record = MonthClose.objects.select_for_update().filter(month=month.first, reopened_at__isnull=True).first()
        if record is None:
            raise ServiceError(f"{month.label} is not closed.", field="month", code="not_closed")
        user_id, email = _actor_fields(actor)
        record.reopened_by_id, record.reopened_by_email = user_id, email
        record.reopened_at = timezone.now()
        record.reopen_note = note
        record.save(update_fields=["reopened_by_id", "reopened_by_email", "reopened_at", "reopen_note"])
        audit_record(
            action="recon.month_reopened",
            actor=actor,
            target=record,
            detail={"month": month.label, "note": note, "closed_at": record.closed_at.isoformat()},
        )
    return record
