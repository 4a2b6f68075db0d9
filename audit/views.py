from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from audit.filters import AuditEventFilter
from audit.models import AUDIT_EVENT_FIELDS, AuditEvent
from audit.selectors import audit_event_list
from ecomops.pages import csv_download, render_page, tenant_page

# The trail as auditors ask for it: every field the API gives, the detail as JSON.
AUDIT_CSV_COLUMNS = [name for name in AUDIT_EVENT_FIELDS if name not in ("id", "actor_id")]


class _BadFilter(ValueError):
    def __init__(self, errors: dict) -> None:
        super().__init__("invalid filters")
        self.errors = errors


def _events(request: HttpRequest) -> QuerySet[AuditEvent]:
    filters = request.GET.copy()
    for key in ("page", "format"):
        filters.pop(key, None)
    filterset = AuditEventFilter(filters)
    if not filterset.is_valid():
        raise _BadFilter(filterset.errors)
    return audit_event_list(user=request.user, filters=filters)


@tenant_page("audit.view_auditevent")
def audit_page(request: HttpRequest) -> HttpResponse:
    if request.GET.get("format") == "csv":
        return csv_download(
            request,
            rows=lambda: _events(request),
            columns=AUDIT_CSV_COLUMNS,
            filename="audit",
            bad_filter=(_BadFilter,),
        )
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
