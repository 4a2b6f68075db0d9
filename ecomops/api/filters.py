"""List filters in the API: a query parameter the list does not know is an error, not ignored.

A misspelt filter (``?reasons=`` for ``?reason=``) would otherwise answer the whole list, and
an integrator acting on what it lists (a bulk resolve) would act on everything; bodies are
strict for the same reason (``ecomops.api.serializers.StrictInput``). An empty filter, or one
given twice that takes one value, is refused for the same reason.

Generic lists get this from ``StrictFilterBackend``, the API's default filter backend; a list
that filters in its selector (an ``APIView``) calls ``check_list_query`` before it reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import QueryDict
from django_filters import Filter, FilterSet
from django_filters.filters import BaseCSVFilter
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError
from rest_framework.mixins import ListModelMixin

# Not filters: the pager's.
PAGING = ("page", "page_size")


def check_list_query(
    query: QueryDict, view: Any, filterset_class: type[FilterSet] | None = None, *, options: Iterable[str] = ()
) -> None:
    """Refuse (400, each parameter at fault named) a list's query that would not filter as it says.

    A list takes its FilterSet's filters, the pager's parameters when it pages
    (``view.pagination_class``: an unpaged list would answer ``?page=2`` with every row, and a
    client paging until an empty page would never stop), and ``options``, its own parameters
    that are not filters (the tables' ``format``). Any other name is refused with what the list
    filters by. So is a parameter given empty (``?payout=`` from a script whose id was missing
    would otherwise filter nothing), or given twice when it takes one value (all but the last
    would be dropped unsaid).
    """
    filters = filterset_class.base_filters if filterset_class is not None else {}
    options = sorted(options)
    known = {*filters, *(PAGING if getattr(view, "pagination_class", None) else ()), *options}
    errors = {}
    for name in sorted(query):
        values = query.getlist(name)
        if name not in known:
            errors[name] = [_unknown_message(name, sorted(filters), options)]
        elif any(not value.strip() for value in values):
            errors[name] = [f"{name} is empty: give it a value, or leave it out."]
        elif len(values) > 1 and not (name in filters and _takes_many(filters[name])):
            several = " (several as one, separated by commas)" if isinstance(filters.get(name), BaseCSVFilter) else ""
            errors[name] = [f"{name} takes one value{several}, and was given {len(values)}."]
    if errors:
        raise ValidationError(errors)


def whole_number(raw: str) -> int | None:
    """A query parameter's whole number, written as one: ASCII digits and nothing else, or None.

    ``int()`` would also take " 5", "+5", "1_000" and other scripts' digits ("٣"), and
    ``str.isdigit()`` takes "²", which ``int()`` then refuses (a 500 where a 400 was due). Past
    18 digits it is beyond any count this API answers, and ``int()`` refuses 4,300 and more.
    """
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None
    return int(raw)


def _takes_many(filter_: Filter) -> bool:
    """A filter whose form field reads every value of its name (a multiple choice)."""
    widget = filter_.extra.get("widget") or filter_.field_class.widget
    return getattr(widget, "allow_multiple_selected", False)


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
