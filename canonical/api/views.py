"""``/api/v1/tables/<table>/``: query any canonical table; ``?format=csv`` streams it as CSV."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from canonical.exports import csv_response, table_columns
from canonical.filters import FILTERS, parse_bool
from canonical.selectors import FilterError, table_rows
from ecomops.api.pagination import Pagination


class TableView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="tables_query",
        parameters=[
            OpenApiParameter("format", str, enum=["json", "csv"]),
            OpenApiParameter("include_raw", bool, description="include the source object as received"),
        ],
        responses={200: dict},
    )
    def get(self, request, table: str):
        filters = request.query_params.copy()
        output = filters.pop("format", ["json"])[-1]
        if output not in ("json", "csv"):
            raise ValidationError({"format": [f"Choose json or csv, not {output[:20]!r}."]})
        try:
            include_raw = parse_bool(filters.pop("include_raw", ["false"])[-1])
        except DjangoValidationError as exc:
            raise ValidationError({"include_raw": exc.messages}) from exc
        for name in ("page", "page_size"):
            filters.pop(name, None)
        try:
            rows = table_rows(user=request.user, table=table, filters=filters)
        except FilterError as exc:
            raise ValidationError(exc.errors) from exc
        model = FILTERS[table]._meta.model
        if not request.user.has_perm(f"canonical.view_{model._meta.model_name}"):
            raise PermissionDenied("Your role in this tenant does not allow viewing this table.")
        columns = table_columns(model, include_raw=include_raw)
        if output == "csv":
            if not request.user.has_perm("tenants.export_data"):
                raise PermissionDenied("Your role in this tenant does not allow exports.")
            return csv_response(rows, columns, table)
        paginator = Pagination()
        page = paginator.paginate_queryset(rows.values(*columns), request, view=self)
        return paginator.get_paginated_response(list(page))


class TableListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="tables_list", responses={200: dict})
    def get(self, request):
        return Response(
            [
                {"table": name, "columns": table_columns(f._meta.model)}
                for name, f in FILTERS.items()
                if request.user.has_perm(f"canonical.view_{f._meta.model._meta.model_name}")
            ]
        )
