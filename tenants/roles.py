"""The default roles as Django groups of permissions.

A role is a group named after it; its permissions are listed here as patterns over
``app_label.codename`` and expanded against the permissions that exist, so a model added by a
later migration is covered by the patterns that name its app. ``sync_roles()`` runs after every
migration of the public schema.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from tenants.models import Role

TENANT_CAPABILITIES = [
    "tenants.view_members",
    "tenants.manage_members",
    "tenants.manage_settings",
    "tenants.export_data",
    "tenants.use_mcp",
]
TENANT_DATA_APPS = ["audit", "connections", "canonical", "recon", "netsuite", "mcp_bridge"]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    # everything in the tenant, including its settings and its members
    Role.OWNER: [f"{app}.*" for app in TENANT_DATA_APPS] + TENANT_CAPABILITIES,
    # runs the integration: connections, mappings, recon, posting
    Role.ADMIN: [
        "connections.*",
        "canonical.view_*",
        "recon.*",
        "netsuite.*",
        "mcp_bridge.*",
        "audit.view_*",
        "tenants.view_members",
        "tenants.export_data",
        "tenants.use_mcp",
    ],
    # closes the books: recon, exceptions, posting approval, exports
    Role.ACCOUNTANT: [
        "connections.view_*",
        "canonical.view_*",
        "recon.*",
        "netsuite.view_*",
        "netsuite.approve_*",
        "mcp_bridge.view_*",
        "audit.view_*",
        "tenants.view_members",
        "tenants.export_data",
        "tenants.use_mcp",
    ],
    # reads the data, changes nothing
    Role.VIEWER: [
        "connections.view_*",
        "canonical.view_*",
        "recon.view_*",
        "netsuite.view_*",
        "tenants.view_members",
    ],
}


def permission_names_for(role: str, available: list[str]) -> set[str]:
    patterns = ROLE_PERMISSIONS[role]
    return {name for name in available if any(fnmatchcase(name, pattern) for pattern in patterns)}


def sync_roles() -> None:
    """Create or update one group per role with exactly the permissions its patterns match."""
    from django.contrib.auth.models import Group, Permission

    permissions = list(Permission.objects.select_related("content_type"))
    by_name = {f"{p.content_type.app_label}.{p.codename}": p for p in permissions}
    for role in Role.values:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set([by_name[name] for name in permission_names_for(role, list(by_name))])
