"""A tenant's own schedules: a reconciliation run or a sync, every N hours or daily at a local time.

Every MCP call is an audit event (``mcp_bridge.governance``), which is also what the per-tenant
rate limits count; the schedules are this app's only table. They are created and run through
``mcp_bridge.services`` (the ``schedule.*`` tools, the admin) and picked up by the platform's
minute tick in ``mcp_bridge.schedule``.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import models
from django.db.models import Q
from django.utils import timezone

from ecomops.models import TenantScopedModel

MAX_EVERY_HOURS = 24 * 7


class ScheduleKind(models.TextChoices):
    RECON = "recon.run", "Reconciliation run"
    SYNC = "sync", "Sync"


class ScheduleOutcome(models.TextChoices):
    NOT_RUN = "", "Not run yet"
    QUEUED = "queued", "Queued"
    FAILED = "failed", "Failed"


class Schedule(TenantScopedModel):
    """What to start (``kind``, over ``connection_ids`` or, empty, every enabled Stripe and Shopify
    connection), when (every ``every_hours`` hours, or daily at ``daily_at`` in ``time_zone``), and
    what its last run queued or why it queued nothing.

    Connections are kept as ids, not foreign keys: a deleted connection must not delete the
    schedule with it, but leave it to say why it no longer runs.
    """

    kind = models.CharField(max_length=16, choices=ScheduleKind.choices)
    connection_ids = models.JSONField(default=list, blank=True)
    every_hours = models.PositiveSmallIntegerField(null=True, blank=True)
    daily_at = models.TimeField(null=True, blank=True)
    time_zone = models.CharField(max_length=64, blank=True, default="")  # IANA name, with daily_at
    enabled = models.BooleanField(default=True)

    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_by_email = models.CharField(max_length=254, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    next_run_at = models.DateTimeField()
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=16, choices=ScheduleOutcome.choices, blank=True, default="")
    last_recon_run_id = models.UUIDField(null=True, blank=True)
    last_sync_job_ids = models.JSONField(default=list, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["next_run_at", "id"]
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="mcp_schedule_due")]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(every_hours__gte=1, every_hours__lte=MAX_EVERY_HOURS, daily_at__isnull=True, time_zone="")
                    | (Q(every_hours__isnull=True, daily_at__isnull=False) & ~Q(time_zone=""))
                ),
                name="mcp_schedule_every_hours_or_daily_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}, {self.when}"

    @property
    def when(self) -> str:
        if self.every_hours:
            return "every hour" if self.every_hours == 1 else f"every {self.every_hours} hours"
        return f"daily at {self.daily_at:%H:%M} {self.time_zone}"

    @property
    def next_run_local(self) -> str:
        """A daily schedule's next run on its own clock ("2026-11-28 06:00 Europe/Berlin"), as
        the person who set "daily at" reads it; empty for every-N-hours schedules."""
        if not self.time_zone or self.next_run_at is None:
            return ""
        return f"{self.next_run_at.astimezone(ZoneInfo(self.time_zone)):%Y-%m-%d %H:%M} {self.time_zone}"

    def due_after(self, moment: datetime) -> datetime:
        """The first time this schedule is due strictly after ``moment``.

        Every N hours counts elapsed time (a DST change does not move it). Daily at HH:MM is the
        wall-clock time in the schedule's zone, once per local day: on the day the clocks go
        forward past it, it runs when the clocks say the hour after (02:30 in a 02:00-03:00 gap
        is 03:30); on the day they go back over it, at its first occurrence only.
        """
        if self.every_hours:
            return moment + timedelta(hours=self.every_hours)
        return next_local_time(self.daily_at, ZoneInfo(self.time_zone), moment)

    def due_next(self, *, due: datetime, now: datetime) -> datetime:
        """The due time that follows ``due``, skipping the ones missed while nothing ran
        (a worker down for a day runs a daily schedule once, not once per missed day)."""
        following = self.due_after(due)
        if following <= now:
            if self.every_hours:
                missed = (now - due) // timedelta(hours=self.every_hours)
                following = due + timedelta(hours=self.every_hours) * (missed + 1)
            else:
                following = self.due_after(now)
        return following


def next_local_time(at: time, zone: ZoneInfo, moment: datetime) -> datetime:
    """The first instant after ``moment`` whose wall clock in ``zone`` shows ``at``, one per local day.

    ``zoneinfo`` resolves a local time in a gap or an overlap with ``fold=0``: a time that does not
    exist is read with the offset before the change (so it lands after the gap), a repeated time
    is its first occurrence.
    """
    local_day = moment.astimezone(zone).date()
    for day in (local_day, local_day + timedelta(days=1), local_day + timedelta(days=2)):
        candidate = datetime.combine(day, at, tzinfo=zone)
        if candidate.astimezone(ZoneInfo("UTC")) > moment:
            return candidate.astimezone(ZoneInfo("UTC"))
    raise AssertionError("a local time recurs within two days")  # pragma: no cover
