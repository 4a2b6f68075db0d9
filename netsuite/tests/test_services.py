"""Posting services against the NetSuite sandbox over real HTTP: creating, approving, sending
exactly once under faults, refusing what must not be sent, and GL mapping rules.

Each proof of "one entry" counts the sandbox's records through SuiteQL, as a user would.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import psycopg
import pytest
from django.db import connection as db

from audit.models import AuditEvent
from canonical.models import Payout
from canonical.upsert import upsert_rows
from netsuite.models import NetsuitePosting, PostingError, PostingKind, PostingState
from netsuite.services import (
    _send_lock_key,
    gl_mapping_create,
    gl_mapping_update,
    posting_approve,
    posting_mode_set,
    posting_retry,
    posting_send,
    postings_after_recon,
    postings_settle,
)
from netsuite.tests.conftest import FAST_RETRIES, make_posting_world, tba_credentials
from netsuite.tests.factories import (
    PayoutSpec,
    build_payout_rows,
    fail_payout,
    queued_posting_ids,
    reconcile,
    run_queued_posting_tasks,
    write_payouts,
)
from tenants.services import ServiceError


def inject(posting, **fault) -> None:  # type: ignore[no-untyped-def]
    httpx.post(f"{posting.sandbox.url}/__sandbox__/faults", json=fault).raise_for_status()


def reconciled(posting, *specs: PayoutSpec) -> None:  # type: ignore[no-untyped-def]
    write_payouts(posting.stripe, *specs)
    reconcile()


def posting_for(source_id: str, kind: str = PostingKind.PAYOUT) -> NetsuitePosting:
    return NetsuitePosting.objects.get(source_id=source_id, kind=kind)


def approved(posting, source_id: str, **spec) -> NetsuitePosting:  # type: ignore[no-untyped-def]
    """A reconciled payout's posting, approved by the accountant (its send queued)."""
    reconciled(posting, PayoutSpec(source_id, **spec))
    postings_after_recon()
    return posting_approve(posting=posting_for(source_id), actor=posting.world.accountant)


def sandbox_entry(posting, external_id: str) -> dict:  # type: ignore[no-untyped-def]
    with posting.client() as client:
        return client.get("journalentry", f"eid:{external_id}", expand_sub_resources=True)


def secrets_of(posting) -> list[str]:  # type: ignore[no-untyped-def]
    c = posting.sandbox.credentials
    return [c.consumer_key, c.consumer_secret, c.token_id, c.token_secret, c.client_id]


# ------------------------------------------------------------------- creating postings


def test_approval_mode_creates_drafts_and_sends_nothing(posting) -> None:  # type: ignore[no-untyped-def]
    reconciled(posting, PayoutSpec("po_a"), PayoutSpec("po_b", charges=(20000,), refunds=((0, 500),)))

    result = postings_after_recon(run_id="run-1")

    assert (result.drafts, result.approved) == (2, 0)
    assert set(NetsuitePosting.objects.values_list("state", flat=True)) == {PostingState.DRAFT}
    assert queued_posting_ids(posting.tenant.pk) == []
    assert posting.upserts() == 0
    again = postings_after_recon()
    assert again.created == 0  # idempotent: one posting per payout
    assert NetsuitePosting.objects.count() == 2


