"""Audit events are append-only in the database, and listed with filters."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from audit.models import AuditEvent
from audit.services import audit_record


@pytest.fixture
def event(tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        return audit_record(action="test.recorded", actor=tenant_a.owner, detail={"api_key": "sk_live_x", "n": 1})


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET action = 'tampered'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
    ],
)
def test_audit_rows_cannot_be_changed_at_the_database(event, tenant_a, in_tenant, statement):
    with in_tenant(tenant_a.tenant):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
        assert AuditEvent.objects.get(pk=event.pk).action == "test.recorded"


def test_orm_update_and_delete_are_refused_too(event, tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        with pytest.raises(DatabaseError), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).update(outcome="failure")
        with pytest.raises(DatabaseError), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).delete()


def test_secrets_in_detail_are_redacted(event):
    assert event.detail == {"api_key": "[redacted]", "n": 1}


def test_text_postgresql_cannot_hold_is_recorded_as_its_escape(tenant_a, in_tenant):
    # What an MCP call or a command sent is audited as sent, a NUL or a lone surrogate included
    with in_tenant(tenant_a.tenant):
        recorded = audit_record(
            action="test.recorded",
            target_type="mcp.tool",
            target_id="no\x00such.tool",
            detail={"params": {"payout": "po_\x00\ud800", "\udc00key": ["\x00"]}, "note": "kept as is: é 😀"},
        )
        stored = AuditEvent.objects.get(pk=recorded.pk)

    assert stored.target_id == "no\\u0000such.tool"
    assert stored.detail == {
        "params": {"payout": "po_\\u0000\\ud800", "\\udc00key": ["\\u0000"]},
        "note": "kept as is: é 😀",
    }


def test_audit_api_filters(tenant_a, api_as, in_tenant):
    with in_tenant(tenant_a.tenant):
        audit_record(action="connection.created", actor=tenant_a.admin)
        audit_record(action="connection.tested", actor=tenant_a.admin, outcome="failure")
        audit_record(action="recon.run", actor=tenant_a.owner)
    client = api_as(tenant_a.owner, tenant_a.tenant)

    by_prefix = client.get("/api/v1/audit/", {"action": "connection."}).json()["results"]
    failures = client.get("/api/v1/audit/", {"outcome": "failure"}).json()["results"]
    by_actor = client.get("/api/v1/audit/", {"actor_email": "ADMIN@acme.example.com"}).json()["results"]
    bad = client.get("/api/v1/audit/", {"outcome": "maybe"})

    assert sorted(e["action"] for e in by_prefix) == ["connection.created", "connection.tested"]
    assert [e["action"] for e in failures] == ["connection.tested"]
    assert len(by_actor) == 2
    assert bad.status_code == 400
    assert "outcome" in bad.json()


def test_audit_event_carries_the_request_correlation_id(tenant_a, api_as, in_tenant):
    response = api_as(tenant_a.owner, tenant_a.tenant).patch(
        "/api/v1/tenants/current/", {"name": "Acme Ltd"}, format="json", HTTP_X_CORRELATION_ID="corr-tenant-update-1"
    )
    assert response.status_code == 200
    with in_tenant(tenant_a.tenant):
        event = AuditEvent.objects.get(action="tenant.updated")
    assert event.correlation_id == "corr-tenant-update-1"


def test_the_log_page_shows_each_events_detail_and_downloads_as_filtered(tenant_a, in_tenant):
    import csv
    import io
    import json

    from conftest import signed_in

    with in_tenant(tenant_a.tenant):
        audit_record(action="recon.exception_resolved", actor=tenant_a.owner, detail={"note": "bank fee, booked"})
        audit_record(action="connection.tested", actor=tenant_a.admin, outcome="failure", detail={"api_key": "sk_x"})
    client = signed_in(tenant_a.accountant.email)

    page = client.get("/audit/").content.decode()
    download = client.get("/audit/", {"action": "recon.", "format": "csv"})
    bad = client.get("/audit/", {"outcome": "maybe", "format": "csv"})

    assert "bank fee, booked" in page
    assert "sk_x" not in page
    assert download.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert [(r["action"], r["actor_email"], json.loads(r["detail"])) for r in rows] == [
        ("recon.exception_resolved", tenant_a.owner.email, {"note": "bank fee, booked"})
    ]
    assert bad.status_code == 400
    assert "outcome" in bad.content.decode()


def test_the_log_download_needs_the_export_right(tenant_a):
    from conftest import signed_in

    # the viewer may not read the log; an admin may read and export it
    assert signed_in(tenant_a.viewer.email).get("/audit/", {"format": "csv"}).status_code == 403
    assert signed_in(tenant_a.admin.email).get("/audit/", {"format": "csv"}).status_code == 200


def test_the_log_pages_filters_read_as_words_and_take_dates_as_the_api_does(tenant_a, in_tenant, api_as):
    from datetime import timedelta

    from django.utils import timezone

    from conftest import signed_in

    with in_tenant(tenant_a.tenant):
        audit_record(action="recon.exception_resolved", actor=tenant_a.owner)
    today, now = timezone.localdate(), timezone.now()
    tomorrow = today + timedelta(days=1)
    client = signed_in(tenant_a.accountant.email)
    api = api_as(tenant_a.accountant, tenant_a.tenant)

    page = client.get("/audit/").content.decode()
    today_page = client.get("/audit/", {"created_after": f"{today}", "created_before": f"{tomorrow}"}).content.decode()
    before_today = client.get("/audit/", {"created_before": f"{today}"}).content.decode()
    by_time = api.get("/api/v1/audit/", {"created_after": (now - timedelta(hours=1)).isoformat()})
    by_date = api.get("/api/v1/audit/", {"created_before": f"{today}"})

    # the filters as a person says them, the dates picked from a calendar
    assert "is greater than" not in page
    assert "is less than" not in page
    assert '<label>On or after <input type="date" name="created_after"' in page
    assert '<label>Before <input type="date" name="created_before"' in page
    assert "<label>Who (email) " in page
    assert '<option value="" selected>Any outcome</option>' in page
    assert f'type="date" name="created_after" value="{today}"' in today_page
    assert "recon.exception_resolved" in today_page
    assert "recon.exception_resolved" not in before_today
    # the API takes what it took: times, and dates
    assert "recon.exception_resolved" in [e["action"] for e in by_time.json()["results"]]
    assert "recon.exception_resolved" not in [e["action"] for e in by_date.json()["results"]]


def test_a_time_in_the_logs_link_is_kept_in_its_box_not_lost_to_the_calendar(tenant_a, in_tenant):
    from datetime import timedelta

    from django.utils import timezone

    from conftest import signed_in

    with in_tenant(tenant_a.tenant):
        audit_record(action="recon.exception_resolved", actor=tenant_a.owner)
    an_hour_ago = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    page = signed_in(tenant_a.accountant.email).get("/audit/", {"created_after": an_hour_ago}).content.decode()

    # a calendar cannot show a time: the box shows it as given, so the next filter keeps it
    assert f'<input type="text" name="created_after" value="{an_hour_ago}"' in page
    assert '<input type="date" name="created_before"' in page  # the other one is still a calendar
    assert "recon.exception_resolved" in page
