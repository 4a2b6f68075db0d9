"""What happens after a sync succeeds. Explicit calls, not Django signals: one place to read."""

from __future__ import annotations

from connections.models import SyncJob


def sync_succeeded(job: SyncJob) -> None:
    """Queue reconciliation of the connection's data (once the recon app provides it)."""
    from django.apps import apps

    if apps.is_installed("recon"):
        try:
            from recon.services import recon_after_sync
        except ImportError:
            return
        recon_after_sync(job=job)
