"""The postings page: every journal entry to NetSuite with its state, approved or retried in
place through ``netsuite.services`` (audited, exactly once, as through the API)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from ecomops.pages import action_answer, filtered_page, render_page, tenant_page
from netsuite import selectors, services
from netsuite.filters import PostingFilter
from netsuite.selectors import FilterError
from tenants.services import ServiceError

# What a controller acts on first: entries to approve and entries that failed.
DEFAULT_FILTER = "state=draft&state=failed"
ACTIONS = {
    "approve": ("netsuite.approve_posting", services.posting_approve, "Approved: it is being sent."),
    "retry": ("netsuite.retry_posting", services.posting_retry, "Queued to be sent again."),
}


@tenant_page("netsuite.view_netsuiteposting")
def posting_list(request: HttpRequest) -> HttpResponse:
    context = filtered_page(
        request,
        filterset_class=PostingFilter,
        rows=lambda filters: selectors.posting_list(user=request.user, filters=filters).select_related("payout"),
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
