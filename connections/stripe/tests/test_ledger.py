"""The generated Stripe account adds up the way a real one does.

Read through the HTTP API (``?payout=`` itemizations included), because that is what
the reconciliation will see.
"""

from __future__ import annotations

import tracemalloc
from collections import Counter, defaultdict
from decimal import ROUND_FLOOR, Decimal

import pytest

from connections.stripe.sandbox.business import (
    DISPUTE_FEE,
    MAX_QUIET_DAYS,
    MIN_BALANCE_HOLD,
    MIN_DAYS_FOR_ALL_CASES,
    ScaleLedger,
    StripeBusiness,
    convert,
    instant_payout_fee,
)
from connections.stripe.sandbox.server import StripeSandbox, build_stripe_sandbox, stripe_sandbox_server
from connections.stripe.tests.helpers import API_KEY, control, http, list_all


@pytest.fixture
def world(server):
    """Every object of the sandbox, fetched over HTTP and indexed by id."""
    objects = {
        resource: list_all(server, resource)
        for resource in ("balance_transactions", "charges", "payment_intents", "refunds", "disputes", "payouts")
    }
    by_id = {obj["id"]: obj for group in objects.values() for obj in group}
    return objects, by_id


def _payout_lines(server, payout_id: str) -> list[dict]:
    return list_all(server, "balance_transactions", f"&payout={payout_id}")


def test_every_automatic_payout_pays_out_exactly_the_net_of_its_lines(server, world) -> None:
    objects, _ = world
    automatic = [p for p in objects["payouts"] if p["automatic"]]
    assert len(automatic) >= 25
    for payout in automatic:
        lines = _payout_lines(server, payout["id"])
        own = [bt for bt in lines if bt["id"] == payout["balance_transaction"]]
        assert len(own) == 1, payout["id"]
        assert own[0]["type"] == "payout"
        assert own[0]["reporting_category"] == "payout"
        assert own[0]["amount"] == own[0]["net"] == -payout["amount"]
        assert own[0]["source"] == payout["id"]
        others = [bt for bt in lines if bt["id"] != payout["balance_transaction"]]
        assert others, payout["id"]
        assert sum(bt["net"] for bt in others) == payout["amount"], payout["id"]
        assert payout["amount"] > 0
        assert payout["currency"] == "usd"
        assert payout["reconciliation_status"] == "completed"


def test_each_line_is_paid_out_once_and_fees_add_up(server, world) -> None:
    objects, _ = world
    paid_in: dict[str, str] = {}
    for payout in objects["payouts"]:
        if not payout["automatic"]:
            continue
        for bt in _payout_lines(server, payout["id"]):
            assert bt["id"] not in paid_in, f"{bt['id']} in {paid_in.get(bt['id'])} and {payout['id']}"
            paid_in[bt["id"]] = payout["id"]
    for bt in objects["balance_transactions"]:
        assert bt["net"] == bt["amount"] - bt["fee"], bt["id"]
        assert bt["fee"] == sum(f["amount"] for f in bt["fee_details"]), bt["id"]
        assert all(f["type"] == "stripe_fee" and f["currency"] == "usd" for f in bt["fee_details"])
        assert bt["currency"] == "usd"
        assert bt["status"] in ("available", "pending")
    unpaid = [bt for bt in objects["balance_transactions"] if bt["id"] not in paid_in]
    # Only recent lines wait for a payout (and the manual payout's line until the next one).
    assert unpaid
    assert all(bt["available_on"] >= objects["payouts"][0]["created"] - 86_400 * 3 for bt in unpaid)
    _status, balance = http(server, "/v1/balance")
    available = sum(bt["net"] for bt in objects["balance_transactions"] if bt["status"] == "available")
    pending = sum(bt["net"] for bt in objects["balance_transactions"] if bt["status"] == "pending")
    assert balance["available"][0]["amount"] == available
    assert balance["pending"][0]["amount"] == pending


