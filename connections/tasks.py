"""django-q2 entry points for connections (run through ecomops.tasks.run_tenant_task)."""

from __future__ import annotations

from connections.models import SyncJob


def sync_job_run(*, job_id: str) -> str:
    from connections.sync.runner import sync_job_run as run

    job = SyncJob.objects.select_related("connection").get(pk=job_id)
    return run(job=job).status
