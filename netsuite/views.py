"""The postings page: every journal entry to NetSuite with its state, approved or retried in
place through ``netsuite.services`` (audited, exactly once, as through the API)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from ecomops.money import major_units
from ecomops.pages import action_answer, csv_download, filtered_page, page_filters, render_page, tenant_page
from netsuite import selectors, services
from netsuite.filters import PostingFilter
from netsuite.models import NetsuitePosting
from netsuite.selectors import FilterError
from tenants.services import ServiceError

# What a controller acts on first: entries to approve and entries that failed.
DEFAULT_FILTER = "state=draft&state=failed"
ACTIONS = {
    "approve": ("netsuite.approve_posting", services.posting_approve, "Approved: it is being sent."),
    "retry": ("netsuite.retry_posting", services.posting_retry, "Queued to be sent again."),
}


# Every journal entry as a controller hands the list on: amounts exact, in major units.
POSTING_CSV_COLUMNS = [
    "payout",
    "kind",
    "amount",
    "currency",
    "arrival_date",
    "state",
    "external_id",
    "netsuite_journal",
    "attempts",
    "error_code",
    "last_error",
    "approved_by",
    "approved_at",
    "posted_at",
]


def _posting_csv_row(p: NetsuitePosting) -> list[Any]:
    return [
        p.source_id,
        p.kind,
        major_units(p.amount_minor, p.currency, p.source),
        p.currency,
        p.arrival_date or "",
        p.state,
        p.external_id,
        p.netsuite_internal_id,
        p.attempts,
        p.error_code,
        p.last_error,
        p.approved_by_email or ("automatic" if p.approved_at else ""),
        p.approved_at.isoformat() if p.approved_at else "",
        p.posted_at.isoformat() if p.posted_at else "",
    ]


@tenant_page("netsuite.view_netsuiteposting")
def posting_list(request: HttpRequest) -> HttpResponse:
    if request.GET.get("format") == "csv":
        return csv_download(
            request,
            rows=lambda: selectors.posting_list(user=request.user, filters=page_filters(request, DEFAULT_FILTER)),
            columns=POSTING_CSV_COLUMNS,
            filename="postings",
            row=_posting_csv_row,
            bad_filter=(FilterError,),
        )
    context = filtered_page(
        request,
        filterset_class=PostingFilter,
        rows=lambda filters: (
            selectors.posting_list(user=request.user, filters=filters)
            .select_related("payout")
            .defer("payout__raw_data")
        ),
        default=DEFAULT_FILTER,
        bad_filter=(FilterError,),
    )
    return render_page(request, "netsuite/postings.html", "netsuite/_postings.html", context)


@require_POST
@tenant_page("netsuite.view_netsuiteposting")
def posting_act(request: HttpRequest, pk: str, action: str) -> HttpResponse:
    posting = selectors.posting_get(user=request.user, pk=pk)
    flash = error = ""
    if action not in ACTIONS:
        error = f"Unknown action {action!r}; choose approve or retry."
    else:
        perm, act, done = ACTIONS[action]
        if not request.user.has_perm(perm):
            return render(request, "403.html", {"perm": perm}, status=403)
        try:
            posting = act(posting=posting, actor=request.user)
            flash = done
        except ServiceError as exc:
            error = str(exc)
    return action_answer(
        request, row="netsuite/_posting_row.html", context={"p": posting}, flash=flash, error=error, back="postings"
    )
