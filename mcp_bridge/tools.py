"""The MCP tools: thin adapters over the apps' selectors and services, as the API views are.

Each tool takes the parameters the pipeline (``mcp_bridge.governance``) let through, calls
one selector or service with the user, and returns plain data. Nothing here decides a
business rule: explaining a payout, filtering exceptions, starting a run, checking SuiteQL
and writing CSV are the apps' own code.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django.http import QueryDict

from canonical.exports import csv_response, table_columns
from canonical.filters import FILTERS
from canonical.models import Payout
from canonical.selectors import FilterError, table_rows
from connections.models import Connection, Provider
from ecomops.tenancy import current_tenant_id
from mcp_bridge import selectors as schedule_selectors
from mcp_bridge import services as schedule_services
from mcp_bridge.governance import RowLimit, Tool, ToolCall, ToolRefusal, bad_param
from mcp_bridge.models import Schedule, ScheduleKind
from netsuite import selectors as netsuite_selectors
from netsuite import services as netsuite_services
from recon import selectors as recon_selectors
from recon import services as recon_services
from recon.filters import ReconExceptionFilter
from recon.models import RunTrigger

# --------------------------------------------------------------------------- recon.explain_payout


def _one_payout(reference: str) -> Payout:
    """The payout a tool's ``payout`` parameter names (its id, or its processor id)."""
    payouts = recon_services.resolve_payouts([reference], field="payout")
    if len(payouts) > 1:  # one source id from two accounts
        choices = ", ".join(f"{p.pk} ({p.connection.name})" for p in payouts)
        raise bad_param("payout", f"{reference} names {len(payouts)} payouts; give one of their ids: {choices}.")
    return payouts[0]


def explain_payout(call: ToolCall) -> dict[str, Any]:
    payout = _one_payout(call.params["payout"])
    return recon_selectors.payout_explain(user=call.user, payout_id=payout.pk, line_limit=call.params["line_limit"])


# --------------------------------------------------------------------------- netsuite.journal_entries


def journal_entries(call: ToolCall) -> dict[str, Any]:
    payout = _one_payout(call.params["payout"])
    postings = netsuite_selectors.posting_list(user=call.user, filters={"payout": str(payout.pk)}).order_by("kind")
    entries = [netsuite_services.posting_entry(posting=posting).as_data(posting) for posting in postings]
    data: dict[str, Any] = {
        "payout": {"id": payout.pk, "source_id": payout.source_id, "status": payout.status},
        "entries": entries,
    }
    if not entries:
        data["note"] = "No journal entry yet: a payout gets one once it is reconciled."
    return data


# --------------------------------------------------------------------------- netsuite.verify_entries


def verify_entries(call: ToolCall) -> dict[str, Any]:
    """``netsuite.services.posted_entries_verify`` for one month, as the API and the close page run it."""
    from django.core.exceptions import ValidationError

    from recon.close import parse_month
    from tenants.services import ServiceError

    try:
        month = parse_month(call.params["month"])
    except ValidationError as exc:
        raise bad_param("month", " ".join(exc.messages)) from exc
    try:
        result = netsuite_services.posted_entries_verify(actor=call.user, first=month.first, last=month.last)
    except ServiceError as exc:
        raise ToolRefusal(str(exc), code=exc.code) from exc
    return {"month": month.label, **result.as_data()}


# --------------------------------------------------------------------------- recon.exceptions

_TEXT_OR_LIST = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}


def _query(filters: dict[str, Any]) -> QueryDict:
    """Filters as a FilterSet reads them from a query string (a list for a repeated key)."""
    query = QueryDict(mutable=True)
    for name, value in filters.items():
        values = value if isinstance(value, list) else [value]
        query.setlist(name, ["" if v is None else str(v) for v in values])
    return query


def _exception_filters(params: dict[str, Any]) -> QueryDict:
    filters = {name: params[name] for name in ReconExceptionFilter.base_filters if name in params}
    payout = params.get("payout")
    if payout is not None:  # an id, or the processor's own id (po_..., a Shopify GID)
        try:
            filters["payout"] = str(uuid.UUID(str(payout)))
        except ValueError:
            filters.pop("payout", None)
            filters["payout_source_id"] = str(payout)
    return _query(filters)


