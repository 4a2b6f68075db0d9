"""What each plan allows, checked in one place by API, pages, admin and MCP alike."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from tenants.models import Tenant

Feature = Literal["connections", "mcp_tools", "table_views", "csv_exports"]

# The plans the platform ships with; the Plan table holds them (seeded by a migration) so
# platform staff can adjust limits in the admin.
DEFAULT_PLANS = [
    {"code": "trial", "name": "Trial", "max_connections": 2, "mcp_tools": False},
    {"code": "pro", "name": "Pro", "max_connections": 50, "mcp_tools": True},
    {"code": "enterprise", "name": "Enterprise", "max_connections": 500, "mcp_tools": True},
]


class EntitlementError(Exception):
    """The tenant's plan does not allow this. ``str()`` is a message for the user."""

    def __init__(self, feature: str, message: str) -> None:
        super().__init__(message)
        self.feature = feature


def check_entitlement(tenant: Tenant, feature: Feature, *, in_use: int = 0) -> None:
    """Raise EntitlementError unless the tenant's plan allows one more use of ``feature``.

    ``in_use`` is the current count for counted features (connections).
    """
    plan = tenant.plan
    if feature == "connections":
        if in_use >= plan.max_connections:
            raise EntitlementError(
                feature,
                f"The {plan.name} plan allows {plan.max_connections} connections; this tenant has {in_use}. "
                "Upgrade the plan to add more.",
            )
    elif feature == "mcp_tools":
        if not plan.mcp_tools:
            raise EntitlementError(feature, f"MCP tools are not included in the {plan.name} plan.")
    elif feature in ("table_views", "csv_exports"):
        return
    else:
        raise ValueError(f"unknown feature {feature!r}")


def is_entitled(tenant: Tenant, feature: Feature, *, in_use: int = 0) -> bool:
    try:
        check_entitlement(tenant, feature, in_use=in_use)
    except EntitlementError:
        return False
    return True
