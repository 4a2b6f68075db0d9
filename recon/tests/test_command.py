"""``manage.py recon``: runs in the foreground inside the tenant and prints the outcome."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from canonical.models import Payout
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


def test_recon_command_refuses_an_unknown_tenant_as_a_usage_error(db):
    with pytest.raises(CommandError, match="Unknown tenant 'nobody'") as refused:
        call_command("recon", "--tenant", "nobody")

    assert refused.value.returncode == 2  # called wrong, not a failed run (1)


@pytest.mark.parametrize(
    "reference",
    ["po_\udcff", "po_1\x00"],  # a byte no UTF-8 has, as Python reads it from argv; a NUL from a caller
    ids=["undecodable", "nul"],
)
def test_recon_command_refuses_a_payout_no_payout_can_have_as_a_usage_error(
    short_payouts, tenant_a, in_tenant, reference
):
    with pytest.raises(CommandError, match="--payout: No payout po_") as refused:
        call_command("recon", "--tenant", "acme", "--payout", reference)

    assert refused.value.returncode == 2
    with in_tenant(tenant_a.tenant):
        assert not ReconRun.objects.exists()


def test_recon_command_refuses_an_unknown_payout_as_a_usage_error(short_payouts, tenant_a, in_tenant):
    with pytest.raises(CommandError, match="No payout po_404 in this tenant") as refused:
        call_command("recon", "--tenant", "acme", "--payout", "po_404")

    assert refused.value.returncode == 2
    with in_tenant(tenant_a.tenant):
        assert not ReconRun.objects.exists()


def test_recon_command_refuses_another_tenants_payout_as_a_usage_error(short_payouts, tenant_b, in_tenant):
    with in_tenant(tenant_b.tenant):
        conn = connection()
        write(conn, *sale(conn, 7, payout="po_b", amount=10000, fee=320), payout_row("po_b", 10000))
        theirs = str(Payout.objects.get(source_id="po_b").pk)

    with pytest.raises(CommandError, match=f"No payout {theirs} in this tenant") as refused:
        call_command("recon", "--tenant", "acme", "--payout", theirs)

    assert refused.value.returncode == 2


def test_recon_command_names_its_own_options_when_refusing_them(short_payouts):
    with pytest.raises(CommandError, match=r"^--to 2026-01-01 is before --from 2026-02-01\.$") as reversed_range:
        call_command("recon", "--tenant", "acme", "--from", "2026-02-01", "--to", "2026-01-01")
    with pytest.raises(CommandError, match=r"^--connection: 'zzz' is not an id\.$") as not_an_id:
        call_command("recon", "--tenant", "acme", "--connection", "zzz")

    assert (reversed_range.value.returncode, not_an_id.value.returncode) == (2, 2)
