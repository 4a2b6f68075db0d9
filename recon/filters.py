"""One FilterSet per model, shared by the API, the admin and the selectors."""

from __future__ import annotations

import django_filters
from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from canonical.models import Payout
from ecomops.filters import RangeForm
from recon.close import exceptions_of_month, parse_month
from recon.models import ExceptionState, PayoutStatus, Reason, ReconException, ReconRun, RunMode, RunStatus, RunTrigger


class ReconRunFilterForm(RangeForm):
    ranges = (("queued_after", "queued_before"),)


class ReconRunFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=RunStatus.choices)
    trigger = django_filters.MultipleChoiceFilter(choices=RunTrigger.choices)
    mode = django_filters.ChoiceFilter(choices=RunMode.choices)
    queued_after = django_filters.IsoDateTimeFilter(field_name="queued_at", lookup_expr="gte")
    queued_before = django_filters.IsoDateTimeFilter(field_name="queued_at", lookup_expr="lt")

    class Meta:
        model = ReconRun
        fields = ["status", "trigger", "mode"]
        form = ReconRunFilterForm


class MonthField(forms.CharField):
    widget = forms.TextInput(attrs={"type": "month"})

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        return parse_month(value)  # its ValidationError is the form's (with its params)


@extend_schema_field(OpenApiTypes.STR)
class MonthFilter(django_filters.Filter):
    """A month as YYYY-MM: the exceptions that stand in the way of closing it."""

    field_class = MonthField

    def filter(self, qs, value):
        return qs if value is None else exceptions_of_month(qs, value)


class ExceptionOrdering(django_filters.OrderingFilter):
    """``?ordering=-at_stake`` (the largest amounts first), ``occurred``, ``last_seen``, ``reason``;
    the primary key last, so a page never repeats or skips rows tied on the chosen key."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label", "Sort")
        kwargs.setdefault("empty_label", "Last seen, newest first")  # the queue's own order
        super().__init__(
            *args,
            fields=(
                ("at_stake_minor", "at_stake"),
                ("occurred_on", "occurred"),
                ("last_seen_at", "last_seen"),
                ("reason", "reason"),
            ),
            field_labels={
                "at_stake_minor": "Amount at stake",
                "occurred_on": "Date",
                "last_seen_at": "Last seen",
                "reason": "Reason",
            },
            **kwargs,
        )

    def filter(self, qs, value):
        if not value:
            return qs
        ordering = [self.get_ordering_value(param) for param in value]
        sorts_at_stake = any(key.lstrip("-") == "at_stake_minor" for key in ordering)
        if sorts_at_stake and "at_stake_minor" not in qs.query.annotations:
            qs = qs.with_at_stake()
        return qs.order_by(*ordering, "pk")


class ReconExceptionFilterForm(RangeForm):
    ranges = (("date_from", "date_to"), ("seen_after", "seen_before"))


class ReconExceptionFilter(django_filters.FilterSet):
    """``?reason=a&reason=b&state=open&payout=<id>&connection=<id>&date_from=&date_to=&month=``.

    ``date_from`` / ``date_to`` bound the subject's own date (a payout's arrival, an order's
    creation); ``seen_after`` / ``seen_before`` when the engine last saw the exception;
    ``month`` (YYYY-MM) the month whose close it stands in the way of (``recon.close``);
    ``ordering`` how the list is sorted (newest seen first when not given).
    """

    # distinct=False: an exception is one row whatever reasons or states are ticked (the
    # default SELECT DISTINCT made the database compare every column of ~100k rows per page)
    reason = django_filters.MultipleChoiceFilter(
        choices=Reason.choices, widget=forms.CheckboxSelectMultiple, distinct=False
    )
    state = django_filters.MultipleChoiceFilter(
        choices=ExceptionState.choices, widget=forms.CheckboxSelectMultiple, distinct=False
    )
    payout = django_filters.UUIDFilter(field_name="payout_id")
    payout_source_id = django_filters.CharFilter(field_name="payout__source_id")
    connection = django_filters.UUIDFilter(field_name="connection_id")
    subject = django_filters.CharFilter(field_name="subject_ref")
    subject_type = django_filters.CharFilter()
    date_from = django_filters.DateFilter(field_name="occurred_on", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="occurred_on", lookup_expr="lte")
    seen_after = django_filters.IsoDateTimeFilter(field_name="last_seen_at", lookup_expr="gte")
    seen_before = django_filters.IsoDateTimeFilter(field_name="last_seen_at", lookup_expr="lt")
    month = MonthFilter(label="Month (YYYY-MM)")
    ordering = ExceptionOrdering()

    class Meta:
        model = ReconException
        fields = ["reason", "state", "payout", "connection", "subject_type"]
        form = ReconExceptionFilterForm


class PayoutStatusFilterForm(RangeForm):
    ranges = (("arrival_from", "arrival_to"),)


class PayoutStatusFilter(django_filters.FilterSet):
    """Canonical payouts by their reconciliation status (``unevaluated``: no run has seen them)."""

    status = django_filters.ChoiceFilter(
        choices=[*PayoutStatus.choices, ("unevaluated", "Not evaluated yet")], method="filter_status"
    )
    connection = django_filters.UUIDFilter(field_name="connection_id")
    source_id = django_filters.CharFilter()
    currency = django_filters.CharFilter(lookup_expr="iexact")
    arrival_from = django_filters.DateFilter(field_name="arrival_date", lookup_expr="gte")
    arrival_to = django_filters.DateFilter(field_name="arrival_date", lookup_expr="lte")

    class Meta:
        model = Payout
        fields = ["connection", "source_id", "currency"]
        form = PayoutStatusFilterForm

    def filter_status(self, queryset, name, value):
        if value == "unevaluated":
            return queryset.filter(recon__isnull=True)
        return queryset.filter(recon__status=value)