def test_the_failed_payout_has_its_reversal_carried_by_a_later_payout(server, world) -> None:
    objects, by_id = world
    failed = [p for p in objects["payouts"] if p["status"] == "failed"]
    assert len(failed) == 1
    payout = failed[0]
    assert payout["failure_code"] == "account_closed"
    assert payout["failure_message"]
    reversal = by_id[payout["failure_balance_transaction"]]
    assert reversal["type"] == "payout_failure"
    assert reversal["reporting_category"] == "payout_reversal"
    assert reversal["amount"] == reversal["net"] == payout["amount"]
    assert reversal["source"] == payout["id"]
    # It failed after it had been paid: the failure is days after the arrival date.
    assert reversal["created"] > payout["arrival_date"]
    # Its own itemization still adds up, and the returned money rides in a later payout.
    lines = _payout_lines(server, payout["id"])
    assert sum(bt["net"] for bt in lines if bt["id"] != payout["balance_transaction"]) == payout["amount"]
    carriers = [
        p
        for p in objects["payouts"]
        if p["automatic"]
        and p["id"] != payout["id"]
        and any(bt["id"] == reversal["id"] for bt in _payout_lines(server, p["id"]))
    ]
    assert len(carriers) == 1
    assert carriers[0]["created"] > reversal["created"]


def test_the_instant_payout_cannot_be_itemized_and_is_swept_into_the_next_payout(server, world) -> None:
    objects, by_id = world
    manual = [p for p in objects["payouts"] if not p["automatic"]]
    assert len(manual) == 1
    instant = manual[0]
    assert instant["method"] == "instant"
    assert instant["reconciliation_status"] == "not_applicable"
    status, body = http(server, f"/v1/balance_transactions?payout={instant['id']}")
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] == "payout"
    assert "only be filtered on automatic" in body["error"]["message"]
    own = by_id[instant["balance_transaction"]]
    assert (own["type"], own["reporting_category"], own["amount"]) == ("payout", "payout", -instant["amount"])
    next_auto = min(
        (p for p in objects["payouts"] if p["automatic"] and p["created"] > instant["created"]),
        key=lambda p: p["created"],
    )
    assert own["id"] in {bt["id"] for bt in _payout_lines(server, next_auto["id"])}


def test_the_instant_payout_fee_is_a_stripe_fee_line_of_its_own_swept_with_the_payout(server, world) -> None:
    objects, by_id = world
    instant = next(p for p in objects["payouts"] if not p["automatic"])
    fees = [bt for bt in objects["balance_transactions"] if bt["reporting_category"] == "fee"]
    assert len(fees) == 1
    fee = fees[0]
    # 1.5% of 1,685.87 USD is 25.28805 USD: 25.29, taken from the balance on top of the payout
    assert (instant["amount"], fee["amount"], fee["net"]) == (168587, -2529, -2529)
    assert (fee["type"], fee["fee"], fee["fee_details"], fee["source"]) == ("stripe_fee", 0, [], None)
    assert (fee["created"], fee["available_on"]) == (instant["created"], instant["arrival_date"])
    own = by_id[instant["balance_transaction"]]
    assert (own["amount"], own["fee"], own["fee_details"], own["net"]) == (-168587, 0, [], -168587)
    next_auto = min(
        (p for p in objects["payouts"] if p["automatic"] and p["created"] > instant["created"]),
        key=lambda p: p["created"],
    )
    lines = _payout_lines(server, next_auto["id"])
    assert {own["id"], fee["id"]} <= {bt["id"] for bt in lines}
    assert sum(bt["net"] for bt in lines if bt["id"] != next_auto["balance_transaction"]) == next_auto["amount"]


@pytest.mark.parametrize(
    ("amount", "fee"),
    [
        (10000, 150),  # 1.5% of 100.00
        (3367, 51),  # 50.505 cents, half-up
        (10033, 150),  # 150.495 cents, half-up
        (2000, 50),  # 30 cents is below the 0.50 USD minimum
        (100, 50),
    ],
)
def test_instant_payout_fee_is_a_percentage_with_a_minimum(amount: int, fee: int) -> None:
    assert instant_payout_fee(amount) == fee


