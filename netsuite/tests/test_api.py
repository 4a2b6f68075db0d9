"""The NetSuite API: GL mappings, postings (approve, retry), SuiteQL and the posting mode.

The permission matrix is tested both ways (allowed and refused) per role; bad input is a
400 naming the field; another tenant's ids are 404 like missing ones; secrets never
appear in a response.
"""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest

from netsuite.models import GlMapping, NetsuitePosting, PostingState
from netsuite.services import posting_approve, posting_send, postings_after_recon
from netsuite.tests.conftest import make_posting_world
from netsuite.tests.factories import PayoutSpec, queued_posting_ids, reconcile, write_payouts

MAPPINGS = "/api/v1/netsuite/mappings/"
POSTINGS = "/api/v1/postings/"
SUITEQL = "/api/v1/netsuite/suiteql/"
SETTINGS = "/api/v1/netsuite/settings/"


@pytest.fixture
def drafts(posting):  # type: ignore[no-untyped-def]
    """Two reconciled payouts of tenant A with draft postings."""
    write_payouts(posting.stripe, PayoutSpec("po_api_1"), PayoutSpec("po_api_2", charges=(20000,), refunds=((0, 500),)))
    reconcile()
    postings_after_recon()
    return {p.source_id: p for p in NetsuitePosting.objects.all()}


@pytest.fixture
def other_tenant(tenant_b, in_tenant, sandbox_factory):  # type: ignore[no-untyped-def]
    """Tenant B with its own mapping and a posting (created inside B's context)."""
    with in_tenant(tenant_b.tenant):
        world = make_posting_world(tenant_b, sandbox_factory())
        write_payouts(world.stripe, PayoutSpec("po_b_only"))
        reconcile()
        postings_after_recon()
        return {
            "mapping": world.mapping,
            "posting": NetsuitePosting.objects.get(source_id="po_b_only"),
            "netsuite": world.netsuite,
            "stripe": world.stripe,
        }


def as_role(api_as, posting, role: str):  # type: ignore[no-untyped-def]
    return api_as(posting.world.user(role), posting.tenant)


def mapping_body(posting, **overrides):  # type: ignore[no-untyped-def]
    from connections.services import connection_create

    other = connection_create(actor=None, name="Shop", provider="shopify", credentials={"access_token": "shpat_x"})
    body = {
        "connection": str(other.pk),
        "netsuite_connection": str(posting.netsuite.pk),
        "subsidiary_id": "2",
        "bank_account": "101",
        "clearing_account": "110",
        "currency_ids": {"USD": "1"},
    }
    body.update(overrides)
    return body


# ------------------------------------------------------------------------ permission matrix


@pytest.mark.parametrize("role", ["owner", "admin", "accountant", "viewer"])
def test_every_role_reads_mappings_and_postings(posting, drafts, api_as, role) -> None:  # type: ignore[no-untyped-def]
    client = as_role(api_as, posting, role)

    mappings = client.get(MAPPINGS)
    postings = client.get(POSTINGS)

    assert mappings.status_code == 200
    assert [m["id"] for m in mappings.json()] == [str(posting.mapping.pk)]
    assert postings.status_code == 200
    assert postings.json()["count"] == 2
    assert client.get(f"{POSTINGS}{drafts['po_api_1'].pk}/").status_code == 200
    assert client.get(SETTINGS).json() == {"posting_mode": "approval"}


@pytest.mark.parametrize(("role", "status"), [("owner", 201), ("admin", 201), ("accountant", 403), ("viewer", 403)])
def test_creating_a_mapping(posting, api_as, role, status) -> None:  # type: ignore[no-untyped-def]
    response = as_role(api_as, posting, role).post(MAPPINGS, mapping_body(posting), format="json")

    assert response.status_code == status
    assert GlMapping.objects.count() == (2 if status == 201 else 1)
    if status == 201:
        created = response.json()
        assert created["subsidiary_id"] == "2"
        assert created["bank_account"] == "101"
        assert created["refunds_account"] == ""
        assert created["currency_ids"] == {"USD": "1"}


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("accountant", 403), ("viewer", 403)])
def test_changing_a_mapping(posting, api_as, role, status) -> None:  # type: ignore[no-untyped-def]
    response = as_role(api_as, posting, role).patch(
        f"{MAPPINGS}{posting.mapping.pk}/", {"refunds_account": "402"}, format="json"
    )

    assert response.status_code == status
    posting.mapping.refresh_from_db()
    assert posting.mapping.refunds_account == ("402" if status == 200 else "401")


