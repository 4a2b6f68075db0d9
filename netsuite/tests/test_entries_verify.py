"""Does NetSuite still hold what was posted? Each entry posted with a date in a month looked up
in the NetSuite sandbox over real HTTP (one SuiteQL query per 500 entries) and compared, account
by account in the entry's currency, with what was sent.

Hand-computed: po_v_1 and po_v_2 are each one 100.00 USD charge with a 3.20 fee, arriving
2026-11-03. Each entry: bank (101) +96.80, clearing (110) -100.00, fees (601) +3.20 (debit
positive). A NetSuite user then deletes po_v_1's entry, and moves 0.20 of po_v_2's fees to the
bank line: bank 97.00, fees 3.00.
"""

from __future__ import annotations

import html
from datetime import date
from decimal import Decimal

import httpx
import pytest

from audit.models import AuditEvent
from conftest import signed_in
from netsuite.models import NetsuitePosting, PostingKind
from netsuite.services import posted_entries_verify, posting_approve, posting_send, postings_after_recon
from netsuite.tests.factories import PayoutSpec, reconcile, write_payouts

VERIFY = "/api/v1/netsuite/entries/verify/"
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))


def _posted(posting, *source_ids: str) -> dict[str, NetsuitePosting]:  # type: ignore[no-untyped-def]
    write_payouts(posting.stripe, *(PayoutSpec(source_id) for source_id in source_ids))
    reconcile()
    postings_after_recon()
    posted = {}
    for source_id in source_ids:
        draft = NetsuitePosting.objects.get(source_id=source_id, kind=PostingKind.PAYOUT)
        approved = posting_approve(posting=draft, actor=posting.world.accountant)
        posted[source_id] = posting_send(posting_id=approved.pk, client=posting.client())
        assert posted[source_id].state == "posted"
    return posted


def _edit_in_netsuite(posting, entry: NetsuitePosting) -> None:  # type: ignore[no-untyped-def]
    store, journal = posting.sandbox.app.store, int(entry.netsuite_internal_id)
    store.edit_journal_line(journal, 0, debit=Decimal("97.00"), credit=None)  # the bank line
    store.edit_journal_line(journal, 2, debit=Decimal("3.00"), credit=None)  # the fees line


def test_every_entry_held_as_sent(posting) -> None:  # type: ignore[no-untyped-def]
    _posted(posting, "po_v_1", "po_v_2")

    result = posted_entries_verify(actor=posting.world.accountant, first=NOVEMBER[0], last=NOVEMBER[1])

    assert (result.entries, result.held, result.drift, result.not_checked) == (2, 2, (), 0)


def test_an_entry_deleted_and_one_edited_in_netsuite_are_named_with_the_accounts_that_moved(posting) -> None:  # type: ignore[no-untyped-def]
    posted = _posted(posting, "po_v_1", "po_v_2")
    posting.sandbox.app.store.delete_journal(int(posted["po_v_1"].netsuite_internal_id))
    _edit_in_netsuite(posting, posted["po_v_2"])

    result = posted_entries_verify(actor=posting.world.accountant, first=NOVEMBER[0], last=NOVEMBER[1])

    assert (result.entries, result.held) == (2, 0)
    drift = {d.posting.source_id: d for d in result.drift}
    assert (drift["po_v_1"].status, drift["po_v_1"].accounts) == ("missing", ())
    assert drift["po_v_2"].status == "changed"
    assert [(a.account_id, a.sent_minor, a.held_minor) for a in drift["po_v_2"].accounts] == [
        ("101", 9680, 9700),
        ("601", 320, 300),
    ]
    event = AuditEvent.objects.get(action="netsuite.entries_verified")
    assert (event.outcome, event.detail["entries"], event.detail["held"]) == ("success", 2, 0)
    assert {d["status"] for d in event.detail["drift"]} == {"missing", "changed"}


def test_an_entry_moved_to_another_date_in_netsuite_is_named_with_both_dates(posting) -> None:  # type: ignore[no-untyped-def]
    posted = _posted(posting, "po_v_1", "po_v_2")
    posting.sandbox.app.store.redate_journal(int(posted["po_v_2"].netsuite_internal_id), "2026-12-01")

    result = posted_entries_verify(actor=posting.world.accountant, first=NOVEMBER[0], last=NOVEMBER[1])
    page = html.unescape(
        signed_in("accountant@acme.example.com")
        .post("/close/netsuite-check/", {"month": "2026-11"}, HTTP_HX_REQUEST="true")
        .content.decode()
    )

    assert (result.entries, result.held) == (2, 1)
    [moved] = result.drift
    assert (moved.posting.source_id, moved.status, moved.accounts) == ("po_v_2", "changed", ())
    assert (moved.sent_date, moved.held_date) == ("2026-11-03", "2026-12-01")  # out of November's books
    assert '<td>date</td><td class="num">2026-11-03</td><td class="num">2026-12-01</td>' in page


def test_the_page_names_the_accounts_that_moved_after_a_mapping_check(posting) -> None:  # type: ignore[no-untyped-def]
    from netsuite.services import gl_mapping_check

    posted = _posted(posting, "po_v_1")
    _edit_in_netsuite(posting, posted["po_v_1"])
    gl_mapping_check(actor=posting.world.admin, mapping=posting.mapping)

    page = html.unescape(
        signed_in("accountant@acme.example.com")
        .post("/close/netsuite-check/", {"month": "2026-11"}, HTTP_HX_REQUEST="true")
        .content.decode()
    )

    assert '<td>1000 Operating Bank (id 101)</td><td class="num">96.80 USD</td><td class="num">97.00 USD</td>' in page
    assert (
        '<td>6100 Merchant Processing Fees (id 601)</td><td class="num">3.20 USD</td><td class="num">3.00 USD</td>'
    ) in page


