"""Approving (or retrying) many postings at once, from the API and the postings page: each one
checked, queued and audited as if approved alone; what cannot be done is said per posting."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from audit.models import AuditEvent
from conftest import signed_in
from netsuite.models import NetsuitePosting, PostingState
from netsuite.services import postings_after_recon
from netsuite.tests.factories import PayoutSpec, queued_posting_ids, reconcile, write_payouts


@pytest.fixture
def month_end(posting):  # type: ignore[no-untyped-def]
    """Four reconciled payouts with draft postings (po_bk_3 arrived in October); po_bk_4's is posted already."""
    write_payouts(
        posting.stripe,
        PayoutSpec("po_bk_1"),
        PayoutSpec("po_bk_2", charges=(20000,)),
        PayoutSpec("po_bk_3", arrival=date(2026, 10, 30)),
        PayoutSpec("po_bk_4"),
    )
    reconcile()
    postings_after_recon()
    NetsuitePosting.objects.filter(source_id="po_bk_4").update(state=PostingState.POSTED, netsuite_internal_id="901")
    return {p.source_id: p for p in NetsuitePosting.objects.all()}


def ids(*rows: NetsuitePosting) -> list[str]:
    return [str(row.pk) for row in rows]


def test_a_page_of_drafts_is_approved_in_one_request_each_queued_and_audited(
    month_end, posting, api_as, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    p = month_end
    client = api_as(posting.world.accountant, posting.tenant)

    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            "/api/v1/postings/bulk/",
            {"action": "approve", "ids": ids(p["po_bk_1"], p["po_bk_2"], p["po_bk_3"], p["po_bk_4"])},
            format="json",
        )

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["changed"] == ids(p["po_bk_3"], p["po_bk_1"], p["po_bk_2"])  # in arrival order
    assert body["skipped"] == [
        {
            "id": str(p["po_bk_4"].pk),
            "payout": "po_bk_4",
            "code": "invalid_state",
            "reason": "Only a draft can be approved; this posting is posted.",
        }
    ]
    states = dict(NetsuitePosting.objects.values_list("source_id", "state"))
    assert states == {
        "po_bk_1": PostingState.APPROVED,
        "po_bk_2": PostingState.APPROVED,
        "po_bk_3": PostingState.APPROVED,
        "po_bk_4": PostingState.POSTED,
    }
    assert sorted(queued_posting_ids(posting.tenant.pk)) == sorted(body["changed"])
    approvals = AuditEvent.objects.filter(action="netsuite.posting_approved")
    assert sorted(approvals.values_list("target_id", flat=True)) == sorted(body["changed"])
    assert set(approvals.values_list("actor_email", flat=True)) == {posting.world.accountant.email}


def test_a_posting_that_cannot_be_approved_does_not_hold_back_the_others(month_end, posting, api_as) -> None:  # type: ignore[no-untyped-def]
    from recon.models import MonthClose

    p = month_end
    MonthClose.objects.create(month=date(2026, 10, 1), closed_by_email="controller@acme.example.com")

    answer = api_as(posting.world.accountant, posting.tenant).post(
        "/api/v1/postings/bulk/", {"action": "approve", "ids": ids(p["po_bk_1"], p["po_bk_3"])}, format="json"
    )

    assert answer.status_code == 200, answer.content
    assert answer.json()["changed"] == ids(p["po_bk_1"])
    [skipped] = answer.json()["skipped"]
    assert (skipped["payout"], skipped["code"]) == ("po_bk_3", "month_closed")
    assert "2026-10 is closed" in skipped["reason"]
    states = dict(NetsuitePosting.objects.values_list("source_id", "state"))
    assert (states["po_bk_1"], states["po_bk_3"]) == (PostingState.APPROVED, PostingState.DRAFT)


