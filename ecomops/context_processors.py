from __future__ import annotations

from django.http import HttpRequest


def tenancy(request: HttpRequest) -> dict:
    """The current tenant and the user's other tenants, for the header and tenant switcher."""
    user = getattr(request, "user", None)
    memberships = []
    if user is not None and user.is_authenticated:
        from tenants.models import Membership

        memberships = list(
            Membership.objects.filter(user=user, is_active=True, tenant__is_active=True)
            .select_related("tenant")
            .order_by("tenant__name")
        )
    return {"current_tenant": getattr(request, "tenant", None), "memberships": memberships}
