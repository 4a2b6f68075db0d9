"""Connections and jobs pages: test and sync from the browser, with live progress."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from connections import selectors, services
from connections.filters import SyncJobFilter
from connections.models import SyncJobStatus
from connections.sync.runner import sync_start
from ecomops.pages import render_page, tenant_page
from tenants.services import ServiceError


@tenant_page("connections.view_connection")
def connection_list(request: HttpRequest) -> HttpResponse:
    connections = selectors.connection_list(user=request.user)
    latest = {}
    for job in selectors.sync_job_list(user=request.user)[:200]:
        latest.setdefault(job.connection_id, job)
    rows = [(c, latest.get(c.pk)) for c in connections]
    return render_page(request, "connections/list.html", "connections/_rows.html", {"rows": rows})


@require_POST
@tenant_page("connections.test_connection")
def connection_test(request: HttpRequest, pk: str) -> HttpResponse:
    connection = selectors.connection_get(user=request.user, pk=pk)
    _ok, message = services.connection_test(actor=request.user, connection=connection)
    job = selectors.sync_job_list(user=request.user, connection_id=connection.pk).first()
    return render(request, "connections/_row.html", {"connection": connection, "job": job, "flash": message})


@require_POST
@tenant_page("connections.sync_connection")
def connection_sync(request: HttpRequest, pk: str) -> HttpResponse:
    connection = selectors.connection_get(user=request.user, pk=pk)
    try:
        job = sync_start(connection=connection, actor=request.user, trigger="page")
        flash = ""
    except ServiceError as exc:
        job, flash = selectors.sync_job_list(user=request.user, connection_id=connection.pk).first(), str(exc)
    return render(request, "connections/_row.html", {"connection": connection, "job": job, "flash": flash})


@tenant_page("connections.view_connection")
def connection_row(request: HttpRequest, pk: str) -> HttpResponse:
    """Polled by the row while its sync runs: the live progress."""
    connection = selectors.connection_get(user=request.user, pk=pk)
    job = selectors.sync_job_list(user=request.user, connection_id=connection.pk).first()
    return render(request, "connections/_row.html", {"connection": connection, "job": job})


@tenant_page("connections.view_syncjob")
def job_list(request: HttpRequest) -> HttpResponse:
    filters = SyncJobFilter(request.GET, queryset=selectors.sync_job_list(user=request.user))
    jobs = list(filters.qs[:100]) if filters.is_valid() else []
    running = any(job.status in (SyncJobStatus.QUEUED, SyncJobStatus.RUNNING) for job in jobs)
    context = {"jobs": jobs, "running": running, "errors": filters.errors, "query": request.GET.urlencode()}
    response = render_page(request, "connections/jobs.html", "connections/_jobs.html", context)
    if filters.errors:
        response.status_code = 400
    return response
