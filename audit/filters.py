import django_filters
from django import forms

from audit.models import AuditEvent, Outcome
from ecomops.filters import RangeForm


class AuditEventFilter(django_filters.FilterSet):
    action = django_filters.CharFilter(lookup_expr="startswith")
    actor_email = django_filters.CharFilter(lookup_expr="iexact")
    outcome = django_filters.ChoiceFilter(choices=Outcome.choices, empty_label="Any outcome")
    target_type = django_filters.CharFilter()
    target_id = django_filters.CharFilter()
    correlation_id = django_filters.CharFilter()
    # A time (as the API is given) or a day: the page picks days from a calendar, and a day
    # stands for its midnight, so "before" a day leaves that day out.
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", widget=forms.DateInput(attrs={"type": "date"})
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", widget=forms.DateInput(attrs={"type": "date"})
    )

    class Meta:
        model = AuditEvent
        fields = ["action", "actor_email", "outcome", "target_type", "target_id", "correlation_id"]
        form = RangeForm  # created_after after created_before is a mistake, not an empty log
