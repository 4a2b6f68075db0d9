"""The console pages over the Django test client: connections, jobs, data tables, audit."""

from __future__ import annotations

import pytest

from audit.services import audit_record
from canonical.tests.factories import payout_line_row
from canonical.upsert import upsert_rows
from conftest import signed_in
from connections.services import connection_create


@pytest.fixture
def console(tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        conn = connection_create(
            actor=tenant_a.admin,
            name="Stripe EU",
            provider="stripe",
            credentials={"api_key": "sk_test_PageSecret_abcd1234"},
        )
        upsert_rows(
            [payout_line_row(f"txn_{i}", payout="po_1", amount=1000 + i) for i in range(60)],
            connection_id=conn.pk,
            tenant_id=conn.tenant_id,
        )
        audit_record(action="test.visible_event", actor=tenant_a.owner)
    return conn


def test_connections_page_lists_without_secrets(console, tenant_a):
    page = signed_in("admin@acme.example.com").get("/connections/").content.decode()
    assert "Stripe EU" in page
    assert "PageSecret" not in page
    assert "Sync now" in page


def test_viewer_sees_connections_but_no_actions(console, tenant_a):
    page = signed_in("viewer@acme.example.com").get("/connections/").content.decode()
    assert "Stripe EU" in page
    assert "Sync now" not in page
    assert "hx-post" not in page


def test_sync_button_queues_a_job_and_the_row_polls(console, tenant_a):
    client = signed_in("admin@acme.example.com")
    row = client.post(f"/connections/{console.pk}/sync/", HTTP_HX_REQUEST="true").content.decode()
    assert "Queued" in row
    assert 'hx-trigger="every 1s"' in row  # live progress while it runs
    assert "Queued" in client.get("/jobs/").content.decode()


def test_jobs_filter_by_connection_and_refuse_a_bad_one_by_name(console, tenant_a, api_as):
    client = signed_in("admin@acme.example.com")
    client.post(f"/connections/{console.pk}/sync/", HTTP_HX_REQUEST="true")
    api = api_as(tenant_a.admin, tenant_a.tenant)

    page = client.get("/jobs/", {"connection": str(console.pk)}).content.decode()
    other = client.get("/jobs/", {"connection": "00000000-0000-0000-0000-000000000001"}).content.decode()
    bad_page = client.get("/jobs/", {"connection": "abc"})
    listed = api.get("/api/v1/jobs/", {"connection": str(console.pk), "status": "queued"}).json()["results"]
    bad_api = api.get("/api/v1/jobs/", {"connection": "abc", "status": "lost"})

    assert "Stripe EU" in page
    assert f"/jobs/?connection={console.pk}" in page  # the live refresh keeps the filter
    assert "Stripe EU" not in other
    assert bad_page.status_code == 400
    assert "connection: Enter a valid UUID." in bad_page.content.decode()
    assert [job["connection"] for job in listed] == [str(console.pk)]
    assert bad_api.status_code == 400
    assert set(bad_api.json()) == {"connection", "status"}


def test_jobs_say_their_kind_and_trigger_in_words(console, tenant_a, in_tenant, api_as):
    from connections.models import SyncJob

    client = signed_in("admin@acme.example.com")
    client.post(f"/connections/{console.pk}/sync/", HTTP_HX_REQUEST="true")  # a first sync, from the page
    with in_tenant(tenant_a.tenant):
        SyncJob.objects.create(connection=console, kind="targeted", trigger="webhook", target_ids=["po_1"])

    page = client.get("/jobs/").content.decode()
    api = api_as(tenant_a.admin, tenant_a.tenant).get("/api/v1/jobs/").json()["results"]

    assert "<td>Backfill (first sync)</td><td>Connections page</td>" in page
    assert "<td>Targeted (objects a webhook named)</td><td>Webhook</td>" in page
    assert "<td>backfill</td>" not in page
    assert "<td>webhook</td>" not in page
    # the API keeps the codes
    assert sorted((job["kind"], job["trigger"]) for job in api) == [("backfill", "page"), ("targeted", "webhook")]


def test_viewer_cannot_sync(console, tenant_a):
    assert signed_in("viewer@acme.example.com").post(f"/connections/{console.pk}/sync/").status_code == 403


def test_data_page_filters_sorts_paginates_and_partial(console, tenant_a):
    client = signed_in("accountant@acme.example.com")

    full = client.get("/data/", {"table": "payout_lines"}).content.decode()
    filtered = client.get("/data/", {"table": "payout_lines", "source_id": "txn_7"}).content.decode()
    partial = client.get("/data/", {"table": "payout_lines", "sort": "source_id"}, HTTP_HX_REQUEST="true")

    assert "60 rows" in full
    assert "10.07 USD" in filtered  # 1007 minor units of USD, shown exactly
    assert "1 rows" in filtered
    assert "<html" not in partial.content.decode()  # htmx gets the table only
    assert "txn_0" in partial.content.decode()


def test_payouts_are_filtered_by_status_method_and_automatic_from_dropdowns(console, tenant_a, in_tenant):
    # A controller picks "in transit" or "instant" from a list, not by guessing the stored word.
    from recon.tests.factories import payout_row

    with in_tenant(tenant_a.tenant):
        upsert_rows(
            [
                payout_row("po_paid", 1000),
                payout_row("po_on_its_way", 2000, status="in_transit"),
                payout_row("po_instant", 3000, method="instant", automatic=False),
            ],
            connection_id=console.pk,
            tenant_id=console.tenant_id,
        )
    client = signed_in("accountant@acme.example.com")

    page = client.get("/data/", {"table": "payouts"}).content.decode()
    on_its_way = client.get("/data/", {"table": "payouts", "status": "in_transit"}).content.decode()
    by_hand = client.get("/data/", {"table": "payouts", "method": "instant", "automatic": "false"}).content.decode()

    assert '<option value="in_transit">in transit</option>' in page
    assert '<option value="instant">instant</option>' in page
    assert '<option value="false">No</option>' in page
    assert '<option value="in_transit" selected>in transit</option>' in on_its_way
    assert ("po_on_its_way" in on_its_way, "po_paid" in on_its_way) == (True, False)
    assert "1 rows" in by_hand
    assert "po_instant" in by_hand
    assert '<option value="false" selected>No</option>' in by_hand


def test_data_page_dropdowns_offer_any_not_dashes(console, tenant_a, api_as):
    client = signed_in("accountant@acme.example.com")

    page = client.get("/data/", {"table": "payout_lines"}).content.decode()
    stripe = client.get("/data/", {"table": "payout_lines", "source": "stripe", "connection": str(console.pk)})
    api = api_as(tenant_a.accountant, tenant_a.tenant).get("/api/v1/tables/payout_lines/", {"source": "shopify"})

    assert "---------" not in page
    assert '<option value="" selected>Any processor</option>' in page
    assert '<option value="" selected>All connections</option>' in page
    assert "60 rows" in stripe.content.decode()  # choosing still filters as before
    assert api.json()["count"] == 0


def test_data_page_csv_export_streams_rows(console, tenant_a):
    response = signed_in("accountant@acme.example.com").get("/data/", {"table": "payout_lines", "format": "csv"})
    body = b"".join(response.streaming_content).decode()
    lines = body.strip().splitlines()
    assert response["Content-Type"] == "text/csv"
    assert len(lines) == 61
    assert "amount_minor" in lines[0]


def test_data_page_csv_follows_the_pages_sort(console, tenant_a):
    import csv
    import io

    client = signed_in("accountant@acme.example.com")
    rows = {}
    for sort in ("amount_minor", "-amount_minor"):
        response = client.get("/data/", {"table": "payout_lines", "sort": sort, "format": "csv"})
        rows[sort] = [
            int(r["amount_minor"]) for r in csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
        ]

    assert rows["amount_minor"] == sorted(rows["amount_minor"])
    assert rows["-amount_minor"] == sorted(rows["amount_minor"], reverse=True)
    assert rows["amount_minor"] != rows["-amount_minor"]


def test_data_page_csv_writes_json_values_as_json(console, tenant_a):
    import csv
    import io
    import json

    response = signed_in("accountant@acme.example.com").get(
        "/data/", {"table": "payout_lines", "source_id": "txn_7", "format": "csv"}
    )
    [row] = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))

    assert isinstance(json.loads(row["fee_details"]), list)


