"""API errors: DRF's shape, plus service refusals as 400s with the field at fault."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from tenants.entitlements import EntitlementError
from tenants.services import ServiceError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        body: dict[str, Any] = {"detail": str(exc), "code": exc.code}
        if exc.field:
            body[exc.field] = [str(exc)]
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, EntitlementError):
        return Response({"detail": str(exc), "code": "plan_limit"}, status=status.HTTP_403_FORBIDDEN)
    return drf_exception_handler(exc, context)
