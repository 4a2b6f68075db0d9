"""The postings' schedule (``netsuite.schedule``): a send a dead worker left ``sending`` is
resumed (a few times, then left to a person), an approved posting whose send task was lost is
queued again, and a send without a definite answer is looked up in NetSuite, backing off and then
leaving it to a person. Against the NetSuite sandbox over real HTTP; what the tick queues is
taken off the real broker and run as the worker would run it.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from django.db import connection as db
from django.utils import timezone

from audit.models import AuditEvent, Outcome
from netsuite.models import NetsuitePosting, PostingError, PostingState
from netsuite.schedule import SCHEDULE_FUNC, SCHEDULE_NAME, ensure_schedule, postings_recover
from netsuite.services import _send_lock_key, gl_mapping_update, posting_retry, posting_send, prepare_entry
from netsuite.tests.conftest import make_posting_world
from netsuite.tests.factories import (
    lose_queued_posting_tasks,
    queued_posting_ids,
    queued_settle_ids,
    run_queued_posting_tasks,
)
from netsuite.tests.test_services import (
    EVERY_ATTEMPT,
    _fail_payout,
    _sent_without_an_answer,
    approved,
    inject,
    sandbox_entry,
)

LONG_AGO = timedelta(minutes=30)  # well past the 5-minute lease
QUEUED_LONG_AGO = timedelta(hours=2)  # well past the 60-minute queue lease


def left_sending(posting, source_id: str, *, started_ago: timedelta, reached_netsuite: bool = True) -> NetsuitePosting:  # type: ignore[no-untyped-def]
    """What a worker killed mid-send leaves: ``sending`` since ``started_ago``, its session (and
    send lock) gone, and (``reached_netsuite``) the entry NetSuite committed before it died."""
    queued = approved(posting, source_id)
    if reached_netsuite:
        with posting.client() as client:
            client.upsert_by_external_id("journalentry", queued.external_id, prepare_entry(queued).body)
    started = timezone.now() - started_ago
    NetsuitePosting.objects.filter(pk=queued.pk).update(
        state=PostingState.SENDING, attempts=1, sending_started_at=started, updated_at=started
    )
    return NetsuitePosting.objects.get(pk=queued.pk)


def tick(capture) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """One run of the schedule, its queued tasks handed to the broker as after a commit."""
    with capture(execute=True):
        return postings_recover()


# ------------------------------------------------------------------------- resuming sends


@pytest.mark.parametrize("reached_netsuite", [True, False], ids=["entry-committed", "nothing-sent"])
def test_a_send_a_dead_worker_left_is_resumed_and_posted_once(
    posting, django_capture_on_commit_callbacks, reached_netsuite
) -> None:  # type: ignore[no-untyped-def]
    stuck = left_sending(posting, "po_dead_worker", started_ago=LONG_AGO, reached_netsuite=reached_netsuite)

    counts = tick(django_capture_on_commit_callbacks)
    again = tick(django_capture_on_commit_callbacks)  # a minute later, the resume still queued

    assert counts["resumed"] == 1
    assert again["resumed"] == 0  # queued once per lease, not once per tick
    assert queued_posting_ids(posting.tenant.pk) == [str(stuck.pk)]
    assert run_queued_posting_tasks(posting.tenant.pk) == [PostingState.POSTED]
    resumed = NetsuitePosting.objects.get(pk=stuck.pk)
    assert (resumed.state, resumed.attempts) == (PostingState.POSTED, 2)
    assert resumed.netsuite_internal_id == sandbox_entry(posting, stuck.external_id)["id"]
    assert posting.journal_count(stuck.external_id) == 1
    assert posting.journal_count() == 1
    event = AuditEvent.objects.get(action="netsuite.posting_resumed", target_id=str(stuck.pk))
    assert (event.actor_kind, event.outcome, event.detail["attempts"]) == ("schedule", Outcome.SUCCESS, 1)
    assert AuditEvent.objects.filter(action="netsuite.posting_sent", target_id=str(stuck.pk)).count() == 1


def test_a_send_whose_lock_a_live_worker_holds_is_left_alone(posting, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    from ecomops.dbsetup import database_url

    busy = left_sending(posting, "po_slow_worker", started_ago=LONG_AGO, reached_netsuite=False)
    # A live worker, slow as it may be, holds the posting's send lock in its own session.
    with psycopg.connect(database_url(db.settings_dict), autocommit=True) as live_worker:
        live_worker.execute("SELECT pg_advisory_lock(%s)", (_send_lock_key(busy.pk),))

        counts = tick(django_capture_on_commit_callbacks)

    assert counts["resumed"] == 0
    assert queued_posting_ids(posting.tenant.pk) == []
    untouched = NetsuitePosting.objects.get(pk=busy.pk)
    assert (untouched.state, untouched.attempts, untouched.updated_at) == (PostingState.SENDING, 1, busy.updated_at)
    assert not AuditEvent.objects.filter(action="netsuite.posting_resumed").exists()
    assert posting.upserts() == 0


def test_a_send_started_within_the_lease_is_left_alone(posting, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    fresh = left_sending(posting, "po_just_sent", started_ago=timedelta(minutes=1), reached_netsuite=False)

    counts = tick(django_capture_on_commit_callbacks)

    assert counts["resumed"] == 0
    assert queued_posting_ids(posting.tenant.pk) == []
    assert NetsuitePosting.objects.get(pk=fresh.pk).state == PostingState.SENDING
    assert not AuditEvent.objects.filter(action="netsuite.posting_resumed").exists()


def test_one_tenants_failure_does_not_stop_the_others(
    tenant_a, tenant_b, in_tenant, sandbox, monkeypatch, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    import netsuite.services as services

    with in_tenant(tenant_b.tenant):
        world_b = make_posting_world(tenant_b, sandbox)
        stuck = left_sending(world_b, "po_other_tenant", started_ago=LONG_AGO, reached_netsuite=False)
    # Tenant A comes first (created first), and every step of its tick fails.
    resume, settle = services.postings_resume_abandoned, services.postings_settle_enqueue_due

    def failing_in_a(step):  # type: ignore[no-untyped-def]
        def run(**kwargs):  # type: ignore[no-untyped-def]
            if db.tenant.pk == tenant_a.tenant.pk:
                raise RuntimeError("tenant A's database is having a bad day")
            return step(**kwargs)

        return run

    monkeypatch.setattr(services, "postings_resume_abandoned", failing_in_a(resume))
    monkeypatch.setattr(services, "postings_settle_enqueue_due", failing_in_a(settle))

    counts = tick(django_capture_on_commit_callbacks)

    assert (counts["failed"], counts["resumed"]) == (2, 1)
    assert queued_posting_ids(tenant_b.tenant.pk) == [str(stuck.pk)]
    assert run_queued_posting_tasks(tenant_b.tenant.pk) == [PostingState.POSTED]
    with in_tenant(tenant_b.tenant):
        assert world_b.journal_count(stuck.external_id) == 1


def killed_again(stuck: NetsuitePosting) -> None:
    """The resumed send's worker dies too, as ``left_sending`` says: the claim counted one more
    attempt, the session (and send lock) went with the worker, and a lease has passed since."""
    started = timezone.now() - LONG_AGO
    NetsuitePosting.objects.filter(pk=stuck.pk).update(
        attempts=stuck.attempts + 1, sending_started_at=started, updated_at=started
    )


def test_a_send_that_kills_its_worker_every_time_is_left_to_a_person(
    posting, django_capture_on_commit_callbacks, settings, api_as
) -> None:  # type: ignore[no-untyped-def]
    from conftest import signed_in

    settings.POSTING_MAX_RESUMES = 2
    stuck = left_sending(posting, "po_poison", started_ago=LONG_AGO, reached_netsuite=True)

    for resume in (1, 2):  # each resume is queued, claimed, and dies with its worker
        assert tick(django_capture_on_commit_callbacks)["resumed"] == 1, resume
        assert lose_queued_posting_tasks(posting.tenant.pk) == [str(stuck.pk)]  # taken by a worker that dies
        stuck = NetsuitePosting.objects.get(pk=stuck.pk)
        assert (stuck.state, stuck.resumes) == (PostingState.SENDING, resume)
        killed_again(stuck)
        stuck = NetsuitePosting.objects.get(pk=stuck.pk)

    counts = tick(django_capture_on_commit_callbacks)

    assert counts["resumed"] == 0
    assert queued_posting_ids(posting.tenant.pk) == []
    given_up = NetsuitePosting.objects.get(pk=stuck.pk)
    assert (given_up.state, given_up.error_code, given_up.attempts) == (
        PostingState.FAILED,
        PostingError.SEND_ABANDONED,
        3,
    )
    assert given_up.last_error.startswith("Sending this entry stopped its worker 3 times")
    assert f"Look in the worker logs for posting {stuck.pk}, then retry it" in given_up.last_error
    event = AuditEvent.objects.get(action="netsuite.posting_resumes_exhausted", target_id=str(stuck.pk))
    assert (event.actor_kind, event.outcome, event.detail["resumes"]) == ("schedule", Outcome.FAILURE, 2)
    assert tick(django_capture_on_commit_callbacks) == {"resumed": 0, "requeued": 0, "settling": 0}
    assert queued_posting_ids(posting.tenant.pk) == []
    # Said where people look: the postings page and the API.
    page = signed_in(posting.world.accountant.email).get("/postings/").content.decode()
    assert "Sending this entry stopped its worker 3 times" in page
    shown = api_as(posting.world.accountant, posting.tenant).get(f"/api/v1/postings/{stuck.pk}/").json()
    assert (shown["state"], shown["error_code"], shown["resumes"]) == ("failed", "send_abandoned", 2)
    # A person retries it, as any failed posting: the same upsert, the one entry the first worker wrote.
    with django_capture_on_commit_callbacks(execute=True):
        retried = api_as(posting.world.admin, posting.tenant).post(f"/api/v1/postings/{stuck.pk}/retry/")
    assert retried.status_code == 202, retried.content
    assert NetsuitePosting.objects.get(pk=stuck.pk).resumes == 0  # the schedule may resume it as often again
    assert run_queued_posting_tasks(posting.tenant.pk) == [PostingState.POSTED]
    posted = NetsuitePosting.objects.get(pk=stuck.pk)
    assert (posted.state, posted.error_code, posted.attempts) == (PostingState.POSTED, "", 4)
    assert posted.netsuite_internal_id == sandbox_entry(posting, stuck.external_id)["id"]
    assert posting.journal_count() == 1


def test_a_retry_of_a_given_up_posting_that_cannot_be_sent_asks_netsuite_first(
    posting, django_capture_on_commit_callbacks, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.POSTING_MAX_RESUMES = 1
    stuck = left_sending(posting, "po_poison_bounced", started_ago=LONG_AGO, reached_netsuite=True)
    tick(django_capture_on_commit_callbacks)
    assert lose_queued_posting_tasks(posting.tenant.pk) == [str(stuck.pk)]  # the resume dies with its worker
    killed_again(NetsuitePosting.objects.get(pk=stuck.pk))
    tick(django_capture_on_commit_callbacks)
    assert NetsuitePosting.objects.get(pk=stuck.pk).error_code == PostingError.SEND_ABANDONED
    _fail_payout(posting, "po_poison_bounced")  # the payout bounces before anyone looks

    posting_retry(posting=NetsuitePosting.objects.get(pk=stuck.pk), actor=posting.world.admin)
    sent = posting_send(posting_id=stuck.pk, client=posting.client())

    # Not reconciled any more, so not sent; but a dead worker had written the entry: it is posted,
    # and a reversal can follow, rather than "failed" over an entry NetSuite holds.
    assert (sent.state, sent.netsuite_internal_id) == (
        PostingState.POSTED,
        sandbox_entry(posting, stuck.external_id)["id"],
    )
    assert posting.journal_count() == 1


def given_up(posting, source_id: str, capture, *, reached_netsuite: bool) -> NetsuitePosting:  # type: ignore[no-untyped-def]
    """A send that stopped its worker, was resumed once (POSTING_MAX_RESUMES = 1), stopped it again
    and was failed with ``send_abandoned``; whether the first worker's upsert reached NetSuite."""
    stuck = left_sending(posting, source_id, started_ago=LONG_AGO, reached_netsuite=reached_netsuite)
    tick(capture)
    assert lose_queued_posting_tasks(posting.tenant.pk) == [str(stuck.pk)]
    killed_again(NetsuitePosting.objects.get(pk=stuck.pk))
    tick(capture)
    abandoned = NetsuitePosting.objects.get(pk=stuck.pk)
    assert (abandoned.state, abandoned.error_code) == (PostingState.FAILED, PostingError.SEND_ABANDONED)
    return abandoned


