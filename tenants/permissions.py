"""The one permission check: pages, API, admin and MCP all come here (via ``user.has_perm``).

A user's permissions in a tenant are those of the role group of their active membership
there, plus any object permissions granted on the Tenant row with django-guardian (the
Tenant lives in the public schema with a uuid key, so object permissions on it cannot
collide across tenants). Outside a tenant context a user has no tenant permissions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecomops.tenancy import current_tenant

if TYPE_CHECKING:
    from tenants.models import Membership, Tenant, User

_CACHE_ATTR = "_ecomops_tenant_perm_cache"


def active_membership(user: User, tenant: Tenant) -> Membership | None:
    from tenants.models import Membership

    if not user or not user.is_authenticated or not user.is_active:
        return None
    return Membership.objects.filter(user=user, tenant=tenant, is_active=True, tenant__is_active=True).first()


def tenant_permissions(user: User, tenant: Tenant | None = None) -> set[str]:
    """Every ``app_label.codename`` the user holds in the tenant (cached on the user object)."""
    tenant = tenant or current_tenant()
    if tenant is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    cache: dict = user.__dict__.setdefault(_CACHE_ATTR, {})
    if tenant.pk in cache:
        return cache[tenant.pk]
    from django.contrib.auth.models import Permission
    from guardian.shortcuts import get_perms

    perms: set[str] = set()
    membership = active_membership(user, tenant)
    if membership is not None:
        rows = Permission.objects.filter(group__name=membership.role).values_list("content_type__app_label", "codename")
        perms = {f"{app}.{codename}" for app, codename in rows}
        perms |= {f"tenants.{codename}" for codename in get_perms(user, tenant)}
    cache[tenant.pk] = perms
    return perms


def has_tenant_perm(user: User, perm: str, tenant: Tenant | None = None) -> bool:
    """True when ``user`` may do ``perm`` (``app_label.codename``) in the tenant."""
    return perm in tenant_permissions(user, tenant)


def forget_cached_permissions(user: User) -> None:
    user.__dict__.pop(_CACHE_ATTR, None)
