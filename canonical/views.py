"""The data pages: every canonical table, filtered, sorted, paginated, exportable as CSV."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_tables2 import RequestConfig

from canonical.exports import csv_response, table_columns
from canonical.filters import FILTERS
from canonical.selectors import FilterError, table_rows
from canonical.tables import TABLES
from ecomops.pages import bad_filter_response, render_page, tenant_page

PAGE_SIZE = 50


@tenant_page()
def table_page(request: HttpRequest) -> HttpResponse:
    name = request.GET.get("table", "payouts")
    if name not in TABLES:
        reason = f"There is no table {name[:40]!r}; the tables are {', '.join(TABLES)}."
        return render(request, "404.html", {"reason": reason}, status=404)
    title, table_class = TABLES[name]
    model = FILTERS[name]._meta.model
    if not request.user.has_perm(f"canonical.view_{model._meta.model_name}"):
        return render(request, "403.html", status=403)
    filters = request.GET.copy()
    for key in ("table", "page", "sort", "format"):
        filters.pop(key, None)
    filterset = FILTERS[name](filters, queryset=model.objects.none())
    try:
        rows = table_rows(user=request.user, table=name, filters=filters)
        errors = None
    except FilterError as exc:
        rows, errors = model.objects.none(), exc.errors
    if request.GET.get("format") == "csv":
        if not request.user.has_perm("tenants.export_data"):
            return render(request, "403.html", status=403)
        if errors:
            return bad_filter_response(errors)
        # in the order the page shows (its column sort), else the table's own
        sort = request.GET.get("sort", "")
        if sort.lstrip("-") in {f.name for f in model._meta.concrete_fields}:
            rows = rows.order_by(sort, "pk")
        return csv_response(rows, table_columns(model), name)
    table = table_class(rows)
    RequestConfig(request, paginate={"per_page": PAGE_SIZE}).configure(table)
    context = {
        "table": table,
        "name": name,
        "title": title,
        "tables": TABLES,
        "filter": filterset,
        "errors": errors,
        "csv_query": request.GET.urlencode(),
    }
    return render_page(request, "canonical/table.html", "canonical/_table.html", context)