def test_auto_mode_queues_and_the_worker_posts_one_balanced_entry(posting, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    posting_mode_set(actor=posting.world.owner, mode="auto")
    reconciled(posting, PayoutSpec("po_auto", charges=(20000,), refunds=((0, 5000),)))

    with django_capture_on_commit_callbacks(execute=True):
        result = postings_after_recon()
    assert result.approved == 1
    assert queued_posting_ids(posting.tenant.pk) == result.enqueued

    assert run_queued_posting_tasks(posting.tenant.pk) == [PostingState.POSTED]

    sent = posting_for("po_auto")
    entry = sandbox_entry(posting, sent.external_id)
    assert entry["id"] == sent.netsuite_internal_id
    assert entry["trandate"] == "2026-11-03"
    assert "po_auto" in entry["memo"]
    lines = [(i["account"]["id"], i.get("debit"), i.get("credit")) for i in entry["line"]["items"]]
    assert lines == [
        ("101", Decimal("143.9"), None),
        ("110", None, Decimal("200.0")),
        ("401", Decimal("50.0"), None),
        ("601", Decimal("6.1"), None),
    ]
    assert posting.journal_count(sent.external_id) == 1
    assert sent.approved_by_id is None
    assert sent.approved_at is not None


def test_postings_need_a_netsuite_connection(tenant_b, in_tenant) -> None:  # type: ignore[no-untyped-def]
    from connections.services import connection_create

    with in_tenant(tenant_b.tenant):
        stripe = connection_create(
            actor=None, name="Stripe", provider="stripe", credentials={"api_key": "sk_test_x"}, subsidiary_id="1"
        )
        write_payouts(stripe, PayoutSpec("po_nowhere"))
        reconcile()

        result = postings_after_recon()

        assert result.skipped_reason == "no enabled NetSuite connection"
        assert not NetsuitePosting.objects.exists()


def test_payout_with_exceptions_gets_no_posting(posting) -> None:  # type: ignore[no-untyped-def]
    spec = build_payout_rows(PayoutSpec("po_short", charges=(10000,)))
    for row in spec.rows:
        if row.kind == "payout":
            row.fields["amount_minor"] += 100  # the bank got more than the lines add up to
    upsert_rows(spec.rows, connection_id=posting.stripe.pk, tenant_id=posting.stripe.tenant_id, subsidiary_id="1")
    reconcile()

    assert postings_after_recon().created == 0


def _reconciled_with_accepted_difference(posting, source_id: str, *, extra_minor: int) -> None:  # type: ignore[no-untyped-def]
    """The bank got ``extra_minor`` more than the lines explain, and an accountant accepted it."""
    from recon.models import ReconException
    from recon.services import exception_resolve

    spec = build_payout_rows(PayoutSpec(source_id))
    payout_row = next(r for r in spec.rows if r.kind == "payout")
    payout_row.fields["amount_minor"] += extra_minor
    payout_row.raw_data["amount"] += extra_minor
    upsert_rows(spec.rows, connection_id=posting.stripe.pk, tenant_id=posting.stripe.tenant_id, subsidiary_id="1")
    reconcile()
    mismatch = ReconException.objects.get(reason="payout_total_mismatch", state="open")
    exception_resolve(actor=posting.world.accountant, exception=mismatch, note="1 cent bank rounding, accepted")
    reconcile()
    postings_after_recon()


def test_accepted_difference_is_booked_to_adjustments(posting) -> None:  # type: ignore[no-untyped-def]
    _reconciled_with_accepted_difference(posting, "po_cent", extra_minor=1)  # 96.81 paid for 96.80 of lines

    queued = posting_approve(posting=posting_for("po_cent"), actor=posting.world.accountant)
    sent = posting_send(posting_id=queued.pk, client=posting.client())

    assert sent.state == PostingState.POSTED
    items = sandbox_entry(posting, sent.external_id)["line"]["items"]
    # debits 96.81 + 3.20 = 100.01 = credits 100.00 + 0.01
    assert [line_of(i) for i in items] == [
        ("101", Decimal("96.81"), None),
        ("110", None, Decimal("100.0")),
        ("601", Decimal("3.2"), None),
        ("604", None, Decimal("0.01")),
    ]
    assert items[3]["memo"] == "Difference accepted in reconciliation - stripe payout po_cent"


def test_resolving_the_last_exception_creates_the_posting_without_waiting_for_a_run(
    posting, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    from django.utils import timezone
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    from connections.models import Connection
    from ecomops.tasks import run_tenant_task
    from recon.models import ReconException
    from recon.services import exception_resolve

    spec = build_payout_rows(PayoutSpec("po_resolved"))
    payout_row = next(r for r in spec.rows if r.kind == "payout")
    payout_row.fields["amount_minor"] += 1  # 96.81 paid for 96.80 of lines
    upsert_rows(spec.rows, connection_id=posting.stripe.pk, tenant_id=posting.stripe.tenant_id, subsidiary_id="1")
    # a fresh source, so the run completes (a stale one makes nothing postable)
    Connection.objects.filter(pk=posting.stripe.pk).update(last_sync_succeeded_at=timezone.now())
    assert reconcile().status == "completed"
    mismatch = ReconException.objects.get(reason="payout_total_mismatch", state="open")
    broker = get_broker()
    while broker.queue_size():  # what the run queued: not this test's subject
        for ack_id, _ in broker.dequeue() or []:
            broker.acknowledge(ack_id)

    with django_capture_on_commit_callbacks(execute=True):
        exception_resolve(actor=posting.world.accountant, exception=mismatch, note="1 cent bank rounding, accepted")

    queued = []
    while broker.queue_size():
        for ack_id, payload in broker.dequeue() or []:
            queued.append(tuple(SignedPackage.loads(payload)["args"]))
            broker.acknowledge(ack_id)
    assert [(args[0], args[2]) for args in queued] == [
        ("netsuite.tasks.postings_after_recon_task", {"payout_ids": [str(mismatch.payout_id)]})
    ]
    run_tenant_task(*queued[0])  # as the worker would
    draft = posting_for("po_resolved")
    assert (draft.state, draft.amount_minor) == (PostingState.DRAFT, 9681)


def _queued_tasks(name: str) -> list[tuple]:
    """Take every task off the broker's queue; return the arguments of those running ``name``."""
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    broker, found = get_broker(), []
    while broker.queue_size():
        for ack_id, payload in broker.dequeue() or []:
            args = tuple(SignedPackage.loads(payload)["args"])
            if args[0] == name:
                found.append(args)
            broker.acknowledge(ack_id)
    return found


def test_a_run_of_a_fresh_connection_posts_nothing_of_a_stale_one(posting, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from django.utils import timezone

    from connections.models import Connection
    from ecomops.tasks import run_tenant_task
    from recon.tests.factories import connection
    from recon.tests.factories import reconcile as reconcile_scope

    # the mapped Stripe account last synced five days ago: what it says of po_stale may be out of date
    Connection.objects.filter(pk=posting.stripe.pk).update(last_sync_succeeded_at=timezone.now() - timedelta(days=5))
    write_payouts(posting.stripe, PayoutSpec("po_stale"))
    assert reconcile().status == "stale"
    assert _queued_tasks("netsuite.tasks.postings_after_recon_task") == []
    # another Stripe account syncs; the run after it reads only that account, and completes
    fresh = connection(name="Stripe EU")

    with django_capture_on_commit_callbacks(execute=True):
        assert reconcile_scope(connection_ids=[fresh.pk]).status == "completed"
    for task in _queued_tasks("netsuite.tasks.postings_after_recon_task"):
        run_tenant_task(*task)  # as the worker would

    assert not NetsuitePosting.objects.filter(source_id="po_stale").exists()


def test_resolving_on_a_stale_connection_posts_nothing(posting, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from django.utils import timezone

    from connections.models import Connection
    from recon.models import ReconException
    from recon.services import exception_resolve
    from recon.tests.factories import connection
    from recon.tests.factories import reconcile as reconcile_scope

    spec = build_payout_rows(PayoutSpec("po_stale"))
    next(r for r in spec.rows if r.kind == "payout").fields["amount_minor"] += 1
    upsert_rows(spec.rows, connection_id=posting.stripe.pk, tenant_id=posting.stripe.tenant_id, subsidiary_id="1")
    Connection.objects.filter(pk=posting.stripe.pk).update(last_sync_succeeded_at=timezone.now() - timedelta(days=5))
    assert reconcile().status == "stale"
    fresh = connection(name="Stripe EU")
    assert reconcile_scope(connection_ids=[fresh.pk]).status == "completed"  # the tenant's last run
    _queued_tasks("netsuite.tasks.postings_after_recon_task")
    mismatch = ReconException.objects.get(reason="payout_total_mismatch", state="open")

    with django_capture_on_commit_callbacks(execute=True):
        exception_resolve(actor=posting.world.accountant, exception=mismatch, note="1 cent bank rounding, accepted")

    assert _queued_tasks("netsuite.tasks.postings_after_recon_task") == []


def test_accepted_difference_without_an_adjustments_account_is_refused_with_its_reason(posting) -> None:  # type: ignore[no-untyped-def]
    gl_mapping_update(actor=None, mapping=posting.mapping, adjustments_account="")
    _reconciled_with_accepted_difference(posting, "po_cent_unmapped", extra_minor=-2)
    draft = posting_for("po_cent_unmapped")

    with pytest.raises(ServiceError) as refused:
        posting_approve(posting=draft, actor=posting.world.accountant)

    assert refused.value.code == PostingError.UNMAPPED_ACCOUNT
    assert "accepted_difference->adjustments" in str(refused.value)
    draft.refresh_from_db()
    assert (draft.state, draft.error_code) == (PostingState.DRAFT, PostingError.UNMAPPED_ACCOUNT)
    assert "accepted_difference" in draft.last_error  # what the postings page shows
    assert posting.upserts() == 0


def test_an_instant_payout_and_the_payout_that_sweeps_it_bring_both_deposits_to_the_bank(posting) -> None:  # type: ignore[no-untyped-def]
    from canonical.rows import CanonicalRow
    from recon.models import ReconException
    from recon.services import exception_resolve

    # po_inst: 50.00 paid out by hand on 2026-11-02, no lines; po_sweep: a sale of 100.00
    # (fee 3.20) less po_inst's 50.00 swept from the balance: 46.80 to the bank
    instant = CanonicalRow(
        "payout",
        "stripe",
        "po_inst",
        {"currency": "USD", "amount_minor": 5000, "status": "paid", "method": "instant", "automatic": False,
         "arrival_date": date(2026, 11, 2), "failure_code": None, "reversal_of_source_id": None},
        {"id": "po_inst", "amount": 5000},
        datetime(2026, 11, 2, 9, tzinfo=UTC),
    )  # fmt: skip
    sweep = build_payout_rows(
        PayoutSpec("po_sweep", extra_lines=({"category": "payout", "amount": -5000, "object": "po_inst",
                                             "object_type": "payout"},))
    )  # fmt: skip
    upsert_rows([instant, *sweep.rows], connection_id=posting.stripe.pk, tenant_id=posting.stripe.tenant_id,
                subsidiary_id="1")  # fmt: skip
    reconcile()
    unitemized = ReconException.objects.get(reason="manual_payout_unitemized", state="open")
    exception_resolve(actor=posting.world.accountant, exception=unitemized, note="instant payout, swept in po_sweep")
    reconcile()
    postings_after_recon()

    entries = {}
    for source_id in ("po_inst", "po_sweep"):
        queued = posting_approve(posting=posting_for(source_id), actor=posting.world.accountant)
        sent = posting_send(posting_id=queued.pk, client=posting.client())
        assert sent.state == PostingState.POSTED, sent.last_error
        entries[source_id] = [line_of(i) for i in sandbox_entry(posting, sent.external_id)["line"]["items"]]

    # the instant payout: clearing to the bank, 50.00
    assert entries["po_inst"] == [("101", Decimal("50.0"), None), ("110", None, Decimal("50.0"))]
    # the sweep: 46.80 to the bank, the sale out of clearing, its fee, and clearing debited with
    # the 50.00 that left by hand: the bank got 96.80 in all, clearing is down 100.00
    assert entries["po_sweep"] == [
        ("101", Decimal("46.8"), None),
        ("110", None, Decimal("100.0")),
        ("601", Decimal("3.2"), None),
        ("110", Decimal("50.0"), None),
    ]


# ---------------------------------------------------------------------- approving


def test_accountant_approval_then_send_posts(posting, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    reconciled(posting, PayoutSpec("po_ok"))
    postings_after_recon()

    with django_capture_on_commit_callbacks(execute=True):
        result = posting_approve(posting=posting_for("po_ok"), actor=posting.world.accountant)

    assert result.state == PostingState.APPROVED
    assert result.approved_by_email == posting.world.accountant.email
    assert queued_posting_ids(posting.tenant.pk) == [str(result.pk)]
    assert run_queued_posting_tasks(posting.tenant.pk) == [PostingState.POSTED]
    assert posting.journal_count(result.external_id) == 1
    assert AuditEvent.objects.filter(action="netsuite.posting_approved", target_id=str(result.pk)).exists()
    assert AuditEvent.objects.filter(
        action="netsuite.posting_sent", target_id=str(result.pk), outcome="success"
    ).exists()


def test_approving_twice_is_refused(posting) -> None:  # type: ignore[no-untyped-def]
    first = approved(posting, "po_twice")
    with pytest.raises(ServiceError, match="Only a draft can be approved"):
        posting_approve(posting=first, actor=posting.world.accountant)


def test_approving_a_posted_entry_is_refused_without_touching_it(posting) -> None:  # type: ignore[no-untyped-def]
    sent = posting_send(posting_id=approved(posting, "po_done").pk, client=posting.client())
    assert sent.state == PostingState.POSTED
    gl_mapping_update(actor=None, mapping=posting.mapping, clearing_account="")  # it would not prepare now

    with pytest.raises(ServiceError, match="Only a draft can be approved; this posting is posted"):
        posting_approve(posting=sent, actor=posting.world.accountant)

    sent.refresh_from_db()
    assert (sent.state, sent.error_code, sent.last_error) == (PostingState.POSTED, "", "")


def test_unmapped_account_blocks_approval_with_its_reason(posting) -> None:  # type: ignore[no-untyped-def]
    gl_mapping_update(actor=None, mapping=posting.mapping, refunds_account="")
    reconciled(posting, PayoutSpec("po_refunded", charges=(20000,), refunds=((0, 5000),)))
    postings_after_recon()
    draft = posting_for("po_refunded")

    with pytest.raises(ServiceError) as refused:
        posting_approve(posting=draft, actor=posting.world.accountant)

    assert refused.value.code == PostingError.UNMAPPED_ACCOUNT
    assert refused.value.field == "gl_mapping"
    assert "refunds" in str(refused.value)
    draft.refresh_from_db()
    assert draft.state == PostingState.DRAFT
    assert draft.error_code == PostingError.UNMAPPED_ACCOUNT
    assert "refunds" in draft.last_error
    assert posting.upserts() == 0


def test_unmapped_account_fails_an_automatic_send_then_retry_after_mapping_posts(posting) -> None:  # type: ignore[no-untyped-def]
    posting_mode_set(actor=None, mode="auto")
    gl_mapping_update(actor=None, mapping=posting.mapping, dispute_fees_account="")
    reconciled(posting, PayoutSpec("po_disputed", charges=(50000, 10000), disputes=((1, "lost"),)))
    postings_after_recon()

    failed = posting_send(posting_id=posting_for("po_disputed").pk, client=posting.client())

    assert failed.state == PostingState.FAILED
    assert failed.error_code == PostingError.UNMAPPED_ACCOUNT
    assert "dispute_fees" in failed.last_error
    assert failed.attempts == 0  # refused before anything was sent
    assert posting.upserts() == 0

    gl_mapping_update(actor=posting.world.admin, mapping=posting.mapping, dispute_fees_account="603")
    posting_retry(posting=failed, actor=posting.world.admin)
    sent = posting_send(posting_id=failed.pk, client=posting.client())
    assert sent.state == PostingState.POSTED
    assert posting.journal_count(sent.external_id) == 1


def test_payout_without_mapping_is_refused_with_reason(posting) -> None:  # type: ignore[no-untyped-def]
    from connections.services import connection_create

    other = connection_create(
        actor=None, name="Stripe EU", provider="stripe", credentials={"api_key": "sk_test_y"}, subsidiary_id="2"
    )
    write_payouts(other, PayoutSpec("po_eu"))
    reconcile()
    postings_after_recon()

    with pytest.raises(ServiceError, match="No GL mapping") as refused:
        posting_approve(posting=posting_for("po_eu"), actor=posting.world.accountant)
    assert refused.value.code == PostingError.NO_MAPPING


# ------------------------------------------------------- payouts that change before the send
# po_grow first pays one 100.00 charge (fee 3.20): 96.80. A later sync brings a 50.00 charge
# (fee 1.75) into it, and it still reconciles: 96.80 + 48.25 = 145.05.


def _payout_grows(posting, source_id: str) -> None:  # type: ignore[no-untyped-def]
    write_payouts(posting.stripe, PayoutSpec(source_id, charges=(10000, 5000)))
    reconcile()


def bank_line(posting, posting_row: NetsuitePosting) -> tuple:  # type: ignore[no-untyped-def, type-arg]
    return line_of(sandbox_entry(posting, posting_row.external_id)["line"]["items"][0])


def test_a_draft_follows_its_payout_until_it_is_approved(posting) -> None:  # type: ignore[no-untyped-def]
    reconciled(posting, PayoutSpec("po_grow", charges=(10000,)))
    postings_after_recon()
    assert posting_for("po_grow").amount_minor == 9680
    _payout_grows(posting, "po_grow")

    result = postings_after_recon()

    assert (result.refreshed, result.created) == (1, 0)
    draft = posting_for("po_grow")
    assert (draft.state, draft.amount_display) == (PostingState.DRAFT, "145.05 USD")
    queued = posting_approve(posting=draft, actor=posting.world.accountant)
    sent = posting_send(posting_id=queued.pk, client=posting.client())
    assert (sent.state, sent.amount_minor) == (PostingState.POSTED, 14505)
    assert bank_line(posting, sent) == ("101", Decimal("145.05"), None)
    assert postings_after_recon().refreshed == 0


def test_approving_a_draft_whose_payout_changed_shows_the_new_amount_first(posting) -> None:  # type: ignore[no-untyped-def]
    reconciled(posting, PayoutSpec("po_grow_stale", charges=(10000,)))
    postings_after_recon()
    _payout_grows(posting, "po_grow_stale")  # the drafts are not brought up to date yet

    with pytest.raises(ServiceError) as refused:
        posting_approve(posting=posting_for("po_grow_stale"), actor=posting.world.accountant)

    assert refused.value.code == PostingError.AMOUNT_CHANGED
    assert "would now move 145.05 USD, not the 96.80 USD it was shown" in str(refused.value)
    draft = posting_for("po_grow_stale")
    assert (draft.state, draft.amount_minor) == (PostingState.DRAFT, 14505)
    assert posting_approve(posting=draft, actor=posting.world.accountant).state == PostingState.APPROVED


def test_send_refuses_an_entry_that_changed_after_it_was_approved(posting) -> None:  # type: ignore[no-untyped-def]
    queued = approved(posting, "po_grow_late", charges=(10000,))  # the accountant approved 96.80
    _payout_grows(posting, "po_grow_late")

    refused = posting_send(posting_id=queued.pk, client=posting.client())

    assert refused.state == PostingState.DRAFT
    assert refused.error_code == PostingError.AMOUNT_CHANGED
    assert "would now move 145.05 USD, not the 96.80 USD it was approved for" in refused.last_error
    assert (refused.amount_minor, refused.approved_by_id, refused.attempts) == (14505, None, 0)
    assert posting.upserts() == 0
    assert _free_for_another_session(refused)
    stored = posting_for("po_grow_late")
    assert (stored.state, stored.amount_minor, stored.approved_at) == (PostingState.DRAFT, 14505, None)

    again = posting_approve(posting=stored, actor=posting.world.accountant)
    sent = posting_send(posting_id=again.pk, client=posting.client())
    assert sent.state == PostingState.POSTED
    assert bank_line(posting, sent) == ("101", Decimal("145.05"), None)


def test_an_automatic_posting_sends_what_the_payout_now_says(posting) -> None:  # type: ignore[no-untyped-def]
    posting_mode_set(actor=None, mode="auto")
    reconciled(posting, PayoutSpec("po_grow_auto", charges=(10000,)))
    postings_after_recon()
    _payout_grows(posting, "po_grow_auto")

    sent = posting_send(posting_id=posting_for("po_grow_auto").pk, client=posting.client())

    assert (sent.state, sent.amount_minor) == (PostingState.POSTED, 14505)
    assert posting_for("po_grow_auto").amount_minor == 14505
    assert bank_line(posting, sent) == ("101", Decimal("145.05"), None)


# --------------------------------------------------------------------- sending, faults


def _break_connection(posting, **fields) -> None:  # type: ignore[no-untyped-def]
    """Settings a person saved before they were checked (the service refuses them now)."""
    from connections.models import Connection

    connection = Connection.objects.get(pk=posting.netsuite.pk)
    for name, value in fields.items():
        setattr(connection, name, value)
    connection.save()


@pytest.mark.parametrize(
    ("broken", "words"),
    [
        ({"account_id": ""}, "needs an account id"),
        ({"credentials": {"client_id": "c", "certificate_id": "k", "private_key": "not a pem"}}, "private_key"),
    ],
)
def test_unusable_connection_settings_fail_the_send_with_their_reason(posting, broken, words) -> None:  # type: ignore[no-untyped-def]
    queued = approved(posting, "po_misconfigured")
    _break_connection(posting, **broken)

    failed = posting_send(posting_id=queued.pk)  # the process's own client for the connection

    assert failed.state == PostingState.FAILED
    assert failed.error_code == PostingError.NETSUITE_CONFIG
    assert words in failed.last_error
    assert "not a pem" not in failed.last_error
    assert failed.attempts == 0  # nothing left for NetSuite
    assert posting.upserts() == 0
    assert _free_for_another_session(failed)
    stored = NetsuitePosting.objects.get(pk=queued.pk)
    assert (stored.state, stored.error_code) == (PostingState.FAILED, PostingError.NETSUITE_CONFIG)

    _break_connection(
        posting, account_id=posting.sandbox.credentials.account_id, credentials=tba_credentials(posting.sandbox)
    )
    posting_retry(posting=failed, actor=posting.world.admin)
    assert posting_send(posting_id=queued.pk).state == PostingState.POSTED
    assert posting.journal_count(queued.external_id) == 1


def test_worker_reports_an_unusable_connection_instead_of_crashing(posting, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    reconciled(posting, PayoutSpec("po_worker_misconfigured"))
    postings_after_recon()
    _break_connection(posting, account_id="")

    with django_capture_on_commit_callbacks(execute=True):
        posting_approve(posting=posting_for("po_worker_misconfigured"), actor=posting.world.accountant)

    assert run_queued_posting_tasks(posting.tenant.pk) == [PostingState.FAILED]
    assert posting_for("po_worker_misconfigured").error_code == PostingError.NETSUITE_CONFIG


def test_sent_posting_keeps_request_and_response_without_secrets(posting) -> None:  # type: ignore[no-untyped-def]
    sent = posting_send(posting_id=approved(posting, "po_kept").pk, client=posting.client())

    assert sent.state == PostingState.POSTED
    assert sent.attempts == 1
    assert sent.request["method"] == "PUT"
    assert sent.request["url"].endswith(f"/journalentry/eid:{sent.external_id}?replace=line")
    assert sent.request["headers"]["authorization"] == "OAuth [REDACTED]"
    assert json.loads(sent.request["body"])["externalId"] == sent.external_id
    assert sent.response["status"] == 204
    assert sent.response["headers"]["location"].endswith(f"/journalentry/{sent.netsuite_internal_id}")
    stored = json.dumps([sent.request, sent.response, sent.exchanges])
    for secret in secrets_of(posting):
        assert secret not in stored


def test_oauth2_connection_posts_with_one_token(tenant_a, in_tenant, sandbox) -> None:  # type: ignore[no-untyped-def]
    with in_tenant(tenant_a.tenant):
        world = make_posting_world(tenant_a, sandbox, auth="oauth2")
        for n in range(3):
            write_payouts(world.stripe, PayoutSpec(f"po_oauth_{n}"))
        reconcile()
        postings_after_recon()
        client = world.client()
        for draft in NetsuitePosting.objects.order_by("source_id"):
            posting_approve(posting=draft, actor=tenant_a.accountant)
            assert posting_send(posting_id=draft.pk, client=client).state == PostingState.POSTED

        assert sandbox.app.stats()["calls"] == {"oauth2.token": 1, "journalentry.upsert": 3}
        sent = NetsuitePosting.objects.order_by("source_id").first()
        assert sent.request["headers"]["authorization"] == "Bearer [REDACTED]"
        assert world.journal_count() == 3


def test_storm_of_429s_ends_in_success_within_the_retry_budget(posting) -> None:  # type: ignore[no-untyped-def]
    queued = approved(posting, "po_storm")
    inject(posting, kind="429", count=5)

    sent = posting_send(posting_id=queued.pk, client=posting.client())

    assert sent.state == PostingState.POSTED
    assert [e["status"] for e in sent.exchanges] == [429, 429, 429, 429, 429, 204]
    assert "CONCURRENCY_LIMIT_EXCEEDED" in sent.exchanges[0]["response_body"]
    assert posting.journal_count(sent.external_id) == 1


def test_storm_beyond_the_budget_fails_then_retry_posts_once(posting) -> None:  # type: ignore[no-untyped-def]
    queued = approved(posting, "po_long_storm")
    inject(posting, kind="429", count=50)

    failed = posting_send(posting_id=queued.pk, client=posting.client())

    assert failed.state == PostingState.FAILED
    assert failed.error_code == PostingError.NETSUITE_UNAVAILABLE
    assert "CONCURRENCY_LIMIT_EXCEEDED" in failed.last_error
    httpx.delete(f"{posting.sandbox.url}/__sandbox__/faults")  # the storm passes
    assert posting.journal_count() == 0

    posting_retry(posting=failed, actor=posting.world.admin)
    sent = posting_send(posting_id=failed.pk, client=posting.client())
    assert (sent.state, sent.attempts) == (PostingState.POSTED, 2)
    assert posting.journal_count(sent.external_id) == 1


def test_validation_error_is_not_retried(posting) -> None:  # type: ignore[no-untyped-def]
    gl_mapping_update(actor=None, mapping=posting.mapping, clearing_account="999")  # no such account in NetSuite
    queued = approved(posting, "po_bad_account")

    failed = posting_send(posting_id=queued.pk, client=posting.client())

    assert failed.state == PostingState.FAILED
    assert failed.error_code == PostingError.NETSUITE_REJECTED
    assert "INVALID_KEY_OR_REF" in failed.last_error
    assert len(failed.exchanges) == 1


def test_lost_response_then_retry_leaves_exactly_one_entry(posting) -> None:  # type: ignore[no-untyped-def]
    queued = approved(posting, "po_lost_answer")
    inject(posting, kind="drop_after_commit", count=1)  # NetSuite commits, the answer never arrives

    sent = posting_send(posting_id=queued.pk, client=posting.client())

    assert sent.state == PostingState.POSTED
    assert posting.upserts() == 2  # the entry was written twice over the same external id
    assert posting.journal_count(sent.external_id) == 1
    assert posting.journal_count() == 1
    assert sent.exchanges[0]["status"] is None
    assert sent.exchanges[0]["error"]
    entry = sandbox_entry(posting, sent.external_id)
    assert entry["id"] == sent.netsuite_internal_id
    # The resend replaced the lines the first (committed) send wrote: the entry has its three.
    assert [line_of(i) for i in entry["line"]["items"]] == [
        ("101", Decimal("96.8"), None),
        ("110", None, Decimal("100.0")),
        ("601", Decimal("3.2"), None),
    ]


def test_resuming_a_send_that_crashed_after_the_upsert_keeps_one_entry(posting) -> None:  # type: ignore[no-untyped-def]
    from netsuite.services import prepare_entry

    queued = approved(posting, "po_crashed")
    # What a worker killed right after NetSuite committed leaves behind: the entry exists,
    # the posting says "sending", and the dead worker's session (and its lock) is gone.
    entry = prepare_entry(queued).body
    with posting.client() as client:
        first_id = client.upsert_by_external_id("journalentry", queued.external_id, entry)
    NetsuitePosting.objects.filter(pk=queued.pk).update(state=PostingState.SENDING, attempts=1)

    resumed = posting_send(posting_id=queued.pk, client=posting.client())

    assert resumed.state == PostingState.POSTED
    assert resumed.netsuite_internal_id == first_id
    assert resumed.attempts == 2
    assert posting.journal_count(queued.external_id) == 1


def test_second_sender_leaves_a_posting_being_sent_alone(posting) -> None:  # type: ignore[no-untyped-def]
    queued = approved(posting, "po_busy")
    NetsuitePosting.objects.filter(pk=queued.pk).update(state=PostingState.SENDING, attempts=1)
    from ecomops.dbsetup import database_url

    # Another live worker's session holds the posting's send lock.
    with psycopg.connect(database_url(db.settings_dict), autocommit=True) as other_worker:
        other_worker.execute("SELECT pg_advisory_lock(%s)", (_send_lock_key(queued.pk),))

        untouched = posting_send(posting_id=queued.pk, client=posting.client())
        assert untouched.state == PostingState.SENDING
        assert posting.upserts() == 0
        with pytest.raises(ServiceError, match="being sent right now"):
            posting_retry(posting=untouched, actor=posting.world.admin)

    # that worker died: its lock went with its session, the posting can be resumed
    assert posting_send(posting_id=queued.pk, client=posting.client()).state == PostingState.POSTED
    assert posting.journal_count(queued.external_id) == 1


def test_unbalanced_entry_is_never_sent(posting) -> None:  # type: ignore[no-untyped-def]
    queued = approved(posting, "po_changed", charges=(10000, 5000))
    # A re-sync changed a line after the payout reconciled, and recon has not run since.
    spec = build_payout_rows(PayoutSpec("po_changed", charges=(10000, 5000)))
    changed = next(r for r in spec.rows if r.source_id == "txn_ch_changed_1")
    changed.fields.update(amount_minor=5100, net_minor=5100 - changed.fields["fee_minor"])
    changed.raw_data["amount"] = 5100
    upsert_rows([changed], connection_id=posting.stripe.pk, tenant_id=posting.stripe.tenant_id, subsidiary_id="1")

    failed = posting_send(posting_id=queued.pk, client=posting.client())

    assert failed.state == PostingState.FAILED
    assert failed.error_code == PostingError.UNBALANCED
    assert "does not balance" in failed.last_error
    assert "difference" in failed.last_error
    assert posting.upserts() == 0
    assert posting.journal_count() == 0


def test_payout_no_longer_reconciled_is_not_sent(posting) -> None:  # type: ignore[no-untyped-def]
    queued = approved(posting, "po_regressed")
    spec = build_payout_rows(PayoutSpec("po_regressed"))
    payout_row = next(r for r in spec.rows if r.kind == "payout")
    payout_row.fields["amount_minor"] += 1
    payout_row.raw_data["amount"] += 1
    upsert_rows([payout_row], connection_id=posting.stripe.pk, tenant_id=posting.stripe.tenant_id, subsidiary_id="1")
    reconcile()

    failed = posting_send(posting_id=queued.pk, client=posting.client())

    assert (failed.state, failed.error_code) == (PostingState.FAILED, PostingError.NOT_RECONCILED)
    assert posting.upserts() == 0


def test_sending_twice_sends_once(posting) -> None:  # type: ignore[no-untyped-def]
    queued = approved(posting, "po_redelivered")

    first = posting_send(posting_id=queued.pk, client=posting.client())
    second = posting_send(posting_id=queued.pk, client=posting.client())  # a redelivered task

    assert first.state == second.state == PostingState.POSTED
    assert posting.upserts() == 1


def test_failed_payout_after_posting_is_reversed(posting) -> None:  # type: ignore[no-untyped-def]
    posting_mode_set(actor=None, mode="auto")
    reconciled(posting, PayoutSpec("po_bounced"))
    postings_after_recon()
    original = posting_send(posting_id=posting_for("po_bounced").pk, client=posting.client())
    assert original.state == PostingState.POSTED
    fail_payout(posting.stripe, "po_bounced")  # days later the bank returns the money
    reconcile()

    result = postings_after_recon()
    reversal = posting_send(posting_id=posting_for("po_bounced", PostingKind.REVERSAL).pk, client=posting.client())

    assert result.reversals == 1
    assert reversal.state == PostingState.POSTED
    assert reversal.external_id != original.external_id
    assert "-rev-" in reversal.external_id
    entry = sandbox_entry(posting, reversal.external_id)
    assert [(i["account"]["id"], i.get("debit"), i.get("credit")) for i in entry["line"]["items"]] == [
        ("101", None, Decimal("96.8")),
        ("110", Decimal("96.8"), None),
    ]
    assert posting.journal_count() == 2  # the original stays, the reversal takes it back
    assert postings_after_recon().created == 0


def _fail_payout(posting, source_id: str) -> None:  # type: ignore[no-untyped-def]
    """The bank returns the money: the payout is failed at the processor."""
    fail_payout(posting.stripe, source_id)
    reconcile()


def test_a_payout_posted_after_its_failure_was_accepted_is_reversed_at_once(posting) -> None:  # type: ignore[no-untyped-def]
    from recon.models import ReconException
    from recon.services import exception_resolve

    # The payout fails before anyone posts it; a person accepts that (its funds come back in a
    # later payout), which reconciles it: its entry may be approved, and is sent as it paid out.
    reconciled(posting, PayoutSpec("po_failed_first"))
    _fail_payout(posting, "po_failed_first")
    failure = ReconException.objects.get(reason="payout_failed", subject_ref="po_failed_first")
    exception_resolve(actor=posting.world.accountant, exception=failure, note="funds back in the next payout")
    postings_after_recon()  # what the task the resolution queued does
    draft = posting_for("po_failed_first")
    posting_approve(posting=draft, actor=posting.world.accountant)

    sent = posting_send(posting_id=draft.pk, client=posting.client())

    assert sent.state == PostingState.POSTED
    # Its reversal is there at once, for approval like any entry, not a sync and a run later:
    # until it is posted the bank account shows 96.80 that never arrived.
    reversal = posting_for("po_failed_first", PostingKind.REVERSAL)
    assert (reversal.state, reversal.amount_minor) == (PostingState.DRAFT, -9680)
    posting_approve(posting=reversal, actor=posting.world.accountant)
    assert posting_send(posting_id=reversal.pk, client=posting.client()).state == PostingState.POSTED
    assert [line_of(i) for i in sandbox_entry(posting, reversal.external_id)["line"]["items"]] == REVERSAL_96_80
    assert posting.journal_count() == 2
    assert postings_after_recon().created == 0


def test_reversal_cancels_the_accounts_originally_posted_not_todays_mapping(posting) -> None:  # type: ignore[no-untyped-def]
    posting_mode_set(actor=None, mode="auto")
    reconciled(posting, PayoutSpec("po_moved"))  # one 100.00 charge, 3.20 fee: 96.80 to the bank
    postings_after_recon()
    original = posting_send(posting_id=posting_for("po_moved").pk, client=posting.client())
    assert [line_of(i) for i in sandbox_entry(posting, original.external_id)["line"]["items"]] == [
        ("101", Decimal("96.8"), None),
        ("110", None, Decimal("100.0")),
        ("601", Decimal("3.2"), None),
    ]
    # Afterwards the tenant books Stripe payouts to another bank and clearing account.
    gl_mapping_update(actor=None, mapping=posting.mapping, bank_account="120", clearing_account="604")
    _fail_payout(posting, "po_moved")

    postings_after_recon()
    reversal = posting_send(posting_id=posting_for("po_moved", PostingKind.REVERSAL).pk, client=posting.client())

    assert reversal.state == PostingState.POSTED
    entry = sandbox_entry(posting, reversal.external_id)
    # Bank 101 got 96.80 and is credited 96.80 back; the money returns to the processor
    # balance on clearing 110 (fees and charges stand: they happened).
    assert [line_of(i) for i in entry["line"]["items"]] == [
        ("101", None, Decimal("96.8")),
        ("110", Decimal("96.8"), None),
    ]
    assert (entry["subsidiary"]["id"], entry["currency"]["id"]) == ("1", "1")
    assert entry["memo"] == "EcomOps: reversal of failed stripe payout po_moved"
    assert reversal.amount_minor == -9680


def line_of(item: dict) -> tuple:  # type: ignore[type-arg]
    return (item["account"]["id"], item.get("debit"), item.get("credit"))


def test_retry_refuses_drafts_and_posted(posting) -> None:  # type: ignore[no-untyped-def]
    reconciled(posting, PayoutSpec("po_draft"))
    postings_after_recon()
    with pytest.raises(ServiceError, match="approve it first"):
        posting_retry(posting=posting_for("po_draft"), actor=posting.world.admin)
    sent = posting_send(posting_id=approved(posting, "po_done").pk, client=posting.client())
    with pytest.raises(ServiceError, match="cannot be retried"):
        posting_retry(posting=sent, actor=posting.world.admin)


# --------------------------------------------------------------------------- GL mapping


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"bank_account": "12a"}, "bank_account"),
        ({"currency_ids": {"XYZ": "1"}}, "currency_ids"),
        ({"currency_ids": {"USD": "one"}}, "currency_ids"),
        ({"currency_ids": ["USD"]}, "currency_ids"),
        ({"subsidiary_id": ""}, "subsidiary_id"),
    ],
)
def test_mapping_input_is_checked(posting, values, field) -> None:  # type: ignore[no-untyped-def]
    from connections.services import connection_create

    other = connection_create(actor=None, name="Stripe 2", provider="stripe", credentials={"api_key": "sk_test_z"})
    arguments = {"subsidiary_id": "3", **values}
    with pytest.raises(ServiceError) as refused:
        gl_mapping_create(actor=None, connection=other, netsuite_connection=posting.netsuite, **arguments)
    assert refused.value.field == field


def test_mapping_connections_must_be_the_right_providers(posting) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ServiceError) as wrong_netsuite:
        gl_mapping_create(actor=None, connection=posting.stripe, netsuite_connection=posting.stripe, subsidiary_id="9")
    assert wrong_netsuite.value.field == "netsuite_connection"
    with pytest.raises(ServiceError) as wrong_source:
        gl_mapping_create(
            actor=None, connection=posting.netsuite, netsuite_connection=posting.netsuite, subsidiary_id="9"
        )
    assert wrong_source.value.field == "connection"


def test_one_mapping_per_connection_and_subsidiary(posting) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ServiceError) as refused:
        gl_mapping_create(
            actor=None, connection=posting.stripe, netsuite_connection=posting.netsuite, subsidiary_id="1"
        )
    assert (refused.value.field, refused.value.code) == ("subsidiary_id", "exists")


