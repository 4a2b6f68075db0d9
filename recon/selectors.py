"""Reads for reconciliation. Each takes the user and narrows by permission; missing and
forbidden look the same (an empty queryset, or 404)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC
from decimal import Decimal
from typing import Any

from django.db import connection as db
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.template.defaultfilters import pluralize

from audit.models import AuditEvent, Outcome
from audit.services import audit_target_type
from canonical.models import Payout
from connections.models import Connection, ConnectionStatus
from ecomops.money import format_minor
from ecomops.tenancy import current_tenant_id
from recon.filters import PayoutStatusFilter, ReconExceptionFilter, ReconRunFilter
from recon.freshness import freshness_now
from recon.models import OPEN_STATES, PayoutStatus, ReconException, ReconRun, RunStatus
from recon.models import reason_label as _reason_label

# Every list here is paged (page numbers: the same query again with another OFFSET) or exported,
# so its order ends with the primary key: rows tied on the other keys (a run's exceptions share
# its time, one payout id can come from two accounts) would otherwise come back in whatever
# order the plan gives, and one could show on two pages and another on none.


def _filtered(filterset_class: Any, queryset: QuerySet, filters: dict | None) -> QuerySet:
    if not filters:
        return queryset
    filterset = filterset_class(filters, queryset=queryset)
    if not filterset.is_valid():
        from django.core.exceptions import ValidationError

        raise ValidationError(dict(filterset.errors))
    return filterset.qs


def recon_run_list(*, user: Any, filters: dict | None = None) -> QuerySet[ReconRun]:
    if not user.has_perm("recon.view_reconrun"):
        return ReconRun.objects.none()
    # Filter by tenant in the query too: RLS is the wall, not the filter (DESIGN §4).
    queryset = ReconRun.objects.filter(tenant_id=current_tenant_id()).order_by("-queued_at", "pk")
    return _filtered(ReconRunFilter, queryset, filters)


def recon_run_get(*, user: Any, pk: Any) -> ReconRun:
    run = recon_run_list(user=user).filter(pk=pk).first()
    if run is None:
        raise Http404
    return run


def exception_list(*, user: Any, filters: dict | None = None) -> QuerySet[ReconException]:
    if not user.has_perm("recon.view_reconexception"):
        return ReconException.objects.none()
    # A first run opens ~100k exceptions: each row brings its payout's id and its connection's
    # name, never the payout's raw payload nor the connection's credentials (decrypting them once
    # per row took most of a full queue's CSV download).
    queryset = (
        ReconException.objects.filter(tenant_id=current_tenant_id())
        .select_related("connection", "payout")
        .defer("connection__credentials", "payout__raw_data")
        .with_at_stake()
        .order_by("-last_seen_at", "reason", "subject_ref", "pk")
    )
    return _filtered(ReconExceptionFilter, queryset, filters)


def exception_get(*, user: Any, pk: Any) -> ReconException:
    exception = exception_list(user=user).filter(pk=pk).first()
    if exception is None:
        raise Http404
    return exception


# The audit events of an exception's state changes, and what its history calls each: a
# person's (from the page, the API or in bulk, ``recon.services``) and the engine's own (the
# cause gone or back, ``recon.engine``). Every change is audited as it is made.
HISTORY_ACTIONS = {
    "recon.exception_acknowledged": "acknowledged",
    "recon.exception_resolved": "resolved",
    "recon.exception_reopened": "reopened",
}


def exception_histories(*, user: Any, exception_ids: Iterable[Any]) -> dict[str, list[dict[str, Any]]]:
    """Each exception's state changes, oldest first: who (a user's email, or the system), when,
    from and to which state, and the note given. One query for them all, however many.

    The exception itself keeps only the latest note (``note``, ``system_note``); a note given
    on acknowledging is replaced by the one given on resolving. The audit trail keeps each, so
    the history is read from there.
    """
    ids = [str(pk) for pk in exception_ids]
    histories: dict[str, list[dict[str, Any]]] = {pk: [] for pk in ids}
    if not ids or not user.has_perm("recon.view_reconexception"):
        return histories
    events = (
        AuditEvent.objects.filter(
            tenant_id=current_tenant_id(),
            target_type=audit_target_type(ReconException),
            target_id__in=ids,
            action__in=HISTORY_ACTIONS,
            outcome=Outcome.SUCCESS,
        )
        .order_by("created_at", "pk")
        .values_list("target_id", "action", "actor_kind", "actor_email", "created_at", "detail")
    )
    for target_id, action, actor_kind, actor_email, created_at, detail in events:
        histories[target_id].append(
            {
                "action": HISTORY_ACTIONS[action],
                "from_state": detail.get("from", ""),
                "to_state": detail.get("to", ""),
                "by_kind": actor_kind,  # user, or system: the engine
                "by_email": actor_email,
                "at": created_at,
                "note": detail.get("note", ""),
            }
        )
    return histories


def with_history(*, user: Any, exceptions: Iterable[ReconException]) -> list[ReconException]:
    """The exceptions (a page of them, or one), each with its ``history`` (``exception_histories``)."""
    exceptions = list(exceptions)
    histories = exception_histories(user=user, exception_ids=[e.pk for e in exceptions])
    for exception in exceptions:
        exception.history = histories.get(str(exception.pk), [])
    return exceptions


def with_history_streamed(
    *, user: Any, exceptions: QuerySet[ReconException], chunk_size: int = 2000
) -> Iterator[ReconException]:
    """The exceptions as ``with_history`` gives them, for an export of the whole queue (~100k
    rows): read through a cursor ``chunk_size`` at a time, each chunk's histories in one query,
    so memory and the number of queries grow with the chunks, never with the rows.

    Lazy: nothing is read until it is iterated (a CSV reads it as it streams, in the tenant).
    """
    chunk: list[ReconException] = []
    for exception in exceptions.iterator(chunk_size=chunk_size):
        chunk.append(exception)
        if len(chunk) == chunk_size:
            yield from with_history(user=user, exceptions=chunk)
            chunk = []
    if chunk:
        yield from with_history(user=user, exceptions=chunk)


def note_history_text(history: list[dict[str, Any]]) -> str:
    """An exception's history in one cell, oldest first, one entry a line:
    ``2026-11-03 14:02 UTC alice@example.com acknowledged: "Asked Stripe"``.

    The engine's own changes are by ``system``; a change without a note ends at its action.
    A note is written as a JSON string, so a quote, a line break or a `` | `` inside it is
    escaped and an entry never spans two lines: split the cell on line breaks, and read the
    note of an entry with ``json.loads`` of what follows its action's ``": "``.
    """
    entries = []
    for h in history:
        who = "system" if h["by_kind"] == "system" else h["by_email"] or h["by_kind"]
        when = h["at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        entries.append(f"{when} {who} {h['action']}" + (f": {_one_line_json(h['note'])}" if h["note"] else ""))
    return "\n".join(entries)


def _one_line_json(text: str) -> str:
    # JSON escapes \n and \r but, kept readable (ensure_ascii=False), not the other characters
    # that split lines for Python's splitlines() and some editors; escaped too, it stays valid JSON.
    quoted = json.dumps(text, ensure_ascii=False)
    return quoted.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x85", "\\u0085")


def payout_list(*, user: Any, filters: dict | None = None) -> QuerySet[Payout]:
    """Canonical payouts with their reconciliation status (``payout.recon``, None if never evaluated)."""
    if not user.has_perm("recon.view_reconpayout"):
        return Payout.objects.none()
    queryset = (
        Payout.objects.filter(tenant_id=current_tenant_id())
        .select_related("recon", "connection")
        .order_by("-arrival_date", "-source_created_at", "source_id", "pk")
    )
    return _filtered(PayoutStatusFilter, queryset, filters)


def payout_get(*, user: Any, pk: Any) -> Payout:
    payout = payout_list(user=user).filter(pk=pk).first()
    if payout is None:
        raise Http404
    return payout


# ---------------------------------------------------------------------- explain

_EXPLAIN_LINES = """
    SELECT l.id, l.source_id, l.type, l.reporting_category, l.currency, l.amount_minor, l.fee_minor, l.net_minor,
           l.fee_details, l.exchange_rate, l.source_object_id, l.source_object_type, l.source_order_id,
           l.source_created_at,
           pm.id, pm.source_id, pm.currency, pm.amount_minor, pm.gateway, pm.is_gift_card, pm.order_source_id,
           o.id, o.source_id, o.order_number, o.currency, o.total_minor, o.gift_card_sold_minor, o.cancelled,
           r.id, r.source_id, r.currency, r.amount_minor, r.payment_source_id,
           d.id, d.source_id, d.currency, d.amount_minor, d.status, d.payment_source_id,
           op.id, op.source_id, op.amount_minor, op.status
    FROM canonical_payoutline l
    LEFT JOIN canonical_payment pm ON l.reporting_category = 'charge' AND pm.tenant_id = %(t)s
         AND pm.connection_id = l.connection_id AND pm.source_id = l.source_object_id
    LEFT JOIN canonical_order o ON o.tenant_id = %(t)s AND o.connection_id = pm.connection_id
         AND o.source_id = pm.order_source_id
    LEFT JOIN canonical_refund r ON l.reporting_category IN ('refund', 'refund_failure') AND r.tenant_id = %(t)s
         AND r.connection_id = l.connection_id AND r.source_id = l.source_object_id
    LEFT JOIN canonical_dispute d ON l.reporting_category IN ('dispute', 'dispute_reversal') AND d.tenant_id = %(t)s
         AND d.connection_id = l.connection_id AND d.source_id = l.source_object_id
    LEFT JOIN canonical_payout op ON l.reporting_category IN ('payout', 'payout_reversal') AND op.tenant_id = %(t)s
         AND op.connection_id = l.connection_id AND op.source_id = l.source_object_id
    WHERE l.tenant_id = %(t)s AND l.connection_id = %(c)s AND l.payout_source_id = %(p)s
    ORDER BY l.source_created_at NULLS LAST, l.source_id
    LIMIT %(limit)s
