"""Canonical data that reconciles, connections and mappings, for the posting tests.

Canonical rows are written only through ``canonical.upsert.upsert_rows`` and reconciled by
the recon app's own services, so a posting test starts from what production would have.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from canonical.rows import CanonicalRow
from canonical.upsert import upsert_rows

DISPUTE_FEE = 1500


def card_fee(amount: int) -> int:
    return round(amount * 29 / 1000) + 30


@dataclass
class PayoutSpec:
    """A Stripe payout and what it pays out: charges, refunds of some of them, disputes."""

    payout_id: str
    charges: tuple[int, ...] = (10000,)
    refunds: tuple[tuple[int, int], ...] = ()  # (charge index, amount refunded)
    disputes: tuple[tuple[int, str], ...] = ()  # (charge index, "lost" | "won")
    arrival: date = date(2026, 11, 3)
    status: str = "paid"
    currency: str = "USD"
    extra_lines: tuple[dict[str, Any], ...] = ()  # e.g. an adjustment: {"category", "amount", "fee"}
    rows: list[CanonicalRow] = field(default_factory=list)

    @property
    def amount_minor(self) -> int:
        return sum(r.fields["net_minor"] for r in self.rows if r.kind == "payout_line" and not self._own(r))

    def _own(self, row: CanonicalRow) -> bool:
        return row.fields["source_object_id"] == self.payout_id


def _at(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


def _line(
    spec: PayoutSpec, txn: str, *, category: str, amount: int, fee: int, obj: str, obj_type: str, line_type: str = ""
) -> CanonicalRow:
    fields = {
        "payout_source_id": spec.payout_id,
        "type": line_type or category,
        "reporting_category": category,
        "currency": spec.currency,
        "amount_minor": amount,
        "fee_minor": fee,
        "net_minor": amount - fee,
        "fee_details": (
            [{"amount_minor": fee, "currency": spec.currency, "type": "stripe_fee", "description": "fee"}]
            if fee
            else []
        ),
        "exchange_rate": None,
        "source_object_id": obj,
        "source_object_type": obj_type,
        "source_order_id": None,
        "available_on": spec.arrival - timedelta(days=1),
    }
    return CanonicalRow(
        kind="payout_line",
        source="stripe",
        source_id=txn,
        fields=fields,
        raw_data={"id": txn, "amount": amount, "fee": fee, "reporting_category": category},
        source_created_at=_at(spec.arrival - timedelta(days=2)),
    )


def build_payout_rows(spec: PayoutSpec) -> PayoutSpec:
    """Fill ``spec.rows`` with the orders, payments, refunds, disputes, lines and the payout."""
    tag = spec.payout_id.removeprefix("po_")
    created = _at(spec.arrival - timedelta(days=2))
    rows: list[CanonicalRow] = []
    charge_ids = []
    for n, amount in enumerate(spec.charges):
        pi, ch = f"pi_{tag}_{n}", f"ch_{tag}_{n}"
        charge_ids.append(ch)
        rows.append(
            CanonicalRow(
                "order",
                "stripe",
                pi,
                {
                    "order_number": pi,
                    "currency": spec.currency,
                    "total_minor": amount,
                    "gift_card_sold_minor": 0,
                    "financial_status": "paid",
                    "cancelled": False,
                },
                {"id": pi, "amount": amount},
                created,
            )
        )
        rows.append(
            CanonicalRow(
                "payment",
                "stripe",
                ch,
                {
                    "order_source_id": pi,
                    "currency": spec.currency,
                    "amount_minor": amount,
                    "status": "succeeded",
                    "captured": True,
                    "gateway": "stripe",
                    "is_gift_card": False,
                    "balance_transaction_source_id": f"txn_{ch}",
                },
                {"id": ch, "amount": amount},
                created,
            )
        )
        rows.append(
            _line(spec, f"txn_{ch}", category="charge", amount=amount, fee=card_fee(amount), obj=ch, obj_type="charge")
        )
    for n, (index, amount) in enumerate(spec.refunds):
        re = f"re_{tag}_{n}"
        rows.append(
            CanonicalRow(
                "refund",
                "stripe",
                re,
                {
                    "payment_source_id": charge_ids[index],
                    "order_source_id": f"pi_{tag}_{index}",
                    "currency": spec.currency,
                    "amount_minor": amount,
                    "status": "succeeded",
                    "reason": "requested_by_customer",
                },
                {"id": re, "amount": amount},
                created,
            )
        )
        rows.append(_line(spec, f"txn_{re}", category="refund", amount=-amount, fee=0, obj=re, obj_type="refund"))
    for n, (index, outcome) in enumerate(spec.disputes):
        dp, amount = f"dp_{tag}_{n}", spec.charges[index]
        rows.append(
            CanonicalRow(
                "dispute",
                "stripe",
                dp,
                {
                    "payment_source_id": charge_ids[index],
                    "currency": spec.currency,
                    "amount_minor": amount,
                    "status": outcome,
                    "reason": "fraudulent",
                },
                {"id": dp, "amount": amount, "status": outcome},
                created,
            )
        )
        rows.append(
            _line(
                spec,
                f"txn_{dp}_w",
                category="dispute",
                amount=-amount,
                fee=DISPUTE_FEE,
                obj=dp,
                obj_type="dispute",
                line_type="adjustment",
            )
        )
        if outcome == "won":
            rows.append(
                _line(
                    spec,
                    f"txn_{dp}_r",
                    category="dispute_reversal",
                    amount=amount,
                    fee=-DISPUTE_FEE,
                    obj=dp,
                    obj_type="dispute",
                    line_type="adjustment",
                )
            )
    for n, extra in enumerate(spec.extra_lines):
        rows.append(
            _line(
                spec,
                f"txn_{tag}_x{n}",
                category=extra["category"],
                amount=extra["amount"],
                fee=extra.get("fee", 0),
                obj=extra.get("object", ""),
                obj_type=extra.get("object_type", ""),
                line_type=extra.get("type", ""),
            )
        )
    spec.rows = rows
    total = spec.amount_minor
    rows.append(
        CanonicalRow(
            "payout",
            "stripe",
            spec.payout_id,
            {
                "currency": spec.currency,
                "amount_minor": total,
                "status": spec.status,
                "method": "standard",
                "automatic": True,
                "arrival_date": spec.arrival,
                "failure_code": "account_closed" if spec.status == "failed" else None,
                "reversal_of_source_id": None,
            },
            {"id": spec.payout_id, "amount": total, "status": spec.status},
            created,
        )
    )
    rows.append(
        _line(
            spec,
            f"txn_{spec.payout_id}",
            category="payout",
            amount=-total,
            fee=0,
            obj=spec.payout_id,
            obj_type="payout",
        )
    )
    return spec


def write_payouts(connection: Any, *specs: PayoutSpec) -> list[PayoutSpec]:
    """Upsert the specs' rows for ``connection`` (in the current tenant and transaction)."""
    from django.db import transaction

    rows = [row for spec in specs for row in build_payout_rows(spec).rows]
    with transaction.atomic():  # the upsert stages rows in a temp table that empties at commit
        upsert_rows(
            rows, connection_id=connection.pk, tenant_id=connection.tenant_id, subsidiary_id=connection.subsidiary_id
        )
    return list(specs)