def test_data_page_csv_with_a_bad_filter_is_a_400_not_an_empty_file(console, tenant_a):
    response = signed_in("accountant@acme.example.com").get(
        "/data/", {"table": "payout_lines", "created_after": "abc", "format": "csv"}
    )

    assert response.status_code == 400
    assert response.content.decode() == "Bad filter: created_after: Enter a valid date/time."


def test_data_page_names_the_tables_when_asked_for_one_that_does_not_exist(console, tenant_a):
    response = signed_in("accountant@acme.example.com").get("/data/", {"table": "invoices"})

    assert response.status_code == 404
    assert "There is no table &#x27;invoices&#x27;; the tables are " in response.content.decode()


def test_data_page_bad_filter_is_shown_not_crashed(console, tenant_a):
    response = signed_in("accountant@acme.example.com").get("/data/", {"table": "payouts", "created_after": "nope"})
    assert response.status_code == 200
    assert "created_after" in response.content.decode()


def test_audit_page_for_accountants_not_viewers(console, tenant_a):
    assert "test.visible_event" in signed_in("accountant@acme.example.com").get("/audit/").content.decode()
    assert signed_in("viewer@acme.example.com").get("/audit/").status_code == 403


def test_pages_never_show_another_tenants_rows(console, tenant_b):
    client = signed_in("owner@beta.example.com")
    assert "Stripe EU" not in client.get("/connections/").content.decode()
    assert "0 rows" in client.get("/data/", {"table": "payout_lines"}).content.decode()
    assert client.post(f"/connections/{console.pk}/sync/").status_code == 404


