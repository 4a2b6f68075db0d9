"""Writes to a tenant's schedules: create, enable or disable, run now, and the run itself that the
minute tick (``mcp_bridge.schedule``) and "run now" share.

A schedule starts its work through the apps' own services, as a person would: a reconciliation
run (``recon.services.recon_run_start``) or syncs (``connections.sync.runner.sync_start``), with
the trigger ``schedule``. What that queued, or why it queued nothing, is kept on the schedule and
in its audit event; a failure is never raised out of a run, so one broken schedule cannot stop the
tick from reaching the others.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from django.db import transaction
from django.utils import timezone

from audit.models import Outcome
from audit.services import audit_record
from connections.models import PAYMENT_PROVIDERS, Connection, SyncJob, SyncJobStatus
from ecomops.tenancy import current_tenant_id
from mcp_bridge.models import MAX_EVERY_HOURS, Schedule, ScheduleKind, ScheduleOutcome
from tenants.services import ServiceError, parse_ids

logger = structlog.get_logger(__name__)

MAX_CONNECTIONS = 100
ADD_SCHEDULE = "mcp_bridge.add_schedule"
START_PERMISSIONS = {ScheduleKind.RECON: "recon.run_recon", ScheduleKind.SYNC: "connections.sync_connection"}
_TIME_OF_DAY = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def schedule_start_permission(kind: str) -> str:
    """The permission a user needs to create or run a schedule of ``kind``: that of what it starts."""
    return START_PERMISSIONS[ScheduleKind(kind)]


def schedule_may_start(*, actor: Any, kind: str) -> bool:
    """Whether ``actor`` may start what a schedule of ``kind`` starts, and so create one or run it now.

    ``None`` is the platform's own minute tick (``schedules_run_due``), not a person: a schedule
    once created runs when due whoever created it, as a person's queued work does after they left.
    """
    return actor is None or actor.has_perm(schedule_start_permission(kind))


def schedule_may_create(*, actor: Any) -> bool:
    """Whether ``actor`` may create schedules at all (``mcp_bridge.add_schedule``); what a new one
    would start needs its own permission besides (``schedule_may_start``). ``None``, the platform
    itself, is the only actor that needs none."""
    return actor is None or actor.has_perm(ADD_SCHEDULE)


def _refuse_unless_may_create(*, actor: Any) -> None:
    """The refusal of a person whose role does not allow creating schedules. The page, the API and
    the MCP tool check the same permission first; this keeps a new caller from skipping it."""
    if not schedule_may_create(actor=actor):
        raise ServiceError(
            f"Your role in this tenant does not allow creating schedules (needs {ADD_SCHEDULE}).",
            code="forbidden",
        )


def _refuse_unless_may_start(*, actor: Any, kind: str, field: str) -> None:
    """The one refusal of a person whose role does not allow what the schedule would start, said
    alike on the page, the API, the MCP tools and the admin (each maps ``code="forbidden"``)."""
    if not schedule_may_start(actor=actor, kind=kind):
        needed = schedule_start_permission(kind)
        raise ServiceError(
            f"Your role in this tenant does not allow starting a {ScheduleKind(kind).label.lower()} "
            f"(needs {needed}), which this schedule would start.",
            field=field,
            code="forbidden",
        )


# --------------------------------------------------------------------------- create


def _parse_time_zone(value: Any) -> str:
    name = str(value or "").strip()
    if not name:
        raise ServiceError("time_zone is required with daily_at (an IANA name, e.g. Europe/Berlin).", field="time_zone")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ServiceError(
            f"{name[:64]!r} is not a known IANA time zone (e.g. Europe/Berlin, America/New_York, UTC).",
            field="time_zone",
        ) from None
    return name


def _parse_daily_at(value: Any) -> time:
    match = _TIME_OF_DAY.match(str(value).strip()) if isinstance(value, str) else None
    if not match:
        raise ServiceError(f"{str(value)[:20]!r} is not a time of day: write HH:MM, 00:00 to 23:59.", field="daily_at")
    return time(int(match.group(1)), int(match.group(2)))


def _parse_every_hours(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EVERY_HOURS:
        raise ServiceError(f"must be a whole number of hours from 1 to {MAX_EVERY_HOURS}.", field="every_hours")
    return value


def _schedule_connections(connection_ids: list[Any]) -> list[str]:
    """The ids, each a Stripe or Shopify connection of this tenant that is enabled, in their order."""
    if len(connection_ids) > MAX_CONNECTIONS:
        raise ServiceError(f"give at most {MAX_CONNECTIONS} connections.", field="connection_ids")
    ids = list(dict.fromkeys(parse_ids(connection_ids, field="connection_ids", what="a connection id")))
    found = {
        c.pk: c
        for c in Connection.objects.filter(tenant_id=current_tenant_id(), provider__in=PAYMENT_PROVIDERS, pk__in=ids)
    }
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise ServiceError(
            f"No Stripe or Shopify connection {', '.join(missing)} in this tenant.",
            field="connection_ids",
            code="not_found",
        )
    disabled = [f"{found[i].name} ({i})" for i in ids if not found[i].enabled]
    if disabled:
        raise ServiceError(
            f"{', '.join(disabled)} {'is' if len(disabled) == 1 else 'are'} disabled; enable it first.",
            field="connection_ids",
        )
    return [str(i) for i in ids]


def schedule_create(
    *,
    actor: Any,
    kind: str,
    every_hours: int | None = None,
    daily_at: str | None = None,
    time_zone: str | None = None,
    connection_ids: list[Any] | None = None,
    now: datetime | None = None,
) -> Schedule:
    """A new enabled schedule, first due one period from ``now`` (the next HH:MM for a daily one).

    Every refusal names its field: a kind that is not ``recon.run`` or ``sync``; both or neither of
    ``every_hours`` and ``daily_at``; hours outside 1 to 168; a time that is not HH:MM; a missing or
    unknown IANA ``time_zone`` (or one given with ``every_hours``, where it would mean nothing); a
    connection that is not this tenant's Stripe or Shopify connection, or is disabled. A person
    whose role does not allow creating schedules is refused before anything is read
    (``forbidden``, on no field), and one whose role does not allow what the schedule would start
    next (``forbidden``, on ``kind``): there is no point in fixing the rest. ``actor=None`` is the
    platform itself, which needs neither permission.
    """
    _refuse_unless_may_create(actor=actor)
    if kind not in ScheduleKind.values:
        kinds = ", ".join(ScheduleKind.values)
        raise ServiceError(f"{str(kind)[:40]!r} is not a kind: use one of {kinds}.", field="kind")
    _refuse_unless_may_start(actor=actor, kind=kind, field="kind")
    if every_hours is not None and daily_at is not None:
        raise ServiceError("give every_hours or daily_at, not both.", field="daily_at")
    if every_hours is None and daily_at is None:
        raise ServiceError(
            "give every_hours (1 to 168) or daily_at (HH:MM, with time_zone).", field="every_hours", code="required"
        )
    if every_hours is not None:
        if time_zone:
            raise ServiceError("time_zone goes with daily_at; every_hours counts elapsed time.", field="time_zone")
        schedule = Schedule(kind=kind, every_hours=_parse_every_hours(every_hours))
    else:
        at = _parse_daily_at(daily_at)
        schedule = Schedule(kind=kind, daily_at=at, time_zone=_parse_time_zone(time_zone))
    schedule.connection_ids = _schedule_connections(list(connection_ids or []))
    now = now or timezone.now()
    schedule.created_at = now
    schedule.next_run_at = schedule.due_after(now)
    if actor is not None and getattr(actor, "is_authenticated", False):
        schedule.created_by_id, schedule.created_by_email = actor.pk, actor.email
    with transaction.atomic():
        schedule.save()
        audit_record(action="schedule.created", actor=actor, target=schedule, detail=_describe(schedule))
    return schedule


def _describe(schedule: Schedule) -> dict[str, Any]:
    return {
        "kind": schedule.kind,
        "when": schedule.when,
        "connections": schedule.connection_ids,
        "next_run_at": schedule.next_run_at.isoformat(),
    }


# --------------------------------------------------------------------------- enable, disable


def schedule_set_enabled(*, schedule: Schedule, actor: Any, enabled: bool, now: datetime | None = None) -> Schedule:
    """Turn a schedule on or off. Turned back on, it is next due from now: the times it missed
    while off are not made up."""
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().get(pk=schedule.pk)
        if schedule.enabled == enabled:
            return schedule
        schedule.enabled = enabled
        if enabled:
            schedule.next_run_at = schedule.due_after(now or timezone.now())
        schedule.save(update_fields=["enabled", "next_run_at"])
        audit_record(
            action="schedule.enabled" if enabled else "schedule.disabled",
            actor=actor,
            target=schedule,
            detail=_describe(schedule),
        )
    return schedule


# --------------------------------------------------------------------------- running


@dataclass
class Started:
    """What one run of a schedule queued, and what stopped it from queueing (more)."""

    recon_run_id: uuid.UUID | None = None
    sync_job_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # connections already syncing: nothing added


def _connections_for_run(schedule: Schedule, started: Started) -> list[Connection]:
    """The schedule's connections as they are now; the deleted and the disabled ones go to ``errors``."""
    queryset = Connection.objects.filter(tenant_id=schedule.tenant_id, provider__in=PAYMENT_PROVIDERS)
    if not schedule.connection_ids:
        connections = list(queryset.filter(enabled=True).order_by("name", "pk"))
        if not connections:
            started.errors.append("This tenant has no enabled Stripe or Shopify connection.")
        return connections
    found = {str(c.pk): c for c in queryset.filter(pk__in=schedule.connection_ids)}
    usable = []
    for connection_id in schedule.connection_ids:
        connection = found.get(connection_id)
        if connection is None:
            started.errors.append(f"Connection {connection_id} no longer exists.")
        elif not connection.enabled:
            started.errors.append(f"Connection {connection.name} ({connection_id}) is disabled.")
        else:
            usable.append(connection)
    return usable


