"""The reconciliation pages: the exceptions queue (worked from the page), the runs, one
payout explained line by line, and a month's close. Every change goes through ``recon.services`` (audited)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST

from canonical.exports import csv_response
from connections.models import Provider
from ecomops.money import format_minor, major_units
from ecomops.pages import (
    action_answer,
    csv_download,
    filtered_page,
    page_filters,
    render_page,
    tenant_page,
)
from netsuite import selectors as netsuite_selectors
from netsuite import services as netsuite_services
from netsuite.models import NetsuitePosting, PostingState
from recon import selectors, services
from recon.close import Month, month_close, month_close_history, month_of, month_to_open, parse_month
from recon.exports import EXCEPTION_CSV_COLUMNS, exception_csv_row, exception_csv_rows
from recon.filters import ReconExceptionFilter
from recon.models import ExceptionState, PayoutStatus, RunTrigger
from tenants.services import ServiceError

# The queue a controller opens: what still needs a person.
DEFAULT_QUEUE = "state=open&state=acknowledged"


@tenant_page("recon.view_reconexception")
def exception_queue(request: HttpRequest) -> HttpResponse:
    if request.GET.get("format") == "csv":
        return csv_download(
            request,
            rows=lambda: exception_csv_rows(
                user=request.user,
                exceptions=selectors.exception_list(user=request.user, filters=page_filters(request, DEFAULT_QUEUE)),
            ),
            columns=EXCEPTION_CSV_COLUMNS,
            filename="exceptions",
            row=exception_csv_row,
            bad_filter=(ValidationError,),
        )
    if request.htmx and request.GET.get("part") == "status":  # re-read after a row's action
        summary = selectors.recon_summary(user=request.user)
        return render(request, "recon/_dashboard_status.html", {"recon": summary, "title": "Status"})
    context = _queue(request)
    if not request.htmx:  # the whole page; htmx asks for the queue alone
        context["summary"] = selectors.recon_summary(user=request.user)
        context["runs"] = list(selectors.recon_run_list(user=request.user)[:5])
    return render_page(request, "recon/queue.html", "recon/_queue.html", context)


def _queue(request: HttpRequest, params: QueryDict | None = None) -> dict[str, Any]:
    context = filtered_page(
        request,
        filterset_class=ReconExceptionFilter,
        rows=lambda filters: selectors.exception_list(user=request.user, filters=filters),
        default=DEFAULT_QUEUE,
        bad_filter=(ValidationError,),
        params=params,
    )
    page = context["page"]  # each row shows its history: the page's, in one query
    page.object_list = _rows(request, page.object_list)
    return context


def _rows(request: HttpRequest, exceptions: Any) -> list[Any]:
    """The queue's rows: each exception with its history and what it puts at stake."""
    rows = selectors.with_history(user=request.user, exceptions=exceptions)
    for exception in rows:
        exception.at_stake = _at_stake(exception)
    return rows


def _at_stake(e: Any) -> str:
    """What an exception puts at stake (``ReconException.with_at_stake``); blank when no amount is known."""
    if not e.at_stake_currency:
        return ""
    return format_minor(e.at_stake_minor, e.at_stake_currency, e.connection.provider if e.connection else "stripe")


BULK_DONE = {"acknowledge": "acknowledged", "resolve": "resolved"}


@require_POST
@tenant_page("recon.work_exception")
def exception_bulk_act(request: HttpRequest) -> HttpResponse:
    """Acknowledge or resolve the exceptions ticked in the queue, with one note; the queue
    answers again, filtered as it was, with what was done and what was left as it was."""
    action, query = request.POST.get("action", ""), request.POST.get("query", "")
    ids = request.POST.getlist("ids")
    flash = error = ""
    if not ids:
        error = "Tick the exceptions to act on first."
    else:
        try:
            result = services.exception_bulk(
                actor=request.user, ids=ids, action=action, note=request.POST.get("note", "")
            )
        except ServiceError as exc:
            error = str(exc)
        else:
            done = f"{len(result.changed)} {BULK_DONE[action]}"
            skipped = Counter(item["reason"] for item in result.skipped)
            flash = "; ".join([done, *(f"{n} left as they were ({reason})" for reason, n in skipped.items())]) + "."
    if not request.htmx:
        messages.add_message(request, messages.ERROR if error else messages.SUCCESS, error or flash)
        return redirect(f"{reverse('recon')}?{query}" if query else reverse("recon"))
    context = {**_queue(request, QueryDict(query)), "flash": flash, "error": error}
    response = render(request, "recon/_queue.html", context)
    if flash:
        response["HX-Trigger"] = "recon-changed"  # the page's status block reads itself again
    return response