@pytest.mark.parametrize(("role", "status"), [("admin", 204), ("accountant", 403), ("viewer", 403)])
def test_deleting_a_mapping(posting, api_as, role, status) -> None:  # type: ignore[no-untyped-def]
    response = as_role(api_as, posting, role).delete(f"{MAPPINGS}{posting.mapping.pk}/")

    assert response.status_code == status
    assert GlMapping.objects.filter(pk=posting.mapping.pk).exists() == (status != 204)


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("accountant", 200), ("viewer", 403)])
def test_approving(posting, drafts, api_as, django_capture_on_commit_callbacks, role, status) -> None:  # type: ignore[no-untyped-def]
    draft = drafts["po_api_1"]

    with django_capture_on_commit_callbacks(execute=True):
        response = as_role(api_as, posting, role).post(f"{POSTINGS}{draft.pk}/approve/")

    assert response.status_code == status
    draft.refresh_from_db()
    if status == 200:
        assert response.json()["state"] == "approved"
        assert draft.approved_by_email == posting.world.user(role).email
        assert queued_posting_ids(posting.tenant.pk) == [str(draft.pk)]
    else:
        assert draft.state == PostingState.DRAFT
        assert queued_posting_ids(posting.tenant.pk) == []


@pytest.mark.parametrize(("role", "status"), [("owner", 202), ("admin", 202), ("accountant", 403), ("viewer", 403)])
def test_retrying(posting, drafts, api_as, role, status) -> None:  # type: ignore[no-untyped-def]
    draft = drafts["po_api_1"]
    NetsuitePosting.objects.filter(pk=draft.pk).update(state=PostingState.FAILED, last_error="NetSuite 503")

    response = as_role(api_as, posting, role).post(f"{POSTINGS}{draft.pk}/retry/")

    assert response.status_code == status
    draft.refresh_from_db()
    assert draft.state == (PostingState.APPROVED if status == 202 else PostingState.FAILED)


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("accountant", 403), ("viewer", 403)])
def test_suiteql_permission(posting, api_as, role, status) -> None:  # type: ignore[no-untyped-def]
    body = {"connection": str(posting.netsuite.pk), "q": "SELECT id FROM subsidiary ORDER BY id"}
    response = as_role(api_as, posting, role).post(SUITEQL, body, format="json")

    assert response.status_code == status


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 403), ("accountant", 403), ("viewer", 403)])
def test_changing_the_posting_mode(posting, api_as, role, status) -> None:  # type: ignore[no-untyped-def]
    response = as_role(api_as, posting, role).patch(SETTINGS, {"posting_mode": "auto"}, format="json")

    assert response.status_code == status
    posting.tenant.refresh_from_db()
    assert posting.tenant.posting_mode == ("auto" if status == 200 else "approval")