def test_mapping_changes_are_audited(posting) -> None:  # type: ignore[no-untyped-def]
    gl_mapping_update(actor=posting.world.admin, mapping=posting.mapping, bank_account="120")

    event = AuditEvent.objects.get(action="netsuite.gl_mapping_updated")
    assert event.actor_email == posting.world.admin.email
    assert event.detail["bank_account"] == ["101", "120"]


def test_posting_mode_is_checked(posting) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ServiceError) as refused:
        posting_mode_set(actor=None, mode="sometimes")
    assert refused.value.field == "posting_mode"


def test_payout_ids_scope_the_creation(posting) -> None:  # type: ignore[no-untyped-def]
    reconciled(posting, PayoutSpec("po_in"), PayoutSpec("po_out"))

    result = postings_after_recon(payout_ids=[Payout.objects.get(source_id="po_in").pk])

    assert result.drafts == 1
    assert list(NetsuitePosting.objects.values_list("source_id", flat=True)) == ["po_in"]


def _free_for_another_session(*postings: NetsuitePosting) -> bool:
    """Can another session take these postings' send locks (i.e. nobody holds them)?"""
    from ecomops.dbsetup import database_url

    with psycopg.connect(database_url(db.settings_dict), autocommit=True) as other:
        taken = [
            other.execute("SELECT pg_try_advisory_lock(%s)", (_send_lock_key(p.pk),)).fetchone()[0] for p in postings
        ]
    return all(taken)