def test_a_given_up_send_that_reached_netsuite_is_found_posted_without_a_person(
    posting, django_capture_on_commit_callbacks, settings, fast_lookups
) -> None:  # type: ignore[no-untyped-def]
    settings.POSTING_MAX_RESUMES = 1
    abandoned = given_up(posting, "po_poison_landed", django_capture_on_commit_callbacks, reached_netsuite=True)
    assert timedelta(minutes=4) < abandoned.next_settle_at - timezone.now() <= timedelta(minutes=5)
    assert "it is asked in a few minutes" in abandoned.last_error

    early = tick(django_capture_on_commit_callbacks)
    back_off_passed(abandoned)
    due = tick(django_capture_on_commit_callbacks)

    assert (early["settling"], due["settling"]) == (0, 1)
    assert run_queued_posting_tasks(posting.tenant.pk) == [{"posted": 1, "not_posted": 0, "unknown": 0}]
    found = NetsuitePosting.objects.get(pk=abandoned.pk)
    assert (found.state, found.error_code, found.last_error) == (PostingState.POSTED, "", "")
    assert found.netsuite_internal_id == sandbox_entry(posting, abandoned.external_id)["id"]
    assert posting.journal_count() == 1  # the one entry the dead worker wrote; asking sent nothing
    assert posting.upserts() == 1
    event = AuditEvent.objects.get(action="netsuite.posting_settled", target_id=str(abandoned.pk))
    assert (event.actor_kind, event.detail["found"]) == ("schedule", True)


