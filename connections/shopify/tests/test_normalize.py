"""Normalizers on Shopify's own REST fixtures and on GraphQL nodes, with concrete values."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from canonical.rows import KIND_FIELDS, CanonicalRow
from connections.shopify import normalize as n
from connections.shopify.queries import BALANCE_TRANSACTIONS_QUERY, DISPUTES_QUERY, ORDER_DETAIL_QUERY, PAYOUTS_QUERY
from connections.shopify.sandbox.server import ShopifySandbox, build_shopify_sandbox
from connections.shopify.schema import load_admin_schema

from .conftest import load_fixture

# --------------------------------------------------------------------------- REST fixtures


def test_rest_order_fixture() -> None:
    [order] = n.normalize_rest_order(load_fixture("order.json")["order"])
    assert order.kind == "order"
    assert order.source_id == "gid://shopify/Order/450789469"
    assert order.fields == {
        "order_number": "#1001",
        "currency": "USD",
        "total_minor": 40994,
        "gift_card_sold_minor": 0,  # three iPods, no gift card
        "financial_status": "authorized",
        "cancelled": False,
    }
    assert order.source_created_at == datetime(2008, 1, 10, 16, 0, tzinfo=UTC)


def test_rest_orders_fixture_uses_shop_money_and_knows_it_lacks_line_items() -> None:
    [order] = n.normalize_rest_order(load_fixture("orders.json")["orders"][0])
    assert order.fields["total_minor"] == 59894
    assert order.fields["financial_status"] == "partially_refunded"
    assert order.fields["gift_card_sold_minor"] is None  # no line_items in this export: unknown, not 0


def test_rest_order_gift_card_line_is_a_liability() -> None:
    raw = copy.deepcopy(load_fixture("order.json")["order"])
    raw["line_items"][2]["gift_card"] = True  # the black iPod becomes a $199 gift card
    [order] = n.normalize_rest_order(raw)
    assert order.fields["gift_card_sold_minor"] == 19900


def test_rest_authorization_is_not_a_payment() -> None:
    assert n.normalize_rest_transaction(load_fixture("transaction.json")["transaction"], currency="USD") is None
    assert [n.normalize_rest_transaction(t, currency="USD") for t in load_fixture("transactions.json")] == [None]


def test_rest_sale_is_a_payment_and_gift_card_gateway_is_flagged() -> None:
    raw = dict(load_fixture("transaction.json")["transaction"], kind="sale")
    payment = n.normalize_rest_transaction(raw, currency="USD")
    assert payment is not None
    assert payment.kind == "payment"
    assert payment.source_id == "gid://shopify/OrderTransaction/389404469"
    assert payment.fields == {
        "order_source_id": "gid://shopify/Order/450789469",
        "currency": "USD",
        "amount_minor": 40994,
        "status": "succeeded",
        "captured": True,
        "gateway": "bogus",
        "is_gift_card": False,
        "balance_transaction_source_id": None,
    }
    gift = n.normalize_rest_transaction(dict(raw, gateway="gift_card"), currency="USD")
    assert gift is not None
    assert gift.fields["is_gift_card"] is True


def test_rest_transaction_without_currency_needs_the_orders() -> None:
    raw = dict(load_fixture("transaction.json")["transaction"], kind="sale")
    with pytest.raises(n.ShopifyNormalizeError, match="no currency"):
        n.normalize_rest_transaction(raw)


def test_rest_refund_fixture() -> None:
    [refund] = n.normalize_rest_refund(load_fixture("refund.json")["refund"])
    assert refund.source_id == "gid://shopify/OrderTransaction/179259969"
    assert refund.fields == {
        "payment_source_id": None,  # parent_id is null in the fixture
        "order_source_id": "gid://shopify/Order/450789469",
        "currency": "USD",
        "amount_minor": 20900,
        "status": "succeeded",
        "reason": "it broke during shipping",
    }
    assert refund.source_created_at == datetime(2005, 8, 5, 16, 59, 12, tzinfo=UTC)


def test_rest_dispute_fixtures() -> None:
    dispute = n.normalize_rest_dispute(load_fixture("dispute.json")["dispute"])
    assert dispute.source_id == "gid://shopify/ShopifyPaymentsDispute/1052608616"
    assert dispute.fields == {
        "payment_source_id": None,
        "currency": "USD",
        "amount_minor": 10000,
        "status": "won",
        "reason": "fraudulent",
    }
    assert dispute.source_created_at == datetime(2013, 5, 4, 0, 0, tzinfo=UTC)
    rows = [n.normalize_rest_dispute(d) for d in load_fixture("disputes.json")["disputes"]]
    assert [r.fields["amount_minor"] for r in rows] == [10000, 1150, 1150, 1150, 1150, 1150, 1150]
    assert [r.fields["status"] for r in rows].count("needs_response") == 4


def test_rest_payout_fixtures() -> None:
    payout = n.normalize_rest_payout(load_fixture("payout.json")["payout"])
    assert payout.source_id == "gid://shopify/ShopifyPaymentsPayout/623721858"
    assert payout.fields == {
        "currency": "USD",
        "amount_minor": 4190,
        "status": "paid",
        "method": "standard",
        "automatic": True,
        "arrival_date": date(2019, 11, 12),
        "failure_code": None,
        "reversal_of_source_id": None,
    }
    rows = [n.normalize_rest_payout(p) for p in load_fixture("payouts.json")["payouts"]]
    assert [(r.fields["status"], r.fields["currency"], r.fields["amount_minor"]) for r in rows] == [
        ("pending", "USD", 4312),
        ("failed", "USD", 4312),
        ("in_transit", "USD", 4312),
        ("paid", "USD", 4190),
        ("paid", "CAD", 5169),
        ("paid", "USD", 4190),
    ]


def test_rest_balance_transactions_fixture() -> None:
    lines = {
        r.source_id.rsplit("/", 1)[-1]: r
        for r in (
            n.normalize_rest_balance_transaction(t) for t in load_fixture("payouts_transactions.json")["transactions"]
        )
    }
    dispute = lines["726130462"].fields
    assert (dispute["reporting_category"], dispute["amount_minor"], dispute["fee_minor"], dispute["net_minor"]) == (
        "dispute",
        -1150,
        1500,
        -2650,
    )
    assert dispute["source_object_id"] == "gid://shopify/ShopifyPaymentsDispute/598735659"
    assert dispute["fee_details"] == [
        {"amount_minor": 1500, "currency": "USD", "type": "shopify_payments_fee", "description": None}
    ]
    charge = lines["567994517"].fields
    assert (charge["reporting_category"], charge["amount_minor"], charge["fee_minor"], charge["net_minor"]) == (
        "charge",
        1150,
        65,
        1085,
    )
    assert charge["source_object_id"] == "gid://shopify/OrderTransaction/567994517"
    assert charge["source_order_id"] == "gid://shopify/Order/217130470"
    assert lines["400852343"].fields["reporting_category"] == "payout_minimum_balance_hold"  # reserve -42.00
    assert lines["250467535"].fields["reporting_category"] == "payout_minimum_balance_release"  # reserve +42.00
    payout_line = lines["854848137"].fields
    assert (payout_line["reporting_category"], payout_line["net_minor"]) == ("payout", -4190)
    assert payout_line["payout_source_id"] == "gid://shopify/ShopifyPaymentsPayout/623721858"
    assert lines["77412310"].fields["reporting_category"] == "adjustment"  # a "credit"
    assert lines["77412310"].fields["source_object_type"] == "adjustment_reversal"
    # Shopify's own fixture holds one line whose net is not amount - fee (-1.50, fee -0.25, net -1.75).
    # The normalizer keeps what Shopify said; flagging it is reconciliation's job (line_net_mismatch).
    odd = lines["758509248"].fields
    assert (odd["amount_minor"], odd["fee_minor"], odd["net_minor"]) == (-150, -25, -175)
    mismatched = [
        k for k, r in lines.items() if r.fields["net_minor"] != r.fields["amount_minor"] - r.fields["fee_minor"]
    ]
    assert mismatched == ["758509248"]


# --------------------------------------------------------------------------- GraphQL nodes


@pytest.fixture(scope="module")
def app() -> ShopifySandbox:
    return build_shopify_sandbox(maximum_available=1e9, restore_rate=1e9)


def _run(app: ShopifySandbox, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    answer = app.run_graphql(query, variables)
    assert "errors" not in answer, answer.get("errors")
    return answer["data"]


def _order_node(app: ShopifySandbox, number: int) -> dict[str, Any]:
    order = next(o for o in app.business.orders.values() if o.number == number)
    return _run(app, ORDER_DETAIL_QUERY, {"id": f"gid://shopify/Order/{order.id}"})["order"]


def _kinds(rows: list[CanonicalRow]) -> list[str]:
    return [r.kind for r in rows]


def test_graphql_gift_card_sale_reports_the_liability(app: ShopifySandbox) -> None:
    business_order = next(o for o in app.business.orders.values() if o.number == 1001)  # scripted gift card sale
    rows = n.normalize_order(_order_node(app, 1001))
    assert _kinds(rows) == ["order", "payment"]
    gift_card_line = next(line for line in business_order.line_items if line.is_gift_card)
    assert rows[0].fields["gift_card_sold_minor"] == gift_card_line.total.shop > 0
    assert rows[0].fields["total_minor"] == business_order.total.shop
    assert rows[1].fields["is_gift_card"] is False  # paid by card: real money, for a liability


def test_graphql_order_paid_partly_by_gift_card(app: ShopifySandbox) -> None:
    order, *payments = n.normalize_order(_order_node(app, 1002))
    assert sorted((p.fields["gateway"], p.fields["is_gift_card"]) for p in payments) == [
        ("gift_card", True),
        ("shopify_payments", False),
    ]
    assert sum(p.fields["amount_minor"] for p in payments) == order.fields["total_minor"]
    assert order.fields["gift_card_sold_minor"] == 0


def test_graphql_partial_refund_in_cad_is_in_shop_currency(app: ShopifySandbox) -> None:
    business_order = next(o for o in app.business.orders.values() if o.number == 1005)
    assert business_order.presentment_currency == "CAD"
    rows = n.normalize_order(_order_node(app, 1005))
    order, payment, refund = rows
    assert order.fields["financial_status"] == "partially_refunded"
    assert order.fields["currency"] == payment.fields["currency"] == refund.fields["currency"] == "USD"
    assert refund.fields["payment_source_id"] == payment.source_id
    assert refund.fields["order_source_id"] == order.source_id
    assert refund.fields["amount_minor"] == business_order.refunds[0].total.shop
    assert refund.fields["reason"] == "Customer returned an item"
    assert 0 < refund.fields["amount_minor"] < payment.fields["amount_minor"]


def test_graphql_cancelled_order_is_refunded_in_full(app: ShopifySandbox) -> None:
    order, payment, refund = n.normalize_order(_order_node(app, 1006))
    assert order.fields["cancelled"] is True
    assert order.fields["financial_status"] == "refunded"
    assert refund.fields["amount_minor"] == payment.fields["amount_minor"] == order.fields["total_minor"]


def test_graphql_authorization_is_skipped_capture_is_the_payment(app: ShopifySandbox) -> None:
    node = _order_node(app, 1007)  # JPY, authorized then captured, then refunded in full
    kinds = [(t["kind"], t["status"]) for t in node["transactions"]]
    assert ("AUTHORIZATION", "SUCCESS") in kinds
    assert ("CAPTURE", "SUCCESS") in kinds
    rows = n.normalize_order(node)
    payments = [r for r in rows if r.kind == "payment"]
    assert [p.source_id for p in payments] == [t["id"] for t in node["transactions"] if t["kind"] == "CAPTURE"]


def test_graphql_declined_attempt_is_not_a_payment(app: ShopifySandbox) -> None:
    node = _order_node(app, 1008)
    assert [t["status"] for t in node["transactions"]] == ["FAILURE", "SUCCESS"]
    assert _kinds(n.normalize_order(node)) == ["order", "payment"]


def test_graphql_dispute_links_to_the_disputed_charge(app: ShopifySandbox) -> None:
    data = _run(app, DISPUTES_QUERY, {"first": 25})
    rows = [n.normalize_dispute(node) for node in data["shopifyPaymentsAccount"]["disputes"]["nodes"]]
    by_status = {r.fields["status"]: r for r in rows}
    assert {"won", "lost"} <= set(by_status)
    won = app.business.disputes[int(by_status["won"].source_id.rsplit("/", 1)[-1])]
    assert by_status["won"].fields["payment_source_id"] == f"gid://shopify/OrderTransaction/{won.transaction_id}"
    assert by_status["won"].fields["amount_minor"] == won.amount
    assert by_status["won"].fields["reason"] in {"fraudulent", "product_not_received", "credit_not_processed"}


def test_graphql_dispute_on_a_test_order_gives_no_row() -> None:
    app = build_shopify_sandbox(days=1, orders_per_day=2, maximum_available=1e9, restore_rate=1e9)
    dispute = app.business.simulate_test_order_chargeback()
    [node] = _run(app, DISPUTES_QUERY, {"first": 5, "query": f"id:{dispute.id}"})["shopifyPaymentsAccount"]["disputes"][
        "nodes"
    ]

    assert node["order"]["test"] is True
    assert n.normalize_dispute(node) is None
    # the same dispute on a real order is booked, for its $34.00
    real = n.normalize_dispute({**node, "order": {**node["order"], "test": False}})
    assert real is not None
    assert (real.source_id, real.fields["amount_minor"], real.fields["status"]) == (node["id"], 3400, "needs_response")


def test_graphql_payouts_and_lines_reconcile_after_normalizing(app: ShopifySandbox) -> None:
    payouts = _run(app, PAYOUTS_QUERY, {"first": 50})["shopifyPaymentsAccount"]["payouts"]["nodes"]
    rows = [n.normalize_payout(p) for p in payouts]
    assert {r.fields["status"] for r in rows} == {"paid", "failed", "pending"}
    for payout in rows:
        legacy = payout.source_id.rsplit("/", 1)[-1]
        nodes = _run(app, BALANCE_TRANSACTIONS_QUERY, {"first": 150, "query": f"payments_transfer_id:{legacy}"})
        lines = [
            n.normalize_balance_transaction(x) for x in nodes["shopifyPaymentsAccount"]["balanceTransactions"]["nodes"]
        ]
        assert (
            sum(x.fields["net_minor"] for x in lines if x.fields["reporting_category"] != "payout")
            == payout.fields["amount_minor"]
        )


def test_graphql_line_categories_cover_the_business(app: ShopifySandbox) -> None:
    nodes = []
    after = None
    while True:
        page = _run(app, BALANCE_TRANSACTIONS_QUERY, {"first": 150, "after": after})["shopifyPaymentsAccount"][
            "balanceTransactions"
        ]
        nodes += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    categories = {(x["type"], n.normalize_balance_transaction(x).fields["reporting_category"]) for x in nodes}
    assert categories == {
        ("CHARGE", "charge"),
        ("REFUND", "refund"),
        ("DISPUTE_WITHDRAWAL", "dispute"),
        ("DISPUTE_REVERSAL", "dispute_reversal"),
        ("RESERVED_FUNDS_WITHDRAWAL", "payout_minimum_balance_hold"),
        ("RESERVED_FUNDS_REVERSAL", "payout_minimum_balance_release"),
        ("ADJUSTMENT", "adjustment"),
        ("TRANSFER", "payout"),
        ("TRANSFER_FAILURE", "payout_reversal"),
    }
    unpaid = [x for x in nodes if x["associatedPayout"]["id"] is None]
    assert unpaid
    assert all(n.normalize_balance_transaction(x).fields["payout_source_id"] is None for x in unpaid)


# --------------------------------------------------------------------------- GraphQL literals

JPY_CHARGE_LINE = {
    "id": "gid://shopify/ShopifyPaymentsBalanceTransaction/77",
    "type": "CHARGE",
    "test": False,
    "transactionDate": "2026-06-03T09:15:00Z",
    "amount": {"amount": "1500.0", "currencyCode": "JPY"},
    "fee": {"amount": "54.0", "currencyCode": "JPY"},
    "net": {"amount": "1446.0", "currencyCode": "JPY"},
    "sourceType": "CHARGE",
    "sourceId": "5501",
    "sourceOrderTransactionId": "7001",
    "adjustmentReason": None,
    "associatedOrder": {"id": "gid://shopify/Order/42", "name": "#1042"},
    "associatedPayout": {"id": "gid://shopify/ShopifyPaymentsPayout/9", "status": "PAID"},
}


def test_graphql_jpy_line_has_no_minor_digits() -> None:
    row = n.normalize_balance_transaction(JPY_CHARGE_LINE)
    assert row.fields == {
        "payout_source_id": "gid://shopify/ShopifyPaymentsPayout/9",
        "type": "charge",
        "reporting_category": "charge",
        "currency": "JPY",
        "amount_minor": 1500,
        "fee_minor": 54,
        "net_minor": 1446,
        "fee_details": [{"amount_minor": 54, "currency": "JPY", "type": "shopify_payments_fee", "description": None}],
        "exchange_rate": None,
        "source_object_id": "gid://shopify/OrderTransaction/7001",
        "source_object_type": "charge",
        "source_order_id": "gid://shopify/Order/42",
        "available_on": None,
    }
    assert row.source_created_at == datetime(2026, 6, 3, 9, 15, tzinfo=UTC)


def test_graphql_test_balance_transaction_gives_no_line() -> None:
    # Shopify Payments test mode: the balance transaction says so itself (``test: Boolean!``)
    assert n.normalize_balance_transaction({**JPY_CHARGE_LINE, "test": True}) is None
    assert n.normalize_balance_transaction({**JPY_CHARGE_LINE, "test": False}) is not None


def test_rest_test_balance_transaction_gives_no_line() -> None:
    charge = next(t for t in load_fixture("payouts_transactions.json")["transactions"] if t["id"] == 567994517)
    assert charge["test"] is False
    assert n.normalize_rest_balance_transaction({**charge, "test": True}) is None
    assert n.normalize_rest_balance_transaction(charge) is not None


def test_graphql_kwd_three_decimals_and_refusal_of_a_fourth() -> None:
    kwd = copy.deepcopy(JPY_CHARGE_LINE)
    kwd["amount"] = {"amount": "12.345", "currencyCode": "KWD"}
    kwd["fee"] = {"amount": "0.405", "currencyCode": "KWD"}
    kwd["net"] = {"amount": "11.94", "currencyCode": "KWD"}
    row = n.normalize_balance_transaction(kwd)
    assert (row.fields["amount_minor"], row.fields["fee_minor"], row.fields["net_minor"]) == (12345, 405, 11940)
    kwd["fee"] = {"amount": "0.4051", "currencyCode": "KWD"}
    with pytest.raises(n.ShopifyNormalizeError, match="more decimals"):
        n.normalize_balance_transaction(kwd)


def test_graphql_usd_amount_with_three_decimals_is_refused() -> None:
    usd = copy.deepcopy(JPY_CHARGE_LINE)
    for key in ("amount", "fee", "net"):
        usd[key] = {"amount": "10.00", "currencyCode": "USD"}
    usd["amount"] = {"amount": "10.005", "currencyCode": "USD"}
    with pytest.raises(n.ShopifyNormalizeError, match=r"balance transaction .*more decimals"):
        n.normalize_balance_transaction(usd)


def test_withdrawal_payout_is_negative() -> None:
    node = {
        "id": "gid://shopify/ShopifyPaymentsPayout/5",
        "issuedAt": "2026-06-10T06:00:00Z",
        "status": "PAID",
        "transactionType": "WITHDRAWAL",
        "net": {"amount": "25.5", "currencyCode": "USD"},
    }
    row = n.normalize_payout(node)
    assert (row.fields["amount_minor"], row.fields["status"], row.fields["arrival_date"]) == (
        -2550,
        "paid",
        date(2026, 6, 10),
    )


def test_a_payout_is_dated_on_its_day_in_the_shops_time_zone() -> None:
    # 06:00 UTC on June 10th is 23:00 on June 9th in California: the payout is June 9th's there.
    node = {
        "id": "gid://shopify/ShopifyPaymentsPayout/6",
        "issuedAt": "2026-06-10T06:00:00Z",
        "status": "PAID",
        "transactionType": "DEPOSIT",
        "net": {"amount": "100.00", "currencyCode": "USD"},
    }
    assert n.normalize_payout(node, ZoneInfo("America/Los_Angeles")).fields["arrival_date"] == date(2026, 6, 9)
    assert n.normalize_payout(node, ZoneInfo("Europe/Berlin")).fields["arrival_date"] == date(2026, 6, 10)
    assert n.normalize_payout(node).fields["arrival_date"] == date(2026, 6, 10)


def test_missing_money_is_a_clear_error() -> None:
    broken = {k: v for k, v in JPY_CHARGE_LINE.items() if k != "fee"}
    with pytest.raises(n.ShopifyNormalizeError, match="lacks 'fee'"):
        n.normalize_balance_transaction(broken)


# --------------------------------------------------------------------------- categories


def test_every_shopify_transaction_type_has_a_category() -> None:
    enum = load_admin_schema().get_type("ShopifyPaymentsTransactionType")
    values = set(enum.values)  # type: ignore[union-attr]
    unmapped = sorted(values - set(n.REPORTING_CATEGORY_BY_TYPE) - {"RESERVED_FUNDS"})
    invented = sorted(set(n.REPORTING_CATEGORY_BY_TYPE) - values)
    assert (unmapped, invented) == ([], [])


@pytest.mark.parametrize(
    ("transaction_type", "amount", "category"),
    [
        ("RESERVED_FUNDS", -500, "payout_minimum_balance_hold"),
        ("RESERVED_FUNDS", 500, "payout_minimum_balance_release"),
        ("CHARGEBACK_FEE", -1500, "dispute"),
        ("TRANSFER_CANCEL", 100, "payout_reversal"),
        ("LENDING_CREDIT_REMITTANCE", -100, "financing"),
        ("dispute", 1150, "dispute_reversal"),  # REST: a positive dispute line is the reinstatement
        ("payout_failure", 4190, "payout_reversal"),
        ("A_TYPE_SHOPIFY_ADDS_LATER", 1, "other"),
    ],
)
def test_reporting_category(transaction_type: str, amount: int, category: str) -> None:
    assert n.reporting_category(transaction_type, amount) == category


def test_rows_carry_exactly_the_contract_fields(app: ShopifySandbox) -> None:
    rows = n.normalize_order(_order_node(app, 1005))
    for row in rows:
        assert set(row.fields) == set(KIND_FIELDS[row.kind])
        assert row.source == "shopify"
        assert row.source_created_at is not None
        assert row.source_created_at.tzinfo == UTC


def test_rest_test_order_and_test_transaction_give_no_rows() -> None:
    order = dict(load_fixture("order.json")["order"], test=True)
    sale = dict(load_fixture("transaction.json")["transaction"], kind="sale", test=True)
    assert n.normalize_rest_order(order) == []
    assert n.normalize_rest_transaction(sale, currency="USD") is None
