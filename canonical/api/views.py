"""``/api/v1/tables/<table>/``: query any canonical table; ``?format=csv`` streams it as CSV."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from canonical.api.serializers import TableOutput
from canonical.exports import csv_response, table_columns
from canonical.filters import FILTERS, parse_bool
from canonical.selectors import FilterError, table_rows
from ecomops.api.filters import PAGING, check_list_query
from ecomops.api.pagination import Pagination


class TableView(APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = Pagination

    @extend_schema(
        operation_id="tables_query",
        description=(
            "Its filters depend on the table (`GET /api/v1/tables/` lists the tables): a filter the table "
            "does not take is answered 400 with the ones it does."
        ),
        parameters=[
            OpenApiParameter("format", str, enum=["json", "csv"]),
            OpenApiParameter("include_raw", bool, description="include the source object as received"),
        ],
        responses={200: dict},
    )
    def get(self, request, table: str):
        filterset_class = FILTERS.get(table)
        if filterset_class is None:
            raise Http404
        query = request.query_params
        check_list_query(query, self, filterset_class, options=("format", "include_raw"))
        output = query.get("format", "json")
        if output not in ("json", "csv"):
            raise ValidationError({"format": [f"Choose json or csv, not {output[:20]!r}."]})
        try:
            include_raw = parse_bool(query.get("include_raw", "false"))
        except DjangoValidationError as exc:
            raise ValidationError({"include_raw": exc.messages}) from exc
        try:
            rows = table_rows(user=request.user, table=table, filters=query)
        except FilterError as exc:
            raise ValidationError(exc.errors) from exc
        model = filterset_class._meta.model
        if not request.user.has_perm(f"canonical.view_{model._meta.model_name}"):
            raise PermissionDenied("Your role in this tenant does not allow viewing this table.")
        columns = table_columns(model, include_raw=include_raw)
        if output == "csv":
            if paging := sorted(set(query) & set(PAGING)):
                raise ValidationError({name: ["A CSV export holds every row: it is not paged."] for name in paging})
            if not request.user.has_perm("tenants.export_data"):
                raise PermissionDenied("Your role in this tenant does not allow exports.")
            return csv_response(rows, columns, table)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rows.values(*columns), request, view=self)
        return paginator.get_paginated_response(list(page))


class TableListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="tables_list", responses={200: TableOutput(many=True)})
    def get(self, request):
        check_list_query(request.query_params, self)
        return Response(
            [
                {"table": name, "columns": table_columns(f._meta.model)}
                for name, f in FILTERS.items()
                if request.user.has_perm(f"canonical.view_{f._meta.model._meta.model_name}")
            ]
        )
