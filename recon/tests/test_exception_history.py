"""An exception's history: every note people gave it, with who and when, survives the next one.

The exception keeps only the latest note; acknowledging with one note and resolving with
another must not lose the first. The API (detail and list), the queue and the payout's page
show each state change, read from the audit trail in one query per page, never one per row.
"""

from __future__ import annotations

import html

import pytest
from django.db import connection as db

from conftest import signed_in
from recon.models import ReconException
from recon.tests.factories import connection, line_row, payout_own_line, payout_row, reconcile, sale, write
from recon.tests.test_services import _copies_on_the_same_payout

ASKED = "Asked Stripe about the 2.20 gap"
BOOKED = "Stripe fee adjustment, booked by hand"


@pytest.fixture
def two_on_one_payout(tenant_a, in_tenant) -> dict[str, ReconException]:
    """po_1 pays 100.00 for a sale netting 96.80 plus a line of 1.00 matching nothing: its total
    and that line are two open exceptions, by reason."""
    with in_tenant(tenant_a.tenant):
        conn = connection()
        write(
            conn,
            *sale(conn, 1, payout="po_1", amount=10000, fee=320),
            line_row("txn_orphan", payout="po_1", amount=100, object_id="ch_none"),
            payout_row("po_1", 10000),
            payout_own_line("po_1", 10000),
        )
        reconcile()
        return {e.reason: e for e in ReconException.objects.all()}


def _acknowledge_then_resolve(path: str, exception: ReconException, tenant_a, api_as) -> None:
    """The accountant acknowledges with one note, the admin resolves with another, one by one or in bulk."""
    accountant = api_as(tenant_a.accountant, tenant_a.tenant)
    admin = api_as(tenant_a.admin, tenant_a.tenant)
    if path == "single":
        answers = [
            accountant.post(f"/api/v1/recon/exceptions/{exception.pk}/acknowledge/", {"note": ASKED}),
            admin.post(f"/api/v1/recon/exceptions/{exception.pk}/resolve/", {"note": BOOKED}),
        ]
    else:
        bulk = "/api/v1/recon/exceptions/bulk/"
        answers = [
            accountant.post(bulk, {"ids": [str(exception.pk)], "action": "acknowledge", "note": ASKED}, format="json"),
            admin.post(bulk, {"ids": [str(exception.pk)], "action": "resolve", "note": BOOKED}, format="json"),
        ]
    assert [a.status_code for a in answers] == [200, 200], [a.content for a in answers]


def _people(history: list[dict]) -> list[tuple[str, str, str, str, str]]:
    return [(h["action"], h["from_state"], h["to_state"], h["by_email"], h["note"]) for h in history]


@pytest.mark.parametrize("path", ["single", "bulk"])
def test_the_api_shows_both_notes_with_who_gave_them(path, two_on_one_payout, tenant_a, api_as):
    exception = two_on_one_payout["payout_total_mismatch"]
    _acknowledge_then_resolve(path, exception, tenant_a, api_as)
    viewer = api_as(tenant_a.viewer, tenant_a.tenant)

    detail = viewer.get(f"/api/v1/recon/exceptions/{exception.pk}/").json()
    listed = viewer.get("/api/v1/recon/exceptions/", {"state": "resolved"}).json()["results"]

    expected = [
        ("acknowledged", "open", "acknowledged", tenant_a.accountant.email, ASKED),
        ("resolved", "acknowledged", "resolved", tenant_a.admin.email, BOOKED),
    ]
    assert detail["note"] == BOOKED  # the latest person's
    assert _people(detail["history"]) == expected
    assert all(h["by_kind"] == "user" and h["at"] for h in detail["history"])
    assert detail["history"][0]["at"] <= detail["history"][1]["at"]
    assert [(e["id"], _people(e["history"])) for e in listed] == [(str(exception.pk), expected)]


