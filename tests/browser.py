"""The console in a real browser: the web server as its own process, and Debian's Chromium
driven by Playwright. The fixtures (``web``, ``browser_page``) are in the root conftest."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.worker import ROOT, stop_process_group, wait_for, worker_database_url

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
# The password browser tests give the users they sign in as.
PASSWORD = "browser-test-password-1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/health/", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def web_server(log_dir: Path) -> Iterator[str]:
    """``manage.py runserver`` on a free loopback port, against the test database; its URL."""
    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "ecomops.settings.test", "DATABASE_URL": worker_database_url()}
    log = (log_dir / "web.log").open("ab")
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


@contextmanager
def chromium_page() -> Iterator[Any]:
    """A Chromium page. Playwright's sync API runs an event loop in this thread, so every
    database set-up happens in fixtures that run before this one, never while it is open."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "Chromium is missing: make test installs it (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 900})
        finally:
            browser.close()


def sign_in(page: Any, web: str, email: str) -> None:
    page.goto(f"{web}/login/")
    page.fill("#id_email", email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{web}/")


def screenshot(page: Any, name: str, *, full_page: bool = True) -> None:
    """Keep a screenshot when ``ECOMOPS_SCREENSHOT_DIR`` says where (for the README and reviews)."""
    if os.environ.get("ECOMOPS_SCREENSHOT_DIR"):
        folder = Path(os.environ["ECOMOPS_SCREENSHOT_DIR"])
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / name), full_page=full_page)
