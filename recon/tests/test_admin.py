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
