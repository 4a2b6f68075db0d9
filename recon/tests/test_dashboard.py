"""The dashboard's reconciliation block: what it says after a clean run, a stale one, and
with a connection whose credentials were refused."""

from __future__ import annotations

import re
from datetime import date, timedelta

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


RECT = re.compile(
    r'<rect class="bar-(?P<status>\w+)" x="[\d.]+" y="(?P<y>[\d.]+)" width="[\d.]+" height="(?P<h>[\d.]+)">'
    r"<title>(?P<title>[^<]+)</title>"
)


def test_payout_chart_stacks_each_days_payouts_by_status(browser, tenant_a, in_tenant):
    today = date.today()
    day1, day2, long_ago = today - timedelta(days=3), today - timedelta(days=1), today - timedelta(days=40)
    with in_tenant(tenant_a.tenant):
        conn = connection()
        write(
            conn,
            *sale(conn, 1, payout="po_1", amount=10000, fee=320),
            payout_row("po_1", 9680, arrival=day1),
            payout_own_line("po_1", 9680),
            *sale(conn, 2, payout="po_2", amount=5000, fee=175),
            payout_row("po_2", 4825, arrival=day2),
            payout_own_line("po_2", 4825),
            # failed on the same day: a payout with exceptions, stacked on top
            payout_row("po_3", 2000, arrival=day2, automatic=False, status="failed", failure_code="account_closed"),
            # a reversal moves money back (negative): not a bar
            payout_row("po_4", -7000, arrival=day2, reversal_of="po_5"),
            # outside the 30 days up to the latest payout
            payout_row("po_5", 7000, arrival=long_ago, automatic=False),
        )
        reconcile()
        # arrived since the run: not reconciled yet, in a currency of its own
        write(conn, payout_row("po_6", 1000, currency="EUR", arrival=day2, automatic=False))

    page = dashboard(browser)

    bars = {m["title"]: (m["status"], float(m["y"]), float(m["h"])) for m in RECT.finditer(page)}
    assert bars == {
        # the highest day fills the plot (140 units high)
        f"{day1}: 96.80 USD reconciled (1 payout)": ("reconciled", 0.0, 140.0),
        f"{day2}: 48.25 USD reconciled (1 payout)": ("reconciled", 70.22, 69.78),
        f"{day2}: 20.00 USD with exceptions (1 payout)": ("exceptions", 41.29, 28.93),
        # another currency is another chart, scaled on its own
        f"{day2}: 10.00 EUR not reconciled yet (1 payout)": ("unchecked", 0.0, 140.0),
    }
    assert "USD payouts, Stripe</strong>, by arrival day" in page
    assert f"{day2 - timedelta(days=29)} to {day2}: 165.05 USD" in page
    assert "highest day 96.80 USD" in page
    assert "With exceptions: 20.00 USD" in page  # the legend's totals


def test_no_payouts_no_chart(browser, tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        connection()
        reconcile()

    page = dashboard(browser)

    assert 'id="payouts-chart"' not in page
    assert "<svg" not in page


def test_a_run_of_one_connection_does_not_turn_green_while_another_is_out_of_date(browser, tenant_a, in_tenant):
    from datetime import timedelta

    from django.utils import timezone

    with in_tenant(tenant_a.tenant):
        us = connection(name="Stripe US")
        connection(name="Stripe EU", last_sync_succeeded_at=timezone.now() - timedelta(days=5))
        write(us, *sale(us, 1, payout="po_1", amount=10000, fee=320), payout_row("po_1", 9680))
        assert reconcile().status == "stale"
        # Stripe US syncs again: the run that follows reads only Stripe US, which is fresh
        assert reconcile(connection_ids=[us.pk]).status == "completed"

    page = dashboard(browser)

    assert "Every payout reconciled" not in page
    assert "Stale data" in page
    assert "Stripe EU (Stripe): last successful sync 120 h ago, beyond the 24 h freshness window" in page