def _start_recon(schedule: Schedule, *, actor: Any, started: Started) -> None:
    from recon.models import RunTrigger
    from recon.services import recon_run_start

    connections = _connections_for_run(schedule, started)
    if started.errors:  # a run over fewer connections than the schedule names would look complete
        return
    run = recon_run_start(
        actor=actor,
        trigger=RunTrigger.SCHEDULE,
        connection_ids=[c.pk for c in connections] if schedule.connection_ids else None,
    )
    started.recon_run_id = run.pk


def _start_syncs(schedule: Schedule, *, actor: Any, started: Started) -> None:
    from connections.sync.runner import sync_start

    connections = _connections_for_run(schedule, started)
    # A full sync still queued or running reads everything a new one would: queueing another
    # behind it (every hour, for a sync that takes two) would only pile them up.
    busy = set(
        SyncJob.objects.filter(connection__in=connections, status__in=[SyncJobStatus.QUEUED, SyncJobStatus.RUNNING])
        .exclude(kind="targeted")
        .values_list("connection_id", flat=True)
    )
    for connection in connections:
        if connection.pk in busy:
            started.skipped.append(str(connection.pk))
            continue
        try:
            with transaction.atomic():
                job = sync_start(connection=connection, actor=actor, trigger="schedule")
        except ServiceError as exc:
            started.errors.append(f"Connection {connection.name} ({connection.pk}): {exc}")
        else:
            started.sync_job_ids.append(str(job.pk))


