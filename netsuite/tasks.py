"""Worker entries for NetSuite posting (run by ``ecomops.tasks.run_tenant_task`` inside the tenant)."""

from __future__ import annotations

from typing import Any

from netsuite.services import posting_send, postings_after_recon, postings_settle


def posting_send_task(*, posting_id: str) -> str:
    """Send one posting; a redelivered or duplicated task finds it posted (or being sent) and stops."""
    posting = posting_send(posting_id=posting_id)
    return posting.state if posting is not None else "missing"


def postings_after_recon_task(
    *, run_id: str | None = None, payout_ids: list[str] | None = None, connection_ids: list[str] | None = None
) -> dict[str, Any]:
    """Settle unknown outcomes, then create (and in automatic mode queue) the postings a recon
    run made possible (the payouts of the ``connection_ids`` it read), or (with ``payout_ids``)
    those of the payouts a person's resolution left reconciled."""
    result = postings_after_recon(run_id=run_id, payout_ids=payout_ids, connection_ids=connection_ids)
    counts = {"drafts": result.drafts, "approved": result.approved, "reversals": result.reversals}
    if result.settled is not None:
        counts.update(
            settled_posted=result.settled.posted,
            settled_not_posted=result.settled.not_posted,
            outcome_unknown=result.settled.unknown,
        )
    return counts


def postings_settle_task(*, posting_ids: list[str]) -> dict[str, int]:
    """Ask NetSuite about postings whose send had no definite answer (queued by ``netsuite.schedule``)."""
    result = postings_settle(posting_ids=posting_ids, actor_kind="schedule")
    return {"posted": result.posted, "not_posted": result.not_posted, "unknown": result.unknown}
