from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse

from audit.filters import AuditEventFilter
from audit.selectors import audit_event_list
from ecomops.pages import render_page, tenant_page


@tenant_page("audit.view_auditevent")
def audit_page(request: HttpRequest) -> HttpResponse:
    filterset = AuditEventFilter(request.GET)
    events = audit_event_list(user=request.user, filters=request.GET) if filterset.is_valid() else []
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render_page(
        request,
        "audit/list.html",
        "audit/_events.html",
        {"page": page, "filter": filterset, "query": query.urlencode()},
    )
