"""The postings page in a real browser: an accountant approves a reconciled payout's journal
entry, and a real django-q2 worker sends it to the NetSuite sandbox over HTTP. What the page
says is checked against the sandbox itself, through SuiteQL."""

from __future__ import annotations

import re

import pytest

from ecomops.tenancy import tenant_context
from netsuite.models import NetsuitePosting
from netsuite.services import postings_after_recon
from netsuite.tests.conftest import make_posting_world
from netsuite.tests.factories import PayoutSpec, reconcile, write_payouts
from tests.browser import PASSWORD, screenshot, sign_in
from tests.worker import Worker

pytestmark = pytest.mark.slow


@pytest.fixture
def netsuite_world(committed_tenant, sandbox, tmp_path):
    """Two reconciled payouts, each with a journal entry awaiting approval, and a worker."""
    world = committed_tenant("ns-browser")
    world.owner.set_password(PASSWORD)
    world.owner.save()
    with tenant_context(world.tenant):
        posting = make_posting_world(world, sandbox)
        write_payouts(posting.stripe, PayoutSpec("po_page_1"), PayoutSpec("po_page_2"))
        reconcile()
        assert postings_after_recon().drafts == 2
        entry = NetsuitePosting.objects.get(source_id="po_page_1")
    worker = Worker(tmp_path / "worker.log").start()
    yield world.owner.email, entry
    worker.stop()


def _journals(sandbox, external_id: str | None = None) -> int:
    """Journal entries in the sandbox, by SuiteQL over HTTP (no database: the browser's event
    loop runs in this thread, where Django refuses database calls)."""
    sql = "SELECT COUNT(*) AS n FROM transaction WHERE recordtype = 'journalentry'"
    if external_id is not None:
        sql += f" AND externalid = '{external_id}'"
    with sandbox.client() as client:
        return int(client.suiteql(sql).all()[0]["n"])


def test_approve_a_journal_entry_and_see_it_posted_in_netsuite(netsuite_world, sandbox, web, browser_page):
    page, (email, entry) = browser_page, netsuite_world

    sign_in(page, web, email)
    page.click("text=Postings")
    row = page.locator(f"#posting-{entry.pk}")
    assert "Draft (awaiting approval)" in row.inner_text()
    assert _journals(sandbox) == 0

    row.locator("button", has_text="Approve").click()
    # htmx swaps the row in place; the worker then sends it
    row.locator(".status", has_text=re.compile("Approved|Sending|Posted")).wait_for()
    # the page lists drafts and failures by default: follow the entry among the posted ones
    page.goto(f"{web}/postings/?state=posted")
    row = page.locator(f"#posting-{entry.pk}")
    for _ in range(60):
        if row.count():
            break
        page.wait_for_timeout(1000)
        page.reload()
    assert "Posted" in row.locator(".status").inner_text()

    shown = re.search(r"journal (\d+)", row.inner_text())
    assert shown is not None
    with sandbox.client() as client:
        assert client.get("journalentry", f"eid:{entry.external_id}")["id"] == shown.group(1)
    assert _journals(sandbox, entry.external_id) == 1  # in NetSuite, once
    assert _journals(sandbox) == 1  # the other entry still waits for its approval
    screenshot(page, "postings.png")
    page.goto(f"{web}/postings/")
    assert page.locator("tr.posting-row").count() == 1
    assert "Draft (awaiting approval)" in page.locator("tr.posting-row", has_text="po_page_2").inner_text()


def test_approving_by_keyboard_leaves_the_keyboard_on_the_row_with_its_outcome(netsuite_world, web, browser_page):
    page, (email, entry) = browser_page, netsuite_world
    sign_in(page, web, email)
    page.goto(f"{web}/postings/")
    row_id = f"posting-{entry.pk}"

    page.locator(f"#{row_id} button", has_text="Approve").focus()
    page.keyboard.press("Enter")
    page.locator(f"#{row_id} .status", has_text=re.compile("Approved|Sending|Posted")).wait_for()
    page.wait_for_function("() => document.activeElement !== document.body", timeout=5_000)

    focused = page.evaluate(
        """() => { const el = document.activeElement, row = el.closest('tr');
                   return {row: row ? row.id : null, role: el.getAttribute('role'), text: el.innerText}; }"""
    )
    assert focused["row"] == row_id, focused  # not back at the top of the page
    assert focused["role"] == "status", focused  # the outcome, read out
    assert focused["text"], focused
