"""Request middleware: correlation ids, and entering the request's tenant.

Tenant resolution works on a plain ``http://127.0.0.1:8000`` with no DNS set-up:

* API requests carry a bearer token whose ``tenant_id`` claim names its tenant. A client
  may name a tenant explicitly (``X-Tenant: <slug or id>`` or a tenant's domain as the host);
  the token must then be for that tenant, which ``TenantJWTAuthentication`` enforces.
* Pages and the admin use the session: the tenant chosen at login or in the tenant switcher,
  re-checked against the user's memberships on every request.
* Anything else runs in the public schema, where no tenant row is visible.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import structlog
from django.http import HttpRequest, HttpResponse

from ecomops.tenancy import public_context, tenant_context

CORRELATION_HEADER = "X-Correlation-ID"
_SAFE_CORRELATION = re.compile(r"^[A-Za-z0-9._:\-]{1,100}$")
SESSION_TENANT_KEY = "tenant_id"


class CorrelationIdMiddleware:
    """Take ``X-Correlation-ID`` from the caller (if well formed) or make one; echo it back.

    Runs before django-structlog's middleware, which binds it to every log line.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.META.get("HTTP_X_CORRELATION_ID", "")
        correlation_id = supplied if _SAFE_CORRELATION.match(supplied) else uuid.uuid4().hex
        request.META["HTTP_X_CORRELATION_ID"] = correlation_id
        request.correlation_id = correlation_id
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
        response = self.get_response(request)
        response[CORRELATION_HEADER] = correlation_id
        return response


def _bearer_tenant_id(request: HttpRequest) -> str | None:
    """The tenant claim of a valid bearer token, or None. Authentication proper happens in DRF."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header.startswith("Bearer "):
        return None
    from rest_framework_simplejwt.exceptions import TokenError
    from rest_framework_simplejwt.tokens import AccessToken

    from tenants.authentication import TENANT_CLAIM

    try:
        return AccessToken(header[len("Bearer ") :].strip()).get(TENANT_CLAIM)
    except TokenError:
        return None


def _named_tenant(request: HttpRequest):
    """The tenant the client names by header or host: a Tenant, None (named, unknown) or False (not named)."""
    from tenants.models import Domain
    from tenants.services import find_tenant

    reference = request.META.get("HTTP_X_TENANT", "").strip()
    if reference:
        return find_tenant(reference)
    host = request.get_host().split(":")[0].lower()
    domain = Domain.objects.filter(domain=host).select_related("tenant").first()
    return domain.tenant if domain else False


def resolve_tenant(request: HttpRequest):
    from tenants.models import Tenant
    from tenants.permissions import active_membership

    # A bearer token (and the X-Tenant it names) speaks for the API only, where the
    # authentication class checks the token against the tenant. Pages and the admin are
    # session-authenticated: there a forged "Bearer x" must not choose the tenant, or a
    # signed-in user would enter a tenant they are no member of.
    api = request.path_info.startswith("/api/")
    claim = _bearer_tenant_id(request) if api else None
    if api and (claim is not None or request.META.get("HTTP_AUTHORIZATION", "").startswith("Bearer ")):
        named = _named_tenant(request)
        if named is not False:
            return named  # the token must match it (checked by the authentication class)
        return Tenant.objects.filter(pk=claim, is_active=True).first() if claim else None

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not hasattr(request, "session"):
        return None
    tenant_id = request.session.get(SESSION_TENANT_KEY)
    tenant = Tenant.objects.filter(pk=tenant_id, is_active=True).first() if tenant_id else None
    if tenant is not None and active_membership(user, tenant) is not None:
        return tenant
    from tenants.services import membership_for_login

    membership = membership_for_login(user=user)
    if membership is None:
        request.session.pop(SESSION_TENANT_KEY, None)
        return None
    request.session[SESSION_TENANT_KEY] = str(membership.tenant_id)
    return membership.tenant


class TenantMiddleware:
    """Runs the rest of the request inside ``tenant_context`` (or the public schema)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with public_context():
            tenant = resolve_tenant(request)
            request.tenant = tenant
            if tenant is None:
                return self.get_response(request)
            # Bound for the whole request, so the request_finished line carries it too.
            structlog.contextvars.bind_contextvars(tenant_id=str(tenant.pk))
            with tenant_context(tenant):
                return self.get_response(request)
