"""Closing a month: the checklist, the month's payouts with their reconciliation and NetSuite
state, the totals, the CSV and the API, and the exceptions queue's ``month`` filter.

Postings are created by ``postings_after_recon`` as a recon run would; their later states
(posted with a NetSuite id, failed) are written as the posting worker leaves them, since
sending itself is tested against the NetSuite sandbox in ``netsuite/tests``.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from conftest import signed_in as signed_in_as
from netsuite.models import NetsuitePosting
from netsuite.services import postings_after_recon
from recon.close import month_of, parse_month
from recon.tests.factories import connection, line_row, payout_own_line, payout_row, reconcile, sale, write


def signed_in(role: str):
    return signed_in_as(f"{role}@acme.example.com")


@pytest.fixture
def october(tenant_a, in_tenant):
    """Tenant A's October 2026, and one payout each side of it.

    - po_oct1, arrives 2026-10-01: 96.80 USD, adds up;
    - po_oct2, arrives 2026-10-31: says 67.32 USD, its lines add up to 67.25;
    - po_oct3, arrives 2026-10-15: 40.00 USD, adds up, failed;
    - po_nov, arrives 2026-11-01: adds up, but one line nets 19.00 instead of 19.12;
    - po_sep, arrives 2026-09-30: 48.25 USD, adds up.
    A NetSuite connection exists: the reconciled ones get drafts, and po_oct1's is posted.
    """
    with in_tenant(tenant_a.tenant):
        conn = connection()
        write(
            conn,
            *sale(conn, 1, payout="po_oct1", amount=10000, fee=320),
            payout_row("po_oct1", 9680, arrival=date(2026, 10, 1)),
            payout_own_line("po_oct1", 9680),
            *sale(conn, 2, payout="po_oct2", amount=5000, fee=175),
            line_row("txn_adj", payout="po_oct2", amount=1900, category="adjustment"),
            payout_row("po_oct2", 4825 + 1900 + 7, arrival=date(2026, 10, 31)),
            payout_own_line("po_oct2", 6732),
            *sale(conn, 3, payout="po_oct3", amount=4132, fee=132),
            payout_row("po_oct3", 4000, status="failed", failure_code="account_closed", arrival=date(2026, 10, 15)),
            payout_own_line("po_oct3", 4000),
            *sale(conn, 4, payout="po_nov", amount=2000, fee=88),
            line_row("txn_bad", payout="po_nov", amount=2000, fee=88, net=1900, category="adjustment"),
            payout_row("po_nov", 1912 + 1900, arrival=date(2026, 11, 1)),
            payout_own_line("po_nov", 3812),
            *sale(conn, 5, payout="po_sep", amount=5000, fee=175),
            payout_row("po_sep", 4825, arrival=date(2026, 9, 30)),
            payout_own_line("po_sep", 4825),
        )
        connection("netsuite", name="NetSuite", base_url="https://1234567.suitetalk.api.netsuite.com")
        reconcile()
        created = postings_after_recon(enqueue=False)
        assert created.drafts == 2  # po_oct1, po_sep (po_nov and po_oct2 do not reconcile)
        NetsuitePosting.objects.filter(source_id="po_oct1").update(state="posted", netsuite_internal_id="4711")
        return conn


def _csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def _checks(close: dict) -> dict[str, tuple[bool, str]]:
    return {c["key"]: (c["passed"], c["detail"]) for c in close["checks"]}


def test_the_month_lists_its_payouts_and_what_stands_in_the_way(october, tenant_a, api_as):
    client = api_as(tenant_a.accountant, tenant_a.tenant)

    close = client.get("/api/v1/recon/close/", {"month": "2026-10"}).json()

    assert close["month"] == "2026-10"
    assert close["ready"] is False
    rows = {p["source_id"]: p for p in close["payouts"]}
    assert list(rows) == ["po_oct1", "po_oct3", "po_oct2"]  # by arrival; 09-30 and 11-01 are not October's
    assert rows["po_oct1"]["recon_status"] == "reconciled"
    assert rows["po_oct1"]["posting"]["state"] == "posted"
    assert rows["po_oct1"]["posting"]["netsuite_internal_id"] == "4711"
    assert (rows["po_oct2"]["recon_status"], rows["po_oct2"]["difference_minor"]) == ("exceptions", 7)
    assert rows["po_oct2"]["posting"] is None
    assert (rows["po_oct3"]["recon_status"], rows["po_oct3"]["posting"]) == ("exceptions", None)
    checks = _checks(close)
    assert checks["sources"][0]
    assert checks["recon"][0]
    assert checks["payouts"] == (False, "1 of 3 reconciled; 2 payouts with exceptions.")
    # po_oct2's total and po_oct3's failure; po_nov's bad line belongs to November
    assert close["open_by_reason"] == {"payout_total_mismatch": 1, "payout_failed": 1}
    assert checks["exceptions"] == (False, "2 exceptions to work: 2 open, 0 acknowledged.")
    # po_oct1 posted; po_oct2 paid but not reconciled, so no entry; po_oct3 failed, never posted: none due
    assert checks["postings"] == (False, "1 of 2 posted; 1 without an entry (not reconciled yet).")
    # paid: 96.80 + 67.32; failed: 40.00; posted: 96.80
    assert close["totals"] == [
        {"source": "stripe", "currency": "USD", "payouts": 3, "paid_minor": 16412, "failed_minor": 4000,
         "posted_minor": 9680, "not_posted_minor": 6732}
    ]  # fmt: skip


def test_paid_not_posted_counts_only_paid_payouts_while_a_reversal_waits(october, tenant_a, api_as, in_tenant):
    client = api_as(tenant_a.accountant, tenant_a.tenant)
    with in_tenant(tenant_a.tenant):
        # days after it was posted, po_oct1 fails: its entry stands until its reversal is posted
        write(october, payout_row("po_oct1", 9680, status="failed", failure_code="account_closed",
                                  arrival=date(2026, 10, 1)))  # fmt: skip
        reconcile()
        assert postings_after_recon(enqueue=False).reversals == 1

    waiting = client.get("/api/v1/recon/close/", {"month": "2026-10"}).json()["totals"]
    with in_tenant(tenant_a.tenant):
        NetsuitePosting.objects.filter(source_id="po_oct1", kind="reversal").update(state="posted")
    reversed_ = client.get("/api/v1/recon/close/", {"month": "2026-10"}).json()["totals"]
    page = signed_in("accountant").get("/close/", {"month": "2026-10"}).content.decode()

    # paid: po_oct2 67.32 only; failed: po_oct3 40.00 and po_oct1 96.80; posted: po_oct1's entry
    # until its reversal is posted; paid, not posted: po_oct2's 67.32 all along
    assert waiting == [
        {"source": "stripe", "currency": "USD", "payouts": 3, "paid_minor": 6732, "failed_minor": 13680,
         "posted_minor": 9680, "not_posted_minor": 6732}
    ]  # fmt: skip
    assert (reversed_[0]["posted_minor"], reversed_[0]["not_posted_minor"]) == (0, 6732)
    assert "-29.48" not in page


def test_a_month_with_everything_done_is_ready(october, tenant_a, api_as, in_tenant):
    client = api_as(tenant_a.accountant, tenant_a.tenant)
    with in_tenant(tenant_a.tenant):
        NetsuitePosting.objects.filter(source_id="po_sep").update(state="posted", netsuite_internal_id="4712")

    close = client.get("/api/v1/recon/close/", {"month": "2026-09"}).json()

    assert [p["source_id"] for p in close["payouts"]] == ["po_sep"]
    assert all(c["passed"] for c in close["checks"]), close["checks"]
    assert close["ready"] is True
    assert _checks(close)["postings"] == (True, "All 1 entry posted.")


def test_a_draft_or_failed_entry_and_a_missing_netsuite_connection_keep_the_month_open(
    october, tenant_a, api_as, in_tenant
):
    client = api_as(tenant_a.accountant, tenant_a.tenant)

    draft = _checks(client.get("/api/v1/recon/close/", {"month": "2026-09"}).json())["postings"]
    with in_tenant(tenant_a.tenant):
        NetsuitePosting.objects.filter(source_id="po_sep").update(state="failed", error_code="netsuite_rejected")
    failed = _checks(client.get("/api/v1/recon/close/", {"month": "2026-09"}).json())["postings"]
    with in_tenant(tenant_a.tenant):
        from connections.models import Connection

        Connection.objects.filter(provider="netsuite").update(enabled=False)
    without = client.get("/api/v1/recon/close/", {"month": "2026-09"}).json()
    none = _checks(without)["postings"]

    assert draft == (False, "0 of 1 posted; 1 awaiting approval.")
    assert failed == (False, "0 of 1 posted; 1 failed.")
    assert none == (False, "No NetSuite connection; 1 entry due.")
    assert without["posted_by_account"] is None  # no NetSuite to tie out against


def test_a_source_not_synced_since_the_month_ended_or_broken_keeps_it_open(october, tenant_a, api_as, in_tenant):
    from connections.models import Connection, SyncJob
    from connections.tests.factories import SyncJobFactory

    client = api_as(tenant_a.accountant, tenant_a.tenant)
    with in_tenant(tenant_a.tenant):
        SyncJob.objects.filter(connection=october).delete()  # its only sync: the one below
        SyncJobFactory(connection=october, at=datetime(2026, 10, 31, 23, 0, tzinfo=UTC))
    behind = _checks(client.get("/api/v1/recon/close/", {"month": "2026-10"}).json())["sources"]
    with in_tenant(tenant_a.tenant):
        SyncJobFactory(connection=october)
        Connection.objects.filter(pk=october.pk).update(status="broken", status_message="Stripe refused the API key")
    broken = _checks(client.get("/api/v1/recon/close/", {"month": "2026-10"}).json())["sources"]
    this_month = month_of(timezone.now().date())
    running = client.get("/api/v1/recon/close/", {"month": this_month.label}).json()

    assert behind == (False, "Stripe test: synced as of 2026-10-31 23:00 UTC (its time zone is not known yet).")
    assert broken == (False, "Stripe test: broken (credentials refused): Stripe refused the API key.")
    assert running["ready"] is False
    assert (
        f"the month is not over until {this_month.end} 00:00 UTC (its time zone is not known yet)"
        in _checks(running)["sources"][1]
    )


def test_a_month_before_the_backfill_start_is_unknown_not_empty(october, tenant_a, api_as, in_tenant):
    from connections.models import Connection

    client = api_as(tenant_a.accountant, tenant_a.tenant)
    with in_tenant(tenant_a.tenant):
        Connection.objects.filter(pk=october.pk).update(backfill_start=date(2026, 10, 2))
    october_close = client.get("/api/v1/recon/close/", {"month": "2026-10"}).json()
    refused = client.post("/api/v1/recon/close/", {"month": "1970-01"}, format="json")
    with in_tenant(tenant_a.tenant):
        Connection.objects.filter(pk=october.pk).update(backfill_start=date(2026, 10, 1))
    covered = _checks(client.get("/api/v1/recon/close/", {"month": "2026-10"}).json())["sources"]

    assert october_close["ready"] is False
    assert _checks(october_close)["sources"] == (
        False,
        "Stripe test: its data starts on 2026-10-02 (backfill start), after the month began.",
    )
    assert refused.status_code == 400
    assert "backfill start" in str(refused.json())
    assert covered[0] is True


def test_a_sync_after_the_last_run_or_a_stale_run_keeps_it_open(october, tenant_a, api_as, in_tenant):
    from connections.models import Connection
    from recon.models import ReconRun

    client = api_as(tenant_a.accountant, tenant_a.tenant)
    with in_tenant(tenant_a.tenant):
        Connection.objects.filter(pk=october.pk).update(last_sync_succeeded_at=timezone.now() + timedelta(seconds=5))
    due = _checks(client.get("/api/v1/recon/close/", {"month": "2026-09"}).json())["recon"]
    with in_tenant(tenant_a.tenant):
        ReconRun.objects.update(status="stale", stale_reason="Stripe test has not synced for 30 hours")
    stale = _checks(client.get("/api/v1/recon/close/", {"month": "2026-09"}).json())["recon"]

    assert due == (False, "A sync finished after the last run; the next run is due.")
    assert stale == (False, "The last run read stale data: Stripe test has not synced for 30 hours")


@pytest.mark.parametrize(
    ("month", "says"),
    [
        ("", "a month is required, as YYYY-MM"),
        ("2026-13", "as YYYY-MM (e.g. 2026-10), not '2026-13'"),
        ("2026-1", "as YYYY-MM"),
        ("October", "as YYYY-MM"),
        ("2026-10-01", "as YYYY-MM"),
        ("\uff12\uff10\uff12\uff16-\uff11\uff10", "as YYYY-MM"),  # full-width digits
        ("50%", "not '50%'"),
        ("%s-%d", "not '%s-%d'"),
        ("1969-12", "between 1970-01 and 9998-12, not '1969-12'"),
        ("9999-12", "between 1970-01 and 9998-12"),
    ],
)
def test_a_bad_month_is_refused_by_name(month, says, tenant_a, api_as):
    client = api_as(tenant_a.accountant, tenant_a.tenant)

    answer = client.get("/api/v1/recon/close/", {"month": month})
    queue = client.get("/api/v1/recon/exceptions/", {"month": month})

    assert answer.status_code == 400
    assert says in answer.json()["month"][0]
    if month:  # an empty filter is no filter
        assert (queue.status_code, list(queue.json())) == (400, ["month"])
        assert says in queue.json()["month"][0]


def test_the_queue_month_filter_lists_what_the_close_counts(october):
    client = signed_in("accountant")

    october_queue = client.get("/recon/", {"state": "open", "month": "2026-10"}, HTTP_HX_REQUEST="true")
    november_csv = _csv(client.get("/recon/", {"state": "open", "month": "2026-11", "format": "csv"}))
    bad = client.get("/recon/", {"month": "2026-13"}, HTTP_HX_REQUEST="true").content.decode()

    assert "2 exceptions" in october_queue.content.decode()
    assert "payout_failed" in october_queue.content.decode()
    assert "line_net_mismatch" not in october_queue.content.decode()
    assert [(r["reason"], r["payout"]) for r in november_csv] == [("line_net_mismatch", "po_nov")]
    assert "YYYY-MM" in bad
    # the filter form keeps the month when another filter changes
    assert 'type="month" name="month" value="2026-10"' in client.get("/recon/", {"month": "2026-10"}).content.decode()


def test_the_page_shows_the_checklist_totals_and_payouts(october):
    client = signed_in("accountant")

    page = client.get("/close/", {"month": "2026-10"}).content.decode()

    assert "Close October 2026" in page
    assert "not ready to close" in page
    assert "1 of 3 reconciled; 2 payouts with exceptions." in page
    assert "/recon/?state=open&amp;state=acknowledged&amp;month=2026-10" in page
    # what is left to post, that month's: drafts, queued, failed
    postings_link = "/postings/?state=draft&amp;state=approved&amp;state=sending&amp;state=failed"
    assert f"{postings_link}&amp;arrival_after=2026-10-01&amp;arrival_before=2026-10-31" in page
    assert "<tr><td>Stripe</td><td>USD</td>" in page  # the processor by its name
    assert "164.12 USD" in page  # paid out in October
    assert "Posted</span> journal 4711" in page
    assert page.index("po_oct1") < page.index("po_oct3") < page.index("po_oct2")
    assert "po_nov" not in page
    assert "po_sep" not in page
    assert 'href="?month=2026-09"' in page
    assert 'href="?month=2026-11"' in page
    assert "are listed" not in page


def test_each_checklist_link_says_what_it_opens(october, tenant_a, in_tenant):
    from connections.models import Connection

    with in_tenant(tenant_a.tenant):
        Connection.objects.filter(provider="stripe").update(status="broken", status_message="key revoked")
    client = signed_in("accountant")

    page = client.get("/close/", {"month": "2026-10"}).content.decode()

    # a screen reader's list of links reads each on its own: never a row of "Go"
    assert ">Go</a>" not in page
    assert '<a href="/connections/">Open Connections to fix or sync them</a>' in page
    assert '<a href="#close-payouts">See the 2 payouts not reconciled</a>' in page
    assert 'month=2026-10">Open the 2 open exceptions</a>' in page
    assert 'arrival_before=2026-10-31">Open the month&#x27;s journal entries in Postings</a>' in page


def test_each_payout_of_the_month_leads_to_its_exceptions_and_its_journal_entry(october, tenant_a, in_tenant):
    from canonical.models import Payout

    with in_tenant(tenant_a.tenant):
        posted, short = (Payout.objects.get(source_id=ref).pk for ref in ("po_oct1", "po_oct2"))
    client = signed_in("accountant")

    page = client.get("/close/", {"month": "2026-10"}).content.decode()
    entry = client.get("/postings/", {"payout": str(posted)}).content.decode()
    exceptions = client.get("/recon/", {"state": ["open", "acknowledged"], "payout": str(short)}).content.decode()

    # a posting's state in words, as on the Postings page, not its code
    assert '<span class="status status-posted">Posted</span>' in page
    assert f'<a href="/postings/?payout={posted}" aria-label="The journal entries of po_oct1 in Postings">' in page
    queue = f"/recon/?state=open&amp;state=acknowledged&amp;payout={short}"
    assert f'<td class="num">0.07 USD</td><td class="num"><a href="{queue}"' in page
    assert f'<a href="{queue}" aria-label="1 open exception of po_oct2">1</a>' in page
    # and they open that payout's entry, and that payout's exceptions
    assert "1 posting" in entry
    assert "journal 4711" in entry
    assert "1 exception" in exceptions
    assert "payout_total_mismatch" in exceptions


def test_a_long_month_lists_the_first_payouts_and_the_csv_has_them_all(october, monkeypatch):
    from recon import views

    monkeypatch.setattr(views, "CLOSE_PAGE_ROWS", 2)  # instead of writing a thousand payouts
    client = signed_in("accountant")

    page = client.get("/close/", {"month": "2026-10"}).content.decode()
    rows = _csv(client.get("/close/", {"month": "2026-10", "format": "csv"}))

    assert "Payouts (3)" in page
    assert "The first 2 are listed; the CSV has all 3." in page
    assert "po_oct1" in page
    assert "po_oct3" in page
    assert "po_oct2</a>" not in page
    assert len(rows) == 3


def test_the_page_opens_on_the_month_that_ended_last(tenant_a):
    client = signed_in("accountant")
    last_month = month_of(timezone.localdate()).previous

    page = client.get("/close/").content.decode()

    assert f'value="{last_month.label}"' in page
    assert "No payout arrived in this month." in page
    bad = client.get("/close/", {"month": "2026-13"})
    first = client.get("/close/", {"month": "1970-01"}).content.decode()
    bad_post = client.post("/close/close/", {"note": "x"}, follow=True)

    assert bad.status_code == 400
    assert "as YYYY-MM (e.g. 2026-10), not &#x27;2026-13&#x27;" in bad.content.decode()
    assert 'name="month"' in bad.content.decode()  # the picker, to try again
    assert 'rel="prev"' not in first  # 1969-12 cannot be asked for
    assert "a month is required, as YYYY-MM" in bad_post.content.decode()


def test_with_no_month_asked_for_the_pages_open_on_the_latest_ended_month_with_payouts(tenant_a, in_tenant):
    # given: payouts in March 2024 and this month (not over yet); in April 2024 only one still in
    # transit (where the data stops: it never arrives), none since otherwise
    with in_tenant(tenant_a.tenant):
        conn = connection()
        write(
            conn,
            *sale(conn, 1, payout="po_march", amount=10000, fee=320),
            payout_row("po_march", 9680, arrival=date(2024, 3, 28)),
            payout_own_line("po_march", 9680),
            *sale(conn, 3, payout="po_april", amount=2000, fee=88),
            payout_row("po_april", 1912, arrival=date(2024, 4, 2), status="in_transit"),
            payout_own_line("po_april", 1912),
            *sale(conn, 2, payout="po_now", amount=5000, fee=175),
            payout_row("po_now", 4825, arrival=timezone.localdate()),
            payout_own_line("po_now", 4825),
        )
    client = signed_in("accountant")

    page = client.get("/close/").content.decode()
    dashboard = client.get("/").content.decode()
    asked = client.get("/close/", {"month": "2026-10"}).content.decode()

    assert "Close March 2024" in page
    assert 'value="2024-03"' in page
    assert "po_march" in page
    assert "Closing March 2024" in dashboard
    assert 'href="/close/?month=2024-03"' in dashboard
    # a month asked for is that month, payouts or not
    assert "Close October 2026" in asked
    assert "No payout arrived in this month." in asked


def test_with_no_payout_arrived_yet_the_pages_open_on_the_month_of_one_on_its_way(tenant_a, in_tenant):
    # given: a new tenant's first payout, in transit since May 2024 (its data stops there)
    with in_tenant(tenant_a.tenant):
        conn = connection()
        write(
            conn,
            *sale(conn, 1, payout="po_may", amount=10000, fee=320),
            payout_row("po_may", 9680, arrival=date(2024, 5, 3), status="in_transit"),
            payout_own_line("po_may", 9680),
        )

    page = signed_in("accountant").get("/close/").content.decode()

    assert "Close May 2024" in page
    assert "po_may" in page


def test_the_month_downloads_as_csv_for_those_who_may_export(october):
    accountant, viewer = signed_in("accountant"), signed_in("viewer")

    rows = {r["payout"]: r for r in _csv(accountant.get("/close/", {"month": "2026-10", "format": "csv"}))}

    assert list(rows) == ["po_oct1", "po_oct3", "po_oct2"]
    assert rows["po_oct1"] | {} == {
        "arrival_date": "2026-10-01", "processor": "stripe", "connection": "Stripe test", "payout": "po_oct1",
        "payout_status": "paid", "amount": "96.80", "currency": "USD", "recon_status": "reconciled",
        "difference": "0.00", "open_exceptions": "0", "posting_state": "posted", "netsuite_id": "4711",
        "reversal_state": "", "reversal_netsuite_id": "",
    }  # fmt: skip
    assert (rows["po_oct2"]["difference"], rows["po_oct2"]["open_exceptions"]) == ("0.07", "1")
    assert "Download CSV" in accountant.get("/close/", {"month": "2026-10"}).content.decode()
    assert "Download CSV" not in viewer.get("/close/", {"month": "2026-10"}).content.decode()
    assert viewer.get("/close/", {"month": "2026-10", "format": "csv"}).status_code == 403


def test_another_tenants_month_is_not_seen(october, tenant_b, api_as):
    client = api_as(tenant_b.accountant, tenant_b.tenant)

    close = client.get("/api/v1/recon/close/", {"month": "2026-10"}).json()

    assert close["payouts"] == []
    assert close["open_by_reason"] == {}


def test_parse_month_bounds():
    assert (parse_month("2026-12").first, parse_month("2026-12").end) == (date(2026, 12, 1), date(2027, 1, 1))
    assert parse_month(" 2024-02 ").last == date(2024, 2, 29)


# ---------------------------------------------------------------------- closing and reopening


def _september_posted(tenant_a, in_tenant) -> None:
    with in_tenant(tenant_a.tenant):
        NetsuitePosting.objects.filter(source_id="po_sep").update(state="posted", netsuite_internal_id="4712")


def test_a_ready_month_closes_once_with_a_snapshot_and_is_audited(october, tenant_a, api_as, in_tenant):
    from audit.models import AuditEvent

    _september_posted(tenant_a, in_tenant)
    client = api_as(tenant_a.accountant, tenant_a.tenant)

    closed = client.post("/api/v1/recon/close/", {"month": "2026-09", "note": "September booked"}, format="json")
    again = client.post("/api/v1/recon/close/", {"month": "2026-09"}, format="json")
    close = client.get("/api/v1/recon/close/", {"month": "2026-09"}).json()

    assert closed.status_code == 201, closed.json()
    record = closed.json()
    assert (record["month"], record["closed_by_email"], record["note"]) == (
        "2026-09",
        tenant_a.accountant.email,
        "September booked",
    )
    assert record["snapshot"]["payouts"] == {"po_sep": ["paid", 4825, "USD"]}
    assert (again.status_code, again.json()["code"]) == (400, "already_closed")
    assert close["closed"]["note"] == "September booked"
    assert close["closed"]["changes"] == []
    assert "was closed, and has changed since" not in signed_in("accountant").get("/").content.decode()
    with in_tenant(tenant_a.tenant):
        event = AuditEvent.objects.get(action="recon.month_closed")
    assert (event.actor_email, event.detail["month"], event.detail["note"]) == (
        tenant_a.accountant.email,
        "2026-09",
        "September booked",
    )


def test_a_month_that_is_not_ready_is_not_closed_and_says_why(october, tenant_a, api_as, in_tenant):
    from recon.models import MonthClose

    client = api_as(tenant_a.accountant, tenant_a.tenant)

    refused = client.post("/api/v1/recon/close/", {"month": "2026-10"}, format="json")

    assert refused.status_code == 400
    assert refused.json()["code"] == "not_ready"
    detail = refused.json()["detail"]
    assert detail.startswith("2026-10 is not ready to close. ")
    assert "Every payout of the month reconciled: 1 of 3 reconciled" in detail
    assert "No open exceptions: 2 exceptions to work" in detail
    assert ".;" not in detail
    assert ".." not in detail
    with in_tenant(tenant_a.tenant):
        assert not MonthClose.objects.exists()


def test_a_payout_that_fails_after_the_close_shows_against_it(october, tenant_a, api_as, in_tenant):
    _september_posted(tenant_a, in_tenant)
    client = api_as(tenant_a.accountant, tenant_a.tenant)
    assert client.post("/api/v1/recon/close/", {"month": "2026-09"}, format="json").status_code == 201
    with in_tenant(tenant_a.tenant):
        # days later, the processor says September's payout failed
        failed = payout_row("po_sep", 4825, status="failed", failure_code="account_closed", arrival=date(2026, 9, 30))
        write(october, failed)
        reconcile()

    close = client.get("/api/v1/recon/close/", {"month": "2026-09"}).json()
    page = signed_in("accountant").get("/close/", {"month": "2026-09"}).content.decode()

    assert close["closed"]["changes"][0] == "payout po_sep was paid 48.25 USD at close, now failed 48.25 USD"
    assert "no open exceptions: 1 exception to work: 1 open, 0 acknowledged." in close["closed"]["changes"]
    assert "Changed since it was closed:" in page
    assert "payout po_sep was paid 48.25 USD at close, now failed 48.25 USD" in page
    dashboard = signed_in("viewer").get("/").content.decode()
    assert "2026-09 was closed, and has changed since:" in dashboard
    assert "payout po_sep was paid 48.25 USD at close, now failed 48.25 USD" in dashboard


def test_reopening_needs_a_reason_then_the_month_can_be_closed_again(october, tenant_a, api_as, in_tenant):
    from audit.models import AuditEvent
    from recon.models import MonthClose

    _september_posted(tenant_a, in_tenant)
    client = api_as(tenant_a.accountant, tenant_a.tenant)
    client.post("/api/v1/recon/close/", {"month": "2026-09"}, format="json")

    no_reason = client.post("/api/v1/recon/close/reopen/", {"month": "2026-09", "note": "  "}, format="json")
    reopened = client.post("/api/v1/recon/close/reopen/", {"month": "2026-09", "note": "Late refund"}, format="json")
    not_closed = client.post("/api/v1/recon/close/reopen/", {"month": "2026-09", "note": "again"}, format="json")
    open_again = client.get("/api/v1/recon/close/", {"month": "2026-09"}).json()
    closed_again = client.post("/api/v1/recon/close/", {"month": "2026-09"}, format="json")

    assert (no_reason.status_code, list(no_reason.json())) == (400, ["detail", "code", "note"])
    assert reopened.status_code == 200
    assert (reopened.json()["reopened_by_email"], reopened.json()["reopen_note"]) == (
        tenant_a.accountant.email,
        "Late refund",
    )
    assert (not_closed.status_code, not_closed.json()["code"]) == (400, "not_closed")
    assert open_again["closed"] is None
    assert closed_again.status_code == 201
    history = client.get("/api/v1/recon/closes/").json()["results"]
    assert [(c["month"], c["reopen_note"]) for c in history] == [("2026-09", ""), ("2026-09", "Late refund")]
    assert history[1]["reopened_at"] is not None
    with in_tenant(tenant_a.tenant):
        assert MonthClose.objects.count() == 2  # the first close stays on record, reopened
        assert AuditEvent.objects.get(action="recon.month_reopened").detail["note"] == "Late refund"


@pytest.mark.parametrize("body", [{}, {"month": "2026-13"}, {"month": "2026-09", "note": "x" * 4001}])
def test_closing_refuses_bad_input_by_field(body, october, tenant_a, api_as):
    client = api_as(tenant_a.accountant, tenant_a.tenant)

    answer = client.post("/api/v1/recon/close/", body, format="json")

    assert answer.status_code == 400
    assert set(answer.json()) & {"month", "note"}


def test_a_viewer_may_read_but_not_close(october, tenant_a, api_as, in_tenant):
    _september_posted(tenant_a, in_tenant)
    api = api_as(tenant_a.viewer, tenant_a.tenant)
    viewer = signed_in("viewer")

    assert api.get("/api/v1/recon/close/", {"month": "2026-09"}).status_code == 200
    assert api.post("/api/v1/recon/close/", {"month": "2026-09"}, format="json").status_code == 403
    assert viewer.post("/close/close/", {"month": "2026-09"}).status_code == 403
    assert "Close 2026-09</button>" not in viewer.get("/close/", {"month": "2026-09"}).content.decode()


def test_the_page_closes_and_reopens_the_month(october, tenant_a, in_tenant):
    _september_posted(tenant_a, in_tenant)
    client = signed_in("accountant")

    before = client.get("/close/", {"month": "2026-09"}).content.decode()
    closed = client.post("/close/close/", {"month": "2026-09", "note": "Booked"}, follow=True).content.decode()
    refused = client.post("/close/reopen/", {"month": "2026-09", "note": ""}, follow=True).content.decode()
    reopened = client.post("/close/reopen/", {"month": "2026-09", "note": "Late refund"}, follow=True)

    assert "Close 2026-09</button>" in before
    assert "2026-09 is closed." in closed
    assert f"by {tenant_a.accountant.email}: “Booked”" in closed
    assert "Reopen 2026-09</button>" in closed
    assert "A note saying why is required to reopen a month." in refused
    assert "2026-09 is open again." in reopened.content.decode()
    assert reopened.redirect_chain[-1][0] == "/close/?month=2026-09"
    assert client.post("/close/shred/", {"month": "2026-09"}).status_code == 404


def test_a_reopened_month_keeps_its_earlier_close_on_its_page(
    october, tenant_a, in_tenant, django_assert_max_num_queries
):
    from recon.close import month_close_history

    _september_posted(tenant_a, in_tenant)
    client = signed_in("accountant")
    closed_once = client.post("/close/close/", {"month": "2026-09", "note": "Booked"}, follow=True).content.decode()
    client.post("/close/reopen/", {"month": "2026-09", "note": "Late refund"})
    open_again = client.get("/close/", {"month": "2026-09"}).content.decode()
    client.post("/close/close/", {"month": "2026-09", "note": "Booked again"})
    closed_again = client.get("/close/", {"month": "2026-09"}).content.decode()
    never_closed = client.get("/close/", {"month": "2026-10"}).content.decode()

    email = tenant_a.accountant.email
    history = open_again[open_again.index('id="close-history"') :]
    assert "History of this month's close" in history
    assert f"Closed {_today()}" in history
    assert f"by {email}: “Booked”" in history
    assert f"reopened {_today()}" in history
    assert f"by {email}: “Late refund”" in history
    # closed again: the earlier close and its reopening first, then the close that stands
    history = closed_again[closed_again.index('id="close-history"') :]
    assert history.index("“Late refund”") < history.index("“Booked again”")
    assert "still closed" in history
    assert 'id="close-history"' not in never_closed
    assert 'id="close-history"' not in closed_once  # the close itself says all there is
    # the history is one read, however many times the month was reopened
    with in_tenant(tenant_a.tenant):
        from tenants.models import User

        # a fresh copy of the user: the shared one carries whatever permission caches earlier tests left
        accountant = User.objects.get(pk=tenant_a.accountant.pk)
        month_close_history(user=accountant, month=parse_month("2026-09"))  # the role's permissions, read once
        with django_assert_max_num_queries(1):
            assert len(month_close_history(user=accountant, month=parse_month("2026-09"))) == 2


def _today() -> str:
    return f"{timezone.now():%Y-%m-%d}"


def test_another_tenant_does_not_see_the_close(october, tenant_a, tenant_b, api_as, in_tenant):
    _september_posted(tenant_a, in_tenant)
    api_as(tenant_a.accountant, tenant_a.tenant).post("/api/v1/recon/close/", {"month": "2026-09"}, format="json")

    close = api_as(tenant_b.accountant, tenant_b.tenant).get("/api/v1/recon/close/", {"month": "2026-09"}).json()

    assert close["closed"] is None
    assert api_as(tenant_b.viewer, tenant_b.tenant).get("/api/v1/recon/closes/").json()["results"] == []


def test_the_dashboard_says_how_far_the_month_that_ended_last_is(tenant_a, in_tenant):
    last_month = month_of(timezone.localdate()).previous
    with in_tenant(tenant_a.tenant):
        connection()  # synced a minute ago, but never reconciled
    client = signed_in("viewer")

    before = client.get("/").content.decode()
    with in_tenant(tenant_a.tenant):
        reconcile()
    after = client.get("/").content.decode()

    assert f"Closing {last_month.first:%B %Y}" in before
    assert "Reconciliation has never run." in before
    assert f'href="/close/?month={last_month.label}"' in before
    # nothing arrived last month, the source synced since and a run followed it
    assert "ready to close</span> Every item of the checklist holds; no payout arrived in this month." in after


def test_the_close_page_says_a_payouts_status_in_words(tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        conn = connection()
        write(
            conn,
            *sale(conn, 1, payout="po_transit", amount=10000, fee=320),
            payout_row("po_transit", 9680, status="in_transit", arrival=date(2026, 10, 30)),
            payout_own_line("po_transit", 9680),
        )
        reconcile()

    page = signed_in("accountant").get("/close/", {"month": "2026-10"}).content.decode()

    assert "<td>in transit</td>" in page
    assert "in_transit" not in page
