"""API errors: DRF's shape, plus service refusals as 400s with the field at fault (a refusal of
the user's role, ``code="forbidden"``, as the 403 the permission classes answer).

Whatever else goes wrong in an API view is answered in JSON too (never Django's HTML pages,
whose debug variant would show the request's values, credentials included): a body too
large is a 413, any other failure a 500 that names the correlation id of its log entry
(the failing service's own transaction has rolled back)."""

from __future__ import annotations

from typing import Any

import structlog
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from tenants.entitlements import EntitlementError
from tenants.services import ServiceError

logger = structlog.get_logger(__name__)

SERVER_ERROR_DETAIL = "The server failed to complete the request. Quote the correlation id when you report it."


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        body: dict[str, Any] = {"detail": str(exc), "code": exc.code}
        if exc.code == "forbidden":  # the role, not the input: no field to fix
            return Response(body, status=status.HTTP_403_FORBIDDEN)
        if exc.field:
            body[exc.field] = [str(exc)]
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, EntitlementError):
        return Response({"detail": str(exc), "code": "plan_limit"}, status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, Http404) and str(exc).endswith("matches the given query."):
        exc = Http404()  # get_object_or_404's message names the model class: an internal
    response = drf_exception_handler(exc, context)
    if response is not None:
        return response
    set_rollback()
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 1024 / 1024
        return Response(
            {"detail": f"The request body is larger than the {limit:g} MB this API accepts.", "code": "too_large"},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, SuspiciousOperation):
        return Response({"detail": "The request was refused as malformed.", "code": "bad_request"}, status=400)
    logger.error("api_unhandled_error", exc_info=exc)
    correlation_id = structlog.contextvars.get_contextvars().get("correlation_id", "")
    return Response(
        {
            "detail": SERVER_ERROR_DETAIL,
            "code": "server_error",
            "correlation_id": correlation_id,
        },
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
