"""Worker entries for reconciliation (run by ``ecomops.tasks.run_tenant_task`` inside the tenant)."""

from __future__ import annotations

from typing import Any

from recon.models import ReconRun
from recon.services import recon_links_write, recon_run_execute


def recon_run_task(*, run_id: str) -> str:
    """Run a queued recon run; a redelivered task finds it finished and does nothing."""
    run = ReconRun.objects.filter(pk=run_id).first()
    if run is None:
        return "missing"
    return recon_run_execute(run=run).status


def recon_links_write_task(*, run_id: str, connection_ids: list[Any]) -> int:
    """Write the payout lines' links after a large run, in short batches."""
    return recon_links_write(connection_ids=connection_ids)
