"""The sandbox speaks Stripe's API v1: list semantics, auth, errors, control routes, webhooks."""

from __future__ import annotations

import json
import time

import pytest
import stripe

from connections.stripe.sandbox.server import build_stripe_sandbox, mask_key, sign_webhook, stripe_sandbox_server
from connections.stripe.tests.helpers import API_KEY, control, http, inject, list_all


def test_lists_default_to_ten_newest_first(server, sandbox_app) -> None:
    status, body = http(server, "/v1/charges")
    assert status == 200
    charges = sandbox_app.ledger.seq("charges")
    newest = [charges.item(len(charges) - 1 - i)["id"] for i in range(10)]
    assert [c["id"] for c in body["data"]] == newest
    assert body["has_more"] is True
    assert body["url"] == "/v1/charges"


@pytest.mark.parametrize(
    ("limit", "fragment"),
    [
        ("0", "greater than or equal to 1"),
        ("101", "less than or equal to 100"),
        ("-5", "greater than or equal to 1"),
        ("ten", "Invalid integer"),
    ],
)
def test_limit_out_of_range_is_an_invalid_request(server, limit: str, fragment: str) -> None:
    status, body = http(server, f"/v1/balance_transactions?limit={limit}")
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] == "limit"
    assert fragment in body["error"]["message"]


def test_has_more_is_exact_at_the_edges(server) -> None:
    total = len(list_all(server, "disputes"))
    assert total >= 3
    assert http(server, f"/v1/disputes?limit={total - 1}")[1]["has_more"] is True
    assert http(server, f"/v1/disputes?limit={total}")[1]["has_more"] is False
    _, page = http(server, "/v1/disputes?limit=1")
    oldest_but_one = list_all(server, "disputes")[-2]["id"]
    assert http(server, f"/v1/disputes?limit=1&starting_after={oldest_but_one}")[1]["has_more"] is False
    assert http(server, f"/v1/disputes?limit=1&ending_before={page['data'][0]['id']}")[1]["has_more"] is False
    refunds = list_all(server, "balance_transactions", "&type=refund")
    _, last = http(server, f"/v1/balance_transactions?type=refund&limit={len(refunds) - 1}")
    assert last["has_more"] is True
    _, last = http(server, f"/v1/balance_transactions?type=refund&limit={len(refunds)}")
    assert last["has_more"] is False


def test_limit_bounds_are_accepted(server) -> None:
    assert len(http(server, "/v1/balance_transactions?limit=1")[1]["data"]) == 1
    assert len(http(server, "/v1/balance_transactions?limit=100")[1]["data"]) == 100


def test_starting_after_and_ending_before_walk_both_ways(server) -> None:
    everything = list_all(server, "payment_intents")
    ids = [pi["id"] for pi in everything]
    _, page = http(server, f"/v1/payment_intents?limit=5&starting_after={ids[9]}")
    assert [pi["id"] for pi in page["data"]] == ids[10:15]
    assert page["has_more"] is True
    _, page = http(server, f"/v1/payment_intents?limit=5&ending_before={ids[15]}")
    assert [pi["id"] for pi in page["data"]] == ids[10:15]  # still newest first
    assert page["has_more"] is True
    _, page = http(server, f"/v1/payment_intents?limit=5&ending_before={ids[3]}")
    assert [pi["id"] for pi in page["data"]] == ids[0:3]
    assert page["has_more"] is False
    _, page = http(server, f"/v1/payment_intents?limit=100&starting_after={ids[-2]}")
    assert [pi["id"] for pi in page["data"]] == ids[-1:]
    assert page["has_more"] is False
    status, body = http(server, f"/v1/payment_intents?starting_after={ids[1]}&ending_before={ids[5]}")
    assert status == 400
    assert "only specify one" in body["error"]["message"]
    status, body = http(server, "/v1/payment_intents?starting_after=pi_nope")
    assert status == 400
    assert (body["error"]["code"], body["error"]["param"]) == ("resource_missing", "starting_after")


