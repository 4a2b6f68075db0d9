"""Authentication by email and the per-tenant role permissions behind ``user.has_perm``."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend

from tenants.permissions import has_tenant_perm, tenant_permissions


class TenantRoleBackend(ModelBackend):
    """Email + password login; permissions come from the role in the current tenant.

    Global (non-tenant) user and group permissions are not consulted: a user's powers are
    always those of their role where they are working.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get("email")
        if username is None or password is None:
            return None
        from tenants.demo import DEMO_EMAIL, demo_allowed

        if str(username).strip().lower() == DEMO_EMAIL and not demo_allowed():
            return None  # the demo account never signs in under production settings
        return super().authenticate(request, username=str(username).strip().lower(), password=password)

    def get_user_permissions(self, user_obj, obj=None):
        return set()

    def get_group_permissions(self, user_obj, obj=None):
        return set()

    def get_all_permissions(self, user_obj, obj=None):
        if obj is not None:
            return set()
        return tenant_permissions(user_obj)

    def has_perm(self, user_obj, perm, obj=None):
        return obj is None and has_tenant_perm(user_obj, perm)

    def has_module_perms(self, user_obj, app_label):
        return any(p.startswith(app_label + ".") for p in tenant_permissions(user_obj))
