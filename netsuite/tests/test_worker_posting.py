"""Posting on real django-q2 workers (``manage.py qcluster``): killed mid-send and restarted,
and several workers racing on one payout. Exactly one journal entry per payout, counted in
the NetSuite sandbox through SuiteQL.

These tests commit their data (a worker is another process) and use their own tenants;
the sandbox runs in this process, on 127.0.0.1.
"""

from __future__ import annotations

import threading

import httpx
import pytest
from django.core.management import call_command
from django.db import connection as db

from ecomops.tenancy import tenant_context
from netsuite.models import NetsuitePosting, PostingState
from netsuite.services import posting_approve, posting_enqueue, posting_mode_set, posting_send, postings_after_recon
from netsuite.tests.conftest import make_posting_world
from netsuite.tests.factories import PayoutSpec, reconcile, write_payouts
from tests.worker import Worker, schedule_every_minute_from_now, wait_for

pytestmark = pytest.mark.slow


def _states(world) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with tenant_context(world.tenant):
        return dict(NetsuitePosting.objects.values_list("source_id", "state"))


def _posting(world, source_id: str) -> NetsuitePosting:  # type: ignore[no-untyped-def]
    with tenant_context(world.tenant):
        return NetsuitePosting.objects.get(source_id=source_id)


def _automatic_world(committed_tenant, sandbox, name: str, payouts: list[str]):  # type: ignore[no-untyped-def]
    """A committed tenant posting automatically to the sandbox, with ``payouts`` reconciled."""
    world = committed_tenant(name)
    with tenant_context(world.tenant):
        posting = make_posting_world(world, sandbox)
        posting_mode_set(actor=None, mode="auto")
        write_payouts(posting.stripe, *(PayoutSpec(p) for p in payouts))
        reconcile()
    return world, posting


def _latency(sandbox, delay_ms: int | None) -> None:  # type: ignore[no-untyped-def]
    if delay_ms is None:
        httpx.delete(f"{sandbox.url}/__sandbox__/faults").raise_for_status()
    else:
        httpx.post(
            f"{sandbox.url}/__sandbox__/faults", json={"kind": "latency", "delay_ms": delay_ms}
        ).raise_for_status()


