"""The postings page over the Django test client: drafts and failures first, approved and
retried in place through the services (queued for the posting worker), by role."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditEvent
from conftest import signed_in as signed_in_as
from netsuite.models import NetsuitePosting, PostingState
from netsuite.services import postings_after_recon
from netsuite.tests.factories import PayoutSpec, queued_posting_ids, reconcile, write_payouts


@pytest.fixture
def postings(posting):  # type: ignore[no-untyped-def]
    """Three reconciled payouts of tenant A with draft postings; po_pg_3's failed, po_pg_2's posted."""
    write_payouts(posting.stripe, PayoutSpec("po_pg_1"), PayoutSpec("po_pg_2"), PayoutSpec("po_pg_3"))
    reconcile()
    postings_after_recon()
    NetsuitePosting.objects.filter(source_id="po_pg_2").update(state=PostingState.POSTED, netsuite_internal_id="901")
    NetsuitePosting.objects.filter(source_id="po_pg_3").update(
        state=PostingState.FAILED, last_error="NetSuite: the accounting period is closed"
    )
    return {p.source_id: p for p in NetsuitePosting.objects.all()}


def signed_in(role: str) -> Client:
    return signed_in_as(f"{role}@acme.example.com")


def test_page_lists_what_to_act_on_first_and_filters(postings) -> None:  # type: ignore[no-untyped-def]
    client = signed_in("accountant")

    page = client.get("/postings/").content.decode()
    posted = client.get("/postings/", {"state": "posted"}, HTTP_HX_REQUEST="true").content.decode()
    bad = client.get("/postings/", {"state": "lost"}).content.decode()

    assert "2 postings" in page
    assert "po_pg_1" in page
    assert "the accounting period is closed" in page
    assert "po_pg_2" not in page
    assert "Approve</button>" in page
    assert "<html" not in posted
    assert "journal 901" in posted
    assert "Select a valid choice" in bad


def test_postings_filter_by_arrival_as_a_month_close_links_them(postings) -> None:  # type: ignore[no-untyped-def]
    client = signed_in("accountant")
    left = {"state": ["draft", "approved", "sending", "failed"]}

    november = client.get("/postings/", {**left, "arrival_after": "2026-11-01", "arrival_before": "2026-11-30"})
    october = client.get("/postings/", {**left, "arrival_after": "2026-10-01", "arrival_before": "2026-10-31"})

    assert "2 postings" in november.content.decode()  # the three arrived 2026-11-03; one is posted
    assert 'type="date" name="arrival_after" value="2026-11-01"' in november.content.decode()
    assert "0 postings" in october.content.decode()


def test_postings_say_their_processor_in_words_and_filter_by_it_as_the_api_does(postings, tenant_a, api_as) -> None:  # type: ignore[no-untyped-def]
    NetsuitePosting.objects.filter(source_id="po_pg_3").update(source="shopify")  # as a Shopify payout's entry
    client = signed_in("accountant")

    page = client.get("/postings/").content.decode()
    shopify = client.get("/postings/", {"source": "shopify"}, HTTP_HX_REQUEST="true").content.decode()
    api = api_as(tenant_a.accountant, tenant_a.tenant).get("/api/v1/postings/", {"source": "shopify"})

    assert "<th>Processor</th>" in page
    assert "<td>Stripe</td>" in page
    assert "<td>Shopify Payments</td>" in page
    assert '<option value="" selected>Any processor</option>' in page
    assert '<option value="" selected>Any kind</option>' in page
    assert "---------" not in page
    assert '<option value="shopify">Shopify Payments</option>' in page
    assert "1 posting" in shopify
    assert "po_pg_3" in shopify
    assert "po_pg_1" not in shopify
    # the page and the API filter alike
    assert [row["source_id"] for row in api.json()["results"]] == ["po_pg_3"]


def test_accountant_approves_a_draft_in_place(postings, posting, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    draft = postings["po_pg_1"]

    with django_capture_on_commit_callbacks(execute=True):
        row = signed_in("accountant").post(f"/postings/{draft.pk}/approve/", HTTP_HX_REQUEST="true")

    draft.refresh_from_db()
    assert draft.state == PostingState.APPROVED
    assert draft.approved_by_email == "accountant@acme.example.com"
    assert queued_posting_ids(posting.tenant.pk) == [str(draft.pk)]
    assert "Approved: it is being sent." in row.content.decode()
    assert AuditEvent.objects.get(target_id=str(draft.pk), action="netsuite.posting_approved").actor_email == (
        "accountant@acme.example.com"
    )


def test_retry_is_for_admins(postings, posting, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    failed = postings["po_pg_3"]

    refused = signed_in("accountant").post(f"/postings/{failed.pk}/retry/", HTTP_HX_REQUEST="true")
    failed.refresh_from_db()
    assert refused.status_code == 403
    assert failed.state == PostingState.FAILED

    with django_capture_on_commit_callbacks(execute=True):
        row = signed_in("admin").post(f"/postings/{failed.pk}/retry/", HTTP_HX_REQUEST="true").content.decode()
    failed.refresh_from_db()
    assert failed.state == PostingState.APPROVED
    assert "Queued to be sent again." in row
    assert queued_posting_ids(posting.tenant.pk) == [str(failed.pk)]


def test_viewer_reads_but_cannot_act(postings) -> None:  # type: ignore[no-untyped-def]
    client = signed_in("viewer")
    draft = postings["po_pg_1"]

    page = client.get("/postings/").content.decode()
    response = client.post(f"/postings/{draft.pk}/approve/")

    assert "po_pg_1" in page
    assert "Approve</button>" not in page
    assert response.status_code == 403
    draft.refresh_from_db()
    assert draft.state == PostingState.DRAFT


def test_what_cannot_be_done_is_said_in_the_row(postings) -> None:  # type: ignore[no-untyped-def]
    client = signed_in("owner")
    posted = postings["po_pg_2"]

    again = client.post(f"/postings/{posted.pk}/approve/", HTTP_HX_REQUEST="true").content.decode()
    unknown = client.post(f"/postings/{posted.pk}/delete/", HTTP_HX_REQUEST="true").content.decode()

    assert 'role="alert"' in again
    assert "Unknown action &#x27;delete&#x27;" in unknown
    posted.refresh_from_db()
    assert posted.state == PostingState.POSTED
    assert client.post("/postings/00000000-0000-0000-0000-000000000000/approve/").status_code == 404


def _csv(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    import csv
    import io

    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "text/csv"
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_postings_download_as_filtered_on_the_page(postings) -> None:  # type: ignore[no-untyped-def]
    client = signed_in("accountant")

    first = _csv(client.get("/postings/", {"format": "csv"}))  # the page's default: drafts and failures
    posted = _csv(client.get("/postings/", {"state": "posted", "format": "csv"}))
    page = client.get("/postings/").content.decode()

    assert sorted((r["payout"], r["state"]) for r in first) == [("po_pg_1", "draft"), ("po_pg_3", "failed")]
    failed = next(r for r in first if r["payout"] == "po_pg_3")
    assert failed["last_error"] == "NetSuite: the accounting period is closed"
    assert (failed["amount"], failed["currency"]) == (
        f"{postings['po_pg_3'].amount_minor / 100:.2f}", postings["po_pg_3"].currency)  # fmt: skip
    assert [(r["payout"], r["netsuite_journal"]) for r in posted] == [("po_pg_2", "901")]
    assert 'format=csv" download>Download CSV' in page


def test_postings_download_needs_the_export_right_and_good_filters(postings) -> None:  # type: ignore[no-untyped-def]
    viewer = signed_in("viewer")

    refused = viewer.get("/postings/", {"format": "csv"})
    bad = signed_in("accountant").get("/postings/", {"state": "lost", "format": "csv"})

    assert refused.status_code == 403
    assert "Download CSV" not in viewer.get("/postings/").content.decode()
    assert bad.status_code == 400
    assert bad.content.decode().startswith("Bad filter: state:")


def test_lists_of_postings_read_no_credentials_nor_exchanges(postings, posting, api_as) -> None:  # type: ignore[no-untyped-def]
    # The page, its CSV and the API list every posting: none of them decrypts the connection's
    # credentials for each row, nor reads each posting's request, response and exchanges (the
    # detail shows those, and still does).
    from django.db import connection as db

    client = signed_in("accountant")
    api = api_as(posting.world.accountant, posting.tenant)
    failed = postings["po_pg_3"]
    NetsuitePosting.objects.filter(pk=failed.pk).update(response={"status": 400, "body": "period closed"})
    sent: list[str] = []

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        sent.append(sql)
        return execute(sql, params, many, context)

    with db.execute_wrapper(record):
        page = client.get("/postings/").content.decode()
        download = b"".join(client.get("/postings/", {"format": "csv"}).streaming_content).decode()
        listed = api.get("/api/v1/postings/").json()
    detail = api.get(f"/api/v1/postings/{failed.pk}/").json()

    assert "po_pg_1" in page
    assert "po_pg_3" in download
    assert {p["source_id"] for p in listed["results"]} == {"po_pg_1", "po_pg_2", "po_pg_3"}
    assert detail["response"] == {"status": 400, "body": "period closed"}
    reads = [sql for sql in sent if "netsuite_netsuiteposting" in sql]
    assert len(reads) >= 3
    assert not [sql for sql in reads if '"credentials"' in sql], "a connection's credentials were read per row"
    assert not [sql for sql in reads if '"exchanges"' in sql], "each posting's exchanges were read"
    assert not [sql for sql in reads if '"canonical_payout"."raw_data"' in sql], "a payout's payload was read"


def test_a_payout_page_says_where_its_entry_stands_and_leads_to_it_and_back(postings) -> None:  # type: ignore[no-untyped-def]
    client = signed_in("accountant")
    posted, failed = postings["po_pg_2"], postings["po_pg_3"]

    page = client.get(f"/recon/payouts/{posted.payout_id}/").content.decode()
    failed_page = client.get(f"/recon/payouts/{failed.payout_id}/").content.decode()
    listed = client.get("/postings/", {"payout": str(posted.payout_id)}).content.decode()

    assert '<span class="status status-posted">Posted</span>' in page
    assert "journal 901" in page
    assert f'<a href="/postings/?payout={posted.payout_id}">Open this entry in Postings</a>' in page
    assert '<span class="status status-failed">Failed</span>' in failed_page
    assert "the accounting period is closed" in failed_page  # why, where it is retried
    # the link opens that payout's entry (every state), whose payout leads back to this page
    assert "1 posting" in listed
    assert "journal 901" in listed
    assert f'href="/recon/payouts/{posted.payout_id}/"' in listed
