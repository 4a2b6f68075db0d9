"""``manage.py recon``: runs in the foreground inside the tenant and prints the outcome."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from recon.models import ReconRun
from recon.tests.factories import connection, payout_own_line, payout_row, sale, write


@pytest.fixture
def short_payouts(tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        conn = connection()
        for n in (1, 2):
            write(
                conn,
                *sale(conn, n, payout=f"po_{n}", amount=10000, fee=320),
                payout_row(f"po_{n}", 9000),
                payout_own_line(f"po_{n}", 9000),
            )


def test_recon_command_prints_the_outcome_counts(short_payouts, tenant_a, in_tenant):
    out = StringIO()

    call_command("recon", "--tenant", "acme", stdout=out)

    text = out.getvalue()
    assert "(full): completed" in text
    assert "payouts evaluated 2: reconciled 0, with exceptions 2, pending 0; lines 4" in text
    assert "exceptions opened 2" in text
    assert "payout_total_mismatch: 2" in text
    with in_tenant(tenant_a.tenant):
        assert ReconRun.objects.get().trigger == "command"


def test_recon_command_for_one_payout(short_payouts):
    out = StringIO()

    call_command("recon", "--tenant", "acme", "--payout", "po_2", stdout=out)

    assert "(targeted): completed" in out.getvalue()
    assert "payouts evaluated 1:" in out.getvalue()


def test_recon_command_refuses_an_unknown_tenant(db):
    with pytest.raises(CommandError, match="Unknown tenant 'nobody'"):
        call_command("recon", "--tenant", "nobody")


def test_recon_command_refuses_an_unknown_payout(short_payouts):
    with pytest.raises(CommandError, match="No payout po_404 in this tenant"):
        call_command("recon", "--tenant", "acme", "--payout", "po_404")


def test_recon_command_names_its_own_options_when_refusing_them(short_payouts):
    with pytest.raises(CommandError, match=r"^--to 2026-01-01 is before --from 2026-02-01\.$"):
        call_command("recon", "--tenant", "acme", "--from", "2026-02-01", "--to", "2026-01-01")
    with pytest.raises(CommandError, match=r"^--connection: 'zzz' is not an id\.$"):
        call_command("recon", "--tenant", "acme", "--connection", "zzz")