def test_table_filters_refuse_values_they_do_not_understand(tenant_a, in_tenant, api_as):
    from datetime import date

    from recon.tests.factories import connection, order_row, payout_row, write

    with in_tenant(tenant_a.tenant):
        conn = connection()
        write(conn, order_row("o_kept", total=1000), order_row("o_cancelled", total=500, cancelled=True),
              payout_row("po_1", 1000, arrival=date(2024, 1, 8)))  # fmt: skip
    api = api_as(tenant_a.accountant, tenant_a.tenant)

    def refs(**query):
        return sorted(row["source_id"] for row in api.get("/api/v1/tables/orders/", query).json()["results"])

    bad = {
        field: api.get("/api/v1/tables/orders/", {field: value})
        for field, value in (("cancelled", "abc"), ("format", "xml"), ("include_raw", "maybe"))
    }
    numeric = api.get("/api/v1/tables/orders/", {"cancelled": "2"})
    page = signed_in("accountant@acme.example.com").get("/data/", {"table": "orders", "cancelled": "abc"})

    assert refs(cancelled="true") == ["o_cancelled"]
    assert refs(cancelled="False") == ["o_kept"]
    assert refs() == ["o_cancelled", "o_kept"]
    for field, response in bad.items():
        assert (response.status_code, list(response.json())) == (400, [field])
    assert (numeric.status_code, numeric.json()) == (400, {"cancelled": ["Enter true or false."]})
    assert "Enter true or false." in page.content.decode()
    assert "o_kept" not in page.content.decode()
    payouts = signed_in("accountant@acme.example.com").get("/data/", {"table": "payouts"}).content.decode()
    assert "2024-01-08" in payouts  # ISO, like every other date on the pages
