"""List filters in the API: a query parameter the list does not know is an error, not ignored.

A misspelt filter (``?reasons=`` for ``?reason=``) would otherwise answer the whole list, and
an integrator acting on what it lists (a bulk resolve) would act on everything; bodies are
strict for the same reason (``ecomops.api.serializers.StrictInput``).
"""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError

# Not filters: the pager's.
PAGING = ("page", "page_size")


class StrictFilterBackend(DjangoFilterBackend):
    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            known = set(filterset_class.base_filters) | set(PAGING)
            unknown = sorted(set(request.query_params) - known)
            if unknown:
                message = f"Unknown filter. This list filters by: {', '.join(sorted(filterset_class.base_filters))}."
                raise ValidationError({name: [message] for name in unknown})
        return super().filter_queryset(request, queryset, view)
