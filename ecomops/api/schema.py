"""The OpenAPI schema documents the refusals an endpoint answers, not only its success.

Every error under ``/api/`` has one shape (``ecomops.api.exceptions``): ``detail`` in words,
often a ``code``, and for refused input each field at fault with its messages. Which codes an
operation can answer follows from what it is: it takes a body or query filters (400), needs
a signed-in user (401), a permission of the tenant (403), or names an object in its path or
pages through a list (404). Every list refuses a query parameter it does not know (400,
``ecomops.api.filters``). A view states any other code (a 404 for ids in its body) in its
own ``extend_schema(responses=...)``, with an ``OpenApiResponse`` that describes it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny

from ecomops.api.filters import StrictFilterBackend
from ecomops.api.permissions import TenantPermission

ERROR_SCHEMA = {
    "type": "object",
    "description": (
        "A refusal: `detail` says why, `code` names its kind (`not_found`, `invalid`, `invalid_state`, ...). "
        "Refused input names each field at fault with its messages (a list's items by position)."
    ),
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "correlation_id": {"type": "string", "description": "On a server error: quote it when you report it."},
    },
    "additionalProperties": {"oneOf": [{"type": "array"}, {"type": "object"}]},
}

ERRORS = {
    "400": "The input (body or query) was refused; the fields at fault are named.",
    "401": "No valid access token.",
    "403": "Your role in this tenant does not allow this.",
    "404": "Not found, or not this tenant's (the two look the same).",
}
NOT_FILTERS = {"page", "page_size"}


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        error = ResolvedComponent(name="Error", type=ResolvedComponent.SCHEMA, object="Error", schema=ERROR_SCHEMA)
        self.registry.register_on_missing(error)
        responses = operation.setdefault("responses", {})
        for code in self._error_codes(operation):
            responses.setdefault(code, {"description": ERRORS[code]})
        for code, response in responses.items():
            # an error a view states by its description alone has the one shape too
            if code.startswith(("4", "5")) and "content" not in response:
                response["content"] = {"application/json": {"schema": error.ref}}
        return operation

    def _get_filter_parameters(self) -> list[dict[str, Any]]:
        """A list that filters in its selector (an ``APIView``) names its FilterSet as a generic
        list does (``filterset_class``), and its filters are documented the same way."""
        filterset_class = getattr(self.view, "filterset_class", None)
        if isinstance(self.view, GenericAPIView) or filterset_class is None or not self._is_list_view():
            return super()._get_filter_parameters()
        model, extension = filterset_class._meta.model, DjangoFilterExtension(StrictFilterBackend())
        return [
            parameter
            for name, field in filterset_class.base_filters.items()
            for parameter in extension.resolve_filter_field(self, model, filterset_class, name, field)
        ]

    def _error_codes(self, operation: dict[str, Any]) -> list[str]:
        query = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
        permissions = self.view.get_permissions()
        codes = []
        if (
            self.method in ("POST", "PUT", "PATCH")
            or query - NOT_FILTERS
            or (self.method == "GET" and self._is_list_view())
        ):
            codes.append("400")
        if any(not isinstance(p, AllowAny) for p in permissions):
            codes.append("401")
        if any(isinstance(p, TenantPermission) for p in permissions):
            codes.append("403")
        if "{" in self.path or "page" in query:
            codes.append("404")
        return codes
