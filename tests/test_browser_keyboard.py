"""The console by keyboard alone, in a real browser (Debian's Chromium driven by Playwright)
against the real server process: a skip link past the navigation, and a row's action in the
exceptions queue that leaves the keyboard where the row is, not back at the top of the page."""

from __future__ import annotations

import pytest
from django.db import transaction

from ecomops.tenancy import tenant_context
from recon.tests.factories import connection, line_row, payout_own_line, payout_row, reconcile, sale, write
from tests.browser import PASSWORD, sign_in

pytestmark = pytest.mark.slow


@pytest.fixture
def queue_world(committed_tenant):
    """A tenant whose queue holds two open exceptions of one payout (po_2 short, a line off)."""
    world = committed_tenant("keyboard")
    world.owner.set_password(PASSWORD)
    world.owner.save()
    with tenant_context(world.tenant):
        conn = connection()
        with transaction.atomic():  # the upsert stages rows in a temp table that empties at commit
            write(
                conn,
                *sale(conn, 2, payout="po_2", amount=5000, fee=175),
                line_row("txn_bad", payout="po_2", amount=2000, fee=88, net=1900, category="adjustment"),
                payout_row("po_2", 4825 + 1900 + 7),
                payout_own_line("po_2", 6732),
            )
        reconcile()
    return world


def _focused(page) -> dict:
    """Where the keyboard is: the focused element's tag, text, and whether it is in <main> or a row."""
    return page.evaluate(
        """() => {
        const el = document.activeElement;
        const row = el && el.closest('tr.exception-row');
        return {tag: el ? el.tagName : null, text: el ? el.innerText : '',
                inMain: !!(el && el.closest('main')), row: row ? row.id : null};
    }"""
    )


def test_the_first_tab_offers_a_skip_link_that_lands_in_the_main_content(queue_world, web, browser_page):
    page = browser_page
    sign_in(page, web, queue_world.owner.email)
    page.goto(f"{web}/recon/")

    page.keyboard.press("Tab")
    first = _focused(page)
    shown = page.locator("a", has_text="Skip to content").bounding_box()
    page.keyboard.press("Enter")

    assert (first["tag"], first["text"]) == ("A", "Skip to content")
    assert shown is not None
    assert shown["y"] >= 0  # in sight once it has the focus
    assert _focused(page)["inMain"]
    # and the next Tab goes on from the content, not from the navigation again
    page.keyboard.press("Tab")
    assert _focused(page)["inMain"]


def test_the_skip_link_is_hidden_until_it_has_the_focus(queue_world, web, browser_page):
    page = browser_page
    sign_in(page, web, queue_world.owner.email)

    box = page.locator("a", has_text="Skip to content").bounding_box()

    assert box is not None
    assert box["y"] + box["height"] <= 0  # above the page, out of sight


@pytest.mark.parametrize("action", ["Resolve", "Acknowledge"])
def test_a_rows_action_keeps_the_keyboard_on_that_row_and_says_the_outcome(action, queue_world, web, browser_page):
    page = browser_page
    sign_in(page, web, queue_world.owner.email)
    page.goto(f"{web}/recon/")
    row = page.locator("tr.exception-row", has_text="txn_bad")
    row_id = row.get_attribute("id")

    if action == "Resolve":
        row.locator("input[name=note]").fill("Booked by hand")
    row.locator("button", has_text=action).focus()
    page.keyboard.press("Enter")
    outcome = "Resolved." if action == "Resolve" else "Acknowledged."
    page.locator(f"#{row_id} .status", has_text=outcome.rstrip(".")).wait_for(timeout=10_000)
    page.wait_for_function("() => document.activeElement !== document.body", timeout=5_000)

    focused = _focused(page)
    assert focused["row"] == row_id, focused
    assert outcome in focused["text"]
    # Tab goes on from that row, not from the top of the page
    page.keyboard.press("Tab")
    assert _focused(page)["inMain"]


@pytest.fixture
def connection_world(committed_tenant):
    """A tenant with a Stripe connection and no worker: a sync asked for stays queued, and its
    row keeps swapping itself while it follows the job."""
    from connections.services import connection_create

    world = committed_tenant("keyboard-sync")
    world.owner.set_password(PASSWORD)
    world.owner.save()
    with tenant_context(world.tenant):
        connection_create(
            actor=world.owner,
            name="Stripe shop",
            provider="stripe",
            credentials={"api_key": "sk_test_keyboard"},
            base_url="http://127.0.0.1:9",  # never called: no worker runs the sync
        )
    return world


def test_sync_now_by_keyboard_keeps_the_focus_while_the_row_follows_the_sync(connection_world, web, browser_page):
    page = browser_page
    sign_in(page, web, connection_world.owner.email)
    page.goto(f"{web}/connections/")
    row = page.locator("tr.connection-row", has_text="Stripe shop")

    row.locator("button", has_text="Sync now").focus()
    page.keyboard.press("Enter")
    row.locator(".job-status", has_text="Queued").wait_for(timeout=10_000)
    page.wait_for_timeout(2_500)  # the row has swapped itself again, polling every second

    focused = page.evaluate("() => ({tag: document.activeElement.tagName, text: document.activeElement.innerText})")
    assert focused == {"tag": "BUTTON", "text": "Sync now"}
