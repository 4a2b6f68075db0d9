"""The console: acknowledge and resolve exceptions, re-run a payout's reconciliation; viewers cannot."""

from __future__ import annotations

import pytest
from django.test import Client

from conftest import PASSWORD
from recon.models import ReconException, ReconPayout, ReconRun
from recon.tests.factories import connection, payout_own_line, payout_row, reconcile, sale, write


def signed_in(email: str) -> Client:
    client = Client()
    assert client.post("/login/", {"email": email, "password": PASSWORD}).status_code == 302
    return client


@pytest.fixture
def exception(tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        conn = connection()
        write(
            conn,
            *sale(conn, 1, payout="po_1", amount=10000, fee=320),
            payout_row("po_1", 9000),
            payout_own_line("po_1", 9000),
        )
        reconcile()
        return ReconException.objects.get()


def test_accountant_resolves_from_the_exceptions_queue_with_a_note(exception, tenant_a, in_tenant):
    client = signed_in("accountant@acme.example.com")
    assert "po_1" in client.get("/admin/recon/reconexception/").content.decode()

    response = client.post(
        "/admin/recon/reconexception/",
        {"action": "resolve_selected", "_selected_action": [str(exception.pk)], "note": "short-paid by the bank"},
    )

    assert response.status_code == 302
    with in_tenant(tenant_a.tenant):
        exception.refresh_from_db()
        assert (exception.state, exception.note, exception.resolved_by_email) == (
            "resolved", "short-paid by the bank", "accountant@acme.example.com")  # fmt: skip
        assert ReconPayout.objects.get().status == "reconciled"


def test_an_exceptions_page_in_the_console_shows_every_note_with_who_gave_it(exception, tenant_a, in_tenant):
    from recon.services import exception_acknowledge, exception_resolve

    with in_tenant(tenant_a.tenant):
        exception_acknowledge(actor=tenant_a.accountant, exception=exception, note="asked the bank <b>why</b>")
        exception_resolve(actor=tenant_a.admin, exception=exception, note="bank fee, booked by hand")

    page = signed_in("viewer@acme.example.com").get(f"/admin/recon/reconexception/{exception.pk}/change/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "acknowledged by accountant@acme.example.com: “asked the bank &lt;b&gt;why&lt;/b&gt;”" in text
    assert "resolved by admin@acme.example.com: “bank fee, booked by hand”" in text


def test_resolving_in_the_console_without_a_note_is_refused(exception, tenant_a, in_tenant):
    client = signed_in("accountant@acme.example.com")

    response = client.post(
        "/admin/recon/reconexception/",
        {"action": "resolve_selected", "_selected_action": [str(exception.pk)]},
        follow=True,
    )

    assert "A note saying why is required" in response.content.decode()
    with in_tenant(tenant_a.tenant):
        exception.refresh_from_db()
    assert exception.state == "open"


def test_viewer_sees_the_queue_but_cannot_act(exception, tenant_a, in_tenant):
    client = signed_in("viewer@acme.example.com")
    assert client.get("/admin/recon/reconexception/").status_code == 200

    client.post(
        "/admin/recon/reconexception/", {"action": "acknowledge_selected", "_selected_action": [str(exception.pk)]}
    )

    with in_tenant(tenant_a.tenant):
        exception.refresh_from_db()
    assert exception.state == "open"


def test_rerun_action_queues_a_targeted_run(exception, tenant_a, in_tenant, django_capture_on_commit_callbacks):
    client = signed_in("admin@acme.example.com")
    with in_tenant(tenant_a.tenant):
        status = ReconPayout.objects.get()

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            "/admin/recon/reconpayout/", {"action": "rerun_selected", "_selected_action": [str(status.pk)]}
        )

    assert response.status_code == 302
    assert len(callbacks) == 1
    with in_tenant(tenant_a.tenant):
        run = ReconRun.objects.get(trigger="admin")
    assert (run.status, run.payout_ids, run.requested_by_email) == (
        "queued", [str(status.payout_id)], "admin@acme.example.com")  # fmt: skip


@pytest.mark.parametrize(
    ("selected", "says"),
    [
        (["00000000-0000-0000-0000-000000000000"], "None of the selected items exist any more; nothing was changed."),
        (["notauuid"], "The selection holds an id that is not valid; nothing was changed."),
    ],
)
def test_an_action_on_a_stale_or_bad_selection_changes_nothing(
    selected, says, exception, tenant_a, in_tenant, django_capture_on_commit_callbacks
):
    client = signed_in("admin@acme.example.com")

    with django_capture_on_commit_callbacks() as callbacks:
        rerun = client.post(
            "/admin/recon/reconpayout/", {"action": "rerun_selected", "_selected_action": selected}, follow=True
        )
    acknowledge = client.post(
        "/admin/recon/reconexception/", {"action": "acknowledge_selected", "_selected_action": selected}, follow=True
    )

    assert says in rerun.content.decode()
    assert says in acknowledge.content.decode()
    assert callbacks == []  # no run was queued, least of all one over the whole tenant
    with in_tenant(tenant_a.tenant):
        assert not ReconRun.objects.filter(trigger="admin").exists()
        exception.refresh_from_db()
    assert exception.state == "open"


def test_a_nul_in_a_note_or_a_filter_is_a_message_not_a_500(exception, tenant_a, in_tenant):
    client = signed_in("accountant@acme.example.com")

    resolve = client.post(
        "/admin/recon/reconexception/",
        {"action": "resolve_selected", "_selected_action": [str(exception.pk)], "note": "a\x00b"},
        follow=True,
    )
    listing = client.get("/admin/recon/reconexception/", {"state__exact": "\x00"}, follow=True)
    unreadable = client.get("/admin/recon/reconexception/", {"last_seen_at__year": "abc"}, follow=True)

    assert "The note contains a NUL character" in resolve.content.decode()
    assert listing.status_code == 200
    assert "Filter values cannot contain NUL characters." in listing.content.decode()
    assert "A filter in the address could not be read, so the whole list is shown." in unreadable.content.decode()
    with in_tenant(tenant_a.tenant):
        exception.refresh_from_db()
    assert exception.state == "open"


def test_select_all_acts_on_every_exception_past_a_thousand(tenant_a, in_tenant):
    from recon.tests.factories import line_row

    with in_tenant(tenant_a.tenant):
        conn = connection()
        # 1,001 lines whose charge was never synced: one line_unmatched exception each
        write(
            conn,
            *[line_row(f"txn_{i}", payout="po_big", amount=100, object_id=f"ch_missing_{i}") for i in range(1001)],
            payout_row("po_big", 100_100),
            payout_own_line("po_big", 100_100),
        )
        reconcile()
        ids = [str(pk) for pk in ReconException.objects.values_list("pk", flat=True)[:1]]
        assert ReconException.objects.filter(reason="line_unmatched").count() == 1001
    client = signed_in("accountant@acme.example.com")

    response = client.post(
        "/admin/recon/reconexception/",
        {"action": "acknowledge_selected", "_selected_action": ids, "select_across": "1"},
        follow=True,
    )

    assert "1001 exception(s) acknowledged." in response.content.decode()
    with in_tenant(tenant_a.tenant):
        assert not ReconException.objects.filter(state="open").exists()


def test_the_console_lists_amounts_as_money_not_minor_units(exception):
    client = signed_in("accountant@acme.example.com")

    exceptions = client.get("/admin/recon/reconexception/").content.decode()
    payouts = client.get("/admin/recon/reconpayout/").content.decode()
    lines = client.get("/admin/canonical/payoutline/").content.decode()
    by_amount = client.get("/admin/recon/reconpayout/", {"o": "4"})  # sorted by the payout amount column

    # po_1 pays 90.00 for a sale netting 96.80
    assert ">96.80 USD<" in exceptions
    assert ">90.00 USD<" in exceptions
    assert ">9680<" not in exceptions
    assert ">Expected<" in exceptions  # not "Expected minor"
    assert ">90.00 USD<" in payouts
    assert ">96.80 USD<" in payouts
    assert ">-6.80 USD<" in payouts
    assert ">100.00 USD<" in lines
    assert ">3.20 USD<" in lines
    assert by_amount.status_code == 200
