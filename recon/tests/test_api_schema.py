"""What ``/api/v1/schema/`` says of the recon endpoints is what they answer: every status code
an integrator meets (the refusals too) is documented, and each real body validates against
the documented shape."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from recon.tests.factories import order_row, payment_row, reconcile, write

MISSING = "00000000-0000-0000-0000-000000000001"


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable`` as JSON Schema's null type."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False):
        node = {**node, "type": [node["type"], "null"]} if "type" in node else {"anyOf": [node, {"type": "null"}]}
    return node


@pytest.fixture
def documented(api):
    schema = api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = _json_schema(copy.deepcopy(schema["components"]))

    def check(method: str, path: str, response) -> None:
        operation = schema["paths"][path][method]
        code = str(response.status_code)
        assert code in operation["responses"], f"{method.upper()} {path} answers {code}, not documented"
        body = operation["responses"][code]["content"]["application/json"]["schema"]
        validator = Draft202012Validator({**_json_schema(copy.deepcopy(body)), "components": components})
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(response.json())]
        assert errors == [], f"{method.upper()} {path} {code}"

    check.schema = schema
    return check


def test_every_answer_of_the_recon_api_is_documented_and_matches_its_schema(
    tenant_a, api_as, in_tenant, ledger, other, documented, django_capture_on_commit_callbacks
):
    with in_tenant(tenant_a.tenant):
        # a paid order in no payout: an exception with no payout
        write(ledger["conn"], order_row("pi_9", total=500), payment_row("ch_9", order="pi_9", amount=500))
        reconcile()
    owner = api_as(tenant_a.owner, tenant_a.tenant)
    viewer = api_as(tenant_a.viewer, tenant_a.tenant)
    exception, payout, run = ledger["exception"], ledger["payouts"]["po_1"], ledger["run"]
    runs, exceptions, payouts = "/api/v1/recon/runs/", "/api/v1/recon/exceptions/", "/api/v1/recon/payouts/"
    one_run, one_exception, one_payout = f"{runs}{{id}}/", f"{exceptions}{{id}}/", f"{payouts}{{id}}/"
    acknowledge, resolve, explain = f"{one_exception}acknowledge/", f"{one_exception}resolve/", f"{one_payout}explain/"
    bulk = f"{exceptions}bulk/"
    mine, theirs = str(exception.pk), str(other["exception"].pk)
    calls = [  # who, method, documented path, its id (or query), body, the status it answers
        (owner, "get", runs, "", None, 200),
        (owner, "get", runs, "?queued_after=soon", None, 400),
        (owner, "get", one_run, run.pk, None, 200),
        (owner, "get", one_run, other["run"].pk, None, 404),
        (owner, "post", runs, "", {"payout_ids": ["po_1"]}, 202),
        (owner, "post", runs, "", {"connection_ids": ["x"]}, 400),
        (owner, "post", runs, "", {"payout_ids": ["po_b"]}, 404),
        (viewer, "post", runs, "", {}, 403),
        (owner, "get", exceptions, "", None, 200),
        (owner, "get", exceptions, "?reason=bogus", None, 400),
        (owner, "get", exceptions, "?page=9", None, 404),
        (owner, "get", one_exception, mine, None, 200),
        (owner, "get", one_exception, theirs, None, 404),
        (viewer, "post", acknowledge, mine, {}, 403),
        (owner, "post", acknowledge, mine, {}, 200),
        (owner, "post", resolve, mine, {}, 400),
        (owner, "post", resolve, mine, {"note": "ok"}, 200),
        (owner, "post", resolve, mine, {"note": "ok"}, 400),  # resolved already
        (owner, "post", resolve, theirs, {"note": "ok"}, 404),
        (owner, "post", bulk, "", {"ids": [mine], "action": "acknowledge"}, 200),
        (owner, "post", bulk, "", {"ids": [MISSING], "action": "resolve"}, 400),
        (owner, "post", bulk, "", {"ids": [MISSING], "action": "acknowledge"}, 404),
        (owner, "get", payouts, "", None, 200),
        (owner, "get", one_payout, payout.pk, None, 200),
        (owner, "get", explain, payout.pk, None, 200),
        (owner, "get", explain, payout.pk, {"line_limit": "0"}, 400),
        (owner, "get", explain, other["payout"].pk, None, 404),
    ]
    for client, method, path, target, body, expected in calls:
        url = path.replace("{id}", str(target)) if "{id}" in path else f"{path}{target}"
        with django_capture_on_commit_callbacks():
            response = client.get(url, body) if method == "get" else client.post(url, body, format="json")
        assert response.status_code == expected, (method, url, response.content)
        documented(method, path, response)


def test_explain_documents_the_shape_it_answers(documented):
    operation = documented.schema["paths"]["/api/v1/recon/payouts/{id}/explain/"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    explain = documented.schema["components"]["schemas"][ref.rsplit("/", 1)[1]]

    assert {"payout", "status", "difference_minor", "lines", "exceptions", "summary"} <= set(explain["required"])


def test_every_answer_of_the_month_close_api_is_documented_and_matches_its_schema(tenant_a, api_as, ledger, documented):
    owner = api_as(tenant_a.owner, tenant_a.tenant)
    viewer = api_as(tenant_a.viewer, tenant_a.tenant)
    close, reopen, closes = "/api/v1/recon/close/", "/api/v1/recon/close/reopen/", "/api/v1/recon/closes/"
    this_month = date.today().strftime("%Y-%m")  # the ledger's payouts arrive today
    calls = [  # who, method, path, query or body, the status it answers
        (owner, "get", close, {"month": this_month}, 200),
        (owner, "get", close, {"month": "2026-10"}, 200),
        (viewer, "get", close, {"month": "2026-10"}, 200),  # without the postings: none shown
        (owner, "get", close, {"month": "2026-13"}, 400),
        (owner, "post", close, {"month": "2026-13"}, 400),
        (owner, "post", close, {"month": "2099-01"}, 400),  # not over, so not ready
        (viewer, "post", close, {"month": "2026-10"}, 403),
        (owner, "post", reopen, {"month": "2026-10", "note": "late refund"}, 400),  # never closed
        (viewer, "post", reopen, {"month": "2026-10", "note": "late refund"}, 403),
        (owner, "post", close, {"month": "2026-10"}, 201),
        (owner, "post", close, {"month": "2026-10"}, 400),  # closed already
        (owner, "get", close, {"month": "2026-10"}, 200),  # with its close
        (owner, "post", reopen, {"month": "2026-10", "note": "late refund"}, 200),
        (owner, "get", closes, {}, 200),
    ]
    for client, method, path, data, expected in calls:
        response = client.get(path, data) if method == "get" else client.post(path, data, format="json")
        assert response.status_code == expected, (method, path, response.content)
        if data.get("month") == this_month:
            assert response.json()["payouts"], "the ledger's payouts, to check their shape"
        documented(method, path, response)


def test_the_month_close_documents_the_shape_it_answers(documented):
    operation = documented.schema["paths"]["/api/v1/recon/close/"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    close = documented.schema["components"]["schemas"][ref.rsplit("/", 1)[1]]

    assert {"month", "ready", "checks", "payouts", "totals", "closed"} <= set(close["required"])