def test_resolving_through_the_api_answers_with_the_whole_history(two_on_one_payout, tenant_a, api_as):
    exception = two_on_one_payout["payout_total_mismatch"]
    accountant = api_as(tenant_a.accountant, tenant_a.tenant)

    accountant.post(f"/api/v1/recon/exceptions/{exception.pk}/acknowledge/", {"note": ASKED})
    resolved = accountant.post(f"/api/v1/recon/exceptions/{exception.pk}/resolve/", {"note": BOOKED}).json()

    assert [h["note"] for h in resolved["history"]] == [ASKED, BOOKED]


@pytest.mark.parametrize("path", ["single", "bulk"])
def test_the_queue_and_the_payout_page_show_both_notes_with_who_gave_them(path, two_on_one_payout, tenant_a, api_as):
    exception = two_on_one_payout["payout_total_mismatch"]
    _acknowledge_then_resolve(path, exception, tenant_a, api_as)
    browser = signed_in(tenant_a.viewer.email)

    queue = html.unescape(browser.get("/recon/", {"state": "resolved"}).content.decode())
    payout = html.unescape(browser.get(f"/recon/payouts/{exception.payout_id}/").content.decode())

    for page in (queue, payout):
        assert f"acknowledged by {tenant_a.accountant.email}: “{ASKED}”" in page
        assert f"resolved by {tenant_a.admin.email}: “{BOOKED}”" in page
        assert page.index(ASKED) < page.index(BOOKED)  # oldest first


def test_a_row_worked_on_the_page_answers_with_its_history(two_on_one_payout, tenant_a):
    exception = two_on_one_payout["line_unmatched"]
    accountant = signed_in(tenant_a.accountant.email)

    accountant.post(f"/recon/exceptions/{exception.pk}/acknowledge/", {"note": ASKED}, HTTP_HX_REQUEST="true")
    row = accountant.post(
        f"/recon/exceptions/{exception.pk}/resolve/", {"note": BOOKED}, HTTP_HX_REQUEST="true"
    ).content.decode()

    row = html.unescape(row)
    assert f"acknowledged by {tenant_a.accountant.email}: “{ASKED}”" in row
    assert f"resolved by {tenant_a.accountant.email}: “{BOOKED}”" in row


def test_the_engine_closing_and_reopening_is_in_the_history_as_the_system(
    two_on_one_payout, tenant_a, in_tenant, api_as
):
    exception = two_on_one_payout["line_unmatched"]
    client = api_as(tenant_a.accountant, tenant_a.tenant)
    client.post(f"/api/v1/recon/exceptions/{exception.pk}/acknowledge/", {"note": ASKED})
    with in_tenant(tenant_a.tenant):  # the charge the line pays out arrives: the cause is gone
        order, payment, _ = sale(exception.connection, 9, payout="po_1", amount=100, fee=0)
        charge_line = line_row("txn_orphan", payout="po_1", amount=100, object_id="ch_9")
        write(exception.connection, order, payment, charge_line)
        run = reconcile()

    history = client.get(f"/api/v1/recon/exceptions/{exception.pk}/").json()["history"]

    assert [(h["action"], h["by_kind"], h["by_email"]) for h in history] == [
        ("acknowledged", "user", tenant_a.accountant.email),
        ("resolved", "system", ""),
    ]
    assert history[0]["note"] == ASKED
    assert history[1]["note"] == f"cause gone (run {run.pk})"