"""


# Each category's count and sums over all the payout's lines but its own (the page may list
# only the first ``line_limit`` lines; the totals and the difference never depend on that).
_EXPLAIN_TOTALS = """
    SELECT l.reporting_category, COALESCE(l.source_object_id, '') = %(p)s AS own,
           count(*), sum(l.amount_minor)::bigint, sum(l.fee_minor)::bigint, sum(l.net_minor)::bigint
    FROM canonical_payoutline l
    WHERE l.tenant_id = %(t)s AND l.connection_id = %(c)s AND l.payout_source_id = %(p)s
    GROUP BY 1, 2 ORDER BY 1, 2
"""


def _fee_details_sum(details: Any) -> int | None:
    try:
        return sum(int(d["amount_minor"]) for d in details or [])
    except (KeyError, TypeError, ValueError):
        return None


def _matched(row: tuple, category: str, payout: Payout) -> dict[str, Any] | None:
    (pm_id, pm_ref, pm_cur, pm_amount, gateway, gift, order_ref,
     o_id, o_ref, o_number, o_cur, o_total, o_gift, o_cancelled,
     r_id, r_ref, r_cur, r_amount, r_payment,
     d_id, d_ref, d_cur, d_amount, d_status, d_payment,
     op_id, op_ref, op_amount, op_status) = row[14:]  # fmt: skip
    if pm_id:
        order = None
        if o_id:
            order = {
                "id": str(o_id),
                "source_id": o_ref,
                "order_number": o_number,
                "currency": o_cur,
                "total_minor": o_total,
                # gift cards sold are a liability the customer prepaid, not revenue
                "gift_card_sold_minor": o_gift,
                "cancelled": o_cancelled,
            }
        return {
            "type": "payment",
            "id": str(pm_id),
            "source_id": pm_ref,
            "currency": pm_cur,
            "amount_minor": pm_amount,
            "gateway": gateway,
            "is_gift_card": gift,
            "order_source_id": order_ref or None,
            "order": order,
        }
    if r_id:
        return {
            "type": "refund",
            "id": str(r_id),
            "source_id": r_ref,
            "currency": r_cur,
            "amount_minor": r_amount,
            "payment_source_id": r_payment or None,
        }
    if d_id:
        return {
            "type": "dispute",
            "id": str(d_id),
            "source_id": d_ref,
            "currency": d_cur,
            "amount_minor": d_amount,
            "status": d_status,
            "payment_source_id": d_payment or None,
        }
    if op_id and op_id != payout.pk:
        # another payout's line carried here: an instant payout made in between, or the
        # funds of a failed payout coming back
        return {"type": "payout", "id": str(op_id), "source_id": op_ref, "amount_minor": op_amount, "status": op_status}
    return None


def payout_explain(*, user: Any, payout_id: Any, line_limit: int = 1000) -> dict[str, Any]:
    """Everything about one payout's reconciliation: its lines, what each matched, the
    exceptions and the difference. The basis of the page, the API and the MCP tool.

    Computed live from the canonical tables (the lines of one payout, through the indexes),
    so it is right even between runs; the stored status says what the last run concluded.
    """
    payout = payout_get(user=user, pk=payout_id)
    tenant_id = current_tenant_id()
    source = payout.connection.provider if payout.connection_id else "stripe"
    with db.cursor() as cursor:
        cursor.execute(
            _EXPLAIN_LINES,
            {"t": tenant_id, "c": payout.connection_id, "p": payout.source_id, "limit": max(1, line_limit) + 1},
        )
        rows = cursor.fetchall()
        cursor.execute(_EXPLAIN_TOTALS, {"t": tenant_id, "c": payout.connection_id, "p": payout.source_id})
        categories = cursor.fetchall()
    truncated = len(rows) > line_limit
    rows = rows[:line_limit]
    exceptions = list(
        ReconException.objects.filter(tenant_id=tenant_id, payout=payout)
        .select_related("connection")
        .order_by("state", "reason", "subject_ref")
    )
    histories = exception_histories(user=user, exception_ids=[e.pk for e in exceptions])
    by_subject: dict[str, list[str]] = {}
    for exception in exceptions:
        if exception.state in OPEN_STATES:
            by_subject.setdefault(str(exception.subject_id), []).append(exception.reason)

    by_category: dict[str, dict[str, int]] = {}
    line_count = own_count = total = 0
    for category, own, count, amount, fee, net in categories:
        line_count += count
        if own:  # the payout's own line is listed, never summed
            own_count += count
            continue
        total += net
        by_category[category] = {"count": count, "amount_minor": amount, "fee_minor": fee, "net_minor": net}
    lines = []
    for row in rows:
        (line_id, ref, line_type, category, currency, amount, fee, net, fee_details, rate,
         object_id, object_type, order_id, created) = row[:14]  # fmt: skip
        own = object_id == payout.source_id
        fee_sum = _fee_details_sum(fee_details)
        matched = None if own else _matched(row, category, payout)
        # a line's checks: its own exceptions, and those of what it stands for (a dispute still
        # open, a payment without its order, its order's amount)
        subjects = [str(line_id)]
        if matched:
            subjects.append(matched["id"])
            if matched.get("order"):
                subjects.append(matched["order"]["id"])
        lines.append(
            {
                "id": str(line_id),
                "source_id": ref,
                "type": line_type,
                "category": category,
                "currency": currency,
                "amount_minor": amount,
                "fee_minor": fee,
                "net_minor": net,
                "exchange_rate": str(rate.normalize()) if isinstance(rate, Decimal) else rate,
                "source_object_id": object_id or None,
                "source_object_type": object_type or None,
                "source_order_id": order_id or None,
                "created_at": created.isoformat() if created else None,
                "own_payout_line": own,
                "net_ok": net == amount - fee,
                "fee_ok": fee_sum is None or fee_sum == fee,
                "matched": matched,
                "exceptions": [reason for subject in subjects for reason in by_subject.get(subject, [])],
            }
        )
    recon = getattr(payout, "recon", None)
    itemized = line_count > 0
    difference = payout.amount_minor - total if itemized else None
    open_exceptions = [e for e in exceptions if e.state in OPEN_STATES]
    if not itemized and not payout.automatic:
        summary = (
            f"Payout {payout.source_id} of {format_minor(payout.amount_minor, payout.currency, source)} was made "
            "by hand: the processor lists no lines for it, so it cannot be itemized."
        )
    elif difference == 0:
        summary = (
            f"Its {line_count - own_count} transaction lines add up to the payout, "
            f"{format_minor(payout.amount_minor, payout.currency, source)}."
        )
    else:
        summary = (
            f"The lines add up to {format_minor(total, payout.currency, source)}; the payout is "
            f"{format_minor(payout.amount_minor, payout.currency, source)}: a difference of "
            f"{format_minor(difference, payout.currency, source)}."
        )
    if open_exceptions:  # named as every page names them; ``exceptions`` carries the codes
        count = len(open_exceptions)
        reasons = sorted({e.reason for e in open_exceptions})
        summary += f" {count} open exception{pluralize(count)}: " + "; ".join(_reason_label(r) for r in reasons) + "."
    return {
        "payout": {
            "id": str(payout.pk),
            "source_id": payout.source_id,
            "source": payout.source,
            "connection": {"id": str(payout.connection_id), "name": payout.connection.name, "provider": source},
            "currency": payout.currency,
            "amount_minor": payout.amount_minor,
            "status": payout.status,
            "automatic": payout.automatic,
            "method": payout.method,
            "arrival_date": payout.arrival_date.isoformat() if payout.arrival_date else None,
            "failure_code": payout.failure_code or None,
            "reversal_of_source_id": payout.reversal_of_source_id or None,
        },
        "status": recon.status if recon else None,
        "evaluated_at": recon.evaluated_at.isoformat() if recon else None,
        "last_run_id": str(recon.last_run_id) if recon and recon.last_run_id else None,
        "lines_total_minor": total if itemized else None,
        "difference_minor": difference,
        "difference": format_minor(difference, payout.currency, source) if difference is not None else None,
        "by_category": by_category,
        "line_count": line_count,
        "own_line_count": own_count,  # the payout's own line(s), listed but not summed
        "lines_truncated": truncated,
        "lines": lines,
        "exceptions": [
            {
                "id": str(e.pk),
                "reason": e.reason,
                "state": e.state,
                "subject_type": e.subject_type,
                "subject_ref": e.subject_ref,
                "expected_minor": e.expected_minor,
                "expected_currency": e.expected_currency,
                "actual_minor": e.actual_minor,
                "actual_currency": e.actual_currency,
                "difference_minor": e.difference_minor,
                "message": e.message,
                "note": e.note,
                "system_note": e.system_note,
                "history": [{**h, "at": h["at"].isoformat()} for h in histories[str(e.pk)]],
            }
            for e in exceptions
        ],
        "summary": summary,
    }


# ---------------------------------------------------------------------- dashboard


def recon_summary(*, user: Any) -> dict[str, Any] | None:
    """What the dashboard says about reconciliation: the last run (stale or not), payouts by
    status, open exceptions by reason, and connections whose credentials were refused."""
    if not user.has_perm("recon.view_reconrun"):
        return None
    tenant_id = current_tenant_id()
    last = ReconRun.objects.filter(tenant_id=tenant_id).exclude(status=RunStatus.QUEUED).order_by("-queued_at").first()
    by_status = dict(
        Payout.objects.filter(tenant_id=tenant_id, recon__isnull=False)
        .values_list("recon__status")
        .annotate(n=Count("id"))
        .values_list("recon__status", "n")
    )
    open_by_reason = dict(
        ReconException.objects.filter(tenant_id=tenant_id, state__in=OPEN_STATES)
        .values_list("reason")
        .annotate(n=Count("id"))
        .values_list("reason", "n")
        .order_by("-n")
    )
    broken = list(
        Connection.objects.filter(tenant_id=tenant_id)
        .filter(Q(status=ConnectionStatus.BROKEN) | Q(status=ConnectionStatus.ERROR))
        .order_by("name")
        .values("id", "name", "provider", "status", "status_message")
    )
    # The last run may have read only some connections (the one that just synced): the others
    # are judged as they stand now, so that run's success does not speak for them.
    run_stale = last is not None and last.status == RunStatus.STALE
    flagged = {s.get("connection_id") for s in last.freshness if not s.get("fresh", True)} if run_stale else set()
    stale_reasons = [last.stale_reason] if run_stale and last.stale_reason else []
    if last is not None:
        now = freshness_now().sources
        stale_reasons += [s["reason"] for s in now if not s["fresh"] and s["connection_id"] not in flagged]
    stale = run_stale or bool(stale_reasons)
    all_green = (
        last is not None
        and last.status == RunStatus.COMPLETED
        and not stale
        and not broken
        and not open_by_reason
        and by_status.get(PayoutStatus.EXCEPTIONS, 0) == 0
    )
    judged = by_status.get(PayoutStatus.RECONCILED, 0) + by_status.get(PayoutStatus.EXCEPTIONS, 0)
    return {
        "last_run": last,
        # the share of paid-out payouts that reconciled (pending ones are not judged yet)
        "match_rate": round(100 * by_status.get(PayoutStatus.RECONCILED, 0) / judged) if judged else None,
        "stale": stale,
        "stale_reason": "; ".join(stale_reasons),
        "payouts": {status: by_status.get(status, 0) for status in PayoutStatus.values},
        "open_exceptions": sum(open_by_reason.values()),
        "open_by_reason": open_by_reason,
        "broken_connections": broken,
        "all_green": all_green,
    }
