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


def test_match_rate_and_posting_status(browser, tenant_a, in_tenant):
    from canonical.models import Payout
    from netsuite.models import NetsuitePosting

    with in_tenant(tenant_a.tenant):
        conn = connection()
        write(
            conn,
            # po_1 .. po_3 reconcile; po_4 is short by 0.01: 3 of the 4 paid-out payouts match
            *[row for n in (1, 2, 3) for row in sale(conn, n, payout=f"po_{n}", amount=10000, fee=320)],
            *[payout_row(f"po_{n}", 9680) for n in (1, 2, 3)],
            *sale(conn, 4, payout="po_4", amount=10000, fee=320),
            payout_row("po_4", 9681),
        )
        reconcile()
        payouts = {p.source_id: p for p in Payout.objects.all()}
        for n, state, error in [(1, "posted", ""), (2, "draft", ""), (3, "failed", "NetSuite: period is closed")]:
            NetsuitePosting.objects.create(
                payout=payouts[f"po_{n}"],
                connection=conn,
                source="stripe",
                source_id=f"po_{n}",
                external_id=f"eid-{n}",
                state=state,
                amount_minor=9680,
                currency="USD",
                last_error=error,
            )

    page = dashboard(browser)

    assert "75%" in page
    assert "Posting to NetSuite" in page
    assert "1 posting failed" in page
    assert "payout po_3: NetSuite: period is closed" in page