def test_each_list_and_page_reads_the_histories_in_one_query(two_on_one_payout, tenant_a, in_tenant, api_as):
    # Ten exceptions on po_1, each acknowledged and resolved: a query per row would be ten.
    exception = two_on_one_payout["payout_total_mismatch"]
    with in_tenant(tenant_a.tenant):
        ids = [*_copies_on_the_same_payout(exception, 9), two_on_one_payout["line_unmatched"].pk]
    bulk = "/api/v1/recon/exceptions/bulk/"
    accountant = api_as(tenant_a.accountant, tenant_a.tenant)
    for action, note in (("acknowledge", ASKED), ("resolve", BOOKED)):
        answer = accountant.post(bulk, {"ids": [str(i) for i in ids], "action": action, "note": note}, format="json")
        assert len(answer.json()["changed"]) == 10
    browser = signed_in(tenant_a.accountant.email)
    reads: dict[str, int] = {}
    current = ""

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if "audit_auditevent" in sql and sql.lstrip().upper().startswith("SELECT"):
            reads[current] = reads.get(current, 0) + 1
        return execute(sql, params, many, context)

    requests = {
        "queue": lambda: browser.get("/recon/", {"state": "resolved"}),
        "payout page": lambda: browser.get(f"/recon/payouts/{exception.payout_id}/"),
        "API list": lambda: accountant.get("/api/v1/recon/exceptions/", {"state": "resolved"}),
        "API explain": lambda: accountant.get(f"/api/v1/recon/payouts/{exception.payout_id}/explain/"),
    }
    # Each request clears Django's query log as it starts: record every statement instead.
    with db.execute_wrapper(record):
        for name, request in requests.items():
            current = name
            answer = request()
            assert answer.status_code == 200, name
            assert answer.content.decode().count(BOOKED) >= 10, name

    assert reads == dict.fromkeys(requests, 1)


def _audit_reads(sql: str) -> bool:
    return "audit_auditevent" in sql and sql.lstrip().upper().startswith("SELECT")


def test_an_export_reads_the_histories_a_chunk_at_a_time_never_a_row_at_a_time(two_on_one_payout, tenant_a, in_tenant):
    from recon import selectors
    from recon.services import exception_act

    exception = two_on_one_payout["payout_total_mismatch"]
    with in_tenant(tenant_a.tenant):
        ids = [*_copies_on_the_same_payout(exception, 9), two_on_one_payout["line_unmatched"].pk]
        for pk in ids:
            exception_act(actor=tenant_a.accountant, exception=ReconException.objects.get(pk=pk), action="resolve",
                          note=BOOKED)  # fmt: skip
        reads = []

        def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
            if _audit_reads(sql):
                reads.append(sql)
            return execute(sql, params, many, context)

        exceptions = selectors.exception_list(user=tenant_a.accountant, filters={"state": ["resolved"]})
        with db.execute_wrapper(record):
            streamed = list(selectors.with_history_streamed(user=tenant_a.accountant, exceptions=exceptions,
                                                            chunk_size=4))  # fmt: skip

    assert sorted(str(e.pk) for e in streamed) == sorted(str(pk) for pk in ids)
    assert len(reads) == 3  # ten rows in chunks of four
    assert all([h["note"] for h in e.history] == [BOOKED] for e in streamed)


def test_the_note_history_names_who_when_and_what_one_entry_a_line(two_on_one_payout, tenant_a, in_tenant, api_as):
    from audit.models import AuditEvent
    from recon import selectors

    exception = two_on_one_payout["line_unmatched"]
    api_as(tenant_a.accountant, tenant_a.tenant).post(
        f"/api/v1/recon/exceptions/{exception.pk}/acknowledge/", {"note": ASKED}
    )
    with in_tenant(tenant_a.tenant):  # the charge the line pays out arrives: the engine resolves it
        order, payment, _ = sale(exception.connection, 9, payout="po_1", amount=100, fee=0)
        write(exception.connection, order, payment, line_row("txn_orphan", payout="po_1", amount=100, object_id="ch_9"))
        run = reconcile()
        [streamed] = selectors.with_history_streamed(
            user=tenant_a.viewer, exceptions=selectors.exception_list(user=tenant_a.viewer).filter(pk=exception.pk)
        )
        acknowledged, resolved = (
            at.strftime("%Y-%m-%d %H:%M")
            for at in AuditEvent.objects.filter(target_id=str(exception.pk), action__startswith="recon.exception_")
            .order_by("created_at")
            .values_list("created_at", flat=True)
        )

    assert selectors.note_history_text(streamed.history) == (
        f'{acknowledged} UTC {tenant_a.accountant.email} acknowledged: "{ASKED}"\n'
        f'{resolved} UTC system resolved: "cause gone (run {run.pk})"'
    )
