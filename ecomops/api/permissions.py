"""DRF permission classes over the one permission check (``user.has_perm`` in the tenant)."""

from __future__ import annotations

from rest_framework.permissions import BasePermission


class TenantPermission(BasePermission):
    """The view states the permission(s) per method in ``required_perms``.

    ``required_perms = {"GET": ["audit.view_auditevent"], "POST": [...]}``; a method not listed
    is refused (a method the view does not implement is a 405). HEAD and OPTIONS need the
    GET permissions; views that share one permission for reads may use the key ``"read"``.
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
            # HEAD and OPTIONS (the view's description) need what reading it needs
            perms = required.get("GET", required.get("read"))
        if perms is None:
            # A method the view does not answer at all is DRF's 405 (with Allow), not a
            # refusal of the user's role; one it answers but lists no permission for is refused.
            return method.lower() not in view.http_method_names or not hasattr(view, method.lower())
        return all(user.has_perm(perm) for perm in perms)
