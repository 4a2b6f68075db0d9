"""The schedules page: each schedule of the tenant in words, a form for a new one, and each row
turned on or off or run now in place. Every change goes through ``mcp_bridge.services`` (audited),
as through the API, the MCP tools and the admin."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from connections import selectors as connection_selectors
from connections.models import PAYMENT_PROVIDERS
from ecomops.pages import PAGE_SIZE, action_answer, render_page, tenant_page
from mcp_bridge import selectors, services
from mcp_bridge.forms import ScheduleForm, time_zone_names
from mcp_bridge.models import Schedule
from tenants.services import ServiceError


def _connections(request: HttpRequest) -> dict[str, str]:
    """The tenant's Stripe and Shopify connections the user may see, id to name."""
    found = connection_selectors.connection_list(user=request.user).filter(provider__in=PAYMENT_PROVIDERS)
    return {str(c.pk): c.name for c in found}


def _rows(request: HttpRequest, schedules: Any, names: dict[str, str] | None = None) -> list[Schedule]:
    """The schedules as the page shows them: their connections by name, and whether this user may
    run each one now (that needs the permission of what it starts)."""
    names = _connections(request) if names is None else names
    rows = list(schedules)
    for schedule in rows:
        schedule.connection_names = [names.get(pk, f"connection {pk}") for pk in schedule.connection_ids]
        schedule.can_run = services.schedule_may_start(actor=request.user, kind=schedule.kind)
    return rows


def _page_context(request: HttpRequest, form: ScheduleForm | None = None) -> dict[str, Any]:
    names = _connections(request)
    page = Paginator(selectors.schedule_list(user=request.user), PAGE_SIZE).get_page(request.GET.get("page", "1"))
    page.object_list = _rows(request, page.object_list, names)
    if form is None and request.user.has_perm("mcp_bridge.add_schedule"):
        form = ScheduleForm(connections=list(names.items()))
    return {"page": page, "query": "", "target": "#schedules", "form": form, "time_zones": time_zone_names()}


@tenant_page(selectors.VIEW_SCHEDULE)
def schedule_list(request: HttpRequest) -> HttpResponse:
    return render_page(request, "mcp_bridge/schedules.html", "mcp_bridge/_schedules.html", _page_context(request))


@require_POST
@tenant_page("mcp_bridge.add_schedule")
def schedule_new(request: HttpRequest) -> HttpResponse:
    """Create a schedule from the form; refused, the page answers again with each error next to
    its field and what was typed kept (a role that may not start what it would start: on ``kind``)."""
    form = ScheduleForm(request.POST, connections=list(_connections(request).items()))
    if form.is_valid():
        try:
            schedule = services.schedule_create(actor=request.user, **form.service_arguments())
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            messages.success(request, f"Scheduled: {schedule}. Next run {schedule.next_run_at:%Y-%m-%d %H:%M} UTC.")
            return redirect("schedules")
    return render(request, "mcp_bridge/schedules.html", _page_context(request, form), status=400)


ACTIONS = {
    "enable": ("mcp_bridge.change_schedule", "Enabled: next run {next} UTC."),
    "disable": ("mcp_bridge.change_schedule", "Disabled: it will not run until it is enabled again."),
    "run": (None, ""),  # the permission of what it starts: the service's to check
}


@require_POST
@tenant_page(selectors.VIEW_SCHEDULE)
def schedule_act(request: HttpRequest, pk: str, action: str) -> HttpResponse:
    """Enable, disable or run one schedule from its row; the row answers with the outcome."""
    schedule = selectors.schedule_get(user=request.user, schedule_id=pk)
    if action not in ACTIONS:
        return render(request, "404.html", status=404)
    perm = ACTIONS[action][0]
    if perm and not request.user.has_perm(perm):
        return render(request, "403.html", {"perm": perm}, status=403)
    flash = error = ""
    if action == "run":
        try:
            schedule = services.schedule_run_now(schedule=schedule, actor=request.user)
        except ServiceError as exc:
            if exc.code != "forbidden":
                raise
            # The row offers this role no Run now (``can_run``): a page from before the role changed, or a
            # post made by hand. A 403 that says which permission it needs: to htmx in plain text,
            # which the page shows over the list (static/js/app.js), else the 403 page.
            if getattr(request, "htmx", False):
                return HttpResponse(str(exc), status=403, content_type="text/plain; charset=utf-8")
            return render(request, "403.html", {"message": str(exc)}, status=403)
        if schedule.last_error:
            error = f"Queued nothing: {schedule.last_error}"
        elif schedule.last_recon_run_id:
            flash = "Run now: a reconciliation run is queued."
        else:
            count = len(schedule.last_sync_job_ids)
            flash = f"Run now: {count} sync{'' if count == 1 else 's'} queued."
    else:
        schedule = services.schedule_set_enabled(schedule=schedule, actor=request.user, enabled=action == "enable")
        flash = ACTIONS[action][1].format(next=f"{schedule.next_run_at:%Y-%m-%d %H:%M}")
    [schedule] = _rows(request, [schedule])
    row = "mcp_bridge/_schedule_row.html"
    return action_answer(request, row=row, context={"s": schedule}, flash=flash, error=error, back="schedules")
