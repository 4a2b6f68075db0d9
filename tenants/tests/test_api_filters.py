"""The members list takes no filters: a query parameter is a 400 naming it, not every member
(``?role=viewer`` answering the owners too, to a script that removes what it lists)."""

from __future__ import annotations

from recon.tests import test_api_schema

MEMBERS = "/api/v1/users/"

documented = test_api_schema.documented  # checks an answer against what the schema says of it


def test_a_filter_on_the_members_list_is_400_naming_it(tenant_a, api_as):
    client = api_as(tenant_a.admin, tenant_a.tenant)

    response = client.get(MEMBERS, {"role": "viewer"})

    assert response.status_code == 400
    assert response.json() == {"role": ["Unknown filter. This list takes no filters."]}


def test_the_members_list_is_not_paged_and_says_so(tenant_a, api_as):
    response = api_as(tenant_a.admin, tenant_a.tenant).get(MEMBERS, {"page_size": "2"})

    assert response.status_code == 400
    assert response.json() == {"page_size": ["This list is not paged: it answers all its rows at once."]}


def test_without_a_query_it_lists_every_member(tenant_a, api_as):
    response = api_as(tenant_a.admin, tenant_a.tenant).get(MEMBERS)

    assert response.status_code == 200
    assert {m["role"] for m in response.json()} == {"owner", "admin", "accountant", "viewer"}


def test_the_schema_documents_the_refusal(tenant_a, api_as, documented):
    response = api_as(tenant_a.admin, tenant_a.tenant).get(MEMBERS, {"role": "viewer"})

    assert response.status_code == 400
    documented("get", MEMBERS, response)
