from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404, QueryDict

from canonical.filters import FILTERS
from ecomops.tenancy import current_tenant_id


class FilterError(ValueError):
    def __init__(self, errors: dict) -> None:
        super().__init__("invalid filters")
        self.errors = errors


def table_rows(*, user: Any, table: str, filters: QueryDict | dict | None = None) -> QuerySet:
    """A canonical table's rows for the user, filtered. Unknown table → 404; no permission → none."""
    filterset_class = FILTERS.get(table)
    if filterset_class is None:
        raise Http404
    model = filterset_class._meta.model
    if not user.has_perm(f"canonical.view_{model._meta.model_name}"):
        return model.objects.none()
    queryset = model.objects.filter(tenant_id=current_tenant_id()).order_by("-source_created_at", "source_id")
    filterset = filterset_class(filters or {}, queryset=queryset)
    if not filterset.is_valid():
        raise FilterError(filterset.errors)
    return filterset.qs
