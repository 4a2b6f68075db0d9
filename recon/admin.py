"""The finance console's reconciliation: runs, payout statuses (re-run from here) and the
exceptions queue (acknowledge, resolve with a note). Data is written by services only."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from ecomops.admin_site import ReadOnlyTenantAdmin
from recon.models import MonthClose, ReconException, ReconPayout, ReconRun, RunTrigger
from recon.selectors import with_history
from recon.services import exception_bulk, recon_run_start
from tenants.services import ServiceError


@admin.register(ReconRun)
class ReconRunAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "queued_at",
        "status",
        "trigger",
        "mode",
        "requested_by_email",
        "payouts_evaluated",
        "payouts_with_exceptions",
        "exceptions_opened",
        "exceptions_auto_resolved",
        "open_exceptions",
        "duration_ms",
        "stale_reason",
    ]
    list_filter = ["status", "trigger", "mode"]
    search_fields = ["id", "requested_by_email", "stale_reason", "error_message"]
    date_hierarchy = "queued_at"


@admin.register(MonthClose)
class MonthCloseAdmin(ReadOnlyTenantAdmin):
    """Closed months on record (closing and reopening are done on the Month close page or the API)."""

    list_display = ["month", "closed_at", "closed_by_email", "note", "reopened_at", "reopened_by_email", "reopen_note"]
    search_fields = ["closed_by_email", "note", "reopen_note"]
    date_hierarchy = "closed_at"


class ExceptionActionForm(ActionForm):
    note = forms.CharField(required=False, label="Note", help_text="Required to resolve.")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The service refuses a NUL in a note by name; the form's own check would make the
        # admin say "No action selected." instead.
        self.fields["note"].validators = []


@admin.register(ReconException)
class ReconExceptionAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "reason",
        "subject_ref",
        "payout",
        "state",
        "expected_minor",
        "expected_currency",
        "actual_minor",
        "actual_currency",
        "message",
        "note",
        "last_seen_at",
    ]
    list_filter = ["state", "reason", "subject_type", "resolved_by_kind"]
    search_fields = ["subject_ref", "payout__source_id", "note", "system_note"]
    list_select_related = ["payout", "connection"]
    readonly_fields = ["history"]
    action_form = ExceptionActionForm
    actions = ["acknowledge_selected", "resolve_selected"]

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None):
        """The exception with its ``history`` (every state change and note, from the audit trail)."""
        exception = super().get_object(request, object_id, from_field)
        return with_history(user=request.user, exceptions=[exception])[0] if exception is not None else None

    @admin.display(description="History")
    def history(self, obj: ReconException) -> str:
        entries = getattr(obj, "history", None)
        if not entries:
            return "No state change yet."
        # The template escapes every note and email itself.
        return mark_safe(render_to_string("recon/_exception_history.html", {"history": entries}))  # noqa: S308

    @admin.action(description="Acknowledge the selected exceptions", permissions=["work"])
    def acknowledge_selected(self, request: HttpRequest, queryset) -> None:
        self._act(request, queryset, "acknowledge")

    @admin.action(description="Resolve the selected exceptions (with the note)", permissions=["work"])
    def resolve_selected(self, request: HttpRequest, queryset) -> None:
        self._act(request, queryset, "resolve")

    def _act(self, request: HttpRequest, queryset, action: str) -> None:
        """In batches of the service's 1000, each its own transaction: "select all" on a large
        queue changes every row, and says how many if a later batch fails."""
        note = request.POST.get("note", "")
        ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        changed = skipped = 0
        for start in range(0, len(ids), 1000):
            try:
                result = exception_bulk(actor=request.user, ids=ids[start : start + 1000], action=action, note=note)
            except ServiceError as exc:
                done = f" ({changed} {action}d before it)" if changed else ""
                self.message_user(request, f"{exc}{done}", messages.ERROR)
                return
            changed += len(result.changed)
            skipped += len(result.skipped)
        self.message_user(request, f"{changed} exception(s) {action}d.")
        if skipped:
            self.message_user(request, f"{skipped} skipped (already in that state).", messages.WARNING)

    def has_work_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("recon.work_exception")


@admin.register(ReconPayout)
class ReconPayoutAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "payout",
        "status",
        "currency",
        "payout_amount_minor",
        "lines_total_minor",
        "difference_minor",
        "line_count",
        "open_exceptions",
        "evaluated_at",
    ]
    list_filter = ["status", "currency"]
    search_fields = ["payout__source_id"]
    list_select_related = ["payout"]
    actions = ["rerun_selected"]

    @admin.action(description="Re-run reconciliation of the selected payouts", permissions=["run"])
    def rerun_selected(self, request: HttpRequest, queryset) -> None:
        payout_ids = [str(pk) for pk in queryset.values_list("payout_id", flat=True)]
        if not payout_ids:  # an empty scope would be a run over every payout
            self.message_user(request, "None of the selected payouts exist any more; nothing was run.", messages.ERROR)
            return
        try:
            run = recon_run_start(actor=request.user, trigger=RunTrigger.ADMIN, payout_ids=payout_ids)
        except ServiceError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"Reconciliation of {len(payout_ids)} payout(s) queued (run {run.pk}).")

    def has_run_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("recon.run_recon")
