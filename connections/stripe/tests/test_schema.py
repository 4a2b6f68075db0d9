"""Everything the Stripe sandbox serves validates against Stripe's own 2023-08-16 schemas."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from connections.stripe.sandbox.business import RESOURCES
from connections.stripe.sandbox.server import build_stripe_sandbox, stripe_sandbox_server
from connections.stripe.tests.helpers import API_KEY, control, http, inject, list_all
from connections.stripe.tests.openapi_schema import SHARED_DATA, openapi_to_jsonschema, schema_errors

SCHEMA_OF = {
    "balance_transactions": "balance_transaction",
    "charges": "charge",
    "payment_intents": "payment_intent",
    "refunds": "refund",
    "disputes": "dispute",
    "payouts": "payout",
}


# ----------------------------------------------------------------------------- the converter


def _valid(schema: dict, instance: object) -> bool:
    return Draft202012Validator(schema).is_valid(instance)


def test_nullable_typed_schema_accepts_null_and_still_checks_the_type() -> None:
    schema = openapi_to_jsonschema({"type": "string", "maxLength": 5, "nullable": True})
    assert schema == {"type": ["string", "null"], "maxLength": 5}
    assert _valid(schema, None)
    assert _valid(schema, "abc")
    assert not _valid(schema, 12)
    assert not _valid(schema, "too long")


def test_nullable_enum_gets_null_as_a_member() -> None:
    schema = openapi_to_jsonschema({"type": "string", "enum": ["a", "b"], "nullable": True})
    assert _valid(schema, None)
    assert _valid(schema, "a")
    assert not _valid(schema, "c")


def test_nullable_anyof_wrapper_accepts_null_and_each_branch_only() -> None:
    openapi = {
        "anyOf": [{"type": "string", "maxLength": 3}, {"type": "object", "required": ["id"]}],
        "nullable": True,
        "x-expansionResources": {"oneOf": []},
    }
    schema = openapi_to_jsonschema(openapi)
    assert schema == {
        "anyOf": [
            {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "object", "required": ["id"]}]},
            {"type": "null"},
        ]
    }
    assert _valid(schema, None)
    assert _valid(schema, "ch_")
    assert _valid(schema, {"id": "x"})
    assert not _valid(schema, {"no_id": 1})
    assert not _valid(schema, 5)


def test_nullable_inside_anyof_branches_properties_and_items_is_converted() -> None:
    openapi = {
        "type": "object",
        "properties": {
            "a": {"anyOf": [{"type": "integer", "nullable": True}]},
            "b": {"type": "array", "items": {"type": "string", "nullable": True}},
            # A *property* named like keywords must survive untouched.
            "nullable": {"type": "boolean"},
        },
        "required": ["a", "b", "nullable"],
    }
    schema = openapi_to_jsonschema(openapi)
    assert _valid(schema, {"a": None, "b": [None, "x"], "nullable": True})
    assert not _valid(schema, {"a": "1", "b": [], "nullable": True})
    assert not _valid(schema, {"a": 1, "b": [], "nullable": None})  # not nullable itself


def test_non_nullable_stays_strict_and_strict_mode_refuses_unknown_fields() -> None:
    openapi = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
    assert not _valid(openapi_to_jsonschema({"type": "string"}), None)
    assert _valid(openapi_to_jsonschema(openapi), {"id": "x", "extra": 1})
    assert not _valid(openapi_to_jsonschema(openapi, strict=True), {"id": "x", "extra": 1})
    with_map = {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}}
    assert _valid(openapi_to_jsonschema(with_map, strict=True), {"k": "v"})  # metadata-like maps stay open


def test_real_stripe_objects_need_the_conversion() -> None:
    """Stripe's own example balance transaction fails a plain validator only because of nulls."""
    example = json.loads((SHARED_DATA / "stripe" / "fixtures3.json").read_text())["resources"]["balance_transaction"]
    assert example["exchange_rate"] is None
    assert schema_errors("balance_transaction", example, strict=False) == []
    raw = json.loads((SHARED_DATA / "stripe" / "stripe-reconciliation-schemas.2023-08-16.extract.json").read_text())
    unconverted = Draft202012Validator({"$ref": "#/components/schemas/balance_transaction", **raw})
    messages = [e.message for e in unconverted.iter_errors(example)]
    assert any("None is not of type 'number'" in m for m in messages), messages


# ----------------------------------------------------------------------------- the sandbox


def test_every_object_of_the_business_validates_strictly(server) -> None:
    """Each object of each list, fetched over HTTP, against its schema with no unknown fields."""
    seen = {}
    for resource in RESOURCES:
        objects = list_all(server, resource)
        seen[resource] = len(objects)
        for obj in objects:
            assert schema_errors(SCHEMA_OF[resource], obj) == [], obj["id"]
    # Enough of each kind to mean something (a 30-day shop of ~20 orders/day).
    assert seen["balance_transactions"] > 500
    assert seen["charges"] > 500
    assert seen["payment_intents"] > 500
    assert seen["refunds"] >= 10
    assert seen["disputes"] >= 3
    assert seen["payouts"] >= 25


