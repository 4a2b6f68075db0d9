"""After a real sync, reconciliation runs on the real django-q2 worker from the ``recon`` queue.

Data is committed (the worker is another process), in a tenant of the test's own.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import date

import psycopg
import pytest
from django.db import connection as db

from connections.services import connection_create
from connections.stripe.sandbox.server import DEFAULT_API_KEY, build_stripe_sandbox, stripe_sandbox_server
from connections.sync.runner import sync_job_run, sync_start
from ecomops.tenancy import tenant_context
from recon.models import ReconException, ReconRun
from recon.services import _lock_key, recon_run_execute, recon_run_start
from tests.worker import Worker, wait_for
from tests.worker import worker_database_url as database_url

pytestmark = pytest.mark.slow

FAST = {"retry_base_delay": 0.01, "retry_max_delay": 0.05, "rate_limit": None}


@pytest.fixture
def worker(tmp_path, live_db):
    w = Worker(tmp_path / "worker.log").start()
    yield w
    w.stop()


def test_a_successful_sync_is_reconciled_by_the_worker(committed_tenant, worker):
    world = committed_tenant("rc-worker")
    with stripe_sandbox_server(build_stripe_sandbox(seed=7, days=10)) as sandbox, tenant_context(world.tenant):
        conn = connection_create(
            actor=world.owner,
            name="Stripe",
            provider="stripe",
            credentials={"api_key": DEFAULT_API_KEY},
            base_url=sandbox.url,
            backfill_start=date(2024, 1, 1),
        )
        # the sync runs here; its success queues the recon run for the worker
        job = sync_job_run(job=sync_start(connection=conn, trigger="test", enqueue=False), client_options=FAST)
        assert job.status == "succeeded", job.error_message

    def finished():
        with tenant_context(world.tenant):
            run = ReconRun.objects.filter(sync_job_id=job.pk).first()
            return run if run and run.is_finished else None

    run = wait_for(finished, timeout=90, message=f"the worker to reconcile\n{worker.log()}")

    assert (run.status, run.trigger, run.mode) == ("completed", "sync", "full"), run.error_message
    assert run.connection_ids == [str(conn.pk)]
    assert run.payouts_evaluated > 5
    assert run.lines_evaluated > 100
    with tenant_context(world.tenant):
        reasons = Counter(ReconException.objects.values_list("reason", flat=True))
    # exactly the traps the sandbox's business holds: a payout that failed after it was paid,
    # a manual instant payout, disputes not decided yet; everything else reconciles
    assert reasons["payout_failed"] == 1
    assert reasons["manual_payout_unitemized"] == 1
    assert reasons["dispute_open"] >= 1
    assert set(reasons) == {"payout_failed", "manual_payout_unitemized", "dispute_open"}


def test_two_runs_of_a_tenant_wait_for_each_other(committed_tenant):
    world = committed_tenant("rc-lock")
    with tenant_context(world.tenant):
        run = recon_run_start(trigger="api", enqueue=False)

    # another run holds the tenant's reconciliation lock (from another connection)
    holder = psycopg.connect(database_url(), autocommit=False)
    holder.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(world.tenant.pk)])
    outcome: dict = {}

    def execute() -> None:
        try:
            with tenant_context(world.tenant):
                outcome["run"] = recon_run_execute(run=run)
        finally:
            db.close()

    thread = threading.Thread(target=execute)
    thread.start()
    time.sleep(1.0)
    with tenant_context(world.tenant):
        waiting = ReconRun.objects.get(pk=run.pk)
    assert thread.is_alive()
    assert waiting.status == "running"

    holder.commit()  # the other run ends
    thread.join(timeout=30)
    holder.close()

    assert outcome["run"].status in ("completed", "stale")
