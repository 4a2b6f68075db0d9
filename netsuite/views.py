"""The postings page: every journal entry to NetSuite with its state, approved or retried in
place through ``netsuite.services`` (audited, exactly once, as through the API)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
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
    return render_page(request, "netsuite/postings.html", "netsuite/_postings.html", _postings(request))


def _postings(request: HttpRequest, params: QueryDict | None = None) -> dict[str, Any]:
    return filtered_page(
        request,
        filterset_class=PostingFilter,
        rows=lambda filters: (
            selectors.posting_list(user=request.user, filters=filters)
            .select_related("payout")
            .defer("payout__raw_data")
        ),
        default=DEFAULT_FILTER,
        bad_filter=(FilterError,),
        params=params,
    )


BULK_DONE = {"approve": "approved: they are being sent", "retry": "queued to be sent again"}


@require_POST
@tenant_page("netsuite.view_netsuiteposting")
def posting_bulk_act(request: HttpRequest) -> HttpResponse:
    """Approve or retry the postings ticked in the list; the list answers again, filtered as it
    was, with how many were done and why the others were left as they were."""
    action, query = request.POST.get("action", ""), request.POST.get("query", "")
    ids = request.POST.getlist("ids")
    if action in ACTIONS and not request.user.has_perm(ACTIONS[action][0]):
        return render(request, "403.html", {"perm": ACTIONS[action][0]}, status=403)
    flash = error = ""
    if not ids:
        error = "Tick the postings to act on first."
    else:
        try:
            result = services.postings_bulk_act(actor=request.user, ids=ids, action=action)
        except ServiceError as exc:
            error = str(exc)
        else:
            flash = f"{len(result.changed)} {BULK_DONE[action]}."
            if result.skipped:
                shown = "; ".join(f"{item['payout']}: {item['reason'].rstrip('.')}" for item in result.skipped[:5])
                more = f" (and {len(result.skipped) - 5} more)" if len(result.skipped) > 5 else ""
                flash += f" {len(result.skipped)} left as they were: {shown}{more}."
    if not request.htmx:
        messages.add_message(request, messages.ERROR if error else messages.SUCCESS, error or flash)
        return redirect(f"{reverse('postings')}?{query}" if query else reverse("postings"))
    context = {**_postings(request, QueryDict(query)), "flash": flash, "error": error}
    return render(request, "netsuite/_postings.html", context)


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
    # Pressed under the entry on its payout's page (no htmx there): back to that entry.
    back = "postings"
    if request.POST.get("back") == "payout":
        back = f"{reverse('recon-payout', args=[posting.payout_id])}#entry-{posting.kind}"
    return action_answer(
        request, row="netsuite/_posting_row.html", context={"p": posting}, flash=flash, error=error, back=back
    )
