"""A deterministic, internally consistent Shopify Payments business.

``ShopifyBusiness(seed=...)`` simulates a shop day by day: orders in several presentment
currencies (the shop currency is USD), card payments with Shopify Payments fees, captures
of earlier authorizations, declined attempts, partial and full refunds, disputes that are
won (funds withdrawn, then reinstated) or lost, a gift card sale and an order paid partly
with a gift card, reserve holds and their release, manual adjustments, and daily payouts,
one of which fails days after it was paid.

Everything is integer minor units; the server turns it into Shopify's wire format. The
ledger rules the simulation keeps, and the tests check:

* every balance transaction has ``net == amount - fee``;
* a payout's ``net`` is exactly the sum of the net of the balance transactions it pays out
  (its own ``TRANSFER`` line, ``-net``, excluded), and its summary buckets add up to it (for
  a ``WITHDRAWAL``, which only a shop winding down makes, to ``-net``: ``signed_net``);
* a balance transaction is paid out once, and only after it is available (two days after
  it happened, as Shopify's default US schedule does; a failed payout's money comes back at
  once and rides on the next payout as "retried payouts").

The same seed always gives the same business, and ``advance()`` only ever appends: ids,
amounts and times of what already happened never change, so an incremental sync can be
tested against it.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from connections.shopify.money import currency_exponent

SHOP_CURRENCY = "USD"
SHOP_NAME = "EcomOps Demo Outfitters"
CHARGEBACK_FEE_MINOR = 1500  # Shopify Payments US chargeback fee, $15.00
PAYOUT_DELAY = timedelta(days=2)  # a charge is available for payout two days after it happened
PAYOUT_HOUR = 6  # payouts are issued at 06:00 UTC
# At most this many quiet days for ShopifyBusiness.settle: the last sales are paid out within
# four, and refunds and disputes scheduled after them within a week or so more.
MAX_QUIET_DAYS = 14

# (code, weight, presentment units per 1 USD). Fixed per order once chosen: Shopify converts a
# refund at the order's rate, so a full refund returns exactly what was charged in USD.
PRESENTMENT_CURRENCIES: tuple[tuple[str, int, str], ...] = (
    ("USD", 55, "1"),
    ("CAD", 12, "1.3650"),
    ("EUR", 12, "0.9210"),
    ("GBP", 9, "0.7880"),
    ("JPY", 7, "151.20"),
    ("KWD", 5, "0.3071"),
)

# (title, sku, price in USD cents)
PRODUCTS: tuple[tuple[str, str, int], ...] = (
    ("Merino Beanie", "BEANIE-MER", 3400),
    ("Canvas Tote", "TOTE-CNV", 2800),
    ("Trail Running Socks", "SOCK-TRL", 1600),
    ("Rain Shell Jacket", "JKT-RAIN", 18900),
    ("Insulated Bottle 750 ml", "BTL-750", 3900),
    ("Wool Crew Sweater", "SWT-WOOL", 12400),
    ("Camp Mug", "MUG-CMP", 1850),
    ("Hiking Daypack 22 L", "PACK-22", 8900),
)
GIFT_CARD_DENOMINATIONS = (2500, 5000, 10000)
TAX_RATES = (Decimal(0), Decimal("0.0725"), Decimal("0.0825"), Decimal("0.06"))

# Payout summary buckets: which balance transaction types each ShopifyPaymentsPayoutSummary
# pair (gross, fee) adds up. Everything not listed, except the payout's own TRANSFER line, is
# an adjustment ("Total gross amount for all adjustments including disputes").
SUMMARY_BUCKETS: dict[str, frozenset[str]] = {
    "charges": frozenset({"CHARGE"}),
    "refunds": frozenset({"REFUND", "REFUND_FAILURE"}),
    "reservedFunds": frozenset({"RESERVED_FUNDS", "RESERVED_FUNDS_WITHDRAWAL", "RESERVED_FUNDS_REVERSAL"}),
    "retriedPayouts": frozenset({"TRANSFER_FAILURE", "TRANSFER_CANCEL"}),
    "advance": frozenset({"ADVANCE", "ADVANCE_FUNDING"}),
}


def summary_bucket(transaction_type: str) -> str | None:
    """The payout summary bucket a balance transaction type counts in (None for the payout line)."""
    if transaction_type == "TRANSFER":
        return None
    for bucket, types in SUMMARY_BUCKETS.items():
        if transaction_type in types:
            return bucket
    return "adjustments"


def _round_to_exponent(value: Decimal, exponent: int) -> int:
    """Decimal major units -> integer minor units, rounding half up."""
    return int((value * (Decimal(10) ** exponent)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class MoneyPair:
    """An amount in the shop currency (USD) and in the currency the customer saw."""

    shop: int
    presentment: int
    presentment_currency: str

    def __add__(self, other: MoneyPair) -> MoneyPair:
        assert other.presentment_currency == self.presentment_currency
        return MoneyPair(self.shop + other.shop, self.presentment + other.presentment, self.presentment_currency)

    def __sub__(self, other: MoneyPair) -> MoneyPair:
        assert other.presentment_currency == self.presentment_currency
        return MoneyPair(self.shop - other.shop, self.presentment - other.presentment, self.presentment_currency)

    @classmethod
    def zero(cls, presentment_currency: str) -> MoneyPair:
        return cls(0, 0, presentment_currency)


@dataclass
class TransactionFee:
    id: int
    amount: int  # shop currency minor units
    flat_fee: int
    rate: Decimal
    rate_name: str
    type: str = "payment_processing"


@dataclass
class OrderTransaction:
    id: int
    order_id: int
    kind: str  # OrderTransactionKind: SALE, AUTHORIZATION, CAPTURE, REFUND
    status: str  # OrderTransactionStatus: SUCCESS, FAILURE
    gateway: str  # shopify_payments, gift_card
    amount: MoneyPair
    processed_at: datetime
    parent_id: int | None = None
    fees: list[TransactionFee] = field(default_factory=list)
    error_code: str | None = None


@dataclass
class LineItem:
    id: int
    title: str
    sku: str | None
    quantity: int
    total: MoneyPair  # quantity x unit price, before any refund
    is_gift_card: bool = False


@dataclass
class Refund:
    id: int
    order_id: int
    created_at: datetime
    note: str
    transactions: list[OrderTransaction]

    @property
    def total(self) -> MoneyPair:
        currency = self.transactions[0].amount.presentment_currency
        return sum((t.amount for t in self.transactions), MoneyPair.zero(currency))


@dataclass
class Dispute:
    id: int
    order_id: int
    transaction_id: int
    amount: int  # shop currency: Shopify withdraws the charge's settled amount
    currency: str
    type: str  # DisputeType: CHARGEBACK, INQUIRY
    reason: str  # ShopifyPaymentsDisputeReason
    network_reason_code: str
    status: str  # DisputeStatus
    initiated_at: datetime
    evidence_due_by: datetime
    evidence_sent_on: datetime | None = None
    finalized_on: datetime | None = None


@dataclass
class Order:
    id: int
    number: int
    created_at: datetime
    updated_at: datetime
    presentment_currency: str
    rate: Decimal
    email: str
    line_items: list[LineItem]
    subtotal: MoneyPair
    shipping: MoneyPair
    tax: MoneyPair
    total: MoneyPair
    transactions: list[OrderTransaction] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    dispute_ids: list[int] = field(default_factory=list)
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    # Placed in Shopify Payments test mode or through the Bogus gateway: its transactions are
    # test transactions too, and it never reaches the balance or a payout.
    test: bool = False

    @property
    def name(self) -> str:
        return f"#{self.number}"

    def successful(self, *kinds: str) -> list[OrderTransaction]:
        return [t for t in self.transactions if t.status == "SUCCESS" and t.kind in kinds]

    @property
    def received(self) -> MoneyPair:
        return sum((t.amount for t in self.successful("SALE", "CAPTURE")), MoneyPair.zero(self.presentment_currency))

    @property
    def refunded(self) -> MoneyPair:
        return sum((r.total for r in self.refunds), MoneyPair.zero(self.presentment_currency))

    @property
    def current_total(self) -> MoneyPair:
        return self.total - self.refunded

    @property
    def financial_status(self) -> str:
        """OrderDisplayFinancialStatus as Shopify derives it from the transactions."""
        received = self.received.shop
        refunded = self.refunded.shop
        if received == 0:
            return "AUTHORIZED" if self.successful("AUTHORIZATION") else "PENDING"
        if refunded >= received:
            return "REFUNDED"
        if refunded > 0:
            return "PARTIALLY_REFUNDED"
        return "PAID" if received >= self.total.shop else "PARTIALLY_PAID"

    def touch(self, at: datetime) -> None:
        self.updated_at = max(self.updated_at, at)


@dataclass
class BalanceTransaction:
    id: int
    type: str  # ShopifyPaymentsTransactionType
    amount: int
    fee: int
    transaction_date: datetime
    available_at: datetime
    source_type: str | None = None  # ShopifyPaymentsSourceType
    source_id: int | None = None
    source_order_transaction_id: int | None = None
    order_id: int | None = None
    payout_id: int | None = None
    adjustment_reason: str | None = None
    # Recorded in Shopify Payments test mode: served with ``test: true``, never paid out.
    test: bool = False

    @property
    def net(self) -> int:
        return self.amount - self.fee


@dataclass
class Payout:
    id: int
    issued_at: datetime
    status: str  # ShopifyPaymentsPayoutStatus: SCHEDULED, PAID, FAILED
    net: int  # what reaches the bank (DEPOSIT) or is taken from it (WITHDRAWAL): never negative
    currency: str = SHOP_CURRENCY
    transaction_type: str = "DEPOSIT"  # ShopifyPaymentsPayoutTransactionType: DEPOSIT, WITHDRAWAL
    line_ids: list[int] = field(default_factory=list)  # balance transactions it pays out, TRANSFER line excluded
    transfer_line_id: int | None = None
    summary: dict[str, tuple[int, int]] = field(default_factory=dict)  # bucket -> (gross, fee)

    @property
    def signed_net(self) -> int:
        """What its lines add up to: ``net`` for a deposit, ``-net`` for a withdrawal."""
        return -self.net if self.transaction_type == "WITHDRAWAL" else self.net


@dataclass
class DayReport:
    """What one simulated day changed: the sandbox's ``advance`` answer and a test oracle."""

    day: date
    orders_created: list[int]
    orders_updated: list[int]
    payouts_created: list[int]
    balance_transactions_created: list[int]


