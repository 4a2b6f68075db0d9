"""The sandbox answers like Shopify: schema-checked queries, auth, cost, throttling, faults."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from decimal import Decimal

import pytest

from connections.shopify.queries import BALANCE_TRANSACTIONS_QUERY, DISPUTES_QUERY, ORDER_DETAIL_QUERY, ORDERS_QUERY
from connections.shopify.sandbox.server import INVALID_TOKEN_MESSAGE, RATE_LIMIT_MESSAGE, sign_webhook

from .conftest import control, post_graphql


def test_unknown_field_is_rejected_with_shopify_error_shape(sandbox) -> None:
    app, server = sandbox
    status, _, body = post_graphql(server, app, "{ shop { name frobnicate } }")
    assert status == 200  # GraphQL errors travel in a 200, as on Shopify
    assert "data" not in body
    [error] = body["errors"]
    assert error["message"] == "Field 'frobnicate' doesn't exist on type 'Shop'"
    assert error["locations"] == [{"line": 1, "column": 15}]
    assert error["extensions"] == {"code": "undefinedField", "typeName": "Shop", "fieldName": "frobnicate"}


def test_unknown_argument_is_rejected(sandbox) -> None:
    app, server = sandbox
    _, _, body = post_graphql(server, app, "{ orders(first: 1, since: 3) { nodes { id } } }")
    [error] = body["errors"]
    assert error["message"] == "Field 'orders' doesn't accept argument 'since'"
    assert error["extensions"]["code"] == "argumentNotAccepted"


def test_syntax_error_is_rejected(sandbox) -> None:
    app, server = sandbox
    _, _, body = post_graphql(server, app, "{ shop { name ")
    [error] = body["errors"]
    assert error["extensions"]["code"] == "parseError"
    assert error["locations"][0]["line"] == 1


def test_wrong_token_gets_401_with_shopify_body(sandbox) -> None:
    app, server = sandbox
    status, _, body = post_graphql(server, app, "{ shop { name } }", token="shpat_wrong")
    assert status == 401
    assert body == {"errors": INVALID_TOKEN_MESSAGE}


def test_answer_carries_cost_extension_and_refunds_unused_cost(make_sandbox) -> None:
    app, server = make_sandbox(maximum_available=2000.0, restore_rate=100.0)  # clock frozen: no restore
    _, _, body = post_graphql(server, app, ORDERS_QUERY, {"first": 2})
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 2 + 2 * 149
    assert 0 < cost["actualQueryCost"] < cost["requestedQueryCost"]
    # the bucket is charged the actual cost only
    assert cost["throttleStatus"] == {
        "maximumAvailable": 2000.0,
        "currentlyAvailable": 2000.0 - cost["actualQueryCost"],
        "restoreRate": 100.0,
    }


def test_query_over_max_cost_is_refused(sandbox) -> None:
    app, server = sandbox
    _, _, body = post_graphql(server, app, ORDERS_QUERY, {"first": 50})
    [error] = body["errors"]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert error["extensions"]["cost"] > 1000


def test_empty_bucket_answers_throttled(sandbox) -> None:
    app, server = sandbox
    control(server, "throttle", {"currently_available": 0, "restore_rate": 50.0})
    status, _, body = post_graphql(server, app, "{ shop { name } }")
    assert status == 200
    assert body["errors"] == [
        {
            "message": "Throttled",
            "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"},
        }
    ]
    assert body["extensions"]["cost"]["actualQueryCost"] is None
    assert control(server, "stats", method="GET")["throttled"] == 1


def test_injected_429_looks_like_shopify(sandbox) -> None:
    app, server = sandbox
    control(server, "faults", {"kind": "429", "count": 1})
    status, headers, body = post_graphql(server, app, "{ shop { name } }")
    assert status == 429
    assert headers["Retry-After"] == "2.0"
    assert body == {"errors": RATE_LIMIT_MESSAGE}


def test_injected_503_has_shopify_body(sandbox) -> None:
    app, server = sandbox
    control(server, "faults", {"kind": "503", "count": 1})
    status, _, body = post_graphql(server, app, "{ shop { name } }")
    assert (status, body) == (503, {"errors": "Service Unavailable"})


def test_cursor_pagination_walks_every_order_once(sandbox) -> None:
    app, server = sandbox
    seen: list[str] = []
    after = None
    while True:
        _, _, body = post_graphql(
            server,
            app,
            "query($after: String) { orders(first: 100, after: $after, sortKey: UPDATED_AT) "
            "{ pageInfo { hasNextPage endCursor } nodes { id updatedAt } } }",
            {"after": after},
        )
        page = body["data"]["orders"]
        seen.extend(node["id"] for node in page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == len(app.business.orders)


def test_search_filters_balance_transactions_to_one_payout(sandbox) -> None:
    app, server = sandbox
    payout = next(iter(app.business.payouts.values()))
    _, _, body = post_graphql(
        server, app, BALANCE_TRANSACTIONS_QUERY, {"first": 150, "query": f"payments_transfer_id:{payout.id}"}
    )
    nodes = body["data"]["shopifyPaymentsAccount"]["balanceTransactions"]["nodes"]
    expected = {
        f"gid://shopify/ShopifyPaymentsBalanceTransaction/{line.id}"
        for line in app.business.payout_lines(payout.id, include_transfer=True)
    }
    assert {n["id"] for n in nodes} == expected
    assert {n["associatedPayout"]["id"] for n in nodes} == {f"gid://shopify/ShopifyPaymentsPayout/{payout.id}"}


def test_unknown_search_field_is_reported_as_a_warning(sandbox) -> None:
    app, server = sandbox
    _, _, body = post_graphql(server, app, ORDERS_QUERY, {"first": 1, "query": "colour:green"})
    assert body["extensions"]["search"] == [
        {
            "path": ["orders"],
            "query": "colour:green",
            "warnings": [{"field": "colour", "message": "Invalid search field for this query."}],
        }
    ]


def test_order_by_id_and_unknown_id(sandbox) -> None:
    app, server = sandbox
    order = next(iter(app.business.orders.values()))
    _, _, body = post_graphql(server, app, ORDER_DETAIL_QUERY, {"id": f"gid://shopify/Order/{order.id}"})
    assert body["data"]["order"]["name"] == order.name
    _, _, body = post_graphql(server, app, ORDER_DETAIL_QUERY, {"id": "gid://shopify/Order/1"})
    assert body["data"] == {"order": None}


def test_advance_appends_a_day(sandbox) -> None:
    app, server = sandbox
    before = len(app.business.orders)
    answer = control(server, "advance", {"days": 1})
    created = answer["days"][0]["orders_created"]
    assert answer["ok"] is True
    assert len(app.business.orders) == before + len(created) > before
    assert answer["days"][0]["date"] == "2026-07-01"


def test_a_test_chargeback_is_a_dispute_on_a_test_order_that_moves_no_money(sandbox) -> None:
    app, server = sandbox
    lines_before = set(app.business.balance_transactions)

    answer = control(server, "test_chargeback", {})

    legacy = answer["dispute"].rsplit("/", 1)[-1]
    _, _, body = post_graphql(server, app, DISPUTES_QUERY, {"first": 5, "query": f"id:{legacy}"})
    [node] = body["data"]["shopifyPaymentsAccount"]["disputes"]["nodes"]
    assert (node["id"], node["status"], node["type"]) == (answer["dispute"], "NEEDS_RESPONSE", "CHARGEBACK")
    assert node["amount"] == {"amount": "34.0", "currencyCode": "USD"}  # the Merino Beanie, $34.00
    assert (node["order"]["id"], node["order"]["test"]) == (answer["order"], True)
    assert [(t["kind"], t["status"]) for t in node["order"]["transactions"]] == [("SALE", "SUCCESS")]
    assert set(app.business.balance_transactions) == lines_before  # test money never reaches the balance


PAYOUT_NETS = "{ shopifyPaymentsAccount { payouts(first: 250) { nodes { id net { amount } } } } }"


def test_a_test_charge_is_a_test_balance_transaction_listed_with_a_payout_it_does_not_add_to(sandbox) -> None:
    app, server = sandbox
    payout = next(p for p in app.business.payouts.values() if p.status == "PAID")
    payout_gid = f"gid://shopify/ShopifyPaymentsPayout/{payout.id}"
    _, _, before = post_graphql(server, app, PAYOUT_NETS, {})

    answer = control(server, "test_charge", {"payout": payout_gid})

    _, _, body = post_graphql(
        server, app, BALANCE_TRANSACTIONS_QUERY, {"first": 150, "query": f"payments_transfer_id:{payout.id}"}
    )
    nodes = {n["id"]: n for n in body["data"]["shopifyPaymentsAccount"]["balanceTransactions"]["nodes"]}
    test_line = nodes.pop(answer["balance_transaction"])
    assert (test_line["type"], test_line["test"], test_line["associatedPayout"]["id"]) == ("CHARGE", True, payout_gid)
    assert test_line["amount"] == {"amount": "34.0", "currencyCode": "USD"}  # the Merino Beanie, $34.00
    assert test_line["associatedOrder"]["id"] == answer["order"]
    assert not any(n["test"] for n in nodes.values())
    # the payout pays out exactly what it did: test money is never paid out
    _, _, after = post_graphql(server, app, PAYOUT_NETS, {})
    assert after["data"] == before["data"]
    own = {n["id"] for n in nodes.values() if n["type"] == "TRANSFER"}
    assert sum(Decimal(n["net"]["amount"]) for i, n in nodes.items() if i not in own) * 100 == payout.net


def test_a_test_charge_for_an_unknown_payout_is_refused(sandbox) -> None:
    import urllib.error

    app, server = sandbox
    lines_before = set(app.business.balance_transactions)
    with pytest.raises(urllib.error.HTTPError) as refused:
        control(server, "test_charge", {"payout": "gid://shopify/ShopifyPaymentsPayout/1"})
    assert refused.value.code == 404
    assert "no payout" in json.loads(refused.value.read())["error"]
    assert set(app.business.balance_transactions) == lines_before


def test_sign_webhook_is_base64_hmac_sha256() -> None:
    body = b'{"id":450789469,"name":"#1001"}'
    expected = base64.b64encode(hmac.new(b"hush", body, hashlib.sha256).digest()).decode()
    assert sign_webhook(body, "hush") == expected
    assert sign_webhook(body, "other") != expected
