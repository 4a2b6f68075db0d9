"""The console's view of the tenant's schedules: listed with what their last run queued, turned on
or off, or run now. They are created with the ``schedule.create`` MCP tool (``mcp_bridge.services``)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest

from ecomops.admin_site import ReadOnlyTenantAdmin
from mcp_bridge.models import Schedule
from mcp_bridge.services import schedule_run_now, schedule_set_enabled
from tenants.services import ServiceError


@admin.register(Schedule)
class ScheduleAdmin(ReadOnlyTenantAdmin):
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
