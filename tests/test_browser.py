"""The console in a real browser (Debian's Chromium driven by Playwright) against the real
server process, a real django-q2 worker and the Stripe sandbox: sign in, sync a connection
and watch its live progress, read the synced payouts, work an exception of the worker's
reconciliation, explain a payout, read the dashboard's chart, and open the payout's month
to close it."""

from __future__ import annotations

import re
import threading
from datetime import date

import httpx
import pytest

from connections.services import connection_create
from connections.stripe.sandbox.server import DEFAULT_API_KEY, build_stripe_sandbox, stripe_sandbox_server
from ecomops.tenancy import tenant_context
from tests.browser import PASSWORD, screenshot, sign_in
from tests.worker import Worker

pytestmark = pytest.mark.slow


@pytest.fixture
def stripe_world(committed_tenant, tmp_path):
    """A tenant whose Stripe connection points at a (deliberately slow) sandbox, and a worker."""
    world = committed_tenant("browser")
    world.owner.set_password(PASSWORD)
    world.owner.save()
    worker = Worker(tmp_path / "worker.log").start()
    with stripe_sandbox_server(build_stripe_sandbox(seed=5, days=8)) as sandbox:
        # slow each call so the progress is visibly live before the sync finishes
        httpx.post(f"{sandbox.url}/__sandbox__/faults", json={"kind": "latency", "delay_ms": 250})
        with tenant_context(world.tenant):
            connection_create(
                actor=world.owner,
                name="Stripe sandbox",
                provider="stripe",
                credentials={"api_key": DEFAULT_API_KEY},
                base_url=sandbox.url,
                backfill_start=date(2024, 1, 1),
            )
        yield world
    worker.stop()


def test_sign_in_sync_with_live_progress_and_read_the_data(stripe_world, web, browser_page, tmp_path):
    page, world = browser_page, stripe_world

    sign_in(page, web, world.owner.email)
    assert "Browser" in page.inner_text("h1")

    page.click("text=Connections")
    row = page.locator("tr.connection-row", has_text="Stripe sandbox")
    row.locator("button", has_text="Sync now").click()
    # the row polls itself: first running with growing counts, then succeeded
    page.locator("tr.connection-row .job-status", has_text="Running").wait_for(timeout=60_000)
    page.locator("tr.connection-row .job-status", has_text="Succeeded").wait_for(timeout=120_000)
    progress = page.locator("tr.connection-row .progress").inner_text()
    assert " 0 new" not in progress

    page.click("text=Data")
    page.click("nav.tabs >> text=Payouts")
    page.wait_for_selector("table.data tbody tr")
    assert page.locator("table.data tbody tr").count() > 3
    page.screenshot(path=str(tmp_path / "data.png"), full_page=True)
    screenshot(page, "data.png", full_page=False)
    # sorting swaps the table in place and keeps its rows
    shown = page.locator("table.data tbody tr").count()
    page.locator("table.data thead th a", has_text="Amount").click()
    page.wait_for_url(re.compile(r"sort=amount_minor"))
    page.wait_for_selector("table.data tbody tr")
    assert page.locator("table.data tbody tr").count() == shown
    # a payout's id opens its lines: the other table, with its own tab
    payout_id = page.locator("table.data tbody tr td a").first.inner_text()
    page.locator("table.data tbody tr td a").first.click()
    page.wait_for_url(re.compile(r"table=payout_lines"))
    assert page.inner_text("nav.tabs a.active") == "Payout lines"
    assert page.locator("table.data tbody tr").count() >= 1
    assert payout_id in page.inner_text("table.data tbody")
    # more lines than a page: the next page swaps in
    page.click("nav.tabs >> text=Payout lines")
    page.wait_for_selector("table.data tbody tr")
    first_page = page.inner_text("table.data tbody")
    page.locator("#table li.next a").click()
    page.wait_for_url(re.compile(r"page=2"))
    page.wait_for_selector("table.data tbody tr")
    assert page.inner_text("table.data tbody") != first_page

    # the sync's success queued a reconciliation on the worker: work its exceptions here
    page.click("text=Reconciliation")
    for _ in range(60):
        if page.locator("table.runs .status", has_text="Completed").count():
            break
        page.wait_for_timeout(1000)
        page.reload()
    assert page.locator("table.runs .status", has_text="Completed").count() == 1
    rows = page.locator("tr.exception-row")
    assert rows.count() >= 1
    open_card = page.locator("#recon-status .card", has_text="open exceptions").locator("h2")
    open_before = int(open_card.inner_text())
    first = rows.first
    first.locator("input[name=note]").fill("Checked against the bank statement")
    first.locator("button", has_text="Resolve").click()
    resolved = page.locator("tr.exception-row", has_text="Checked against the bank statement")
    resolved.locator(".status", has_text="Resolved").wait_for(timeout=10_000)
    assert "Resolved." in resolved.inner_text()
    # the status above the queue reads itself again: one open exception fewer
    for _ in range(100):
        if open_card.inner_text() == str(open_before - 1):
            break
        page.wait_for_timeout(100)
    assert open_card.inner_text() == str(open_before - 1)
    screenshot(page, "recon.png")

    # one payout, explained line by line
    page.goto(f"{web}/recon/")
    link = page.locator("tr.exception-row td a").first
    payout_ref = link.inner_text()
    link.click()
    page.wait_for_selector("#explain-summary")
    assert f"Payout {payout_ref}" in page.inner_text("h1")
    assert page.locator("table.payout-exceptions tbody tr").count() >= 1
    screenshot(page, "payout.png")
    arrival = re.search(r"arrives (\d{4}-\d{2}-\d{2})", page.inner_text("main")).group(1)

    # the dashboard charts what was paid out, day by day, by reconciliation status
    page.click("text=Dashboard")
    chart = page.locator("#payouts-chart figure.chart").first
    chart.wait_for()
    box = chart.locator("svg").bounding_box()
    assert box is not None
    assert box["width"] > 300
    assert box["height"] > 100
    assert chart.locator("svg rect").count() >= 1
    chart.locator("summary", has_text="Figures by day").click()
    assert chart.locator("details table tbody tr").first.is_visible()
    screenshot(page, "dashboard.png")

    # the month of that payout, as a controller closing it sees it
    page.click("text=Month close")
    page.fill("input[name=month]", arrival[:7])
    page.click("form.month-pick button")
    page.wait_for_selector("#close-checks")
    assert page.inner_text("h1").startswith("Close ")
    assert page.locator("#close-payouts tbody tr", has_text=payout_ref).count() == 1
    assert "not ready to close" in page.inner_text("#close-checks")
    exceptions = page.locator("li.close-check[data-check=exceptions]")
    assert "failed" in (exceptions.get_attribute("class") or "")
    exceptions.locator("a", has_text=re.compile(r"^Open the \d+ open exceptions?$")).click()
    page.wait_for_selector("tr.exception-row")
    assert f"month={arrival[:7]}" in page.url
    screenshot(page, "close-queue.png")