def test_send_lock_is_released_after_success_failure_and_refusal(posting) -> None:  # type: ignore[no-untyped-def]
    sent = posting_send(posting_id=approved(posting, "po_lock_ok").pk, client=posting.client())
    inject(posting, kind="500", count=50)
    failed = posting_send(posting_id=approved(posting, "po_lock_fail").pk, client=posting.client())
    httpx.delete(f"{posting.sandbox.url}/__sandbox__/faults")
    queued = approved(posting, "po_lock_refused")
    gl_mapping_update(actor=None, mapping=posting.mapping, processor_fees_account="")  # after the approval
    refused = posting_send(posting_id=queued.pk, client=posting.client())

    assert (sent.state, failed.state, refused.state) == (PostingState.POSTED, PostingState.FAILED, PostingState.FAILED)
    assert failed.error_code == PostingError.NETSUITE_UNAVAILABLE
    assert refused.error_code == PostingError.UNMAPPED_ACCOUNT
    assert _free_for_another_session(sent, failed, refused)


def test_no_secret_reaches_the_logs(posting, caplog) -> None:  # type: ignore[no-untyped-def]
    import logging

    caplog.set_level(logging.DEBUG)
    queued = approved(posting, "po_quiet")
    inject(posting, kind="429", count=2)
    inject(posting, kind="drop_after_commit", count=1)

    sent = posting_send(posting_id=queued.pk, client=posting.client())

    assert sent.state == PostingState.POSTED
    assert "netsuite retry" in caplog.text  # the retries were logged...
    for secret in secrets_of(posting):
        assert secret not in caplog.text  # ...without a credential in them


