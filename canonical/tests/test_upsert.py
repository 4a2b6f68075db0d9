"""The bulk upsert: idempotent, silent when nothing changed, never clobbering recon links."""

from __future__ import annotations

import pytest
from django.db import connection

from canonical.models import Payment, PayoutLine
from canonical.tests.factories import payout_line_row
from canonical.upsert import upsert_rows
from connections.tests.factories import ConnectionFactory


@pytest.fixture
def stripe_conn(tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        yield ConnectionFactory()


def _write(conn, rows):
    return upsert_rows(rows, connection_id=conn.pk, tenant_id=conn.tenant_id)


def _row_versions() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT source_id, xmin::text::bigint FROM canonical_payoutline")
        return dict(cursor.fetchall())


def test_first_sync_creates_every_row(stripe_conn):
    rows = [payout_line_row(f"txn_{i}", amount=1000 + i) for i in range(250)]

    result = _write(stripe_conn, rows)

    assert (result.created, result.updated, result.unchanged) == (250, 0, 0)
    assert PayoutLine.objects.count() == 250
    line = PayoutLine.objects.get(source_id="txn_7")
    assert (line.amount_minor, line.fee_minor, line.net_minor, line.currency) == (1007, 59, 948, "USD")
    assert line.dedupe_key == f"{stripe_conn.pk}:payout_line:txn_7"


def test_unchanged_resync_writes_nothing(stripe_conn):
    rows = [payout_line_row(f"txn_{i}") for i in range(100)]
    _write(stripe_conn, rows)
    before = _row_versions()

    result = _write(stripe_conn, rows)

    assert (result.created, result.updated, result.unchanged) == (0, 0, 100)
    assert _row_versions() == before  # no row was rewritten (same tuple versions)


def test_changed_object_is_updated_in_place(stripe_conn):
    _write(stripe_conn, [payout_line_row("txn_1", amount=1000), payout_line_row("txn_2")])

    result = _write(stripe_conn, [payout_line_row("txn_1", amount=1200), payout_line_row("txn_2")])

    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    assert PayoutLine.objects.get(source_id="txn_1").amount_minor == 1200
    assert PayoutLine.objects.count() == 2


def test_duplicates_within_a_batch_keep_the_last_version(stripe_conn):
    result = _write(stripe_conn, [payout_line_row("txn_1", amount=1), payout_line_row("txn_1", amount=2)])
    assert result.created == 1
    assert PayoutLine.objects.get(source_id="txn_1").amount_minor == 2


def test_resync_keeps_links_made_by_reconciliation(stripe_conn):
    from canonical.rows import CanonicalRow

    payment_row = CanonicalRow(
        kind="payment", source="stripe", source_id="ch_txn_1",
        fields={"order_source_id": "pi_1", "currency": "USD", "amount_minor": 1000, "status": "succeeded",
                "captured": True, "gateway": "stripe", "is_gift_card": False, "balance_transaction_source_id": "txn_1"},
        raw_data={"id": "ch_txn_1"},
    )  # fmt: skip
    _write(stripe_conn, [payout_line_row("txn_1"), payment_row])
    PayoutLine.objects.filter(source_id="txn_1").update(payment=Payment.objects.get(source_id="ch_txn_1"))

    _write(stripe_conn, [payout_line_row("txn_1", amount=1100)])

    line = PayoutLine.objects.get(source_id="txn_1")
    assert line.amount_minor == 1100
    assert line.payment.source_id == "ch_txn_1"


def test_rows_are_invisible_to_another_tenant(stripe_conn, tenant_b, in_tenant):
    _write(stripe_conn, [payout_line_row("txn_1")])
    with in_tenant(tenant_b.tenant):
        assert PayoutLine.objects.count() == 0


def test_a_normalizer_row_missing_a_field_is_refused():
    from canonical.rows import CanonicalRow

    with pytest.raises(ValueError, match="missing"):
        CanonicalRow(kind="payment", source="stripe", source_id="ch_1", fields={"currency": "USD"}, raw_data={})


def test_listing_without_a_payout_keeps_the_payout_link(stripe_conn):
    # given: the line was listed per payout, so its payout is known
    _write(stripe_conn, [payout_line_row("txn_1", payout="po_9")])
    before = _row_versions()

    # when: the same unchanged transaction comes from the all-transactions listing (no payout)
    result = _write(stripe_conn, [payout_line_row("txn_1", payout=None)])

    # then: nothing is written and the link stays
    assert (result.written, result.unchanged) == (0, 1)
    assert PayoutLine.objects.get(source_id="txn_1").payout_source_id == "po_9"
    assert _row_versions() == before


def test_a_line_first_seen_unpaid_gets_its_payout_later(stripe_conn):
    _write(stripe_conn, [payout_line_row("txn_1", payout=None)])
    assert PayoutLine.objects.get(source_id="txn_1").payout_source_id == ""

    result = _write(stripe_conn, [payout_line_row("txn_1", payout="po_3")])

    assert result.updated == 1
    assert PayoutLine.objects.get(source_id="txn_1").payout_source_id == "po_3"


def _links() -> dict[str, tuple]:
    return {
        line.source_id: (
            line.payment.source_id if line.payment else None,
            line.refund.source_id if line.refund else None,
            line.dispute.source_id if line.dispute else None,
        )
        for line in PayoutLine.objects.select_related("payment", "refund", "dispute")
    }


def test_a_line_is_linked_on_arrival_to_the_object_it_stands_for(stripe_conn):
    from recon.tests.factories import connection, dispute_row, payment_row, refund_row, write

    # the lines come first in the batch, as a balance-transaction listing gives them
    _write(
        stripe_conn,
        [
            payout_line_row("txn_ch", source_object_id="ch_1"),
            payout_line_row("txn_re", reporting_category="refund", amount=-500, fee=0, fee_details=[],
                            source_object_id="re_1"),
            payout_line_row("txn_dp", reporting_category="dispute", amount=-1000, fee=1500, fee_details=[],
                            source_object_id="dp_1"),
            payout_line_row("txn_gone", source_object_id="ch_never_synced"),
            payout_line_row("txn_fee", reporting_category="fee", source_object_id="ch_1"),
            payment_row("ch_1", order="pi_1", amount=1000),
            refund_row("re_1", payment="ch_1", amount=500),
            dispute_row("dp_1", payment="ch_1", amount=1000, status="needs_response"),
        ],
    )  # fmt: skip
    # the same charge id under another connection is another object
    write(connection(), payment_row("ch_never_synced", order=None, amount=1000))

    assert _links() == {
        "txn_ch": ("ch_1", None, None),
        "txn_re": (None, "re_1", None),
        "txn_dp": (None, None, "dp_1"),
        "txn_gone": (None, None, None),
        "txn_fee": (None, None, None),  # a fee line stands for no payment, whatever it names
    }


def test_a_line_synced_before_its_payment_is_linked_once_it_changes(stripe_conn):
    from recon.tests.factories import payment_row

    _write(stripe_conn, [payout_line_row("txn_1", source_object_id="ch_1")])
    _write(stripe_conn, [payment_row("ch_1", order="pi_1", amount=1000)])
    unchanged = _links()["txn_1"]  # an unchanged line is not rewritten: recon links it

    _write(stripe_conn, [payout_line_row("txn_1", source_object_id="ch_1", amount=1100)])

    assert unchanged == (None, None, None)
    assert _links()["txn_1"] == ("ch_1", None, None)


def test_an_order_whose_refund_status_changes_is_counted_as_updated_once(stripe_conn):
    # What a sync job reports: a refund read alone (a webhook's sync) changes its order too.
    from canonical.models import Order
    from recon.tests.factories import order_row, payment_row, refund_row

    order, charge = order_row("pi_1", total=10000), payment_row("ch_1", order="pi_1", amount=10000)
    _write(stripe_conn, [order, charge])

    refund_alone = _write(stripe_conn, [refund_row("re_1", payment="ch_1", amount=4000)])
    order_unchanged_and_refund = _write(
        stripe_conn,
        [
            order,
            charge,
            refund_row("re_1", payment="ch_1", amount=4000),
            refund_row("re_2", payment="ch_1", amount=6000),
        ],
    )
    read_again = _write(stripe_conn, [order, refund_row("re_2", payment="ch_1", amount=6000)])

    # the refund is new, and the order changed: paid -> partially refunded
    assert (refund_alone.created, refund_alone.updated, refund_alone.unchanged) == (1, 1, 0)
    # the order and the charge were read unchanged, re_1 too, re_2 is new: the order changed all the same
    assert (order_unchanged_and_refund.created, order_unchanged_and_refund.updated) == (1, 1)
    assert order_unchanged_and_refund.unchanged == 2
    assert Order.objects.get(source_id="pi_1").financial_status == "refunded"
    # nothing changed: nothing counted
    assert (read_again.created, read_again.updated, read_again.unchanged) == (0, 0, 2)


def test_an_order_written_and_refunded_in_one_batch_is_counted_once(stripe_conn):
    from canonical.models import Order
    from recon.tests.factories import order_row, payment_row, refund_row

    result = _write(
        stripe_conn,
        [
            order_row("pi_2", total=5000),
            payment_row("ch_2", order="pi_2", amount=5000),
            refund_row("re_3", payment="ch_2", amount=5000),
        ],
    )

    assert (result.created, result.updated, result.unchanged) == (3, 0, 0)
    assert Order.objects.get(source_id="pi_2").financial_status == "refunded"
