"""Postings nobody else would pick up again, picked up every minute (DESIGN §6).

django-q2's scheduler calls :func:`postings_recover` every minute (the schedule is kept by
``netsuite.apps`` after each migrate; ``POSTING_RECOVERY=false`` removes it). It runs in the
public schema and looks at each tenant in turn:

* a posting left ``sending`` by a worker that died mid-send, its send lock free and its send
  started more than ``POSTING_SEND_LEASE_MINUTES`` ago, is sent again
  (``services.postings_resume_abandoned``); after ``POSTING_MAX_RESUMES`` resumes (a send that
  kills its worker every time) it is failed instead, for a person to look at and retry, and
  looked up in NetSuite as below (a dead worker may have sent it);
* an ``approved`` posting whose send task was lost (a worker died holding it before claiming
  it) is queued again once its last queueing is ``POSTING_QUEUE_LEASE_MINUTES`` old and the
  queue is idle or past it (``services.postings_requeue_lost``);
* a posting whose send had no definite answer (``outcome_unknown``) is looked up in NetSuite
  by its external id, backing off between lookups and giving up, for a person to decide,
  after ``POSTING_SETTLE_MAX_ATTEMPTS`` unanswered ones (``services.postings_settle_enqueue_due``).

Each only queues work on the ``posting`` queue, where the ordinary send and lookup run within
the per-account request limit. A schedule of its own rather than a step of the sync schedule:
that one is removed with ``SYNC_INTERVAL_MINUTES=0``, and a tenant that syncs only by hand
still needs its postings finished.
"""

from __future__ import annotations

import uuid
from collections import Counter

import structlog
from django.conf import settings

SCHEDULE_NAME = "netsuite: resume and settle postings"
SCHEDULE_FUNC = "netsuite.schedule.postings_recover"
logger = structlog.get_logger(__name__)


def enabled() -> bool:
    return bool(getattr(settings, "POSTING_RECOVERY", True))


def postings_recover() -> dict[str, int]:
    """The schedule's task: in every tenant, queue the resumes and lookups that are due.

    Returns the counts (``resumed``, ``requeued``, ``settling``, and ``failed`` steps). One tenant's failure,
    or one step's, is logged and the rest carry on.
    """
    from ecomops.tenancy import unsafe_all_tenants
    from netsuite.services import postings_requeue_lost, postings_resume_abandoned, postings_settle_enqueue_due

    steps = {
        "resumed": postings_resume_abandoned,
        "requeued": postings_requeue_lost,
        "settling": postings_settle_enqueue_due,
    }
    counts: Counter[str] = Counter({name: 0 for name in steps})
    # One correlation id for the tick: its log lines, its audit events and the tasks it queues.
    with structlog.contextvars.bound_contextvars(correlation_id=uuid.uuid4().hex, task=SCHEDULE_FUNC):
        for tenant in unsafe_all_tenants():
            for name, step in steps.items():
                try:
                    counts[name] += len(step())
                except Exception:  # one tenant's trouble must not leave the others' postings stuck
                    counts["failed"] += 1
                    logger.exception("netsuite_posting_recovery_failed", step=name, tenant_id=str(tenant.pk))
        if any(counts.values()):
            logger.info("netsuite_posting_recovery", **counts)
    return dict(counts)


def ensure_schedule() -> None:
    """Keep the one django-q2 schedule in step with the setting (called after migrate)."""
    from ecomops.tasks import keep_minute_schedule

    keep_minute_schedule(name=SCHEDULE_NAME, func=SCHEDULE_FUNC, enabled=enabled())
