"""The client over real HTTP against the sandbox: paging, incremental sync, throttling, failures."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connections.shopify.client import (
    SAFETY_MARGIN_POINTS,
    RetryPolicy,
    ShopifyAuthError,
    ShopifyClient,
    ShopifyGraphQLError,
    ShopifyRetriesExhausted,
    ShopifySyncError,
    latest_updated_at,
)
from connections.shopify.normalize import normalize_balance_transaction, normalize_order, normalize_payout
from connections.shopify.queries import ORDER_PAGE_LIMITS, ORDERS_QUERY
from connections.shopify.sandbox.business import MoneyPair

from .conftest import control


def _gid(kind: str, legacy_id: int) -> str:
    return f"gid://shopify/{kind}/{legacy_id}"


def test_orders_are_paged_in_updated_order_until_the_last_page(small_sandbox, make_client) -> None:
    app, server = small_sandbox
    client = make_client(server, app)
    pages = list(client.iter_orders())  # 6 a page: what fits Shopify's 1,000-point query limit
    ids = [node["id"] for page in pages for node in page.nodes]
    assert len(pages) == -(-len(app.business.orders) // 6) > 20
    assert len(ids) == len(set(ids)) == len(app.business.orders)
    assert [p.has_next_page for p in pages] == [True] * (len(pages) - 1) + [False]
    stamps = [datetime.fromisoformat(n["updatedAt"]) for page in pages for n in page.nodes]
    assert stamps == sorted(stamps)
    assert client.stats.requests == len(pages)


def test_paging_can_resume_from_a_committed_cursor(small_sandbox, make_client) -> None:
    app, server = small_sandbox
    client = make_client(server, app)
    first_two = []
    for page in client.iter_orders(page_size=5):
        first_two.append(page)
        if len(first_two) == 2:
            break  # "crash" after committing two pages
    rest = list(client.iter_orders(page_size=5, after=first_two[-1].end_cursor))
    ids = [n["id"] for page in (*first_two, *rest) for n in page.nodes]
    assert len(ids) == len(set(ids)) == len(app.business.orders)


def test_incremental_sync_returns_only_what_advance_changed(small_sandbox, make_client) -> None:
    app, server = small_sandbox
    client = make_client(server, app)
    nodes = [n for page in client.iter_orders() for n in page.nodes]
    cursor = latest_updated_at(nodes)
    assert cursor is not None

    answer = control(server, "advance", {"days": 1})

    changed = [n for page in client.iter_orders(updated_at_min=cursor) for n in page.nodes]
    day = answer["days"][0]
    # ">=" also re-reads the orders stamped exactly at the cursor; nothing else old comes back
    at_cursor = {
        _gid("Order", o.id) for o in app.business.orders.values() if o.updated_at == datetime.fromisoformat(cursor)
    }
    assert {n["id"] for n in changed} == set(day["orders_created"]) | set(day["orders_updated"]) | at_cursor
    assert day["orders_created"]
    assert day["orders_updated"]
    assert len(changed) == len({n["id"] for n in changed})  # and none twice


def test_balance_transactions_of_one_payout_add_up_to_it(sandbox, make_client) -> None:
    app, server = sandbox
    client = make_client(server, app)
    payouts = [normalize_payout(n) for page in client.iter_payouts() for n in page.nodes]
    assert len(payouts) == len(app.business.payouts)
    for payout in payouts[:5]:
        lines = [
            normalize_balance_transaction(n)
            for page in client.iter_balance_transactions(payout_id=payout.source_id, page_size=30)
            for n in page.nodes
        ]
        without_own_line = [line for line in lines if line.fields["reporting_category"] != "payout"]
        assert sum(line.fields["net_minor"] for line in without_own_line) == payout.fields["amount_minor"]
        assert {line.fields["payout_source_id"] for line in lines} == {payout.source_id}


def test_payments_match_their_charge_lines_end_to_end(small_sandbox, make_client) -> None:
    app, server = small_sandbox
    client = make_client(server, app)
    payments = {
        row.source_id: row
        for page in client.iter_orders()
        for node in page.nodes
        for row in normalize_order(node)
        if row.kind == "payment" and not row.fields["is_gift_card"]
    }
    charges = [
        normalize_balance_transaction(n)
        for page in client.iter_balance_transactions(search="transaction_type:charge")
        for n in page.nodes
    ]
    assert len(charges) == len(payments)
    for line in charges:
        payment = payments[line.fields["source_object_id"]]
        assert payment.fields["amount_minor"] == line.fields["amount_minor"]
        assert line.fields["source_order_id"] == payment.fields["order_source_id"]


def test_disputes_are_read(sandbox, make_client) -> None:
    app, server = sandbox
    client = make_client(server, app)
    disputes = [n for page in client.iter_disputes(page_size=2) for n in page.nodes]
    assert {d["id"] for d in disputes} == {_gid("ShopifyPaymentsDispute", i) for i in app.business.disputes}


def test_http_429_is_retried_after_retry_after(sandbox, make_client, clock) -> None:
    app, server = sandbox
    client = make_client(server, app)
    control(server, "faults", {"kind": "429", "count": 2})
    data = client.execute("{ shop { name } }")
    assert data == {"shop": {"name": "EcomOps Demo Outfitters"}}
    assert client.stats.http_429 == 2
    assert client.stats.waits == [("retry", 2.0), ("retry", 2.0)]  # the sandbox's Retry-After


def test_throttled_is_retried_when_the_bucket_has_room(make_sandbox, make_client) -> None:
    app, server = make_sandbox(maximum_available=1000.0, restore_rate=50.0)
    client = make_client(server, app)
    control(server, "throttle", {"currently_available": 0})
    page = next(client.iter_orders())
    assert len(page.nodes) == 6
    assert client.stats.throttled == 1
    # requested cost 896 points (+ the safety point) at 50 points a second, on the fake clock
    assert client.stats.waits == [("retry", pytest.approx((896 + SAFETY_MARGIN_POINTS) / 50))]


def test_server_errors_are_retried_with_growing_jittered_backoff(sandbox, make_client) -> None:
    app, server = sandbox
    client = make_client(server, app, retry=RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=8.0))
    control(server, "faults", {"kind": "502", "count": 1})
    control(server, "faults", {"kind": "500", "count": 1})
    control(server, "faults", {"kind": "503", "count": 1})
    assert client.execute("{ shop { name } }")["shop"]["name"]
    assert client.stats.server_errors == 3
    waits = [seconds for _, seconds in client.stats.waits]
    # equal jitter: attempt n waits between half and all of base * 2**(n-1)
    for attempt, seconds in enumerate(waits, start=1):
        step = min(8.0, 1.0 * 2 ** (attempt - 1))
        assert step / 2 <= seconds <= step


def test_persistent_server_errors_give_up_with_a_clear_error(sandbox, make_client) -> None:
    app, server = sandbox
    client = make_client(server, app)
    control(server, "faults", {"kind": "500", "count": 10})
    with pytest.raises(ShopifyRetriesExhausted, match=r"HTTP 500.*gave up after 4 attempts") as caught:
        client.execute("{ shop { name } }")
    assert caught.value.status == 500
    assert client.stats.requests == 4


def test_dropped_connection_is_retried(sandbox, make_client) -> None:
    app, server = sandbox
    client = make_client(server, app)
    control(server, "faults", {"kind": "drop_after_commit", "count": 1})
    assert client.execute("{ shop { name } }")["shop"]["name"]
    assert client.stats.connection_errors == 1


def test_a_shop_that_stops_answering_times_out_and_is_retried(sandbox, make_client) -> None:
    # The sandbox holds two answers for 6 s each; the client waits 1 s, then tries again. The
    # timeout leaves room for the third, prompt answer on a machine busy with other tests.
    app, server = sandbox
    client = make_client(server, app, timeout=1.0)
    control(server, "faults", {"kind": "slow", "count": 2, "delay_ms": 6000})

    started = time.monotonic()
    assert client.execute("{ shop { name } }")["shop"]["name"]

    assert client.stats.connection_errors == 2
    assert client.stats.requests == 3
    assert time.monotonic() - started < 5.0  # two timeouts, not two full waits


def test_a_shop_that_never_answers_in_time_gives_up_with_a_clear_error(sandbox, make_client) -> None:
    app, server = sandbox
    client = make_client(server, app, timeout=0.2)
    control(server, "faults", {"kind": "slow", "count": 4, "delay_ms": 1000})

    with pytest.raises(ShopifyRetriesExhausted, match=r"could not reach Shopify .*timed out.*gave up after 4 attempts"):
        client.execute("{ shop { name } }")


def test_error_answers_are_not_printed(sandbox, make_client, capsys) -> None:
    # The library's own GraphQL.execute prints every error body to standard output.
    app, server = sandbox
    client = make_client(server, app, token="shpat_wrong_token_456")
    with pytest.raises(ShopifyAuthError):
        client.execute("{ shop { name } }")
    assert capsys.readouterr().out == ""


def test_malformed_body_raises_shopify_sync_error(sandbox, make_client) -> None:
    app, server = sandbox
    client = make_client(server, app)
    control(server, "faults", {"kind": "malformed", "count": 1})
    with pytest.raises(ShopifySyncError, match="not valid JSON"):
        next(client.iter_orders())


def test_bad_token_raises_auth_error_without_the_token(sandbox, make_client) -> None:
    app, server = sandbox
    client = make_client(server, app, token="shpat_secret_value_123")
    with pytest.raises(ShopifyAuthError) as caught:
        client.execute("{ shop { name } }")
    assert caught.value.status == 401
    assert "shpat_secret_value_123" not in str(caught.value)
    assert client.stats.requests == 1  # never retried


def test_graphql_errors_are_not_retried(sandbox, make_client) -> None:
    app, server = sandbox
    client = make_client(server, app)
    with pytest.raises(ShopifyGraphQLError, match="doesn't exist on type 'Shop'") as caught:
        client.execute("{ shop { nope } }")
    assert caught.value.errors[0]["extensions"]["code"] == "undefinedField"
    assert client.stats.requests == 1


def test_test_connection_says_what_it_found_in_words(sandbox, make_client) -> None:
    app, server = sandbox
    ok, message = make_client(server, app).test_connection()
    assert ok is True
    assert "EcomOps Demo Outfitters" in message
    assert "Shopify Payments active" in message
    bad_ok, bad_message = make_client(server, app, token="shpat_do_not_echo").test_connection()
    assert bad_ok is False
    assert "refused the access token" in bad_message
    assert "shpat_do_not_echo" not in bad_message


def test_test_connection_reports_an_unreachable_shop(sandbox) -> None:
    app, _ = sandbox
    client = ShopifyClient(
        app.shop_domain,
        app.access_token,
        base_url="http://127.0.0.1:9",
        retry=RetryPolicy(max_attempts=2, base_delay=0.0),
    )
    ok, message = client.test_connection()
    assert ok is False
    assert "could not reach Shopify" in message


def test_cost_throttling_waits_before_the_bucket_runs_dry(make_sandbox, make_client) -> None:
    # A standard-plan-sized bucket on the shared fake clock: pages request ~900 points and
    # actually cost ~170, so after a few pages the client must wait for the bucket to refill.
    app, server = make_sandbox(days=10, maximum_available=1000.0, restore_rate=50.0)
    client = make_client(server, app)
    pages = list(client.iter_orders())
    assert sum(len(p.nodes) for p in pages) == len(app.business.orders)
    assert client.stats.cost_waits > 0
    assert client.stats.throttled == 0  # it waited instead of being throttled
    assert control(server, "stats", method="GET")["throttled"] == 0
    # Waiting exactly what the bucket needed: total restored points cover the spend beyond the
    # initial 1,000 while never waiting for more than the requested cost of one page.
    waited_points = client.stats.cost_wait_seconds * 50.0
    assert waited_points >= client.stats.actual_cost - 1000.0 - 1.0
    assert all(
        seconds * 50.0 <= 896 + SAFETY_MARGIN_POINTS for reason, seconds in client.stats.waits if reason == "cost"
    )


def test_an_order_cut_short_by_page_limits_is_read_again_whole(small_sandbox, make_client) -> None:
    app, server = small_sandbox
    order = next(iter(app.business.orders.values()))
    # given an order with more transactions than the page query reads (declined retries)
    extra = ORDER_PAGE_LIMITS["transactions"] + 3 - len(order.transactions)
    for _ in range(extra):
        app.business._add_transaction(
            order,
            "SALE",
            "FAILURE",
            "shopify_payments",
            MoneyPair(100, 100, order.presentment_currency),
            order.created_at,
            error_code="CARD_DECLINED",
        )
    app._nodes.clear()
    client = make_client(server, app)
    # when the orders are paged
    nodes = {n["id"]: n for page in client.iter_orders() for n in page.nodes}
    # then that order arrives with every transaction, fetched by one extra detail query
    node = nodes[_gid("Order", order.id)]
    assert len(node["transactions"]) == len(order.transactions) == ORDER_PAGE_LIMITS["transactions"] + 3
    assert client.stats.requests == -(-len(app.business.orders) // 6) + 1


def test_client_reads_the_same_document_it_validates(sandbox, make_client) -> None:
    # The client sends queries.ORDERS_QUERY verbatim: the schema test covers what goes on the wire.
    app, server = sandbox
    client = make_client(server, app)
    data = client.execute(ORDERS_QUERY, {"first": 1})
    assert len(data["orders"]["nodes"]) == 1


def test_an_order_page_too_big_for_shopify_is_refused_before_sending(sandbox, make_client) -> None:
    app, server = sandbox
    client = make_client(server, app)
    with pytest.raises(ValueError, match="1,000-point"):
        next(client.iter_orders(page_size=50))
    assert client.stats.requests == 0


# ---------------------------------------------------------------- answers that quote the token

QUOTED_TOKEN = "shpat_quoted_token_9f3c"


@contextmanager
def quoting_shop(answer: Callable[[str], tuple[int, bytes]], headers: dict[str, str] | None = None) -> Iterator[str]:
    """A 'shop' answering ``answer(the token it was sent)``: a server that quotes the request back."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, body = answer(self.headers.get("X-Shopify-Access-Token", ""))
            self.send_response(status)
            for name, value in {**(headers or {}), "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_graphql_errors_quoting_the_token_are_raised_with_it_masked() -> None:
    def denied(token: str) -> tuple[int, bytes]:
        error = {"message": f"Token {token} lacks read_orders", "extensions": {"code": "ACCESS_DENIED"}}
        return 200, json.dumps({"errors": [error]}).encode()

    with quoting_shop(denied) as url:
        client = ShopifyClient("leak.myshopify.com", QUOTED_TOKEN, base_url=url, retry=RetryPolicy(max_attempts=1))
        with pytest.raises(ShopifyGraphQLError) as caught:
            client.execute("{ shop { name } }")

    assert str(caught.value) == "Shopify denied access (a missing API scope?): Token shpat_****9f3c lacks read_orders"
    assert caught.value.errors[0]["message"] == "Token shpat_****9f3c lacks read_orders"


def test_a_body_that_is_not_json_is_quoted_with_the_token_masked() -> None:
    with quoting_shop(lambda token: (200, f"<html>{token}".encode())) as url:
        client = ShopifyClient("leak.myshopify.com", QUOTED_TOKEN, base_url=url, retry=RetryPolicy(max_attempts=1))
        with pytest.raises(ShopifySyncError) as caught:
            client.execute("{ shop { name } }")

    assert str(caught.value) == (
        "Shopify answered with a body that is not valid JSON (29 characters, starting '<html>shpat_****9f3c')"
    )


def test_a_redirect_is_not_followed_so_the_token_stays_with_the_shop() -> None:
    reached: list[str] = []

    def elsewhere(token: str) -> tuple[int, bytes]:
        reached.append(token)
        return 200, b"{}"

    with quoting_shop(elsewhere) as other_host:
        moved = {"Location": other_host.replace("127.0.0.1", "localhost") + "/admin/api/graphql.json"}
        with quoting_shop(lambda token: (302, b""), headers=moved) as url:
            client = ShopifyClient("leak.myshopify.com", QUOTED_TOKEN, base_url=url, retry=RetryPolicy(max_attempts=1))
            with pytest.raises(ShopifySyncError) as caught:
                client.execute("{ shop { name } }")

    assert reached == []
    assert caught.value.status == 302
    assert "redirect" in str(caught.value)