def test_created_filters(server) -> None:
    everything = list_all(server, "balance_transactions")
    pivot = everything[len(everything) // 2]["created"]
    for op, keep in (
        ("gte", lambda c: c >= pivot),
        ("gt", lambda c: c > pivot),
        ("lte", lambda c: c <= pivot),
        ("lt", lambda c: c < pivot),
    ):
        got = list_all(server, "balance_transactions", f"&created[{op}]={pivot}")
        assert [bt["id"] for bt in got] == [bt["id"] for bt in everything if keep(bt["created"])], op
    exact = list_all(server, "balance_transactions", f"&created={pivot}")
    assert exact
    assert all(bt["created"] == pivot for bt in exact)
    window = list_all(server, "balance_transactions", f"&created[gt]={pivot - 86_400}&created[lte]={pivot}")
    assert [bt["id"] for bt in window] == [bt["id"] for bt in everything if pivot - 86_400 < bt["created"] <= pivot]
    status, body = http(server, "/v1/balance_transactions?created[gte]=yesterday")
    assert (status, body["error"]["param"]) == (400, "created[gte]")


def test_equality_filters_and_unknown_parameters(server) -> None:
    refunds = list_all(server, "balance_transactions", "&type=refund")
    assert refunds
    assert all(bt["type"] == "refund" for bt in refunds)
    everything = list_all(server, "balance_transactions")
    assert len(refunds) == sum(1 for bt in everything if bt["type"] == "refund")
    charge = next(c for c in list_all(server, "charges") if c["amount_refunded"])
    assert {r["charge"] for r in list_all(server, "refunds", f"&charge={charge['id']}")} == {charge["id"]}
    assert [bt["source"] for bt in list_all(server, "balance_transactions", f"&source={charge['id']}")] == [
        charge["id"]
    ]
    status, body = http(server, "/v1/charges?colour=blue")
    assert status == 400
    assert body["error"]["message"] == "Received unknown parameter: colour"
    status, body = http(server, "/v1/charges?payout=po_123")  # only balance transactions filter by payout
    assert status == 400
    status, body = http(server, "/v1/balance_transactions?payout=po_doesnotexist")
    assert (status, body["error"]["code"]) == (404, "resource_missing")
    status, body = http(server, "/v1/charges?expand[]=data.balance_transaction")
    assert status == 400
    assert "expand" in body["error"]["message"]


def test_retrieve_by_id_and_missing_objects(server, sandbox_app) -> None:
    charge = sandbox_app.ledger.seq("charges").item(3)
    status, body = http(server, f"/v1/charges/{charge['id']}")
    assert (status, body) == (200, charge)
    status, body = http(server, "/v1/charges/ch_missing")
    assert status == 404
    assert body["error"] | {"request_log_url": None} == {
        "type": "invalid_request_error",
        "code": "resource_missing",
        "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
        "message": "No such charge: 'ch_missing'",
        "param": "id",
        "request_log_url": None,
    }
    status, body = http(server, "/v1/balance_transactions/txn_missing")
    assert body["error"]["message"] == "No such balance transaction: 'txn_missing'"
    status, _ = http(server, "/v1/charges", method="POST", payload={"amount": 100})
    assert status == 404  # read-only sandbox: creating is an unrecognized request


def test_auth_requires_the_configured_key_and_never_echoes_it(server) -> None:
    status, body = http(server, "/v1/balance", key=None)
    assert status == 401
    assert "did not provide an API key" in body["error"]["message"]
    wrong = "sk_test_51WrongKeyWithSecretMiddlePartXYZW"
    status, body = http(server, "/v1/balance", key=wrong)
    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"] == "Invalid API Key provided: sk_test_****XYZW"
    assert wrong not in json.dumps(body)
    assert "SecretMiddlePart" not in json.dumps(body)
    status, _ = http(server, "/v1/balance", key=API_KEY)
    assert status == 200
    # Control routes are the test harness's, not Stripe's: they need no key.
    assert control(server, "state", method="GET")["counts"]["payouts"] > 0


def test_mask_key_keeps_only_kind_and_last_four() -> None:
    assert mask_key("sk_test_abcdefghijklmnop1234") == "sk_test_****1234"
    assert mask_key("rk_live_abcdefghijklmnopWXYZ") == "rk_live_****WXYZ"
    assert mask_key("short") == "****"


def test_injected_429_and_5xx_answer_in_stripes_format(server) -> None:
    inject(server, "429", count=2)
    for _ in range(2):
        status, body = http(server, "/v1/charges")
        assert status == 429
        assert body["error"]["type"] == "rate_limit_error"
        assert body["error"]["code"] == "rate_limit"
    assert http(server, "/v1/charges")[0] == 200
    inject(server, "503", path_prefix="/v1/payouts")
    assert http(server, "/v1/charges")[0] == 200  # the fault waits for its path
    status, body = http(server, "/v1/payouts")
    assert (status, body["error"]["type"]) == (503, "api_error")


def test_advance_appends_a_day_of_business_after_everything_else(server) -> None:
    before = control(server, "state", method="GET")
    newest_before = http(server, "/v1/balance_transactions?limit=1")[1]["data"][0]
    result = control(server, "advance", {"days": 1})
    assert result["ok"] is True
    assert result["now"] == before["now"] + 86_400
    assert result["added"]["payment_intents"] >= 10
    assert result["added"]["balance_transactions"] >= 10
    after = control(server, "state", method="GET")
    for resource, count in before["counts"].items():
        assert after["counts"][resource] == count + result["added"][resource]
    new = list_all(server, "balance_transactions", f"&created[gt]={newest_before['created']}")
    assert len(new) == result["added"]["balance_transactions"]
    status, _body = http(server, "/__sandbox__/advance", key=None, method="POST", payload={"days": "many"})
    assert status == 400


def test_sign_webhook_is_accepted_by_stripe_python() -> None:
    secret = "whsec_test_secret"
    payload = json.dumps({"id": "evt_1", "object": "event", "type": "payout.paid"}).encode()
    header = sign_webhook(payload, secret)
    stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=300)
    assert abs(int(header.split(",")[0].removeprefix("t=")) - time.time()) < 5
    fixed = sign_webhook(payload, secret, timestamp=1_700_000_000)
    assert fixed.startswith("t=1700000000,v1=")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(payload + b" ", header, secret, tolerance=300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(payload, header, "whsec_other", tolerance=300)
    with pytest.raises(stripe.SignatureVerificationError):  # too old for the tolerance
        stripe.WebhookSignature.verify_header(payload, fixed, secret, tolerance=300)


@pytest.mark.parametrize(
    ("action", "payload", "fragment"),
    [
        ("refund", {}, "'charge' (an id) is required"),
        ("refund", {"charge": "ch_doesnotexist"}, "No such charge: 'ch_doesnotexist'"),
        ("refund", {"charge": "FIRST_CHARGE", "amount": 0}, "must be a positive integer"),
        ("refund", {"charge": "FIRST_CHARGE", "amount": "5.00"}, "must be a positive integer"),
        ("refund", {"charge": "FIRST_CHARGE", "amount": 10**9}, "no greater than what is left to refund"),
        ("fail_refund", {"refund": "re_doesnotexist"}, "No such refund: 're_doesnotexist'"),
        ("fail_refund", {"charge": "ch_1"}, "'refund' (an id) is required"),
        ("fail_refund", ["re_1"], "expected a JSON object"),
    ],
)
def test_refund_control_routes_refuse_what_stripe_refuses(server, action, payload, fragment) -> None:
    if isinstance(payload, dict) and payload.get("charge") == "FIRST_CHARGE":
        charges = list_all(server, "charges")
        payload["charge"] = next(c["id"] for c in charges if c["status"] == "succeeded" and not c["amount_refunded"])
    before = control(server, "state", method="GET")["counts"]

    status, body = http(server, f"/__sandbox__/{action}", key=None, method="POST", payload=payload)

    assert status == 400
    assert fragment in body["error"]
    assert control(server, "state", method="GET")["counts"] == before


def test_a_refund_fails_once_and_the_scale_ledger_takes_none(server) -> None:
    charge = next(c for c in list_all(server, "charges") if c["status"] == "succeeded" and not c["amount_refunded"])
    refund = control(server, "refund", {"charge": charge["id"]})["refund"]
    control(server, "fail_refund", {"refund": refund["id"], "reason": "lost_or_stolen_card"})

    status, body = http(server, "/__sandbox__/fail_refund", key=None, method="POST", payload={"refund": refund["id"]})

    assert status == 400
    assert body["error"] == f"Refund {refund['id']} is failed; only a pending or succeeded refund can fail."
    assert http(server, f"/v1/refunds/{refund['id']}")[1]["failure_reason"] == "lost_or_stolen_card"
    with stripe_sandbox_server(build_stripe_sandbox(scale_objects=100, api_key=API_KEY)) as scale:
        status, body = http(scale, "/__sandbox__/refund", key=None, method="POST", payload={"charge": "ch_x"})
    assert status == 400
    assert "no refunds" in body["error"]