def fail_payout(connection: Any, source_id: str) -> None:
    """Days after it was paid, the bank returns the money: the payout is failed at the processor."""
    from canonical.upsert import upsert_rows

    spec = build_payout_rows(PayoutSpec(source_id, status="failed"))
    upsert_rows(
        [r for r in spec.rows if r.kind == "payout"],
        connection_id=connection.pk,
        tenant_id=connection.tenant_id,
        subsidiary_id="1",
    )


def reconcile(actor: Any = None) -> Any:
    """Run the recon engine over everything, as ``manage.py recon`` would; return the run."""
    from recon.services import recon_run_execute, recon_run_start

    run = recon_run_start(actor=actor, trigger="command", enqueue=False)
    return recon_run_execute(run=run)


def full_mapping_values(credentials: Any) -> dict[str, Any]:
    """Every account of the sandbox's seeded chart, plus its currency ids."""
    return {
        **{f"{role}_account": internal_id for role, internal_id in credentials.gl_mapping_ids().items()},
        "currency_ids": credentials.currency_ids(),
    }


# Tasks taken off the real broker (ORM or Redis, whichever the settings chose) by the
# helpers below, per tenant, until a test runs them.
_TAKEN: dict[str, list[tuple]] = {}
_KEPT_TASKS = ("netsuite.tasks.posting_send_task", "netsuite.tasks.postings_settle_task")


def _take_posting_tasks(tenant_id: Any) -> list[tuple]:
    """Drain the broker's queue; keep this tenant's posting sends and lookups, acknowledge everything."""
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    broker = get_broker()
    taken = _TAKEN.setdefault(str(tenant_id), [])
    # Redis's dequeue blocks a second on an empty list: ask for the size first.
    while broker.queue_size():
        batch = broker.dequeue()
        if not batch:
            break
        for ack_id, payload in batch:
            task = SignedPackage.loads(payload)
            args = tuple(task.get("args", ()))
            if len(args) >= 3 and args[0] in _KEPT_TASKS and args[1] == str(tenant_id):
                taken.append(args)
            if ack_id is not None:
                broker.acknowledge(ack_id)
    return taken


def queued_posting_ids(tenant_id: Any) -> list[str]:
    """Postings whose send is waiting in the django-q2 queue for this tenant."""
    return [args[2]["posting_id"] for args in _take_posting_tasks(tenant_id) if args[0] == _KEPT_TASKS[0]]


def queued_settle_ids(tenant_id: Any) -> list[list[str]]:
    """The postings each queued lookup task of this tenant will ask NetSuite about."""
    return [args[2]["posting_ids"] for args in _take_posting_tasks(tenant_id) if args[0] == _KEPT_TASKS[1]]


def lose_queued_posting_tasks(tenant_id: Any) -> list[str]:
    """Take this tenant's queued posting sends off the queue and drop them, as a worker that dies
    holding them does; return the postings they were for."""
    tasks = _take_posting_tasks(tenant_id)
    lost = [args[2]["posting_id"] for args in tasks if args[0] == _KEPT_TASKS[0]]
    tasks.clear()
    return lost


def run_queued_posting_tasks(tenant_id: Any) -> list[Any]:
    """Take this tenant's queued posting sends and lookups off the queue and run them as the worker would."""
    from ecomops.tasks import run_tenant_task

    tasks = _take_posting_tasks(tenant_id)
    results = [run_tenant_task(*args) for args in tasks]
    tasks.clear()
    return results
