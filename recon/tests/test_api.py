"""The recon API: runs on demand, the exceptions workflow, payout status and explain; who may
do what, bad input answered with the field at fault, and another tenant's ids as 404."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from canonical.models import Payout
from recon.models import ReconException, ReconRun
from recon.tests.factories import (
    connection,
    dispute_row,
    line_row,
    order_row,
    payment_row,
    payout_own_line,
    payout_row,
    reconcile,
    sale,
    write,
)

ROLES = ["owner", "admin", "accountant", "viewer"]
WORKERS = {"owner", "admin", "accountant"}


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_and_only_working_roles_act(
    role, tenant_a, in_tenant, api_as, ledger, django_capture_on_commit_callbacks
):
    client = api_as(tenant_a.user(role), tenant_a.tenant)
    exception = ledger["exception"]
    payout = ledger["payouts"]["po_1"]

    for path in (
        "/api/v1/recon/runs/",
        f"/api/v1/recon/runs/{ledger['run'].pk}/",
        "/api/v1/recon/exceptions/",
        f"/api/v1/recon/exceptions/{exception.pk}/",
        "/api/v1/recon/payouts/",
        f"/api/v1/recon/payouts/{payout.pk}/explain/",
    ):
        assert client.get(path).status_code == 200, path

    allowed = role in WORKERS
    with django_capture_on_commit_callbacks():
        started = client.post("/api/v1/recon/runs/", {}, format="json")
    assert started.status_code == (202 if allowed else 403)
    acknowledged = client.post(f"/api/v1/recon/exceptions/{exception.pk}/acknowledge/", {"note": "looking"})
    assert acknowledged.status_code == (200 if allowed else 403)
    bulk = client.post(
        "/api/v1/recon/exceptions/bulk/", {"ids": [str(exception.pk)], "action": "resolve", "note": "ok"}
    )
    assert bulk.status_code == (200 if allowed else 403)
    resolved = client.post(f"/api/v1/recon/exceptions/{exception.pk}/resolve/", {"note": "ok"})
    assert resolved.status_code == (400 if allowed else 403)  # already resolved by the bulk action, or refused
    with in_tenant(tenant_a.tenant):
        exception.refresh_from_db()
    assert exception.state == ("resolved" if allowed else "open")


def test_start_a_run_on_demand_answers_202_and_queues_it(tenant_a, api_as, ledger, django_capture_on_commit_callbacks):
    client = api_as(tenant_a.accountant, tenant_a.tenant)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            "/api/v1/recon/runs/",
            {"connection_ids": [str(ledger["conn"].pk)], "payout_ids": ["po_1"]},
            format="json",
        )

    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["trigger"], body["requested_by_email"]) == ("queued", "api", tenant_a.accountant.email)
    assert body["payout_ids"] == [str(ledger["payouts"]["po_1"].pk)]
    assert len(callbacks) == 1
    assert client.get(f"/api/v1/recon/runs/{body['id']}/").json()["status"] == "queued"


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/api/v1/recon/runs/", {"connection_ids": ["not-an-id"]}, "connection_ids"),
        ("/api/v1/recon/runs/", {"date_from": "2026-02-01", "date_to": "2026-01-01"}, "date_to"),
        ("/api/v1/recon/runs/", {"date_from": "yesterday"}, "date_from"),
        ("/api/v1/recon/runs/", {"payouts": ["po_1"]}, "payouts"),  # misspelt: not a run over everything
        ("/api/v1/recon/runs/", {"payout_ids": []}, "payout_ids"),  # none: not a run over everything either
        ("/api/v1/recon/runs/", {"connection_ids": [123]}, "connection_ids"),
        ("/api/v1/recon/runs/", [], "non_field_errors"),
        ("/api/v1/recon/close/", {"month": "2026-10", "force": True}, "force"),
        ("/api/v1/recon/exceptions/bulk/", {"ids": [], "action": "acknowledge"}, "ids"),
        (
            "/api/v1/recon/exceptions/bulk/",
            {"ids": ["00000000-0000-0000-0000-000000000001"], "action": "delete"},
            "action",
        ),
        (
            "/api/v1/recon/exceptions/bulk/",
            {"ids": ["00000000-0000-0000-0000-000000000001"], "action": "resolve"},
            "note",
        ),
    ],
)
def test_bad_input_is_400_naming_the_field(path, payload, field, tenant_a, api_as, ledger):
    client = api_as(tenant_a.owner, tenant_a.tenant)
    runs_before = client.get("/api/v1/recon/runs/").json()["count"]

    response = client.post(path, payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert client.get("/api/v1/recon/runs/").json()["count"] == runs_before


def test_resolve_without_a_note_and_bad_filters_are_400(tenant_a, api_as, ledger):
    client = api_as(tenant_a.owner, tenant_a.tenant)
    exception = ledger["exception"]

    assert "note" in client.post(f"/api/v1/recon/exceptions/{exception.pk}/resolve/", {}).json()
    assert client.get("/api/v1/recon/exceptions/", {"reason": "bogus"}).status_code == 400
    assert "reason" in client.get("/api/v1/recon/exceptions/", {"reason": "bogus"}).json()
    explain = client.get(f"/api/v1/recon/payouts/{ledger['payouts']['po_1'].pk}/explain/", {"line_limit": "0"})
    assert (explain.status_code, list(explain.json())) == (400, ["line_limit"])


@pytest.mark.parametrize(
    ("path", "misspelt"),
    [
        ("/api/v1/recon/exceptions/", "reasons"),
        ("/api/v1/recon/runs/", "state"),
        ("/api/v1/recon/payouts/", "recon_status"),
    ],
)
def test_a_misspelt_filter_is_400_not_the_whole_list(path, misspelt, tenant_a, api_as, ledger):
    # a list read to bulk-resolve what it holds must not quietly hold everything
    client = api_as(tenant_a.viewer, tenant_a.tenant)

    response = client.get(path, {misspelt: "dispute_open", "page_size": "10"})

    assert response.status_code == 400
    assert list(response.json()) == [misspelt]
    assert response.json()[misspelt][0].startswith("Unknown filter.")


def test_exceptions_list_filters_by_reason_state_payout_and_date(tenant_a, api_as, ledger, in_tenant):
    with in_tenant(tenant_a.tenant):
        conn = ledger["conn"]
        write(conn, line_row("txn_orphan", payout="po_3", amount=500, object_id="ch_none"), payout_row("po_3", 500))
        reconcile()
    client = api_as(tenant_a.viewer, tenant_a.tenant)

    def refs(**query):
        response = client.get("/api/v1/recon/exceptions/", query)
        assert response.status_code == 200
        return {(row["reason"], row["subject_ref"]) for row in response.json()["results"]}

    assert refs() == {("payout_total_mismatch", "po_1"), ("line_unmatched", "txn_orphan")}
    assert refs(reason="line_unmatched") == {("line_unmatched", "txn_orphan")}
    assert refs(payout=str(ledger["payouts"]["po_1"].pk)) == {("payout_total_mismatch", "po_1")}
    assert refs(state="resolved") == set()
    assert refs(connection=str(ledger["conn"].pk), date_to="2000-01-01") == set()
    row = client.get("/api/v1/recon/exceptions/", {"reason": "payout_total_mismatch"}).json()["results"][0]
    assert (row["expected_minor"], row["actual_minor"], row["difference_minor"]) == (9680, 10000, 320)
    assert row["message"].startswith("Payout po_1 is 100.00 USD")


def test_payouts_list_shows_each_payouts_status(tenant_a, api_as, ledger):
    client = api_as(tenant_a.viewer, tenant_a.tenant)

    rows = {row["source_id"]: row for row in client.get("/api/v1/recon/payouts/").json()["results"]}

    assert (rows["po_1"]["recon_status"], rows["po_1"]["difference_minor"]) == ("exceptions", 320)
    assert (rows["po_2"]["recon_status"], rows["po_2"]["difference_minor"]) == ("reconciled", 0)
    only = client.get("/api/v1/recon/payouts/", {"status": "reconciled"}).json()["results"]
    assert [row["source_id"] for row in only] == ["po_2"]


def test_explain_a_payout_line_by_line(tenant_a, api_as, in_tenant):
    with in_tenant(tenant_a.tenant):
        conn = connection()
        # a sale (net 96.80), a dispute withdrawing 40.00 + 15.00 fee (net -55.00), a line whose
        # charge was never synced (20.00): 61.80; the payout of 80.00 is 18.20 more
        write(
            conn,
            *sale(conn, 1, payout="po_x", amount=10000, fee=320),
            order_row("pi_2", total=4000),
            payment_row("ch_2", order="pi_2", amount=4000),
            dispute_row("dp_2", payment="ch_2", amount=4000, status="lost"),
            line_row("txn_dp_2", payout="po_x", amount=-4000, fee=1500, category="dispute", object_id="dp_2"),
            line_row("txn_ch_9", payout="po_x", amount=2000, object_id="ch_9"),
            payout_row("po_x", 8000),
            payout_own_line("po_x", 8000),
        )
        reconcile()
        payout_id = ReconException.objects.filter(reason="payout_total_mismatch").get().payout_id

    body = api_as(tenant_a.viewer, tenant_a.tenant).get(f"/api/v1/recon/payouts/{payout_id}/explain/").json()

    assert (body["lines_total_minor"], body["difference_minor"], body["difference"]) == (6180, 1820, "18.20 USD")
    assert body["status"] == "exceptions"
    lines = {line["source_id"]: line for line in body["lines"]}
    assert lines["txn_ch_1"]["matched"]["source_id"] == "ch_1"
    assert lines["txn_ch_1"]["matched"]["order"]["total_minor"] == 10000
    assert lines["txn_dp_2"]["matched"] == {
        "type": "dispute", "id": lines["txn_dp_2"]["matched"]["id"], "source_id": "dp_2", "currency": "USD",
        "amount_minor": 4000, "status": "lost", "payment_source_id": "ch_2",
    }  # fmt: skip
    assert lines["txn_ch_9"]["matched"] is None
    assert lines["txn_ch_9"]["exceptions"] == ["line_unmatched"]
    assert lines["txn_po_x"]["own_payout_line"] is True
    assert {e["reason"] for e in body["exceptions"]} == {"payout_total_mismatch", "line_unmatched"}
    assert body["summary"] == (
        "The lines add up to 61.80 USD; the payout is 80.00 USD: a difference of 18.20 USD. 2 open exceptions: "
        "Line's payment, refund or dispute is missing; Payout does not equal the sum of its lines."
    )  # the reasons as every page names them; ``exceptions`` carries their codes
    assert (body["line_count"], body["own_line_count"], body["lines_truncated"]) == (4, 1, False)
    assert body["by_category"]["dispute"] == {"count": 1, "amount_minor": -4000, "fee_minor": 1500, "net_minor": -5500}


def test_explain_of_a_payout_that_adds_up_counts_its_transaction_lines(tenant_a, api_as, in_tenant):
    with in_tenant(tenant_a.tenant):
        conn = connection()
        # two sales of 100.00 (fee 3.20 each, net 96.80): 193.60, and the payout's own line
        write(
            conn,
            *sale(conn, 1, payout="po_ok", amount=10000, fee=320),
            *sale(conn, 2, payout="po_ok", amount=10000, fee=320),
            payout_row("po_ok", 19360),
            payout_own_line("po_ok", 19360),
        )
        reconcile()
        payout_id = Payout.objects.get(source_id="po_ok").pk

    body = api_as(tenant_a.viewer, tenant_a.tenant).get(f"/api/v1/recon/payouts/{payout_id}/explain/").json()

    assert body["summary"] == "Its 2 transaction lines add up to the payout, 193.60 USD."
    assert (body["line_count"], body["own_line_count"], body["difference_minor"]) == (3, 1, 0)


def test_explain_shows_on_a_line_the_exceptions_of_what_it_stands_for(tenant_a, api_as, in_tenant):
    with in_tenant(tenant_a.tenant):
        conn = connection()
        # a sale of 100.00 (net 96.80) and a dispute of it still under review (-100.00, fee 15.00)
        write(
            conn,
            *sale(conn, 1, payout="po_d", amount=10000, fee=320),
            dispute_row("dp_1", payment="ch_1", amount=10000, status="under_review"),
            line_row("txn_dp_1", payout="po_d", amount=-10000, fee=1500, category="dispute", object_id="dp_1"),
            payout_row("po_d", -1820),
            payout_own_line("po_d", -1820),
        )
        reconcile()
        payout_id = Payout.objects.get(source_id="po_d").pk

    body = api_as(tenant_a.viewer, tenant_a.tenant).get(f"/api/v1/recon/payouts/{payout_id}/explain/").json()

    lines = {line["source_id"]: line for line in body["lines"]}
    assert lines["txn_dp_1"]["exceptions"] == ["dispute_open"]
    assert lines["txn_ch_1"]["exceptions"] == []


def test_explain_totals_cover_every_line_when_only_the_first_are_listed(tenant_a, api_as, in_tenant):
    with in_tenant(tenant_a.tenant):
        conn = connection()
        # three sales of 100.00 (fee 3.20 each, net 96.80): 290.40; the payout says 300.00
        write(
            conn,
            *sale(conn, 1, payout="po_x", amount=10000, fee=320),
            *sale(conn, 2, payout="po_x", amount=10000, fee=320),
            *sale(conn, 3, payout="po_x", amount=10000, fee=320),
            payout_row("po_x", 30000),
            payout_own_line("po_x", 30000),
        )
        reconcile()
        payout_id = ReconException.objects.filter(reason="payout_total_mismatch").get().payout_id

    body = (
        api_as(tenant_a.viewer, tenant_a.tenant)
        .get(f"/api/v1/recon/payouts/{payout_id}/explain/", {"line_limit": "1"})
        .json()
    )

    assert (len(body["lines"]), body["lines_truncated"], body["line_count"]) == (1, True, 4)
    assert (body["lines_total_minor"], body["difference_minor"], body["difference"]) == (29040, 960, "9.60 USD")
    assert body["by_category"] == {"charge": {"count": 3, "amount_minor": 30000, "fee_minor": 960, "net_minor": 29040}}


def test_another_tenants_runs_and_exceptions_are_never_seen_and_their_ids_are_404(
    tenant_a, tenant_b, in_tenant, api_as, ledger, other, django_capture_on_commit_callbacks
):
    client = api_as(tenant_a.owner, tenant_a.tenant)

    runs = {row["id"] for row in client.get("/api/v1/recon/runs/", {"page_size": 1000}).json()["results"]}
    exceptions = {row["id"] for row in client.get("/api/v1/recon/exceptions/", {"page_size": 1000}).json()["results"]}
    payouts = {row["id"] for row in client.get("/api/v1/recon/payouts/", {"page_size": 1000}).json()["results"]}
    assert str(ledger["run"].pk) in runs
    assert str(other["run"].pk) not in runs
    assert str(ledger["exception"].pk) in exceptions
    assert str(other["exception"].pk) not in exceptions
    assert str(other["payout"].pk) not in payouts

    theirs = other["exception"].pk
    assert client.get(f"/api/v1/recon/runs/{other['run'].pk}/").status_code == 404
    assert client.get(f"/api/v1/recon/exceptions/{theirs}/").status_code == 404
    assert client.post(f"/api/v1/recon/exceptions/{theirs}/acknowledge/", {}).status_code == 404
    assert client.post(f"/api/v1/recon/exceptions/{theirs}/resolve/", {"note": "x"}).status_code == 404
    assert (
        client.post(
            "/api/v1/recon/exceptions/bulk/", {"ids": [str(theirs)], "action": "acknowledge"}, format="json"
        ).status_code
        == 404
    )
    assert client.get(f"/api/v1/recon/payouts/{other['payout'].pk}/explain/").status_code == 404
    with django_capture_on_commit_callbacks():
        refused = client.post("/api/v1/recon/runs/", {"connection_ids": [str(other["conn"].pk)]}, format="json")
        refused_payout = client.post("/api/v1/recon/runs/", {"payout_ids": [str(other["payout"].pk)]}, format="json")
    assert (refused.status_code, refused_payout.status_code) == (404, 404)
    assert "connection_ids" in refused.json()
    with in_tenant(tenant_b.tenant):
        other["exception"].refresh_from_db()
        assert other["exception"].state == "open"
    with in_tenant(tenant_a.tenant):
        assert not ReconRun.objects.filter(trigger="api").exists()


def test_state_changes_through_the_api_are_audited(tenant_a, api_as, ledger, in_tenant):
    client = api_as(tenant_a.accountant, tenant_a.tenant)
    exception = ledger["exception"]

    client.post(f"/api/v1/recon/exceptions/{exception.pk}/acknowledge/", {"note": "checking with the bank"})
    client.post(f"/api/v1/recon/exceptions/{exception.pk}/resolve/", {"note": "bank fee"})

    with in_tenant(tenant_a.tenant):
        events = list(AuditEvent.objects.filter(target_id=str(exception.pk)).order_by("created_at"))
    assert [(e.action, e.actor_email, e.detail["to"]) for e in events] == [
        ("recon.exception_acknowledged", tenant_a.accountant.email, "acknowledged"),
        ("recon.exception_resolved", tenant_a.accountant.email, "resolved"),
    ]
