from __future__ import annotations

import pytest

from recon.models import ReconException, ReconPayout
from recon.tests.factories import connection, payout_own_line, payout_row, reconcile, sale, write


@pytest.fixture
def in_a(tenant_a, in_tenant):
    """The test body runs inside tenant A (rolled back afterwards, like every ``db`` test)."""
    with in_tenant(tenant_a.tenant):
        yield tenant_a


@pytest.fixture
def tenant_settings(tenant_a):
    """``tenant_settings(recon_amount_tolerance_minor=50)``: change tenant A's recon settings for this test."""
    from tenants.models import Tenant

    def change(**fields):
        Tenant.objects.filter(pk=tenant_a.tenant.pk).update(**fields)

    return change


@pytest.fixture
def ledger(tenant_a, in_tenant):
    """Tenant A with one short payout (po_1) and one that adds up (po_2), reconciled once."""
    with in_tenant(tenant_a.tenant):
        conn = connection()
        write(
            conn,
            *sale(conn, 1, payout="po_1", amount=10000, fee=320),
            payout_row("po_1", 10000),
            payout_own_line("po_1", 10000),
        )
        write(conn, *sale(conn, 2, payout="po_2", amount=5000, fee=175), payout_row("po_2", 4825))
        run = reconcile()
        exception = ReconException.objects.get()
        payouts = {p.payout.source_id: p.payout for p in ReconPayout.objects.select_related("payout")}
    return {"conn": conn, "run": run, "exception": exception, "payouts": payouts}


@pytest.fixture
def other(tenant_b, in_tenant):
    """Tenant B's own run, exception and payout."""
    with in_tenant(tenant_b.tenant):
        conn = connection()
        write(conn, *sale(conn, 7, payout="po_b", amount=10000, fee=320), payout_row("po_b", 1))
        run = reconcile()
        exception = ReconException.objects.get()
        payout = exception.payout
    return {"conn": conn, "run": run, "exception": exception, "payout": payout}
