"""The API refuses what it would otherwise ignore or misread, and does nothing for it.

* A write (POST, PUT, PATCH, DELETE) with a query string: its parameters would be ignored
  (``POST /recon/runs/?payout_ids=po_1`` ran over every payout), so it is a 400 naming them.
* A JSON value of another type than the field takes: ``"5"`` for a number, ``5`` for a text,
  ``"false"`` for a boolean. DRF would turn each into the field's type.
* A whole number in the query written otherwise than in ASCII digits (``+5``, ``1_0``, ``²``).
"""

from __future__ import annotations

import json
from urllib.parse import quote

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


# --- JSON types ------------------------------------------------------------------------------


NOT_AN_INTEGER = "A whole number is required (a JSON integer, not a string or decimal)."
NOT_A_STRING = "A string is required (a JSON string, not a number)."
NOT_A_BOOLEAN = "true or false is required (a JSON boolean, not a string or number)."


@pytest.mark.parametrize("value", ["5", True, 5.0, "5.0"])
def test_a_connection_concurrency_that_is_no_json_integer_is_refused(world, owner, in_tenant, value):
    detail = f"/api/v1/connections/{world.netsuite.pk}/"
    before = owner.get(detail).json()
    watch = WriteWatch(world.tenant, in_tenant)

    created = owner.post(
        "/api/v1/connections/",
        {"name": "NS", "provider": "netsuite", "credentials": {"token_id": "t"}, "netsuite_concurrency": value},
        format="json",
    )
    patched = owner.patch(detail, {"netsuite_concurrency": value}, format="json")

    for response in (created, patched):
        assert response.status_code == 400, response.content
        assert response.json()["netsuite_concurrency"] == [NOT_AN_INTEGER]
    assert watch.changed() == []
    assert owner.get(detail).json() == before