# ---------------------------------------------------------------- sends without an answer

# FAST_RETRIES makes 8 attempts: this many dropped answers lose every one of a send's (or a lookup's).
EVERY_ATTEMPT = FAST_RETRIES.max_attempts
ENTRY_96_80 = [  # one 100.00 charge, 3.20 fee: 96.80 to the bank
    ("101", Decimal("96.8"), None),
    ("110", None, Decimal("100.0")),
    ("601", Decimal("3.2"), None),
]
REVERSAL_96_80 = [("101", None, Decimal("96.8")), ("110", Decimal("96.8"), None)]


def _sent_without_an_answer(posting, source_id: str) -> NetsuitePosting:  # type: ignore[no-untyped-def]
    """An approved posting whose every PUT NetSuite commits while the answers are lost."""
    queued = approved(posting, source_id)
    inject(posting, kind="drop_after_commit", count=EVERY_ATTEMPT)
    return posting_send(posting_id=queued.pk, client=posting.client())


def test_a_send_that_never_got_an_answer_is_unknown_not_failed(posting) -> None:  # type: ignore[no-untyped-def]
    sent = _sent_without_an_answer(posting, "po_silent")

    assert (sent.state, sent.error_code) == (PostingState.FAILED, PostingError.OUTCOME_UNKNOWN)
    assert "may hold this entry" in sent.last_error
    assert "RemoteProtocolError" in sent.last_error  # what went wrong, still said
    assert posting.upserts() == EVERY_ATTEMPT
    assert posting.journal_count(sent.external_id) == 1  # and indeed NetSuite holds it
    assert all(e["status"] is None for e in sent.exchanges)


