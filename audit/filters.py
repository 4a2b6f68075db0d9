import re

import django_filters
from django import forms

from audit.models import AuditEvent, Outcome
from ecomops.filters import RangeForm


class DayOrTimeInput(forms.DateInput):
    """A calendar for a day; a time given in the link (``2026-11-03T14:02:00Z``, as the API and
    other pages link to the log) stays in a text box as it was given, instead of a calendar that
    cannot show it and would drop it when another filter changes."""

    input_type = "date"

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        shown = context["widget"]["value"]
        if shown and not _DAY.match(str(shown)):
            context["widget"]["type"] = "text"
        return context


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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
        field_name="created_at", lookup_expr="gte", widget=DayOrTimeInput()
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", widget=DayOrTimeInput()
    )

    class Meta:
        model = AuditEvent
        fields = ["action", "actor_email", "outcome", "target_type", "target_id", "correlation_id"]
        form = RangeForm  # created_after after created_before is a mistake, not an empty log