def test_entries_of_another_month_and_drafts_are_not_looked_up(posting) -> None:  # type: ignore[no-untyped-def]
    _posted(posting, "po_v_1")
    write_payouts(posting.stripe, PayoutSpec("po_v_draft"))
    reconcile()
    postings_after_recon()
    calls = posting.sandbox.app.stats()["calls"].get("suiteql", 0)

    october = posted_entries_verify(actor=posting.world.accountant, first=date(2026, 10, 1), last=date(2026, 10, 31))
    november = posted_entries_verify(actor=posting.world.accountant, first=NOVEMBER[0], last=NOVEMBER[1])

    assert (october.entries, october.held, october.drift) == (0, 0, ())
    assert (november.entries, november.held) == (1, 1)  # the draft is not in NetSuite: not counted
    assert posting.sandbox.app.stats()["calls"].get("suiteql", 0) == calls + 2  # dates, then lines; October: nothing


def test_the_api_answers_the_comparison_for_a_month(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    posted = _posted(posting, "po_v_1", "po_v_2")
    _edit_in_netsuite(posting, posted["po_v_2"])

    answer = api_as(posting.world.viewer, posting.world.tenant).post(VERIFY, {"month": "2026-11"}, format="json")

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["month"], body["first_day"], body["last_day"]) == ("2026-11", "2026-11-01", "2026-11-30")
    assert (body["entries"], body["held"], body["not_checked"]) == (2, 1, 0)
    assert body["drift"] == [
        {
            "posting": str(posted["po_v_2"].pk),
            "kind": "payout",
            "payout": str(posted["po_v_2"].payout_id),
            "source": "stripe",
            "source_id": "po_v_2",
            "external_id": posted["po_v_2"].external_id,
            "netsuite_internal_id": posted["po_v_2"].netsuite_internal_id,
            "currency": "USD",
            "status": "changed",
            "sent_date": "2026-11-03",
            "held_date": "2026-11-03",
            "accounts": [
                {"account_id": "101", "sent_minor": 9680, "held_minor": 9700},
                {"account_id": "601", "sent_minor": 320, "held_minor": 300},
            ],
        }
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "month"), ({"month": "2026-13"}, "month"), ({"month": "nov"}, "month"), ({"month": "2026-11", "x": 1}, "x")],
)
def test_bad_input_is_a_400_naming_the_field_and_asks_nothing_of_netsuite(posting, api_as, body, field) -> None:  # type: ignore[no-untyped-def]
    answer = api_as(posting.world.accountant, posting.world.tenant).post(VERIFY, body, format="json")

    assert answer.status_code == 400
    assert field in answer.json()
    assert posting.sandbox.app.stats()["calls"].get("suiteql", 0) == 0


def test_a_failing_netsuite_is_a_502_with_its_status(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    _posted(posting, "po_v_1")
    httpx.post(f"{posting.sandbox.url}/__sandbox__/faults", json={"kind": "503", "count": 50}).raise_for_status()
    try:
        answer = api_as(posting.world.accountant, posting.world.tenant).post(VERIFY, {"month": "2026-11"})
    finally:
        httpx.delete(f"{posting.sandbox.url}/__sandbox__/faults").raise_for_status()

    assert answer.status_code == 502
    assert (answer.json()["code"], "503" in answer.json()["detail"]) == ("netsuite_error", True)
    assert AuditEvent.objects.filter(action="netsuite.entries_verified", outcome="failure").count() == 1


def test_the_close_page_compares_the_month_with_netsuite_on_request(posting) -> None:  # type: ignore[no-untyped-def]
    posted = _posted(posting, "po_v_1", "po_v_2")
    posting.sandbox.app.store.delete_journal(int(posted["po_v_1"].netsuite_internal_id))
    browser = signed_in("accountant@acme.example.com")

    page = html.unescape(browser.get("/close/", {"month": "2026-11"}).content.decode())
    fragment = html.unescape(
        browser.post("/close/netsuite-check/", {"month": "2026-11"}, HTTP_HX_REQUEST="true").content.decode()
    )
    whole = html.unescape(browser.post("/close/netsuite-check/", {"month": "2026-11"}).content.decode())
    october = browser.post("/close/netsuite-check/", {"month": "2026-10"}, HTTP_HX_REQUEST="true").content.decode()

    assert "Compare with NetSuite" in page
    assert "Of the 2 entries posted with a date in 2026-11, NetSuite holds 1 as sent." in fragment
    assert "po_v_1" in fragment
    assert "deleted in NetSuite" in fragment
    assert "<html" not in fragment  # the section alone, swapped into the page
    assert "No entry posted with a date in 2026-10 to compare." in october
    assert "<html" in whole
    assert "Of the 2 entries posted with a date in 2026-11, NetSuite holds 1 as sent." in whole


def test_an_unusable_netsuite_connection_is_a_400_naming_it(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    from connections.models import Connection

    _posted(posting, "po_v_1")
    connection = Connection.objects.get(pk=posting.netsuite.pk)
    connection.account_id = ""
    connection.save()
    calls = posting.sandbox.app.stats()["calls"].get("suiteql", 0)

    answer = api_as(posting.world.accountant, posting.world.tenant).post(VERIFY, {"month": "2026-11"})

    assert answer.status_code == 400
    assert answer.json()["code"] == "netsuite_config"
    assert "needs an account id" in answer.json()["connection"][0]
    assert posting.sandbox.app.stats()["calls"].get("suiteql", 0) == calls  # nothing was sent
