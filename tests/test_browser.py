"""The console in a real browser (Debian's Chromium driven by Playwright) against the real
server process, a real django-q2 worker and the Stripe sandbox: sign in, sync a connection
and watch its live progress, then read the synced payouts on the data page."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

import httpx
import pytest

from connections.services import connection_create
from connections.stripe.sandbox.server import DEFAULT_API_KEY, build_stripe_sandbox, stripe_sandbox_server
from ecomops.tenancy import tenant_context
from tests.worker import ROOT, Worker, stop_process_group, wait_for, worker_database_url

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The flags a root sandbox with no network needs (see the machine notes): no sandbox, no
# background network chatter that the closed network would refuse.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
PASSWORD = "browser-test-password-1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def web(tmp_path, live_db):
    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "ecomops.settings.test", "DATABASE_URL": worker_database_url()}
    log = (tmp_path / "web.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url), timeout=60, message="the web server")
        yield url
    finally:
        stop_process_group(process)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/health/", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def browser_page():
    """Chromium via Playwright. Its sync API runs an event loop in this thread, so every
    database set-up happens in fixtures that run before this one, never while it is open."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "Chromium is missing: make test installs it (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        yield page
        browser.close()


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

    page.goto(f"{web}/login/")
    page.fill("#id_email", world.owner.email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{web}/")
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
    if os.environ.get("ECOMOPS_SCREENSHOT_DIR"):
        Path(os.environ["ECOMOPS_SCREENSHOT_DIR"]).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(os.environ["ECOMOPS_SCREENSHOT_DIR"]) / "data.png"))

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
    first = rows.first
    first.locator("input[name=note]").fill("Checked against the bank statement")
    first.locator("button", has_text="Resolve").click()
    resolved = page.locator("tr.exception-row", has_text="Checked against the bank statement")
    resolved.locator(".status", has_text="Resolved").wait_for(timeout=10_000)
    assert "Resolved." in resolved.inner_text()
    if os.environ.get("ECOMOPS_SCREENSHOT_DIR"):
        page.screenshot(path=str(Path(os.environ["ECOMOPS_SCREENSHOT_DIR"]) / "recon.png"), full_page=True)

    # one payout, explained line by line
    page.goto(f"{web}/recon/")
    link = page.locator("tr.exception-row td a").first
    payout_ref = link.inner_text()
    link.click()
    page.wait_for_selector("#explain-summary")
    assert f"Payout {payout_ref}" in page.inner_text("h1")
    assert page.locator("table.payout-exceptions tbody tr").count() >= 1
    if os.environ.get("ECOMOPS_SCREENSHOT_DIR"):
        page.screenshot(path=str(Path(os.environ["ECOMOPS_SCREENSHOT_DIR"]) / "payout.png"), full_page=True)

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
    if os.environ.get("ECOMOPS_SCREENSHOT_DIR"):
        page.screenshot(path=str(Path(os.environ["ECOMOPS_SCREENSHOT_DIR"]) / "dashboard.png"), full_page=True)