def test_computing_postings_on_demand(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    write_payouts(posting.stripe, PayoutSpec("po_compute"))
    reconcile()

    refused = as_role(api_as, posting, "viewer").post(f"{POSTINGS}compute/")
    misspelt = as_role(api_as, posting, "admin").post(f"{POSTINGS}compute/", {"payout_ids": ["po_x"]}, format="json")
    response = as_role(api_as, posting, "admin").post(f"{POSTINGS}compute/")

    assert refused.status_code == 403
    assert (misspelt.status_code, misspelt.json()) == (400, {"payout_ids": ["Unknown field."]})
    assert response.status_code == 200
    assert response.json() == {"drafts": 1, "approved": 0, "reversals": 0, "skipped_reason": ""}


# -------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"connection": "not-a-uuid"}, "connection"),
        ({"bank_account": "12a"}, "bank_account"),
        ({"subsidiary_id": ""}, "subsidiary_id"),
        ({"currency_ids": {"ZZZ": "1"}}, "currency_ids"),
        ({"currency_ids": "USD"}, "currency_ids"),
    ],
)
def test_mapping_bad_input_is_400_naming_the_field(posting, api_as, overrides, field) -> None:  # type: ignore[no-untyped-def]
    response = as_role(api_as, posting, "admin").post(MAPPINGS, mapping_body(posting, **overrides), format="json")

    assert response.status_code == 400
    assert field in response.json()