def test_an_unknown_entry_of_a_failed_payout_is_found_posted_and_reversed(posting) -> None:  # type: ignore[no-untyped-def]
    sent = _sent_without_an_answer(posting, "po_unknown_bounced")
    _fail_payout(posting, "po_unknown_bounced")
    posting_mode_set(actor=None, mode="auto")  # the reversal is sent without waiting for approval

    result = postings_after_recon(client=posting.client())

    assert (result.settled.posted, result.settled.not_posted, result.settled.unknown) == (1, 0, 0)
    found = posting_for("po_unknown_bounced")
    held = sandbox_entry(posting, sent.external_id)
    assert (found.state, found.error_code, found.last_error) == (PostingState.POSTED, "", "")
    assert found.netsuite_internal_id == held["id"]
    assert found.attempts == 1  # the lookup sent nothing
    event = AuditEvent.objects.get(action="netsuite.posting_settled", target_id=str(found.pk))
    assert (event.detail["found"], event.detail["netsuite_internal_id"]) == (True, held["id"])
    assert "may hold this entry" in event.detail["error"]
    # The entry stands as sent, and the failed payout gets the reversal that takes it back.
    assert [line_of(i) for i in held["line"]["items"]] == ENTRY_96_80
    assert result.reversals == 1
    reversal = posting_send(
        posting_id=posting_for("po_unknown_bounced", PostingKind.REVERSAL).pk, client=posting.client()
    )
    assert reversal.state == PostingState.POSTED
    assert [line_of(i) for i in sandbox_entry(posting, reversal.external_id)["line"]["items"]] == REVERSAL_96_80
    assert reversal.amount_minor == -9680
    assert posting.journal_count() == 2
    assert postings_after_recon(client=posting.client()).created == 0


