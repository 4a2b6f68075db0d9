"""Sync jobs on the real django-q2 worker: queued, run in the tenant, killed mid-run, resumed.

These tests commit their data (a worker is another process) and use their own tenants.
"""

from __future__ import annotations

import hashlib
from datetime import date

import httpx
import pytest

from canonical.models import CANONICAL_MODELS
from connections.models import SyncJob
from connections.services import connection_create
from connections.stripe.sandbox.server import DEFAULT_API_KEY, build_stripe_sandbox, stripe_sandbox_server
from connections.sync.runner import sync_job_run, sync_start
from ecomops.tenancy import tenant_context
from tests.worker import Worker, wait_for

pytestmark = pytest.mark.slow


def content_checksum() -> tuple[int, str]:
    """Every canonical row by (kind, source id, content hash): comparable across tenants."""
    parts = []
    for kind, model in CANONICAL_MODELS.items():
        parts += [f"{kind}|{sid}|{h}" for sid, h in model.objects.values_list("source_id", "content_hash")]
    parts.sort()
    return len(parts), hashlib.sha256("\n".join(parts).encode()).hexdigest()


def duplicate_count() -> int:
    from django.db.models import Count

    dupes = 0
    for model in CANONICAL_MODELS.values():
        dupes += model.objects.values("source_id").annotate(n=Count("id")).filter(n__gt=1).count()
    return dupes


@pytest.fixture
def worker(tmp_path, live_db):
    w = Worker(tmp_path / "worker.log").start()
    yield w
    w.stop()


def _connection(world, url: str):
    with tenant_context(world.tenant):
        return connection_create(
            actor=world.owner,
            name="Stripe",
            provider="stripe",
            credentials={"api_key": DEFAULT_API_KEY},
            base_url=url,
            backfill_start=date(2024, 1, 1),
        )


def _job(world, job_id):
    with tenant_context(world.tenant):
        return SyncJob.objects.get(pk=job_id)


def test_api_sync_runs_on_the_worker_in_the_tenant(committed_tenant, worker, api_as):
    world = committed_tenant("wk-api")
    with stripe_sandbox_server(build_stripe_sandbox(seed=3, days=4)) as sandbox:
        conn = _connection(world, sandbox.url)
        client = api_as(world.owner, world.tenant)

        response = client.post(f"/api/v1/connections/{conn.pk}/sync/")
        assert response.status_code == 202
        job_id = response.json()["id"]

        job = wait_for(
            lambda: (j := _job(world, job_id)).status in ("succeeded", "failed") and j,
            timeout=90,
            message=f"the worker to finish the sync\n{worker.log()}",
        )
        assert job.status == "succeeded", job.error_message
        progress = client.get(f"/api/v1/jobs/{job_id}/").json()
        assert progress["created_count"] > 0
        assert progress["pages"] == job.pages
        with tenant_context(world.tenant):
            assert content_checksum()[0] == job.created_count


def test_killed_worker_then_rerun_matches_a_clean_run(committed_tenant, worker):
    crashed, clean = committed_tenant("wk-crash"), committed_tenant("wk-clean")
    with stripe_sandbox_server(build_stripe_sandbox(seed=11, days=12)) as sandbox:
        conn = _connection(crashed, sandbox.url)
        # slow every call down so the kill lands mid-sync
        httpx.post(f"{sandbox.url}/__sandbox__/faults", json={"kind": "latency", "delay_ms": 40})
        with tenant_context(crashed.tenant):
            job = sync_start(connection=conn, trigger="test")
        wait_for(lambda: _job(crashed, job.pk).pages >= 3, timeout=90, message=f"progress\n{worker.log()}")

        worker.kill()

        partial = _job(crashed, job.pk)
        assert partial.status == "running"  # it never got to say otherwise
        with tenant_context(crashed.tenant):
            partial_rows = content_checksum()[0]
        assert partial_rows > 0

        httpx.delete(f"{sandbox.url}/__sandbox__/faults")
        worker.start()
        with tenant_context(crashed.tenant):
            rerun = sync_start(connection=conn, trigger="test")
        finished = wait_for(
            lambda: (j := _job(crashed, rerun.pk)).status in ("succeeded", "failed") and j,
            timeout=120,
            message=f"the re-run\n{worker.log()}",
        )
        assert finished.status == "succeeded", finished.error_message
        assert _job(crashed, job.pk).status == "failed"
        assert "Interrupted" in _job(crashed, job.pk).error_message

        # a clean, uninterrupted run of the same business in another tenant
        clean_conn = _connection(clean, sandbox.url)
        with tenant_context(clean.tenant):
            clean_job = sync_start(connection=clean_conn, trigger="test", enqueue=False)
            assert sync_job_run(job=clean_job).status == "succeeded"
            clean_sum = content_checksum()

    with tenant_context(crashed.tenant):
        assert content_checksum() == clean_sum
        assert duplicate_count() == 0


def test_a_webhook_that_arrives_while_a_sync_runs_is_synced_when_it_ends(committed_tenant, worker):
    import json
    import threading

    from django.db import connections
    from django.test import Client

    from connections.services import connection_update
    from connections.stripe.sandbox.server import sign_webhook
    from connections.sync.runner import WAITING

    world = committed_tenant("wk-wait")
    secret = "whsec_wait_secret_1234"
    with stripe_sandbox_server(build_stripe_sandbox(seed=5, days=4)) as sandbox:
        conn = _connection(world, sandbox.url)
        with tenant_context(world.tenant):
            credentials = {"api_key": DEFAULT_API_KEY, "webhook_secret": secret}
            connection_update(actor=None, connection=conn, credentials=credentials)
        headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
        charge_id = httpx.get(f"{sandbox.url}/v1/charges?limit=1", headers=headers).json()["data"][0]["id"]
        event = {"id": "evt_during_sync", "type": "charge.refunded", "data": {"object": {"id": charge_id}}}
        body = json.dumps(event).encode()
        answers: list[int] = []

        def deliver() -> None:
            # the web process: a database session of its own, as in production
            try:
                answers.append(
                    Client()
                    .post(
                        f"/webhooks/stripe/{conn.pk}/",
                        body,
                        content_type="application/json",
                        HTTP_STRIPE_SIGNATURE=sign_webhook(body, secret),
                    )
                    .status_code
                )
            finally:
                connections.close_all()

        def webhook_job():
            with tenant_context(world.tenant):
                return SyncJob.objects.filter(trigger="webhook").first()

        def during_sync(_job) -> None:
            if answers:
                return
            # given: while this sync holds the connection, the webhook comes and its job is tried
            web = threading.Thread(target=deliver)
            web.start()
            web.join()
            wait_for(
                lambda: (j := webhook_job()) is not None and j.error_message == WAITING,
                timeout=60,
                message=f"the webhook's job to wait\n{worker.log()}",
            )

        with tenant_context(world.tenant):
            full = sync_job_run(job=sync_start(connection=conn, trigger="test", enqueue=False), on_commit=during_sync)
        assert full.status == "succeeded", full.error_message
        assert answers == [202]

        # then: once the sync ends, the webhook's job runs on the worker and succeeds
        done = wait_for(
            lambda: (j := webhook_job()).status in ("succeeded", "failed") and j,
            timeout=60,
            message=f"the waiting job to run\n{worker.log()}",
        )
        assert done.status == "succeeded", done.error_message
        assert done.object_count == 1
