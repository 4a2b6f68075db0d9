"""The Django admin: the platform view for staff, the tenant-scoped console for members.

Platform models (tenants, plans, users) are shown to staff only. Tenant models are shown in
the current tenant (the session's) to members whose role grants the model's permissions:
``user.has_perm`` consults the role there, so the same checks serve admin, pages and API.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.views.main import ERROR_FLAG
from django.contrib.messages import ERROR
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponseRedirect

from ecomops.tenancy import current_tenant


class ConsoleAuthenticationForm(AdminAuthenticationForm):
    """Lets tenant members (not only staff) sign in to the admin."""

    username = forms.EmailField(label="Email", widget=forms.EmailInput(attrs={"autofocus": True}))

    def confirm_login_allowed(self, user) -> None:
        from tenants.models import Membership

        if not user.is_active:
            raise forms.ValidationError(self.error_messages["inactive"], code="inactive")
        if not user.is_staff and not Membership.objects.filter(user=user, is_active=True).exists():
            raise forms.ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class EcomOpsAdminSite(admin.AdminSite):
    site_header = "EcomOps console"
    site_title = "EcomOps"
    index_title = "Operations"
    login_form = ConsoleAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        if not user.is_active or not user.is_authenticated:
            return False
        return user.is_staff or current_tenant() is not None

    def each_context(self, request: HttpRequest) -> dict:
        context = super().each_context(request)
        tenant = current_tenant()
        context["site_header"] = f"EcomOps · {tenant.name}" if tenant else "EcomOps · platform"
        return context


class ConsoleModelAdmin(admin.ModelAdmin):
    """Every model admin of the console: bad input to a changelist or an action is a message,
    never a 500 nor an action run on something other than what was selected."""

    def changelist_view(self, request: HttpRequest, extra_context=None):
        if any("\x00" in value for values in request.GET.lists() for value in values[1]):
            self.message_user(request, "Filter values cannot contain NUL characters.", messages.ERROR)
            return HttpResponseRedirect(request.path)
        if request.GET.get(ERROR_FLAG) == "1":  # where Django sends a filter it could not apply
            self.message_user(
                request, "A filter in the address could not be read, so the whole list is shown.", messages.WARNING
            )
        return super().changelist_view(request, extra_context)

    def response_action(self, request: HttpRequest, queryset):
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        try:
            for value in selected:
                self.model._meta.pk.to_python(value)
        except ValidationError:
            self.message_user(request, "The selection holds an id that is not valid; nothing was changed.", ERROR)
            return None
        select_across = request.POST.get("select_across") == "1"
        if selected and not select_across and not queryset.filter(pk__in=selected).exists():
            self.message_user(request, "None of the selected items exist any more; nothing was changed.", ERROR)
            return None
        return super().response_action(request, queryset)


class PlatformAdmin(ConsoleModelAdmin):
    """Public-schema models: staff only."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser


class ReadOnlyTenantAdmin(ConsoleModelAdmin):
    """Tenant data that is written by services only (canonical rows, audit events)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
