"""A posting's journal entry, line by line, before it is approved and after it is posted: the
API (``GET /api/v1/postings/<id>/entry/``) and the payout page, against the NetSuite sandbox
over real HTTP.

Hand-computed: a payout of one 100.00 USD charge with a 3.20 fee (2.9% + 0.30) pays 96.80 to
the bank. Its entry debits the bank (101) 96.80 and the fees (601) 3.20, and credits clearing
(110) with the gross 100.00: 100.00 each side.
"""

from __future__ import annotations

import html

from conftest import signed_in
from netsuite.models import NetsuitePosting, PostingKind
from netsuite.services import gl_mapping_update, posting_approve, posting_send, postings_after_recon
from netsuite.tests.factories import PayoutSpec, fail_payout, reconcile, write_payouts

ENTRY_LINES = [
    {
        "account_id": "101",
        "account_name": "",
        "mapped_as": "bank_account",
        "memo": "Payout to bank - stripe payout po_ent_1",
        "debit_minor": 9680,
        "credit_minor": 0,
    },
    {
        "account_id": "110",
        "account_name": "",
        "mapped_as": "clearing_account",
        "memo": "Gross charges - stripe payout po_ent_1",
        "debit_minor": 0,
        "credit_minor": 10000,
    },
    {
        "account_id": "601",
        "account_name": "",
        "mapped_as": "processor_fees_account",
        "memo": "Processor fees - stripe payout po_ent_1",
        "debit_minor": 320,
        "credit_minor": 0,
    },
]


def _draft(posting, source_id: str = "po_ent_1") -> NetsuitePosting:  # type: ignore[no-untyped-def]
    write_payouts(posting.stripe, PayoutSpec(source_id))
    reconcile()
    postings_after_recon()
    return NetsuitePosting.objects.get(source_id=source_id, kind=PostingKind.PAYOUT)


