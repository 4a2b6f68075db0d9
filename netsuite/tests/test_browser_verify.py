"""The month close compares its posted entries with NetSuite in a real browser: the web server
as its own process, Chromium driven by Playwright, the NetSuite sandbox over loopback HTTP."""

from __future__ import annotations

import pytest

from ecomops.tenancy import tenant_context
from netsuite.models import NetsuitePosting, PostingKind
from netsuite.services import posting_approve, posting_send, postings_after_recon
from netsuite.tests.conftest import make_posting_world
from netsuite.tests.factories import PayoutSpec, reconcile, write_payouts
from tests.browser import PASSWORD, sign_in


@pytest.fixture
def posted_world(committed_tenant, sandbox):  # type: ignore[no-untyped-def]
    """A committed tenant with two entries posted to the sandbox, dated 2026-11-03; the first
    then deleted in NetSuite by someone there."""
    world = committed_tenant("ledger")
    world.owner.set_password(PASSWORD)
    world.owner.save()
    with tenant_context(world.tenant):
        posting = make_posting_world(world, sandbox)
        write_payouts(posting.stripe, PayoutSpec("po_b_1"), PayoutSpec("po_b_2"))
        reconcile()
        postings_after_recon()
        for draft in NetsuitePosting.objects.filter(kind=PostingKind.PAYOUT).order_by("source_id"):
            posting_send(posting_id=posting_approve(posting=draft, actor=world.owner).pk, client=posting.client())
        deleted = NetsuitePosting.objects.get(source_id="po_b_1")
    sandbox.app.store.delete_journal(int(deleted.netsuite_internal_id))
    return world


def test_comparing_with_netsuite_shows_the_deleted_entry_in_place(posted_world, web, browser_page) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    sign_in(page, web, posted_world.owner.email)
    page.goto(f"{web}/close/?month=2026-11")
    at = page.url

    page.locator("#close-netsuite-check button", has_text="Compare with NetSuite").click()
    summary = page.locator("#close-netsuite-check .netsuite-check-summary")
    summary.wait_for()

    assert "Of the 2 entries posted with a date in 2026-11, NetSuite holds 1 as sent." in summary.inner_text()
    row = page.locator("#close-netsuite-check table.netsuite-drift tbody tr")
    assert row.count() == 1
    assert "po_b_1" in row.inner_text()
    assert "deleted in NetSuite" in row.inner_text()
    assert page.url == at  # the section was swapped in; the page did not move
    assert page.locator("h1").inner_text() == "Close November 2026"  # the rest of the page stays