def _start(schedule: Schedule, *, actor: Any) -> Started:
    """Queue the schedule's work in a savepoint: whatever fails is undone and said, never raised."""
    started = Started()
    try:
        with transaction.atomic():
            if schedule.kind == ScheduleKind.RECON:
                _start_recon(schedule, actor=actor, started=started)
            else:
                _start_syncs(schedule, actor=actor, started=started)
    except ServiceError as exc:
        started = Started(errors=[str(exc)])
    except Exception:
        logger.exception("schedule_run_failed", schedule_id=str(schedule.pk))
        started = Started(errors=["An internal error stopped this run; nothing was queued (see the logs)."])
    return started


def _record(schedule: Schedule, started: Started, *, actor: Any, now: datetime, due_at: datetime | None) -> None:
    """Keep what the run queued on the schedule and in its audit event."""
    schedule.last_run_at = now
    schedule.last_outcome = ScheduleOutcome.FAILED if started.errors else ScheduleOutcome.QUEUED
    schedule.last_recon_run_id = started.recon_run_id
    schedule.last_sync_job_ids = started.sync_job_ids
    schedule.last_error = " ".join(started.errors)[:2000]
    schedule.save(
        update_fields=[
            "next_run_at",
            "last_run_at",
            "last_outcome",
            "last_recon_run_id",
            "last_sync_job_ids",
            "last_error",
        ]
    )
    audit_record(
        action="schedule.ran",
        actor=actor,
        actor_kind=None if actor is not None else "schedule",
        target=schedule,
        outcome=Outcome.FAILURE if started.errors else Outcome.SUCCESS,
        detail={
            "kind": schedule.kind,
            "due_at": due_at.isoformat() if due_at else "",  # empty: run now, by hand
            "recon_run": str(started.recon_run_id or ""),
            "sync_jobs": started.sync_job_ids,
            "skipped_busy": started.skipped,
            "error": schedule.last_error,
            "next_run_at": schedule.next_run_at.isoformat(),
        },
    )


def schedules_run_due(*, now: datetime | None = None, limit: int = 1000) -> list[Schedule]:
    """Run the current tenant's schedules that are due at ``now``, each in its own transaction.

    Each is claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` and moved to its next due time in
    the transaction that queues its work: a second worker's tick skips the row while the first
    holds it and, once that commits, no longer finds it due. So a due time runs once, however
    many ticks overlap. One row per transaction: no tick ever holds two locks, so no lock order is
    needed to avoid deadlocks, and each commit hands its work to the queue at once.
    """
    now = now or timezone.now()
    ran = []
    for _ in range(limit):
        with transaction.atomic():
            schedule = (
                Schedule.objects.select_for_update(skip_locked=True)
                .filter(tenant_id=current_tenant_id(), enabled=True, next_run_at__lte=now)
                .order_by("next_run_at", "pk")
                .first()
            )
            if schedule is None:
                break
            due_at = schedule.next_run_at
            schedule.next_run_at = schedule.due_next(due=due_at, now=now)
            started = _start(schedule, actor=None)
            _record(schedule, started, actor=None, now=now, due_at=due_at)
        ran.append(schedule)
    return ran


def schedule_run_now(*, schedule: Schedule, actor: Any, now: datetime | None = None) -> Schedule:
    """Queue the schedule's work now, as its tick would; its next due time stays where it was.

    A disabled schedule runs too: running it by hand is how one tries it before enabling it. A
    person whose role does not allow what it starts is refused (``forbidden``) and nothing of the
    attempt is kept: it did not run.
    """
    _refuse_unless_may_start(actor=actor, kind=schedule.kind, field="schedule")
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().get(pk=schedule.pk)
        started = _start(schedule, actor=actor)
        _record(schedule, started, actor=actor, now=now or timezone.now(), due_at=None)
    return schedule
