"""Entering and leaving a tenant: the one way in.

``tenant_context(tenant)`` selects the tenant's schema and sets the row-level-security
tenant id (both through the database backend, in one statement), binds ``tenant_id`` to
the log context, and restores the previous state on exit, however the block ends. The
request middleware, every task, every management command and the MCP server use it.

Anything that must touch every tenant says so by name: ``unsafe_all_tenants()``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import structlog
from django.db import connection
from django_tenants.utils import get_public_schema_name

if TYPE_CHECKING:
    from tenants.models import Tenant


class NoTenantContext(RuntimeError):
    """Raised when tenant data is written outside ``tenant_context``."""


@contextmanager
def tenant_context(tenant: Tenant) -> Iterator[Tenant]:
    """Run the block as ``tenant``: its schema, its RLS id, its log context."""
    if tenant is None or getattr(tenant, "pk", None) is None:
        raise NoTenantContext("tenant_context() needs a saved tenant")
    previous = connection.tenant
    previous_log = structlog.contextvars.get_contextvars().get("tenant_id")
    connection.set_tenant(tenant)
    structlog.contextvars.bind_contextvars(tenant_id=str(tenant.pk))
    try:
        yield tenant
    finally:
        connection.set_tenant(previous)
        if previous_log is None:
            structlog.contextvars.unbind_contextvars("tenant_id")
        else:
            structlog.contextvars.bind_contextvars(tenant_id=previous_log)


@contextmanager
def public_context() -> Iterator[None]:
    """Run the block in the public schema with no tenant (no tenant row visible)."""
    previous = connection.tenant
    connection.set_schema_to_public()
    try:
        yield
    finally:
        connection.set_tenant(previous)


def current_tenant() -> Tenant | None:
    """The tenant the connection is in, or None in the public schema."""
    tenant = connection.tenant
    if tenant is None or tenant.schema_name == get_public_schema_name() or getattr(tenant, "pk", None) is None:
        return None
    return tenant


def current_tenant_id() -> uuid.UUID:
    """Default for every tenant row's ``tenant_id``: refuses to write outside a tenant."""
    tenant = current_tenant()
    if tenant is None:
        raise NoTenantContext("tenant rows can only be created inside tenant_context()")
    return tenant.pk


def unsafe_all_tenants() -> Iterator[Tenant]:
    """Yield every tenant, each inside its own ``tenant_context``. Named to be greppable."""
    from tenants.models import Tenant

    for tenant in Tenant.objects.order_by("created_at"):
        with tenant_context(tenant):
            yield tenant
