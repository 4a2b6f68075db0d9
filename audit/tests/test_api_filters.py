"""The audit log's API list filters as asked or says why not: a parameter it does not know, or a
value its filter cannot read, is a 400 naming the parameter, never the whole log."""

from __future__ import annotations

import pytest

from audit.services import audit_record

LOG = "/api/v1/audit/"
FILTERS = "action, actor_email, correlation_id, created_after, created_before, outcome, target_id, target_type"


@pytest.fixture
def log(tenant_a, in_tenant, api_as):
    with in_tenant(tenant_a.tenant):
        audit_record(action="filters.kept", actor=tenant_a.admin)
        audit_record(action="filters.failed", actor=tenant_a.owner, outcome="failure")
    return api_as(tenant_a.owner, tenant_a.tenant)


def test_an_unknown_parameter_is_400_naming_it_and_the_filters_there_are(log):
    response = log.get(LOG, {"action": "filters.", "outcomes": "failure", "page_size": "10"})

    assert response.status_code == 400
    assert response.json() == {"outcomes": [f"Unknown filter. This list filters by: {FILTERS}."]}


def test_the_known_filters_still_filter_and_page(log):
    response = log.get(LOG, {"action": "filters.", "outcome": "failure", "page": "1", "page_size": "10"})

    assert response.status_code == 200
    assert [event["action"] for event in response.json()["results"]] == ["filters.failed"]


@pytest.mark.parametrize(
    ("name", "value"),
    [("outcome", "maybe"), ("created_after", "yesterday"), ("created_before", "2026-02-30T00:00:00Z")],
)
def test_a_value_the_filter_cannot_read_is_400_naming_it(log, name, value):
    response = log.get(LOG, {"action": "filters.", name: value})

    assert response.status_code == 400
    assert list(response.json()) == [name]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"outcome": ""}, "outcome is empty: give it a value, or leave it out."),
        ({"outcome": ["success", "failure"]}, "outcome takes one value, and was given 2."),
        ({"page_size": " "}, "page_size is empty: give it a value, or leave it out."),
    ],
)
def test_an_empty_or_repeated_parameter_is_400_naming_it(log, query, message):
    # empty, it would filter nothing; repeated, all but one value would be dropped unsaid
    response = log.get(LOG, {"action": "filters.", **query})

    assert response.status_code == 400
    assert response.json() == {next(iter(query)): [message]}


def test_one_event_is_read_whatever_its_query_string(log, tenant_a, in_tenant):
    # a detail read selects nothing by its query string (a cache buster, say): only lists refuse one
    with in_tenant(tenant_a.tenant):
        event = audit_record(action="filters.one", actor=tenant_a.owner)

    response = log.get(f"{LOG}{event.pk}/", {"_": "1718000000"})

    assert (response.status_code, response.json()["action"]) == (200, "filters.one")