def test_mapping_with_a_netsuite_connection_as_source_is_400(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    body = mapping_body(posting, connection=str(posting.netsuite.pk))

    response = as_role(api_as, posting, "admin").post(MAPPINGS, body, format="json")

    assert response.status_code == 400
    assert "connection" in response.json()


def test_duplicate_mapping_is_400(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    body = mapping_body(posting, connection=str(posting.stripe.pk), subsidiary_id="1")

    response = as_role(api_as, posting, "admin").post(MAPPINGS, body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "exists"
    assert "subsidiary_id" in response.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"q": "DELETE FROM transaction"}, "q"),
        ({"q": "SELECT id FROM account; SELECT id FROM account"}, "q"),
        ({"q": ""}, "q"),
        ({"q": "SELECT id FROM account", "limit": 0}, "limit"),
        ({"q": "SELECT id FROM account", "connection": "nope"}, "connection"),
    ],
)
def test_suiteql_bad_input_is_400_naming_the_field(posting, api_as, body, field) -> None:  # type: ignore[no-untyped-def]
    request = {"connection": str(posting.netsuite.pk), **body}

    response = as_role(api_as, posting, "admin").post(SUITEQL, request, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert posting.sandbox.app.stats()["calls"].get("suiteql", 0) == 0  # refused before NetSuite


TRUNCATED_KEY = "-----BEGIN PRIVATE KEY-----\nZm9vYmFy\n-----END PRIVATE KEY-----"


@pytest.mark.parametrize(
    ("broken", "words"),
    [
        ({"account_id": ""}, "needs an account id"),
        (
            {"credentials": {"client_id": "c", "certificate_id": "k", "private_key": TRUNCATED_KEY}},
            "private_key is not a PEM",
        ),
    ],
)
def test_suiteql_on_an_unusable_connection_is_400_naming_the_problem(posting, api_as, broken, words) -> None:  # type: ignore[no-untyped-def]
    from audit.models import AuditEvent
    from connections.models import Connection

    connection = Connection.objects.get(pk=posting.netsuite.pk)  # saved before its settings were checked
    for name, value in broken.items():
        setattr(connection, name, value)
    connection.save()
    body = {"connection": str(posting.netsuite.pk), "q": "SELECT id FROM subsidiary"}

    response = as_role(api_as, posting, "admin").post(SUITEQL, body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "netsuite_config"
    assert words in response.json()["connection"][0]
    assert "Zm9vYmFy" not in response.content.decode()  # the key material is never echoed
    assert posting.sandbox.app.stats()["calls"].get("suiteql", 0) == 0
    assert AuditEvent.objects.filter(action="netsuite.suiteql", outcome="failure").exists()


def test_suiteql_on_a_stripe_connection_is_400(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    body = {"connection": str(posting.stripe.pk), "q": "SELECT id FROM account"}

    response = as_role(api_as, posting, "admin").post(SUITEQL, body, format="json")

    assert response.status_code == 400
    assert "connection" in response.json()


def test_query_netsuite_refuses_is_400_with_its_words(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    body = {"connection": str(posting.netsuite.pk), "q": "SELECT id FROM employee"}

    response = as_role(api_as, posting, "admin").post(SUITEQL, body, format="json")

    assert response.status_code == 400
    assert "was not found" in response.json()["q"][0]


def test_posting_filters(posting, drafts, api_as) -> None:  # type: ignore[no-untyped-def]
    client = as_role(api_as, posting, "viewer")

    by_source = client.get(POSTINGS, {"source_id": "po_api_2"}).json()
    by_state = client.get(POSTINGS, {"state": "posted"}).json()
    bad = client.get(POSTINGS, {"state": "bogus"})

    assert [p["source_id"] for p in by_source["results"]] == ["po_api_2"]
    assert by_state["count"] == 0
    assert bad.status_code == 400
    assert "state" in bad.json()


def test_approving_with_an_unmapped_account_is_400_with_the_reason(posting, drafts, api_as) -> None:  # type: ignore[no-untyped-def]
    admin = as_role(api_as, posting, "admin")
    admin.patch(f"{MAPPINGS}{posting.mapping.pk}/", {"refunds_account": ""}, format="json")

    response = as_role(api_as, posting, "accountant").post(f"{POSTINGS}{drafts['po_api_2'].pk}/approve/")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "unmapped_account"
    assert "refunds" in body["detail"]
    assert "gl_mapping" in body
    detail = admin.get(f"{POSTINGS}{drafts['po_api_2'].pk}/").json()
    assert detail["state"] == "draft"
    assert detail["error_code"] == "unmapped_account"


def test_approving_twice_is_400(posting, drafts, api_as) -> None:  # type: ignore[no-untyped-def]
    client = as_role(api_as, posting, "accountant")
    assert client.post(f"{POSTINGS}{drafts['po_api_1'].pk}/approve/").status_code == 200

    again = client.post(f"{POSTINGS}{drafts['po_api_1'].pk}/approve/")

    assert again.status_code == 400
    assert again.json()["code"] == "invalid_state"


# ------------------------------------------------------------------------- tenant isolation


def test_other_tenants_mappings_and_postings_are_404(posting, drafts, other_tenant, api_as) -> None:  # type: ignore[no-untyped-def]
    owner = as_role(api_as, posting, "owner")
    mapping, foreign = other_tenant["mapping"], other_tenant["posting"]

    assert owner.get(f"{MAPPINGS}{mapping.pk}/").status_code == 404
    assert owner.patch(f"{MAPPINGS}{mapping.pk}/", {"bank_account": "1"}, format="json").status_code == 404
    assert owner.delete(f"{MAPPINGS}{mapping.pk}/").status_code == 404
    assert owner.get(f"{POSTINGS}{foreign.pk}/").status_code == 404
    assert owner.post(f"{POSTINGS}{foreign.pk}/approve/").status_code == 404
    assert owner.post(f"{POSTINGS}{foreign.pk}/retry/").status_code == 404
    assert owner.get(f"{POSTINGS}{uuid.uuid4()}/").status_code == 404
    assert [m["id"] for m in owner.get(MAPPINGS).json()] == [str(posting.mapping.pk)]
    assert {p["source_id"] for p in owner.get(POSTINGS).json()["results"]} == {"po_api_1", "po_api_2"}


def test_other_tenants_connections_cannot_be_used(posting, other_tenant, api_as) -> None:  # type: ignore[no-untyped-def]
    admin = as_role(api_as, posting, "admin")

    mapped = admin.post(
        MAPPINGS, mapping_body(posting, connection=str(other_tenant["stripe"].pk), subsidiary_id="7"), format="json"
    )
    queried = admin.post(SUITEQL, {"connection": str(other_tenant["netsuite"].pk), "q": "SELECT id FROM account"})

    assert mapped.status_code == 404
    assert mapped.json()["connection"] == [f"No connection {other_tenant['stripe'].pk} in this tenant."]
    assert queried.status_code == 404
    assert list(queried.json()) == ["detail", "code", "connection"]


def test_rls_alone_hides_other_tenants_postings_and_mappings(
    posting, drafts, other_tenant, tenant_b, in_tenant
) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection

    schema = connection.ops.quote_name(tenant_b.tenant.schema_name)
    with in_tenant(tenant_b.tenant), connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {schema}.netsuite_netsuiteposting")
        assert cursor.fetchone()[0] == 1  # the row exists, for its own tenant
    with connection.cursor() as cursor:
        # schema-qualified, from tenant A's context: only row-level security stands in the way
        cursor.execute(f"SELECT count(*) FROM {schema}.netsuite_netsuiteposting")
        postings = cursor.fetchone()[0]
        cursor.execute(f"SELECT count(*) FROM {schema}.netsuite_glmapping")
        mappings = cursor.fetchone()[0]
    assert (postings, mappings) == (0, 0)


# ---------------------------------------------------------------------- end to end, secrets


def test_approve_send_and_read_back_without_secrets(posting, drafts, api_as) -> None:  # type: ignore[no-untyped-def]
    draft = drafts["po_api_2"]
    accountant = as_role(api_as, posting, "accountant")
    assert accountant.post(f"{POSTINGS}{draft.pk}/approve/").status_code == 200
    posting_send(posting_id=draft.pk, client=posting.client())  # what the worker does

    response = accountant.get(f"{POSTINGS}{draft.pk}/")

    body = response.json()
    assert body["state"] == "posted"
    assert body["netsuite_internal_id"]
    assert body["request"]["headers"]["authorization"] == "OAuth [REDACTED]"
    assert body["response"]["status"] == 204
    text = response.content.decode()
    credentials = posting.sandbox.credentials
    for secret in (
        credentials.consumer_key,
        credentials.consumer_secret,
        credentials.token_id,
        credentials.token_secret,
    ):
        assert secret not in text
    # the same entry, seen through SuiteQL from the API
    count = as_role(api_as, posting, "admin").post(
        SUITEQL,
        {
            "connection": str(posting.netsuite.pk),
            "q": f"SELECT COUNT(*) AS n FROM transaction WHERE externalid = '{body['external_id']}'",
        },
        format="json",
    )
    assert count.json()["rows"] == [{"n": "1"}]


def test_suiteql_end_to_end_rows_warnings_truncation(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    admin = as_role(api_as, posting, "admin")

    ordered = admin.post(
        SUITEQL,
        {"connection": str(posting.netsuite.pk), "q": "SELECT id, acctnumber FROM account ORDER BY id"},
        format="json",
    ).json()
    unordered = admin.post(
        SUITEQL, {"connection": str(posting.netsuite.pk), "q": "SELECT id FROM account", "limit": 3}, format="json"
    ).json()

    assert ordered["rows"][0] == {"id": "101", "acctnumber": "1000"}
    assert ordered["count"] == ordered["total_results"] == 9
    assert (ordered["truncated"], ordered["warnings"]) == (False, [])
    assert unordered["count"] == 3
    assert unordered["truncated"] is True
    assert "max_rows=3" in unordered["truncation_reason"]
    assert "no ORDER BY" in unordered["warnings"][0]


def test_suiteql_pages_across_several_pages(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    posting.sandbox.app.store.seed_journal_entries(2500)

    result = (
        as_role(api_as, posting, "admin")
        .post(
            SUITEQL,
            {
                "connection": str(posting.netsuite.pk),
                "q": "SELECT id, tranid FROM transaction ORDER BY id",
                "limit": 2500,
            },
            format="json",
        )
        .json()
    )

    assert result["count"] == 2500
    assert len({row["id"] for row in result["rows"]}) == 2500
    assert posting.sandbox.app.stats()["calls"]["suiteql"] == 3  # 1000 + 1000 + 500


def test_suiteql_on_a_failing_netsuite_answers_within_seconds(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    # A NetSuite that keeps answering 503: the person waiting gets the error after a few quick
    # retries, not after the two minutes of backoff the worker's postings may spend.
    import time

    import httpx

    httpx.post(f"{posting.sandbox.url}/__sandbox__/faults", json={"kind": "503", "count": 50}).raise_for_status()
    served = posting.sandbox.app.faults.faults_served

    started = time.monotonic()
    answer = as_role(api_as, posting, "admin").post(
        SUITEQL, {"connection": str(posting.netsuite.pk), "q": "SELECT id FROM account ORDER BY id"}, format="json"
    )
    waited = time.monotonic() - started

    assert answer.status_code == 502
    assert answer.json()["code"] == "netsuite_error"
    assert "503" in answer.json()["detail"]
    assert waited < 15
    assert posting.sandbox.app.faults.faults_served - served == 3  # three attempts, then the error
    httpx.delete(f"{posting.sandbox.url}/__sandbox__/faults").raise_for_status()


def test_drafts_of_one_run_are_listed_newest_arrival_first(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    # One run drafts every payout at the same instant: the list then reads by arrival day, as a
    # person works through it, not by the order of their external ids.
    write_payouts(
        posting.stripe,
        PayoutSpec("po_aa_first", arrival=date(2026, 11, 2)),
        PayoutSpec("po_zz_last", arrival=date(2026, 11, 5)),
        PayoutSpec("po_mm_middle", arrival=date(2026, 11, 3)),
    )
    reconcile()
    postings_after_recon()

    listed = as_role(api_as, posting, "admin").get(POSTINGS).json()["results"]
    by_arrival = as_role(api_as, posting, "admin").get(POSTINGS, {"ordering": "arrival_date"}).json()["results"]

    assert [p["source_id"] for p in listed] == ["po_zz_last", "po_mm_middle", "po_aa_first"]
    assert [p["source_id"] for p in by_arrival] == ["po_aa_first", "po_mm_middle", "po_zz_last"]


def test_audit_records_approval_and_suiteql(posting, drafts, api_as) -> None:  # type: ignore[no-untyped-def]
    from audit.models import AuditEvent

    as_role(api_as, posting, "accountant").post(f"{POSTINGS}{drafts['po_api_1'].pk}/approve/")
    as_role(api_as, posting, "admin").post(
        SUITEQL, {"connection": str(posting.netsuite.pk), "q": "SELECT id FROM subsidiary ORDER BY id"}, format="json"
    )

    approval = AuditEvent.objects.get(action="netsuite.posting_approved")
    query = AuditEvent.objects.get(action="netsuite.suiteql")
    assert approval.actor_email == posting.world.accountant.email
    assert query.detail["query"].startswith("SELECT id FROM subsidiary")
    assert query.detail["rows"] == 2
    assert "secret" not in json.dumps(query.detail).lower()


def test_approved_in_the_api_posts_once_even_if_sent_twice(posting, drafts, api_as) -> None:  # type: ignore[no-untyped-def]
    draft = drafts["po_api_1"]
    posting_approve(posting=draft, actor=posting.world.accountant)

    posting_send(posting_id=draft.pk, client=posting.client())
    response = as_role(api_as, posting, "admin").post(f"{POSTINGS}{draft.pk}/retry/")

    assert response.status_code == 400
    assert posting.journal_count() == 1


@pytest.mark.parametrize("action", ["approve", "retry"])
def test_an_action_that_takes_no_body_refuses_one_and_changes_nothing(posting, drafts, api_as, action) -> None:  # type: ignore[no-untyped-def]
    draft = drafts["po_api_1"]
    NetsuitePosting.objects.filter(pk=draft.pk).update(state=PostingState.FAILED if action == "retry" else draft.state)
    before = NetsuitePosting.objects.filter(pk=draft.pk).values().get()

    response = as_role(api_as, posting, "admin").post(f"{POSTINGS}{draft.pk}/{action}/", {"note": "ok"}, format="json")

    assert response.status_code == 400, response.content
    assert response.json() == {"note": ["Unknown field."]}
    assert NetsuitePosting.objects.filter(pk=draft.pk).values().get() == before
    assert queued_posting_ids(posting.tenant.pk) == []
