"""What every API request passes through before its view, and after it.

* ``WriteQueryMiddleware``: a write (POST, PUT, PATCH, DELETE) reads its input from the JSON
  body alone; a query string on one would be ignored (``POST /recon/runs/?payout_ids=po_1``
  ran over every payout), so it is refused before the view runs and nothing is done.
* ``JsonErrorMiddleware``: a failure outside a DRF view's own exception handling (in a
  middleware, in a plain view), and a request Django refuses itself (a ``Host`` it does not
  serve) or a 404 raised in a middleware, is answered in the API's JSON with ``DEBUG`` on
  too, where Django would answer its debug page: the request's values (the
  ``Authorization`` header included) and the traceback.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import DisallowedHost, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse

from ecomops.api.handlers import bad_request, is_api, not_found, server_error

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NAMES_SHOWN, _NAME_LENGTH = 10, 40
CORRELATION_HEADER = "X-Correlation-ID"


def _answers(view_func: Callable, method: str) -> bool:
    """Whether the view is an API view (DRF's ``as_view`` names its class) that answers the
    method: one that does not is left to answer its own 405 (or 404)."""
    view_class = getattr(view_func, "cls", None)
    handler = method.lower()
    return view_class is not None and handler in view_class.http_method_names and hasattr(view_class, handler)


def _shown(name: str) -> str:
    return name if len(name) <= _NAME_LENGTH else f"{name[:_NAME_LENGTH]}..."


class WriteQueryMiddleware:
    """Refuse (400) an API write that carries query parameters, naming them.

    No API write takes query parameters (each reads its body only, through its input
    serializer), so there is nothing to keep working; were one ever to, it would say so here.
    A read keeps its query: filters, the pager, ``?format=csv``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func: Callable, view_args, view_kwargs) -> HttpResponse | None:
        method = request.method or ""
        if method not in WRITES or not is_api(request) or not request.GET or not _answers(view_func, method):
            return None
        names = [_shown(name) for name in request.GET]
        listed = ", ".join(names[:_NAMES_SHOWN])
        if len(names) > _NAMES_SHOWN:
            listed += f" and {len(names) - _NAMES_SHOWN} more"
        message = (
            f"Query parameters are not read on a {method}: {listed}. They belong in the JSON body; nothing was done."
        )
        each = f"A query parameter of a {method}, not read: it belongs in the JSON body."
        # Each parameter named as a field at fault (as refused input is), then the message, so
        # a parameter called "detail" or "code" cannot take their place.
        body = {name: [each] for name in names[:_NAMES_SHOWN]}
        body.update(detail=message, code="query_on_write")
        return JsonResponse(body, status=400)


class JsonErrorMiddleware:
    """Under ``/api/``, an error answer that is not the API's JSON (Django's debug page when
    ``DEBUG`` is on; DRF's browsable page for a client asking for HTML) is replaced by the
    JSON Django's handlers answer with ``DEBUG`` off: for a 500 the correlation id and
    nothing of the failure, for a 400 why the request was refused, for a 404 that nothing is
    there.

    First in ``MIDDLEWARE``, so it sees what every other middleware answers: Django turns a
    failure into a response at the middleware it happened in, so an error page can only be
    replaced, not prevented. Django has logged the failure by then, with its traceback.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code not in REPLACED or not is_api(request):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        replaced = REPLACED[response.status_code](request)
        if CORRELATION_HEADER in response:
            replaced[CORRELATION_HEADER] = response[CORRELATION_HEADER]
        return replaced


def _refused(request: HttpRequest) -> HttpResponse:
    # Django's debug page does not say which refusal it was; the one the API names is a Host
    # it does not serve, which asking for the host again tells.
    try:
        request.get_host()
    except DisallowedHost as exc:
        return bad_request(request, exc)
    return bad_request(request, SuspiciousOperation())


REPLACED: dict[int, Callable[[HttpRequest], HttpResponse]] = {400: _refused, 404: not_found, 500: server_error}