def test_minimum_balance_hold_and_release(server, world) -> None:
    objects, _ = world
    holds = [bt for bt in objects["balance_transactions"] if bt["reporting_category"] == "payout_minimum_balance_hold"]
    releases = [
        bt for bt in objects["balance_transactions"] if bt["reporting_category"] == "payout_minimum_balance_release"
    ]
    assert len(holds) == len(releases) == 1
    assert holds[0]["amount"] == -releases[0]["amount"]
    assert 0 < releases[0]["amount"] <= MIN_BALANCE_HOLD
    assert releases[0]["created"] > holds[0]["created"]
    # Both are itemized in (different) payouts, where they move the payout amount.
    homes = {}
    for payout in objects["payouts"]:
        if payout["automatic"]:
            for bt in _payout_lines(server, payout["id"]):
                if bt["id"] in (holds[0]["id"], releases[0]["id"]):
                    homes[bt["id"]] = payout["id"]
    assert len(set(homes.values())) == 2


def test_disputes_lost_and_won_move_money_as_stripe_does(world) -> None:
    objects, by_id = world
    statuses = Counter(d["status"] for d in objects["disputes"])
    assert statuses["won"] >= 1
    assert statuses["lost"] >= 1
    assert statuses["under_review"] + statuses["needs_response"] >= 1
    for dispute in objects["disputes"]:
        charge = by_id[dispute["charge"]]
        assert charge["disputed"] is True
        assert dispute["amount"] == charge["amount"]
        assert dispute["currency"] == charge["currency"]
        assert dispute["payment_intent"] == charge["payment_intent"]
        lines = dispute["balance_transactions"]
        withdrawal = lines[0]
        assert by_id[withdrawal["id"]] == withdrawal  # embedded copy == listed line
        assert (withdrawal["type"], withdrawal["reporting_category"]) == ("adjustment", "dispute")
        assert withdrawal["source"] == dispute["id"]
        assert withdrawal["fee"] == DISPUTE_FEE
        assert withdrawal["fee_details"][0]["description"] == "Dispute fee"
        assert withdrawal["net"] == withdrawal["amount"] - DISPUTE_FEE
        settled = by_id[charge["balance_transaction"]]
        if charge["currency"] == "usd":
            assert withdrawal["amount"] == -settled["amount"]
        else:  # converted again at the day's rate
            assert withdrawal["amount"] == -convert(charge["amount"], charge["currency"], withdrawal["exchange_rate"])
        if dispute["status"] == "won":
            assert len(lines) == 2
            reinstated = lines[1]
            assert (reinstated["type"], reinstated["reporting_category"]) == ("adjustment", "dispute_reversal")
            assert reinstated["amount"] == -withdrawal["amount"]
            assert reinstated["fee"] == -DISPUTE_FEE
            assert reinstated["fee_details"][0]["description"] == "Dispute fee refund"
            assert reinstated["net"] + withdrawal["net"] == 0
        else:
            assert len(lines) == 1
    lost_fx = [d for d in objects["disputes"] if d["status"] == "lost" and d["currency"] != "usd"]
    assert lost_fx, "a lost dispute on a multi-currency charge"


