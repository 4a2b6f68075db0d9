"""The worker entry: every background job runs through here, inside its tenant.

django-q2's tables live in the public schema and ``qcluster`` runs tasks with
``search_path=public``; so a task is enqueued as (dotted function, tenant id, keyword
arguments, correlation id) and ``run_tenant_task`` enters ``tenant_context`` before calling
it. The function takes ids, not objects, and is safe to run twice.

Queues (DESIGN §2): ``default``, ``sync``, ``recon``, ``export``, ``posting``. With
``TASK_QUEUES=separate`` each is its own django-q2 cluster (start workers with
``Q_CLUSTER_NAME=sync manage.py qcluster`` and so on); by default every queue is served by
the one cluster ``make run`` starts.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

QUEUES = ("default", "sync", "recon", "export", "posting")
logger = structlog.get_logger(__name__)


def queue_cluster(queue: str) -> str | None:
    """The django-q2 cluster (broker list) a queue maps to; None = the default cluster."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    if getattr(settings, "TASK_QUEUES", "single") == "separate" and queue != "default":
        return queue
    return None


def enqueue(func: str, *, tenant_id: Any, queue: str = "default", on_commit: bool = True, **kwargs: Any) -> None:
    """Queue ``func(**kwargs)`` to run in the tenant's context on a worker.

    With ``on_commit`` (the default) it is queued only once the caller's transaction commits,
    so a worker never looks for rows that are not there yet.
    """
    from django_q.tasks import async_task

    correlation_id = structlog.contextvars.get_contextvars().get("correlation_id", "")
    options: dict[str, Any] = {"task_name": f"{func.rsplit('.', 1)[-1]}:{tenant_id}"}
    cluster = queue_cluster(queue)
    if cluster:
        options["cluster"] = cluster

    def send() -> None:
        async_task("ecomops.tasks.run_tenant_task", func, str(tenant_id), kwargs, correlation_id, q_options=options)

    if on_commit:
        transaction.on_commit(send)
    else:
        send()


def run_tenant_task(func: str, tenant_id: str, kwargs: dict[str, Any], correlation_id: str = "") -> Any:
    """Run one queued job inside its tenant. Called by the django-q2 worker.

    A job whose tenant was deleted since it was queued is skipped (logged ``task_skipped``).
    """
    import uuid

    from ecomops.tenancy import tenant_context
    from tenants.models import Tenant

    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        correlation_id=correlation_id or uuid.uuid4().hex, task=func, tenant_id=tenant_id
    )
    try:
        tenant = Tenant.objects.filter(pk=tenant_id).first()
        if tenant is None:
            # Deleted after the task was queued: there is nothing left to work on, and a
            # failure would be retried and reported for ever.
            logger.warning("task_skipped", reason="the tenant no longer exists")
            return None
        with tenant_context(tenant):
            logger.info("task_started")
            result = import_string(func)(**kwargs)
            logger.info("task_finished")
            return result
    except Exception:
        logger.exception("task_failed")
        raise
    finally:
        structlog.contextvars.clear_contextvars()


def keep_minute_schedule(*, name: str, func: str, enabled: bool) -> None:
    """Keep one django-q2 schedule that runs ``func`` every minute, or remove it (``enabled``
    False). Called after each migrate; the function runs in the public schema and enters each
    tenant itself (``unsafe_all_tenants()``)."""
    from django_q.models import Schedule

    if not enabled:
        Schedule.objects.filter(name=name).delete()
        return
    Schedule.objects.update_or_create(
        name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1}
    )
