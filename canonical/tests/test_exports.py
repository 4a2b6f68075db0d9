"""A table's CSV export is written by PostgreSQL's COPY, and is the file the Python writer writes:
the same bytes for every awkward value, the formula guard included, in the same order."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections
from django.db import connection as db

from canonical import exports
from canonical.exports import csv_response, table_columns
from canonical.models import Order, PayoutLine
from canonical.rows import CanonicalRow
from canonical.upsert import upsert_rows
from connections.tests.factories import ConnectionFactory

# Text a spreadsheet would run, text that only looks like it, and text CSV has to quote.
AWKWARD_TEXT = [
    "=SUM(A1:A9)",
    "+33 1 23",
    "-cmd|' /C calc'!A0",
    "@import",
    "\tTabbed",
    "\rcarriage",
    "-12",  # a number: not guarded
    "+7.50",
    "-0.12",
    "-12\n",  # Python's "$" matches before a final newline: a number to _NUMBER, not guarded
    "-12\n\n",
    "1e5",
    "'quoted already",
    'say "hi"',
    "a,b",
    "line\nbreak",
    "two\r\nlines",
    "ünïcødé 日本語 🧾",
    "",
    " padded ",
    "\\.",
    "=",
    "-",
]

NESTED = {
    "id": "ch_1",
    "amount": -1250,
    "metadata": {"note": '=HYPERLINK("x")', "empty": "", "list": [1, -2, 0.5, None, True, False, "ü"]},
    "z": {"y": {"x": [{"w": 'deep, "quoted"\nline'}]}},
    "escapes": "tab\there\\back/slash\u0001\u001f",
    "unicode": "日本語 🧾 é",
    "aa": None,
    "b": [],
    "c": {},
}


def _order(n: int, order_number: str, **overrides) -> CanonicalRow:
    fields = {
        "order_number": order_number,
        "currency": "EUR",
        "total_minor": -500 * n if n % 2 else 1000 * n,
        "gift_card_sold_minor": 0,
        "financial_status": ["paid", "", "refunded"][n % 3],
        "cancelled": n % 2 == 0,
    }
    fields.update(overrides)
    microseconds = [0, 123456, 500000, 1][n % 4]
    return CanonicalRow(
        kind="order",
        source="shopify",
        source_id=f"gid://shopify/Order/{n}",
        fields=fields,
        raw_data={**NESTED, "n": n, "order_number": order_number},
        source_created_at=None if n == 3 else datetime(2024, 1, 5, 10, 0, n % 60, microseconds, tzinfo=UTC),
        source_updated_at=datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) if n % 5 == 0 else None,
    )


def _line(n: int, **overrides) -> CanonicalRow:
    fields = {
        "payout_source_id": "po_1" if n % 2 else None,
        "type": "charge",
        "reporting_category": "charge",
        "currency": "USD",
        "amount_minor": -1000 - n,
        "fee_minor": 59,
        "net_minor": -1059 - n,
        "fee_details": [{"amount_minor": 59, "description": 'Stripe, "fee"\n=1', "type": "stripe_fee"}],
        "exchange_rate": [None, "1.234567890123", "-0.5", "999999999999.000000000001"][n % 4],
        "source_object_id": f"ch_{n}",
        "source_object_type": "charge",
        "source_order_id": AWKWARD_TEXT[n % len(AWKWARD_TEXT)],
        "available_on": None if n % 3 == 0 else date(2026, 2, n % 28 + 1),
    }
    fields.update(overrides)
    return CanonicalRow(
        kind="payout_line",
        source="stripe",
        source_id=f"txn_{n}",
        fields=fields,
        raw_data={**NESTED, "n": n},
        source_created_at=datetime(2026, 11, 1, 8, 30, 0, (n * 1000) % 1_000_000, tzinfo=UTC),
    )


@pytest.fixture
def tenant(tenant_a, in_tenant):
    """Tenant A with an order and a payout line for every awkward text, and JSON of every kind."""
    with in_tenant(tenant_a.tenant):
        conn = ConnectionFactory()
        orders = [_order(n, text) for n, text in enumerate(AWKWARD_TEXT)]
        lines = [_line(n) for n in range(len(AWKWARD_TEXT))]
        upsert_rows([*orders, *lines], connection_id=conn.pk, tenant_id=conn.tenant_id)
        # JSON that is not an object or an array: the Python value it is read as
        for source_id, value in [("txn_0", "=1+1"), ("txn_1", "-3"), ("txn_2", True), ("txn_3", 7), ("txn_4", "")]:
            PayoutLine.objects.filter(source_id=source_id).update(fee_details=value)
    return tenant_a.tenant


def _download(rows, columns, *, use_copy: bool) -> bytes:
    response = csv_response(rows, columns, "t", use_copy=use_copy)
    return b"".join(response.streaming_content)


@pytest.mark.parametrize(("model", "include_raw"), [(Order, True), (PayoutLine, True), (PayoutLine, False)])
def test_the_copy_export_is_the_python_export_byte_for_byte(tenant, in_tenant, model, include_raw):
    with in_tenant(tenant):
        rows = model.objects.order_by("-source_created_at", "source_id")
        columns = table_columns(model, include_raw=include_raw)
        assert exports.copy_select(rows, columns) is not None  # the table is written by COPY

        by_copy = _download(rows, columns, use_copy=True)
        by_python = _download(rows, columns, use_copy=False)

    assert by_copy == by_python
    parsed = list(csv.reader(io.StringIO(by_copy.decode(), newline="")))
    assert len(parsed) == 1 + len(AWKWARD_TEXT)


def test_every_awkward_value_reads_back_as_written(tenant, in_tenant):
    with in_tenant(tenant):
        body = _download(Order.objects.order_by("source_id"), table_columns(Order, include_raw=True), use_copy=True)

    text = body.decode()
    assert text.startswith("id,dedupe_key,source,source_id,connection_id,")
    cells = {row["source_id"]: row for row in csv.DictReader(io.StringIO(text, newline=""))}
    by_number = {row["order_number"] for row in cells.values()}
    assert {"'=SUM(A1:A9)", "'+33 1 23", "'@import", "'\tTabbed", "'\rcarriage", "'-"} <= by_number
    assert {"-12", "+7.50", "-0.12", "-12\n", "'-12\n\n", 'say "hi"', "a,b", "line\nbreak"} <= by_number
    assert "ünïcødé 日本語 🧾" in by_number
    one = cells["gid://shopify/Order/1"]
    assert one["total_minor"] == "-500"
    assert one["cancelled"] == "False"
    assert one["source_created_at"] == "2024-01-05 10:00:01.123456+00:00"
    assert cells["gid://shopify/Order/2"]["source_created_at"] == "2024-01-05 10:00:02.500000+00:00"
    assert cells["gid://shopify/Order/3"]["source_created_at"] == ""  # NULL
    assert cells["gid://shopify/Order/4"]["source_created_at"] == "2024-01-05 10:00:04+00:00"
    assert cells["gid://shopify/Order/5"]["source_updated_at"] == "1999-12-31 23:59:59.999999+00:00"
    assert cells["gid://shopify/Order/1"]["financial_status"] == ""  # '' written bare, as NULL is
    assert '"metadata": {"list": [1, -2, 0.5, null, true, false, "ü"]' in one["raw_data"]


def test_the_two_deliberate_differences_are_numbers_written_positionally(tenant, in_tenant):
    # Python's Decimal wrote a rate under 0.000001 in exponent notation, and a JSON number went
    # through a float; COPY writes what PostgreSQL holds. A spreadsheet reads the same number.
    with in_tenant(tenant):
        PayoutLine.objects.filter(source_id="txn_1").update(exchange_rate=Decimal("0"))
        PayoutLine.objects.filter(source_id="txn_2").update(exchange_rate=Decimal("0.0000001"))
        with db.cursor() as cursor:
            cursor.execute("UPDATE canonical_payoutline SET fee_details = '[1.50, 1e-7]' WHERE source_id = 'txn_3'")
        rows = PayoutLine.objects.filter(source_id__in=["txn_1", "txn_2", "txn_3"]).order_by("source_id")
        columns = ["source_id", "exchange_rate", "fee_details"]

        by_copy = _download(rows, columns, use_copy=True).decode()
        by_python = _download(rows, columns, use_copy=False).decode()

    assert by_copy.splitlines()[1:] == [
        "txn_1,0.000000000000,-3",
        "txn_2,0.000000100000,True",
        'txn_3,999999999999.000000000001,"[1.50, 0.0000001]"',
    ]
    assert by_python.splitlines()[1:] == [
        "txn_1,0E-12,-3",
        "txn_2,1.00000E-7,True",
        'txn_3,999999999999.000000000001,"[1.5, 1e-07]"',
    ]


def test_a_large_export_streams_in_pieces_and_a_dropped_download_frees_the_connection(tenant, in_tenant):
    with in_tenant(tenant):
        conn = ConnectionFactory()
        lines = [_line(n, source_order_id="x" * 200) for n in range(100, 1600)]
        upsert_rows(lines, connection_id=conn.pk, tenant_id=conn.tenant_id)
        rows = PayoutLine.objects.order_by("source_id")
        pieces = list(csv_response(rows, table_columns(PayoutLine), "lines").streaming_content)

        assert len(pieces) > 5  # not one buffer
        assert all(len(piece) < exports.CHUNK_BYTES + 4096 for piece in pieces)
        assert all(piece.endswith(b"\r\n") for piece in pieces)  # whole lines
        assert b"".join(pieces) == _download(rows, table_columns(PayoutLine), use_copy=False)

        # The client goes away in the middle of the COPY: the server closes the response, which
        # ends the COPY, and the connection answers again.
        dropped = csv_response(rows, table_columns(PayoutLine), "lines")
        body = iter(dropped.streaming_content)
        next(body), next(body)
        request_finished.disconnect(close_old_connections)  # as the test client does: keep the test's transaction
        try:
            dropped.close()
        finally:
            request_finished.connect(close_old_connections)
        assert PayoutLine.objects.count() == 1500 + len(AWKWARD_TEXT)


def test_the_api_export_is_the_tenants_rows_filtered_and_ordered_as_asked(tenant, tenant_b, in_tenant, api_as, worlds):
    with in_tenant(tenant_b.tenant):
        conn = ConnectionFactory()
        upsert_rows([_order(900, "#B-900")], connection_id=conn.pk, tenant_id=conn.tenant_id)
    client = api_as(worlds["a"].accountant, tenant)

    response = client.get("/api/v1/tables/orders/", {"format": "csv", "ordering": "source_id", "source": "shopify"})
    refused = client.get("/api/v1/tables/orders/", {"format": "csv", "created_after": "last week"})

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="orders.csv"'
    listed = [row["source_id"] for row in csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))]
    assert listed == sorted(f"gid://shopify/Order/{n}" for n in range(len(AWKWARD_TEXT)))  # none of tenant B's
    assert refused.status_code == 400
    assert list(refused.json()) == ["created_after"]
