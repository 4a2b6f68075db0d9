"""The exceptions list sorted as a controller works it: the largest amounts at stake first, or by
date, last seen or reason; the same order in the API, the queue page and its CSV."""

from __future__ import annotations

import csv
import io

import pytest

from conftest import signed_in
from recon.tests.factories import connection, payout_own_line, payout_row, reconcile, sale, write


@pytest.fixture
def short_payouts(tenant_a, in_tenant):  # type: ignore[no-untyped-def]
    """Three payouts, each over its one 100.00 sale (net 96.80) by another amount: 0.07, 5.00, 0.30."""
    with in_tenant(tenant_a.tenant):
        conn = connection()
        rows = []
        for n, over in ((1, 7), (2, 500), (3, 30)):
            rows += [
                *sale(conn, n, payout=f"po_{n}", amount=10000, fee=320),
                payout_row(f"po_{n}", 9680 + over),
                payout_own_line(f"po_{n}", 9680 + over),
            ]
        write(conn, *rows)
        reconcile()
        yield tenant_a


def test_the_api_lists_the_largest_amounts_at_stake_first(short_payouts, api_as) -> None:  # type: ignore[no-untyped-def]
    client = api_as(short_payouts.accountant, short_payouts.tenant)

    largest = client.get("/api/v1/recon/exceptions/", {"ordering": "-at_stake"}).json()["results"]
    smallest = client.get("/api/v1/recon/exceptions/", {"ordering": "at_stake"}).json()["results"]
    bad = client.get("/api/v1/recon/exceptions/", {"ordering": "size"})

    assert [e["subject_ref"] for e in largest] == ["po_2", "po_3", "po_1"]
    assert [(e["at_stake_minor"], e["at_stake_currency"]) for e in largest] == [(500, "USD"), (30, "USD"), (7, "USD")]
    assert [e["subject_ref"] for e in smallest] == ["po_1", "po_3", "po_2"]
    assert bad.status_code == 400
    assert "ordering" in bad.json()


def test_the_queue_and_its_csv_follow_the_chosen_order(short_payouts) -> None:  # type: ignore[no-untyped-def]
    client = signed_in(short_payouts.accountant.email)

    page = client.get("/recon/", {"ordering": "-at_stake"}).content.decode()
    download = client.get("/recon/", {"ordering": "-at_stake", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))

    assert page.index("po_2") < page.index("po_3") < page.index("po_1")
    assert '<option value="-at_stake" selected>Amount at stake (descending)</option>' in page
    assert "3 exceptions" in page  # sorting alone keeps the queue on what is open
    assert [row["difference"] for row in rows] == ["5.00", "0.30", "0.07"]  # the payout over its lines


def test_the_sort_dropdown_names_the_queues_own_order_when_none_is_chosen(short_payouts) -> None:  # type: ignore[no-untyped-def]
    page = signed_in(short_payouts.accountant.email).get("/recon/").content.decode()

    assert '<option value="" selected>Last seen, newest first</option>' in page
    assert "---------" not in page
