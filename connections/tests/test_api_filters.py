"""The connections and sync jobs API lists filter as asked or say why not: a parameter a list
does not know, or a value its filter cannot read, is a 400 naming the parameter, never the
whole list."""

from __future__ import annotations

import pytest

from connections.models import SyncJob, SyncJobStatus
from connections.sync.runner import sync_start
from connections.tests.factories import ConnectionFactory
from recon.tests import test_api_schema

documented = test_api_schema.documented  # checks an answer against what the schema says of it

JOBS = "/api/v1/jobs/"
CONNECTIONS = "/api/v1/connections/"


@pytest.fixture
def jobs(tenant_a, in_tenant):
    """One queued job on the EU connection and one failed on the US one."""
    with in_tenant(tenant_a.tenant):
        eu, us = ConnectionFactory(name="Stripe EU"), ConnectionFactory(name="Stripe US")
        queued = sync_start(connection=eu, enqueue=False)
        failed = sync_start(connection=us, enqueue=False)
        SyncJob.objects.filter(pk=failed.pk).update(status=SyncJobStatus.FAILED)
    return {"eu": eu, "us": us, "queued": queued, "failed": failed}


@pytest.fixture
def client(tenant_a, api_as):
    return api_as(tenant_a.viewer, tenant_a.tenant)


def test_a_misspelt_jobs_filter_is_400_naming_it_and_the_filters_there_are(jobs, client):
    response = client.get(JOBS, {"statuss": "failed", "page_size": "10"})

    assert response.status_code == 400
    assert response.json() == {"statuss": ["Unknown filter. This list filters by: connection, status."]}


def test_the_jobs_filters_still_filter_and_page(jobs, client):
    def ids(**query):
        response = client.get(JOBS, query)
        assert response.status_code == 200, response.content
        return [job["id"] for job in response.json()["results"]]

    assert ids(status="failed", page="1", page_size="10") == [str(jobs["failed"].pk)]
    assert ids(connection=str(jobs["eu"].pk)) == [str(jobs["queued"].pk)]
    assert ids(connection=str(jobs["us"].pk), status="queued") == []


@pytest.mark.parametrize(("name", "value"), [("connection", "abc"), ("status", "lost")])
def test_a_jobs_filter_value_it_cannot_read_is_400_naming_it(jobs, client, name, value):
    response = client.get(JOBS, {name: value})

    assert response.status_code == 400
    assert list(response.json()) == [name]


def test_a_jobs_filter_given_empty_or_twice_is_400_naming_it(jobs, client):
    # a script whose connection id was missing must not be answered every connection's jobs
    empty = client.get(JOBS, {"connection": ""})
    twice = client.get(JOBS, {"status": ["queued", "failed"]})

    assert (empty.status_code, empty.json()) == (
        400,
        {"connection": ["connection is empty: give it a value, or leave it out."]},
    )
    assert (twice.status_code, twice.json()) == (400, {"status": ["status takes one value, and was given 2."]})


def test_the_connections_list_takes_no_filters_and_says_so(jobs, client):
    response = client.get(CONNECTIONS, {"provider": "shopify"})

    assert response.status_code == 400
    assert response.json() == {"provider": ["Unknown filter. This list takes no filters."]}
    assert {c["name"] for c in client.get(CONNECTIONS).json()} == {"Stripe EU", "Stripe US"}


def test_the_connections_list_is_not_paged_and_says_so(jobs, client):
    # it answers every connection at once: a client asking for page 2 would get them all again
    response = client.get(CONNECTIONS, {"page": "2"})

    assert response.status_code == 400
    assert response.json() == {"page": ["This list is not paged: it answers all its rows at once."]}


def test_the_schema_documents_what_the_lists_answer(jobs, client, documented):
    calls = [  # path, query, the status it answers
        (JOBS, {"status": "failed"}, 200),
        (JOBS, {"statuss": "failed"}, 400),
        (JOBS, {"connection": "abc"}, 400),
        (CONNECTIONS, {}, 200),
        (CONNECTIONS, {"provider": "shopify"}, 400),
    ]
    for path, query, status in calls:
        response = client.get(path, query)
        assert response.status_code == status, (path, query, response.content)
        documented("get", path, response)