@require_POST
@tenant_page("recon.work_exception")
def exception_act(request: HttpRequest, pk: str, action: str) -> HttpResponse:
    """Acknowledge or resolve one exception from its row; the row answers with its new state."""
    exception = selectors.exception_get(user=request.user, pk=pk)
    flash = error = ""
    try:
        changed = services.exception_act(
            actor=request.user, exception=exception, action=action, note=request.POST.get("note", "")
        )
        flash = "Resolved." if changed.state == ExceptionState.RESOLVED else "Acknowledged."
        exception = selectors.exception_get(user=request.user, pk=pk)  # as the queue lists it
    except ServiceError as exc:
        error = str(exc)
    [exception] = _rows(request, [exception])
    response = action_answer(
        request, row="recon/_exception_row.html", context={"e": exception}, flash=flash, error=error, back="recon"
    )
    if not error:
        response["HX-Trigger"] = "recon-changed"  # the page's status block reads itself again
    return response


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
        exception["state_label"] = ExceptionState(exception["state"]).label
        for change in exception["history"]:  # shown as every page shows a time
            change["at"] = parse_datetime(change["at"])
    context = {
        "x": explain,
        "summary": explain["summary"],
        "status_label": PayoutStatus(explain["status"]).label if explain["status"] else "",
        "amount": money(payout["amount_minor"]),
        "lines_total": money(explain["lines_total_minor"]),
        "postings": _payout_postings(request, payout["id"]),
        "month": payout["arrival_date"][:7] if payout["arrival_date"] else "",
    }
    return render(request, "recon/payout.html", context)


def _payout_postings(request: HttpRequest, payout_id: str) -> list[NetsuitePosting] | None:
    """The payout's journal entries (its own, and the reversal of one that failed), so its page
    says where it stands in NetSuite and leads to it; None for a role that may not see postings."""
    if not request.user.has_perm("netsuite.view_netsuiteposting"):
        return None
    postings = list(netsuite_selectors.posting_list(user=request.user, filters={"payout": payout_id}).order_by("kind"))
    for posting in postings:  # each entry line by line: what a person approves, or what NetSuite holds
        entry = netsuite_services.posting_entry(posting=posting)
        posting.entry = entry
        posting.entry_lines = [
            {
                "line": line,
                "mapped_as": line.mapped_as.replace("_", " "),
                "debit": format_minor(line.debit_minor, entry.currency, posting.source) if line.debit_minor else "",
                "credit": format_minor(line.credit_minor, entry.currency, posting.source) if line.credit_minor else "",
            }
            for line in entry.lines
        ]
        posting.entry_totals = (
            format_minor(entry.debit_minor, entry.currency, posting.source),
            format_minor(entry.credit_minor, entry.currency, posting.source),
        )
    return postings


# The payouts a month's page lists (the CSV has them all).
CLOSE_PAGE_ROWS = 1000

# A month's payouts as the controller files them with the close: amounts in major units.
CLOSE_CSV_COLUMNS = [
    "arrival_date",
    "processor",
    "connection",
    "payout",
    "payout_status",
    "amount",
    "currency",
    "recon_status",
    "difference",
    "open_exceptions",
    "posting_state",
    "netsuite_id",
    "reversal_state",
    "reversal_netsuite_id",
]


def _close_csv_row(row: dict[str, Any]) -> list[Any]:
    posting, reversal = row["posting"] or {}, row["reversal"] or {}
    return [
        row["arrival_date"].isoformat(),
        row["source"],
        row["connection"],
        row["source_id"],
        row["status"],
        major_units(row["amount_minor"], row["currency"], row["source"]),
        row["currency"],
        row["recon_status"],
        major_units(row["difference_minor"], row["currency"], row["source"]),
        row["open_exceptions"],
        posting.get("state", ""),
        posting.get("netsuite_internal_id", ""),
        reversal.get("state", ""),
        reversal.get("netsuite_internal_id", ""),
    ]


@tenant_page("recon.view_reconpayout")
def close_page(request: HttpRequest) -> HttpResponse:
    """``/close/?month=YYYY-MM`` (by default the latest ended month with payouts, see
    ``recon.close.month_to_open``): what stands between the month and its close, and its
    payouts; ``&format=csv`` downloads the payouts."""
    today = timezone.localdate()
    try:
        month: Month = (
            parse_month(request.GET["month"])
            if request.GET.get("month")
            else month_to_open(user=request.user, today=today)
        )
    except ValidationError as exc:
        # the page itself, with the reason and the month picker, not a bare text answer
        context = {"error": " ".join(exc.messages), "month": month_of(today).previous, "this_month": month_of(today)}
        return render(request, "recon/close_bad_month.html", context, status=400)
    if request.GET.get("format") == "csv":
        if not request.user.has_perm("tenants.export_data"):
            return render(request, "403.html", status=403)
        close = month_close(user=request.user, month=month)
        return csv_response(close["payouts"], CLOSE_CSV_COLUMNS, f"close-{month.label}", row=_close_csv_row)
    return _close_page(request, month, today)


