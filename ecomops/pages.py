"""What every console page shares: a tenant, a permission, full-page-or-partial rendering,
filtered lists and the answers of a row's actions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render, resolve_url

from ecomops.tenancy import current_tenant


def tenant_page(perm: str | None = None) -> Callable:
    """A signed-in page inside the user's tenant, gated by ``perm`` (403 page otherwise)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return _sign_in_first(request)
            if current_tenant() is None:
                return render(request, "404.html", status=404)
            if perm and not request.user.has_perm(perm):
                return render(request, "403.html", {"perm": perm}, status=403)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def _sign_in_first(request: HttpRequest) -> HttpResponse:
    """To the login page, and back afterwards. An htmx request (a row's button after the
    session expired) gets the whole window sent there (``HX-Redirect``), not the login page
    swapped into the row, and comes back to the page it was on, not to the action's URL."""
    if not getattr(request, "htmx", False):
        return redirect_to_login(request.get_full_path())
    back = urlsplit(request.headers.get("HX-Current-URL", ""))
    path = back.path + (f"?{back.query}" if back.query else "")
    if not back.path or back.netloc not in ("", request.get_host()):
        path = "/"
    response = HttpResponse("Your session has ended; sign in again.", status=401, content_type="text/plain")
    response["HX-Redirect"] = f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': path})}"
    return response


def render_page(request: HttpRequest, template: str, partial: str, context: dict[str, Any]) -> HttpResponse:
    """The full page, or only its partial when htmx asks (the same view answers both)."""
    return render(request, partial if getattr(request, "htmx", False) else template, context)


PAGE_SIZE = 50


ORDER_KEYS = ("sort", "ordering")  # how a list is ordered, not which rows it holds


def page_filters(request: HttpRequest, default: str, params: QueryDict | None = None) -> QueryDict:
    """A list page's filters from its query string (or ``params``, the filters a form posted
    back): ``default`` (a query string) when none is given, so the list opens on what needs
    acting on; the page number and format left out.

    A filter given empty is a choice, not an absence: the filter form sends its fields even
    when a person clears them all (every state box unticked means every state), so the
    default applies only when no filter is named at all."""
    filters = (request.GET if params is None else params).copy()
    for key in ("page", "format"):
        filters.pop(key, None)
    if not any(key not in ORDER_KEYS for key in filters):
        order = {key: filters.getlist(key) for key in ORDER_KEYS if key in filters}
        filters = QueryDict(default, mutable=True)
        for key, values in order.items():  # a sort alone keeps the default filters
            filters.setlist(key, values)
    return filters


def bad_filter_response(errors: Mapping[str, Any]) -> HttpResponse:
    """A download asked for with filters that do not hold: a 400 that says which and why, in
    words (an empty file would read as "nothing matched")."""
    text = "; ".join(f"{field}: {' '.join(str(m) for m in messages)}" for field, messages in errors.items())
    return HttpResponse(f"Bad filter: {text}", status=400, content_type="text/plain; charset=utf-8")


def csv_download(
    request: HttpRequest,
    *,
    rows: Callable[[], Any],
    columns: list[str],
    filename: str,
    row: Callable[[Any], Any] | None = None,
    bad_filter: tuple[type[Exception], ...] = (),
) -> HttpResponse:
    """A list as filtered on its page (every page of it) as CSV, for users who may export.

    ``rows()`` is the selector; a filter it refuses (``bad_filter``, whose ``errors`` or
    ``message_dict`` say why) is a 400 in words.
    """
    from canonical.exports import csv_response

    if not request.user.has_perm("tenants.export_data"):
        return render(request, "403.html", {"perm": "tenants.export_data"}, status=403)
    try:
        found = rows()
    except bad_filter as exc:
        return bad_filter_response(getattr(exc, "errors", None) or getattr(exc, "message_dict", {}))
    return csv_response(found, columns, filename, row=row)


def filtered_page(
    request: HttpRequest,
    *,
    filterset_class: Any,
    rows: Callable[[QueryDict], QuerySet],
    default: str,
    bad_filter: tuple[type[Exception], ...],
    params: QueryDict | None = None,
) -> dict[str, Any]:
    """The context of a filtered, paginated list: ``filter`` (its form), ``errors``, ``page``
    and ``query`` (the filters, for the pager's links). ``params``: the filters to use instead
    of the query string's (an action posted from the list shows the list again as it was).

    With no filter given, ``default`` (a query string) applies: the list opens on what needs
    acting on. ``rows(filters)`` is the selector; a filter it refuses (``bad_filter``) shows
    the form's errors over an empty list.
    """
    page_number = request.GET.get("page", "1") if params is None else "1"
    filters = page_filters(request, default, params)
    form = filterset_class(filters, queryset=filterset_class._meta.model.objects.none())
    try:
        found, errors = rows(filters), None
    except bad_filter:
        found, errors = filterset_class._meta.model.objects.none(), form.errors
    return {
        "filter": form,
        "errors": errors,
        "page": Paginator(found, PAGE_SIZE).get_page(page_number),
        "query": filters.urlencode(),
    }


def action_answer(
    request: HttpRequest, *, row: str, context: dict[str, Any], flash: str, error: str, back: str
) -> HttpResponse:
    """What a row's action answers: to htmx, the row itself with the outcome; to a plain form
    post (no JavaScript), a redirect to ``back`` with the outcome as a message."""
    if not getattr(request, "htmx", False):
        messages.add_message(request, messages.ERROR if error else messages.SUCCESS, error or flash)
        return redirect(back)
    return render(request, row, {**context, "flash": flash, "error": error})
