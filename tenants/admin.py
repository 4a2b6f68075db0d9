from django.contrib import admin

from ecomops.admin_site import PlatformAdmin
from tenants.models import RECON_SETTING_BOUNDS, Domain, Membership, Plan, Tenant, User
from tenants.services import tenant_create, tenant_update

# Changed through tenants.services.tenant_update, so the admin writes the same audited
# tenant.updated event (old and new values) as the API does.
AUDITED_FIELDS = ("name", *RECON_SETTING_BOUNDS)


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
            audited = {f: form.cleaned_data[f] for f in AUDITED_FIELDS if f in form.changed_data}
            if audited:  # the rest of the form saves as usual, these go through the service
                stored = Tenant.objects.only(*audited).get(pk=obj.pk)
                for field in audited:
                    setattr(obj, field, getattr(stored, field))
            super().save_model(request, obj, form, change)
            if audited:
                tenant_update(actor=request.user, tenant=obj, **audited)
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
