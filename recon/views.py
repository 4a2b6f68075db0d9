"""The reconciliation pages: the exceptions queue (worked from the page), the runs, and one
payout explained line by line. Every change goes through ``recon.services`` (audited)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ecomops.money import format_minor
from ecomops.pages import action_answer, filtered_page, render_page, tenant_page
from recon import selectors, services
from recon.filters import ReconExceptionFilter
from recon.models import ExceptionState, RunTrigger
from tenants.services import ServiceError

# The queue a controller opens: what still needs a person.
DEFAULT_QUEUE = "state=open&state=acknowledged"


@tenant_page("recon.view_reconexception")
def exception_queue(request: HttpRequest) -> HttpResponse:
    context = filtered_page(
        request,
        filterset_class=ReconExceptionFilter,
        rows=lambda filters: selectors.exception_list(user=request.user, filters=filters),
        default=DEFAULT_QUEUE,
        bad_filter=(ValidationError,),
    )
    if not request.htmx:  # the whole page; htmx asks for the queue alone
        context["summary"] = selectors.recon_summary(user=request.user)
        context["runs"] = list(selectors.recon_run_list(user=request.user)[:5])
    return render_page(request, "recon/queue.html", "recon/_queue.html", context)


@require_POST
@tenant_page("recon.work_exception")
def exception_act(request: HttpRequest, pk: str, action: str) -> HttpResponse:
    """Acknowledge or resolve one exception from its row; the row answers with its new state."""
    exception = selectors.exception_get(user=request.user, pk=pk)
    flash = error = ""
    try:
        exception = services.exception_act(
            actor=request.user, exception=exception, action=action, note=request.POST.get("note", "")
        )
        flash = "Resolved." if exception.state == ExceptionState.RESOLVED else "Acknowledged."
    except ServiceError as exc:
        error = str(exc)
    return action_answer(
        request, row="recon/_exception_row.html", context={"e": exception}, flash=flash, error=error, back="recon"
    )


@require_POST
@tenant_page("recon.run_recon")
def run_now(request: HttpRequest) -> HttpResponse:
    """Queue a run of every enabled connection (the worker does it; the page shows its outcome)."""
    try:
        services.recon_run_start(actor=request.user, trigger=RunTrigger.PAGE)
        flash = "Reconciliation queued."
    except ServiceError as exc:
        flash = str(exc)
    runs = list(selectors.recon_run_list(user=request.user)[:5])
    if not request.htmx:
        messages.info(request, flash)
        return redirect("recon")
    return render(request, "recon/_runs.html", {"runs": runs, "flash": flash})


@tenant_page("recon.view_reconpayout")
def payout_page(request: HttpRequest, pk: str) -> HttpResponse:
    explain = selectors.payout_explain(user=request.user, payout_id=pk)
    payout = explain["payout"]
    currency, source = payout["currency"], payout["connection"]["provider"]

    def money(amount: int | None, in_currency: str | None = None) -> str:
        return "" if amount is None else format_minor(amount, in_currency or currency, source)

    for line in explain["lines"]:
        line["display"] = {key: money(line[f"{key}_minor"], line["currency"]) for key in ("amount", "fee", "net")}
        matched: dict[str, Any] | None = line["matched"]
        if matched and "amount_minor" in matched:
            matched["display"] = money(matched["amount_minor"], matched.get("currency"))
    for exception in explain["exceptions"]:
        exception["expected"] = money(exception["expected_minor"], exception["expected_currency"])
        exception["actual"] = money(exception["actual_minor"], exception["actual_currency"])
    context = {
        "x": explain,
        "amount": money(payout["amount_minor"]),
        "lines_total": money(explain["lines_total_minor"]),
    }
    return render(request, "recon/payout.html", context)
