"""``manage.py post --tenant SLUG [--payout ID]``: create, send and resume postings."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from netsuite.models import NetsuitePosting, PostingState
from netsuite.services import posting_mode_set
from netsuite.tests.factories import PayoutSpec, queued_posting_ids, reconcile, write_payouts


def post(*args: str) -> str:
    out = StringIO()
    call_command("post", *args, stdout=out)
    return out.getvalue()


def test_approval_mode_creates_drafts_and_sends_nothing(posting) -> None:  # type: ignore[no-untyped-def]
    write_payouts(posting.stripe, PayoutSpec("po_c1"), PayoutSpec("po_c2"))
    reconcile()

    output = post("--tenant", posting.tenant.slug)

    assert "0 approved, 2 awaiting approval" in output
    assert "2 draft(s) await approval" in output
    assert set(NetsuitePosting.objects.values_list("state", flat=True)) == {PostingState.DRAFT}
    assert posting.upserts() == 0


def test_auto_mode_posts_every_reconciled_payout(posting) -> None:  # type: ignore[no-untyped-def]
    posting_mode_set(actor=None, mode="auto")
    write_payouts(posting.stripe, PayoutSpec("po_c3"), PayoutSpec("po_c4", charges=(5000, 7000)))
    reconcile()

    output = post("--tenant", posting.tenant.slug)

    assert "Sent 2: 2 posted, 0 failed" in output
    assert posting.journal_count() == 2
    assert post("--tenant", posting.tenant.slug).startswith("Postings created: 0 approved")  # nothing twice
    assert posting.upserts() == 2


def test_one_payout_by_source_id(posting) -> None:  # type: ignore[no-untyped-def]
    posting_mode_set(actor=None, mode="auto")
    write_payouts(posting.stripe, PayoutSpec("po_c5"), PayoutSpec("po_c6"))
    reconcile()

    output = post("--tenant", posting.tenant.slug, "--payout", "po_c6")

    assert "Sent 1: 1 posted" in output
    assert list(NetsuitePosting.objects.values_list("source_id", "state")) == [("po_c6", "posted")]


def test_enqueue_hands_the_sends_to_the_workers(posting, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    posting_mode_set(actor=None, mode="auto")
    write_payouts(posting.stripe, PayoutSpec("po_c7"))
    reconcile()

    with django_capture_on_commit_callbacks(execute=True):
        output = post("--tenant", posting.tenant.slug, "--enqueue")

    assert "Queued 1 posting(s)" in output
    assert queued_posting_ids(posting.tenant.pk) == [str(NetsuitePosting.objects.get().pk)]
    assert posting.upserts() == 0


def test_failures_are_reported_with_their_reason(posting) -> None:  # type: ignore[no-untyped-def]
    from netsuite.services import gl_mapping_update

    posting_mode_set(actor=None, mode="auto")
    gl_mapping_update(actor=None, mapping=posting.mapping, refunds_account="")
    write_payouts(posting.stripe, PayoutSpec("po_c8", charges=(20000,), refunds=((0, 100),)))
    reconcile()

    output = post("--tenant", posting.tenant.slug)

    assert "po_c8: failed" in output
    assert "refunds" in output
    assert "0 posted, 1 failed" in output


def test_an_unusable_netsuite_connection_is_reported_not_a_crash(posting) -> None:  # type: ignore[no-untyped-def]
    from connections.models import Connection

    posting_mode_set(actor=None, mode="auto")
    Connection.objects.filter(pk=posting.netsuite.pk).update(account_id="")  # saved before it was checked
    write_payouts(posting.stripe, PayoutSpec("po_c9"))
    reconcile()

    output = post("--tenant", posting.tenant.slug)

    assert "po_c9: failed - The NetSuite connection NetSuite cannot be used" in output
    assert "needs an account id" in output
    assert "0 posted, 1 failed" in output
    assert NetsuitePosting.objects.get().state == PostingState.FAILED


def test_unknown_tenant_or_payout(posting) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError, match="Unknown tenant"):
        post("--tenant", "no-such-tenant")
    with pytest.raises(CommandError, match=r"--payout: No payout po_missing in this tenant\."):
        post("--tenant", posting.tenant.slug, "--payout", "po_missing")


@pytest.mark.parametrize("reference", ["po_\udcff", "po_c1\x00"], ids=["undecodable", "nul"])
def test_a_payout_no_payout_can_have_is_unknown_and_nothing_is_posted(posting, reference) -> None:  # type: ignore[no-untyped-def]
    write_payouts(posting.stripe, PayoutSpec("po_c1"))
    reconcile()

    with pytest.raises(CommandError, match="--payout: No payout po_"):
        post("--tenant", posting.tenant.slug, "--payout", reference)

    assert not NetsuitePosting.objects.exists()
