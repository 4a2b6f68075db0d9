"""The postings and GL mappings API lists filter as asked or say why not: a parameter a list
does not know, or a value its filter cannot read, is a 400 naming the parameter, never the
whole list (which a script approving what it lists would approve entirely)."""

from __future__ import annotations

from datetime import date

import pytest

from netsuite.filters import PostingFilter
from netsuite.services import postings_after_recon
from netsuite.tests.factories import PayoutSpec, reconcile, write_payouts
from recon.tests import test_api_schema

documented = test_api_schema.documented  # checks an answer against what the schema says of it

MAPPINGS = "/api/v1/netsuite/mappings/"
POSTINGS = "/api/v1/postings/"
POSTING_FILTERS = (
    "arrival_after, arrival_before, connection, error_code, external_id, kind, ordering, payout, source, "
    "source_id, state"
)


@pytest.fixture
def client(posting, api_as):  # type: ignore[no-untyped-def]
    """A viewer of tenant A, whose payouts of 2 and 9 November have draft postings."""
    early, late = PayoutSpec("po_early", arrival=date(2026, 11, 2)), PayoutSpec("po_late", arrival=date(2026, 11, 9))
    write_payouts(posting.stripe, early, late)
    reconcile()
    postings_after_recon()
    return api_as(posting.world.viewer, posting.tenant)


def _source_ids(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.content
    return [row["source_id"] for row in response.json()["results"]]


def test_a_misspelt_postings_filter_is_400_naming_it_and_the_filters_there_are(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get(POSTINGS, {"statuss": "failed", "page_size": "10"})

    assert response.status_code == 400
    assert response.json() == {"statuss": [f"Unknown filter. This list filters by: {POSTING_FILTERS}."]}


def test_the_postings_filters_ordering_and_paging_still_work(client) -> None:  # type: ignore[no-untyped-def]
    assert _source_ids(client.get(POSTINGS, {"arrival_after": "2026-11-05"})) == ["po_late"]
    assert _source_ids(client.get(POSTINGS, {"state": "draft", "ordering": "arrival_date"})) == ["po_early", "po_late"]
    assert _source_ids(client.get(POSTINGS, {"ordering": "-arrival_date", "page": "2", "page_size": "1"})) == [
        "po_early"
    ]
    assert _source_ids(client.get(POSTINGS, {"state": "failed"})) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("state", "lost"),
        ("kind", "refund"),
        ("error_code", "teapot"),
        ("payout", "po_early"),
        ("connection", "12"),
        ("arrival_after", "2026-02-30"),
        ("arrival_before", "next week"),
        ("ordering", "amount"),
    ],
)
def test_a_postings_filter_value_it_cannot_read_is_400_naming_it(client, name, value) -> None:  # type: ignore[no-untyped-def]
    response = client.get(POSTINGS, {name: value})

    assert response.status_code == 400
    assert list(response.json()) == [name]


def test_a_postings_filter_given_empty_or_twice_is_400_but_a_multiple_one_takes_each(client) -> None:  # type: ignore[no-untyped-def]
    empty = client.get(POSTINGS, {"payout": ""})
    twice = client.get(POSTINGS, {"kind": ["payout", "reversal"]})
    states = client.get(POSTINGS, {"state": ["draft", "posted"], "ordering": "arrival_date"})

    assert (empty.status_code, empty.json()) == (
        400,
        {"payout": ["payout is empty: give it a value, or leave it out."]},
    )
    assert (twice.status_code, twice.json()) == (400, {"kind": ["kind takes one value, and was given 2."]})
    assert _source_ids(states) == ["po_early", "po_late"]


def test_a_misspelt_mappings_filter_is_400_naming_it_and_the_filters_there_are(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get(MAPPINGS, {"subsidiary": "1"})

    assert response.status_code == 400
    assert response.json() == {
        "subsidiary": ["Unknown filter. This list filters by: connection, netsuite_connection, subsidiary_id."]
    }


def test_the_mappings_filters_still_filter(client, posting) -> None:  # type: ignore[no-untyped-def]
    def ids(**query):  # type: ignore[no-untyped-def]
        response = client.get(MAPPINGS, query)
        assert response.status_code == 200, response.content
        return [mapping["id"] for mapping in response.json()]

    mine = [str(posting.mapping.pk)]
    assert ids(connection=str(posting.stripe.pk), subsidiary_id="1") == mine
    assert ids(netsuite_connection=str(posting.netsuite.pk)) == mine
    assert ids(connection=str(posting.netsuite.pk)) == []
    assert ids(subsidiary_id="2") == []


@pytest.mark.parametrize(("name", "value"), [("connection", "stripe"), ("netsuite_connection", "1")])
def test_a_mappings_filter_value_it_cannot_read_is_400_naming_it(client, name, value) -> None:  # type: ignore[no-untyped-def]
    response = client.get(MAPPINGS, {name: value})

    assert response.status_code == 400
    assert list(response.json()) == [name]


def test_the_mappings_list_is_not_paged_and_says_so(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get(MAPPINGS, {"page": "2"})

    assert response.status_code == 400
    assert response.json() == {"page": ["This list is not paged: it answers all its rows at once."]}


def test_the_schema_documents_the_lists_filters_pages_and_refusals(client, documented) -> None:  # type: ignore[no-untyped-def]
    calls = [  # path, query, the status it answers
        (POSTINGS, {"state": "draft", "page_size": "1"}, 200),
        (POSTINGS, {"statuss": "failed"}, 400),
        (POSTINGS, {"arrival_after": "2026-02-30"}, 400),
        (POSTINGS, {"page": "9"}, 404),
        (MAPPINGS, {"subsidiary_id": "1"}, 200),
        (MAPPINGS, {"subsidiary": "1"}, 400),
    ]
    for path, query, status in calls:
        response = client.get(path, query)
        assert response.status_code == status, (path, query, response.content)
        documented("get", path, response)

    def parameters(path: str) -> set[str]:
        return {p["name"] for p in documented.schema["paths"][path]["get"]["parameters"] if p["in"] == "query"}

    assert parameters(POSTINGS) == {*PostingFilter.base_filters, "page", "page_size"}
    assert parameters(MAPPINGS) == {"connection", "netsuite_connection", "subsidiary_id"}
