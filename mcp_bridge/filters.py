"""The schedules list's filters, shared by the API and the console page."""

from __future__ import annotations

import django_filters

from canonical.filters import StrictBooleanFilter
from mcp_bridge.models import Schedule, ScheduleKind


class ScheduleFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=ScheduleKind.choices)
    # ``?enabled=maybe`` is an error naming the filter, not the whole list (django-filter's own
    # boolean filter reads a word it does not know as no filter at all).
    enabled = StrictBooleanFilter()

    class Meta:
        model = Schedule
        fields = ["kind", "enabled"]
