from django.contrib import admin

from audit.models import AuditEvent
from ecomops.admin_site import ReadOnlyTenantAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyTenantAdmin):
    list_display = ["created_at", "action", "actor_email", "actor_kind", "target_type", "target_id", "outcome"]
    list_filter = ["outcome", "actor_kind", "action"]
    search_fields = ["action", "actor_email", "target_id", "correlation_id"]
    date_hierarchy = "created_at"
