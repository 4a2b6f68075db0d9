"""The reconciliation pages over the Django test client: the exceptions queue worked from the
page (audited, as through the API), the runs, and one payout explained line by line."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from django.test import Client

from audit.models import AuditEvent
from conftest import signed_in as signed_in_as
from ecomops.tenancy import tenant_context
from recon.models import ReconException, ReconRun
from recon.tests.factories import connection, line_row, payout_own_line, payout_row, reconcile, sale, write


@pytest.fixture
def books(tenant_a, in_tenant):
    """po_1 reconciles; po_2 is short by 0.07 and one of its lines has net != amount - fee."""
    with in_tenant(tenant_a.tenant):
        conn = connection()
        write(
            conn,
            *sale(conn, 1, payout="po_1", amount=10000, fee=320),
            payout_row("po_1", 9680),
            payout_own_line("po_1", 9680),
            *sale(conn, 2, payout="po_2", amount=5000, fee=175),
            line_row("txn_bad", payout="po_2", amount=2000, fee=88, net=1900, category="adjustment"),
            payout_row("po_2", 4825 + 1900 + 7),
            payout_own_line("po_2", 6732),
        )
        reconcile()
        return {(e.reason, e.subject_ref): e for e in ReconException.objects.all()}


def fresh(exception: ReconException, tenant) -> ReconException:
    """The exception as stored now (read inside its tenant)."""
    with tenant_context(tenant):
        return ReconException.objects.get(pk=exception.pk)


def signed_in(role: str) -> Client:
    return signed_in_as(f"{role}@acme.example.com")


def test_queue_lists_what_needs_a_person_and_filters(books):
    client = signed_in("accountant")

    page = client.get("/recon/").content.decode()
    only_totals = client.get("/recon/", {"reason": "payout_total_mismatch"}, HTTP_HX_REQUEST="true")

    assert "2 exceptions" in page
    assert "line_net_mismatch" in page
    assert "payout_total_mismatch" in page
    assert 'href="/recon/payouts/' in page
    assert "Reconcile now" in page
    # reasons are ticked, not ctrl-clicked: the chosen one is ticked and its list open
    assert '<details class="checks reasons">' in page
    assert 'type="checkbox" name="reason" value="line_net_mismatch"' in page
    full = client.get("/recon/", {"reason": "payout_total_mismatch"}).content.decode()
    assert '<details class="checks reasons" open>' in full
    assert 'value="payout_total_mismatch" id="id_reason_0" checked' in full
    assert "<html" not in only_totals.content.decode()  # htmx gets the queue only
    assert "1 exception" in only_totals.content.decode()
    assert "line_net_mismatch" not in only_totals.content.decode()


def test_reasons_read_as_sentences_and_the_dashboard_counts_lead_to_them(books):
    client = signed_in("accountant")

    queue = client.get("/recon/").content.decode()
    dashboard = client.get("/").content.decode()
    payout = client.get(f"/recon/payouts/{books[('payout_total_mismatch', 'po_2')].payout_id}/").content.decode()

    assert "Line net is not amount minus fee" in queue
    assert "Payout does not equal the sum of its lines" in queue
    # each count on the dashboard opens the queue on that reason
    link = '<a href="/recon/?state=open&amp;state=acknowledged&amp;reason=line_net_mismatch">'
    assert link + "Line net is not amount minus fee</a>: 1" in dashboard
    assert "Payout does not equal the sum of its lines" in payout


def test_the_queue_shows_what_each_exception_puts_at_stake_in_the_order_it_sorts_by(books):
    client = signed_in("accountant")
    short = books[("payout_total_mismatch", "po_2")]

    largest_first = client.get("/recon/", {"state": "open", "ordering": "-at_stake"}).content.decode()
    row = client.post(f"/recon/exceptions/{short.pk}/acknowledge/", HTTP_HX_REQUEST="true").content.decode()

    assert '<th class="num">At stake</th>' in largest_first
    # txn_bad nets 0.12 less than 20.00 - 0.88; po_2 is 0.07 more than its lines: in that order
    assert largest_first.index('<td class="num">0.12 USD</td>') < largest_first.index('<td class="num">0.07 USD</td>')
    assert '<td class="num">0.07 USD</td>' in row  # a row answering its action keeps the amount


def test_every_state_box_unticked_lists_every_state(books, tenant_a):
    with tenant_context(tenant_a.tenant):
        ReconException.objects.filter(reason="line_net_mismatch").update(state="resolved")
    client = signed_in("accountant")

    opened = client.get("/recon/").content.decode()  # nothing chosen yet: what needs a person
    # the form as sent with both state boxes unticked: its other fields, empty
    cleared = client.get("/recon/", {"payout_source_id": "", "subject": "", "month": ""}, HTTP_HX_REQUEST="true")

    assert "1 exception" in opened
    assert "2 exceptions" in cleared.content.decode()
    assert "line_net_mismatch" in cleared.content.decode()


def test_a_bad_filter_is_said_and_lists_nothing(books):
    page = signed_in("accountant").get("/recon/", {"reason": "no_such_reason"}).content.decode()
    assert "Select a valid choice" in page
    assert "0 exceptions" in page


def test_a_reversed_date_range_is_said_not_shown_as_an_empty_queue(books):
    client = signed_in("accountant")

    page = client.get("/recon/", {"date_from": "2026-02-01", "date_to": "2026-01-01"}).content.decode()
    csv = client.get("/recon/", {"date_from": "2026-02-01", "date_to": "2026-01-01", "format": "csv"})

    assert "date_to is before date_from." in page
    assert (csv.status_code, csv.content.decode()) == (400, "Bad filter: date_to: date_to is before date_from.")


def test_resolve_needs_a_note_then_resolves_and_is_audited(books, tenant_a):
    client = signed_in("accountant")
    exception = books[("line_net_mismatch", "txn_bad")]
    url = f"/recon/exceptions/{exception.pk}/resolve/"

    refused = client.post(url, {"note": "  "}, HTTP_HX_REQUEST="true").content.decode()
    nul = client.post(url, {"note": "a\x00b"}, HTTP_HX_REQUEST="true").content.decode()
    exception = fresh(exception, tenant_a.tenant)
    assert "A note saying why is required" in refused
    assert "The note contains a NUL character" in nul
    assert exception.state == "open"

    row = client.post(url, {"note": "Stripe adjustment, booked by hand"}, HTTP_HX_REQUEST="true").content.decode()
    exception = fresh(exception, tenant_a.tenant)
    assert (exception.state, exception.note) == ("resolved", "Stripe adjustment, booked by hand")
    assert exception.resolved_by_email == "accountant@acme.example.com"
    assert "Resolved." in row
    assert "Resolve</button>" not in row
    with tenant_context(tenant_a.tenant):
        event = AuditEvent.objects.get(action="recon.exception_resolved", target_id=str(exception.pk))
    assert (event.detail["from"], event.detail["to"]) == ("open", "resolved")

    # and it leaves the default queue
    assert "txn_bad" not in client.get("/recon/").content.decode()


def test_resolve_without_javascript_comes_back_to_the_queue(books, tenant_a):
    client = signed_in("accountant")
    exception = books[("line_net_mismatch", "txn_bad")]

    response = client.post(f"/recon/exceptions/{exception.pk}/resolve/", {"note": "Booked"}, follow=True)

    assert response.redirect_chain == [("/recon/", 302)]
    assert "Resolved." in response.content.decode()
    assert fresh(exception, tenant_a.tenant).state == "resolved"


def test_acknowledge_from_the_row(books, tenant_a):
    exception = books[("payout_total_mismatch", "po_2")]
    row = signed_in("admin").post(f"/recon/exceptions/{exception.pk}/acknowledge/", HTTP_HX_REQUEST="true")
    exception = fresh(exception, tenant_a.tenant)
    assert exception.state == "acknowledged"
    assert "Acknowledged." in row.content.decode()


def test_viewer_reads_the_queue_but_cannot_work_it(books, tenant_a):
    client = signed_in("viewer")
    exception = books[("line_net_mismatch", "txn_bad")]

    page = client.get("/recon/").content.decode()
    refused = client.post(f"/recon/exceptions/{exception.pk}/resolve/", {"note": "no"})

    assert "line_net_mismatch" in page
    assert "Resolve</button>" not in page
    assert "Reconcile now" not in page
    assert refused.status_code == 403
    exception = fresh(exception, tenant_a.tenant)
    assert exception.state == "open"
    assert client.post("/recon/run/").status_code == 403


def test_unknown_action_or_exception(books, tenant_a):
    client = signed_in("accountant")
    exception = books[("line_net_mismatch", "txn_bad")]
    row = client.post(f"/recon/exceptions/{exception.pk}/delete/", HTTP_HX_REQUEST="true").content.decode()
    assert "Unknown action &#x27;delete&#x27;" in row
    exception = fresh(exception, tenant_a.tenant)
    assert exception.state == "open"
    missing = client.post("/recon/exceptions/00000000-0000-0000-0000-000000000000/resolve/", {"note": "x"})
    assert missing.status_code == 404


def test_reconcile_now_queues_a_run(books, tenant_a, in_tenant):
    runs = signed_in("accountant").post("/recon/run/", HTTP_HX_REQUEST="true").content.decode()
    assert "Reconciliation queued." in runs
    with in_tenant(tenant_a.tenant):
        run = ReconRun.objects.order_by("-queued_at").first()
        assert (run.trigger, run.status, run.requested_by_email) == ("page", "queued", "accountant@acme.example.com")


def test_payout_page_explains_the_difference_line_by_line(books):
    payout_id = books[("payout_total_mismatch", "po_2")].payout_id
    page = signed_in("viewer").get(f"/recon/payouts/{payout_id}/").content.decode()

    assert "Payout po_2" in page
    assert f"arrives {date.today().isoformat()}" in page
    assert "67.32 USD" in page  # the payout
    assert "67.25 USD" in page  # what its lines add up to: 48.25 + 19.00
    assert "0.07 USD" in page  # the difference
    assert "net is not amount - fee" in page  # txn_bad: 20.00 - 0.88 is not 19.00
    assert "payment ch_2" in page  # what the charge line matched


def test_payout_page_says_its_states_and_reasons_in_words_not_codes(books, tenant_a):
    from recon.services import exception_act

    short = books[("payout_total_mismatch", "po_2")]
    with tenant_context(tenant_a.tenant):
        exception_act(actor=tenant_a.accountant, exception=books[("line_net_mismatch", "txn_bad")],
                      action="acknowledge", note="asked Stripe")  # fmt: skip

    page = signed_in("viewer").get(f"/recon/payouts/{short.payout_id}/").content.decode()

    summary = page[page.index('<p id="explain-summary"') :].split("</p>")[0]
    assert '<span class="status status-exceptions">Exceptions</span>' in summary
    assert summary.endswith(
        "a difference of 0.07 USD. 2 open exceptions: Line net is not amount minus fee; "
        "Payout does not equal the sum of its lines."
    )
    assert '<span class="status status-open">Open</span>' in page
    assert '<span class="status status-acknowledged">Acknowledged</span>' in page
    # what a controller reads on this page never spells a reason as its code
    assert "payout_total_mismatch" not in page
    assert "line_net_mismatch" not in page


def test_payout_page_leads_to_its_exceptions_in_the_queue_and_to_its_month(books):
    payout_id = books[("payout_total_mismatch", "po_2")].payout_id
    client = signed_in("accountant")

    page = client.get(f"/recon/payouts/{payout_id}/").content.decode()
    queue = client.get("/recon/", {"payout": str(payout_id)}).content.decode()

    assert f'<a href="/recon/?payout={payout_id}">Work this payout\'s exceptions in the queue</a>' in page
    assert f'<a href="/close/?month={date.today():%Y-%m}">close of {date.today():%Y-%m}</a>' in page
    # no journal entry: there is no NetSuite connection, and the payout does not reconcile
    assert "No journal entry yet" in page
    assert "2 exceptions" in queue  # the payout's own, and its bad line's


def test_other_tenants_exceptions_and_payouts_are_not_found(books, tenant_b):
    client = signed_in_as(tenant_b.admin.email)
    exception = books[("line_net_mismatch", "txn_bad")]

    assert client.post(f"/recon/exceptions/{exception.pk}/resolve/", {"note": "x"}).status_code == 404
    assert client.get(f"/recon/payouts/{exception.payout_id}/").status_code == 404
    assert "txn_bad" not in client.get("/recon/").content.decode()


def _csv(response) -> list[dict[str, str]]:
    import csv
    import io

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_queue_downloads_as_csv_with_exact_amounts(books):
    client = signed_in("accountant")

    page = client.get("/recon/").content.decode()
    rows = {row["reason"]: row for row in _csv(client.get("/recon/", {"format": "csv"}))}

    assert "Download CSV" in page
    assert set(rows) == {"payout_total_mismatch", "line_net_mismatch"}  # the queue as opened: open ones
    total = rows["payout_total_mismatch"]
    assert (total["subject"], total["payout"], total["state"]) == ("po_2", "po_2", "open")
    # the lines add up to 67.25 (48.25 + 19.00); the payout says 67.32
    assert (total["expected"], total["actual"], total["difference"], total["expected_currency"]) == (
        "67.25",
        "67.32",
        "0.07",
        "USD",
    )
    assert "67.32 USD" in total["what"]
    net = rows["line_net_mismatch"]
    # 20.00 - 0.88 should net 19.12; the line says 19.00
    assert (net["subject"], net["expected"], net["actual"], net["difference"]) == ("txn_bad", "19.12", "19.00", "-0.12")


def test_the_csv_follows_the_filters(books, tenant_a):
    from recon.services import exception_act

    with tenant_context(tenant_a.tenant):
        exception_act(actor=tenant_a.accountant, exception=books[("line_net_mismatch", "txn_bad")],
                      action="resolve", note="Adjustment booked by hand")  # fmt: skip
    client = signed_in("accountant")

    rows = _csv(client.get("/recon/", {"state": "resolved", "format": "csv"}))

    assert [(r["reason"], r["state"], r["note"], r["resolved_by"]) for r in rows] == [
        ("line_net_mismatch", "resolved", "Adjustment booked by hand", "accountant@acme.example.com")
    ]


def test_the_csv_carries_every_note_with_who_and_when(books, tenant_a):
    from audit.models import AuditEvent
    from recon.services import exception_act

    exception = books[("line_net_mismatch", "txn_bad")]
    with tenant_context(tenant_a.tenant):
        exception_act(actor=tenant_a.accountant, exception=exception, action="acknowledge", note="Asked Stripe")
        exception_act(actor=tenant_a.admin, exception=exception, action="resolve", note="Adjustment booked by hand")
        acknowledged, resolved = (
            at.strftime("%Y-%m-%d %H:%M UTC")
            for at in AuditEvent.objects.filter(target_id=str(exception.pk), action__startswith="recon.exception_")
            .order_by("created_at")
            .values_list("created_at", flat=True)
        )
    client = signed_in("accountant")

    [row] = _csv(client.get("/recon/", {"state": "resolved", "format": "csv"}))

    assert row["note"] == "Adjustment booked by hand"  # the latest, as before
    assert row["note_history"] == (
        f'{acknowledged} {tenant_a.accountant.email} acknowledged: "Asked Stripe"\n'
        f'{resolved} {tenant_a.admin.email} resolved: "Adjustment booked by hand"'
    )


def test_the_csv_note_history_keeps_a_note_with_bars_quotes_and_line_breaks_in_one_entry(books, tenant_a):
    from recon.services import exception_act

    # given: a note that holds the old separator, a quote and line breaks
    asked = 'Stripe says "next week" | maybe later\nCall again on Monday\u2028(ticket 42)'
    exception = books[("line_net_mismatch", "txn_bad")]
    with tenant_context(tenant_a.tenant):
        exception_act(actor=tenant_a.accountant, exception=exception, action="acknowledge", note=asked)
        exception_act(actor=tenant_a.admin, exception=exception, action="resolve", note="Booked | by hand")
        acknowledged, resolved = (
            at.strftime("%Y-%m-%d %H:%M UTC")
            for at in AuditEvent.objects.filter(target_id=str(exception.pk), action__startswith="recon.exception_")
            .order_by("created_at")
            .values_list("created_at", flat=True)
        )
    client = signed_in("accountant")

    # when: the queue's download, read by a CSV reader (the multi-line cell quoted, or the row splits)
    [row] = _csv(client.get("/recon/", {"state": "resolved", "format": "csv"}))

    # then: two lines, two entries, each note read back whole
    assert row["note_history"] == (
        f"{acknowledged} {tenant_a.accountant.email} acknowledged: "
        '"Stripe says \\"next week\\" | maybe later\\nCall again on Monday\\u2028(ticket 42)"\n'
        f'{resolved} {tenant_a.admin.email} resolved: "Booked | by hand"'
    )
    assert _note_history(row["note_history"]) == [
        (acknowledged, tenant_a.accountant.email, "acknowledged", asked),
        (resolved, tenant_a.admin.email, "resolved", "Booked | by hand"),
    ]


# when, who, what, and the note as a JSON string if there is one
_HISTORY_ENTRY = re.compile(r'(?P<at>\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC) (?P<by>\S+) (?P<action>\w+)(: (?P<note>".*"))?')


def _note_history(cell: str) -> list[tuple[str, str, str, str | None]]:
    """A note_history cell read back as a program would: (when, who, action, note) per line."""
    entries = []
    for line in cell.splitlines():
        entry = _HISTORY_ENTRY.fullmatch(line)
        assert entry, f"not one history entry: {line!r}"
        note = json.loads(entry["note"]) if entry["note"] else None
        entries.append((entry["at"], entry["by"], entry["action"], note))
    return entries


def test_the_csv_never_hands_a_spreadsheet_a_formula(books, tenant_a):
    from recon.services import exception_act

    with tenant_context(tenant_a.tenant):
        exception_act(actor=tenant_a.accountant, exception=books[("line_net_mismatch", "txn_bad")],
                      action="acknowledge", note='=HYPERLINK("http://evil.example","fix")')  # fmt: skip
    client = signed_in("accountant")

    rows = {row["reason"]: row for row in _csv(client.get("/recon/", {"format": "csv"}))}

    assert rows["line_net_mismatch"]["note"] == '\'=HYPERLINK("http://evil.example","fix")'
    assert rows["line_net_mismatch"]["difference"] == "-0.12"  # a negative amount stays a number


def test_the_csv_is_for_those_who_may_export_and_refuses_a_bad_filter(books):
    viewer, accountant = signed_in("viewer"), signed_in("accountant")

    assert "Download CSV" not in viewer.get("/recon/").content.decode()
    assert viewer.get("/recon/", {"format": "csv"}).status_code == 403
    bad = accountant.get("/recon/", {"state": "lost", "format": "csv"})
    assert bad.status_code == 400
    assert bad.content.decode() == "Bad filter: state: Select a valid choice. lost is not one of the available choices."


def test_a_sort_alone_keeps_the_queue_on_what_is_open(books, tenant_a):
    from recon.services import exception_act

    with tenant_context(tenant_a.tenant):
        exception_act(actor=tenant_a.accountant, exception=books[("line_net_mismatch", "txn_bad")],
                      action="resolve", note="Adjustment booked by hand")  # fmt: skip
    client = signed_in("accountant")

    default = client.get("/recon/").content.decode()
    sorted_only = client.get("/recon/", {"sort": "reason"}).content.decode()
    everything = client.get("/recon/", {"state": ["open", "acknowledged", "resolved"]}).content.decode()

    assert "txn_bad" not in default
    assert "txn_bad" not in sorted_only
    assert "txn_bad" in everything


def test_the_queue_its_csv_and_the_api_read_no_credentials_nor_payloads(books, tenant_a, api_as):
    # A tenant's first run opens ~100k exceptions: each row of the queue, its CSV or the API
    # must not decrypt its connection's credentials nor load its payout's raw payload (reading
    # them cost 80 % of a 95k-row download), nor de-duplicate rows a filter cannot repeat.
    from django.db import connection as db

    client = signed_in("accountant")
    api = api_as(tenant_a.accountant, tenant_a.tenant)
    sent: list[str] = []

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        sent.append(sql)
        return execute(sql, params, many, context)

    # Each request clears Django's query log as it starts: record every statement instead.
    with db.execute_wrapper(record):
        page = client.get("/recon/", {"state": ["open", "acknowledged"], "reason": "payout_total_mismatch"})
        rows = _csv(client.get("/recon/", {"state": "open", "format": "csv"}))
        listed = api.get("/api/v1/recon/exceptions/", {"state": "open", "reason": "line_net_mismatch"})

    assert "po_2" in page.content.decode()
    assert len(rows) == 2
    assert all(row["connection"] and row["what"] for row in rows)
    assert [e["subject_ref"] for e in listed.json()["results"]] == ["txn_bad"]
    reads = [sql for sql in sent if "recon_reconexception" in sql]
    assert len(reads) >= 3
    assert not [sql for sql in reads if '"credentials"' in sql], "a connection's credentials were read per row"
    assert not [sql for sql in reads if '"canonical_payout"."raw_data"' in sql], "a payout's payload was read"
    assert not [sql for sql in reads if "DISTINCT" in sql], "rows were de-duplicated"


def test_ticked_exceptions_are_worked_at_once_and_the_queue_stays_as_filtered(books, tenant_a):
    short, bad_line = books[("payout_total_mismatch", "po_2")], books[("line_net_mismatch", "txn_bad")]
    client = signed_in("accountant")
    page = client.get("/recon/").content.decode()
    assert 'form id="bulk"' in page
    assert f'name="ids" value="{short.pk}" form="bulk"' in page

    acknowledged = client.post(
        "/recon/exceptions/bulk/",
        {"ids": [str(short.pk), str(bad_line.pk)], "action": "acknowledge", "note": "asked Stripe", "query": ""},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "2 acknowledged." in acknowledged
    assert "<html" not in acknowledged
    assert fresh(short, tenant_a.tenant).note == "asked Stripe"

    resolved = client.post(
        "/recon/exceptions/bulk/",
        {
            "ids": [str(short.pk), str(bad_line.pk)],
            "action": "resolve",
            "note": "bank fee, booked by hand",
            "query": "state=open&state=acknowledged&reason=line_net_mismatch",
        },
        HTTP_HX_REQUEST="true",
    )

    body = resolved.content.decode()
    assert "2 resolved." in body
    assert resolved["HX-Trigger"] == "recon-changed"
    assert "0 exceptions" in body  # the queue as it was filtered, now empty
    assert 'value="line_net_mismatch" id="id_reason_0"' not in body  # the queue only, not its filter form
    for exception in (short, bad_line):
        stored = fresh(exception, tenant_a.tenant)
        assert (stored.state, stored.note, stored.resolved_by_email) == (
            "resolved",
            "bank fee, booked by hand",
            "accountant@acme.example.com",
        )
    with tenant_context(tenant_a.tenant):
        assert AuditEvent.objects.filter(action="recon.exception_resolved", detail__bulk=True).count() == 2


def test_ticking_nothing_or_leaving_out_the_note_is_said_and_changes_nothing(books, tenant_a):
    short = books[("payout_total_mismatch", "po_2")]
    client = signed_in("accountant")

    nothing = client.post("/recon/exceptions/bulk/", {"action": "resolve", "note": "x"}, HTTP_HX_REQUEST="true")
    no_note = client.post(
        "/recon/exceptions/bulk/", {"ids": [str(short.pk)], "action": "resolve"}, HTTP_HX_REQUEST="true"
    )
    # without JavaScript: back to the queue as it was filtered, the outcome as a message
    plain = client.post(
        "/recon/exceptions/bulk/",
        {"ids": [str(short.pk)], "action": "resolve", "query": "reason=payout_total_mismatch"},
        follow=True,
    )

    assert "Tick the exceptions to act on first." in nothing.content.decode()
    assert "note" in no_note.content.decode().lower()
    assert "HX-Trigger" not in no_note
    assert plain.redirect_chain[-1][0] == "/recon/?reason=payout_total_mismatch"
    assert "note" in plain.content.decode().lower()
    assert fresh(short, tenant_a.tenant).state == "open"


def test_a_viewer_sees_no_boxes_and_cannot_work_the_queue_in_bulk(books, tenant_a):
    short = books[("payout_total_mismatch", "po_2")]
    viewer = signed_in("viewer")

    page = viewer.get("/recon/").content.decode()
    refused = viewer.post("/recon/exceptions/bulk/", {"ids": [str(short.pk)], "action": "resolve", "note": "no"})

    assert 'form id="bulk"' not in page
    assert 'name="ids"' not in page
    assert refused.status_code == 403
    assert fresh(short, tenant_a.tenant).state == "open"


def test_pages_say_a_disputes_status_and_a_payouts_failure_in_words_as_stored_in_codes(tenant_a, in_tenant, api_as):
    from recon.tests.factories import dispute_row

    with in_tenant(tenant_a.tenant):
        conn = connection()
        write(
            conn,
            *sale(conn, 1, payout="po_1", amount=10000, fee=320),
            dispute_row("dp_1", payment="ch_1", amount=10000, status="under_review"),
            line_row("txn_dp_1", payout="po_1", amount=-10000, fee=1500, category="dispute", object_id="dp_1"),
            payout_row("po_1", 9680 - 11500),
            payout_own_line("po_1", -1820),
            *sale(conn, 2, payout="po_2", amount=4132, fee=132),
            payout_row("po_2", 4000, status="failed", failure_code="account_closed"),
            payout_own_line("po_2", 4000),
        )
        reconcile()
        dispute = ReconException.objects.get(reason="dispute_open")
        failed = ReconException.objects.get(reason="payout_failed")
    client = signed_in("accountant")

    queue = client.get("/recon/").content.decode()
    payout = client.get(f"/recon/payouts/{dispute.payout_id}/").content.decode()
    api = api_as(tenant_a.accountant, tenant_a.tenant).get(f"/api/v1/recon/exceptions/{dispute.pk}/").json()

    assert "Dispute dp_1 over 100.00 USD is under review: the funds may not come back." in queue
    assert "Payout po_2 of 40.00 USD failed (account closed)." in queue
    assert "under review" in payout
    for page in (queue, payout):
        assert "under_review" not in page
        assert "account_closed" not in page
    # what is stored, and what the API gives scripts, keeps the codes
    assert dispute.detail["status"] == "under_review"
    assert failed.detail["failure_code"] == "account_closed"
    assert "is under_review:" in api["message"]