@dataclass(frozen=True)
class _Plan:
    """Scripted follow-ups for one order, decided when it is created."""

    gift_card_sale: bool = False
    gift_card_payment: bool = False
    authorize_then_capture: bool = False
    declined_first: bool = False
    currency: str | None = None
    refund: str | None = None  # "partial" | "full" | "cancel"
    refund_after: timedelta | None = None
    dispute: str | None = None  # "won" | "lost" | "accepted" | "open"
    dispute_after: timedelta | None = None


class ShopifyBusiness:
    """The simulated shop. Build with ``ShopifyBusiness(seed=..., days=...)``; grow with ``advance``.

    With ``settle`` the shop does not stop on its last day of sales, its last payout still
    scheduled and its last lines waiting: it goes on for quiet days (:meth:`settle`) until
    everything has been paid out.
    """

    def __init__(
        self,
        *,
        seed: int = 20260701,
        days: int = 30,
        start: date = date(2026, 6, 1),
        orders_per_day: int = 20,
        settle: bool = False,
    ):
        self.seed = seed
        self.start = start
        self.orders_per_day = orders_per_day
        self.rng = random.Random(seed)
        self.days_simulated = 0
        self.orders: dict[int, Order] = {}
        self.transactions: dict[int, OrderTransaction] = {}
        self.disputes: dict[int, Dispute] = {}
        self.balance_transactions: dict[int, BalanceTransaction] = {}
        self.payouts: dict[int, Payout] = {}
        self._unpaid: list[int] = []  # balance transaction ids not yet on a payout, in creation order
        self._events: list[tuple[datetime, int, Callable[[datetime], None]]] = []
        self._event_seq = itertools.count()
        self._ids = {
            "order": itertools.count(6_100_000_000_001),
            "line_item": itertools.count(15_200_000_000_001),
            "transaction": itertools.count(7_300_000_000_001),
            "fee": itertools.count(8_800_000_000_001),
            "refund": itertools.count(940_000_001),
            "dispute": itertools.count(11_500_000_001),
            "balance": itertools.count(2_800_000_001),
            "payout": itertools.count(120_000_001),
        }
        self._order_numbers = itertools.count(1001)
        self._report: DayReport | None = None
        self._quiet = False  # set while settle() runs: days without new orders
        self.advance(days)
        if settle:
            self.settle()

    # ----------------------------------------------------------------- public API

    @property
    def now(self) -> datetime:
        """The end of the simulated period: nothing in the business happens after it."""
        return self._day_start(self.days_simulated)

    def advance(self, days: int = 1) -> list[DayReport]:
        """Simulate ``days`` more days and say what each one created and changed."""
        return [self._simulate_day() for _ in range(days)]

    @property
    def settled(self) -> bool:
        """Nothing left on its way: every balance transaction paid out, no payout still scheduled."""
        return not self._unpaid and all(payout.status != "SCHEDULED" for payout in self.payouts.values())

    def settle(self, max_days: int = MAX_QUIET_DAYS) -> list[DayReport]:
        """Wind the shop down: quiet days, with no new orders, until it is :attr:`settled` (at
        most ``max_days`` of them); say what each one created and changed.

        What was already scheduled still happens on those days, as it would: captures, refunds,
        disputes opened, decided or reinstated, the account's own events, and the daily payout
        cycle that pays them out and marks the payout before it paid. With no sales left to
        cover a negative balance, Shopify takes it from the bank account: a payout of type
        ``WITHDRAWAL``, its ``net`` what it takes, that pays out those lines like any other.
        A shop of N days settled is not the shop of N + M days: its quiet days have no orders.
        """
        if max_days < 0:
            raise ValueError("max_days must be >= 0")
        reports: list[DayReport] = []
        self._quiet = True
        try:
            while len(reports) < max_days and not self.settled:
                reports.append(self._simulate_day())
        finally:
            self._quiet = False
        return reports

    def payout_lines(self, payout_id: int, *, include_transfer: bool = False) -> list[BalanceTransaction]:
        """The balance transactions a payout pays out (optionally with its own TRANSFER line)."""
        payout = self.payouts[payout_id]
        ids = list(payout.line_ids)
        if include_transfer and payout.transfer_line_id is not None:
            ids.append(payout.transfer_line_id)
        return [self.balance_transactions[i] for i in ids]

    def orders_updated_since(self, since: datetime) -> list[Order]:
        """Orders whose ``updatedAt`` is at or after ``since`` (what ``updated_at:>=`` returns)."""
        return [o for o in self.orders.values() if o.updated_at >= since]

    def simulate_test_order_chargeback(self, at: datetime | None = None) -> Dispute:
        """A chargeback simulated on a test order, as a merchant does in Shopify Payments test
        mode (a test card that always disputes): a test order paid by card, and a dispute on it
        that needs a response. Both are served like any other, the order with ``test: true``;
        neither reaches the balance nor a payout, as test money never does. ``at`` defaults to
        an hour before ``now``. No random draw: the rest of the business stays as it would be.
        """
        at = at or self.now - timedelta(hours=1)
        order, charge = self._test_mode_order(at)
        dispute = self._new_chargeback(order, charge, "FRAUDULENT", "10.4", at)
        self.disputes[dispute.id] = dispute
        order.dispute_ids.append(dispute.id)
        return dispute

    def simulate_test_mode_charge(
        self, *, payout_id: int | None = None, at: datetime | None = None
    ) -> BalanceTransaction:
        """A card payment taken in Shopify Payments test mode: a test order paid by a test card,
        and the CHARGE balance transaction Shopify records for it, served with ``test: true``.

        Test money is never paid out: the line is in no payout's net or summary, and no payout
        cycle picks it up. Shopify does not say whether it lists such a line with a payout;
        given ``payout_id``, it is listed with that one (``associatedPayout``, and found by
        ``payments_transfer_id``), the case where booking it would make that payout not add
        up. ``at`` defaults to an hour before the payout was issued, or before ``now``. No
        random draw: the rest of the business stays as it would be.
        """
        payout = self.payouts[payout_id] if payout_id is not None else None
        at = at or (payout.issued_at if payout else self.now) - timedelta(hours=1)
        order, charge = self._test_mode_order(at)
        line = self._balance(
            "CHARGE",
            charge.amount.shop,
            self._processing_fee(order, charge.amount.shop).amount,
            at,
            source_type="CHARGE",
            source_id=charge.id,
            source_order_transaction_id=charge.id,
            order_id=order.id,
            unpaid=False,
        )
        line.test = True
        line.payout_id = payout_id
        return line

    def _test_mode_order(self, at: datetime) -> tuple[Order, OrderTransaction]:
        """A test order (``test: true``) of one item, paid in full by a test card at ``at``."""
        title, sku, price = PRODUCTS[0]
        usd = MoneyPair(price, price, SHOP_CURRENCY)
        order = Order(
            id=next(self._ids["order"]),
            number=next(self._order_numbers),
            created_at=at,
            updated_at=at,
            presentment_currency=SHOP_CURRENCY,
            rate=Decimal(1),
            email="test-mode@example.com",
            line_items=[LineItem(next(self._ids["line_item"]), title, sku, 1, usd)],
            subtotal=usd,
            shipping=MoneyPair.zero(SHOP_CURRENCY),
            tax=MoneyPair.zero(SHOP_CURRENCY),
            total=usd,
            test=True,
        )
        self.orders[order.id] = order
        charge = self._add_transaction(order, "SALE", "SUCCESS", "shopify_payments", usd, at)
        return order, charge

    # ----------------------------------------------------------------- simulation

    def _day_start(self, day_index: int) -> datetime:
        return datetime.combine(self.start + timedelta(days=day_index), time(0), tzinfo=UTC)

    def _schedule(self, at: datetime, action: Callable[[datetime], None]) -> None:
        heapq.heappush(self._events, (at, next(self._event_seq), action))

    def _simulate_day(self) -> DayReport:
        index = self.days_simulated
        day_start = self._day_start(index)
        day_end = day_start + timedelta(days=1)
        self._report = report = DayReport(day_start.date(), [], [], [], [])

        self._schedule(day_start + timedelta(hours=PAYOUT_HOUR), self._payout_cycle)
        self._schedule_scenario_events(index, day_start)
        # Winding down (settle): no new orders; what is scheduled still happens.
        for when, plan in [] if self._quiet else self._plan_orders(index, day_start):
            self._schedule(when, lambda at, plan=plan: self._create_order(at, plan))

        while self._events and self._events[0][0] < day_end:
            at, _, action = heapq.heappop(self._events)
            action(at)

        self.days_simulated += 1
        self._report = None
        report.orders_updated = sorted(set(report.orders_updated) - set(report.orders_created))
        return report

    def _plan_orders(self, index: int, day_start: datetime) -> list[tuple[datetime, _Plan]]:
        rng = self.rng
        low, high = int(self.orders_per_day * 0.75), int(self.orders_per_day * 1.25)
        count = rng.randint(max(low, 1), max(high, 1))
        scripted: list[_Plan] = []
        if index == 0:
            # Make the traps the reconciliation must handle appear in every business, early
            # enough that their whole story (refund, dispute won or lost) fits in a short one.
            scripted = [
                _Plan(gift_card_sale=True, currency="USD"),
                _Plan(gift_card_payment=True, currency="USD"),
                _Plan(currency="USD", dispute="won", dispute_after=timedelta(days=2)),
                _Plan(currency="EUR", dispute="lost", dispute_after=timedelta(days=3)),
                _Plan(currency="CAD", refund="partial", refund_after=timedelta(days=1, hours=2)),
                _Plan(currency="USD", refund="cancel", refund_after=timedelta(hours=3)),
                _Plan(currency="JPY", authorize_then_capture=True, refund="full", refund_after=timedelta(days=2)),
                _Plan(currency="GBP", declined_first=True),
                _Plan(currency="KWD"),
            ]
            count = max(count, len(scripted))
        seconds = sorted(rng.randrange(60, 86_340) for _ in range(count))
        plans = [self._random_plan() for _ in range(count)]
        plans[: len(scripted)] = scripted  # the earliest orders of day 0: #1001 to #1009
        return [(day_start + timedelta(seconds=s), plan) for s, plan in zip(seconds, plans, strict=True)]

    def _random_plan(self) -> _Plan:
        rng = self.rng
        roll = rng.random()
        refund = None
        refund_after = None
        dispute = None
        dispute_after = None
        if roll < 0.04:
            refund, refund_after = "full", timedelta(days=rng.randint(2, 6), seconds=rng.randrange(86_400))
        elif roll < 0.12:
            refund, refund_after = "partial", timedelta(days=rng.randint(2, 6), seconds=rng.randrange(86_400))
        elif roll < 0.13:
            dispute = rng.choice(("won", "lost", "accepted", "open"))
            dispute_after = timedelta(days=rng.randint(3, 8), seconds=rng.randrange(86_400))
        return _Plan(
            gift_card_sale=rng.random() < 0.01,
            gift_card_payment=rng.random() < 0.02,
            authorize_then_capture=rng.random() < 0.12,
            declined_first=rng.random() < 0.03,
            refund=refund,
            refund_after=refund_after,
            dispute=dispute,
            dispute_after=dispute_after,
        )

    def _schedule_scenario_events(self, index: int, day_start: datetime) -> None:
        """Account-level events: reserve holds and releases, adjustments, a payout that fails."""
        if index == 3:
            self._schedule(
                day_start + timedelta(hours=12), lambda at: self._reserve(at, "RESERVED_FUNDS_WITHDRAWAL", 25_000)
            )
        if index == 17:
            self._schedule(
                day_start + timedelta(hours=12), lambda at: self._reserve(at, "RESERVED_FUNDS_REVERSAL", 25_000)
            )
        if index == 24:
            self._schedule(
                day_start + timedelta(hours=12), lambda at: self._reserve(at, "RESERVED_FUNDS_WITHDRAWAL", 15_000)
            )
        if index == 8:
            self._schedule(
                day_start + timedelta(hours=15),
                lambda at: self._adjustment(at, 350, "Refund of a duplicated processing fee"),
            )
        if index == 20:
            self._schedule(
                day_start + timedelta(hours=15), lambda at: self._adjustment(at, -1245, "Shipping label correction")
            )
        if index == 12:
            # The payout issued on day 9 was marked paid on day 10; the bank returns it now.
            self._schedule(day_start + timedelta(hours=9), self._fail_payout_of_day_9)

    # ----------------------------------------------------------------- orders

    def _presentment(self, usd_minor: int, currency: str, rate: Decimal) -> int:
        major = Decimal(usd_minor) / 100 * rate
        return _round_to_exponent(major, currency_exponent(currency))

    def _to_shop(self, presentment_minor: int, currency: str, rate: Decimal) -> int:
        major = Decimal(presentment_minor) / (Decimal(10) ** currency_exponent(currency)) / rate
        return _round_to_exponent(major, currency_exponent(SHOP_CURRENCY))

    def _pair(self, presentment_minor: int, currency: str, rate: Decimal) -> MoneyPair:
        return MoneyPair(self._to_shop(presentment_minor, currency, rate), presentment_minor, currency)

    def _pick_currency(self) -> tuple[str, Decimal]:
        codes = [c for c, _, _ in PRESENTMENT_CURRENCIES]
        weights = [w for _, w, _ in PRESENTMENT_CURRENCIES]
        code = self.rng.choices(codes, weights)[0]
        return code, self._rate(code)

    @staticmethod
    def _rate(code: str) -> Decimal:
        return next(Decimal(rate) for c, _, rate in PRESENTMENT_CURRENCIES if c == code)

    def _create_order(self, at: datetime, plan: _Plan) -> None:
        rng = self.rng
        if plan.gift_card_sale or plan.gift_card_payment:
            currency, rate = "USD", Decimal(1)  # gift cards are sold and spent in the shop currency here
        elif plan.currency:
            currency, rate = plan.currency, self._rate(plan.currency)
        else:
            currency, rate = self._pick_currency()

        order_id = next(self._ids["order"])
        lines: list[LineItem] = []
        taxable_presentment = 0
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            title, sku, price = rng.choice(PRODUCTS)
            quantity = rng.choice((1, 1, 1, 2))
            line_presentment = self._presentment(price, currency, rate) * quantity
            taxable_presentment += line_presentment
            lines.append(
                LineItem(
                    next(self._ids["line_item"]), title, sku, quantity, self._pair(line_presentment, currency, rate)
                )
            )
        if plan.gift_card_sale:
            denomination = rng.choice(GIFT_CARD_DENOMINATIONS)
            lines.append(
                LineItem(
                    next(self._ids["line_item"]),
                    "Gift Card",
                    None,
                    1,
                    MoneyPair(denomination, denomination, currency),
                    is_gift_card=True,
                )
            )
        subtotal_presentment = sum(line.total.presentment for line in lines)
        subtotal_usd = self._to_shop(subtotal_presentment, currency, rate)
        shipping_presentment = 0 if subtotal_usd >= 7500 else self._presentment(595, currency, rate)
        tax_rate = rng.choice(TAX_RATES)
        tax_presentment = int(
            (Decimal(taxable_presentment) * tax_rate).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        )  # gift cards are not taxed
        total_presentment = subtotal_presentment + shipping_presentment + tax_presentment

        order = Order(
            id=order_id,
            number=next(self._order_numbers),
            created_at=at,
            updated_at=at,
            presentment_currency=currency,
            rate=rate,
            email=f"customer{rng.randrange(10_000, 99_999)}@example.com",
            line_items=lines,
            subtotal=self._pair(subtotal_presentment, currency, rate),
            shipping=self._pair(shipping_presentment, currency, rate),
            tax=self._pair(tax_presentment, currency, rate),
            total=self._pair(total_presentment, currency, rate),
        )
        self.orders[order_id] = order
        self._note_created(order_id)

        card_amount = order.total
        if plan.gift_card_payment:
            gift_card_part = max(100, min(rng.choice(GIFT_CARD_DENOMINATIONS), order.total.shop - 500))
            gift_card_money = MoneyPair(gift_card_part, gift_card_part, currency)
            self._add_transaction(order, "SALE", "SUCCESS", "gift_card", gift_card_money, at)
            card_amount = order.total - gift_card_money

        if plan.declined_first:
            self._add_transaction(
                order, "SALE", "FAILURE", "shopify_payments", card_amount, at, error_code="CARD_DECLINED"
            )
            at = at + timedelta(minutes=2)
            order.touch(at)
        if plan.authorize_then_capture:
            authorization = self._add_transaction(
                order, "AUTHORIZATION", "SUCCESS", "shopify_payments", card_amount, at
            )
            capture_at = at + timedelta(hours=rng.randint(1, 30))
            self._schedule(capture_at, lambda when: self._capture(order, authorization, when))
        else:
            self._charge(order, "SALE", card_amount, at)

        if plan.refund and plan.refund_after is not None:
            self._schedule(at + plan.refund_after, lambda when: self._refund(order, plan.refund or "", when))
        if plan.dispute and plan.dispute_after is not None:
            self._schedule(at + plan.dispute_after, lambda when: self._open_dispute(order, plan.dispute or "", when))

    def _add_transaction(
        self,
        order: Order,
        kind: str,
        status: str,
        gateway: str,
        amount: MoneyPair,
        at: datetime,
        *,
        parent_id: int | None = None,
        fees: list[TransactionFee] | None = None,
        error_code: str | None = None,
    ) -> OrderTransaction:
        transaction = OrderTransaction(
            id=next(self._ids["transaction"]),
            order_id=order.id,
            kind=kind,
            status=status,
            gateway=gateway,
            amount=amount,
            processed_at=at,
            parent_id=parent_id,
            fees=fees or [],
            error_code=error_code,
        )
        order.transactions.append(transaction)
        self.transactions[transaction.id] = transaction
        order.touch(at)
        return transaction

    def _processing_fee(self, order: Order, amount_shop: int) -> TransactionFee:
        # Online rate: 2.9% + 30c for domestic USD checkouts, one point more when the customer
        # paid in another currency (Shopify's currency-conversion fee).
        rate = Decimal("0.029") if order.presentment_currency == SHOP_CURRENCY else Decimal("0.039")
        variable = int((Decimal(amount_shop) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        return TransactionFee(
            id=next(self._ids["fee"]),
            amount=variable + 30,
            flat_fee=30,
            rate=rate,
            rate_name="Online rate" if rate == Decimal("0.029") else "Online rate, international",
        )

    def _charge(self, order: Order, kind: str, amount: MoneyPair, at: datetime, parent_id: int | None = None) -> None:
        fee = self._processing_fee(order, amount.shop)
        transaction = self._add_transaction(
            order, kind, "SUCCESS", "shopify_payments", amount, at, parent_id=parent_id, fees=[fee]
        )
        self._balance(
            "CHARGE",
            amount.shop,
            fee.amount,
            at,
            source_type="CHARGE",
            source_id=transaction.id,
            source_order_transaction_id=transaction.id,
            order_id=order.id,
        )

    def _capture(self, order: Order, authorization: OrderTransaction, at: datetime) -> None:
        self._charge(order, "CAPTURE", authorization.amount, at, parent_id=authorization.id)
        self._note_updated(order.id)

    def _card_charge(self, order: Order) -> OrderTransaction | None:
        charges = [t for t in order.successful("SALE", "CAPTURE") if t.gateway == "shopify_payments"]
        return charges[0] if charges else None

    def _refund(self, order: Order, kind: str, at: datetime) -> None:
        charge = self._card_charge(order)
        if charge is None:
            return
        already = sum(
            (t.amount for r in order.refunds for t in r.transactions if t.parent_id == charge.id),
            MoneyPair.zero(order.presentment_currency),
        )
        remaining = charge.amount - already
        if remaining.shop <= 0:
            return
        if kind == "partial":
            # Return one item (and its share of nothing else): converted at the order's rate.
            line = self.rng.choice([line for line in order.line_items if not line.is_gift_card] or order.line_items)
            presentment = min(line.total.presentment, remaining.presentment - 1)
            amount = self._pair(presentment, order.presentment_currency, order.rate)
            amount = MoneyPair(min(amount.shop, remaining.shop - 1), amount.presentment, amount.presentment_currency)
            if amount.shop <= 0 or amount.presentment <= 0:
                return
            note = "Customer returned an item"
        else:
            amount = remaining  # exact: a full refund gives back what was charged, in both currencies
            note = "Order cancelled by customer" if kind == "cancel" else "Customer returned the order"
        refund_transaction = self._add_transaction(
            order, "REFUND", "SUCCESS", "shopify_payments", amount, at, parent_id=charge.id
        )
        refund = Refund(next(self._ids["refund"]), order.id, at, note, [refund_transaction])
        order.refunds.append(refund)
        if kind == "cancel":
            order.cancelled_at = at
            order.cancel_reason = "CUSTOMER"
        self._balance(
            "REFUND",
            -amount.shop,
            0,  # Shopify Payments keeps the processing fee of a refunded charge
            at,
            source_type="REFUND",
            source_id=refund_transaction.id,
            source_order_transaction_id=refund_transaction.id,
            order_id=order.id,
        )
        self._note_updated(order.id)

    # ----------------------------------------------------------------- disputes

    def _new_chargeback(self, order: Order, charge: OrderTransaction, reason: str, code: str, at: datetime) -> Dispute:
        """A chargeback on ``charge`` of ``order``, opened at ``at`` and needing a response within a week."""
        return Dispute(
            id=next(self._ids["dispute"]),
            order_id=order.id,
            transaction_id=charge.id,
            amount=charge.amount.shop,
            currency=SHOP_CURRENCY,
            type="CHARGEBACK",
            reason=reason,
            network_reason_code=code,
            status="NEEDS_RESPONSE",
            initiated_at=at,
            evidence_due_by=at + timedelta(days=7),
        )

    def _open_dispute(self, order: Order, outcome: str, at: datetime) -> None:
        charge = self._card_charge(order)
        if charge is None or order.refunds:
            return
        reason, code = self.rng.choice(
            (("FRAUDULENT", "10.4"), ("PRODUCT_NOT_RECEIVED", "13.1"), ("CREDIT_NOT_PROCESSED", "13.6"))
        )
        dispute = self._new_chargeback(order, charge, reason, code, at)
        self.disputes[dispute.id] = dispute
        order.dispute_ids.append(dispute.id)
        order.touch(at)
        self._note_updated(order.id)
        # The disputed amount and the chargeback fee leave the balance when the dispute opens.
        self._balance(
            "DISPUTE_WITHDRAWAL",
            -dispute.amount,
            CHARGEBACK_FEE_MINOR,
            at,
            source_type="DISPUTE",
            source_id=dispute.id,
            source_order_transaction_id=charge.id,
            order_id=order.id,
        )
        if outcome == "accepted":
            self._schedule(at + timedelta(days=1), lambda when: self._close_dispute(dispute, "ACCEPTED", when))
        elif outcome in ("won", "lost"):
            self._schedule(at + timedelta(days=2), lambda when: self._submit_evidence(dispute, when))
            self._schedule(at + timedelta(days=7), lambda when: self._close_dispute(dispute, outcome.upper(), when))

    def _submit_evidence(self, dispute: Dispute, at: datetime) -> None:
        dispute.status = "UNDER_REVIEW"
        dispute.evidence_sent_on = at
        self._touch_order(dispute.order_id, at)

    def _close_dispute(self, dispute: Dispute, status: str, at: datetime) -> None:
        dispute.status = status
        dispute.finalized_on = at
        self._touch_order(dispute.order_id, at)
        if status == "WON":
            # Funds reinstated. This sandbox also returns the chargeback fee on a won dispute
            # (Shopify does in several regions), so the fee of this line is negative.
            self._balance(
                "DISPUTE_REVERSAL",
                dispute.amount,
                -CHARGEBACK_FEE_MINOR,
                at,
                source_type="DISPUTE",
                source_id=dispute.id,
                source_order_transaction_id=dispute.transaction_id,
                order_id=dispute.order_id,
            )

    def _touch_order(self, order_id: int, at: datetime) -> None:
        self.orders[order_id].touch(at)
        self._note_updated(order_id)

    # ----------------------------------------------------------------- account events

    def _reserve(self, at: datetime, transaction_type: str, amount: int) -> None:
        signed = -amount if transaction_type == "RESERVED_FUNDS_WITHDRAWAL" else amount
        self._balance(transaction_type, signed, 0, at, source_type="SYSTEM_ADJUSTMENT", available_at=at)

    def _adjustment(self, at: datetime, amount: int, reason: str) -> None:
        balance = self._balance("ADJUSTMENT", amount, 0, at, source_type="ADJUSTMENT", adjustment_reason=reason)
        balance.source_id = balance.id

    def _fail_payout_of_day_9(self, at: datetime) -> None:
        issued = [p for p in self.payouts.values() if p.issued_at.date() == self.start + timedelta(days=9)]
        if not issued:
            return
        payout = issued[0]
        payout.status = "FAILED"
        # The bank returned the money: it is back on the balance at once and goes out again on
        # the next payout, where Shopify reports it as "retried payouts".
        self._balance(
            "TRANSFER_FAILURE", payout.net, 0, at, source_type="TRANSFER", source_id=payout.id, available_at=at
        )

    def _payout_cycle(self, at: datetime) -> None:
        for payout in self.payouts.values():
            if payout.status == "SCHEDULED" and payout.issued_at < at:
                payout.status = "PAID"
        eligible = [i for i in self._unpaid if self.balance_transactions[i].available_at <= at]
        net = sum(self.balance_transactions[i].net for i in eligible)
        if not eligible or net == 0 or (net < 0 and not self._quiet):
            # Nothing to pay, or a negative balance the next days' sales will cover: carried to
            # the next day. Winding down, no sale will: it is withdrawn (see settle()).
            return
        payout = Payout(
            id=next(self._ids["payout"]),
            issued_at=at,
            status="SCHEDULED",
            net=abs(net),
            transaction_type="DEPOSIT" if net > 0 else "WITHDRAWAL",
            line_ids=eligible,
        )
        eligible_set = set(eligible)
        self._unpaid = [i for i in self._unpaid if i not in eligible_set]
        summary = {bucket: (0, 0) for bucket in (*SUMMARY_BUCKETS, "adjustments")}
        for line_id in eligible:
            line = self.balance_transactions[line_id]
            line.payout_id = payout.id
            bucket = summary_bucket(line.type)
            assert bucket is not None
            gross, fee = summary[bucket]
            summary[bucket] = (gross + line.amount, fee + line.fee)
        payout.summary = summary
        self.payouts[payout.id] = payout
        transfer = self._balance(
            "TRANSFER", -net, 0, at, source_type="TRANSFER", source_id=payout.id, available_at=at, unpaid=False
        )
        transfer.payout_id = payout.id
        payout.transfer_line_id = transfer.id
        if self._report is not None:
            self._report.payouts_created.append(payout.id)

    def _balance(
        self,
        transaction_type: str,
        amount: int,
        fee: int,
        at: datetime,
        *,
        source_type: str | None = None,
        source_id: int | None = None,
        source_order_transaction_id: int | None = None,
        order_id: int | None = None,
        adjustment_reason: str | None = None,
        available_at: datetime | None = None,
        unpaid: bool = True,
    ) -> BalanceTransaction:
        if available_at is None:
            available_at = datetime.combine(at.date() + PAYOUT_DELAY, time(0), tzinfo=UTC)
        line = BalanceTransaction(
            id=next(self._ids["balance"]),
            type=transaction_type,
            amount=amount,
            fee=fee,
            transaction_date=at,
            available_at=available_at,
            source_type=source_type,
            source_id=source_id,
            source_order_transaction_id=source_order_transaction_id,
            order_id=order_id,
            adjustment_reason=adjustment_reason,
        )
        self.balance_transactions[line.id] = line
        if unpaid:
            self._unpaid.append(line.id)
        if self._report is not None:
            self._report.balance_transactions_created.append(line.id)
        return line

    def _note_created(self, order_id: int) -> None:
        if self._report is not None:
            self._report.orders_created.append(order_id)

    def _note_updated(self, order_id: int) -> None:
        if self._report is not None:
            self._report.orders_updated.append(order_id)
