"""A deterministic, internally consistent Stripe account, generated from a seed.

Two ledgers share one read interface (:class:`Ledger`), which the sandbox server pages
through:

* :class:`StripeBusiness` simulates a small shop day by day: PaymentIntents with an
  ``order_id`` in their metadata, charges (some in EUR/GBP/JPY settled in USD with an
  ``exchange_rate``), partial and full refunds, disputes won, lost and still open, daily
  automatic payouts that pay out exactly the ``net`` of their balance transactions, a
  payout that fails after it was paid, a manual instant payout (and Stripe's fee for it,
  a balance transaction of its own) and a payout minimum balance hold and release.
  Everything is materialized (a 30-day shop is about 2,000 objects) and the same seed
  always gives the same objects, ids included. Between days,
  a caller can refund a charge or fail a refund at ``now`` (:meth:`StripeBusiness.refund`,
  :meth:`StripeBusiness.fail_refund`), as the dashboard or the customer's bank would.
* :class:`ScaleLedger` is for benchmarks: N balance transactions, each with its charge
  and PaymentIntent, plus one automatic payout every ``payout_every`` charges. Object
  ``i`` is a pure function of ``(seed, i)`` and ids embed ``i``, so paging through a
  million objects never holds them in memory and ``starting_after`` is O(1).

Money follows Stripe: integers in the currency's minor unit (JPY has none), lower-case
currency codes, unix timestamps. Shapes are those of API version 2023-08-16 (checked
against ``shared/data/stripe/stripe-reconciliation-schemas.2023-08-16.extract.json``).
"""

from __future__ import annotations

import calendar
import random
from bisect import bisect_left
from collections.abc import Callable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any, Protocol

Obj = dict[str, Any]

STRIPE_API_VERSION = "2023-08-16"
DAY = 86_400
RESOURCES = ("balance_transactions", "charges", "payment_intents", "refunds", "disputes", "payouts")
DEFAULT_START = date(2024, 1, 1)
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)
DISPUTE_FEE = 1500  # USD cents, what Stripe charges per dispute in the US
# What Stripe charges a US account per Instant Payout: 1.5% of the amount
# (docs.stripe.com/payouts/instant-payouts#pricing), with a minimum fee of 0.50 USD
# (stripe.com/pricing; not the docs' 0.50 USD minimum payout, which is another limit).
INSTANT_PAYOUT_FEE_RATE = Decimal("0.015")
INSTANT_PAYOUT_MINIMUM_FEE = 50

# The day each trap of the business happens on, counted from the start date. Fixed
# (rather than spread over ``days``) so that a business of N days plus ``advance(M)``
# is exactly the business of N + M days, and so that 11 days already hold every case.
JPY_DAY = 1
FULL_REFUND_DAY = 2
FX_PARTIAL_REFUND_DAY = 2
DISPUTE_WON_OPEN_DAY, DISPUTE_WON_CLOSE_DAY = 2, 9
DISPUTE_LOST_OPEN_DAY, DISPUTE_LOST_CLOSE_DAY = 3, 10
DISPUTE_OPEN_DAY = 9  # opened, evidence submitted, never decided: stays under_review
MULTI_PARTIAL_REFUND_DAYS = (3, 4, 5)
FAILED_PAYOUT_DAY, PAYOUT_FAILURE_DAY = 4, 7
INSTANT_PAYOUT_DAY = 5
MIN_BALANCE_HOLD_DAY, MIN_BALANCE_RELEASE_DAY = 6, 8
MIN_BALANCE_HOLD = 10_000
MIN_DAYS_FOR_ALL_CASES = 11
# At most this many quiet days for :meth:`StripeBusiness.settle`: the last sales are paid out
# within four, and refunds and disputes scheduled after them within a week or so more.
MAX_QUIET_DAYS = 14

# Orders whose currency and fate are fixed so the traps above have something to act on:
# (day, order number within the day) -> presentment currency.
_FORCED_ORDERS: dict[tuple[int, int], str] = {
    (0, 0): "eur",
    (0, 1): "gbp",
    (0, 2): "usd",
    (0, 3): "usd",
    (1, 0): "jpy",
    (1, 1): "usd",
    (1, 2): "usd",
}

# USD per unit of the presentment currency on day 0; they drift a little every day.
_BASE_FX = {"eur": 1.09, "gbp": 1.27, "jpy": 0.0068}
_CARD_COUNTRY = {"usd": "US", "eur": "DE", "gbp": "GB", "jpy": "JP"}
_NAMES = (
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Edsger Dijkstra",
    "Barbara Liskov",
    "Donald Knuth",
    "Frances Allen",
    "Ken Thompson",
    "Margaret Hamilton",
    "Claude Shannon",
)
_BRANDS = ("visa", "mastercard", "amex", "discover")
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def day_ts(d: date) -> int:
    """Midnight UTC of ``d`` as a unix timestamp."""
    return calendar.timegm(d.timetuple())


def minor_exponent(currency: str) -> int:
    """Decimal places of a currency's minor unit as Stripe counts them (JPY 0, USD 2)."""
    return 0 if currency.lower() in ZERO_DECIMAL else 2


