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
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

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


def _money_column(model, name: str):
    """A changelist column showing the integer field ``name`` (minor units) as money, the way
    the pages do (``3,338.66 USD``, ``20,900 JPY``), sortable by the field itself.

    Its currency is ``<prefix>_currency`` when the model has one (``expected_minor`` goes with
    ``expected_currency``), else ``currency``; its processor (whose exponents it follows) the
    row's ``source``, or its payout's or connection's.
    """
    from ecomops.money import format_minor

    fields = {f.name for f in model._meta.get_fields()}
    prefixed = name.removesuffix("_minor") + "_currency"
    currency_field = prefixed if prefixed in fields else "currency"

    def column(obj) -> str:
        source = getattr(obj, "source", None)
        for related in ("payout", "connection"):
            if not source and related in fields:
                linked = getattr(obj, related, None)
                source = getattr(linked, "source", None) or getattr(linked, "provider", None)
        return format_minor(getattr(obj, name), getattr(obj, currency_field, "") or "", source or "stripe")

    column.short_description = str(model._meta.get_field(name).verbose_name).removesuffix(" minor").capitalize()
    column.admin_order_field = name
    return column


class ConsoleModelAdmin(admin.ModelAdmin):
    """Every model admin of the console: bad input to a changelist or an action is a message,
    never a 500 nor an action run on something other than what was selected. Amounts in minor
    units are listed as money (``_money_column``), never as raw integers."""

    def get_list_display(self, request: HttpRequest):
        names = {f.name for f in self.model._meta.get_fields()}
        return [
            _money_column(self.model, item)
            if isinstance(item, str) and item.endswith("_minor") and item in names
            else item
            for item in super().get_list_display(request)
        ]

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


class ServiceRefusal(Exception):
    """A service's refusal (``tenants.services.ServiceError``) raised in ``save_model`` or
    ``delete_model``, carried out of the admin's transaction: nothing was written."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class ServiceFormMixin:
    """For an admin whose writes go through a service: the service refuses only once the form is
    valid and ``save_model`` runs, where the admin can no longer show a form error. The refusal
    (``ServiceRefusal``) leaves the admin's transaction, and the same POST is shown again, with
    ``service_error(request)`` for the form to put on the field it names."""

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context=None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefusal as refusal:
            request._service_refusal = refusal.error
            return super().changeform_view(request, object_id, form_url, extra_context)

    @staticmethod
    def service_error(request: HttpRequest) -> Exception | None:
        """The refusal of this request's first attempt, if the service refused it."""
        return getattr(request, "_service_refusal", None)


class ReadOnlyTenantAdmin(ConsoleModelAdmin):
    """Tenant data that is written by services only (canonical rows, audit events)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
