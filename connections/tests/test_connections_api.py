"""Connections through the API: secrets write-only and masked, plan limits, tests, isolation."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.db import connection as db

from connections.models import Connection
from connections.stripe.sandbox.server import DEFAULT_API_KEY, build_stripe_sandbox, stripe_sandbox_server

SECRET_KEY = "sk_test_SuperSecretValue_9f8e7d6c5b4a"
WEBHOOK_SECRET = "whsec_TopSecretSigningValue_123"


@pytest.fixture
def sandbox():
    with stripe_sandbox_server(build_stripe_sandbox(seed=2, days=2)) as server:
        yield server


def _create(client, **overrides):
    body = {
        "name": "Stripe EU",
        "provider": "stripe",
        "credentials": {"api_key": SECRET_KEY, "webhook_secret": WEBHOOK_SECRET},
        "base_url": "http://127.0.0.1:9",
    }
    body.update(overrides)
    return client.post("/api/v1/connections/", body, format="json")


def test_create_returns_masked_credentials_only(api_as, tenant_a):
    response = _create(api_as(tenant_a.admin, tenant_a.tenant))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["credentials"] == {"api_key": "****5b4a", "webhook_secret": "****_123"}
    assert SECRET_KEY not in response.content.decode()
    listing = api_as(tenant_a.viewer, tenant_a.tenant).get("/api/v1/connections/").content.decode()
    assert SECRET_KEY not in listing
    assert WEBHOOK_SECRET not in listing


def test_credentials_are_not_in_the_databases_raw_bytes(api_as, tenant_a, in_tenant):
    _create(api_as(tenant_a.admin, tenant_a.tenant))
    with in_tenant(tenant_a.tenant), db.cursor() as cursor:
        cursor.execute("SELECT encode(credentials, 'escape'), encode(credentials, 'hex') FROM connections_connection")
        raw, hexed = cursor.fetchone()
        cursor.execute("SELECT row_to_json(c)::text FROM connections_connection c")
        whole_row = cursor.fetchone()[0]
    for text in (raw, hexed, whole_row):
        assert SECRET_KEY not in text
        assert SECRET_KEY.encode().hex() not in text
        assert "SuperSecretValue" not in text


def test_credentials_never_reach_the_logs(api_as, tenant_a, sandbox):
    from tests.test_observability import _capture_json_logs

    stream, handler = _capture_json_logs()
    try:
        client = api_as(tenant_a.admin, tenant_a.tenant)
        created = _create(client, base_url=sandbox.url).json()
        client.post(f"/api/v1/connections/{created['id']}/test/")
        client.patch(
            f"/api/v1/connections/{created['id']}/", {"credentials": {"api_key": SECRET_KEY + "x"}}, format="json"
        )
    finally:
        logging.getLogger().removeHandler(handler)
    output = stream.getvalue()
    assert output  # something was logged
    assert "SuperSecretValue" not in output
    assert "TopSecretSigningValue" not in output


def test_connection_test_reports_success_and_failure_in_words(api_as, tenant_a, sandbox):
    client = api_as(tenant_a.admin, tenant_a.tenant)
    good = _create(client, name="good", base_url=sandbox.url, credentials={"api_key": DEFAULT_API_KEY}).json()
    bad = _create(client, name="bad", base_url=sandbox.url).json()

    ok = client.post(f"/api/v1/connections/{good['id']}/test/").json()
    refused = client.post(f"/api/v1/connections/{bad['id']}/test/").json()

    assert ok["ok"] is True
    assert "Connected to Stripe account" in ok["message"]
    assert refused["ok"] is False
    assert "Stripe rejected the API key" in refused["message"]
    assert SECRET_KEY not in refused["message"]
    assert refused["status"] == "broken"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "paypal"}, "provider"),
        ({"credentials": {}}, "credentials"),
        ({"credentials": {"api_key": SECRET_KEY, "password": "x"}}, "credentials"),
        ({"base_url": "not a url"}, "base_url"),
        ({"name": ""}, "name"),
        ({"base_url": "https://h.example.com/" + "a" * 300}, "base_url"),
        ({"region": "eu"}, "region"),
    ],
)
def test_bad_input_is_a_clear_400_and_creates_nothing(api_as, tenant_a, in_tenant, body, field):
    response = _create(api_as(tenant_a.admin, tenant_a.tenant), **body)

    assert response.status_code == 400
    assert field in response.json()
    assert SECRET_KEY not in response.content.decode()
    with in_tenant(tenant_a.tenant):
        assert Connection.objects.count() == 0


def test_trial_plan_allows_two_connections(api_as, tenant_b):
    client = api_as(tenant_b.owner, tenant_b.tenant)  # tenant B is on the trial plan
    assert _create(client, name="one").status_code == 201
    assert _create(client, name="two").status_code == 201

    third = _create(client, name="three")

    assert third.status_code == 403
    assert third.json()["code"] == "plan_limit"
    assert "allows 2 connections" in third.json()["detail"]


def test_connections_jobs_and_rows_are_tenant_isolated(api_as, tenant_a, tenant_b, sandbox, in_tenant):
    from connections.sync.runner import sync_job_run, sync_start

    a_conn = _create(
        api_as(tenant_a.admin, tenant_a.tenant), base_url=sandbox.url, credentials={"api_key": DEFAULT_API_KEY}
    ).json()
    with in_tenant(tenant_a.tenant):
        job = sync_job_run(
            job=sync_start(connection=Connection.objects.get(pk=a_conn["id"]), enqueue=False),
            client_options={"rate_limit": None},
        )
        assert job.status == "succeeded"
    b = api_as(tenant_b.owner, tenant_b.tenant)

    assert b.get("/api/v1/connections/").json() == []
    assert b.get(f"/api/v1/connections/{a_conn['id']}/").status_code == 404
    assert b.post(f"/api/v1/connections/{a_conn['id']}/sync/").status_code == 404
    assert b.get("/api/v1/jobs/").json()["results"] == []
    assert b.get(f"/api/v1/jobs/{job.pk}/").status_code == 404
    assert b.get("/api/v1/tables/payout_lines/").json()["results"] == []
    assert api_as(tenant_a.viewer, tenant_a.tenant).get("/api/v1/tables/payout_lines/").json()["count"] > 0


@pytest.mark.parametrize(
    ("role", "create", "sync", "view"),
    [("owner", 201, 202, 200), ("admin", 201, 202, 200), ("accountant", 403, 403, 200), ("viewer", 403, 403, 200)],
)
def test_connection_role_matrix(api_as, tenant_a, in_tenant, role, create, sync, view):
    from connections.services import connection_create

    with in_tenant(tenant_a.tenant):
        existing = connection_create(
            actor=tenant_a.owner, name="x", provider="stripe", credentials={"api_key": DEFAULT_API_KEY}
        )
    client = api_as(tenant_a.user(role), tenant_a.tenant)

    assert _create(client).status_code == create
    assert client.post(f"/api/v1/connections/{existing.pk}/sync/").status_code == sync
    assert client.get("/api/v1/connections/").status_code == view
    assert client.get("/api/v1/jobs/").status_code == view


def test_patch_merges_credentials_and_changes_settings(api_as, tenant_a, in_tenant):
    client = api_as(tenant_a.admin, tenant_a.tenant)
    created = _create(client).json()

    response = client.patch(
        f"/api/v1/connections/{created['id']}/",
        {
            "credentials": {"webhook_secret": "whsec_rotated_value_999"},
            "backfill_start": "2025-01-01",
            "enabled": False,
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["backfill_start"] == "2025-01-01"
    assert response.json()["enabled"] is False
    with in_tenant(tenant_a.tenant):
        stored = Connection.objects.get(pk=created["id"]).credentials
    assert stored == {"api_key": SECRET_KEY, "webhook_secret": "whsec_rotated_value_999"}
    assert json.dumps(response.json()).count("whsec_rotated_value_999") == 0


def test_key_rotation_re_encrypts_without_losing_access(api_as, tenant_a, in_tenant, settings):
    from django.core.management import call_command

    created = _create(api_as(tenant_a.admin, tenant_a.tenant)).json()
    old_keys = list(settings.CREDENTIAL_KEYS)

    settings.CREDENTIAL_KEYS = ["new-credential-key-0123456789abcdefghijkl", *old_keys]
    with in_tenant(tenant_a.tenant):
        assert Connection.objects.get(pk=created["id"]).credentials["api_key"] == SECRET_KEY  # old key still reads
    out = io.StringIO()
    call_command("rotate_credentials", stdout=out)
    settings.CREDENTIAL_KEYS = ["new-credential-key-0123456789abcdefghijkl"]  # old key retired

    with in_tenant(tenant_a.tenant):
        assert Connection.objects.get(pk=created["id"]).credentials["api_key"] == SECRET_KEY
    assert "re-encrypted 1" in out.getvalue()


def test_table_csv_export_over_the_api(api_as, tenant_a, in_tenant):
    from canonical.tests.factories import payout_line_row
    from canonical.upsert import upsert_rows
    from connections.services import connection_create

    with in_tenant(tenant_a.tenant):
        conn = connection_create(actor=tenant_a.admin, name="x", provider="stripe", credentials={"api_key": SECRET_KEY})
        upsert_rows([payout_line_row(f"txn_{i}") for i in range(3)], connection_id=conn.pk, tenant_id=conn.tenant_id)

    response = api_as(tenant_a.accountant, tenant_a.tenant).get("/api/v1/tables/payout_lines/", {"format": "csv"})
    viewer = api_as(tenant_a.viewer, tenant_a.tenant).get("/api/v1/tables/payout_lines/", {"format": "csv"})

    rows = b"".join(response.streaming_content).decode().strip().splitlines()
    assert len(rows) == 4
    assert rows[0].startswith("id,")
    assert viewer.status_code == 403  # viewers read, they do not export


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "non_field_errors"),
        ({"provider": "shopify"}, "provider"),
        ({"status": "ok"}, "status"),
        ({"time_zone": "Europe/Berlin"}, "time_zone"),  # read from the provider by the sync only
    ],
)
def test_a_patch_that_changes_nothing_known_is_a_400_and_is_not_audited(api_as, tenant_a, in_tenant, body, field):
    from audit.models import AuditEvent

    client = api_as(tenant_a.admin, tenant_a.tenant)
    created = _create(client).json()

    response = client.patch(f"/api/v1/connections/{created['id']}/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    with in_tenant(tenant_a.tenant):
        assert Connection.objects.get(pk=created["id"]).provider == "stripe"
        assert not AuditEvent.objects.filter(action="connection.updated").exists()


def test_patch_of_base_url_needs_the_credentials_again(api_as, tenant_a, in_tenant):
    client = api_as(tenant_a.admin, tenant_a.tenant)
    created = _create(client).json()
    url = f"/api/v1/connections/{created['id']}/"

    refused = client.patch(url, {"base_url": "https://collector.example.net"}, format="json")
    accepted = client.patch(
        url, {"base_url": "https://api.stripe.com", "credentials": {"api_key": SECRET_KEY + "new"}}, format="json"
    )

    assert refused.status_code == 400
    assert refused.json()["code"] == "credentials_required"
    assert "re-enter the credentials" in refused.json()["base_url"][0]
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["base_url"] == "https://api.stripe.com"
    with in_tenant(tenant_a.tenant):
        stored = Connection.objects.get(pk=created["id"]).credentials
    assert stored == {"api_key": SECRET_KEY + "new", "webhook_secret": WEBHOOK_SECRET}  # the secret never leaves


def test_the_time_zone_a_sync_read_is_shown_with_the_connection(api_as, tenant_a, in_tenant):
    from conftest import signed_in

    client = api_as(tenant_a.viewer, tenant_a.tenant)
    created = _create(api_as(tenant_a.admin, tenant_a.tenant)).json()
    _create(api_as(tenant_a.admin, tenant_a.tenant), name="Stripe US")
    with in_tenant(tenant_a.tenant):
        # as the sync of a Stripe account kept in Berlin leaves it
        Connection.objects.filter(pk=created["id"]).update(time_zone="Europe/Berlin")

    shown = client.get(f"/api/v1/connections/{created['id']}/").json()
    page = signed_in("viewer@acme.example.com").get("/connections/").content.decode()

    assert shown["time_zone"] == "Europe/Berlin"
    rows = page.split('<tr id="connection-')[1:]
    berlin = next(row for row in rows if "Stripe EU" in row)
    unknown = next(row for row in rows if "Stripe US" in row)
    assert "time zone Europe/Berlin" in berlin
    assert "time zone not known yet: months end at midnight UTC" in unknown


@pytest.mark.parametrize("action", ["sync", "test"])
def test_an_action_that_takes_no_body_refuses_one_and_does_nothing(api_as, tenant_a, in_tenant, action):
    from audit.models import AuditEvent
    from connections.models import SyncJob
    from connections.services import connection_create

    with in_tenant(tenant_a.tenant):
        existing = connection_create(
            actor=tenant_a.owner, name="x", provider="stripe", credentials={"api_key": DEFAULT_API_KEY}
        )
        events = AuditEvent.objects.count()
    client = api_as(tenant_a.owner, tenant_a.tenant)

    # a full backfill asked for in the body would otherwise queue the incremental sync unsaid
    response = client.post(f"/api/v1/connections/{existing.pk}/{action}/", {"kind": "full"}, format="json")

    assert response.status_code == 400, response.content
    assert response.json() == {"kind": ["Unknown field."]}
    with in_tenant(tenant_a.tenant):
        assert not SyncJob.objects.filter(connection=existing).exists()
        assert AuditEvent.objects.count() == events
        assert Connection.objects.get(pk=existing.pk).status_checked_at is None


def test_a_base_url_carrying_a_password_is_refused_without_repeating_it(api_as, tenant_a, in_tenant):
    client = api_as(tenant_a.admin, tenant_a.tenant)
    address = "https://ops:Hunter2-Secret-9@api.stripe.com"

    created = _create(client, base_url=address)
    existing = _create(client, name="kept").json()
    patched = client.patch(
        f"/api/v1/connections/{existing['id']}/",
        {"base_url": address, "credentials": {"api_key": SECRET_KEY + "new"}},
        format="json",
    )

    for refused in (created, patched):
        assert refused.status_code == 400, refused.content
        assert "must not carry a user name or password" in refused.json()["base_url"][0]
        assert "Hunter2" not in refused.content.decode()
    with in_tenant(tenant_a.tenant):
        assert list(Connection.objects.values_list("name", "base_url")) == [("kept", "http://127.0.0.1:9")]
        assert Connection.objects.get(name="kept").credentials["api_key"] == SECRET_KEY