def test_a_given_up_send_netsuite_never_got_stays_for_a_person_and_says_so(
    posting, django_capture_on_commit_callbacks, settings, fast_lookups
) -> None:  # type: ignore[no-untyped-def]
    settings.POSTING_MAX_RESUMES = 1
    abandoned = given_up(posting, "po_poison_lost", django_capture_on_commit_callbacks, reached_netsuite=False)
    back_off_passed(abandoned)

    tick(django_capture_on_commit_callbacks)
    assert run_queued_posting_tasks(posting.tenant.pk) == [{"posted": 0, "not_posted": 1, "unknown": 0}]

    absent = NetsuitePosting.objects.get(pk=abandoned.pk)
    # Still the worker-stopping send: retried blindly it would stop the worker again.
    assert (absent.state, absent.error_code, absent.next_settle_at) == (
        PostingState.FAILED,
        PostingError.SEND_ABANDONED,
        None,
    )
    assert "nothing was posted" in absent.last_error
    assert f"NetSuite holds no entry with external id {absent.external_id}" in absent.last_error
    assert f"Look in the worker logs for posting {absent.pk}, then retry it" in absent.last_error
    assert posting.journal_count() == 0
    assert tick(django_capture_on_commit_callbacks)["settling"] == 0  # asked once, answered: left to a person


