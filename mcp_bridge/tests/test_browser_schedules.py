"""The Schedules page in a real browser (Debian's Chromium driven by Playwright) against the real
server process: a schedule created through the form, then run now from its row, the outcome
said in that row and holding the keyboard focus."""

from __future__ import annotations

import threading

import pytest

from ecomops.tenancy import tenant_context
from mcp_bridge.models import Schedule
from recon.models import ReconRun
from tests.browser import PASSWORD, screenshot, sign_in

pytestmark = pytest.mark.slow


@pytest.fixture
def schedules_world(committed_tenant):
    """A tenant with one Stripe connection and no worker: a run asked for stays queued."""
    from connections.services import connection_create

    world = committed_tenant("schedules-page")
    world.owner.set_password(PASSWORD)
    world.owner.save()
    with tenant_context(world.tenant):
        connection_create(
            actor=world.owner,
            name="Stripe shop",
            provider="stripe",
            credentials={"api_key": "sk_test_schedules"},
            base_url="http://127.0.0.1:9",  # never called: no worker runs anything
        )
    return world


def test_create_a_daily_schedule_through_the_form_and_run_it_now(schedules_world, web, browser_page):
    page = browser_page
    sign_in(page, web, schedules_world.owner.email)
    page.get_by_role("link", name="Schedules").click()
    page.wait_for_url(f"{web}/schedules/")

    page.get_by_label("What to start").select_option(label="Reconciliation run")
    page.get_by_role("radio", name="daily at").check()
    page.get_by_label("Daily at (HH:MM)").fill("06:00")
    page.get_by_label("in time zone").fill("Europe/Berlin")
    page.get_by_role("button", name="Create schedule").click()
    page.wait_for_url(f"{web}/schedules/")

    row = page.locator("tr.schedule-row", has_text="Daily at 06:00 Europe/Berlin")
    row.wait_for(timeout=10_000)
    assert "Not run yet" in row.inner_text()
    assert page.get_by_role("status").first.inner_text().startswith("Scheduled: Reconciliation run, daily at 06:00")
    row_id = row.get_attribute("id")

    row.get_by_role("button", name="Run now").focus()
    page.keyboard.press("Enter")
    outcome = page.locator(f"#{row_id} .flash-inline", has_text="a reconciliation run is queued")
    outcome.wait_for(timeout=10_000)
    page.wait_for_function("() => document.activeElement !== document.body", timeout=5_000)
    screenshot(page, "schedules.png")

    focused = page.evaluate(
        "() => ({text: document.activeElement.innerText, row: document.activeElement.closest('tr')?.id})"
    )
    assert focused == {"text": "Run now: a reconciliation run is queued.", "row": row_id}
    last_run = page.locator(f"#{row_id} .last-run")
    assert "queued reconciliation run" in last_run.inner_text()
    assert last_run.get_by_role("link").get_attribute("href") == "/recon/#runs"
    stored = _read(schedules_world.tenant)
    assert stored == {
        "when": "daily at 06:00 Europe/Berlin",
        "enabled": True,
        "run": ("schedule", schedules_world.owner.email),
    }


def _read(tenant) -> dict:
    """The schedule and the run it queued, as stored. Playwright's loop owns this thread: the ORM
    runs in another."""
    found: dict = {}

    def read() -> None:
        from django.db import connection

        try:
            with tenant_context(tenant):
                schedule = Schedule.objects.get()
                run = ReconRun.objects.get(pk=schedule.last_recon_run_id)
                found.update(when=schedule.when, enabled=schedule.enabled, run=(run.trigger, run.requested_by_email))
        finally:
            connection.close()  # the thread's own session, or the test database cannot be dropped

    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    return found


def _meanwhile(change) -> None:
    """``change`` in another thread (Playwright's loop owns this one: the ORM cannot run in it),
    with its own database session, closed after."""

    def run() -> None:
        from django.db import connection

        try:
            change()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()


def test_a_run_now_the_role_no_longer_allows_says_which_permission_it_needs(schedules_world, web, browser_page):
    from mcp_bridge.services import schedule_create
    from tenants.models import Membership

    world, page = schedules_world, browser_page

    def sync_every_4_hours() -> None:
        with tenant_context(world.tenant):
            schedule_create(actor=world.owner, kind="sync", every_hours=4)

    _meanwhile(sync_every_4_hours)
    sign_in(page, web, world.owner.email)
    page.goto(f"{web}/schedules/")
    row = page.locator("tr.schedule-row", has_text="Every 4 hours")
    row.wait_for(timeout=10_000)

    # the role is narrowed while the page is open: the row still offers Run now
    _meanwhile(lambda: Membership.objects.filter(user=world.owner, tenant=world.tenant).update(role="accountant"))
    row.get_by_role("button", name="Run now").click()

    banner = page.locator("#action-error")
    banner.wait_for(timeout=10_000)
    assert banner.inner_text() == (
        "That did not work (403): Your role in this tenant does not allow starting a sync "
        "(needs connections.sync_connection), which this schedule would start."
    )
    assert "Not run yet" in row.inner_text()