def test_a_connection_concurrency_given_as_a_json_integer_is_taken(world, owner):
    response = owner.patch(f"/api/v1/connections/{world.netsuite.pk}/", {"netsuite_concurrency": 5}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["netsuite_concurrency"] == 5


@pytest.mark.parametrize("value", ["5", False, 5.5])
def test_a_suiteql_limit_that_is_no_json_integer_is_refused_before_netsuite_is_asked(world, owner, value):
    response = owner.post(
        "/api/v1/netsuite/suiteql/",
        {"connection": str(world.netsuite.pk), "q": "SELECT id FROM account", "limit": value},
        format="json",
    )

    assert response.status_code == 400, response.content
    assert response.json() == {"limit": [NOT_AN_INTEGER]}


def test_a_suiteql_limit_given_as_a_json_integer_reads_that_many_rows(world, owner):
    # The NetSuite sandbox on loopback answers the query.
    response = owner.post(
        "/api/v1/netsuite/suiteql/",
        {"connection": str(world.netsuite.pk), "q": "SELECT id FROM account", "limit": 2},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["count"] == 2


def test_a_number_where_text_is_expected_is_refused_at_any_depth(world, owner, in_tenant):
    watch = WriteWatch(world.tenant, in_tenant)

    renamed = owner.patch(f"/api/v1/connections/{world.connection.pk}/", {"name": 5}, format="json")
    credentials = owner.post(
        "/api/v1/connections/",
        {"name": "S", "provider": "stripe", "credentials": {"api_key": 4242424242424242}},
        format="json",
    )
    payouts = owner.post("/api/v1/recon/runs/", {"payout_ids": ["po_hostile_1", 12345]}, format="json")
    note = owner.post(f"/api/v1/recon/exceptions/{world.exception.pk}/resolve/", {"note": 1.5}, format="json")
    switch = owner.post("/api/v1/auth/switch-tenant/", {"tenant": 5}, format="json")

    assert (renamed.status_code, renamed.json()) == (400, {"name": [NOT_A_STRING]})
    assert (credentials.status_code, credentials.json()) == (400, {"credentials": {"api_key": [NOT_A_STRING]}})
    assert "4242" not in credentials.content.decode()
    assert (payouts.status_code, payouts.json()) == (400, {"payout_ids": {"1": [NOT_A_STRING]}})
    assert (note.status_code, note.json()) == (400, {"note": [NOT_A_STRING]})
    assert (switch.status_code, switch.json()) == (400, {"tenant": [NOT_A_STRING]})
    assert watch.changed() == []
    assert owner.get(f"/api/v1/recon/exceptions/{world.exception.pk}/").json()["state"] == "open"


def test_the_type_errors_come_with_the_other_field_errors_in_one_answer(owner):
    response = owner.post(
        "/api/v1/connections/",
        {"name": 5, "provider": "nope", "credentials": {}, "netsuite_concurrency": "2", "colour": "red"},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"name", "provider", "netsuite_concurrency", "colour"}


@pytest.mark.parametrize("value", ["false", 0, "no"])
def test_a_boolean_that_is_no_json_boolean_is_refused(world, owner, value):
    detail = f"/api/v1/connections/{world.connection.pk}/"

    response = owner.patch(detail, {"enabled": value}, format="json")

    assert (response.status_code, response.json()) == (400, {"enabled": [NOT_A_BOOLEAN]})
    assert owner.get(detail).json()["enabled"] is True


def test_text_and_ids_given_as_strings_keep_working(world, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        run = owner.post("/api/v1/recon/runs/", {"payout_ids": ["po_hostile_1"]}, format="json")
    switched = owner.post("/api/v1/auth/switch-tenant/", {"tenant": str(world.tenant.pk)}, format="json")
    note = owner.post(f"/api/v1/recon/exceptions/{world.exception.pk}/acknowledge/", {"note": "5"}, format="json")
    renamed = owner.patch(f"/api/v1/connections/{world.connection.pk}/", {"name": "42", "enabled": False})

    assert run.status_code == 202, run.content
    assert run.json()["payout_ids"] == [str(world.payout.pk)]
    assert switched.status_code == 200, switched.content
    assert (note.status_code, note.json()["note"]) == (200, "5")
    assert (renamed.status_code, renamed.json()["name"], renamed.json()["enabled"]) == (200, "42", False)


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/connections/", "post"),
        ("/api/v1/connections/{connection}/", "patch"),
        ("/api/v1/netsuite/suiteql/", "post"),
        ("/api/v1/schedules/", "post"),
    ],
)
def test_an_endpoint_with_typed_fields_takes_json_only(world, owner, in_tenant, path, method):
    # A form's values are all text: its "5" would always be refused as no number, so the form is
    # refused as such (415), as the tenant settings are.
    watch = WriteWatch(world.tenant, in_tenant)
    path = path.format(connection=world.connection.pk)

    response = getattr(owner, method)(path, "name=x&every_hours=6", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415, response.content
    assert "application/x-www-form-urlencoded" in response.json()["detail"]
    assert watch.changed() == []


def test_every_body_with_a_number_or_a_boolean_is_offered_as_json_only(owner):
    schema = json.loads(owner.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    components = schema["components"]["schemas"]

    typed, offered = [], {}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
            properties = components[ref.rsplit("/", 1)[-1]].get("properties", {}) if ref else {}
            if any(field.get("type") in ("integer", "boolean") for field in properties.values()):
                typed.append(f"{method.upper()} {path}")
                offered[f"{method.upper()} {path}"] = list(content)

    assert {"POST /api/v1/connections/", "POST /api/v1/netsuite/suiteql/", "POST /api/v1/schedules/"} <= set(typed)
    assert offered == {operation: ["application/json"] for operation in typed}


# --- whole numbers in the query --------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["²", "٣", "1_0", "+5", " 5", "9" * 5000],
    ids=["superscript", "arabic_indic", "underscore", "plus", "space", "5000_digits"],
)
def test_a_page_size_or_line_limit_that_is_no_plain_whole_number_is_a_400(world, owner, value):
    # int() takes most of these (one of another script's digits too); "²" passed str.isdigit()
    # and then failed int() with a 500, as 5,000 digits did.
    paged = owner.get(f"/api/v1/recon/runs/?page_size={quote(value)}")
    explained = owner.get(f"/api/v1/recon/payouts/{world.payout.pk}/explain/?line_limit={quote(value)}")

    assert (paged.status_code, list(paged.json())) == (400, ["page_size"])
    assert (explained.status_code, list(explained.json())) == (400, ["line_limit"])


# --- what else every answer has ----------------------------------------------------------------


def test_a_posting_settings_field_the_endpoint_does_not_know_is_refused(world, owner):
    # {"mode": "automatic"} (a misspelt posting_mode) was read as no change asked for
    before = owner.get("/api/v1/netsuite/settings/").json()

    misspelt = owner.patch("/api/v1/netsuite/settings/", {"posting_mode": "manual", "mode": "x"}, format="json")

    assert misspelt.status_code == 400
    assert misspelt.json()["mode"] == ["Unknown field."]
    assert owner.get("/api/v1/netsuite/settings/").json() == before


@pytest.mark.parametrize("path", ["/api/v1/health/", "/api/v1/recon/runs/", "/api/v1/nothing-here/"])
def test_a_browser_asking_for_html_gets_json(owner, path):
    answer = owner.get(path, HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")

    assert answer["Content-Type"] == "application/json"
    json.loads(answer.content)