# ---------------------------------------------------------------- lost send tasks


def queued_ago(posting_row: NetsuitePosting, ago: timedelta) -> None:
    """Its send was queued ``ago`` (and the posting has not changed since)."""
    at = timezone.now() - ago
    NetsuitePosting.objects.filter(pk=posting_row.pk).update(send_queued_at=at, updated_at=at)


def test_an_approved_posting_whose_send_task_was_lost_is_queued_again(
    posting, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    # Approved, its send queued after the commit, and the task lost with the worker that took it.
    lost = approved(posting, "po_lost_task")
    assert lost.send_queued_at is not None
    queued_ago(lost, timedelta(minutes=10))

    within_lease = tick(django_capture_on_commit_callbacks)  # it may still be waiting its turn
    queued_ago(lost, QUEUED_LONG_AGO)
    counts = tick(django_capture_on_commit_callbacks)
    again = tick(django_capture_on_commit_callbacks)  # a minute later, the new task still queued

    assert (within_lease["requeued"], counts["requeued"], again["requeued"]) == (0, 1, 0)
    assert queued_posting_ids(posting.tenant.pk) == [str(lost.pk)]
    assert run_queued_posting_tasks(posting.tenant.pk) == [PostingState.POSTED]
    sent = NetsuitePosting.objects.get(pk=lost.pk)
    assert (sent.state, sent.attempts) == (PostingState.POSTED, 1)
    assert posting.journal_count(lost.external_id) == 1
    event = AuditEvent.objects.get(action="netsuite.posting_requeued", target_id=str(lost.pk))
    assert (event.actor_kind, event.outcome, event.detail["lease_minutes"]) == ("schedule", Outcome.SUCCESS, 60)
    # A duplicate of the send, the lost task turning up after all, finds it posted and sends nothing.
    assert posting_send(posting_id=lost.pk, client=posting.client()).state == PostingState.POSTED
    assert posting.upserts() == 1


def test_a_backlog_still_being_sent_is_not_queued_twice(posting, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    # Month end: reconciliation approves a batch at once (automatic mode), all queued together,
    # and two hours later the workers are still working through it.
    from netsuite.services import posting_mode_set, postings_after_recon
    from netsuite.tests.factories import PayoutSpec, reconcile, write_payouts

    posting_mode_set(actor=None, mode="auto")
    write_payouts(posting.stripe, *(PayoutSpec(f"po_backlog_{n}") for n in range(4)))
    reconcile()
    with django_capture_on_commit_callbacks(execute=False):  # what the workers hold: not run here
        assert postings_after_recon().approved == 4
    batch = list(NetsuitePosting.objects.order_by("source_id"))
    assert len({row.send_queued_at for row in batch}) == 1  # one queueing for the whole batch
    two_hours_ago = timezone.now() - QUEUED_LONG_AGO
    NetsuitePosting.objects.update(send_queued_at=two_hours_ago, updated_at=two_hours_ago)
    assert posting_send(posting_id=batch[0].pk, client=posting.client()).state == PostingState.POSTED  # just now

    backlog = tick(django_capture_on_commit_callbacks)

    assert backlog["requeued"] == 0  # the queue is working through the batch: left to it
    assert queued_posting_ids(posting.tenant.pk) == []
    # A payout approved later has been sent already: the queue has moved past the batch, whose
    # tasks the worker that died took with it.
    write_payouts(posting.stripe, PayoutSpec("po_after_backlog"))
    reconcile()
    with django_capture_on_commit_callbacks(execute=False):
        assert postings_after_recon().approved == 1
    later = NetsuitePosting.objects.get(source_id="po_after_backlog")
    queued_ago(later, timedelta(minutes=90))  # after the batch; the database's clock stands still in a test
    assert posting_send(posting_id=later.pk, client=posting.client()).state == PostingState.POSTED

    moved_past = tick(django_capture_on_commit_callbacks)

    assert moved_past["requeued"] == 3
    assert sorted(queued_posting_ids(posting.tenant.pk)) == sorted(str(row.pk) for row in batch[1:])
    assert run_queued_posting_tasks(posting.tenant.pk) == [PostingState.POSTED] * 3
    assert posting.journal_count() == 5


# ---------------------------------------------------------------- settling unknown outcomes


def back_off_passed(posting_row: NetsuitePosting) -> None:
    """Time passes: the posting's next lookup is due."""
    NetsuitePosting.objects.filter(pk=posting_row.pk).update(next_settle_at=timezone.now() - timedelta(seconds=1))


@pytest.fixture
def fast_lookups(posting, monkeypatch):  # type: ignore[no-untyped-def]
    """The worker's lookups with the tests' short retry delays (its own client backs off for minutes)."""
    client = posting.client()
    monkeypatch.setattr("netsuite.services.shared_client", lambda connection, **kwargs: client)
    yield client
    client.close()


def test_an_unknown_outcome_netsuite_holds_is_found_posted_after_the_back_off(
    posting, django_capture_on_commit_callbacks, fast_lookups
) -> None:  # type: ignore[no-untyped-def]
    sent = _sent_without_an_answer(posting, "po_sched_found")
    assert (sent.error_code, sent.settle_attempts) == (PostingError.OUTCOME_UNKNOWN, 0)
    assert timedelta(minutes=4) < sent.next_settle_at - timezone.now() <= timedelta(minutes=5)

    early = tick(django_capture_on_commit_callbacks)  # right after the send: not yet
    back_off_passed(sent)
    due = tick(django_capture_on_commit_callbacks)

    assert (early["settling"], due["settling"]) == (0, 1)
    assert queued_settle_ids(posting.tenant.pk) == [[str(sent.pk)]]
    assert run_queued_posting_tasks(posting.tenant.pk) == [{"posted": 1, "not_posted": 0, "unknown": 0}]
    found = NetsuitePosting.objects.get(pk=sent.pk)
    assert (found.state, found.error_code, found.next_settle_at) == (PostingState.POSTED, "", None)
    assert found.netsuite_internal_id == sandbox_entry(posting, sent.external_id)["id"]
    assert found.attempts == 1  # asking sent nothing
    assert posting.upserts() == EVERY_ATTEMPT
    assert posting.journal_count() == 1
    event = AuditEvent.objects.get(action="netsuite.posting_settled", target_id=str(sent.pk))
    assert (event.actor_kind, event.detail["found"]) == ("schedule", True)
    assert tick(django_capture_on_commit_callbacks)["settling"] == 0  # settled: nothing more to ask


def test_an_unknown_outcome_netsuite_never_applied_stays_failed_and_retryable(
    posting, django_capture_on_commit_callbacks, fast_lookups
) -> None:  # type: ignore[no-untyped-def]
    # NetSuite refuses the entry (no such clearing account) and the refusals are lost: nothing written.
    clearing = posting.mapping.clearing_account
    gl_mapping_update(actor=None, mapping=posting.mapping, clearing_account="999")
    sent = _sent_without_an_answer(posting, "po_sched_absent")
    back_off_passed(sent)

    tick(django_capture_on_commit_callbacks)
    assert run_queued_posting_tasks(posting.tenant.pk) == [{"posted": 0, "not_posted": 1, "unknown": 0}]

    absent = NetsuitePosting.objects.get(pk=sent.pk)
    assert (absent.state, absent.error_code) == (PostingState.FAILED, PostingError.NETSUITE_UNAVAILABLE)
    assert "holds no entry" in absent.last_error
    assert absent.next_settle_at is None
    assert posting.journal_count() == 0
    event = AuditEvent.objects.get(action="netsuite.posting_settled", target_id=str(sent.pk))
    assert (event.actor_kind, event.detail["found"]) == ("schedule", False)
    assert tick(django_capture_on_commit_callbacks)["settling"] == 0  # a person retries it, not the schedule
    # Retried once the mapping is fixed: one entry.
    gl_mapping_update(actor=None, mapping=posting.mapping, clearing_account=clearing)
    posting_retry(posting=absent, actor=posting.world.admin)
    assert posting_send(posting_id=sent.pk, client=posting.client()).state == PostingState.POSTED
    assert posting.journal_count(sent.external_id) == 1


def test_lookups_back_off_then_leave_the_posting_to_a_person(
    posting, django_capture_on_commit_callbacks, fast_lookups, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.POSTING_SETTLE_MAX_ATTEMPTS = 3
    sent = _sent_without_an_answer(posting, "po_sched_silent")
    inject(posting, kind="503", count=None)  # NetSuite answers nothing useful from now on

    for attempt, wait_minutes in ((1, 10), (2, 20)):
        back_off_passed(sent)
        assert tick(django_capture_on_commit_callbacks)["settling"] == 1
        assert tick(django_capture_on_commit_callbacks)["settling"] == 0  # the lookup is queued already
        assert run_queued_posting_tasks(posting.tenant.pk) == [{"posted": 0, "not_posted": 0, "unknown": 1}]
        still = NetsuitePosting.objects.get(pk=sent.pk)
        assert (still.state, still.error_code, still.settle_attempts) == (
            PostingState.FAILED,
            PostingError.OUTCOME_UNKNOWN,
            attempt,
        )
        # The interval doubles with each lookup NetSuite did not answer.
        waits = still.next_settle_at - timezone.now()
        assert timedelta(minutes=wait_minutes - 1) < waits <= timedelta(minutes=wait_minutes), attempt
        assert tick(django_capture_on_commit_callbacks)["settling"] == 0  # not before then

    back_off_passed(sent)
    tick(django_capture_on_commit_callbacks)
    run_queued_posting_tasks(posting.tenant.pk)

    given_up = NetsuitePosting.objects.get(pk=sent.pk)
    assert (given_up.state, given_up.error_code) == (PostingState.FAILED, PostingError.OUTCOME_UNKNOWN)
    assert (given_up.settle_attempts, given_up.next_settle_at) == (3, None)
    # Said first, where the postings page shows it.
    assert given_up.last_error.startswith(f"NetSuite answered none of 3 lookups of external id {sent.external_id}")
    assert "Retry the posting" in given_up.last_error
    assert "may hold this entry" in given_up.last_error
    events = AuditEvent.objects.filter(action="netsuite.posting_settle_unanswered", target_id=str(sent.pk))
    assert [(e.actor_kind, e.outcome, e.detail["settle_attempts"], e.detail["given_up"]) for e in events] == [
        ("schedule", Outcome.FAILURE, 3, True),
        ("schedule", Outcome.FAILURE, 2, False),
        ("schedule", Outcome.FAILURE, 1, False),
    ]
    assert tick(django_capture_on_commit_callbacks)["settling"] == 0  # no longer asked on its own
    assert queued_settle_ids(posting.tenant.pk) == []
    # A person's retry sends the same upsert once NetSuite is back: the one entry it holds.
    inject_clear(posting)
    posting_retry(posting=given_up, actor=posting.world.admin)
    retried = posting_send(posting_id=sent.pk, client=posting.client())
    assert (retried.state, retried.settle_attempts, retried.next_settle_at) == (PostingState.POSTED, 0, None)
    assert posting.journal_count() == 1


def inject_clear(posting) -> None:  # type: ignore[no-untyped-def]
    import httpx

    httpx.delete(f"{posting.sandbox.url}/__sandbox__/faults").raise_for_status()


def test_the_postings_page_says_when_netsuite_is_asked_next(posting) -> None:  # type: ignore[no-untyped-def]
    from conftest import signed_in

    sent = _sent_without_an_answer(posting, "po_sched_page")

    page = signed_in(posting.world.accountant.email).get("/postings/")

    assert f"NetSuite is asked for it again after {sent.next_settle_at:%Y-%m-%d %H:%M} UTC" in page.content.decode()


# ---------------------------------------------------------------------------- the schedule


def test_the_schedule_follows_the_setting(settings, db) -> None:  # type: ignore[no-untyped-def]
    from django_q.models import Schedule

    settings.POSTING_RECOVERY = True
    ensure_schedule()
    ensure_schedule()  # idempotent
    schedule = Schedule.objects.get(name=SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        SCHEDULE_FUNC,
        Schedule.MINUTES,
        1,
        -1,
    )

    settings.POSTING_RECOVERY = False
    ensure_schedule()
    assert not Schedule.objects.filter(name=SCHEDULE_NAME).exists()