def test_an_entry_of_a_failed_payout_found_by_a_lookup_on_its_own_is_reversed_at_once(posting) -> None:  # type: ignore[no-untyped-def]
    # The schedule's lookup (not a reconciliation) finds the entry of a payout that failed since.
    sent = _sent_without_an_answer(posting, "po_found_failed")
    _fail_payout(posting, "po_found_failed")

    settled = postings_settle(client=posting.client(), actor_kind="schedule")

    assert (settled.posted, posting_for("po_found_failed").state) == (1, PostingState.POSTED)
    reversal = posting_for("po_found_failed", PostingKind.REVERSAL)
    assert (reversal.state, reversal.amount_minor, reversal.payout_id) == (PostingState.DRAFT, -9680, sent.payout_id)


def test_an_unknown_send_that_netsuite_never_applied_stays_failed_and_is_not_reversed(posting) -> None:  # type: ignore[no-untyped-def]
    # NetSuite refuses the entry (no such clearing account) and the refusals are lost too:
    # no answer, and nothing written.
    gl_mapping_update(actor=None, mapping=posting.mapping, clearing_account="999")
    sent = _sent_without_an_answer(posting, "po_unknown_refused")
    assert sent.error_code == PostingError.OUTCOME_UNKNOWN
    _fail_payout(posting, "po_unknown_refused")

    result = postings_after_recon(client=posting.client())

    assert (result.settled.posted, result.settled.not_posted, result.settled.unknown) == (0, 1, 0)
    failed = posting_for("po_unknown_refused")
    assert (failed.state, failed.error_code) == (PostingState.FAILED, PostingError.NETSUITE_UNAVAILABLE)
    assert "holds no entry" in failed.last_error
    assert failed.netsuite_internal_id == ""
    assert result.reversals == 0
    assert not NetsuitePosting.objects.filter(kind=PostingKind.REVERSAL).exists()
    assert posting.journal_count() == 0
    # Retried, it is refused for what it is now (a failed payout), and nothing is sent.
    posting_retry(posting=failed, actor=posting.world.admin)
    refused = posting_send(posting_id=failed.pk, client=posting.client())
    assert (refused.state, refused.error_code) == (PostingState.FAILED, PostingError.NOT_RECONCILED)
    assert posting.upserts() == EVERY_ATTEMPT
    assert posting.journal_count() == 0


