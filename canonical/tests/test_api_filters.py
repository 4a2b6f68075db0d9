"""The canonical tables API filters as asked or says why not: a parameter a table does not take,
or a value its filter cannot read, is a 400 naming the parameter, never the whole table."""

from __future__ import annotations

from datetime import date

import pytest

from recon.tests import test_api_schema
from recon.tests.factories import connection, payout_row, write

TABLES = "/api/v1/tables/"
PAYOUTS = "/api/v1/tables/payouts/"
PAYOUT_FILTERS = (
    "arrival_after, arrival_before, automatic, connection, created_after, created_before, currency, method, "
    "ordering, source, source_id, status"
)

documented = test_api_schema.documented  # checks an answer against what the schema says of it


@pytest.fixture
def client(tenant_a, in_tenant, api_as):
    """An accountant of tenant A, which has an automatic payout on 8 January and a manual one on the 15th."""
    with in_tenant(tenant_a.tenant):
        write(
            connection(),
            payout_row("po_auto", 1000, arrival=date(2024, 1, 8)),
            payout_row("po_manual", 2000, arrival=date(2024, 1, 15), automatic=False),
        )
    return api_as(tenant_a.accountant, tenant_a.tenant)


def _source_ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["source_id"] for row in response.json()["results"]]


def _csv(response) -> str:
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content).decode()


def test_a_misspelt_filter_is_400_naming_it_and_what_the_table_takes(client):
    response = client.get(PAYOUTS, {"arrival_from": "2024-01-10", "page_size": "10"})

    assert response.status_code == 400
    assert response.json() == {
        "arrival_from": [f"Unknown filter. This list filters by: {PAYOUT_FILTERS}. It also takes: format, include_raw."]
    }


def test_the_filters_ordering_paging_and_options_still_work(client):
    assert _source_ids(client.get(PAYOUTS, {"arrival_after": "2024-01-10"})) == ["po_manual"]
    assert _source_ids(client.get(PAYOUTS, {"automatic": "true", "include_raw": "false"})) == ["po_auto"]
    assert _source_ids(client.get(PAYOUTS, {"ordering": "source_id", "page": "2", "page_size": "1"})) == ["po_manual"]
    export = _csv(client.get(PAYOUTS, {"format": "csv", "status": "paid", "arrival_before": "2024-01-10"}))
    assert "po_auto" in export
    assert "po_manual" not in export


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("connection", "abc"),
        ("connection", "00000000-0000-0000-0000-000000000001"),  # no such connection in this tenant
        ("source", "paypal"),
        ("automatic", "maybe"),
        ("arrival_after", "2024-02-30"),
        ("created_before", "last week"),
        ("ordering", "amount"),
        ("format", "xml"),
        ("include_raw", "2"),
    ],
)
def test_a_value_the_table_cannot_read_is_400_naming_it(client, name, value):
    response = client.get(PAYOUTS, {name: value})

    assert response.status_code == 400
    assert list(response.json()) == [name]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"source_id": " "}, "source_id is empty: give it a value, or leave it out."),
        ({"format": ["json", "csv"]}, "format takes one value, and was given 2."),
        (
            {"ordering": ["source_id", "-created"]},
            "ordering takes one value (several as one, separated by commas), and was given 2.",
        ),
        ({"page_size": ""}, "page_size is empty: give it a value, or leave it out."),
    ],
)
def test_an_empty_or_repeated_parameter_is_400_naming_it(client, query, message):
    response = client.get(PAYOUTS, query)

    assert response.status_code == 400
    assert response.json() == {next(iter(query)): [message]}


def test_a_csv_export_is_not_paged_and_says_so(client):
    # the export streams every row: a page asked of it would be silently the whole table
    response = client.get(PAYOUTS, {"format": "csv", "page": "2"})

    assert response.status_code == 400
    assert response.json() == {"page": ["A CSV export holds every row: it is not paged."]}


def test_an_unknown_table_is_404_whatever_its_query(client):
    response = client.get(f"{TABLES}bogus/", {"arrival_from": "2024-01-10"})

    assert response.status_code == 404


def test_the_list_of_tables_takes_no_filters_and_says_so(client):
    refused = client.get(TABLES, {"table": "payouts"})
    listed = client.get(TABLES)

    assert refused.status_code == 400
    assert refused.json() == {"table": ["Unknown filter. This list takes no filters."]}
    assert listed.status_code == 200
    assert "payouts" in [table["table"] for table in listed.json()]


def test_the_schema_documents_what_the_tables_answer(client, documented):
    one = f"{TABLES}{{table}}/"
    calls = [  # documented path, path, query, the status it answers
        (TABLES, TABLES, {}, 200),
        (TABLES, TABLES, {"table": "payouts"}, 400),
        (one, PAYOUTS, {"automatic": "true"}, 200),
        (one, PAYOUTS, {"arrival_from": "2024-01-10"}, 400),
        (one, PAYOUTS, {"automatic": "maybe"}, 400),
        (one, f"{TABLES}bogus/", {}, 404),
    ]
    for documented_path, path, query, status in calls:
        response = client.get(path, query)
        assert response.status_code == status, (path, query, response.content)
        documented("get", documented_path, response)
