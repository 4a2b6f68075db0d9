"""JWTs that carry their tenant, and the DRF authentication that enforces it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.tokens import RefreshToken

from ecomops.tenancy import current_tenant
from tenants.permissions import active_membership

if TYPE_CHECKING:
    from tenants.models import Tenant, User

TENANT_CLAIM = "tenant_id"


def tokens_for(user: User, tenant: Tenant) -> dict[str, str]:
    """A refresh/access pair bound to ``tenant``. The access token inherits the claim."""
    refresh = RefreshToken.for_user(user)
    refresh[TENANT_CLAIM] = str(tenant.pk)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


class TenantJWTAuthentication(JWTAuthentication):
    """A bearer token is accepted only on the tenant it names, and only for a current member.

    The request's tenant is chosen by ``ecomops.middleware.TenantMiddleware`` (an
    ``X-Tenant`` header or a tenant domain if the client names one, else the token's own
    claim); a token whose claim differs is refused, whether or not the named tenant exists.
    """

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        tenant = current_tenant()
        claim = token.get(TENANT_CLAIM)
        if tenant is None or not claim or claim != str(tenant.pk):
            raise exceptions.AuthenticationFailed("This token is not valid for this tenant.", code="wrong_tenant")
        if active_membership(user, tenant) is None:
            raise exceptions.AuthenticationFailed("You are no longer a member of this tenant.", code="not_member")
        return user, token