def exceptions(call: ToolCall) -> dict[str, Any]:
    from recon.api.serializers import ExceptionOutput

    rows = recon_selectors.exception_list(user=call.user, filters=_exception_filters(call.params))
    limit, offset = call.params["limit"], call.params.get("offset", 0)
    total = rows.count()
    page = recon_selectors.with_history(user=call.user, exceptions=rows[offset : offset + limit])
    return {
        "count": len(page),
        "total": total,
        "offset": offset,
        "truncated": offset + len(page) < total,
        "exceptions": ExceptionOutput(page, many=True).data,
    }


# --------------------------------------------------------------------------- recon.month_close


def month_close_status(call: ToolCall) -> dict[str, Any]:
    """The month's close checklist as the close page and the API give it, its payouts capped."""
    from django.core.exceptions import ValidationError
    from django.utils import timezone

    from recon.close import month_close, month_to_open, parse_month

    try:
        if "month" in call.params:
            month = parse_month(call.params["month"])
        else:
            month = month_to_open(user=call.user, today=timezone.localdate())
    except ValidationError as exc:
        raise bad_param("month", " ".join(exc.messages)) from exc
    close = month_close(user=call.user, month=month)
    if close is None:
        raise ToolRefusal("Your role does not allow seeing reconciliation.", code="forbidden")
    limit, payouts = call.params["limit"], close["payouts"]
    if len(payouts) > limit:
        call.notices.append(f"The month has {len(payouts)} payouts; the first {limit} are listed (limit).")
    return {**close, "payouts": payouts[:limit], "payout_total": len(payouts), "truncated": len(payouts) > limit}


# --------------------------------------------------------------------------- recon.run


def _date(params: dict[str, Any], name: str) -> date | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise bad_param(name, f"{value[:40]!r} is not a date (YYYY-MM-DD).") from None


def run_recon(call: ToolCall) -> dict[str, Any]:
    from recon.api.serializers import RunOutput

    run = recon_services.recon_run_start(
        actor=call.user,
        trigger=RunTrigger.MCP,
        connection_ids=call.params.get("connection_ids"),
        payout_ids=call.params.get("payout_ids"),
        date_from=_date(call.params, "date_from"),
        date_to=_date(call.params, "date_to"),
    )
    return {"run_id": run.pk, "status": run.status, "run": RunOutput(run).data}


# --------------------------------------------------------------------------- netsuite.suiteql


def _netsuite_connection(reference: str | None) -> Connection:
    connections = Connection.objects.filter(tenant_id=current_tenant_id(), provider=Provider.NETSUITE)
    if reference is not None:
        try:
            pk = uuid.UUID(str(reference))
        except ValueError:
            raise bad_param("connection", f"{reference[:64]!r} is not a connection id.") from None
        found = connections.filter(pk=pk).first()
        if found is None:
            raise ToolRefusal(
                f"connection: no NetSuite connection {pk} in this tenant.", code="not_found", param="connection"
            )
        return found
    found = list(connections.order_by("name", "pk")[:20])
    if not found:
        raise ToolRefusal("This tenant has no NetSuite connection.", code="not_found", param="connection")
    if len(found) > 1:
        names = ", ".join(f"{c.pk} ({c.name})" for c in found)
        raise bad_param("connection", f"this tenant has several NetSuite connections; name one: {names}.")
    return found[0]


def suiteql(call: ToolCall) -> dict[str, Any]:
    """``netsuite.services.suiteql_run``, as the API's SuiteQL endpoint runs it (audited there too)."""
    from netsuite.services import suiteql_run
    from netsuite.suiteql import SuiteQLValidationError, validate_read_only
    from tenants.services import ServiceError

    query = call.params["query"]
    try:
        validate_read_only(query)  # refused before a connection is even looked for
    except SuiteQLValidationError as exc:
        raise bad_param("query", str(exc)) from exc
    connection = _netsuite_connection(call.params.get("connection"))
    try:
        answer = suiteql_run(actor=call.user, connection=connection, query=query, limit=call.params["limit"])
    except ServiceError as exc:
        if exc.field == "query":
            raise bad_param("query", str(exc)) from exc
        raise ToolRefusal(str(exc), code=exc.code) from exc
    return {
        "connection": connection.pk,
        "count": len(answer.rows),
        "rows": answer.rows,
        "total_results": answer.total_results,
        "truncated": answer.truncated,
        "truncation_reason": answer.truncation_reason,
        "warnings": answer.warnings,
    }


