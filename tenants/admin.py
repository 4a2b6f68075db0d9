from django.contrib import admin

from ecomops.admin_site import PlatformAdmin
from tenants.models import Domain, Membership, Plan, Tenant, User
from tenants.services import tenant_create


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


@admin.register(Tenant)
class TenantAdmin(PlatformAdmin):
    list_display = ["name", "slug", "plan", "is_active", "created_at"]
    list_filter = ["plan", "is_active"]
    search_fields = ["name", "slug"]
    readonly_fields = ["id", "schema_name", "created_at"]
    inlines = [DomainInline, MembershipInline]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = tenant_create(name=obj.name, plan=obj.plan_id, slug=obj.slug)
        obj.pk, obj.schema_name = created.pk, created.schema_name
        obj._state.adding = False


@admin.register(Plan)
class PlanAdmin(PlatformAdmin):
    list_display = ["code", "name", "max_connections", "mcp_tools"]


@admin.register(User)
class UserAdmin(PlatformAdmin):
    list_display = ["email", "full_name", "is_active", "is_staff", "date_joined"]
    list_filter = ["is_active", "is_staff"]
    search_fields = ["email", "full_name"]
    fields = ["email", "full_name", "is_active", "is_staff", "is_superuser", "date_joined", "last_login"]
    readonly_fields = ["date_joined", "last_login"]
    inlines = [MembershipInline]
