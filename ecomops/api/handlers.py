"""Django's error answers (``handler400``, ``handler500``) for what fails before a view runs: a
request refused by Django itself (a ``Host`` that is not allowed, a malformed header) or a
failure in a middleware; and the 404 ``JsonErrorMiddleware`` answers for one raised there.
Under ``/api/`` they answer JSON in the API's one error shape, as ``ecomops.api.exceptions``
does for what fails inside a view; elsewhere Django's own pages.
"""

from __future__ import annotations

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from ecomops.api.exceptions import SERVER_ERROR_DETAIL


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api(request):
        return defaults.bad_request(request, exception)
    detail = "The request was refused as malformed."
    if isinstance(exception, DisallowedHost):
        detail = "The Host header names no site this server answers for."
    return JsonResponse({"detail": detail, "code": "bad_request"}, status=400)


def not_found(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if not is_api(request):
        return defaults.server_error(request)
    body = {
        "detail": SERVER_ERROR_DETAIL,
        "code": "server_error",
        "correlation_id": getattr(request, "correlation_id", ""),
    }
    return JsonResponse(body, status=500)
