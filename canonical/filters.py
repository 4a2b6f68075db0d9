"""One FilterSet per canonical model, shared by the API, the pages and the selectors."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db import models
from django_filters.filterset import FILTER_FOR_DBFIELD_DEFAULTS

from canonical.models import Dispute, Order, Payment, Payout, PayoutLine, Refund
from ecomops.filters import RangeForm

COMMON = ["source", "connection", "source_id"]


TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")


def parse_bool(value: str) -> bool:
    """``true``/``false`` (or 1/0, yes/no, any case); anything else is a ValidationError."""
    word = value.strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise forms.ValidationError("Enter true or false.", code="invalid")


class YesNoSelect(forms.Select):
    """What a yes/no filter offers on a page: any, yes or no (the API takes the words of ``parse_bool``)."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, choices=[("", "Any"), ("true", "Yes"), ("false", "No")])


class StrictBooleanField(forms.CharField):
    """Django-filter's own boolean filter reads anything it does not know as "no filter",
    so ``?cancelled=abc`` listed every order; here it is an error naming the field."""

    widget = YesNoSelect

    def to_python(self, value):
        value = super().to_python(value)
        return parse_bool(value) if value else None


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class CanonicalFilter(django_filters.FilterSet):
    FILTER_DEFAULTS = {**FILTER_FOR_DBFIELD_DEFAULTS, models.BooleanField: {"filter_class": StrictBooleanFilter}}

    created_after = django_filters.IsoDateTimeFilter(
        field_name="source_created_at", lookup_expr="gte", label="Created from"
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="source_created_at", lookup_expr="lt", label="Created before"
    )
    ordering = django_filters.OrderingFilter(
        fields=(("source_created_at", "created"), ("synced_at", "synced"), ("source_id", "source_id"))
    )

    class Meta:
        form = RangeForm  # created_after after created_before (or arrival_*) is a mistake, not an empty table

    # What a dropdown says when nothing is chosen (Django's "---------" says nothing).
    EMPTY_LABELS = {"source": "Any processor", "connection": "All connections"}

    @classmethod
    def filter_for_field(cls, field: models.Field, field_name: str, lookup_expr: str | None = None) -> Any:
        found = super().filter_for_field(field, field_name, lookup_expr)
        if field_name in cls.EMPTY_LABELS:
            found.extra["empty_label"] = cls.EMPTY_LABELS[field_name]
        return found


class OrderFilter(CanonicalFilter):
    class Meta(CanonicalFilter.Meta):
        model = Order
        fields = [*COMMON, "currency", "financial_status", "cancelled", "order_number"]


class PaymentFilter(CanonicalFilter):
    class Meta(CanonicalFilter.Meta):
        model = Payment
        fields = [*COMMON, "currency", "status", "gateway", "is_gift_card", "order_source_id"]


class RefundFilter(CanonicalFilter):
    class Meta(CanonicalFilter.Meta):
        model = Refund
        fields = [*COMMON, "currency", "status", "payment_source_id", "order_source_id"]


class DisputeFilter(CanonicalFilter):
    class Meta(CanonicalFilter.Meta):
        model = Dispute
        fields = [*COMMON, "currency", "status", "payment_source_id"]


def offered(label: str, values: tuple[str, ...]) -> forms.Select:
    """A page's dropdown of the values a column holds once normalized; the API's filter still
    takes any value as an exact match (one it does not hold lists nothing)."""
    return forms.Select(choices=[("", label), *((v, v.replace("_", " ")) for v in values)])


# The canonical values of a payout, whatever the processor (``connections.*.normalize``).
PAYOUT_STATUSES = ("paid", "in_transit", "pending", "failed", "canceled")
PAYOUT_METHODS = ("standard", "instant")


class PayoutFilter(CanonicalFilter):
    status = django_filters.CharFilter(widget=offered("Any status", PAYOUT_STATUSES))
    method = django_filters.CharFilter(widget=offered("Any method", PAYOUT_METHODS))
    arrival_after = django_filters.DateFilter(field_name="arrival_date", lookup_expr="gte", label="Arrives from")
    arrival_before = django_filters.DateFilter(field_name="arrival_date", lookup_expr="lte", label="Arrives by")

    class Meta(CanonicalFilter.Meta):
        model = Payout
        fields = [*COMMON, "currency", "status", "method", "automatic"]


class PayoutLineFilter(CanonicalFilter):
    class Meta(CanonicalFilter.Meta):
        model = PayoutLine
        fields = [*COMMON, "currency", "type", "reporting_category", "payout_source_id", "source_object_id"]


FILTERS = {
    "orders": OrderFilter,
    "payments": PaymentFilter,
    "refunds": RefundFilter,
    "disputes": DisputeFilter,
    "payouts": PayoutFilter,
    "payout_lines": PayoutLineFilter,
}
