"""Reconciliation: runs, the status of each payout, the exceptions people work through,
and the change log that keeps the engine incremental.

Every model is tenant data (``TenantScopedModel``: uuid key, ``tenant_id``, row-level
security installed by ``ecomops.apps``). Rows are written by ``recon.services`` and the
set-based engine in ``recon.engine``; people only change an exception's state and note.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import BigIntegerField, Case, CharField, F, Q, Value, When
from django.db.models.functions import Abs, Coalesce, NullIf
from django.utils import timezone

from ecomops.models import TenantScopedModel


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    # The run evaluated everything but read a source that is failing or out of date: its
    # results must not be taken as "all reconciled" (DESIGN §5, never green on stale data).
    STALE = "stale", "Stale data"
    FAILED = "failed", "Failed"


class RunTrigger(models.TextChoices):
    SYNC = "sync", "After a sync"
    API = "api", "API"
    ADMIN = "admin", "Admin action"
    COMMAND = "command", "manage.py recon"
    MCP = "mcp", "MCP tool"
    PAGE = "page", "Console page"
    SCHEDULE = "schedule", "Schedule"
    BENCH = "bench", "Benchmark"


class RunMode(models.TextChoices):
    FULL = "full", "Full: every payout of the connections in scope"
    INCREMENTAL = "incremental", "Incremental: only what changed since the last run"
    TARGETED = "targeted", "Targeted: the payouts (or dates) asked for"


# What a run counted: the engine's result (``recon.engine.EngineResult``) under the same
# names, copied onto the run and shown by the API.
RUN_COUNTS = (
    "payouts_evaluated",
    "payouts_reconciled",
    "payouts_with_exceptions",
    "payouts_pending",
    "lines_evaluated",
    "exceptions_opened",
    "exceptions_updated",
    "exceptions_reopened",
    "exceptions_auto_resolved",
    "open_exceptions",
    "exceptions_by_reason",
)


class ReconRun(TenantScopedModel):
    """One reconciliation run: what started it, what it covered, what it found, how long it took.

    Scope: ``connection_ids`` (empty = every payment connection of the tenant), and either
    ``payout_ids`` (canonical payout ids) or a date range on the payouts' arrival date; with
    neither, the engine re-evaluates what changed since the last run (or everything, the
    first time). ``freshness`` records, per connection read, its last successful and failed
    sync and whether it was within the tenant's freshness window.
    """

    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices)
    mode = models.CharField(max_length=16, choices=RunMode.choices, blank=True, default="")
    requested_by_id = models.BigIntegerField(null=True, blank=True)  # tenants.User id; None for the system
    requested_by_email = models.CharField(max_length=254, blank=True, default="")
    sync_job_id = models.UUIDField(null=True, blank=True)  # the sync that triggered it, if any
    correlation_id = models.CharField(max_length=100, blank=True, default="")

    connection_ids = models.JSONField(default=list, blank=True)
    payout_ids = models.JSONField(default=list, blank=True)
    date_from = models.DateField(null=True, blank=True)
    date_to = models.DateField(null=True, blank=True)

    payouts_evaluated = models.PositiveIntegerField(default=0)
    payouts_reconciled = models.PositiveIntegerField(default=0)
    payouts_with_exceptions = models.PositiveIntegerField(default=0)
    payouts_pending = models.PositiveIntegerField(default=0)
    lines_evaluated = models.PositiveIntegerField(default=0)
    exceptions_opened = models.PositiveIntegerField(default=0)
    exceptions_updated = models.PositiveIntegerField(default=0)
    exceptions_reopened = models.PositiveIntegerField(default=0)
    exceptions_auto_resolved = models.PositiveIntegerField(default=0)
    open_exceptions = models.PositiveIntegerField(default=0)  # open + acknowledged in the tenant after the run
    exceptions_by_reason = models.JSONField(default=dict, blank=True)  # what this run found, per reason

    freshness = models.JSONField(default=list, blank=True)
    # [[step, milliseconds], ...]: where the run's time went (engine statements, commit), for ops
    step_timings = models.JSONField(default=list, blank=True)
    stale_reason = models.TextField(blank=True, default="")
    error_message = models.TextField(blank=True, default="")

    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at"]
        indexes = [models.Index(fields=["tenant_id", "-queued_at"], name="reconrun_tenant_time")]
        permissions = [("run_recon", "Start a reconciliation run")]

    def __str__(self) -> str:
        return f"recon run {self.pk} {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in (RunStatus.COMPLETED, RunStatus.STALE, RunStatus.FAILED)


class PayoutStatus(models.TextChoices):
    RECONCILED = "reconciled", "Reconciled"
    EXCEPTIONS = "exceptions", "Exceptions"
    PENDING = "pending", "Pending"


class ReconPayout(TenantScopedModel):
    """Where one payout stands: reconciled, with exceptions to work, or pending (not paid yet).

    ``lines_total_minor`` is the sum of its lines' net, its own payout line excluded;
    ``difference_minor`` is the payout amount minus that (None when it has no lines).
    """

    payout = models.OneToOneField("canonical.Payout", on_delete=models.CASCADE, related_name="recon")
    connection = models.ForeignKey("connections.Connection", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=PayoutStatus.choices)
    currency = models.CharField(max_length=3)
    payout_amount_minor = models.BigIntegerField()
    lines_total_minor = models.BigIntegerField(null=True, blank=True)
    difference_minor = models.BigIntegerField(null=True, blank=True)
    line_count = models.PositiveIntegerField(default=0)
    open_exceptions = models.PositiveIntegerField(default=0)  # open + acknowledged
    evaluated_at = models.DateTimeField()
    last_run = models.ForeignKey(ReconRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-evaluated_at"]
        indexes = [models.Index(fields=["tenant_id", "status"], name="reconpayout_status")]

    def __str__(self) -> str:
        return f"{self.payout_id} {self.status}"


class Reason(models.TextChoices):
    """Why something did not reconcile. Each maps to one rule of DESIGN §5 (see recon.engine)."""

    PAYOUT_TOTAL_MISMATCH = "payout_total_mismatch", "Payout does not equal the sum of its lines"
    LINE_NET_MISMATCH = "line_net_mismatch", "Line net is not amount minus fee"
    LINE_FEE_MISMATCH = "line_fee_mismatch", "Line fee is not the sum of its fee details"
    LINE_UNMATCHED = "line_unmatched", "Line's payment, refund or dispute is missing"
    LINE_AMOUNT_MISMATCH = "line_amount_mismatch", "Line amount differs from its payment or refund"
    CURRENCY_MISMATCH = "currency_mismatch", "Currencies disagree with no exchange rate"
    PAYMENT_WITHOUT_ORDER = "payment_without_order", "Payment without an order"
    AMOUNT_MISMATCH = "amount_mismatch", "Payments differ from the order total beyond tolerance"
    ORDER_UNPAID = "order_unpaid", "Paid order in no payout after the grace period"
    REFUND_WITHOUT_PAYMENT = "refund_without_payment", "Refund without its payment"
    DISPUTE_OPEN = "dispute_open", "Dispute still open"
    PAYOUT_FAILED = "payout_failed", "Payout failed or was canceled"
    PAYOUT_REVERSED = "payout_reversed", "Payout was reversed"
    MANUAL_PAYOUT_UNITEMIZED = "manual_payout_unitemized", "Manual or instant payout cannot be itemized"


def reason_label(code: str) -> str:
    """A reason code as a controller reads it ("Payout failed or was canceled"); an unknown one as is."""
    return Reason(code).label if code in Reason.values else code


class SubjectType(models.TextChoices):
    PAYOUT = "payout", "Payout"
    PAYOUT_LINE = "payout_line", "Payout line"
    PAYMENT = "payment", "Payment"
    ORDER = "order", "Order"
    REFUND = "refund", "Refund"
    DISPUTE = "dispute", "Dispute"


class ExceptionState(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


# An exception a person still has to deal with.
OPEN_STATES = (ExceptionState.OPEN, ExceptionState.ACKNOWLEDGED)


# The amounts of an exception known in one currency: both, and the difference is at stake.
_ONE_CURRENCY = Q(expected_minor__isnull=False, actual_minor__isnull=False) & (
    Q(expected_currency=F("actual_currency")) | Q(expected_currency="") | Q(actual_currency="")
)


class ReconExceptionQuerySet(models.QuerySet):
    def with_at_stake(self) -> ReconExceptionQuerySet:
        """Each exception with what it puts at stake, ``at_stake_minor`` in ``at_stake_currency``:
        the difference when both amounts are known in one currency (``difference_minor``), else
        the amount that is known, else 0 with no currency. The queue sorts by it and shows it."""
        return self.annotate(
            at_stake_minor=Coalesce(
                Case(When(_ONE_CURRENCY, then=Abs(F("actual_minor") - F("expected_minor")))),
                Abs(F("expected_minor")),
                Abs(F("actual_minor")),
                Value(0),
                output_field=BigIntegerField(),
            ),
            at_stake_currency=Case(
                When(_ONE_CURRENCY, then=Coalesce(NullIf(F("expected_currency"), Value("")), F("actual_currency"))),
                When(expected_minor__isnull=False, then=F("expected_currency")),
                When(actual_minor__isnull=False, then=F("actual_currency")),
                default=Value(""),
                output_field=CharField(),
            ),
        )


class ReconException(TenantScopedModel):
    """Something that does not reconcile, kept until its cause is gone or a person resolves it.

    One row per (reason, subject): re-runs update it rather than add another. The engine
    writes the machine fields (amounts, objects involved, detail, last seen); a person writes the
    state and ``note``. When the cause disappears the engine resolves it itself
    (``resolved_by_kind = "system"``, ``system_note = "cause gone (run …)"``) and reopens
    it if the cause comes back; it never touches ``note`` nor an acknowledged or
    person-resolved state while the cause persists, unless it grows: a person-resolved one
    whose difference becomes larger is reopened, with the amounts the person saw in
    ``system_note``.
    """

    objects = ReconExceptionQuerySet.as_manager()

    reason = models.CharField(max_length=40, choices=Reason.choices)
    subject_type = models.CharField(max_length=16, choices=SubjectType.choices)
    subject_id = models.UUIDField()  # the canonical row the exception is about
    subject_ref = models.CharField(max_length=255, blank=True, default="")  # its source id (po_…, ch_…, GID)
    # Few indexes and no database-level foreign keys, on purpose: a full run may open ~100k
    # exceptions in one transaction, and Django's deferred FK checks (four per row, at commit)
    # cost about a second there. The engine writes ids it has just read in the same
    # transaction, and deletions go through Django, which applies on_delete itself.
    payout = models.ForeignKey(
        "canonical.Payout",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="recon_exceptions",
        db_constraint=False,
    )
    connection = models.ForeignKey(
        "connections.Connection", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    involved = models.JSONField(default=list, blank=True)  # [{"type", "id", "source_id"}] the objects involved
    expected_minor = models.BigIntegerField(null=True, blank=True)
    expected_currency = models.CharField(max_length=3, blank=True, default="")
    actual_minor = models.BigIntegerField(null=True, blank=True)
    actual_currency = models.CharField(max_length=3, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)  # reason-specific facts (failure code, line ids, ...)
    occurred_on = models.DateField(null=True, blank=True)  # the subject's own date (payout arrival, order date)

    state = models.CharField(max_length=16, choices=ExceptionState.choices, default=ExceptionState.OPEN)
    state_changed_at = models.DateTimeField(default=timezone.now)
    acknowledged_by_id = models.BigIntegerField(null=True, blank=True)
    acknowledged_by_email = models.CharField(max_length=254, blank=True, default="")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by_kind = models.CharField(max_length=16, blank=True, default="")  # user / system
    resolved_by_id = models.BigIntegerField(null=True, blank=True)
    resolved_by_email = models.CharField(max_length=254, blank=True, default="")
    resolved_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, default="")  # a person's; the engine never writes it
    system_note = models.TextField(blank=True, default="")  # the engine's

    first_seen_run = models.ForeignKey(
        ReconRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    last_seen_run = models.ForeignKey(
        ReconRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_seen_at", "reason"]
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "reason", "subject_id"], name="one_exception_per_cause")
        ]
        indexes = [
            models.Index(fields=["tenant_id", "state", "reason"], name="reconexc_state"),
        ]
        permissions = [("work_exception", "Acknowledge and resolve reconciliation exceptions")]

    def __str__(self) -> str:
        return f"{self.reason} {self.subject_ref or self.subject_id} ({self.state})"

    @property
    def message(self) -> str:
        """The exception in words, with amounts in major units."""
        from recon.messages import exception_message

        return exception_message(self)

    @property
    def difference_minor(self) -> int | None:
        """Actual minus expected, when both are amounts in the same currency."""
        if self.expected_minor is None or self.actual_minor is None:
            return None
        if self.expected_currency and self.actual_currency and self.expected_currency != self.actual_currency:
            return None
        return self.actual_minor - self.expected_minor


class ReconChange(TenantScopedModel):
    """What changed in the canonical tables since the engine last looked, written by the database.

    Statement-level triggers on the canonical tables (``recon.changes``) append one row per
    statement, connection and kind with the source ids whose content changed; the engine
    reads these rows to re-evaluate only what they touch, then deletes exactly the rows it
    read. Not written by application code.
    """

    connection_id = models.UUIDField()
    kind = models.CharField(max_length=16)  # payout, payment, order, refund, dispute
    keys = ArrayField(models.TextField())
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["tenant_id", "connection_id"], name="reconchange_connection")]

    def __str__(self) -> str:
        return f"{self.kind} x{len(self.keys)} on {self.connection_id}"


class ReconState(TenantScopedModel):
    """Per connection: whether the engine has a baseline, and the settings it was taken with.

    A connection without a state gets a full evaluation; so does one whose tenant settings
    (tolerance, grace period) changed since. ``unpaid_cutoff`` is the creation time before
    which paid orders were last checked for a payout, so the next run checks only the orders
    that have aged past the grace period since.
    """

    connection = models.OneToOneField("connections.Connection", on_delete=models.CASCADE, related_name="recon_state")
    settings_fingerprint = models.CharField(max_length=64)
    unpaid_cutoff = models.DateTimeField(null=True, blank=True)
    baseline_run = models.ForeignKey(ReconRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"recon state of {self.connection_id}"


class MonthClose(TenantScopedModel):
    """A month a person closed: when, by whom, and what its close checklist said then.

    A month can be closed only when every item of its checklist holds (``recon.close``). The
    snapshot keeps the payouts and totals as they were, so that a later change (a payout that
    fails days after it was paid, an exception found afterwards) shows against the closed
    figures. Reopening keeps the row, with who reopened it and why; the month may then be
    closed again (a new row).
    """

    month = models.DateField()  # its first day
    closed_by_id = models.BigIntegerField(null=True, blank=True)  # tenants.User id
    closed_by_email = models.CharField(max_length=254, blank=True, default="")
    closed_at = models.DateTimeField(default=timezone.now)
    note = models.TextField(blank=True, default="")
    snapshot = models.JSONField(default=dict, blank=True)  # payouts, totals and checks at close
    reopened_by_id = models.BigIntegerField(null=True, blank=True)
    reopened_by_email = models.CharField(max_length=254, blank=True, default="")
    reopened_at = models.DateTimeField(null=True, blank=True)
    reopen_note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-month", "-closed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "month"],
                condition=models.Q(reopened_at__isnull=True),
                name="one_close_per_month",
            )
        ]
        permissions = [("close_month", "Close and reopen a month")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} closed {self.closed_at:%Y-%m-%d} by {self.closed_by_email or 'system'}"
