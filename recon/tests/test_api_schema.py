"""What ``/api/v1/schema/`` says of the recon endpoints is what they answer: every status code
an integrator meets (the refusals too) is documented, and each real body validates against
the documented shape."""

from __future__ import annotations

import copy
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
    theirs = other["exception"].pk

    calls = [
        (owner, "get", "/api/v1/recon/runs/", "/api/v1/recon/runs/", None, 200),
        (owner, "get", "/api/v1/recon/runs/", "/api/v1/recon/runs/?queued_after=soon", None, 400),
        (owner, "get", "/api/v1/recon/runs/{id}/", f"/api/v1/recon/runs/{run.pk}/", None, 200),
        (owner, "get", "/api/v1/recon/runs/{id}/", f"/api/v1/recon/runs/{other['run'].pk}/", None, 404),
        (owner, "post", "/api/v1/recon/runs/", "/api/v1/recon/runs/", {"payout_ids": ["po_1"]}, 202),
        (owner, "post", "/api/v1/recon/runs/", "/api/v1/recon/runs/", {"connection_ids": ["x"]}, 400),
        (owner, "post", "/api/v1/recon/runs/", "/api/v1/recon/runs/", {"payout_ids": ["po_b"]}, 404),
        (viewer, "post", "/api/v1/recon/runs/", "/api/v1/recon/runs/", {}, 403),
        (owner, "get", "/api/v1/recon/exceptions/", "/api/v1/recon/exceptions/", None, 200),
        (owner, "get", "/api/v1/recon/exceptions/", "/api/v1/recon/exceptions/?reason=bogus", None, 400),
        (owner, "get", "/api/v1/recon/exceptions/", "/api/v1/recon/exceptions/?page=9", None, 404),
        (owner, "get", "/api/v1/recon/exceptions/{id}/", f"/api/v1/recon/exceptions/{exception.pk}/", None, 200),
        (owner, "get", "/api/v1/recon/exceptions/{id}/", f"/api/v1/recon/exceptions/{theirs}/", None, 404),
        (
            viewer,
            "post",
            "/api/v1/recon/exceptions/{id}/acknowledge/",
            f"/api/v1/recon/exceptions/{exception.pk}/acknowledge/",
            {},
            403,
        ),  # noqa: E501
        (
            owner,
            "post",
            "/api/v1/recon/exceptions/{id}/acknowledge/",
            f"/api/v1/recon/exceptions/{exception.pk}/acknowledge/",
            {},
            200,
        ),  # noqa: E501
        (
            owner,
            "post",
            "/api/v1/recon/exceptions/{id}/resolve/",
            f"/api/v1/recon/exceptions/{exception.pk}/resolve/",
            {},
            400,
        ),  # noqa: E501
        (
            owner,
            "post",
            "/api/v1/recon/exceptions/{id}/resolve/",
            f"/api/v1/recon/exceptions/{exception.pk}/resolve/",
            {"note": "ok"},
            200,
        ),  # noqa: E501
        (
            owner,
            "post",
            "/api/v1/recon/exceptions/{id}/resolve/",
            f"/api/v1/recon/exceptions/{exception.pk}/resolve/",
            {"note": "ok"},
            400,
        ),  # noqa: E501
        (
            owner,
            "post",
            "/api/v1/recon/exceptions/{id}/resolve/",
            f"/api/v1/recon/exceptions/{theirs}/resolve/",
            {"note": "ok"},
            404,
        ),  # noqa: E501
        (
            owner,
            "post",
            "/api/v1/recon/exceptions/bulk/",
            "/api/v1/recon/exceptions/bulk/",
            {"ids": [str(exception.pk)], "action": "acknowledge"},
            200,
        ),  # noqa: E501
        (
            owner,
            "post",
            "/api/v1/recon/exceptions/bulk/",
            "/api/v1/recon/exceptions/bulk/",
            {"ids": [MISSING], "action": "resolve"},
            400,
        ),  # noqa: E501
        (
            owner,
            "post",
            "/api/v1/recon/exceptions/bulk/",
            "/api/v1/recon/exceptions/bulk/",
            {"ids": [MISSING], "action": "acknowledge"},
            404,
        ),  # noqa: E501
        (owner, "get", "/api/v1/recon/payouts/", "/api/v1/recon/payouts/", None, 200),
        (owner, "get", "/api/v1/recon/payouts/{id}/", f"/api/v1/recon/payouts/{payout.pk}/", None, 200),
        (owner, "get", "/api/v1/recon/payouts/{id}/explain/", f"/api/v1/recon/payouts/{payout.pk}/explain/", None, 200),
        (
            owner,
            "get",
            "/api/v1/recon/payouts/{id}/explain/",
            f"/api/v1/recon/payouts/{payout.pk}/explain/?line_limit=0",
            None,
            400,
        ),  # noqa: E501
        (
            owner,
            "get",
            "/api/v1/recon/payouts/{id}/explain/",
            f"/api/v1/recon/payouts/{other['payout'].pk}/explain/",
            None,
            404,
        ),  # noqa: E501
    ]
    for client, method, path, url, body, expected in calls:
        with django_capture_on_commit_callbacks():
            response = client.get(url) if method == "get" else client.post(url, body, format="json")
        assert response.status_code == expected, (method, url, response.content)
        documented(method, path, response)


def test_explain_documents_the_shape_it_answers(documented):
    operation = documented.schema["paths"]["/api/v1/recon/payouts/{id}/explain/"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    explain = documented.schema["components"]["schemas"][ref.rsplit("/", 1)[1]]

    assert {"payout", "status", "difference_minor", "lines", "exceptions", "summary"} <= set(explain["required"])