def test_refunds_partial_full_and_multiple_on_one_charge(world) -> None:
    objects, by_id = world
    refunds_by_charge = defaultdict(list)
    for refund in objects["refunds"]:
        refunds_by_charge[refund["charge"]].append(refund)
        bt = by_id[refund["balance_transaction"]]
        assert (bt["type"], bt["reporting_category"], bt["source"], bt["fee"]) == ("refund", "refund", refund["id"], 0)
        charge = by_id[refund["charge"]]
        assert refund["currency"] == charge["currency"]
        assert refund["payment_intent"] == charge["payment_intent"]
        expected = (
            -refund["amount"]
            if bt["exchange_rate"] is None
            else -convert(refund["amount"], refund["currency"], bt["exchange_rate"])
        )
        assert bt["amount"] == expected
    for charge_id, refunds in refunds_by_charge.items():
        charge = by_id[charge_id]
        assert sum(r["amount"] for r in refunds) == charge["amount_refunded"] <= charge["amount"]
        assert charge["refunded"] == (charge["amount_refunded"] == charge["amount"])
    assert max(len(r) for r in refunds_by_charge.values()) >= 3, "several partial refunds on one charge"
    assert any(by_id[c]["refunded"] for c in refunds_by_charge), "a full refund"
    assert any(not by_id[c]["refunded"] for c in refunds_by_charge), "a partial refund"
    assert any(by_id[c]["currency"] != "usd" for c in refunds_by_charge), "a refund of a converted charge"


def test_orders_charges_and_currencies(world) -> None:
    objects, by_id = world
    order_ids = [pi["metadata"]["order_id"] for pi in objects["payment_intents"]]
    assert len(set(order_ids)) == len(order_ids)
    assert all(oid.startswith("ORD-") for oid in order_ids)
    for charge in objects["charges"]:
        pi = by_id[charge["payment_intent"]]
        assert charge["currency"] == pi["currency"]
        assert charge["amount"] == pi["amount"]
        if charge["status"] == "failed":
            assert charge["balance_transaction"] is None
            assert charge["paid"] is False
            continue
        assert pi["latest_charge"] == charge["id"]
        bt = by_id[charge["balance_transaction"]]
        assert (bt["type"], bt["reporting_category"], bt["source"]) == ("charge", "charge", charge["id"])
        if charge["currency"] == "usd":
            assert bt["amount"] == charge["amount"]
            assert bt["exchange_rate"] is None
        else:
            assert isinstance(bt["exchange_rate"], float)
            assert bt["amount"] == convert(charge["amount"], charge["currency"], bt["exchange_rate"])
    currencies = Counter(c["currency"] for c in objects["charges"])
    assert {"usd", "eur", "gbp", "jpy"} <= set(currencies)
    jpy = next(c for c in objects["charges"] if c["currency"] == "jpy" and c["status"] == "succeeded")
    bt = by_id[jpy["balance_transaction"]]
    # Zero-decimal: 4,800 JPY at 0.0068 USD/JPY is 32.64 USD, i.e. 3264 cents, not 33 cents.
    yen_in_cents = Decimal(jpy["amount"]) * Decimal(repr(bt["exchange_rate"])) * 100
    assert bt["amount"] == int((yen_in_cents + Decimal("0.5")).to_integral_value(rounding=ROUND_FLOOR))
    assert 0.005 < bt["exchange_rate"] < 0.01
    canceled = [pi for pi in objects["payment_intents"] if pi["status"] == "canceled"]
    assert canceled
    assert all(pi["latest_charge"] is None for pi in canceled)
    assert any(c["status"] == "failed" for c in objects["charges"]), "a declined first attempt"


def test_convert_uses_the_exponent_of_each_currency() -> None:
    assert convert(1000, "eur", 1.234) == 1234
    assert convert(4800, "jpy", 0.0068) == 3264
    assert convert(1, "eur", 1.005) == 1  # half-up on the cent
    assert convert(5, "usd", 150.0, to="jpy") == 8  # 0.05 USD -> 7.5 yen -> 8


def test_same_seed_same_business_and_advance_equals_a_longer_run() -> None:
    a = StripeBusiness(seed=3, days=20)
    a.advance(10)
    b = StripeBusiness(seed=3, days=30)
    for resource, col in a.cols.items():
        assert col.items == b.cols[resource].items, resource
    c = StripeBusiness(seed=4, days=30)
    assert c.cols["charges"].items[0]["id"] != b.cols["charges"].items[0]["id"]


