"""List filters in the API: a query parameter the list does not know is an error, not ignored.

A misspelt filter (``?reasons=`` for ``?reason=``) would otherwise answer the whole list, and
an integrator acting on what it lists (a bulk resolve) would act on everything; bodies are
strict for the same reason (``ecomops.api.serializers.StrictInput``).

Generic lists get this from ``StrictFilterBackend``, the API's default filter backend; a list
that filters in its selector (an ``APIView``) calls ``check_list_query`` before it reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django_filters import FilterSet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError
from rest_framework.mixins import ListModelMixin

# Not filters: the pager's.
PAGING = ("page", "page_size")


def check_list_query(
    query: Iterable[str], view: Any, filterset_class: type[FilterSet] | None = None, *, options: Iterable[str] = ()
) -> None:
    """Refuse (400) a list's query that names a parameter the list does not take, each one named
    with what the list filters by.

    A list takes its FilterSet's filters, the pager's parameters when it pages
    (``view.pagination_class``: an unpaged list would answer ``?page=2`` with every row, and a
    client paging until an empty page would never stop), and ``options``, its own parameters
    that are not filters (the tables' ``format``).
    """
    filters = sorted(filterset_class.base_filters) if filterset_class is not None else []
    paging = PAGING if getattr(view, "pagination_class", None) else ()
    options = sorted(options)
    unknown = sorted(set(query) - {*filters, *paging, *options})
    if unknown:
        raise ValidationError({name: [_unknown_message(name, filters, options)] for name in unknown})


def _unknown_message(name: str, filters: list[str], options: list[str]) -> str:
    if name in PAGING:
        return "This list is not paged: it answers all its rows at once."
    known = f"This list filters by: {', '.join(filters)}." if filters else "This list takes no filters."
    also = f" It also takes: {', '.join(options)}." if options else ""
    return f"Unknown filter. {known}{also}"


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter's backend, refusing the queries ``check_list_query`` refuses.

    Only a list's: a detail view filters its lookup through the same backend, and there the
    query string selects nothing.
    """

    def filter_queryset(self, request, queryset, view):
        if isinstance(view, ListModelMixin) and getattr(view, "action", "list") == "list":
            check_list_query(request.query_params, view, self.get_filterset_class(view, queryset))
        return super().filter_queryset(request, queryset, view)
