"""Admin: GL mappings are edited here (through the services); postings are read-only with
the approve and retry actions, gated by the same permissions as the API."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from connections.models import Connection, Provider
from ecomops.admin_site import ConsoleModelAdmin, ReadOnlyTenantAdmin
from ecomops.tenancy import current_tenant_id
from netsuite.models import ACCOUNT_FIELDS, GlMapping, NetsuitePosting
from netsuite.services import (
    gl_mapping_check,
    gl_mapping_clean,
    gl_mapping_create,
    gl_mapping_update,
    posting_approve,
    posting_retry,
)
from tenants.services import ServiceError


class GlMappingForm(forms.ModelForm):
    """Validates with the service's own rules, so the admin refuses what the API refuses."""

    class Meta:
        model = GlMapping
        fields = ["connection", "netsuite_connection", "subsidiary_id", *ACCOUNT_FIELDS, "currency_ids"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        connections = Connection.objects.filter(tenant_id=current_tenant_id()).order_by("name")
        if "connection" in self.fields:  # a read-only view (no change permission) has no fields
            self.fields["connection"].queryset = connections.filter(provider__in=(Provider.STRIPE, Provider.SHOPIFY))
            if not self.instance._state.adding:  # (a new row has its uuid pk already)
                self.fields["connection"].disabled = True  # a mapping belongs to its connection for good
        if "netsuite_connection" in self.fields:
            self.fields["netsuite_connection"].queryset = connections.filter(provider=Provider.NETSUITE)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors or not data.get("connection") or not data.get("netsuite_connection"):
            return data
        values = {name: data.get(name, "") for name in ACCOUNT_FIELDS}
        values["currency_ids"] = data.get("currency_ids") or {}
        try:
            cleaned = gl_mapping_clean(
                connection=data["connection"],
                netsuite_connection=data["netsuite_connection"],
                subsidiary_id=data.get("subsidiary_id"),
                values=values,
            )
        except ServiceError as exc:
            target = exc.field if exc.field in self.fields else None
            raise forms.ValidationError({target: str(exc)} if target else str(exc)) from exc
        data.update(cleaned)
        return data


@admin.register(GlMapping)
class GlMappingAdmin(ConsoleModelAdmin):
    form = GlMappingForm
    list_display = [
        "connection",
        "subsidiary_id",
        "netsuite_connection",
        "bank_account",
        "clearing_account",
        "updated_at",
        "netsuite_check",
    ]
    list_filter = ["connection", "netsuite_connection"]
    search_fields = ["subsidiary_id"]
    readonly_fields = ["netsuite_check", "checked_at"]
    actions = ["check_selected"]

    @admin.display(description="NetSuite check")
    def netsuite_check(self, obj: GlMapping) -> str:
        if obj.checked_at is None:
            return "not checked since the last change"
        return "; ".join(obj.last_check.get("problems") or []) or "every id found and active"

    @admin.action(description="Check the selected mappings' ids against NetSuite", permissions=["change"])
    def check_selected(self, request: HttpRequest, queryset: QuerySet[GlMapping]) -> None:
        for mapping in queryset.select_related("connection", "netsuite_connection").order_by("pk"):
            label = f"{mapping.connection.name} / subsidiary {mapping.subsidiary_id}"
            try:
                result = gl_mapping_check(actor=request.user, mapping=mapping)
            except ServiceError as exc:
                self.message_user(request, f"{label}: {exc}", messages.ERROR)
                continue
            if result.problems:
                self.message_user(request, f"{label}: {' '.join(result.problems)}", messages.WARNING)
            else:
                self.message_user(request, f"{label}: every id found in NetSuite and active.")

    def get_queryset(self, request: HttpRequest) -> QuerySet[GlMapping]:
        return super().get_queryset(request).filter(tenant_id=current_tenant_id())

    def save_model(self, request: HttpRequest, obj: GlMapping, form: forms.ModelForm, change: bool) -> None:
        # Written through the services: same checks, same audit events as the API.
        values = {name: form.cleaned_data.get(name, "") for name in ACCOUNT_FIELDS}
        values["currency_ids"] = form.cleaned_data.get("currency_ids") or {}
        if change:
            saved = gl_mapping_update(
                actor=request.user,
                mapping=obj,
                netsuite_connection=form.cleaned_data["netsuite_connection"],
                subsidiary_id=form.cleaned_data["subsidiary_id"],
                **values,
            )
        else:
            saved = gl_mapping_create(
                actor=request.user,
                connection=form.cleaned_data["connection"],
                netsuite_connection=form.cleaned_data["netsuite_connection"],
                subsidiary_id=form.cleaned_data["subsidiary_id"],
                **values,
            )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: GlMapping) -> None:
        from netsuite.services import gl_mapping_delete

        gl_mapping_delete(actor=request.user, mapping=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[GlMapping]) -> None:
        for mapping in queryset.order_by("pk"):
            self.delete_model(request, mapping)


@admin.register(NetsuitePosting)
class NetsuitePostingAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "created_at",
        "source_id",
        "kind",
        "state",
        "amount_minor",
        "currency",
        "arrival_date",
        "attempts",
        "netsuite_internal_id",
        "error_code",
    ]
    list_filter = ["state", "kind", "error_code", "source", "connection"]
    search_fields = ["source_id", "external_id", "netsuite_internal_id"]
    date_hierarchy = "created_at"
    actions = ["approve_selected", "retry_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[NetsuitePosting]:
        return super().get_queryset(request).filter(tenant_id=current_tenant_id())

    @admin.action(description="Approve and post the selected drafts", permissions=["approve"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[NetsuitePosting]) -> None:
        # pk order: the services lock one row each, and a fixed order never deadlocks with
        # another admin approving an overlapping selection.
        for posting in queryset.order_by("pk"):
            try:
                posting_approve(posting=posting, actor=request.user)
            except ServiceError as exc:
                self.message_user(request, f"Payout {posting.source_id}: {exc}", messages.ERROR)
                continue
            # "Payout" first: the admin capitalizes a message, and a processor's id is case-sensitive
            self.message_user(request, f"Payout {posting.source_id}: approved, queued for posting.")

    @admin.action(description="Retry the selected postings", permissions=["retry"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[NetsuitePosting]) -> None:
        for posting in queryset.order_by("pk"):  # pk order, as above
            try:
                posting_retry(posting=posting, actor=request.user)
            except ServiceError as exc:
                self.message_user(request, f"Payout {posting.source_id}: {exc}", messages.WARNING)
                continue
            self.message_user(request, f"Payout {posting.source_id}: queued again.")

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("netsuite.approve_posting")

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("netsuite.retry_posting")