def convert(amount: int, currency: str, rate: float, to: str = "usd") -> int:
    """Convert minor units of ``currency`` into minor units of ``to`` at ``rate``.

    Stripe's ``exchange_rate`` is per major unit (10.00 EUR * 1.234 = 12.34 USD), so the
    exponents of both currencies matter: 5000 JPY at 0.0068 is 3400 US cents, not 34.
    """
    major = Decimal(amount).scaleb(-minor_exponent(currency)) * Decimal(repr(rate))
    return int(major.scaleb(minor_exponent(to)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def instant_payout_fee(amount: int) -> int:
    """Stripe's fee, in US cents, for an Instant Payout of ``amount`` US cents (half-up on the cent)."""
    percentage = int((Decimal(amount) * INSTANT_PAYOUT_FEE_RATE).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return max(INSTANT_PAYOUT_MINIMUM_FEE, percentage)


def card_fee(settled: int, international: bool) -> int:
    """Stripe's US card pricing: 2.9% + 30c, +1.5% international cards, +1% conversion."""
    pct = Decimal("0.054") if international else Decimal("0.029")
    return int((Decimal(settled) * pct).quantize(Decimal(1), rounding=ROUND_HALF_UP)) + 30


_B62_PAIRS = tuple(a + b for a in _B62 for b in _B62)


def _b62(n: int, width: int) -> str:
    """``n`` as ``width`` base-62 digits (the low ones), two digits per step: the scale
    ledger makes ids for every object it serves, and this is most of the sandbox's time."""
    chunks = []
    for _ in range(width >> 1):
        n, r = divmod(n, 3844)
        chunks.append(_B62_PAIRS[r])
    if width & 1:
        chunks.append(_B62[n % 62])
    return "".join(reversed(chunks))


# --------------------------------------------------------------------------- sequences


class Seq(Protocol):
    """An ordered (oldest first, by ``created``) read-only view the server pages through."""

    def __len__(self) -> int: ...

    def item(self, pos: int) -> Obj:
        """The object at ``pos`` (0 is the oldest)."""
        ...

    def created(self, pos: int) -> int:
        """``created`` of the object at ``pos``, without building it if possible."""
        ...

    def find(self, obj_id: str) -> int | None:
        """Position of ``obj_id`` in this view, or None."""
        ...

    def field(self, pos: int, name: str) -> Any:
        """One field of the object at ``pos`` (lets lazy ledgers filter cheaply)."""
        ...


class Collection:
    """An append-only list of objects in ``created`` order with an id index."""

    def __init__(self) -> None:
        self.items: list[Obj] = []
        self.index: dict[str, int] = {}
        self._created: list[int] = []
        self._buffer: list[Obj] = []

    def stage(self, obj: Obj) -> None:
        """Add ``obj`` at the next :meth:`flush` (a day's events are not created in order)."""
        self._buffer.append(obj)

    def flush(self) -> int:
        """Publish the staged objects, sorted by ``created`` (stable); return how many."""
        staged = sorted(self._buffer, key=lambda o: o["created"])
        self._buffer = []
        for obj in staged:
            self.index[obj["id"]] = len(self.items)
            self.items.append(obj)
            self._created.append(obj["created"])
        return len(staged)

    def get(self, obj_id: str) -> Obj | None:
        pos = self.index.get(obj_id)
        return None if pos is None else self.items[pos]

    # Seq protocol
    def __len__(self) -> int:
        return len(self.items)

    def item(self, pos: int) -> Obj:
        return self.items[pos]

    def created(self, pos: int) -> int:
        return self._created[pos]

    def find(self, obj_id: str) -> int | None:
        return self.index.get(obj_id)

    def field(self, pos: int, name: str) -> Any:
        return self.items[pos].get(name)


class SubSeq:
    """The objects of a collection at the given (ascending) positions, e.g. one payout's lines."""

    def __init__(self, base: Collection, positions: list[int]) -> None:
        self.base = base
        self.positions = positions

    def __len__(self) -> int:
        return len(self.positions)

    def item(self, pos: int) -> Obj:
        return self.base.item(self.positions[pos])

    def created(self, pos: int) -> int:
        return self.base.created(self.positions[pos])

    def find(self, obj_id: str) -> int | None:
        base_pos = self.base.find(obj_id)
        if base_pos is None:
            return None
        i = bisect_left(self.positions, base_pos)
        return i if i < len(self.positions) and self.positions[i] == base_pos else None

    def field(self, pos: int, name: str) -> Any:
        return self.base.field(self.positions[pos], name)


class EmptySeq:
    def __len__(self) -> int:
        return 0

    def item(self, pos: int) -> Obj:
        raise IndexError(pos)

    def created(self, pos: int) -> int:
        raise IndexError(pos)

    def find(self, obj_id: str) -> int | None:
        return None

    def field(self, pos: int, name: str) -> Any:
        raise IndexError(pos)


class Ledger(Protocol):
    """What the sandbox server needs from a ledger."""

    @property
    def now(self) -> int:
        """Unix time the ledger's statuses are as of (the end of the last simulated day)."""
        ...

    def seq(self, resource: str) -> Seq:
        """All objects of ``resource`` (one of :data:`RESOURCES`), oldest first."""
        ...

    def get(self, resource: str, obj_id: str) -> Obj | None:
        """One object by id, or None."""
        ...

    def payout_lines(self, payout_id: str) -> Seq | None:
        """The balance transactions an automatic payout paid out, its own line included.

        None if the payout does not exist. Raises :class:`ManualPayoutError` for a manual
        payout, which Stripe cannot itemize.
        """
        ...

    def balance(self) -> Obj:
        """The account's Balance object."""
        ...

    def account(self) -> Obj:
        """The Account object (what ``GET /v1/account`` answers)."""
        ...

    def advance(self, days: int = 1) -> dict[str, int]:
        """Run ``days`` more days of business; return how many objects each resource gained."""
        ...

    def refund(self, charge_id: str, amount: int | None = None) -> Obj:
        """Refund ``amount`` of a charge now (the rest of it if None); raises :class:`RefundError`."""
        ...

    def fail_refund(self, refund_id: str, reason: str = "expired_or_canceled_card") -> Obj:
        """Fail a refund now, its money coming back; raises :class:`RefundError`."""
        ...


class ManualPayoutError(Exception):
    """Raised for ``payout=`` on a manual payout: Stripe keeps no itemization for those."""


class RefundError(ValueError):
    """A refund (or a refund's failure) Stripe would refuse, with its reason."""


def _account_object(account_id: str, created: int) -> Obj:
    return {
        "id": account_id,
        "object": "account",
        "business_profile": {
            "mcc": "5734",
            "name": "EcomOps Demo Store",
            "product_description": "Sandbox shop generated by EcomOps",
            "support_address": None,
            "support_email": "support@example.com",
            "support_phone": None,
            "support_url": None,
            "url": "https://shop.example.com",
        },
        "business_type": "company",
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "charges_enabled": True,
        "country": "US",
        "created": created,
        "default_currency": "usd",
        "details_submitted": True,
        "email": "owner@example.com",
        "metadata": {},
        "payouts_enabled": True,
        "settings": {
            "branding": {"icon": None, "logo": None, "primary_color": None, "secondary_color": None},
            "card_payments": {
                "decline_on": {"avs_failure": False, "cvc_failure": True},
                "statement_descriptor_prefix": "ECOMOPS",
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "dashboard": {"display_name": "EcomOps Demo Store", "timezone": "Etc/UTC"},
            "payments": {
                "statement_descriptor": "ECOMOPS DEMO",
                "statement_descriptor_kana": None,
                "statement_descriptor_kanji": None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "payouts": {
                "debit_negative_balances": True,
                "schedule": {"delay_days": 2, "interval": "daily"},
                "statement_descriptor": None,
            },
        },
        "type": "standard",
    }


def _balance_object(available: int, pending: int) -> Obj:
    return {
        "object": "balance",
        "available": [{"amount": available, "currency": "usd", "source_types": {"card": available}}],
        "livemode": False,
        "pending": [{"amount": pending, "currency": "usd", "source_types": {"card": pending}}],
    }


# --------------------------------------------------------------------------- small business


class StripeBusiness:
    """A small Stripe account simulated day by day from a seed (see the module docstring).

    Days run from ``start``; ``now`` is midnight after the last simulated day, and object
    statuses (``pending``/``available`` balance transactions, ``in_transit``/``paid``
    payouts) are as of ``now``. The generator needs :data:`MIN_DAYS_FOR_ALL_CASES` days
    for every trap (failed payout, instant payout, won and lost disputes, ...) to exist.

    With ``settle`` the business does not stop on its last day of sales, with the payouts of
    its last days still in transit and their lines still waiting: it goes on for quiet days
    (:meth:`settle`) until everything has been paid out and has arrived.
    """

    def __init__(
        self,
        seed: int = 1,
        days: int = 30,
        start: date = DEFAULT_START,
        orders_per_day: int = 20,
        *,
        settle: bool = False,
    ) -> None:
        if days < 0 or orders_per_day < 0:
            raise ValueError("days and orders_per_day must be >= 0")
        self.seed = seed
        self.start = start
        self.start_ts = day_ts(start)
        self.orders_per_day = orders_per_day
        self.days = 0
        self.now = self.start_ts
        self._rng = random.Random(seed)
        self.cols: dict[str, Collection] = {name: Collection() for name in RESOURCES}
        self.account_id = "acct_1" + self._rand(15)
        self.bank_account_id = "ba_1" + self._rand(23)
        self._account = _account_object(self.account_id, self.start_ts - 90 * DAY)
        self._fx: dict[str, float] = dict(_BASE_FX)
        self._order_seq = 10_000
        self._event_seq = 0
        self._scheduled: dict[int, list[tuple[int, int, int, str, tuple[Any, ...]]]] = {}
        self._unpaid: list[Obj] = []  # balance transactions not yet in any automatic payout
        self._payout_members: dict[str, list[str]] = {}  # automatic payout id -> its BT ids
        self._payout_positions: dict[str, list[int]] = {}
        self._manual_payouts: set[str] = set()
        self._failed_payouts: set[str] = set()
        self._payout_by_day: dict[int, Obj] = {}
        self._held = 0  # minimum balance currently held back
        self._forced: dict[tuple[int, int], Obj] = {}  # (day, n) -> charge of a forced order
        self._quiet = False  # set while settle() runs: days without new orders
        self.advance(days)
        if settle:
            self.settle()

    # ----------------------------------------------------------------- Ledger protocol

    def seq(self, resource: str) -> Seq:
        return self.cols[resource]

    def get(self, resource: str, obj_id: str) -> Obj | None:
        return self.cols[resource].get(obj_id)

    def payout_lines(self, payout_id: str) -> Seq | None:
        if self.cols["payouts"].get(payout_id) is None:
            return None
        if payout_id in self._manual_payouts:
            raise ManualPayoutError(payout_id)
        positions = self._payout_positions.get(payout_id)
        if positions is None:
            index = self.cols["balance_transactions"].index
            positions = sorted(index[i] for i in self._payout_members[payout_id])
            self._payout_positions[payout_id] = positions
        return SubSeq(self.cols["balance_transactions"], positions)

    def payout_line_ids(self, payout_id: str) -> list[str]:
        """Ids of the balance transactions an automatic payout paid out (its own line last)."""
        return list(self._payout_members[payout_id])

    def is_manual_payout(self, payout_id: str) -> bool:
        return payout_id in self._manual_payouts

    def balance(self) -> Obj:
        available = pending = 0
        for bt in self.cols["balance_transactions"].items:
            if bt["available_on"] <= self.now:
                available += bt["net"]
            else:
                pending += bt["net"]
        return _balance_object(available, pending)

    def account(self) -> Obj:
        return self._account

    def advance(self, days: int = 1) -> dict[str, int]:
        """Simulate ``days`` more days; the new objects are created after every existing one."""
        if days < 0:
            raise ValueError("days must be >= 0")
        added = dict.fromkeys(RESOURCES, 0)
        for _ in range(days):
            self._simulate_day(self.days)
            for name, col in self.cols.items():
                added[name] += col.flush()
            self.days += 1
        self.now = self.start_ts + self.days * DAY
        self._refresh_statuses()
        return added

    @property
    def settled(self) -> bool:
        """Nothing left on its way: every balance transaction paid out, every payout arrived (or failed)."""
        on_their_way = ("pending", "in_transit")
        return not self._unpaid and all(p["status"] not in on_their_way for p in self.cols["payouts"].items)

    def settle(self, max_days: int = MAX_QUIET_DAYS) -> int:
        """Wind the business down: quiet days, with no new orders, until it is :attr:`settled`
        (at most ``max_days`` of them); return how many it took.

        What was already scheduled still happens on those days, as it would: refunds, disputes
        opened, decided or reinstated, and the daily payouts that carry them. With no
        sales left to cover a negative balance, Stripe withdraws it from the bank account the
        next day (what it does for a US account), as an automatic payout of a negative amount
        that pays out those lines like any other payout. A business of N days settled is not
        the business of N + M days: its quiet days have no orders.
        """
        if max_days < 0:
            raise ValueError("max_days must be >= 0")
        quiet = 0
        self._quiet = True
        try:
            while quiet < max_days and not self.settled:
                self.advance(1)
                quiet += 1
        finally:
            self._quiet = False
        return quiet

    def refund(self, charge_id: str, amount: int | None = None) -> Obj:
        """Refund ``amount`` of a succeeded charge (the rest of it if None), now, as
        ``POST /v1/refunds`` would: a succeeded refund and its ``refund`` balance transaction,
        created after every existing object, and the charge's ``amount_refunded`` raised."""
        charge = self.cols["charges"].get(charge_id)
        if charge is None:
            raise RefundError(f"No such charge: '{charge_id}'")
        if charge["status"] != "succeeded" or not charge["captured"]:
            raise RefundError(f"Charge {charge_id} has not been captured; there is nothing to refund.")
        if charge["disputed"]:
            raise RefundError(f"Charge {charge_id} has been charged back; cannot issue a refund.")
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise RefundError(f"Charge {charge_id} has already been refunded.")
        amount = remaining if amount is None else amount
        if type(amount) is not int or not 0 < amount <= remaining:
            raise RefundError(
                f"Refund amount ({amount!r}) must be a positive integer no greater than what is left "
                f"to refund on charge {charge_id} ({remaining})."
            )
        refund = self._new_refund(self.now, charge, amount)
        self._publish()
        return refund

    def fail_refund(self, refund_id: str, reason: str = "expired_or_canceled_card") -> Obj:
        """Fail a refund now, the way a card refund fails when the bank returns it (days after
        it succeeded, say the card was closed): the refund turns ``failed`` with a
        ``failure_reason``; a ``refund_failure`` balance transaction puts its money back in the
        balance (for the next payout to carry); the charge's ``amount_refunded`` drops by it."""
        refund = self.cols["refunds"].get(refund_id)
        if refund is None:
            raise RefundError(f"No such refund: '{refund_id}'")
        if refund["status"] not in ("pending", "succeeded"):
            raise RefundError(f"Refund {refund_id} is {refund['status']}; only a pending or succeeded refund can fail.")
        original = self.cols["balance_transactions"].get(refund["balance_transaction"])
        assert original is not None, refund_id  # a refund's balance transaction is published with it
        failure = self._new_bt(
            self.now,
            amount=-original["amount"],
            type_="refund_failure",
            category="refund_failure",
            source=refund_id,
            description=f"REFUND FAILURE ({reason})",
            available_on=self._day_start(self.days + 1),
            exchange_rate=original["exchange_rate"],
        )
        refund.update(status="failed", failure_balance_transaction=failure["id"], failure_reason=reason)
        charge = self.cols["charges"].get(refund["charge"])
        assert charge is not None, refund_id
        charge["amount_refunded"] -= refund["amount"]
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self._publish()
        return refund

    # ----------------------------------------------------------------- helpers

    def _publish(self) -> None:
        """Publish objects made outside a simulated day (at ``now``, after every existing one)."""
        for col in self.cols.values():
            col.flush()

    def _rand(self, n: int) -> str:
        return "".join(self._rng.choices(_B62, k=n))

    def _id(self, prefix: str) -> str:
        # Stripe ids are a prefix and 24 base62 characters; PaymentIntent-era objects start with 3.
        return f"{prefix}_3{self._rand(23)}"

    def _schedule(self, day: int, second: int, kind: str, *args: Any, prio: int = 5) -> None:
        self._event_seq += 1
        self._scheduled.setdefault(day, []).append((second, prio, self._event_seq, kind, args))

    def _day_start(self, day: int) -> int:
        return self.start_ts + day * DAY

    def _new_bt(
        self,
        created: int,
        *,
        amount: int,
        type_: str,
        category: str,
        source: str | None,
        description: str,
        available_on: int,
        fee_details: list[Obj] | None = None,
        exchange_rate: float | None = None,
        unpaid: bool = True,
    ) -> Obj:
        fee_details = fee_details or []
        fee = sum(f["amount"] for f in fee_details)
        bt: Obj = {
            "id": "txn_" + "3" + self._rand(23),
            "object": "balance_transaction",
            "amount": amount,
            "available_on": available_on,
            "created": created,
            "currency": "usd",
            "description": description,
            "exchange_rate": exchange_rate,
            "fee": fee,
            "fee_details": fee_details,
            "net": amount - fee,
            "reporting_category": category,
            "source": source,
            "status": "pending",
            "type": type_,
        }
        self.cols["balance_transactions"].stage(bt)
        if unpaid:
            self._unpaid.append(bt)
        return bt

    @staticmethod
    def _stripe_fee(amount: int, description: str) -> Obj:
        return {
            "amount": amount,
            "application": None,
            "currency": "usd",
            "description": description,
            "type": "stripe_fee",
        }

    def _settle(self, amount: int, currency: str) -> tuple[int, float | None]:
        """Presentment minor units -> (USD cents, exchange_rate or None) at today's rate."""
        if currency == "usd":
            return amount, None
        rate = self._fx[currency]
        return convert(amount, currency, rate), rate

    # ----------------------------------------------------------------- the simulation

    def _simulate_day(self, day: int) -> None:
        rng = self._rng
        start = self._day_start(day)
        for cur, base in _BASE_FX.items():  # a small daily random walk, never far from base
            drift = self._fx[cur] * (1 + rng.uniform(-0.004, 0.004))
            self._fx[cur] = round(min(max(drift, base * 0.95), base * 1.05), 8 if cur == "jpy" else 6)
        self._schedule(day, 1800, "payout", prio=0)
        if day == PAYOUT_FAILURE_DAY:
            self._schedule(day, 9 * 3600, "payout_failure", prio=1)
        if day == INSTANT_PAYOUT_DAY:
            self._schedule(day, 14 * 3600, "instant_payout", prio=1)
        if self._quiet:
            count = 0  # winding down: no new orders, what is scheduled still happens
        else:
            count = max(0, self.orders_per_day + rng.randint(-3, 3)) if self.orders_per_day else 0
            if day in (0, 1) and self.orders_per_day:
                count = max(count, 1 + max(n for d, n in _FORCED_ORDERS if d == day))
        for n, second in enumerate(sorted(rng.randint(3600, 23 * 3600) for _ in range(count))):
            self._schedule(day, second, "order", day, n)
        for second, _prio, _seq, kind, args in sorted(self._scheduled.pop(day, [])):
            getattr(self, f"_ev_{kind}")(start + second, *args)

    def _ev_order(self, ts: int, day: int, n: int) -> None:
        rng = self._rng
        forced = _FORCED_ORDERS.get((day, n)) if self.orders_per_day else None
        if forced:
            currency, fate = forced, "paid"
        else:
            currency = rng.choices(("usd", "eur", "gbp", "jpy"), weights=(84, 8, 6, 2))[0]
            fate = rng.choices(("paid", "retried", "abandoned"), weights=(95, 3, 2))[0]
        # JPY has no minor unit: 4800 is 4800 yen. Elsewhere prices like 12.94 or 89.99.
        amount = rng.randint(15, 300) * 100 if currency == "jpy" else rng.randint(1200, 25_000) // 5 * 5 - 1
        self._order_seq += 1
        order_id = f"ORD-{self._order_seq}"
        name = rng.choice(_NAMES)
        email = name.lower().replace(" ", ".") + "@example.com"
        pi = self._new_payment_intent(ts, amount, currency, order_id, email)
        if fate == "abandoned":
            pi.update(status="canceled", canceled_at=ts + 3600, cancellation_reason="abandoned")
            return
        card = self._card(currency)
        if fate == "retried":
            self._new_charge(ts, pi, card, name, email, succeeded=False)
            ts += rng.randint(30, 600)
            card = self._card(currency)
        charge = self._new_charge(ts, pi, card, name, email, succeeded=True)
        if forced:
            self._forced[(day, n)] = charge
            self._schedule_forced(day, n, charge)
            return
        if rng.random() < 0.06:
            full = rng.random() < 0.5
            self._schedule(
                day + rng.randint(1, 8),
                rng.randint(3600, 23 * 3600),
                "refund",
                charge["id"],
                None if full else round(rng.uniform(0.1, 0.5), 2),
            )
        elif rng.random() < 0.006:
            outcome = rng.choice(("won", "lost", "open"))
            self._schedule(
                day + rng.randint(2, 8),
                rng.randint(3600, 23 * 3600),
                "dispute_open",
                charge["id"],
                outcome,
                rng.randint(6, 10),
            )

    def _schedule_forced(self, day: int, n: int, charge: Obj) -> None:
        ch = charge["id"]
        if (day, n) == (0, 0):  # EUR charge partially refunded two days later, at a new rate
            self._schedule(FX_PARTIAL_REFUND_DAY, 10 * 3600, "refund", ch, 0.4)
        elif (day, n) == (0, 1):  # GBP charge disputed and lost
            wait = DISPUTE_LOST_CLOSE_DAY - DISPUTE_LOST_OPEN_DAY
            self._schedule(DISPUTE_LOST_OPEN_DAY, 11 * 3600, "dispute_open", ch, "lost", wait)
        elif (day, n) == (0, 2):  # USD charge fully refunded
            self._schedule(FULL_REFUND_DAY, 12 * 3600, "refund", ch, None)
        elif (day, n) == (0, 3):  # USD charge disputed and won
            wait = DISPUTE_WON_CLOSE_DAY - DISPUTE_WON_OPEN_DAY
            self._schedule(DISPUTE_WON_OPEN_DAY, 13 * 3600, "dispute_open", ch, "won", wait)
        elif (day, n) == (1, 2):  # USD charge disputed, still undecided
            self._schedule(DISPUTE_OPEN_DAY, 14 * 3600, "dispute_open", ch, "open", 0)
        elif (day, n) == (1, 1):  # USD charge refunded in three partial refunds
            for d, share in zip(MULTI_PARTIAL_REFUND_DAYS, (0.25, 0.25, 0.1), strict=True):
                self._schedule(d, 15 * 3600, "refund", ch, share)

    def _card(self, currency: str) -> Obj:
        rng = self._rng
        brand = rng.choice(_BRANDS)
        return {
            "brand": brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": "pass", "cvc_check": "pass"},
            "country": _CARD_COUNTRY[currency],
            "exp_month": rng.randint(1, 12),
            "exp_year": rng.randint(2026, 2032),
            "fingerprint": self._rand(16),
            "funding": rng.choice(("credit", "credit", "debit")),
            "installments": None,
            "last4": f"{rng.randint(0, 9999):04d}",
            "mandate": None,
            "network": brand,
            "network_token": {"used": False},
            "three_d_secure": None,
            "wallet": None,
        }

    def _new_payment_intent(self, ts: int, amount: int, currency: str, order_id: str, email: str) -> Obj:
        pi_id = self._id("pi")
        pi: Obj = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": 0,
            "application": None,
            "application_fee_amount": None,
            "automatic_payment_methods": None,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic",
            "client_secret": f"{pi_id}_secret_{self._rand(25)}",
            "confirmation_method": "automatic",
            "created": ts,
            "currency": currency,
            "customer": None,
            "description": f"Order {order_id}",
            "invoice": None,
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": {"order_id": order_id},
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": None,
            "payment_method_options": {
                "card": {
                    "installments": None,
                    "mandate_options": None,
                    "network": None,
                    "request_three_d_secure": "automatic",
                }
            },
            "payment_method_types": ["card"],
            "processing": None,
            "receipt_email": email,
            "review": None,
            "setup_future_usage": None,
            "shipping": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "requires_payment_method",
            "transfer_data": None,
            "transfer_group": None,
        }
        self.cols["payment_intents"].stage(pi)
        return pi

    def _new_charge(self, ts: int, pi: Obj, card: Obj, name: str, email: str, *, succeeded: bool) -> Obj:
        amount, currency = pi["amount"], pi["currency"]
        ch_id = self._id("ch")
        pm_id = self._id("pm")
        charge: Obj = {
            "id": ch_id,
            "object": "charge",
            "amount": amount,
            "amount_captured": amount if succeeded else 0,
            "amount_refunded": 0,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": None,
            "billing_details": {
                "address": {
                    "city": None,
                    "country": card["country"],
                    "line1": None,
                    "line2": None,
                    "postal_code": f"{self._rng.randint(10000, 99999)}",
                    "state": None,
                },
                "email": email,
                "name": name,
                "phone": None,
            },
            "calculated_statement_descriptor": "ECOMOPS DEMO",
            "captured": succeeded,
            "created": ts,
            "currency": currency,
            "customer": None,
            "description": pi["description"],
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": None if succeeded else "card_declined",
            "failure_message": None if succeeded else "Your card was declined.",
            "fraud_details": {},
            "invoice": None,
            "livemode": False,
            "metadata": dict(pi["metadata"]),  # Stripe copies the PaymentIntent's metadata
            "on_behalf_of": None,
            "outcome": {
                "network_status": "approved_by_network" if succeeded else "declined_by_network",
                "reason": None if succeeded else "generic_decline",
                "risk_level": "normal",
                "risk_score": self._rng.randint(0, 60),
                "seller_message": "Payment complete."
                if succeeded
                else "The bank did not return any further details with this decline.",
                "type": "authorized" if succeeded else "issuer_declined",
            },
            "paid": succeeded,
            "payment_intent": pi["id"],
            "payment_method": pm_id,
            "payment_method_details": {"card": card, "type": "card"},
            "receipt_email": email,
            "receipt_number": None,
            "receipt_url": None,
            "refunded": False,
            "review": None,
            "shipping": None,
            "source_transfer": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "succeeded" if succeeded else "failed",
            "transfer_data": None,
            "transfer_group": None,
        }
        self.cols["charges"].stage(charge)
        pi["latest_charge"] = ch_id
        pi["payment_method"] = pm_id
        if not succeeded:
            pi["last_payment_error"] = {
                "charge": ch_id,
                "code": "card_declined",
                "decline_code": "generic_decline",
                "message": "Your card was declined.",
                "type": "card_error",
            }
            return charge
        pi.update(status="succeeded", amount_received=amount, last_payment_error=None)
        settled, rate = self._settle(amount, currency)
        bt = self._new_bt(
            ts,
            amount=settled,
            type_="charge",
            category="charge",
            source=ch_id,
            description=pi["description"],
            available_on=self._day_start((ts - self.start_ts) // DAY + 2),
            fee_details=[self._stripe_fee(card_fee(settled, currency != "usd"), "Stripe processing fees")],
            exchange_rate=rate,
        )
        charge["balance_transaction"] = bt["id"]
        return charge

    def _charge(self, ch_id: str) -> Obj:
        charge = self.cols["charges"].get(ch_id)
        if charge is None:  # created earlier today: still staged
            charge = next(c for c in self.cols["charges"]._buffer if c["id"] == ch_id)
        return charge

    def _ev_refund(self, ts: int, ch_id: str, share: float | None) -> None:
        charge = self._charge(ch_id)
        remaining = charge["amount"] - charge["amount_refunded"]
        if charge["disputed"] or remaining <= 0:
            return  # Stripe refuses to refund a disputed or fully refunded charge
        amount = remaining if share is None else min(remaining, max(1, round(charge["amount"] * share)))
        self._new_refund(ts, charge, amount)

    def _new_refund(self, ts: int, charge: Obj, amount: int) -> Obj:
        ch_id = charge["id"]
        settled, rate = self._settle(amount, charge["currency"])
        re_id = self._id("re")
        bt = self._new_bt(
            ts,
            amount=-settled,
            type_="refund",
            category="refund",
            source=re_id,
            description=f"REFUND FOR CHARGE ({charge['description']})",
            available_on=self._day_start((ts - self.start_ts) // DAY + 1),
            exchange_rate=rate,
        )
        refund: Obj = {
            "id": re_id,
            "object": "refund",
            "amount": amount,
            "balance_transaction": bt["id"],
            "charge": ch_id,
            "created": ts,
            "currency": charge["currency"],
            "metadata": {},
            "payment_intent": charge["payment_intent"],
            "reason": "requested_by_customer",
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        }
        self.cols["refunds"].stage(refund)
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        return refund

    def _ev_dispute_open(self, ts: int, ch_id: str, outcome: str, wait_days: int) -> None:
        charge = self._charge(ch_id)
        if charge["disputed"] or charge["amount_refunded"]:
            return
        settled, rate = self._settle(charge["amount"], charge["currency"])
        dp_id = "dp_1" + self._rand(23)
        withdrawal = self._new_bt(
            ts,
            amount=-settled,
            type_="adjustment",
            category="dispute",
            source=dp_id,
            description=f"Chargeback withdrawal for {ch_id}",
            available_on=self._day_start((ts - self.start_ts) // DAY + 1),
            fee_details=[self._stripe_fee(DISPUTE_FEE, "Dispute fee")],
            exchange_rate=rate,
        )
        dispute: Obj = {
            "id": dp_id,
            "object": "dispute",
            "amount": charge["amount"],
            "balance_transactions": [withdrawal],
            "charge": ch_id,
            "created": ts,
            "currency": charge["currency"],
            "evidence": dict.fromkeys(_EVIDENCE_FIELDS),
            "evidence_details": {
                "due_by": ts + 7 * DAY,
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            "is_charge_refundable": False,
            "livemode": False,
            "metadata": {},
            "payment_intent": charge["payment_intent"],
            "payment_method_details": {
                "card": {"brand": charge["payment_method_details"]["card"]["brand"], "network_reason_code": "10.4"},
                "type": "card",
            },
            "reason": self._rng.choice(("fraudulent", "product_not_received", "duplicate")),
            "status": "needs_response",
        }
        self.cols["disputes"].stage(dispute)
        charge["disputed"] = True
        day = (ts - self.start_ts) // DAY
        self._schedule(day + 2, 10 * 3600, "dispute_evidence", dp_id)
        if outcome != "open":
            self._schedule(day + wait_days, 16 * 3600, "dispute_close", dp_id, outcome)

    def _dispute(self, dp_id: str) -> Obj:
        dispute = self.cols["disputes"].get(dp_id)
        assert dispute is not None, dp_id  # evidence and closing are always days after opening
        return dispute

    def _ev_dispute_evidence(self, ts: int, dp_id: str) -> None:
        dispute = self._dispute(dp_id)
        dispute["evidence"].update(
            customer_name=self._charge(dispute["charge"])["billing_details"]["name"],
            uncategorized_text="Order shipped with tracking; customer confirmed delivery.",
        )
        dispute["evidence_details"].update(has_evidence=True, submission_count=1)
        dispute["status"] = "under_review"

    def _ev_dispute_close(self, ts: int, dp_id: str, outcome: str) -> None:
        dispute = self._dispute(dp_id)
        dispute["status"] = outcome
        if outcome != "won":
            return  # lost: the withdrawal and the fee stay where they are
        withdrawal = dispute["balance_transactions"][0]
        # Won: Stripe reinstates the disputed funds and refunds the dispute fee, as a
        # negative fee on a dispute_reversal line (see dj-stripe's funds_reinstated fixture).
        reinstatement = self._new_bt(
            ts,
            amount=-withdrawal["amount"],
            type_="adjustment",
            category="dispute_reversal",
            source=dp_id,
            description=f"Chargeback reversal for {dispute['charge']}",
            available_on=self._day_start((ts - self.start_ts) // DAY + 2),
            fee_details=[self._stripe_fee(-DISPUTE_FEE, "Dispute fee refund")],
            exchange_rate=withdrawal["exchange_rate"],
        )
        dispute["balance_transactions"].append(reinstatement)

    def _new_payout(self, ts: int, amount: int, *, automatic: bool, arrival: int) -> tuple[Obj, Obj]:
        po_id = "po_1" + self._rand(23)
        bt = self._new_bt(
            ts,
            amount=-amount,
            type_="payout",
            category="payout",
            source=po_id,
            description="STRIPE PAYOUT",
            available_on=self._day_start((ts - self.start_ts) // DAY),
            # An automatic payout's own line is part of its own itemization; an instant
            # payout's line stays in the balance and is swept into the next automatic payout.
            unpaid=not automatic,
        )
        payout: Obj = {
            "id": po_id,
            "object": "payout",
            "amount": amount,
            "arrival_date": arrival,
            "automatic": automatic,
            "balance_transaction": bt["id"],
            "created": ts,
            "currency": "usd",
            "description": "STRIPE PAYOUT",
            "destination": self.bank_account_id,
            "failure_balance_transaction": None,
            "failure_code": None,
            "failure_message": None,
            "livemode": False,
            "metadata": {},
            "method": "standard" if automatic else "instant",
            "original_payout": None,
            "reconciliation_status": "completed" if automatic else "not_applicable",
            "reversed_by": None,
            "source_type": "card",
            "statement_descriptor": None,
            "status": "pending",
            "type": "bank_account",
        }
        self.cols["payouts"].stage(payout)
        return payout, bt

    def _ev_payout(self, ts: int) -> None:
        day = (ts - self.start_ts) // DAY
        start = self._day_start(day)
        lines = [bt for bt in self._unpaid if bt["available_on"] <= start]
        total = sum(bt["net"] for bt in lines)
        if day == MIN_BALANCE_RELEASE_DAY and self._held:
            lines.append(
                self._new_bt(
                    ts,
                    amount=self._held,
                    type_="payout_minimum_balance_release",
                    category="payout_minimum_balance_release",
                    source=None,
                    description="Payout minimum balance release",
                    available_on=start,
                )
            )
            total += self._held
            self._held = 0
        if day == MIN_BALANCE_HOLD_DAY and total > 0:
            self._held = min(MIN_BALANCE_HOLD, total // 2)
            lines.append(
                self._new_bt(
                    ts,
                    amount=-self._held,
                    type_="payout_minimum_balance_hold",
                    category="payout_minimum_balance_hold",
                    source=None,
                    description="Payout minimum balance hold",
                    available_on=start,
                )
            )
            total -= self._held
        if total == 0 or (total < 0 and not self._quiet):
            # Nothing to pay, or a negative balance the next days' sales will cover: the lines
            # wait for a later payout. Winding down, no sale will: see settle().
            return
        payout, own = self._new_payout(ts + 1, total, automatic=True, arrival=start + 2 * DAY)
        paid = {id(bt) for bt in lines}
        self._unpaid = [bt for bt in self._unpaid if id(bt) not in paid]
        self._payout_members[payout["id"]] = [bt["id"] for bt in lines] + [own["id"]]
        self._payout_by_day[day] = payout

    def _ev_payout_failure(self, ts: int) -> None:
        payout = self._payout_by_day.get(FAILED_PAYOUT_DAY)
        if payout is None:
            return
        # The bank returned the money days after the payout was marked paid: a
        # payout_failure line puts it back in the balance, for the next payout to carry.
        bt = self._new_bt(
            ts,
            amount=payout["amount"],
            type_="payout_failure",
            category="payout_reversal",
            source=payout["id"],
            description="Payout failure: account_closed",
            available_on=self._day_start((ts - self.start_ts) // DAY),
        )
        payout.update(
            failure_balance_transaction=bt["id"],
            failure_code="account_closed",
            failure_message="The bank account has been closed.",
        )
        self._failed_payouts.add(payout["id"])

    def _ev_instant_payout(self, ts: int) -> None:
        # Instant Payouts draw on card funds that are still pending too (Stripe's
        # instant_available balance); daily payouts leave little else.
        instant_available = sum(bt["net"] for bt in self._unpaid)
        amount = instant_available * 4 // 10
        if amount <= 0:
            return
        day_start = self._day_start((ts - self.start_ts) // DAY)
        payout, _bt = self._new_payout(ts, amount, automatic=False, arrival=day_start)
        self._manual_payouts.add(payout["id"])
        # Stripe takes its fee from the balance, not from the payout: the payout's own line
        # carries no fee (the advance-funding example in docs.stripe.com/payouts/instant-payouts
        # lists it with fee 0), and the fee is a Stripe fee of its own (type ``stripe_fee``,
        # category ``fee``, no source). Like the payout's line, it stays in the balance until
        # the next automatic payout sweeps it in, so that payout is smaller by the fee.
        self._new_bt(
            ts,
            amount=-instant_payout_fee(amount),
            type_="stripe_fee",
            category="fee",
            source=None,
            description=f"Instant Payout fee ({payout['id']})",
            available_on=day_start,
        )

    def _refresh_statuses(self) -> None:
        now = self.now
        for bt in self.cols["balance_transactions"].items:
            bt["status"] = "available" if bt["available_on"] <= now else "pending"
        for payout in self.cols["payouts"].items:
            if payout["id"] in self._failed_payouts:
                payout["status"] = "failed"
            else:
                payout["status"] = "paid" if payout["arrival_date"] <= now else "in_transit"


# Every field of a dispute's ``evidence`` hash in API version 2023-08-16 (all null until submitted).
_EVIDENCE_FIELDS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
)


# --------------------------------------------------------------------------- scale ledger

_MASK64 = (1 << 64) - 1
_MAX_REMEMBERED_IDS = 1_000_000  # ~100 MB at most


def _mix64(x: int) -> int:
    """splitmix64's finalizer: a cheap, well-spread pure function of ``x``."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


class _LazySeq:
    """A Seq whose object ``pos`` is computed on demand by the ledger."""

    def __init__(
        self,
        length: Callable[[], int],
        make: Callable[[int], Obj],
        created: Callable[[int], int],
        find: Callable[[str], int | None],
        field: Callable[[int, str], Any] | None = None,
    ) -> None:
        self._length, self._make, self._created, self._find, self._field = length, make, created, find, field

    def __len__(self) -> int:
        return self._length()

    def item(self, pos: int) -> Obj:
        return self._make(pos)

    def created(self, pos: int) -> int:
        return self._created(pos)

    def find(self, obj_id: str) -> int | None:
        pos = self._find(obj_id)
        return pos if pos is not None and 0 <= pos < self._length() else None

    def field(self, pos: int, name: str) -> Any:
        if self._field is not None:
            return self._field(pos, name)
        return self._make(pos).get(name)


class _RangeSeq:
    """Positions ``[lo, hi)`` of another Seq (one scale payout's contiguous lines)."""

    def __init__(self, base: Seq, lo: int, hi: int) -> None:
        self.base, self.lo, self.hi = base, lo, hi

    def __len__(self) -> int:
        return self.hi - self.lo

    def item(self, pos: int) -> Obj:
        return self.base.item(self.lo + pos)

    def created(self, pos: int) -> int:
        return self.base.created(self.lo + pos)

    def find(self, obj_id: str) -> int | None:
        pos = self.base.find(obj_id)
        return None if pos is None or not self.lo <= pos < self.hi else pos - self.lo

    def field(self, pos: int, name: str) -> Any:
        return self.base.field(self.lo + pos, name)


class ScaleLedger:
    """N balance transactions generated lazily by index, for benchmarks.

    Layout: blocks of ``payout_every`` charge lines followed by the line of the automatic
    payout that pays them out, so balance transaction ``i`` is in block ``i // (K + 1)``
    and is that block's payout line when ``i % (K + 1) == K``. Every ~20th charge is in
    EUR, settled in USD with an ``exchange_rate``. Refunds and disputes are empty.
    Object ``i`` depends only on ``(seed, i)``; ``advance`` appends more indices.
    """

    def __init__(
        self,
        n: int,
        seed: int = 1,
        start: date = DEFAULT_START,
        days: int = 30,
        payout_every: int = 1000,
    ) -> None:
        if n < 0 or payout_every < 1:
            raise ValueError("n must be >= 0 and payout_every >= 1")
        self.n = n
        self.seed = seed
        self.k = payout_every
        self.start_ts = day_ts(start)
        self.step = max(1, days * DAY // max(n, 1))  # seconds between consecutive lines
        self.per_day = max(1, DAY // self.step)
        self.account_id = "acct_1Scale" + _b62(_mix64(seed), 10)
        self._salt = _mix64(seed * 0x2545F4914F6CDD1D + 7)
        self._ids: dict[tuple[str, int], str] = {}
        self._account = _account_object(self.account_id, self.start_ts - 90 * DAY)
        self._payout_amount = lru_cache(maxsize=4096)(self._compute_payout_amount)
        self.bt_seq = _LazySeq(lambda: self.n, self._bt, self._bt_created, self._bt_find, self._bt_field)
        self.charge_seq = _LazySeq(self._n_charges, self._charge, self._charge_created, self._charge_find("ch"))
        self.pi_seq = _LazySeq(self._n_charges, self._pi, self._charge_created, self._charge_find("pi"))
        self.payout_seq = _LazySeq(self._n_payouts, self._payout, self._payout_created, self._payout_find)

    @property
    def now(self) -> int:
        return self.start_ts + self.n * self.step

    # ids embed the index: prefix, "S", 7 base62 digits of the index, 16 check characters
    def _make_id(self, prefix: str, idx: int) -> str:
        # Each id is made for several objects (a charge's id is in the charge, its balance
        # transaction and its payment intent), in lists read one after another: remembered,
        # up to a bound, as making them was half of the sandbox's time.
        key = (prefix, idx)
        made = self._ids.get(key)
        if made is None:
            # int.from_bytes, not hash(): str hashes change between processes (PYTHONHASHSEED)
            tail = _mix64(self._salt ^ (idx * 0x100000001B3 & _MASK64) ^ int.from_bytes(prefix.encode(), "big"))
            made = f"{prefix}_S{_b62(idx, 7)}{_b62(tail, 11)}{_b62(tail >> 7, 5)}"
            if len(self._ids) >= _MAX_REMEMBERED_IDS:
                self._ids.clear()
            self._ids[key] = made
        return made

    def _parse_id(self, prefix: str, obj_id: str) -> int | None:
        head = prefix + "_S"
        if not obj_id.startswith(head) or len(obj_id) != len(head) + 23:
            return None
        idx = 0
        for ch in obj_id[len(head) : len(head) + 7]:
            digit = _B62.find(ch)
            if digit < 0:
                return None
            idx = idx * 62 + digit
        return idx if self._make_id(prefix, idx) == obj_id else None

    # ----------------------------------------------------------------- counts and geometry

    def _n_payouts(self) -> int:
        return self.n // (self.k + 1)

    def _n_charges(self) -> int:
        full, rest = divmod(self.n, self.k + 1)
        return full * self.k + min(rest, self.k)

    def _bt_index_of_charge(self, c: int) -> int:
        b, r = divmod(c, self.k)
        return b * (self.k + 1) + r

    def _bt_created(self, i: int) -> int:
        return self.start_ts + i * self.step

    def _charge_created(self, c: int) -> int:
        return self._bt_created(self._bt_index_of_charge(c))

    def _payout_created(self, b: int) -> int:
        return self._bt_created(b * (self.k + 1) + self.k)

    # ----------------------------------------------------------------- money of charge c

    def _charge_money(self, c: int) -> tuple[str, int, int, float | None, int]:
        """(currency, presentment amount, USD amount, exchange_rate, fee) of charge ``c``."""
        h = _mix64(self._salt + c)
        usd = 500 + h % 49_500
        if (h >> 40) % 20 == 0:
            rate = round(1.05 + ((h >> 20) % 800) / 10_000, 6)
            eur = max(50, int(usd / rate))
            usd = convert(eur, "eur", rate)
            return "eur", eur, usd, rate, card_fee(usd, True)
        return "usd", usd, usd, None, card_fee(usd, False)

    def _compute_payout_amount(self, b: int) -> int:
        total = 0
        for c in range(b * self.k, (b + 1) * self.k):
            _cur, _amt, usd, _rate, fee = self._charge_money(c)
            total += usd - fee
        return total

    # ----------------------------------------------------------------- objects

    def _bt_field(self, i: int, name: str) -> Any:
        if name == "type" or name == "reporting_category":
            return "payout" if i % (self.k + 1) == self.k else "charge"
        return self._bt(i).get(name)

    def _bt(self, i: int) -> Obj:
        b, r = divmod(i, self.k + 1)
        created = self._bt_created(i)
        if r == self.k:
            amount = self._payout_amount(b)
            return {
                "id": self._make_id("txn", i),
                "object": "balance_transaction",
                "amount": -amount,
                "available_on": created - created % DAY,
                "created": created,
                "currency": "usd",
                "description": "STRIPE PAYOUT",
                "exchange_rate": None,
                "fee": 0,
                "fee_details": [],
                "net": -amount,
                "reporting_category": "payout",
                "source": self._make_id("po", b),
                "status": "available",
                "type": "payout",
            }
        c = b * self.k + r
        _cur, _amt, usd, rate, fee = self._charge_money(c)
        return {
            "id": self._make_id("txn", i),
            "object": "balance_transaction",
            "amount": usd,
            "available_on": created - created % DAY,
            "created": created,
            "currency": "usd",
            "description": f"Order SCL-{c}",
            "exchange_rate": rate,
            "fee": fee,
            "fee_details": [
                {
                    "amount": fee,
                    "application": None,
                    "currency": "usd",
                    "description": "Stripe processing fees",
                    "type": "stripe_fee",
                }
            ],
            "net": usd - fee,
            "reporting_category": "charge",
            "source": self._make_id("ch", c),
            "status": "available",
            "type": "charge",
        }

    def _bt_find(self, obj_id: str) -> int | None:
        return self._parse_id("txn", obj_id)

    def _charge_find(self, prefix: str) -> Callable[[str], int | None]:
        return lambda obj_id: self._parse_id(prefix, obj_id)

    def _charge(self, c: int) -> Obj:
        currency, amount, _usd, _rate, _fee = self._charge_money(c)
        created = self._charge_created(c)
        return {
            "id": self._make_id("ch", c),
            "object": "charge",
            "amount": amount,
            "amount_captured": amount,
            "amount_refunded": 0,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": self._make_id("txn", self._bt_index_of_charge(c)),
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "calculated_statement_descriptor": "ECOMOPS DEMO",
            "captured": True,
            "created": created,
            "currency": currency,
            "customer": None,
            "description": f"Order SCL-{c}",
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": None,
            "failure_message": None,
            "fraud_details": {},
            "invoice": None,
            "livemode": False,
            "metadata": {"order_id": f"SCL-{c}"},
            "on_behalf_of": None,
            "outcome": {
                "network_status": "approved_by_network",
                "reason": None,
                "risk_level": "normal",
                "risk_score": 10,
                "seller_message": "Payment complete.",
                "type": "authorized",
            },
            "paid": True,
            "payment_intent": self._make_id("pi", c),
            "payment_method": None,
            "payment_method_details": None,
            "receipt_email": None,
            "receipt_number": None,
            "receipt_url": None,
            "refunded": False,
            "review": None,
            "shipping": None,
            "source_transfer": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "succeeded",
            "transfer_data": None,
            "transfer_group": None,
        }

    def _pi(self, c: int) -> Obj:
        currency, amount, _usd, _rate, _fee = self._charge_money(c)
        pi_id = self._make_id("pi", c)
        return {
            "id": pi_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": amount,
            "application": None,
            "application_fee_amount": None,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic",
            "client_secret": f"{pi_id}_secret_scale",
            "confirmation_method": "automatic",
            "created": self._charge_created(c),
            "currency": currency,
            "customer": None,
            "description": f"Order SCL-{c}",
            "latest_charge": self._make_id("ch", c),
            "livemode": False,
            "metadata": {"order_id": f"SCL-{c}"},
            "payment_method_types": ["card"],
            "status": "succeeded",
        }

    def _payout(self, b: int) -> Obj:
        created = self._payout_created(b)
        arrival = created - created % DAY + 2 * DAY
        return {
            "id": self._make_id("po", b),
            "object": "payout",
            "amount": self._payout_amount(b),
            "arrival_date": arrival,
            "automatic": True,
            "balance_transaction": self._make_id("txn", b * (self.k + 1) + self.k),
            "created": created,
            "currency": "usd",
            "description": "STRIPE PAYOUT",
            "destination": "ba_1ScaleBankAccount00000",
            "failure_balance_transaction": None,
            "failure_code": None,
            "failure_message": None,
            "livemode": False,
            "metadata": {},
            "method": "standard",
            "original_payout": None,
            "reconciliation_status": "completed",
            "reversed_by": None,
            "source_type": "card",
            "statement_descriptor": None,
            "status": "paid" if arrival <= self.now else "in_transit",
            "type": "bank_account",
        }

    def _payout_find(self, obj_id: str) -> int | None:
        return self._parse_id("po", obj_id)

    # ----------------------------------------------------------------- Ledger protocol

    def seq(self, resource: str) -> Seq:
        if resource == "balance_transactions":
            return self.bt_seq
        if resource == "charges":
            return self.charge_seq
        if resource == "payment_intents":
            return self.pi_seq
        if resource == "payouts":
            return self.payout_seq
        if resource in RESOURCES:
            return EmptySeq()
        raise KeyError(resource)

    def get(self, resource: str, obj_id: str) -> Obj | None:
        seq = self.seq(resource)
        pos = seq.find(obj_id)
        return None if pos is None else seq.item(pos)

    def payout_lines(self, payout_id: str) -> Seq | None:
        b = self.payout_seq.find(payout_id)
        if b is None:
            return None
        return _RangeSeq(self.bt_seq, b * (self.k + 1), (b + 1) * (self.k + 1))

    def balance(self) -> Obj:
        unpaid = sum(
            self._charge_money(c)[2] - self._charge_money(c)[4]
            for c in range(self._n_payouts() * self.k, self._n_charges())
        )
        return _balance_object(unpaid, 0)

    def account(self) -> Obj:
        return self._account

    def advance(self, days: int = 1) -> dict[str, int]:
        before = {name: len(self.seq(name)) for name in RESOURCES}
        self.n += days * self.per_day
        return {name: len(self.seq(name)) - before[name] for name in RESOURCES}

    def refund(self, charge_id: str, amount: int | None = None) -> Obj:
        raise RefundError("The scale ledger has no refunds: it is generated by index, for benchmarks.")

    def fail_refund(self, refund_id: str, reason: str = "expired_or_canceled_card") -> Obj:
        raise RefundError("The scale ledger has no refunds: it is generated by index, for benchmarks.")


def build_business(
    seed: int = 1,
    days: int = 30,
    start: date = DEFAULT_START,
    orders_per_day: int = 20,
    scale_objects: int | None = None,
    *,
    settle: bool = False,
) -> StripeBusiness | ScaleLedger:
    """The small simulated business (wound down after its ``days`` with ``settle``, see
    :meth:`StripeBusiness.settle`), or a :class:`ScaleLedger` of ``scale_objects`` lines."""
    if scale_objects is not None:
        if settle:
            raise ValueError("settle is for the small business; the scale ledger has nothing to wind down")
        return ScaleLedger(scale_objects, seed=seed, start=start, days=days)
    return StripeBusiness(seed=seed, days=days, start=start, orders_per_day=orders_per_day, settle=settle)