# --------------------------------------------------------------------------- report.export

EXCEPTIONS_TABLE = "exceptions"
EXPORT_TABLES = [*FILTERS, EXCEPTIONS_TABLE]


def _export_permissions(params: dict[str, Any]) -> list[str]:
    table = params.get("table")
    if table == EXCEPTIONS_TABLE:
        return ["recon.view_reconexception"]
    if table in FILTERS:
        return [f"canonical.view_{FILTERS[table]._meta.model._meta.model_name}"]
    return []


def _known_filters(call: ToolCall, filterset_class: Any, extra: tuple[str, ...] = ()) -> QueryDict:
    """The export's filters that the table takes; the others are dropped and reported."""
    given = call.params.get("filters") or {}
    known = set(filterset_class.base_filters) | set(extra)
    call.ignored += [f"filters.{name}" for name in sorted(given) if name not in known]
    return _query({name: value for name, value in given.items() if name in known})


def _csv_text(rows: Any, columns: list[str], table: str, **options: Any) -> str:
    # The same writer as the pages' and the API's downloads (formula cells quoted, JSON as JSON).
    response = csv_response(rows, columns, table, **options)
    return b"".join(response.streaming_content).decode("utf-8")


def export(call: ToolCall) -> dict[str, Any]:
    table, limit = call.params["table"], call.params["limit"]
    if table == EXCEPTIONS_TABLE:
        from recon.exports import EXCEPTION_CSV_COLUMNS, exception_csv_row, exception_csv_rows

        filters = _known_filters(call, ReconExceptionFilter, ("payout_source_id",))
        rows = recon_selectors.exception_list(user=call.user, filters=filters)
        total = rows.count()
        columns = EXCEPTION_CSV_COLUMNS
        page = list(exception_csv_rows(user=call.user, exceptions=rows[:limit]))
        text = _csv_text(page, columns, table, row=exception_csv_row)
    else:
        filterset_class = FILTERS[table]
        try:
            rows = table_rows(user=call.user, table=table, filters=_known_filters(call, filterset_class))
        except FilterError as exc:
            name, messages = next(iter(exc.errors.items()))
            raise bad_param(f"filters.{name}", " ".join(str(m) for m in messages)) from exc
        columns = table_columns(filterset_class._meta.model)
        total = rows.count()
        text = _csv_text(list(rows.values_list(*columns)[:limit]), columns, table)
    count = min(total, limit)
    if total > limit:
        call.notices.append(f"{total} rows match; the CSV holds the first {limit} (limit).")
    return {"table": table, "rows": count, "total": total, "truncated": total > limit, "columns": columns, "csv": text}


# --------------------------------------------------------------------------- schedule.create, .list, .run


def _schedule_data(schedule: Schedule) -> dict[str, Any]:
    return {
        "id": schedule.pk,
        "kind": schedule.kind,
        "when": schedule.when,
        "every_hours": schedule.every_hours,
        "daily_at": f"{schedule.daily_at:%H:%M}" if schedule.daily_at else None,
        "time_zone": schedule.time_zone or None,
        "connection_ids": schedule.connection_ids,
        "enabled": schedule.enabled,
        "next_run_at": schedule.next_run_at,
        "last_run_at": schedule.last_run_at,
        "last_outcome": schedule.last_outcome or None,
        "last_recon_run_id": schedule.last_recon_run_id,
        "last_sync_job_ids": schedule.last_sync_job_ids,
        "last_error": schedule.last_error or None,
        "created_by": schedule.created_by_email or None,
        "created_at": schedule.created_at,
    }


def create_schedule(call: ToolCall) -> dict[str, Any]:
    schedule = schedule_services.schedule_create(
        actor=call.user,
        kind=call.params["kind"],
        every_hours=call.params.get("every_hours"),
        daily_at=call.params.get("daily_at"),
        time_zone=call.params.get("time_zone"),
        connection_ids=call.params.get("connection_ids"),
    )
    return {"schedule_id": schedule.pk, "next_run_at": schedule.next_run_at, "schedule": _schedule_data(schedule)}


