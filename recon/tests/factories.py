"""Canonical rows for recon tests, written through the one upsert path (``canonical.upsert``).

Build rows with the ``*_row`` helpers (they fill every field a normalizer would), write them
with ``write(conn, *rows)``, reconcile with ``reconcile()`` and read the outcome with
``found()``. Amounts are minor units; every test states its numbers by hand.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.utils import timezone

from canonical.rows import CanonicalRow
from canonical.upsert import UpsertResult, upsert_rows
from connections.models import Connection, ConnectionStatus
from connections.tests.factories import ConnectionFactory
from recon.models import ReconException, ReconRun, RunTrigger
from recon.services import recon_run_execute, recon_run_start

# Payout lines happen "yesterday", orders a month ago: orders are past the grace period
# unless a test says otherwise.
LINE_TIME = timezone.now() - timedelta(days=1)
ORDER_TIME = timezone.now() - timedelta(days=30)


def connection(provider: str = "stripe", **overrides: Any) -> Connection:
    """A connection that synced a minute ago (so runs are not stale)."""
    fields = {
        "provider": provider,
        "name": f"{provider.title()} test",
        "status": ConnectionStatus.OK,
        "last_sync_succeeded_at": timezone.now() - timedelta(minutes=1),
    }
    if provider == "shopify":
        fields["credentials"] = {"access_token": "shpat_test_factory_000000"}
        fields["base_url"] = "https://example.myshopify.com"
    fields.update(overrides)
    return ConnectionFactory(**fields)


def write(conn: Connection, *rows: CanonicalRow) -> UpsertResult:
    return upsert_rows(rows, connection_id=conn.pk, tenant_id=conn.tenant_id)


def _row(kind: str, source_id: str, fields: dict[str, Any], source: str, created: datetime | None) -> CanonicalRow:
    return CanonicalRow(
        kind=kind,  # type: ignore[arg-type]
        source=source,  # type: ignore[arg-type]
        source_id=source_id,
        fields=fields,
        raw_data={"id": source_id, **{k: str(v) for k, v in fields.items()}},
        source_created_at=created,
    )


def payout_row(
    source_id: str,
    amount: int,
    *,
    currency: str = "USD",
    status: str = "paid",
    automatic: bool = True,
    method: str = "standard",
    failure_code: str | None = None,
    reversal_of: str | None = None,
    source: str = "stripe",
    arrival: date | None = None,
) -> CanonicalRow:
    return _row(
        "payout",
        source_id,
        {
            "currency": currency,
            "amount_minor": amount,
            "status": status,
            "method": method,
            "automatic": automatic,
            "arrival_date": arrival or date.today(),
            "failure_code": failure_code,
            "reversal_of_source_id": reversal_of,
        },
        source,
        LINE_TIME,
    )


def line_row(
    source_id: str,
    *,
    payout: str | None,
    amount: int,
    fee: int = 0,
    net: int | None = None,
    category: str = "charge",
    type: str | None = None,
    object_id: str | None = None,
    currency: str = "USD",
    fee_details: list[int] | None = None,
    exchange_rate: str | None = None,
    source: str = "stripe",
    order_id: str | None = None,
    created: datetime | None = None,
) -> CanonicalRow:
    """A balance transaction. ``net`` defaults to amount - fee, ``fee_details`` to [fee], ``type``
    to the category."""
    details = fee_details if fee_details is not None else ([fee] if fee else [])
    return _row(
        "payout_line",
        source_id,
        {
            "payout_source_id": payout,
            "type": type or category,
            "reporting_category": category,
            "currency": currency,
            "amount_minor": amount,
            "fee_minor": fee,
            "net_minor": amount - fee if net is None else net,
            "fee_details": [
                {"amount_minor": d, "currency": currency, "type": "stripe_fee", "description": None} for d in details
            ],
            "exchange_rate": exchange_rate,
            "source_object_id": object_id,
            "source_object_type": category if object_id else None,
            "source_order_id": order_id,
            "available_on": None,
        },
        source,
        created or LINE_TIME,
    )


def payment_row(
    source_id: str,
    *,
    order: str | None,
    amount: int,
    currency: str = "USD",
    gateway: str = "stripe",
    gift_card: bool = False,
    status: str = "succeeded",
    source: str = "stripe",
    created: datetime | None = None,
) -> CanonicalRow:
    return _row(
        "payment",
        source_id,
        {
            "order_source_id": order,
            "currency": currency,
            "amount_minor": amount,
            "status": status,
            "captured": True,
            "gateway": gateway,
            "is_gift_card": gift_card,
            "balance_transaction_source_id": None,
        },
        source,
        created or ORDER_TIME,
    )


def order_row(
    source_id: str,
    *,
    total: int,
    currency: str = "USD",
    gift_card_sold: int = 0,
    cancelled: bool = False,
    source: str = "stripe",
    created: datetime | None = None,
    financial_status: str = "paid",
) -> CanonicalRow:
    return _row(
        "order",
        source_id,
        {
            "order_number": source_id,
            "currency": currency,
            "total_minor": total,
            "gift_card_sold_minor": gift_card_sold,
            "financial_status": financial_status,
            "cancelled": cancelled,
        },
        source,
        created or ORDER_TIME,
    )


def refund_row(source_id: str, *, payment: str | None, amount: int, currency: str = "USD", source: str = "stripe"):
    return _row(
        "refund",
        source_id,
        {
            "payment_source_id": payment,
            "order_source_id": None,
            "currency": currency,
            "amount_minor": amount,
            "status": "succeeded",
            "reason": None,
        },
        source,
        LINE_TIME,
    )


def dispute_row(source_id: str, *, payment: str, amount: int, status: str, currency: str = "USD"):
    return _row(
        "dispute",
        source_id,
        {
            "payment_source_id": payment,
            "currency": currency,
            "amount_minor": amount,
            "status": status,
            "reason": "fraudulent",
        },
        "stripe",
        LINE_TIME,
    )


def sale(conn: Connection, n: int, *, payout: str, amount: int, fee: int, **line: Any) -> list[CanonicalRow]:
    """An order, its payment (``ch_n``) and the payment's charge line (``txn_ch_n``) in ``payout``."""
    return [
        order_row(f"pi_{n}", total=amount),
        payment_row(f"ch_{n}", order=f"pi_{n}", amount=amount),
        line_row(f"txn_ch_{n}", payout=payout, amount=amount, fee=fee, object_id=f"ch_{n}", **line),
    ]


def payout_own_line(payout: str, amount: int, **overrides: Any) -> CanonicalRow:
    """A payout's own balance transaction (minus its amount; the sum excludes it)."""
    return line_row(f"txn_{payout}", payout=payout, amount=-amount, category="payout", object_id=payout, **overrides)


def reconcile(*, now: datetime | None = None, **scope: Any) -> ReconRun:
    """Run reconciliation now, in the foreground (as ``manage.py recon`` does)."""
    run = recon_run_start(trigger=RunTrigger.COMMAND, enqueue=False, **scope)
    run = recon_run_execute(run=run, now=now)
    assert run.status in ("completed", "stale"), run.error_message
    return run


def found(**filters: Any) -> dict[tuple[str, str], ReconException]:
    """The exceptions by (reason, subject source id)."""
    return {(e.reason, e.subject_ref): e for e in ReconException.objects.filter(**filters)}


def open_found() -> dict[tuple[str, str], ReconException]:
    return found(state__in=["open", "acknowledged"])


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