def test_retrieved_objects_balance_account_and_lists_validate(server, sandbox_app) -> None:
    for resource, schema in SCHEMA_OF.items():
        first = sandbox_app.ledger.seq(resource).item(0)
        status, body = http(server, f"/v1/{resource}/{first['id']}")
        assert status == 200
        assert body == first
        assert schema_errors(schema, body) == []
    status, balance = http(server, "/v1/balance")
    assert status == 200
    assert schema_errors("balance", balance) == []
    status, account = http(server, "/v1/account")
    assert status == 200
    assert schema_errors("account", account) == []
    status, page = http(server, "/v1/payouts?limit=3")
    assert set(page) == {"object", "data", "has_more", "url"}
    assert page["object"] == "list"
    assert page["url"] == "/v1/payouts"


def test_special_cases_validate(sandbox_app) -> None:
    """The objects the traps produce (failed/instant payouts, holds, won disputes) are valid too."""
    ledger = sandbox_app.ledger
    payouts = ledger.seq("payouts")
    kinds = {(p["automatic"], p["method"], p["status"]) for p in map(payouts.item, range(len(payouts)))}
    assert (True, "standard", "failed") in kinds
    assert (False, "instant", "paid") in kinds
    bts = ledger.seq("balance_transactions")
    categories = {bts.item(i)["reporting_category"] for i in range(len(bts))}
    assert {"payout_minimum_balance_hold", "payout_minimum_balance_release", "payout_reversal"} <= categories
    assert {"dispute", "dispute_reversal", "refund", "charge", "payout", "fee"} <= categories


def test_a_refund_made_now_and_failed_validates(server) -> None:
    """What the refund control routes make: a refund, its failure and their lines."""
    charges = list_all(server, "charges")
    charge = next(c for c in charges if c["status"] == "succeeded" and not c["amount_refunded"])
    refund = control(server, "refund", {"charge": charge["id"]})["refund"]
    failed = control(server, "fail_refund", {"refund": refund["id"]})["refund"]

    for path, schema in (
        (f"/v1/refunds/{refund['id']}", "refund"),
        (f"/v1/charges/{charge['id']}", "charge"),
        (f"/v1/balance_transactions/{refund['balance_transaction']}", "balance_transaction"),
        (f"/v1/balance_transactions/{failed['failure_balance_transaction']}", "balance_transaction"),
    ):
        status, body = http(server, path)
        assert status == 200
        assert schema_errors(schema, body) == [], path


def test_error_bodies_follow_stripes_error_schema(server) -> None:
    cases = [
        ("/v1/charges/ch_doesnotexist", API_KEY, 404),
        ("/v1/charges?limit=101", API_KEY, 400),
        ("/v1/charges?colour=blue", API_KEY, 400),
        ("/v1/charges", "sk_test_not_the_right_key_1234", 401),
        ("/v1/charges", None, 401),
        ("/v1/nothing_here", API_KEY, 404),
    ]
    for path, key, expected in cases:
        status, body = http(server, path, key=key)
        assert status == expected, (path, body)
        assert set(body) == {"error"}
        assert schema_errors("api_errors", body["error"]) == [], (path, body)
        assert body["error"]["type"] == "invalid_request_error"
    inject(server, "500")
    status, body = http(server, "/v1/charges")
    assert status == 500
    assert schema_errors("api_errors", body["error"]) == []
    assert body["error"]["type"] == "api_error"


def test_scale_ledger_objects_validate() -> None:
    app = build_stripe_sandbox(scale_objects=5_000, api_key=API_KEY)
    with stripe_sandbox_server(app) as server:
        for resource in ("balance_transactions", "charges", "payment_intents", "payouts"):
            status, body = http(server, f"/v1/{resource}?limit=100")
            assert status == 200
            assert body["data"], resource
            for obj in body["data"]:
                assert schema_errors(SCHEMA_OF[resource], obj) == [], obj["id"]
        for resource in ("refunds", "disputes"):
            status, body = http(server, f"/v1/{resource}")
            assert (status, body["data"], body["has_more"]) == (200, [], False)


@pytest.mark.parametrize("name", ["balance_transaction", "payout", "charge", "refund", "dispute", "payment_intent"])
def test_stripe_fixtures_validate_leniently(name: str) -> None:
    """The converter copes with Stripe's own (newer) example objects, unknown fields aside."""
    example = json.loads((SHARED_DATA / "stripe" / "fixtures3.json").read_text())["resources"][name]
    # fixtures3 comes from a newer spec (extra fields such as balance_type): hence not strict.
    assert schema_errors(name, example, strict=False) == []