def list_schedules(call: ToolCall) -> dict[str, Any]:
    schedules = schedule_selectors.schedule_list(user=call.user)
    limit, total = call.params["limit"], schedules.count()
    page = list(schedules[:limit])
    return {
        "count": len(page),
        "total": total,
        "truncated": len(page) < total,
        "schedules": [_schedule_data(s) for s in page],
    }


def run_schedule(call: ToolCall) -> dict[str, Any]:
    reference = call.params["schedule"]
    try:
        uuid.UUID(str(reference))
    except ValueError:
        raise bad_param("schedule", f"{reference[:64]!r} is not a schedule id.") from None
    schedule = schedule_selectors.schedule_get(user=call.user, schedule_id=reference)
    ran = schedule_services.schedule_run_now(schedule=schedule, actor=call.user)
    if ran.last_error:
        # A tool error, yet the run happened: the schedule keeps its failure (last_error, its
        # schedule.ran event) as the API and the page keep it.
        raise ToolRefusal(f"The schedule queued nothing: {ran.last_error}", code="schedule_failed", writes_stand=True)
    return {
        "schedule_id": ran.pk,
        "run_id": ran.last_recon_run_id,
        "sync_job_ids": ran.last_sync_job_ids,
        "next_run_at": ran.next_run_at,
        "schedule": _schedule_data(ran),
    }


# --------------------------------------------------------------------------- the list

_LIMIT = {"type": "integer", "minimum": 1, "description": "At most this many rows (default and ceiling: see settings)."}