def test_an_unknown_outcome_stays_unknown_while_netsuite_cannot_be_asked(posting) -> None:  # type: ignore[no-untyped-def]
    _sent_without_an_answer(posting, "po_unknown_unreachable")
    _fail_payout(posting, "po_unknown_unreachable")
    inject(posting, kind="drop_after_commit", count=EVERY_ATTEMPT)  # the lookups' answers are lost too

    first = postings_after_recon(client=posting.client())

    assert (first.settled.posted, first.settled.not_posted, first.settled.unknown) == (0, 0, 1)
    assert posting_for("po_unknown_unreachable").error_code == PostingError.OUTCOME_UNKNOWN
    assert first.reversals == 0  # not yet: nobody knows whether there is anything to reverse
    assert not AuditEvent.objects.filter(action="netsuite.posting_settled").exists()

    later = postings_after_recon(client=posting.client())  # NetSuite answers again

    assert (later.settled.posted, later.reversals) == (1, 1)
    assert posting_for("po_unknown_unreachable").state == PostingState.POSTED


def test_retrying_an_unknown_posting_of_a_failed_payout_finds_it_instead_of_refusing(posting) -> None:  # type: ignore[no-untyped-def]
    sent = _sent_without_an_answer(posting, "po_unknown_retried")
    _fail_payout(posting, "po_unknown_retried")
    posting_mode_set(actor=None, mode="auto")  # the reversal is sent without waiting for approval

    posting_retry(posting=sent, actor=posting.world.admin)
    retried = posting_send(posting_id=sent.pk, client=posting.client())

    # Not "not reconciled, not posted": NetSuite holds the entry, so it is posted...
    assert (retried.state, retried.error_code) == (PostingState.POSTED, "")
    assert retried.netsuite_internal_id == sandbox_entry(posting, sent.external_id)["id"]
    assert retried.attempts == 1
    assert posting.upserts() == EVERY_ATTEMPT  # ...and nothing was sent again
    # ...and taken back: its reversal is there at once (approved, in auto mode), none more later.
    assert posting_for("po_unknown_retried", PostingKind.REVERSAL).state == PostingState.APPROVED
    assert postings_after_recon(client=posting.client()).reversals == 0
    reversal = posting_send(
        posting_id=posting_for("po_unknown_retried", PostingKind.REVERSAL).pk, client=posting.client()
    )
    assert [line_of(i) for i in sandbox_entry(posting, reversal.external_id)["line"]["items"]] == REVERSAL_96_80
    assert posting.journal_count() == 2


def test_retrying_an_unknown_posting_of_a_reconciled_payout_sends_it_again_once(posting) -> None:  # type: ignore[no-untyped-def]
    sent = _sent_without_an_answer(posting, "po_unknown_resent")

    posting_retry(posting=sent, actor=posting.world.admin)
    resent = posting_send(posting_id=sent.pk, client=posting.client())

    # The same upsert lands on the entry the lost sends wrote, with its three lines once.
    assert resent.state == PostingState.POSTED
    assert posting.journal_count() == 1
    assert [line_of(i) for i in sandbox_entry(posting, sent.external_id)["line"]["items"]] == ENTRY_96_80


def test_resuming_a_crashed_send_of_a_payout_that_failed_since_finds_the_entry(posting) -> None:  # type: ignore[no-untyped-def]
    from netsuite.services import prepare_entry

    queued = approved(posting, "po_crashed_bounced")
    # A worker killed right after NetSuite committed: the entry exists, the posting says
    # "sending" and has no record of what it sent. Then the payout fails.
    with posting.client() as client:
        first_id = client.upsert_by_external_id("journalentry", queued.external_id, prepare_entry(queued).body)
    NetsuitePosting.objects.filter(pk=queued.pk).update(state=PostingState.SENDING, attempts=1)
    _fail_payout(posting, "po_crashed_bounced")
    posting_mode_set(actor=None, mode="auto")  # the reversal is sent without waiting for approval

    resumed = posting_send(posting_id=queued.pk, client=posting.client())

    assert (resumed.state, resumed.netsuite_internal_id) == (PostingState.POSTED, first_id)
    postings_after_recon(client=posting.client())
    reversal = posting_send(
        posting_id=posting_for("po_crashed_bounced", PostingKind.REVERSAL).pk, client=posting.client()
    )
    # Built from the entry as NetSuite answered it (nothing of the send was recorded).
    assert [line_of(i) for i in sandbox_entry(posting, reversal.external_id)["line"]["items"]] == REVERSAL_96_80
    assert posting.journal_count() == 2


# ------------------------------------------------------------------- closed months


def _month_closed(first_day: date) -> None:
    from recon.models import MonthClose

    MonthClose.objects.create(month=first_day, closed_by_email="controller@acme.example.com")


def test_an_entry_dated_in_a_closed_month_is_not_approved(posting) -> None:  # type: ignore[no-untyped-def]
    # given a payout that arrived in October after October was closed (a late re-sync)
    reconciled(posting, PayoutSpec("po_late", arrival=date(2026, 10, 30)))
    postings_after_recon()
    _month_closed(date(2026, 10, 1))
    draft = posting_for("po_late")

    with pytest.raises(ServiceError) as refused:
        posting_approve(posting=draft, actor=posting.world.accountant)

    assert refused.value.code == PostingError.MONTH_CLOSED
    assert "2026-10 is closed" in str(refused.value)
    draft.refresh_from_db()
    assert (draft.state, draft.error_code) == (PostingState.DRAFT, PostingError.MONTH_CLOSED)
    assert posting.upserts() == 0


def test_an_approved_entry_is_not_sent_into_a_month_closed_meanwhile_and_posts_once_reopened(posting) -> None:  # type: ignore[no-untyped-def]
    from recon.close import month_of
    from recon.services import month_reopen

    approved_one = approved(posting, "po_queued", arrival=date(2026, 10, 30))
    _month_closed(date(2026, 10, 1))

    refused = posting_send(posting_id=approved_one.pk, client=posting.client())
    month_reopen(actor=posting.world.owner, month=month_of(date(2026, 10, 1)), note="post the late payout")
    retried = posting_retry(posting=refused, actor=posting.world.accountant)
    sent = posting_send(posting_id=retried.pk, client=posting.client())

    assert (refused.state, refused.error_code) == (PostingState.FAILED, PostingError.MONTH_CLOSED)
    assert "2026-10 is closed; nothing was sent. Reopen 2026-10 to post it." in refused.last_error
    assert sent.state == PostingState.POSTED
    assert posting.journal_count(sent.external_id) == 1
