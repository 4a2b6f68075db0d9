"""The console's view of the tenant's schedules: listed with what their last run queued, added,
turned on or off, or run now. Every write goes through ``mcp_bridge.services`` (its checks, its
refusals, its audit events), as from the page, the API and the MCP tools; a schedule once made is
not edited here, only turned on or off."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from connections import selectors as connection_selectors
from connections.models import PAYMENT_PROVIDERS
from ecomops.admin_site import ReadOnlyTenantAdmin, ServiceFormMixin, ServiceRefusal
from mcp_bridge.models import MAX_EVERY_HOURS, Schedule, ScheduleKind
from mcp_bridge.services import (
    schedule_create,
    schedule_may_create,
    schedule_may_start,
    schedule_run_now,
    schedule_set_enabled,
)
from tenants.services import ServiceError

ADD_FIELDS = ["kind", "every_hours", "daily_at", "time_zone", "connection_ids"]


class ScheduleAddForm(forms.ModelForm):
    """What a person types for a new schedule, read into ``schedule_create``'s arguments and no
    more: what a schedule may be is the service's to say, and its refusal is shown on the field
    it names (as on the page, whose form this follows)."""

    # Set per request by ScheduleAdmin.get_form: the connections to offer, and the service's
    # refusal of the first attempt.
    connection_choices: list[tuple[str, str]] = []
    service_error: ServiceError | None = None

    kind = forms.ChoiceField(label="What to start", choices=ScheduleKind.choices)
    every_hours = forms.CharField(
        label="Every (hours)",
        required=False,
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_EVERY_HOURS, "inputmode": "numeric"}),
        help_text=f"1 to {MAX_EVERY_HOURS}. Or leave it empty and give a daily time below.",
    )
    daily_at = forms.CharField(
        label="Daily at",
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "HH:MM", "size": 5}),
        help_text="HH:MM, on the clock of the time zone below.",
    )
    time_zone = forms.CharField(
        label="Time zone",
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"placeholder": "Europe/Berlin", "autocomplete": "off"}),
        help_text="An IANA name, with a daily time only.",
    )
    connection_ids = forms.MultipleChoiceField(
        label="Connections",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every enabled Stripe and Shopify connection when it runs.",
    )

    class Meta:
        model = Schedule
        fields = ADD_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["connection_ids"].choices = self.connection_choices

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        error = self.service_error
        if error is not None:
            self.add_error(error.field if error.field in self.fields else None, str(error))
        return data

    def _post_clean(self) -> None:
        # No model validation: the fields are typed text until the service reads them, and the
        # service alone says what a schedule may be (a model check would answer the same mistake
        # in other words than the page, the API and the MCP tools).
        pass

    def service_arguments(self) -> dict[str, Any]:
        """The cleaned form as ``schedule_create``'s keyword arguments: an empty field is not
        given; hours typed as a number are sent as one, anything else as typed, for the service
        to refuse next to its field."""
        data = self.cleaned_data
        hours = data["every_hours"].strip()
        return {
            "kind": data["kind"],
            "every_hours": (int(hours) if hours.isdigit() else hours) if hours else None,
            "daily_at": data["daily_at"].strip() or None,
            "time_zone": data["time_zone"].strip() or None,
            "connection_ids": data["connection_ids"],
        }


@admin.register(Schedule)
class ScheduleAdmin(ServiceFormMixin, ReadOnlyTenantAdmin):
    list_display = [
        "kind",
        "when",
        "connection_ids",
        "enabled",
        "next_run_at",
        "last_run_at",
        "last_outcome",
        "last_recon_run_id",
        "last_sync_job_ids",
        "last_error",
        "created_by_email",
    ]
    list_filter = ["kind", "enabled", "last_outcome"]
    search_fields = ["id", "created_by_email", "last_error"]
    date_hierarchy = "next_run_at"
    actions = ["enable_selected", "disable_selected", "run_selected_now"]

    @admin.display(description="When")
    def when(self, obj: Schedule) -> str:
        return obj.when

    @admin.action(description="Enable the selected schedules", permissions=["toggle"])
    def enable_selected(self, request: HttpRequest, queryset) -> None:
        self._toggle(request, queryset, enabled=True)

    @admin.action(description="Disable the selected schedules", permissions=["toggle"])
    def disable_selected(self, request: HttpRequest, queryset) -> None:
        self._toggle(request, queryset, enabled=False)

    def _toggle(self, request: HttpRequest, queryset, *, enabled: bool) -> None:
        for schedule in queryset.order_by("pk"):
            schedule_set_enabled(schedule=schedule, actor=request.user, enabled=enabled)
        self.message_user(request, f"{queryset.count()} schedule(s) {'enabled' if enabled else 'disabled'}.")

    @admin.action(description="Run the selected schedules now", permissions=["view"])
    def run_selected_now(self, request: HttpRequest, queryset) -> None:
        for schedule in queryset.order_by("pk"):
            try:
                ran = schedule_run_now(schedule=schedule, actor=request.user)
            except ServiceError as exc:  # the role may not start what this one starts: the others still run
                self.message_user(request, f"{schedule}: {exc}", messages.ERROR)
                continue
            if ran.last_error:
                self.message_user(request, f"{ran}: {ran.last_error}", messages.ERROR)
            else:
                queued = f"run {ran.last_recon_run_id}" if ran.last_recon_run_id else ""
                queued = queued or f"{len(ran.last_sync_job_ids)} sync(s)"
                self.message_user(request, f"{ran}: {queued} queued.")

    def has_toggle_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("mcp_bridge.change_schedule")

    # ------------------------------------------------------------------ adding one

    def has_add_permission(self, request: HttpRequest) -> bool:
        # The service's own checks: creating schedules, and starting at least one kind of work (a
        # role that may start neither could only be refused whatever it chose).
        user = request.user
        return schedule_may_create(actor=user) and any(
            schedule_may_start(actor=user, kind=kind) for kind in ScheduleKind.values
        )

    def get_fields(self, request: HttpRequest, obj: Schedule | None = None) -> list[str]:
        return list(ADD_FIELDS) if obj is None else super().get_fields(request, obj)

    def get_form(self, request: HttpRequest, obj: Schedule | None = None, change: bool = False, **kwargs: Any):
        if obj is not None:
            return super().get_form(request, obj, change=change, **kwargs)  # the read-only view
        form = super().get_form(request, obj, change=change, form=ScheduleAddForm, **kwargs)
        enabled = connection_selectors.connection_list(user=request.user).filter(
            provider__in=PAYMENT_PROVIDERS, enabled=True
        )
        form.connection_choices = [(str(c.pk), f"{c.name} ({c.get_provider_display()})") for c in enabled]
        form.service_error = self.service_error(request)  # shown on the field it names
        return form

    def save_model(self, request: HttpRequest, obj: Schedule, form: ScheduleAddForm, change: bool) -> None:
        # Only an add reaches here: without the change permission Django refuses a change's POST.
        try:
            schedule = schedule_create(actor=request.user, **form.service_arguments())
        except ServiceError as exc:
            raise ServiceRefusal(exc) from exc
        obj.pk = schedule.pk
        obj.refresh_from_db()  # as created, for the admin's log entry and message