TOOLS = [
    Tool(
        name="recon.explain_payout",
        description=(
            "Why a payout does or does not add up: its lines, what each matched, the checks it fails, its "
            "exceptions and the difference (amounts in minor units)."
        ),
        run=explain_payout,
        properties={
            "payout": {"type": "string", "description": "The payout's id or its processor id (po_..., a Shopify GID)."},
            "line_limit": {"type": "integer", "minimum": 1, "description": "At most this many lines listed."},
        },
        required=("payout",),
        permissions=("recon.view_reconpayout",),
        row_limit=RowLimit(param="line_limit"),
    ),
    Tool(
        name="recon.exceptions",
        description=(
            "Reconciliation exceptions, newest seen first, filtered as the API's /recon/exceptions/ filters "
            "(state, reason, payout, connection, subject, dates, month), paged by limit and offset."
        ),
        run=exceptions,
        properties={
            "state": {**_TEXT_OR_LIST, "description": "open, acknowledged, resolved (one or a list)"},
            "reason": {**_TEXT_OR_LIST, "description": "one reason code or a list of them"},
            "payout": {"type": "string", "description": "a payout id or processor id"},
            "connection": {"type": "string", "description": "a connection id"},
            "subject": {"type": "string", "description": "the subject's processor id"},
            "subject_type": {"type": "string"},
            "date_from": {"type": "string", "description": "YYYY-MM-DD, the subject's own date"},
            "date_to": {"type": "string", "description": "YYYY-MM-DD"},
            "seen_after": {"type": "string", "description": "ISO date-time"},
            "seen_before": {"type": "string", "description": "ISO date-time"},
            "month": {"type": "string", "description": "YYYY-MM: the month whose close it stands in the way of"},
            "ordering": {"type": "string", "description": "e.g. -at_stake"},
            "limit": _LIMIT,
            # PostgreSQL's OFFSET is a bigint: past it the query fails rather than answer nothing
            "offset": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
        },
        permissions=("recon.view_reconexception",),
        row_limit=RowLimit(),
    ),
    Tool(
        name="recon.month_close",
        description=(
            "Whether a month can be closed: its checklist (sources fresh, reconciliation run, payouts reconciled, "
            "exceptions worked, journal entries posted), totals per processor and currency, and its payouts with "
            "their status and postings. Without month, the latest ended month with payouts."
        ),
        run=month_close_status,
        properties={
            "month": {"type": "string", "description": "YYYY-MM"},
            "limit": {**_LIMIT, "description": "At most this many of the month's payouts listed."},
        },
        permissions=("recon.view_reconpayout",),
        row_limit=RowLimit(),
    ),
    Tool(
        name="recon.run",
        description=(
            "Start a reconciliation run (queued for the worker), of every enabled Stripe and Shopify connection or "
            "of the payouts, connections or arrival dates given. Returns the run's id and status."
        ),
        run=run_recon,
        properties={
            "payout_ids": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 1000},
            "connection_ids": {"type": "array", "items": {"type": "string"}, "maxItems": 100},
            "date_from": {"type": "string", "description": "YYYY-MM-DD, payouts arriving on or after"},
            "date_to": {"type": "string", "description": "YYYY-MM-DD, payouts arriving on or before"},
        },
        permissions=("recon.run_recon",),
        read_only=False,
    ),
    Tool(
        name="netsuite.journal_entries",
        description=(
            "A payout's NetSuite journal entries line by line (account, memo, debit and credit in minor units): "
            "as approving or retrying would send them now (origin to_send), as NetSuite holds them once posted "
            "(sent), or why nothing would be sent (blocked)."
        ),
        run=journal_entries,
        properties={
            "payout": {"type": "string", "description": "The payout's id or its processor id (po_..., a Shopify GID)."},
        },
        required=("payout",),
        permissions=("netsuite.view_netsuiteposting",),
    ),
    Tool(
        name="netsuite.verify_entries",
        description=(
            "Whether NetSuite still holds each journal entry posted with a date in the month as it was sent: "
            "each looked up there and compared account by account (minor units); entries deleted or edited in "
            "NetSuite since are listed with the accounts that differ."
        ),
        run=verify_entries,
        properties={"month": {"type": "string", "description": "YYYY-MM"}},
        required=("month",),
        permissions=("netsuite.view_netsuiteposting",),
    ),
    Tool(
        name="netsuite.suiteql",
        description=(
            "One read-only SuiteQL SELECT against the tenant's NetSuite account; rows come back as NetSuite sends "
            "them (lower-case columns, string values). Anything but a single SELECT is refused."
        ),
        run=suiteql,
        properties={
            "query": {"type": "string", "minLength": 1, "maxLength": 100_000},
            "limit": _LIMIT,
            "connection": {"type": "string", "description": "a NetSuite connection id (when there are several)"},
        },
        required=("query",),
        permissions=("netsuite.run_suiteql",),
        row_limit=RowLimit(),
    ),
    Tool(
        name="report.export",
        description=(
            "Rows of a canonical table (orders, payments, refunds, disputes, payouts, payout_lines) or of the "
            "exceptions queue as CSV text, filtered as on the data pages, capped at limit rows."
        ),
        run=export,
        properties={
            "table": {"type": "string", "enum": EXPORT_TABLES},
            "filters": {"type": "object", "description": "the table's filters, as its page and the API take them"},
            "limit": _LIMIT,
        },
        required=("table",),
        permissions=("tenants.export_data",),
        extra_permissions=_export_permissions,
        row_limit=RowLimit(max_setting="MCP_EXPORT_MAX_ROWS"),
    ),
    Tool(
        name="schedule.create",
        description=(
            "Schedule a reconciliation run (kind recon.run) or a sync (kind sync) of the tenant, of the "
            "connections given or of every enabled Stripe and Shopify connection: every_hours hours (1 to 168), "
            "or daily at daily_at (HH:MM) in time_zone (an IANA name). Returns the schedule and its next run."
        ),
        run=create_schedule,
        properties={
            "kind": {"type": "string", "enum": ScheduleKind.values},
            "every_hours": {"type": "integer", "minimum": 1, "maximum": 168},
            "daily_at": {"type": "string", "description": "HH:MM, local time in time_zone"},
            "time_zone": {"type": "string", "description": "IANA name, e.g. Europe/Berlin (with daily_at)"},
            "connection_ids": {"type": "array", "items": {"type": "string"}, "maxItems": 100},
        },
        required=("kind",),
        permissions=("mcp_bridge.add_schedule",),  # and that of what it starts: the service's to refuse
        read_only=False,
    ),
    Tool(
        name="schedule.list",
        description="The tenant's schedules, next due first: what each starts, when, and what its last run queued.",
        run=list_schedules,
        properties={"limit": _LIMIT},
        permissions=("mcp_bridge.view_schedule",),
        row_limit=RowLimit(),
    ),
    Tool(
        name="schedule.run",
        description=(
            "Run a schedule now, as it would run when due (its next run time stays): returns the reconciliation "
            "run or the sync jobs it queued."
        ),
        run=run_schedule,
        properties={"schedule": {"type": "string", "description": "the schedule's id"}},
        required=("schedule",),
        permissions=("mcp_bridge.view_schedule",),
        read_only=False,
    ),
]