def test_a_draft_shows_the_entry_approving_it_would_send_and_once_posted_what_netsuite_holds(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    draft = _draft(posting)
    client = api_as(posting.world.accountant, posting.world.tenant)

    before = client.get(f"/api/v1/postings/{draft.pk}/entry/")
    queued = posting_approve(posting=draft, actor=posting.world.accountant)
    sent = posting_send(posting_id=queued.pk, client=posting.client())
    after = client.get(f"/api/v1/postings/{draft.pk}/entry/")

    assert before.status_code == 200, before.content
    assert before.json() == {
        "posting": str(draft.pk),
        "kind": "payout",
        "state": "draft",
        "origin": "to_send",
        "external_id": draft.external_id,
        "tran_date": "2026-11-03",
        "subsidiary_id": "1",
        "currency": "USD",
        "currency_id": "1",
        "memo": "EcomOps: stripe payout po_ent_1 arriving 2026-11-03",
        "lines": ENTRY_LINES,
        "debit_minor": 10000,
        "credit_minor": 10000,
        "blocked": None,
    }
    assert sent.state == "posted"
    assert after.status_code == 200, after.content
    assert after.json() == {**before.json(), "state": "posted", "origin": "sent"}


def test_a_posted_entry_shows_what_netsuite_holds_after_the_mapping_changed(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    draft = _draft(posting)
    posting_send(posting_id=posting_approve(posting=draft, actor=posting.world.accountant).pk, client=posting.client())
    gl_mapping_update(actor=posting.world.admin, mapping=posting.mapping, bank_account="120")  # a new bank account
    second = _draft(posting, "po_ent_2")
    client = api_as(posting.world.viewer, posting.world.tenant)

    held = client.get(f"/api/v1/postings/{draft.pk}/entry/").json()
    to_send = client.get(f"/api/v1/postings/{second.pk}/entry/").json()

    assert (held["origin"], held["lines"][0]["account_id"]) == ("sent", "101")  # what was posted stays
    assert (to_send["origin"], to_send["lines"][0]["account_id"]) == ("to_send", "120")


def test_a_draft_that_cannot_be_sent_says_why_and_shows_no_lines(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    draft = _draft(posting)
    gl_mapping_update(actor=posting.world.admin, mapping=posting.mapping, processor_fees_account="")

    entry = api_as(posting.world.accountant, posting.world.tenant).get(f"/api/v1/postings/{draft.pk}/entry/").json()

    assert entry["origin"] == "blocked"
    assert entry["lines"] == []
    assert (entry["debit_minor"], entry["credit_minor"]) == (0, 0)
    assert entry["blocked"]["code"] == "unmapped_account"
    assert "processor_fees" in entry["blocked"]["detail"]
    assert NetsuitePosting.objects.get(pk=draft.pk).state == "draft"  # looking changes nothing


def test_an_unknown_or_another_tenant_s_posting_is_a_404(posting, api_as, tenant_b) -> None:  # type: ignore[no-untyped-def]
    draft = _draft(posting)

    other = api_as(tenant_b.owner, tenant_b.tenant).get(f"/api/v1/postings/{draft.pk}/entry/")
    unknown = api_as(posting.world.owner, posting.world.tenant).get(
        "/api/v1/postings/00000000-0000-0000-0000-000000000000/entry/"
    )

    assert (other.status_code, unknown.status_code) == (404, 404)
    assert other.json() == unknown.json()  # the same answer: nothing says the posting exists elsewhere


def test_the_payout_page_shows_the_entry_line_by_line_before_it_is_approved(posting) -> None:  # type: ignore[no-untyped-def]
    draft = _draft(posting)

    browser = signed_in("accountant@acme.example.com")
    page = html.unescape(browser.get(f"/recon/payouts/{draft.payout_id}/").content.decode())

    assert "Payout entry: as approving it would send it</h3>" in page
    assert "2026-11-03 · subsidiary 1 · USD (currency 1) · external id " + draft.external_id in page
    for account, mapped_as, memo, debit, credit in (
        ("101", "bank account", "Payout to bank - stripe payout po_ent_1", "96.80 USD", ""),
        ("110", "clearing account", "Gross charges - stripe payout po_ent_1", "", "100.00 USD"),
        ("601", "processor fees account", "Processor fees - stripe payout po_ent_1", "3.20 USD", ""),
    ):
        row = (
            f'<tr><td>{account} <span class="small muted">{mapped_as}</span></td><td class="small">{memo}</td>'
            f'<td class="num">{debit}</td><td class="num">{credit}</td></tr>'
        )
        assert row in page
    assert '<th colspan="2">Total</th><th class="num">100.00 USD</th><th class="num">100.00 USD</th>' in page


def test_each_row_of_the_postings_page_leads_to_its_entry(posting) -> None:  # type: ignore[no-untyped-def]
    draft = _draft(posting)

    page = signed_in("accountant@acme.example.com").get("/postings/").content.decode()

    assert f'<a href="/recon/payouts/{draft.payout_id}/#entry-payout">The entry, line by line</a>' in page


def test_the_reversal_of_a_payout_that_failed_after_posting_shows_the_bank_line_taken_back(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    draft = _draft(posting)
    posting_send(posting_id=posting_approve(posting=draft, actor=posting.world.accountant).pk, client=posting.client())
    fail_payout(posting.stripe, "po_ent_1")  # days later the bank returns the money
    reconcile()
    postings_after_recon()
    reversal = NetsuitePosting.objects.get(source_id="po_ent_1", kind=PostingKind.REVERSAL)

    entry = api_as(posting.world.accountant, posting.world.tenant).get(f"/api/v1/postings/{reversal.pk}/entry/").json()
    browser = signed_in("accountant@acme.example.com")
    page = html.unescape(browser.get(f"/recon/payouts/{draft.payout_id}/").content.decode())

    assert (entry["kind"], entry["state"], entry["origin"]) == ("reversal", "draft", "to_send")
    assert [(x["account_id"], x["debit_minor"], x["credit_minor"]) for x in entry["lines"]] == [
        ("101", 0, 9680),  # the bank line of the posted entry, credited back
        ("110", 9680, 0),  # into the processor balance (clearing)
    ]
    assert entry["memo"] == "EcomOps: reversal of failed stripe payout po_ent_1"
    assert "Payout entry: as NetSuite holds it</h3>" in page
    assert "entry: as approving it would send it</h3>" in page


def test_an_entry_is_approved_under_it_on_its_payout_page_which_then_says_so(posting) -> None:  # type: ignore[no-untyped-def]
    draft = _draft(posting)
    at = f"/recon/payouts/{draft.payout_id}/"
    accountant = signed_in("accountant@acme.example.com")

    before = accountant.get(at).content.decode()
    viewer = signed_in("viewer@acme.example.com").get(at).content.decode()
    answer = accountant.post(f"/postings/{draft.pk}/approve/", {"back": "payout"})
    after = html.unescape(accountant.get(answer["Location"]).content.decode())

    assert f'<form method="post" action="/postings/{draft.pk}/approve/">' in before
    assert "Approve this entry</button>" in before
    assert (answer.status_code, answer["Location"]) == (302, f"{at}#entry-payout")
    assert NetsuitePosting.objects.get(pk=draft.pk).state == "approved"
    assert "Approved: it is being sent." in after
    assert "Payout entry: as it is being sent</h3>" in after
    assert "Approve this entry" not in after
    assert "Payout entry: as approving it would send it</h3>" in viewer  # a viewer sees the entry
    assert "Approve this entry" not in viewer  # and no button


def _post(posting, draft: NetsuitePosting) -> None:  # type: ignore[no-untyped-def]
    queued = posting_approve(posting=draft, actor=posting.world.accountant)
    assert posting_send(posting_id=queued.pk, client=posting.client()).state == "posted"


def test_the_month_close_ties_out_what_netsuite_holds_per_account(posting, api_as) -> None:  # type: ignore[no-untyped-def]
    # po_ent_1: 100.00 less 3.20 of fees; po_ent_2: 200.00 less 6.10 (2.9% + 0.30); both posted.
    # po_ent_1 then fails and its reversal is posted; po_ent_3 stays a draft (not in NetSuite).
    _post(posting, _draft(posting, "po_ent_1"))
    write_payouts(posting.stripe, PayoutSpec("po_ent_2", charges=(20000,)), PayoutSpec("po_ent_3"))
    reconcile()
    postings_after_recon()
    _post(posting, NetsuitePosting.objects.get(source_id="po_ent_2"))
    fail_payout(posting.stripe, "po_ent_1")
    reconcile()
    postings_after_recon()
    _post(posting, NetsuitePosting.objects.get(source_id="po_ent_1", kind=PostingKind.REVERSAL))
    assert NetsuitePosting.objects.get(source_id="po_ent_3").state == "draft"

    client = api_as(posting.world.accountant, posting.world.tenant)
    november = client.get("/api/v1/recon/close/", {"month": "2026-11"}).json()["posted_by_account"]
    october = client.get("/api/v1/recon/close/", {"month": "2026-10"}).json()["posted_by_account"]
    page = html.unescape(signed_in("accountant@acme.example.com").get("/close/", {"month": "2026-11"}).content.decode())

    assert (november["entries"], november["unreadable"]) == (3, 0)
    assert [
        (a["source"], a["currency"], a["account_id"], a["mapped_as"], a["debit_minor"], a["credit_minor"], a["lines"])
        for a in november["accounts"]
    ] == [
        ("stripe", "USD", "101", "bank_account", 9680 + 19390, 9680, 3),  # two deposits, one taken back
        ("stripe", "USD", "110", "clearing_account", 9680, 10000 + 20000, 3),  # gross sales; the return
        ("stripe", "USD", "601", "processor_fees_account", 320 + 610, 0, 2),
    ]
    assert october == {"entries": 0, "unreadable": 0, "accounts": []}
    # an entry found in NetSuite by a lookup after a send without an answer keeps the lookup (a
    # GET), whose answer is the entry: read from there, it counts the same
    found = NetsuitePosting.objects.get(source_id="po_ent_2", kind=PostingKind.PAYOUT)
    NetsuitePosting.objects.filter(pk=found.pk).update(
        request={"method": "GET", "url": "https://netsuite.test/journalentry/eid:x", "body": ""},
        response={"status": 200, "body": found.request["body"]},
    )
    assert client.get("/api/v1/recon/close/", {"month": "2026-11"}).json()["posted_by_account"] == november
    assert "The 3 journal entries posted with a date in 2026-11, reversals included" in page
    assert (
        '<tr><td>Stripe</td><td>USD</td><td>101</td><td class="small">bank account</td>'
        '<td class="num">290.70 USD</td><td class="num">96.80 USD</td><td class="num">3</td></tr>'
    ) in page
