from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from connections.models import Connection, SyncJob
from ecomops.tenancy import current_tenant_id


def connection_list(*, user: Any) -> QuerySet[Connection]:
    if not user.has_perm("connections.view_connection"):
        return Connection.objects.none()
    return Connection.objects.filter(tenant_id=current_tenant_id()).order_by("name")


def connection_get(*, user: Any, pk: Any) -> Connection:
    """The connection, or 404 whether it is missing or not the user's to see."""
    connection = connection_list(user=user).filter(pk=pk).first()
    if connection is None:
        raise Http404
    return connection


def sync_job_list(*, user: Any, connection_id: uuid.UUID | None = None) -> QuerySet[SyncJob]:
    if not user.has_perm("connections.view_syncjob"):
        return SyncJob.objects.none()
    jobs = SyncJob.objects.filter(tenant_id=current_tenant_id()).select_related("connection")
    if connection_id:
        jobs = jobs.filter(connection_id=connection_id)
    return jobs.order_by("-queued_at")