def reconciled_world(committed_tenant, name: str, rows):  # type: ignore[no-untyped-def]
    """A committed tenant whose owner signs in with ``PASSWORD``, holding ``rows(conn)`` (of one
    Stripe connection), reconciled."""
    from django.db import transaction

    from recon.tests.factories import connection, reconcile, write

    world = committed_tenant(name)
    world.owner.set_password(PASSWORD)
    world.owner.save()
    with tenant_context(world.tenant):
        conn = connection()
        with transaction.atomic():  # the upsert stages rows in a temp table that empties at commit
            write(conn, *rows(conn))
        reconcile()
    return world


@pytest.fixture
def one_exception_world(committed_tenant):
    """A committed tenant with one open exception (a payout 10.00 short of its one sale)."""
    from recon.tests.factories import payout_own_line, payout_row, sale

    return reconciled_world(
        committed_tenant,
        "refusals",
        lambda conn: [*sale(conn, 1, payout="po_1", amount=10000, fee=320),
                      payout_row("po_1", 8680), payout_own_line("po_1", 8680)],
    )  # fmt: skip


def test_a_refused_or_expired_action_says_so_instead_of_doing_nothing(one_exception_world, web, browser_page):
    from django.contrib.sessions.models import Session

    from tenants.models import Membership

    world, page = one_exception_world, browser_page
    sign_in(page, web, world.owner.email)
    page.goto(f"{web}/recon/?state=open")
    row = page.locator("tr.exception-row").first

    def meanwhile(change):  # Playwright's loop owns this thread: the ORM runs in another
        thread = threading.Thread(target=change)
        thread.start()
        thread.join()

    # the role is taken away while the page is open: the button's answer is a 403
    meanwhile(lambda: Membership.objects.filter(user=world.owner, tenant=world.tenant).update(role="viewer"))
    row.locator("button", has_text="Acknowledge").click()
    banner = page.locator("#action-error")
    banner.wait_for(timeout=10_000)
    assert banner.inner_text().startswith("That did not work (403): your role does not allow this")
    assert row.locator(".status", has_text="Open").count() == 1

    # the session ends while the page is open: the whole window goes to sign in, and back
    meanwhile(lambda: Membership.objects.filter(user=world.owner, tenant=world.tenant).update(role="owner"))
    meanwhile(lambda: Session.objects.all().delete())
    row.locator("button", has_text="Acknowledge").click()
    page.wait_for_url(re.compile(r"/login/\?next="), timeout=10_000)
    assert page.locator("tr.exception-row").count() == 0  # not the login form inside a row
    page.fill("#id_email", world.owner.email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/recon/\?state=open$"), timeout=10_000)


@pytest.fixture
def two_exceptions_world(committed_tenant):
    """A committed tenant with two open exceptions: a payout 0.07 over its lines, one of which
    has net != amount - fee."""
    from recon.tests.factories import line_row, payout_own_line, payout_row, sale

    return reconciled_world(
        committed_tenant,
        "bulk",
        lambda conn: [*sale(conn, 2, payout="po_2", amount=5000, fee=175),
                      line_row("txn_bad", payout="po_2", amount=2000, fee=88, net=1900, category="adjustment"),
                      payout_row("po_2", 4825 + 1900 + 7), payout_own_line("po_2", 6732)],
    )  # fmt: skip


def test_a_page_of_exceptions_is_ticked_at_once_and_resolved_with_one_note(two_exceptions_world, web, browser_page):
    from recon.models import ReconException

    world, page = two_exceptions_world, browser_page
    sign_in(page, web, world.owner.email)
    page.goto(f"{web}/recon/?state=open")
    assert page.locator("tr.exception-row").count() == 2

    page.check("input[data-select-all=bulk]")
    assert page.locator("input[name=ids]:checked").count() == 2
    page.fill("#bulk-note", "reviewed with the bank statement")
    page.click("button:has-text('Resolve ticked')")
    page.locator("#queue .flash-success", has_text="2 resolved.").wait_for(timeout=10_000)

    assert page.locator("tr.exception-row").count() == 0  # the queue as filtered: open ones, none left
    assert "state=open" in page.url
    found: list[tuple[str, str]] = []

    def read() -> None:  # Playwright's loop owns this thread: the ORM runs in another
        from django.db import connection

        try:
            with tenant_context(world.tenant):
                found.extend(ReconException.objects.values_list("state", "note"))
        finally:
            connection.close()  # the thread's own session, or the test database cannot be dropped

    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    assert sorted(found) == [("resolved", "reviewed with the bank statement")] * 2


PHONE = {"width": 390, "height": 844}


@pytest.fixture
def long_ids_world(committed_tenant):
    """A committed tenant whose one payout, 10.00 short of its one sale, carries ids as long as
    a Shopify shop's (``gid://shopify/...``): an open exception, and tables of long ids."""
    from recon.tests.factories import line_row, order_row, payment_row, payout_own_line, payout_row

    payout, order, payment = (
        "gid://shopify/ShopifyPaymentsPayout/120000008",
        "gid://shopify/Order/6100000000582",
        "gid://shopify/OrderTransaction/7300000000174",
    )
    return reconciled_world(
        committed_tenant,
        "long-ids",
        lambda conn: [
            order_row(order, total=10000),
            payment_row(payment, order=order, amount=10000),
            line_row("gid://shopify/ShopifyPaymentsBalanceTransaction/2800000151", payout=payout, amount=10000,
                     fee=320, object_id=payment),
            payout_row(payout, 8680),
            payout_own_line(payout, 8680),
        ],
    )  # fmt: skip


def test_on_a_phone_every_page_fits_the_window_and_wide_tables_scroll_in_their_box(long_ids_world, web, browser_page):
    world, page = long_ids_world, browser_page
    page.set_viewport_size(PHONE)
    sign_in(page, web, world.owner.email)

    page.goto(f"{web}/recon/")
    # the bar's links wrap onto more lines: each one is on screen, none pushed past its edge
    for link in page.locator("nav.mainnav a").all():
        box = link.bounding_box()
        assert box is not None
        assert 0 <= box["x"] <= box["x"] + box["width"] <= PHONE["width"], link.inner_text()
    # the queue is wider than a phone: it scrolls sideways in its own box, and its buttons still work
    queue = page.locator("table.exceptions")
    assert queue.evaluate("table => table.scrollWidth > table.clientWidth")
    row = page.locator("tr.exception-row").first
    row.locator("button", has_text="Acknowledge").click()
    row.locator(".status", has_text="Acknowledged").wait_for(timeout=10_000)
    screenshot(page, "phone-recon.png")

    row.locator("a", has_text="gid://shopify/ShopifyPaymentsPayout/120000008").click()
    page.wait_for_selector("#explain-summary")
    payout_page = page.url.removeprefix(web)
    month = date.today().strftime("%Y-%m")
    for path in ("/", "/recon/", payout_page, f"/close/?month={month}", "/postings/", "/data/?table=payout_lines",
                 "/connections/", "/jobs/", "/audit/"):  # fmt: skip
        page.goto(f"{web}{path}")
        # the page is never wider than the window: nothing to scroll sideways but the tables themselves
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path


def test_long_ids_wrap_in_their_cells_and_no_table_is_wider_than_the_page(long_ids_world, web, browser_page):
    world, page = long_ids_world, browser_page
    sign_in(page, web, world.owner.email)
    width = page.viewport_size["width"]

    for path in ("/data/?table=payout_lines", "/data/?table=payments", "/recon/", "/postings/"):
        page.goto(f"{web}{path}")
        page.wait_for_selector("table.data tbody tr")
        # three columns of ids as long as Shopify's: they wrap in their cells, the page stays the window's width
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path

    # a date stays on one line (it is read at a glance, not spelled out in pieces)
    one_line = "td => { const r = document.createRange(); r.selectNodeContents(td); return r.getClientRects().length; }"
    page.goto(f"{web}/data/?table=payout_lines")
    created = page.locator("table.data tbody tr td:last-child").first
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", created.inner_text().strip())
    assert created.evaluate(one_line) == 1
    page.goto(f"{web}/recon/")
    assert page.locator("tr.exception-row td.last-seen").first.evaluate(one_line) == 1
    screenshot(page, "payout-lines.png")
