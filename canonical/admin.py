"""Canonical data in the console: read-only (written only by the sync), searchable, filterable."""

from django.contrib import admin

from canonical.models import Dispute, Order, Payment, Payout, PayoutLine, Refund
from ecomops.admin_site import ReadOnlyTenantAdmin

COMMON_FILTERS = ["source", "connection"]


class CanonicalAdmin(ReadOnlyTenantAdmin):
    search_fields = ["source_id"]
    date_hierarchy = "source_created_at"
    exclude = ["tenant_id"]


@admin.register(Order)
class OrderAdmin(CanonicalAdmin):
    list_display = ["source_id", "order_number", "currency", "total_minor", "financial_status", "source_created_at"]
    list_filter = [*COMMON_FILTERS, "currency", "financial_status", "cancelled"]
    search_fields = ["source_id", "order_number"]


@admin.register(Payment)
class PaymentAdmin(CanonicalAdmin):
    list_display = [
        "source_id",
        "order_source_id",
        "currency",
        "amount_minor",
        "status",
        "gateway",
        "source_created_at",
    ]
    list_filter = [*COMMON_FILTERS, "currency", "status", "gateway", "is_gift_card"]
    search_fields = ["source_id", "order_source_id"]


@admin.register(Refund)
class RefundAdmin(CanonicalAdmin):
    list_display = ["source_id", "payment_source_id", "currency", "amount_minor", "status", "source_created_at"]
    list_filter = [*COMMON_FILTERS, "currency", "status"]


@admin.register(Dispute)
class DisputeAdmin(CanonicalAdmin):
    list_display = ["source_id", "payment_source_id", "currency", "amount_minor", "status", "reason"]
    list_filter = [*COMMON_FILTERS, "currency", "status"]


@admin.register(Payout)
class PayoutAdmin(CanonicalAdmin):
    list_display = ["source_id", "currency", "amount_minor", "status", "method", "automatic", "arrival_date"]
    list_filter = [*COMMON_FILTERS, "currency", "status", "method", "automatic"]


@admin.register(PayoutLine)
class PayoutLineAdmin(CanonicalAdmin):
    list_display = [
        "source_id",
        "payout_source_id",
        "reporting_category",
        "currency",
        "amount_minor",
        "fee_minor",
        "net_minor",
        "source_object_id",
    ]
    list_filter = [*COMMON_FILTERS, "reporting_category", "currency"]
    search_fields = ["source_id", "payout_source_id", "source_object_id"]
