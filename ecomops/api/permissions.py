"""DRF permission classes over the one permission check (``user.has_perm`` in the tenant)."""

from __future__ import annotations

from rest_framework.permissions import BasePermission


class TenantPermission(BasePermission):
    """The view states the permission(s) per method in ``required_perms``.

    ``required_perms = {"GET": ["audit.view_auditevent"], "POST": [...]}``; a method not listed
    is refused. Views that share one permission for reads may use the key ``"read"``.
    """

    message = "Your role in this tenant does not allow this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        required = getattr(view, "required_perms", {})
        method = request.method.upper()
        perms = required.get(method)
        if perms is None and method in ("GET", "HEAD", "OPTIONS"):
            perms = required.get("read")
        if perms is None:
            return False
        return all(user.has_perm(perm) for perm in perms)
