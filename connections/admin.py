from django.contrib import admin, messages
from django.http import HttpRequest

from connections.models import Connection, SyncJob, WebhookEvent
from connections.services import connection_test
from connections.sync.runner import sync_start
from ecomops.admin_site import ConsoleModelAdmin, ReadOnlyTenantAdmin
from tenants.services import ServiceError


@admin.register(Connection)
class ConnectionAdmin(ConsoleModelAdmin):
    """Settings are editable; credentials are never shown, only which fields are set (masked).
    Change credentials through the API (write-only) so they are validated and audited."""

    list_display = ["name", "provider", "enabled", "status", "status_message", "last_sync_succeeded_at"]
    list_filter = ["provider", "enabled", "status"]
    search_fields = ["name", "account_id"]
    fields = [
        "name",
        "provider",
        "enabled",
        "base_url",
        "account_id",
        "backfill_start",
        "subsidiary_id",
        "netsuite_concurrency",
        "masked",
        "status",
        "status_message",
        "status_checked_at",
        "last_sync_succeeded_at",
        "last_sync_failed_at",
    ]
    readonly_fields = [
        "provider",
        "masked",
        "status",
        "status_message",
        "status_checked_at",
        "last_sync_succeeded_at",
        "last_sync_failed_at",
    ]
    actions = ["test_selected", "sync_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created through the API/service, which checks the plan and the credentials

    @admin.display(description="Credentials")
    def masked(self, obj: Connection) -> str:
        return ", ".join(f"{k}: {v}" for k, v in obj.masked_credentials().items()) or "-"

    @admin.action(description="Test the selected connections", permissions=["test"])
    def test_selected(self, request: HttpRequest, queryset) -> None:
        for connection in queryset.order_by("pk"):
            ok, message = connection_test(actor=request.user, connection=connection)
            self.message_user(request, f"{connection.name}: {message}", messages.SUCCESS if ok else messages.ERROR)

    @admin.action(description="Sync the selected connections now", permissions=["sync"])
    def sync_selected(self, request: HttpRequest, queryset) -> None:
        for connection in queryset.order_by("pk"):
            try:
                job = sync_start(connection=connection, actor=request.user, trigger="admin")
            except ServiceError as exc:
                self.message_user(request, f"{connection.name}: {exc}", messages.WARNING)
                continue
            self.message_user(request, f"{connection.name}: sync queued (job {job.pk}).")

    def has_test_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("connections.test_connection")

    def has_sync_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("connections.sync_connection")


@admin.register(SyncJob)
class SyncJobAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "queued_at",
        "connection",
        "kind",
        "trigger",
        "status",
        "pages",
        "object_count",
        "created_count",
        "updated_count",
        "unchanged_count",
        "error_count",
    ]
    list_filter = ["status", "kind", "trigger", "connection"]
    date_hierarchy = "queued_at"


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyTenantAdmin):
    list_display = ["received_at", "connection", "event_type", "event_id", "sync_job"]
    list_filter = ["connection", "event_type"]
    search_fields = ["event_id"]