def test_an_id_of_no_posting_here_refuses_the_whole_request(month_end, posting, api_as, tenant_b) -> None:  # type: ignore[no-untyped-def]
    p = month_end
    stranger = str(uuid.uuid4())

    answer = api_as(posting.world.accountant, posting.tenant).post(
        "/api/v1/postings/bulk/", {"action": "approve", "ids": [*ids(p["po_bk_1"]), stranger]}, format="json"
    )

    assert answer.status_code == 404
    assert stranger in answer.json()["ids"][0]
    assert NetsuitePosting.objects.get(pk=p["po_bk_1"].pk).state == PostingState.DRAFT
    assert not AuditEvent.objects.filter(action="netsuite.posting_approved").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "approve", "ids": []}, "ids"),
        ({"action": "approve", "ids": ["not-an-id"]}, "ids"),
        ({"action": "approve", "ids": "all"}, "ids"),
        ({"action": "approve"}, "ids"),
        ({"action": "delete", "ids": [str(uuid.uuid4())]}, "action"),
        ({"action": "approve", "ids": [str(uuid.uuid4())], "state": "draft"}, "state"),
        ({"action": "approve", "ids": [str(uuid.uuid4())] * 501}, "ids"),
    ],
    ids=["empty", "bad-id", "not-a-list", "no-ids", "unknown-action", "unknown-field", "too-many"],
)
def test_bad_bulk_requests_say_what_is_wrong_and_do_nothing(month_end, posting, api_as, body, field) -> None:  # type: ignore[no-untyped-def]
    answer = api_as(posting.world.accountant, posting.tenant).post("/api/v1/postings/bulk/", body, format="json")

    assert answer.status_code == 400, answer.content
    assert field in answer.json()
    assert set(NetsuitePosting.objects.values_list("state", flat=True)) == {PostingState.DRAFT, PostingState.POSTED}


def test_each_bulk_action_needs_its_own_right(month_end, posting, api_as) -> None:  # type: ignore[no-untyped-def]
    p = month_end
    NetsuitePosting.objects.filter(pk=p["po_bk_1"].pk).update(state=PostingState.FAILED, last_error="NetSuite: down")

    retry_as_accountant = api_as(posting.world.accountant, posting.tenant).post(
        "/api/v1/postings/bulk/", {"action": "retry", "ids": ids(p["po_bk_1"])}, format="json"
    )
    approve_as_viewer = api_as(posting.world.viewer, posting.tenant).post(
        "/api/v1/postings/bulk/", {"action": "approve", "ids": ids(p["po_bk_2"])}, format="json"
    )
    retry_as_admin = api_as(posting.world.admin, posting.tenant).post(
        "/api/v1/postings/bulk/", {"action": "retry", "ids": ids(p["po_bk_1"], p["po_bk_2"])}, format="json"
    )

    assert (retry_as_accountant.status_code, approve_as_viewer.status_code) == (403, 403)
    assert retry_as_admin.status_code == 200
    assert retry_as_admin.json()["changed"] == ids(p["po_bk_1"])
    assert [s["code"] for s in retry_as_admin.json()["skipped"]] == [
        "invalid_state"
    ]  # a draft is approved, not retried
    states = dict(NetsuitePosting.objects.values_list("source_id", "state"))
    assert (states["po_bk_1"], states["po_bk_2"]) == (PostingState.APPROVED, PostingState.DRAFT)


def test_the_postings_page_approves_the_ticked_drafts_and_says_what_it_left(
    month_end, posting, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    p = month_end
    client = signed_in(posting.world.accountant.email)

    page = client.get("/postings/").content.decode()
    assert page.count('name="ids"') == 3  # a box on each draft shown, none on what cannot be approved
    assert "Approve ticked" in page
    assert "Retry ticked" not in page  # an accountant does not retry
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            "/postings/bulk/",
            {"action": "approve", "ids": ids(p["po_bk_1"], p["po_bk_4"]), "query": "state=draft"},
            HTTP_HX_REQUEST="true",
        ).content.decode()
    nothing = client.post("/postings/bulk/", {"action": "approve", "query": "state=draft"}, HTTP_HX_REQUEST="true")

    assert "1 approved: they are being sent. 1 left as they were: po_bk_4: Only a draft can be approved" in answer
    assert "<html" not in answer
    assert "2 postings" in answer  # the list as it was filtered: the drafts left
    assert NetsuitePosting.objects.get(pk=p["po_bk_1"].pk).state == PostingState.APPROVED
    assert queued_posting_ids(posting.tenant.pk) == ids(p["po_bk_1"])
    assert "Tick the postings to act on first." in nothing.content.decode()


def test_a_viewer_sees_no_boxes_and_cannot_act_in_bulk(month_end, posting) -> None:  # type: ignore[no-untyped-def]
    p = month_end
    client = signed_in(posting.world.viewer.email)

    page = client.get("/postings/").content.decode()
    refused = client.post("/postings/bulk/", {"action": "approve", "ids": ids(p["po_bk_1"])})

    assert 'name="ids"' not in page
    assert "Approve ticked" not in page
    assert refused.status_code == 403
    assert NetsuitePosting.objects.get(pk=p["po_bk_1"].pk).state == PostingState.DRAFT
