"""The exceptions queue as CSV: what the queue page's download and the MCP export both write."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from ecomops.money import major_units
from recon import selectors
from recon.models import ReconException

# The exceptions as a controller hands them on (to a colleague, to the auditors): amounts in
# major units, exact, each with its currency.
EXCEPTION_CSV_COLUMNS = [
    "reason",
    "state",
    "subject_type",
    "subject",
    "payout",
    "connection",
    "expected",
    "expected_currency",
    "actual",
    "actual_currency",
    "difference",
    "occurred_on",
    "what",
    "note",
    "note_history",
    "first_seen_at",
    "last_seen_at",
    "acknowledged_by",
    "resolved_by",
    "resolved_at",
]


# What those columns are made of: a full queue is ~100k rows, each read with nothing more.
EXCEPTION_CSV_FIELDS = [
    "reason",
    "state",
    "subject_type",
    "subject_id",
    "subject_ref",
    "payout__source_id",
    "connection__name",
    "connection__provider",
    "expected_minor",
    "expected_currency",
    "actual_minor",
    "actual_currency",
    "detail",
    "occurred_on",
    "note",
    "first_seen_at",
    "last_seen_at",
    "acknowledged_by_email",
    "resolved_by_kind",
    "resolved_by_email",
    "resolved_at",
]


def exception_csv_rows(*, user: Any, exceptions: QuerySet[ReconException]) -> Iterator[ReconException]:
    """The exceptions (a filtered ``selectors.exception_list``) read for the CSV: only the
    columns' fields, each with its history (every note, not only the latest), in chunks."""
    return selectors.with_history_streamed(user=user, exceptions=exceptions.only(*EXCEPTION_CSV_FIELDS))


def exception_csv_row(e: Any) -> list[Any]:
    """One exception (from ``exception_csv_rows``) as a row of ``EXCEPTION_CSV_COLUMNS``."""
    source = e.connection.provider if e.connection else "stripe"
    currency = e.expected_currency or e.actual_currency
    resolved_by = "system" if e.resolved_by_kind == "system" else e.resolved_by_email
    return [
        e.reason,
        e.state,
        e.subject_type,
        e.subject_ref,
        e.payout.source_id if e.payout else "",
        e.connection.name if e.connection else "",
        major_units(e.expected_minor, e.expected_currency, source),
        e.expected_currency,
        major_units(e.actual_minor, e.actual_currency, source),
        e.actual_currency,
        major_units(e.difference_minor, currency, source),
        e.occurred_on or "",
        e.message,
        e.note,
        selectors.note_history_text(e.history),
        e.first_seen_at.isoformat(),
        e.last_seen_at.isoformat(),
        e.acknowledged_by_email,
        resolved_by,
        e.resolved_at.isoformat() if e.resolved_at else "",
    ]