def _close_page(request: HttpRequest, month: Month, today: Any, **extra: Any) -> HttpResponse:
    close = month_close(user=request.user, month=month)
    shown = close["payouts"][:CLOSE_PAGE_ROWS]
    for row in shown:
        row["display"] = {
            "amount": format_minor(row["amount_minor"], row["currency"], row["source"]),
            "difference": format_minor(row["difference_minor"], row["currency"], row["source"])
            if row["difference_minor"]
            else "",
            # the states in words, as the Postings page they lead to says them
            "posting_state": PostingState(row["posting"]["state"]).label if row["posting"] else "",
            "reversal_state": PostingState(row["reversal"]["state"]).label if row["reversal"] else "",
        }
    for total in close["totals"]:
        total["display"] = {
            key: format_minor(total[f"{key}_minor"], total["currency"], total["source"])
            for key in ("paid", "failed", "posted", "not_posted")
        }
        total["display"]["processor"] = Provider(total["source"]).label
    for account in (close["posted_by_account"] or {}).get("accounts", []):
        account["display"] = {
            "processor": Provider(account["source"]).label,
            "mapped_as": account["mapped_as"].replace("_", " "),
            **{
                side: format_minor(account[f"{side}_minor"], account["currency"], account["source"])
                for side in ("debit", "credit")
            },
        }
    context = {
        "close": close,
        "shown": shown,
        "month": month,
        "this_month": month_of(today),
        "can_export": request.user.has_perm("tenants.export_data"),
        "history": month_close_history(user=request.user, month=month),
        **extra,
    }
    return render(request, "recon/close.html", context)


def _drift_rows(drift: Any, names: dict[str, str]) -> list[dict[str, str]]:
    """What moved in an entry edited in NetSuite, a row each: its date, then each account."""
    posting = drift.posting
    rows = []
    if drift.status == "changed" and drift.sent_date != drift.held_date:
        rows.append({"what": "date", "sent": drift.sent_date, "held": drift.held_date})
    for account in drift.accounts:
        name = names.get(account.account_id, "")
        rows.append(
            {
                "what": f"{name} (id {account.account_id})" if name else account.account_id,
                "sent": format_minor(account.sent_minor, posting.currency, posting.source),
                "held": format_minor(account.held_minor, posting.currency, posting.source),
            }
        )
    return rows


@require_POST
@tenant_page("netsuite.view_netsuiteposting")
def close_netsuite_check(request: HttpRequest) -> HttpResponse:
    """Look the month's posted entries up in NetSuite (``netsuite.services.posted_entries_verify``):
    the close page's section with the answer (htmx), or the whole page with it."""
    try:
        month = parse_month(request.POST.get("month"))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("close")
    try:
        result = netsuite_services.posted_entries_verify(actor=request.user, first=month.first, last=month.last)
        check = {"result": result, "error": ""}
    except ServiceError as exc:
        check = {"result": None, "error": str(exc)}
    if check["result"] is not None:
        names = netsuite_selectors.account_names()
        check["drift"] = [{"drift": drift, "rows": _drift_rows(drift, names)} for drift in result.drift]
    if getattr(request, "htmx", False):
        return render(request, "recon/_close_netsuite_check.html", {"month": month, "check": check})
    return _close_page(request, month, timezone.localdate(), check=check)


@require_POST
@tenant_page("recon.close_month")
def close_act(request: HttpRequest, action: str) -> HttpResponse:
    """Close or reopen the month named in the form; back to its page with the outcome."""
    try:
        month = parse_month(request.POST.get("month"))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("close")
    note = request.POST.get("note", "")
    try:
        if action == "close":
            services.month_close_record(actor=request.user, month=month, note=note)
            messages.success(request, f"{month.label} is closed.")
        elif action == "reopen":
            services.month_reopen(actor=request.user, month=month, note=note)
            messages.success(request, f"{month.label} is open again.")
        else:
            return render(request, "404.html", status=404)
    except ServiceError as exc:
        messages.error(request, str(exc))
    return redirect(f"{reverse('close')}?month={month.label}")