def test_every_trap_exists_from_the_documented_minimum_days() -> None:
    business = StripeBusiness(seed=11, days=MIN_DAYS_FOR_ALL_CASES)
    categories = {bt["reporting_category"] for bt in business.cols["balance_transactions"].items}
    assert {
        "charge",
        "refund",
        "dispute",
        "dispute_reversal",
        "payout",
        "payout_reversal",
        "payout_minimum_balance_hold",
        "payout_minimum_balance_release",
        "fee",
    } <= categories
    assert {d["status"] for d in business.cols["disputes"].items} >= {"won", "lost"}
    assert any(not p["automatic"] for p in business.cols["payouts"].items)


def test_default_business_is_a_month_of_twenty_orders_a_day() -> None:
    # How fast it builds is not a unit test's to judge: a busy machine stretches any bound.
    business = StripeBusiness(seed=1, days=30, orders_per_day=20)
    assert 450 <= len(business.cols["payment_intents"].items) <= 750


def test_lists_are_newest_first_and_created_is_monotonic(world) -> None:
    objects, _ = world
    for resource, group in objects.items():
        created = [obj["created"] for obj in group]
        assert created == sorted(created, reverse=True), resource
        assert len({obj["id"] for obj in group}) == len(group), resource


# ----------------------------------------------------------------------------- scale mode