def test_worker_killed_mid_posting_and_restarted_leaves_one_entry_per_payout(
    committed_tenant, sandbox, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    payouts = [f"po_crash_{n}" for n in range(5)]
    world, posting = _automatic_world(committed_tenant, sandbox, "ns-crash", payouts)
    _latency(sandbox, 1500)  # every NetSuite call takes 1.5 s: the kill lands mid-request
    worker = Worker(tmp_path / "worker.log").start()
    try:
        with tenant_context(world.tenant):
            assert postings_after_recon().approved == 5  # queued on the posting queue

        # one posted, the next one on the wire: NetSuite has received its request (each
        # posting makes exactly one call) and is still working on it
        def one_posted_next_on_the_wire() -> bool:
            states = list(_states(world).values())
            posted = states.count("posted")
            return posted >= 1 and "sending" in states and sandbox.app.faults.requests_seen >= posted + 1

        wait_for(one_posted_next_on_the_wire, timeout=90, message="a posting in flight")

        worker.kill()

        in_flight = next(source for source, state in _states(world).items() if state == "sending")
        crashed = _posting(world, in_flight)
        # NetSuite finishes the request the dead worker sent: the entry exists, unrecorded.
        wait_for(lambda: posting.journal_count(crashed.external_id) == 1, timeout=30, message="the sandbox to commit")
        assert _posting(world, in_flight).state == PostingState.SENDING

        _latency(sandbox, None)
        worker.start()
        # An operator (or the schedule) resumes: `manage.py post` sends what is approved and
        # resumes what is stuck in "sending", while the restarted worker works its queue.
        call_command("post", "--tenant", world.tenant.slug)
        wait_for(
            lambda: set(_states(world).values()) == {"posted"},
            timeout=90,
            message=f"every posting posted: {_states(world)}\n{worker.log()}",
        )
    finally:
        worker.stop()

    for source in payouts:
        assert posting.journal_count(_posting(world, source).external_id) == 1, source
    assert posting.journal_count() == len(payouts)
    resumed = _posting(world, in_flight)
    assert resumed.attempts == 2
    with posting.client() as client:
        assert client.get("journalentry", f"eid:{resumed.external_id}")["id"] == resumed.netsuite_internal_id


def test_a_send_killed_mid_request_is_resumed_by_the_schedule_alone(committed_tenant, sandbox, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Nobody presses retry: django-q2's scheduler runs the postings' schedule, which hands the
    abandoned posting to the worker, which posts it; one entry in NetSuite."""
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import Schedule

    from audit.models import AuditEvent
    from netsuite.schedule import SCHEDULE_FUNC, SCHEDULE_NAME

    world, posting = _automatic_world(committed_tenant, sandbox, "ns-resume", ["po_abandoned"])
    _latency(sandbox, 1500)  # the kill lands while NetSuite works on the request
    worker = Worker(tmp_path / "worker.log").start()
    try:
        with tenant_context(world.tenant):
            assert postings_after_recon().approved == 1
        wait_for(
            lambda: _states(world).get("po_abandoned") == "sending" and sandbox.app.faults.requests_seen >= 1,
            timeout=90,
            message="the posting on the wire",
        )
        worker.kill()
        abandoned = _posting(world, "po_abandoned")
        wait_for(lambda: posting.journal_count(abandoned.external_id) == 1, timeout=30, message="the sandbox to commit")
        _latency(sandbox, None)
        # The lease passes (backdated rather than waited for).
        with tenant_context(world.tenant):
            long_ago = timezone.now() - timedelta(minutes=30)
            NetsuitePosting.objects.filter(pk=abandoned.pk).update(sending_started_at=long_ago, updated_at=long_ago)
        schedule_every_minute_from_now(SCHEDULE_NAME, SCHEDULE_FUNC)
        worker.start()
        wait_for(
            lambda: _states(world)["po_abandoned"] == "posted",
            timeout=120,
            message=f"the schedule to resume it\n{worker.log()}",
        )
    finally:
        worker.stop()
        Schedule.objects.filter(name=SCHEDULE_NAME).delete()

    resumed = _posting(world, "po_abandoned")
    assert resumed.attempts == 2
    assert posting.journal_count(resumed.external_id) == 1
    assert posting.journal_count() == 1
    with tenant_context(world.tenant):
        event = AuditEvent.objects.get(action="netsuite.posting_resumed", target_id=str(resumed.pk))
    assert event.actor_kind == "schedule"


def test_sends_a_killed_worker_held_but_never_started_are_queued_again_by_the_schedule(
    committed_tenant, sandbox, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """The worker takes queued sends off the broker ahead of running them; killed, it takes them
    along (the ORM broker hands them out again only after TASK_RETRY_SECONDS, Redis never). The
    postings stay approved with nobody to send them, until the schedule queues them again."""
    from datetime import timedelta

    from django.conf import settings
    from django.db.models import F
    from django.utils import timezone
    from django_q.models import OrmQ, Schedule

    from audit.models import AuditEvent
    from netsuite.schedule import SCHEDULE_FUNC, SCHEDULE_NAME

    payouts = [f"po_lost_{n}" for n in range(5)]
    world, posting = _automatic_world(committed_tenant, sandbox, "ns-lost", payouts)
    _latency(sandbox, 1500)  # one send at a time, slowly: the others wait in the worker
    worker = Worker(tmp_path / "worker.log").start()
    try:
        with tenant_context(world.tenant):
            assert postings_after_recon().approved == 5

        def one_posted_next_on_the_wire() -> bool:
            states = list(_states(world).values())
            posted = states.count("posted")
            return posted >= 1 and "sending" in states and sandbox.app.faults.requests_seen >= posted + 1

        wait_for(one_posted_next_on_the_wire, timeout=90, message="a posting in flight")
        worker.kill()
        _latency(sandbox, None)
        never_started = sorted(source for source, state in _states(world).items() if state == "approved")
        assert never_started, _states(world)
        if not settings.REDIS_URL:  # the ORM broker keeps their tasks, handed out to nobody for half an hour
            soon = timezone.now() + timedelta(minutes=10)
            assert OrmQ.objects.filter(lock__gt=soon).count() >= len(never_started)
        # Two hours pass (backdated rather than waited for): both leases are over.
        with tenant_context(world.tenant):
            two_hours = timedelta(hours=2)
            NetsuitePosting.objects.update(
                send_queued_at=F("send_queued_at") - two_hours,
                sending_started_at=F("sending_started_at") - two_hours,
                updated_at=F("updated_at") - two_hours,
            )
        schedule_every_minute_from_now(SCHEDULE_NAME, SCHEDULE_FUNC)
        worker.start()
        wait_for(
            lambda: set(_states(world).values()) == {"posted"},
            timeout=120,
            message=f"every posting posted by the schedule alone: {_states(world)}\n{worker.log()}",
        )
    finally:
        worker.stop()
        Schedule.objects.filter(name=SCHEDULE_NAME).delete()

    for source in payouts:
        assert posting.journal_count(_posting(world, source).external_id) == 1, source
    assert posting.journal_count() == len(payouts)
    with tenant_context(world.tenant):
        requeued = AuditEvent.objects.filter(action="netsuite.posting_requeued", actor_kind="schedule")
        assert sorted(NetsuitePosting.objects.get(pk=e.target_id).source_id for e in requeued) == never_started
    for source in never_started:
        assert _posting(world, source).attempts == 1  # sent once, by the task the schedule queued


def test_two_workers_and_a_thread_racing_on_one_payout_leave_one_entry(committed_tenant, sandbox, tmp_path) -> None:  # type: ignore[no-untyped-def]
    world = committed_tenant("ns-race")
    with tenant_context(world.tenant):
        posting = make_posting_world(world, sandbox)
        write_payouts(posting.stripe, PayoutSpec("po_race"))
        reconcile()
        postings_after_recon()  # approval mode: a draft
    workers = [Worker(tmp_path / "a.log").start(), Worker(tmp_path / "b.log").start()]
    try:
        for worker in workers:  # both clusters polling before anything is queued
            wait_for(lambda w=worker: "running." in w.log_path.read_text(), timeout=60, message="the cluster")
        _latency(sandbox, 2000)  # long enough for every sender to arrive while the first is on the wire
        with tenant_context(world.tenant):
            draft = NetsuitePosting.objects.get(source_id="po_race")
            posting_approve(posting=draft, actor=world.owner)  # queues one send
            for _ in range(3):  # and the same send, queued again (a redelivery, a double click)
                posting_enqueue(posting_id=draft.pk, tenant_id=world.tenant.pk)

        outcome: list[str] = []

        def send_here() -> None:  # a third sender, in this process
            try:
                with tenant_context(world.tenant):
                    sent = posting_send(posting_id=draft.pk, client=posting.client())
                    outcome.append(sent.state if sent else "missing")
            finally:
                db.close()

        racer = threading.Thread(target=send_here)
        racer.start()
        racer.join(timeout=60)
        wait_for(
            lambda: _states(world)["po_race"] == "posted",
            timeout=90,
            message=f"posted\n{workers[0].log()}\n{workers[1].log()}",
        )
        wait_for(  # let every queued duplicate run to its end
            lambda: _queued_sends(world) == 0, timeout=60, message="the duplicates to be consumed"
        )
    finally:
        for worker in workers:
            worker.stop()

    # the senders overlapped: whoever came second found it being sent, and left it alone
    busy = sum(w.log_path.read_text().count("netsuite_posting_busy") for w in workers)
    assert busy + (outcome == [PostingState.SENDING]) >= 1, (outcome, busy)
    assert posting.upserts() == 1  # one call: every other sender saw it sending or posted
    assert posting.journal_count() == 1
    final = _posting(world, "po_race")
    assert (final.state, final.attempts) == (PostingState.POSTED, 1)


def _queued_sends(world) -> int:  # type: ignore[no-untyped-def]
    """Sends of this tenant still in the ORM broker's queue (a task leaves it once done)."""
    from django_q.models import OrmQ

    return sum(1 for queued in OrmQ.objects.all() if str(world.tenant.pk) in queued.task.get("args", ())[1:2])
