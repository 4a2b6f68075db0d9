"""What the real django-q2 worker does with a job it cannot place in a tenant."""

from __future__ import annotations

import uuid

import pytest

from ecomops.tasks import enqueue
from tests.worker import Worker, wait_for

pytestmark = pytest.mark.slow


def test_a_job_whose_tenant_was_deleted_is_skipped_by_the_worker_not_failed(tmp_path, live_db):
    from django_q.models import Task

    # A tenant id that no longer names a tenant: what a job queued just before its tenant was
    # deleted (offboarded, or a benchmark's tenant dropped) carries when a worker takes it.
    gone = uuid.uuid4()
    enqueue("recon.tasks.recon_run_task", tenant_id=gone, queue="recon", on_commit=False, run_id=str(uuid.uuid4()))

    worker = Worker(tmp_path / "worker.log").start()
    try:
        task = wait_for(
            lambda: Task.objects.filter(name=f"recon_run_task:{gone}").first(),
            timeout=60,
            message=f"the worker to take the job\n{worker.log()}",
        )
        log = worker.log()
    finally:
        worker.stop()
        Task.objects.filter(name=f"recon_run_task:{gone}").delete()

    assert task.success, task.result  # not a failure to retry and report
    assert task.result is None
    assert '"event": "task_skipped"' in log
    assert "the tenant no longer exists" in log
    assert "task_failed" not in log
    assert "Traceback" not in log