def test_scale_ledger_is_lazy_deterministic_and_consistent() -> None:
    tracemalloc.start()
    ledger = ScaleLedger(1_000_000, seed=5)
    bts = ledger.seq("balance_transactions")
    assert len(bts) == 1_000_000
    last = bts.item(999_999)
    first = bts.item(0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 5_000_000, "a million objects must not be materialized"
    assert bts.find(last["id"]) == 999_999
    assert bts.find(first["id"]) == 0
    assert bts.find(last["id"][:-1] + ("A" if last["id"][-1] != "A" else "B")) is None  # forged check chars
    assert ScaleLedger(1_000_000, seed=5).seq("balance_transactions").item(123_456) == bts.item(123_456)
    assert ScaleLedger(1_000_000, seed=6).seq("balance_transactions").item(0)["id"] != first["id"]
    assert [bts.created(i) for i in range(0, 1_000_000, 99_999)] == sorted(
        bts.created(i) for i in range(0, 1_000_000, 99_999)
    )
    payouts = ledger.seq("payouts")
    assert len(payouts) == 1_000_000 // 1001
    payout = payouts.item(17)
    lines = ledger.payout_lines(payout["id"])
    assert lines is not None
    assert len(lines) == 1001
    items = [lines.item(i) for i in range(len(lines))]
    own = [bt for bt in items if bt["type"] == "payout"]
    assert len(own) == 1
    assert own[0]["id"] == payout["balance_transaction"]
    assert own[0]["net"] == -payout["amount"]
    assert sum(bt["net"] for bt in items if bt["type"] != "payout") == payout["amount"]
    charge = ledger.get("charges", items[0]["source"])
    assert charge is not None
    assert charge["balance_transaction"] == items[0]["id"]
    assert ledger.get("payment_intents", charge["payment_intent"])["latest_charge"] == charge["id"]


def test_scale_paging_deep_in_the_ledger_builds_only_the_page() -> None:
    # a million balance transactions are computed on demand: a page deep in the list must
    # find its cursor without building the objects before it (O(1), not O(position))
    app = build_stripe_sandbox(scale_objects=1_000_000, api_key=API_KEY)
    lines = app.ledger.seq("balance_transactions")
    deep, newest_before_it = lines.item(500_000)["id"], lines.item(499_999)["id"]
    built: list[int] = []
    make = lines._make
    lines._make = lambda pos: built.append(pos) or make(pos)  # counts, then builds as before
    with stripe_sandbox_server(app) as server:
        status, body = http(server, f"/v1/balance_transactions?limit=100&starting_after={deep}")
    assert status == 200
    assert len(body["data"]) == 100
    assert body["has_more"] is True
    assert body["data"][0]["id"] == newest_before_it
    assert sorted(built) == list(range(499_900, 500_000))


def _unrefunded_charge(server, currency: str) -> dict:
    return next(
        c
        for c in list_all(server, "charges")
        if c["status"] == "succeeded" and not c["disputed"] and not c["amount_refunded"] and c["currency"] == currency
    )


def test_a_refund_made_now_and_its_failure_move_money_as_stripe_does(server) -> None:
    # given: a euro charge, settled in dollars, never refunded
    charge = _unrefunded_charge(server, "eur")
    now = control(server, "state", method="GET")["now"]

    # when: half of it is refunded now
    refund = control(server, "refund", {"charge": charge["id"], "amount": charge["amount"] // 2})["refund"]

    # then: the refund is the newest one, created now, and its line takes the money out at today's rate
    assert http(server, "/v1/refunds?limit=1")[1]["data"] == [refund]
    assert (refund["status"], refund["amount"], refund["created"]) == ("succeeded", charge["amount"] // 2, now)
    assert (refund["charge"], refund["payment_intent"]) == (charge["id"], charge["payment_intent"])
    line = http(server, f"/v1/balance_transactions/{refund['balance_transaction']}")[1]
    assert (line["type"], line["reporting_category"], line["source"]) == ("refund", "refund", refund["id"])
    assert line["amount"] == line["net"] == -convert(refund["amount"], "eur", line["exchange_rate"])
    refunded = http(server, f"/v1/charges/{charge['id']}")[1]
    assert (refunded["amount_refunded"], refunded["refunded"]) == (refund["amount"], False)

    # when: the bank returns it
    failed = control(server, "fail_refund", {"refund": refund["id"]})["refund"]

    # then: the refund says so, its money comes back on a line of its own, and the charge is whole again
    assert http(server, f"/v1/refunds/{refund['id']}")[1] == failed
    assert (failed["status"], failed["failure_reason"]) == ("failed", "expired_or_canceled_card")
    back = http(server, f"/v1/balance_transactions/{failed['failure_balance_transaction']}")[1]
    assert (back["type"], back["reporting_category"]) == ("refund_failure", "refund_failure")
    assert back["source"] == refund["id"]
    assert back["amount"] == back["net"] == -line["amount"]
    assert (back["fee"], back["created"]) == (0, now)
    assert http(server, f"/v1/charges/{charge['id']}")[1]["amount_refunded"] == 0

    # and the next automatic payout carries both lines, adding up as every payout does
    control(server, "advance", {"days": 3})
    carriers = [
        p
        for p in list_all(server, "payouts", f"&created[gt]={now}")
        if p["automatic"] and {line["id"], back["id"]} <= {bt["id"] for bt in _payout_lines(server, p["id"])}
    ]
    assert len(carriers) == 1
    lines = _payout_lines(server, carriers[0]["id"])
    assert sum(bt["net"] for bt in lines if bt["id"] != carriers[0]["balance_transaction"]) == carriers[0]["amount"]


def test_refunds_add_up_to_the_charge_and_no_further(server) -> None:
    charge = _unrefunded_charge(server, "usd")
    first = control(server, "refund", {"charge": charge["id"], "amount": 1})["refund"]
    rest = control(server, "refund", {"charge": charge["id"]})["refund"]

    assert (first["amount"], rest["amount"]) == (1, charge["amount"] - 1)
    refunded = http(server, f"/v1/charges/{charge['id']}")[1]
    assert (refunded["amount_refunded"], refunded["refunded"]) == (charge["amount"], True)
    status, body = http(server, "/__sandbox__/refund", key=None, method="POST", payload={"charge": charge["id"]})
    assert (status, body["error"]) == (400, f"Charge {charge['id']} has already been refunded.")


# --------------------------------------------------------------------------- settling (the demo's)

ON_THEIR_WAY = ("pending", "in_transit")
SETTLE_SEED = 7


def test_a_business_that_stops_on_its_last_day_leaves_its_last_payouts_on_their_way() -> None:
    business = StripeBusiness(seed=SETTLE_SEED, days=30)

    assert [p["status"] for p in business.cols["payouts"].items if p["status"] in ON_THEIR_WAY] == ["in_transit"]
    assert not business.settled


def test_a_settled_business_ends_with_every_payout_arrived_and_every_line_paid_out() -> None:
    business = StripeBusiness(seed=SETTLE_SEED, days=30, settle=True)
    end_of_sales = business.start_ts + 30 * 86_400

    with stripe_sandbox_server(StripeSandbox(business, api_key=API_KEY)) as server:
        objects = {resource: list_all(server, resource) for resource in ("balance_transactions", "charges", "payouts")}
        # every payout arrived (or failed, as one of them does after it was paid)
        assert [p["id"] for p in objects["payouts"] if p["status"] not in ("paid", "failed")] == []
        # every balance transaction was paid out, once, by a payout that pays exactly their net
        paid_in: dict[str, str] = {}
        for payout in objects["payouts"]:
            if not payout["automatic"]:
                continue
            lines = _payout_lines(server, payout["id"])
            own = [bt for bt in lines if bt["id"] == payout["balance_transaction"]]
            assert [(bt["type"], bt["net"]) for bt in own] == [("payout", -payout["amount"])], payout["id"]
            others = [bt for bt in lines if bt["id"] != payout["balance_transaction"]]
            assert others, payout["id"]
            assert sum(bt["net"] for bt in others) == payout["amount"], payout["id"]
            for bt in lines:
                assert bt["id"] not in paid_in, f"{bt['id']} in {paid_in.get(bt['id'])} and {payout['id']}"
                paid_in[bt["id"]] = payout["id"]
        assert [bt["id"] for bt in objects["balance_transactions"] if bt["id"] not in paid_in] == []
        assert {bt["status"] for bt in objects["balance_transactions"]} == {"available"}
        # so the balance holds nothing, available or pending
        _status, balance = http(server, "/v1/balance")
        assert (balance["available"][0]["amount"], balance["pending"][0]["amount"]) == (0, 0)

    # the quiet days took no new order, but what was scheduled happened, refunds or disputes,
    # and the negative balance they left was withdrawn from the bank: a payout of a negative amount
    assert [c["id"] for c in objects["charges"] if c["created"] >= end_of_sales] == []
    after_sales = [bt for bt in objects["balance_transactions"] if bt["created"] >= end_of_sales]
    assert {bt["type"] for bt in after_sales} - {"payout"}
    withdrawals = [p for p in objects["payouts"] if p["amount"] < 0]
    assert withdrawals
    assert all(p["automatic"] and p["status"] == "paid" for p in withdrawals)


def test_settling_only_adds_quiet_days_to_the_business() -> None:
    plain = StripeBusiness(seed=SETTLE_SEED, days=30)
    settled = StripeBusiness(seed=SETTLE_SEED, days=30, settle=True)

    def identity(business: StripeBusiness, resource: str) -> list[tuple]:
        return [(o["id"], o["created"], o.get("amount")) for o in business.cols[resource].items]

    for resource in ("balance_transactions", "charges", "payment_intents", "refunds", "disputes", "payouts"):
        before = identity(plain, resource)
        assert identity(settled, resource)[: len(before)] == before, resource
    assert settled.days > plain.days == 30


def test_settling_stops_after_at_most_the_quiet_days_it_is_given() -> None:
    business = StripeBusiness(seed=SETTLE_SEED, days=30)

    assert business.settle(max_days=2) == 2
    assert (business.days, business.settled) == (32, False)
    quiet = business.settle()
    assert 0 < quiet <= MAX_QUIET_DAYS
    assert business.settled
    assert business.settle() == 0  # settled stays settled
