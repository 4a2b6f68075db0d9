"""The API refuses what it would otherwise ignore or misread, and does nothing for it.

* A write (POST, PUT, PATCH, DELETE) with a query string: its parameters would be ignored
  (``POST /recon/runs/?payout_ids=po_1`` ran over every payout), so it is a 400 naming them.
"""

from __future__ import annotations

import pytest

from tests.hostile import World, WriteWatch

MOVE_TO_BODY = "in the JSON body"


@pytest.fixture
def world(hostile_world, db) -> World:
    return hostile_world


@pytest.fixture
def owner(world, api_as):
    return api_as(world.user, world.tenant)


def _refused_naming(response, *names: str) -> dict:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "query_on_write"
    for name in names:
        assert name in body["detail"]
        assert MOVE_TO_BODY in body[name][0]
    assert MOVE_TO_BODY in body["detail"]
    return body


# --- query strings on writes -----------------------------------------------------------------


def test_a_run_asked_for_in_the_query_string_is_refused_and_none_is_queued(
    world, owner, in_tenant, django_capture_on_commit_callbacks
):
    runs_before = owner.get("/api/v1/recon/runs/").json()["count"]
    watch = WriteWatch(world.tenant, in_tenant)

    with django_capture_on_commit_callbacks() as queued:
        response = owner.post("/api/v1/recon/runs/?payout_ids=po_hostile_1", {}, format="json")

    body = _refused_naming(response, "payout_ids")
    assert body["detail"] == (
        "Query parameters are not read on a POST: payout_ids. They belong in the JSON body; nothing was done."
    )
    assert queued == []
    assert watch.changed() == []
    assert owner.get("/api/v1/recon/runs/").json()["count"] == runs_before


def test_an_exception_action_with_a_query_string_is_refused_and_the_exception_stays_open(world, owner, in_tenant):
    path = f"/api/v1/recon/exceptions/{world.exception.pk}/acknowledge/"
    watch = WriteWatch(world.tenant, in_tenant)

    response = owner.post(f"{path}?note=looking&dry_run=1", {"note": "looking"}, format="json")

    _refused_naming(response, "note", "dry_run")
    assert watch.changed() == []
    assert owner.get(f"/api/v1/recon/exceptions/{world.exception.pk}/").json()["state"] == "open"


def test_a_connection_create_patch_or_delete_with_a_query_string_changes_nothing(world, owner, in_tenant):
    listed_before = owner.get("/api/v1/connections/").json()
    detail = f"/api/v1/connections/{world.connection.pk}/"
    watch = WriteWatch(world.tenant, in_tenant)

    created = owner.post(
        "/api/v1/connections/?enabled=false",
        {"name": "Stripe EU", "provider": "stripe", "credentials": {"api_key": "sk_test_Query_1"}},
        format="json",
    )
    renamed = owner.patch(f"{detail}?name=Renamed", {"enabled": False}, format="json")
    deleted = owner.delete(f"{detail}?confirm=yes")

    _refused_naming(created, "enabled")
    _refused_naming(renamed, "name")
    body = _refused_naming(deleted, "confirm")
    assert body["detail"].startswith("Query parameters are not read on a DELETE: confirm.")
    assert "sk_test_Query_1" not in created.content.decode()
    assert watch.changed() == []
    assert owner.get("/api/v1/connections/").json() == listed_before


def test_a_tenant_settings_patch_with_a_query_string_changes_nothing(world, owner):
    before = owner.get("/api/v1/tenants/current/").json()

    response = owner.patch("/api/v1/tenants/current/?recon_freshness_hours=6", {"name": "Renamed"}, format="json")

    _refused_naming(response, "recon_freshness_hours")
    assert owner.get("/api/v1/tenants/current/").json() == before


def test_a_login_with_credentials_in_the_query_string_is_refused_without_repeating_them(api):
    response = api.post(
        "/api/v1/auth/login/?email=owner@acme.example.com&password=sk_live_Hunter2",
        {"email": "owner@acme.example.com", "password": "wrong"},
        format="json",
    )

    _refused_naming(response, "email", "password")
    assert "Hunter2" not in response.content.decode()


def test_a_query_string_on_a_write_is_refused_before_the_view_reads_its_body(owner):
    # Nothing the body says matters: the request is refused as a whole, once.
    response = owner.post("/api/v1/recon/runs/?x=1", {"no_such_field": 1}, format="json")

    body = _refused_naming(response, "x")
    assert "no_such_field" not in body


def test_many_or_long_parameter_names_are_named_in_short(owner):
    names = [f"p{n}" for n in range(30)]
    query = "&".join(f"{name}=1" for name in names) + "&" + "y" * 5000 + "=1"

    response = owner.post(f"/api/v1/recon/runs/?{query}", {}, format="json")

    body = _refused_naming(response, "p0", "p9")
    assert len(body["detail"]) < 500
    assert "y" * 100 not in response.content.decode()


def test_reads_keep_their_query_and_a_method_a_view_does_not_answer_is_still_405(owner):
    assert owner.get("/api/v1/recon/runs/?status=queued").status_code == 200
    assert owner.get("/api/v1/recon/close/?month=2026-03").status_code == 200
    assert owner.head("/api/v1/recon/runs/?status=queued").status_code == 200
    assert owner.options("/api/v1/recon/runs/?x=1").status_code == 200
    assert owner.delete("/api/v1/recon/runs/?x=1").status_code == 405
    assert owner.post("/api/v1/recon/runs", {}, format="json").status_code == 404  # no such path, query or not
    assert owner.post("/api/v1/no-such/?x=1", {}, format="json").status_code == 404


def test_an_empty_query_string_is_no_parameter(owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        response = owner.post("/api/v1/recon/runs/?", {"payout_ids": ["po_hostile_1"]}, format="json")

    assert response.status_code == 202, response.content
