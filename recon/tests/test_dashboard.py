"""The dashboard's reconciliation block: what it says after a clean run, a stale one, and
with a connection whose credentials were refused."""

from __future__ import annotations

import pytest
from django.test import Client

from conftest import PASSWORD
from connections.models import ConnectionStatus
from recon.tests.factories import connection, payout_own_line, payout_row, reconcile, sale, write


@pytest.fixture
def browser(tenant_a) -> Client:
    client = Client()
    assert client.post("/login/", {"email": "accountant@acme.example.com", "password": PASSWORD}).status_code == 302
    return client


def dashboard(browser: Client) -> str:
    response = browser.get("/")
    assert response.status_code == 200
    return response.content.decode()


def test_clean_run_says_everything_reconciled(browser, tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        conn = connection()
        write(
            conn,
            *sale(conn, 1, payout="po_1", amount=10000, fee=320),
            payout_row("po_1", 9680),
            payout_own_line("po_1", 9680),
        )
        reconcile()

    page = dashboard(browser)

    assert "Every payout reconciled" in page
    assert "Stale data" not in page


def test_stale_run_is_never_shown_green(browser, tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        conn = connection(last_sync_succeeded_at=None)
        write(conn, *sale(conn, 1, payout="po_1", amount=10000, fee=320), payout_row("po_1", 9680))
        assert reconcile().status == "stale"

    page = dashboard(browser)

    assert "Stale data" in page
    assert "never synced successfully" in page
    assert "Every payout reconciled" not in page


def test_broken_connection_is_shown(browser, tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        connection(name="Main Stripe", status=ConnectionStatus.BROKEN, status_message="Stripe HTTP 401: key revoked")
        reconcile()

    page = dashboard(browser)

    assert "Main Stripe" in page
    assert "credentials were refused" in page
    assert "Every payout reconciled" not in page
