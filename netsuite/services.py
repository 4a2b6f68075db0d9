"""Writes for NetSuite posting: GL mappings, postings and their exactly-once send.

Every service takes keyword-only arguments, runs in a transaction and records an audit
event; sends are queued on the ``posting`` queue with ``transaction.on_commit`` (through
``ecomops.tasks.enqueue``).

Exactly once (DESIGN §6). A posting's ``external_id`` is derived from tenant, source and
payout, and the entry is sent as ``PUT .../journalentry/eid:{external_id}?replace=line``:
NetSuite keeps one record per external id, so sending the same posting again replaces that
record (and, with ``replace=line``, its lines) rather than adding one. Around the send, :func:`posting_send`

1. claims it in one statement: locks the posting row, takes a session advisory lock named
   after the posting and marks it ``sending`` with one more attempt, committed before the
   request leaves. A second worker handed the same posting sees ``sending`` with the lock
   held and leaves it alone (no second call); the lock dies with its session, so a worker
   killed mid-send leaves ``sending`` with a free lock, which the next send (a retry,
   ``manage.py post``, or the schedule's once a lease has passed:
   :func:`postings_resume_abandoned`) takes to mean "resume";
2. builds the entry (refused, with the reason, if the payout is not reconciled, the mapping
   lacks an account or the entry does not balance: nothing is sent);
3. sends outside any transaction, then records ``posted`` (with NetSuite's internal id) or
   ``failed`` with the reason, releasing the lock in that same update: the updated row stays
   locked until the commit, and a sender takes the row lock before it tries the send lock,
   so the next one sees the outcome, never the ``sending`` before it.

A crash between 1 and 3 therefore leaves ``sending``; resuming re-sends the same upsert,
which lands on the record the lost send created.

A send whose retries end without a definite answer to a request that may have been applied
(no answer at all, a gateway's 502/504) is ``failed`` with ``outcome_unknown``: NetSuite may
hold the entry. It is never taken for "not posted" without asking NetSuite for the external
id (GET ``journalentry/eid:...``): :func:`postings_settle`, run by :func:`postings_after_recon`
before it decides on reversals and by the schedule a few minutes after the send (then backing
off: :func:`postings_settle_enqueue_due`), records it posted (found), failed and retryable
(NetSuite's 404) or leaves it unknown (no answer again); a retried or resumed send that is not
going to send (its payout failed meanwhile, say) asks the same question before it records a
refusal.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import structlog
from babel.numbers import list_currencies
from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.db.models import F, Max, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit.models import Outcome
from audit.services import audit_record
from canonical.models import Payout
from connections.models import PAYMENT_PROVIDERS, Connection, Provider
from ecomops.money import format_minor
from ecomops.tasks import enqueue as enqueue_task
from ecomops.tenancy import current_tenant
from netsuite.client import may_have_been_applied
from netsuite.connection import INTERACTIVE_RETRIES, ConnectionClient, capture_exchanges, shared_client
from netsuite.errors import NetSuiteClientError, NetSuiteConfigError, NetSuiteError
from netsuite.journal import (
    JournalBuildError,
    UnbalancedEntryError,
    UnmappedAccountError,
    build_journal_entry,
    currency_exponent,
    external_id_for,
    unexplained_minor,
)
from netsuite.models import ACCOUNT_FIELDS, GlMapping, NetsuitePosting, PostingError, PostingKind, PostingState
from netsuite.redact import Exchange
from netsuite.selectors import (
    LINE_GROUPS_SUBQUERY,
    EntryLine,
    LineGroup,
    PostedEntry,
    account_names,
    dated_lines,
    entry_lines,
    line_group_parameters,
    line_groups,
    named_lines,
    payout_summary,
    posted_around,
    posted_entry,
    processor_exponent,
    reversal_summary,
    stored_entry_body,
    summarize,
)
from tenants.services import ServiceError, parse_ids

logger = structlog.get_logger(__name__)

SEND_TASK = "netsuite.tasks.posting_send_task"
SETTLE_TASK = "netsuite.tasks.postings_settle_task"
# A failed posting with one of these may be in NetSuite: a send that is not going to happen asks first.
MAYBE_SENT_ERRORS = (PostingError.OUTCOME_UNKNOWN, PostingError.SEND_ABANDONED)
REQUEUE_BATCH = 500  # lost sends queued again per tenant and tick: a mass loss drains over a few ticks
POSTING_MODES = ("auto", "approval")
FAILED_PAYOUT_STATUSES = ("failed", "canceled")
JOURNAL_SUBLISTS = ("line",)  # every sublist the entry sends: its lines
MAX_KEPT_EXCHANGES = 20  # a 429 storm must not grow the row without bound
_INTERNAL_ID = re.compile(r"^[0-9]{1,18}$")
UNKNOWN_OUTCOME_NOTE = (
    "NetSuite gave no definite answer, so it may hold this entry; it is looked up by its external id "
    "(on its own within minutes, after each reconciliation, or when the posting is retried)."
)
_ISO_CODE = re.compile(r"^[A-Z]{3}$")


# ---------------------------------------------------------------------------- GL mappings


def _clean_internal_id(value: Any, *, field: str, required: bool = False) -> str:
    text = "" if value is None else str(value).strip()
    if not text:
        if required:
            raise ServiceError("A NetSuite internal id is required.", field=field)
        return ""
    if not _INTERNAL_ID.match(text):
        raise ServiceError(f"{text!r} is not a NetSuite internal id (digits only).", field=field)
    return text


def _clean_currency_ids(value: Any) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ServiceError('currency_ids must be an object such as {"USD": "1"}.', field="currency_ids")
    known = set(list_currencies())
    cleaned: dict[str, str] = {}
    for code, internal_id in value.items():
        iso = str(code).strip().upper()
        if not _ISO_CODE.match(iso) or iso not in known:
            raise ServiceError(f"{code!r} is not an ISO 4217 currency code.", field="currency_ids")
        cleaned[iso] = _clean_internal_id(internal_id, field="currency_ids", required=True)
    return cleaned


def _check_connections(connection: Connection, netsuite_connection: Connection) -> None:
    if connection.provider not in PAYMENT_PROVIDERS:
        raise ServiceError(
            f"{connection.name} is a {connection.get_provider_display()} connection; a GL mapping maps the "
            "payouts of a Stripe or Shopify connection.",
            field="connection",
        )
    if netsuite_connection.provider != Provider.NETSUITE:
        raise ServiceError(f"{netsuite_connection.name} is not a NetSuite connection.", field="netsuite_connection")


def gl_mapping_clean(
    *, connection: Connection, netsuite_connection: Connection, subsidiary_id: Any, values: dict[str, Any]
) -> dict[str, Any]:
    """Validate a mapping's fields; return them cleaned. Raises ServiceError naming the field.

    Shared by the services and the admin form, so both refuse the same input the same way.
    """
    _check_connections(connection, netsuite_connection)
    unknown = sorted(set(values) - {*ACCOUNT_FIELDS, "currency_ids"})
    if unknown:
        raise ServiceError(f"Unknown field(s): {', '.join(unknown)}.", field=unknown[0])
    cleaned: dict[str, Any] = {"subsidiary_id": _clean_internal_id(subsidiary_id, field="subsidiary_id", required=True)}
    for name in ACCOUNT_FIELDS:
        if name in values:
            cleaned[name] = _clean_internal_id(values[name], field=name)
    if "currency_ids" in values:
        cleaned["currency_ids"] = _clean_currency_ids(values["currency_ids"])
    return cleaned


def gl_mapping_create(
    *,
    actor: Any,
    connection: Connection,
    netsuite_connection: Connection,
    subsidiary_id: str,
    **values: Any,
) -> GlMapping:
    """Map a payment connection's payouts (for one subsidiary) to NetSuite accounts."""
    cleaned = gl_mapping_clean(
        connection=connection, netsuite_connection=netsuite_connection, subsidiary_id=subsidiary_id, values=values
    )
    tenant = current_tenant()
    with transaction.atomic():
        if GlMapping.objects.filter(
            tenant_id=tenant.pk, connection=connection, subsidiary_id=cleaned["subsidiary_id"]
        ).exists():
            raise ServiceError(
                f"{connection.name} already has a GL mapping for subsidiary {cleaned['subsidiary_id']}; "
                "change that one.",
                field="subsidiary_id",
                code="exists",
            )
        mapping = GlMapping.objects.create(
            connection=connection,
            netsuite_connection=netsuite_connection,
            updated_by_id=getattr(actor, "pk", None),
            **cleaned,
        )
        audit_record(action="netsuite.gl_mapping_created", actor=actor, target=mapping, detail=_mapping_detail(mapping))
    return mapping


def gl_mapping_update(*, actor: Any, mapping: GlMapping, **changes: Any) -> GlMapping:
    """Change a mapping's NetSuite connection, subsidiary, accounts or currency ids."""
    allowed = {"netsuite_connection", "subsidiary_id", "currency_ids", *ACCOUNT_FIELDS}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ServiceError(f"Cannot change {', '.join(unknown)}.", field=unknown[0])
    with transaction.atomic():
        # One row locked: two edits of the same mapping apply one after the other, and the
        # audit event's before/after is what each one really changed.
        locked = GlMapping.objects.select_for_update(of=("self",)).select_related("connection").get(pk=mapping.pk)
        netsuite_connection = changes.pop("netsuite_connection", None) or locked.netsuite_connection
        subsidiary_id = changes.pop("subsidiary_id", locked.subsidiary_id)
        cleaned = gl_mapping_clean(
            connection=locked.connection,
            netsuite_connection=netsuite_connection,
            subsidiary_id=subsidiary_id,
            values=changes,
        )
        if (
            cleaned["subsidiary_id"] != locked.subsidiary_id
            and GlMapping.objects.filter(
                tenant_id=locked.tenant_id, connection_id=locked.connection_id, subsidiary_id=cleaned["subsidiary_id"]
            ).exists()
        ):
            raise ServiceError(
                f"{locked.connection.name} already has a GL mapping for subsidiary {cleaned['subsidiary_id']}.",
                field="subsidiary_id",
                code="exists",
            )
        before = _mapping_detail(locked)
        locked.netsuite_connection = netsuite_connection
        for name, value in cleaned.items():
            setattr(locked, name, value)
        locked.updated_at = timezone.now()
        locked.updated_by_id = getattr(actor, "pk", None)
        after = _mapping_detail(locked)
        if after != before:  # the last check was of other ids
            locked.last_check, locked.checked_at = {}, None
        locked.save()
        audit_record(
            action="netsuite.gl_mapping_updated",
            actor=actor,
            target=locked,
            detail={k: [before[k], after[k]] for k in after if before.get(k) != after[k]},
        )
    return locked


def gl_mapping_delete(*, actor: Any, mapping: GlMapping) -> None:
    """Remove a mapping; postings of its payouts are refused until another one exists."""
    target_id, detail = str(mapping.pk), _mapping_detail(mapping)
    with transaction.atomic():
        mapping.delete()
        audit_record(
            action="netsuite.gl_mapping_deleted",
            actor=actor,
            target_type="netsuite.glmapping",
            target_id=target_id,
            detail=detail,
        )


def _mapping_detail(mapping: GlMapping) -> dict[str, Any]:
    return {
        "connection": str(mapping.connection_id),
        "netsuite_connection": str(mapping.netsuite_connection_id),
        "subsidiary_id": mapping.subsidiary_id,
        **{name: getattr(mapping, name) for name in ACCOUNT_FIELDS},
        "currency_ids": dict(mapping.currency_ids or {}),
    }


@contextmanager
def _netsuite_failures(
    audit: Callable[[str, dict[str, Any]], None], connection: Connection, *, field: str = "connection"
) -> Iterator[None]:
    """NetSuite failing, as a ServiceError whose ``code`` says whose fault, each audited as a
    failure: ``netsuite_config`` (the connection's own settings, named in ``field``; never their
    values), ``netsuite_error`` (NetSuite answered an error) or ``netsuite_unavailable``."""
    try:
        yield
    except NetSuiteConfigError as exc:
        audit(Outcome.FAILURE, {"error": str(exc)[:500]})
        message = f"The NetSuite connection {connection.name} cannot be used: {exc}"
        raise ServiceError(message, field=field, code="netsuite_config") from exc
    except NetSuiteError as exc:
        audit(Outcome.FAILURE, {"error": str(exc)[:500]})
        raise ServiceError(f"NetSuite answered {exc.status} {exc.code}: {exc.detail}", code="netsuite_error") from exc
    except NetSuiteClientError as exc:
        audit(Outcome.FAILURE, {"error": str(exc)[:500]})
        raise ServiceError(f"NetSuite could not be reached: {exc}", code="netsuite_unavailable") from exc


@dataclass(frozen=True)
class CheckedId:
    """One id of a mapping as NetSuite knows it. ``status``: ``ok``; ``inactive``; ``missing``
    (no such record); ``other_currency`` (a currency id whose symbol is another code);
    ``unmapped`` (an account left empty: only a payout that needs it is refused)."""

    field: str  # the mapping's field: bank_account..., subsidiary_id, or currency_ids.USD
    internal_id: str
    status: str
    name: str = ""  # NetSuite's: "1200 Undeposited Funds", "Parent Company", "EUR"
    kind: str = ""  # an account's type (Bank, OthCurrAsset, Expense...)

    @property
    def problem(self) -> str:
        """What is wrong, in words; "" if nothing."""
        what = f"{self.field} {self.internal_id}"
        return {
            "missing": f"{what}: NetSuite has no such record.",
            "inactive": f"{what} ({self.name}) is inactive in NetSuite.",
            "other_currency": f"{what} is {self.name} in NetSuite, not {self.field.rpartition('.')[2]}.",
        }.get(self.status, "")


@dataclass(frozen=True)
class MappingCheck:
    """A GL mapping's subsidiary, accounts and currency ids, each looked up in NetSuite."""

    subsidiary: CheckedId
    accounts: tuple[CheckedId, ...]
    currencies: tuple[CheckedId, ...]
    checked_at: datetime

    @property
    def problems(self) -> list[str]:
        return [row.problem for row in (self.subsidiary, *self.accounts, *self.currencies) if row.problem]

    def as_data(self) -> dict[str, Any]:
        """The check as the API answers it and the mapping keeps it (``last_check``)."""
        return {
            "ok": not self.problems,
            "problems": self.problems,
            "subsidiary": asdict(self.subsidiary),
            "accounts": [asdict(row) for row in self.accounts],
            "currencies": [asdict(row) for row in self.currencies],
            "checked_at": self.checked_at.isoformat(),
        }


def _lookup(client: ConnectionClient, table: str, columns: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """NetSuite's rows of ``table`` with these internal ids (digits only: cleaned on save), by id."""
    wanted = sorted({i for i in ids if _INTERNAL_ID.match(i)}, key=int)
    if not wanted:
        return {}
    query = f"SELECT id, {columns} FROM {table} WHERE id IN ({', '.join(wanted)})"
    rows = client.suiteql(query, page_size=len(wanted), retry_policy=INTERACTIVE_RETRIES).all()
    return {str(row.get("id")): row for row in rows}


def _inactive(row: dict[str, Any]) -> bool:
    return str(row.get("isinactive", "F")).upper() in ("T", "TRUE")


def gl_mapping_check(*, actor: Any, mapping: GlMapping) -> MappingCheck:
    """Look the mapping's subsidiary, accounts and currency ids up in its NetSuite account.

    A mistyped or deactivated id otherwise shows only when NetSuite refuses an entry. The
    result is kept on the mapping (``last_check``): the entry views name the accounts with it.
    Audited (``netsuite.gl_mapping_checked``). NetSuite failing is a ServiceError whose
    ``code`` is ``netsuite_config``, ``netsuite_error`` or ``netsuite_unavailable``, as for
    SuiteQL; nothing is kept then.
    """
    accounts = {name: getattr(mapping, name) for name in ACCOUNT_FIELDS}
    currency_ids = {str(code).upper(): str(value) for code, value in (mapping.currency_ids or {}).items()}

    def audit(outcome: str, detail: dict[str, Any]) -> None:
        audit_record(action="netsuite.gl_mapping_checked", actor=actor, target=mapping, outcome=outcome, detail=detail)

    with _netsuite_failures(audit, mapping.netsuite_connection, field="netsuite_connection"):
        client = shared_client(mapping.netsuite_connection)
        found_accounts = _lookup(
            client, "account", "acctnumber, accountsearchdisplayname, accttype, isinactive", accounts.values()
        )
        found_subsidiaries = _lookup(client, "subsidiary", "name, isinactive", [mapping.subsidiary_id])
        found_currencies = _lookup(client, "currency", "symbol, isinactive", currency_ids.values())

    def checked(field: str, internal_id: str, row: dict[str, Any] | None, name: str, kind: str = "") -> CheckedId:
        if not internal_id:
            return CheckedId(field, "", "unmapped")
        if row is None:
            return CheckedId(field, internal_id, "missing")
        return CheckedId(field, internal_id, "inactive" if _inactive(row) else "ok", name, kind)

    def account(field: str, internal_id: str) -> CheckedId:
        row = found_accounts.get(internal_id)
        name = str((row or {}).get("accountsearchdisplayname") or (row or {}).get("acctnumber") or "")
        return checked(field, internal_id, row, name, str((row or {}).get("accttype") or ""))

    def currency(code: str, internal_id: str) -> CheckedId:
        row = found_currencies.get(internal_id)
        symbol = str((row or {}).get("symbol") or "").upper()
        result = checked(f"currency_ids.{code}", internal_id, row, symbol)
        return replace(result, status="other_currency") if result.status == "ok" and symbol != code else result

    subsidiary = found_subsidiaries.get(mapping.subsidiary_id)
    subsidiary_name = str((subsidiary or {}).get("name") or "")
    result = MappingCheck(
        subsidiary=checked("subsidiary_id", mapping.subsidiary_id, subsidiary, subsidiary_name),
        accounts=tuple(account(field, internal_id) for field, internal_id in accounts.items()),
        currencies=tuple(currency(code, internal_id) for code, internal_id in sorted(currency_ids.items())),
        checked_at=timezone.now(),
    )
    with transaction.atomic():
        GlMapping.objects.filter(pk=mapping.pk).update(last_check=result.as_data(), checked_at=result.checked_at)
        audit(Outcome.SUCCESS, {"problems": result.problems})
    mapping.last_check, mapping.checked_at = result.as_data(), result.checked_at
    return result


def posting_mode_set(*, actor: Any, mode: str) -> str:
    """Post reconciled payouts automatically (``auto``) or after approval (``approval``).

    Drafts that already await approval keep waiting: switching to ``auto`` concerns the
    payouts reconciled from now on, not entries someone chose to review.
    """
    if mode not in POSTING_MODES:
        raise ServiceError(f"posting_mode must be one of {', '.join(POSTING_MODES)}.", field="posting_mode")
    from tenants.models import Tenant

    tenant = current_tenant()
    previous = tenant.posting_mode
    with transaction.atomic():
        Tenant.objects.filter(pk=tenant.pk).update(posting_mode=mode)
        tenant.posting_mode = mode
        audit_record(
            action="netsuite.posting_mode_changed",
            actor=actor,
            target=tenant,
            detail={"posting_mode": [previous, mode]},
        )
    return mode


# --------------------------------------------------------------------------- creating postings


@dataclass
class PostingsCreated:
    """What :func:`postings_after_recon` did."""

    drafts: int = 0
    approved: int = 0
    reversals: int = 0
    refreshed: int = 0  # drafts brought up to date with their payout
    settled: PostingsSettled | None = None  # what NetSuite said of the postings whose outcome was unknown
    enqueued: list[str] = field(default_factory=list)
    skipped_reason: str = ""

    @property
    def created(self) -> int:
        return self.drafts + self.approved


def _new_posting(
    payout: Payout, *, kind: str, auto: bool, tenant_id: Any, now: Any, amount: int | None = None
) -> NetsuitePosting:
    if amount is None:
        amount = payout.amount_minor if kind == PostingKind.PAYOUT else -payout.amount_minor
    return NetsuitePosting(
        id=uuid.uuid4(),
        payout_id=payout.pk,
        kind=kind,
        connection_id=payout.connection_id,
        source=payout.source,
        source_id=payout.source_id,
        external_id=external_id_for(str(tenant_id), payout.source, payout.source_id, kind),  # type: ignore[arg-type]
        state=PostingState.APPROVED if auto else PostingState.DRAFT,
        amount_minor=amount,
        currency=payout.currency.upper(),
        arrival_date=payout.arrival_date,
        approved_at=now if auto else None,
        send_queued_at=now if auto else None,  # queued right after the bulk insert commits
        created_at=now,
        updated_at=now,
    )


def postings_after_recon(
    *,
    run_id: Any = None,
    payout_ids: Iterable[Any] | None = None,
    connection_ids: Iterable[Any] | None = None,
    enqueue: bool = True,
    settle: bool = True,
    client: ConnectionClient | None = None,
) -> PostingsCreated:
    """Create the postings reconciliation made possible; in ``auto`` mode, queue their sends.

    For every reconciled payout without a posting: a draft awaiting approval, or (``auto``)
    an approved posting queued on the ``posting`` queue. For every posted payout that has
    since failed or been canceled: its reversal, the same way. Set-based and idempotent: a
    second call creates nothing (the unique constraints stand behind the anti-joins).
    Drafts of payouts that changed since (a re-sync, then a re-reconciliation) take the
    payout's amount, currency and arrival date, so the approver sees what would be sent.
    Nothing is created while the tenant has no enabled NetSuite connection.
    ``run_id`` (the recon run that called it) goes to the audit event only; ``connection_ids``
    (the connections that run read, fresh) limits it to their payouts.

    First (``settle``), the postings whose send had no definite answer are looked up in
    NetSuite (:func:`postings_settle`, ``client`` as there): one NetSuite holds counts as
    posted, so its payout, if failed, gets its reversal now rather than never. This talks to
    NetSuite; a caller answering a person without waiting on it passes ``settle=False``.
    """
    tenant = current_tenant()
    result = PostingsCreated()
    if not Connection.objects.filter(tenant_id=tenant.pk, provider=Provider.NETSUITE, enabled=True).exists():
        result.skipped_reason = "no enabled NetSuite connection"
        return result
    ids = list(payout_ids) if payout_ids is not None else None
    if settle:
        result.settled = postings_settle(payout_ids=ids, client=client, reverse=False)
    auto = tenant.posting_mode == "auto"
    now = timezone.now()
    already = NetsuitePosting.objects.filter(tenant_id=tenant.pk)
    reconciled = Payout.objects.filter(
        tenant_id=tenant.pk, recon__tenant_id=tenant.pk, recon__status="reconciled"
    ).exclude(pk__in=already.filter(kind=PostingKind.PAYOUT).values("payout_id"))
    failed = Payout.objects.filter(
        tenant_id=tenant.pk,
        status__in=FAILED_PAYOUT_STATUSES,
        pk__in=already.filter(kind=PostingKind.PAYOUT, state=PostingState.POSTED).values("payout_id"),
    ).exclude(pk__in=already.filter(kind=PostingKind.REVERSAL).values("payout_id"))
    if ids is not None:
        reconciled, failed = reconciled.filter(pk__in=ids), failed.filter(pk__in=ids)
    if connection_ids is not None:
        scope = list(connection_ids)
        reconciled, failed = reconciled.filter(connection_id__in=scope), failed.filter(connection_id__in=scope)
    result.refreshed = _drafts_refresh(tenant_id=tenant.pk, payout_ids=ids)
    failed_payouts = list(failed.order_by("arrival_date", "pk"))
    # A reversal takes back what was posted, which is what the original posting says.
    posted_amounts = dict(
        already.filter(
            kind=PostingKind.PAYOUT, state=PostingState.POSTED, payout_id__in=[p.pk for p in failed_payouts]
        ).values_list("payout_id", "amount_minor")
    )
    rows = [
        _new_posting(p, kind=PostingKind.PAYOUT, auto=auto, tenant_id=tenant.pk, now=now)
        for p in reconciled.order_by("arrival_date", "pk")
    ] + [
        _new_posting(
            p,
            kind=PostingKind.REVERSAL,
            auto=auto,
            tenant_id=tenant.pk,
            now=now,
            amount=-posted_amounts[p.pk] if p.pk in posted_amounts else None,
        )
        for p in failed_payouts
    ]
    if not rows:
        return result
    with transaction.atomic():
        # ignore_conflicts: a concurrent call (another recon run finishing) may have created
        # some of them first; the unique constraints decide and nobody fails.
        NetsuitePosting.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
        created = list(
            NetsuitePosting.objects.filter(tenant_id=tenant.pk, pk__in=[r.pk for r in rows])
            .order_by("pk")
            .values_list("pk", "state", "kind")
        )
        for pk, state, kind in created:
            if kind == PostingKind.REVERSAL:
                result.reversals += 1
            if state == PostingState.APPROVED:
                result.approved += 1
                if enqueue:
                    _queue_send(posting_id=pk, tenant_id=tenant.pk)  # send_queued_at set by the insert
                    result.enqueued.append(str(pk))
            else:
                result.drafts += 1
        audit_record(
            action="netsuite.postings_created",
            actor_kind="recon" if run_id else "system",
            target_type="recon.reconrun" if run_id else "",
            target_id=str(run_id or ""),
            detail={
                "posting_mode": tenant.posting_mode,
                "drafts": result.drafts,
                "approved": result.approved,
                "reversals": result.reversals,
            },
        )
    return result


# Only drafts: an approved posting keeps the amount a person approved, and the send refuses
# it (back to draft) if the entry would now say something else. Reversals keep the amount
# of the entry they take back.
_DRAFTS_REFRESH_SQL = f"""
UPDATE netsuite_netsuiteposting n
SET amount_minor = p.amount_minor, currency = upper(p.currency), arrival_date = p.arrival_date, updated_at = now()
FROM canonical_payout p
WHERE n.tenant_id = %(tenant)s AND p.tenant_id = n.tenant_id AND p.id = n.payout_id
  AND n.kind = '{PostingKind.PAYOUT}' AND n.state = '{PostingState.DRAFT}'
  AND (%(all)s OR n.payout_id = ANY(%(ids)s))
  AND (n.amount_minor, n.currency, n.arrival_date) IS DISTINCT FROM (p.amount_minor, upper(p.currency), p.arrival_date)
"""


def _drafts_refresh(*, tenant_id: Any, payout_ids: list[Any] | None) -> int:
    """Bring drafts up to date with their payouts; return how many changed."""
    with transaction.atomic(), db.cursor() as cursor:
        cursor.execute(
            _DRAFTS_REFRESH_SQL + " RETURNING n.id, n.source_id",
            {"tenant": tenant_id, "all": payout_ids is None, "ids": list(payout_ids or [])},
        )
        refreshed = cursor.fetchall()
        if refreshed:
            audit_record(
                action="netsuite.postings_refreshed",
                actor_kind="system",
                detail={"payouts": sorted(source_id for _id, source_id in refreshed)[:100], "count": len(refreshed)},
            )
    return len(refreshed)


def posting_enqueue(*, posting_id: Any, tenant_id: Any, now: datetime | None = None) -> None:
    """Queue the send of a posting on the ``posting`` queue, once the caller's transaction commits.

    Records when (``send_queued_at``): an ``approved`` posting that a worker never claimed long
    after that lost its task, and the schedule queues it again (:func:`postings_requeue_lost`).
    """
    NetsuitePosting.objects.filter(pk=posting_id).update(send_queued_at=now or timezone.now())
    _queue_send(posting_id=posting_id, tenant_id=tenant_id)


def _queue_send(*, posting_id: Any, tenant_id: Any) -> None:
    enqueue_task(SEND_TASK, tenant_id=tenant_id, queue="posting", posting_id=str(posting_id))


# ---------------------------------------------------------------------- approving and retrying


class PostingBlocked(Exception):
    """The posting cannot be sent as things stand; ``code`` is a PostingError."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PreparedEntry:
    """A journal entry ready to send: the body, and where it goes."""

    body: dict[str, Any]
    netsuite_connection: Connection
    mapping: GlMapping
    amount_minor: int  # the bank line, signed as NetsuitePosting.amount_minor
    currency: str


def _columns(model: Any, wanted: set[str]) -> list[str]:
    # Model.from_db takes the loaded values in the model's own field order.
    return [f.attname for f in model._meta.concrete_fields if f.attname in wanted]


def _from_row(model: Any, columns: list[str], values: Iterable[Any]) -> Any:
    """A model instance from a raw row, each value converted as the ORM would (JSON, ...)."""
    converted = []
    for column, value in zip(columns, values, strict=True):
        field = model._meta.get_field(column)  # attnames (payout_id) resolve too
        if value is not None and hasattr(field, "from_db_value"):
            value = field.from_db_value(value, None, db)
        converted.append(value)
    return model.from_db(db.alias, columns, converted)


# The send path reads with plain SQL into model instances (``Model.from_db``): for a posting
# that is otherwise ~5 ms of work, the ORM's query compilation and model building around a
# select_related cost ~0.8 ms per statement (profiled on the data of ``manage.py bench post``).
# The columns come from the models' own metadata, the values are always parameters.
_MAPPING_COLUMNS = [f.attname for f in GlMapping._meta.concrete_fields]
_NETSUITE_COLUMNS = [f.attname for f in Connection._meta.concrete_fields if f.attname != "credentials"]
_MAPPING_SQL = f"""
SELECT {", ".join("m." + c for c in _MAPPING_COLUMNS)}, {", ".join("c." + c for c in _NETSUITE_COLUMNS)},
       md5(c.credentials)
FROM netsuite_glmapping m
JOIN connections_connection c ON c.tenant_id = m.tenant_id AND c.id = m.netsuite_connection_id
WHERE m.tenant_id = %(tenant)s AND m.connection_id = %(connection)s
  AND (m.subsidiary_id = %(subsidiary)s OR %(subsidiary)s = '')
ORDER BY m.id
LIMIT 2
"""


def _no_mapping(payout: Payout) -> PostingBlocked:
    name = Connection.objects.filter(pk=payout.connection_id).values_list("name", flat=True).first()
    subsidiary = f"subsidiary {payout.subsidiary_id}" if payout.subsidiary_id else "no subsidiary (and not exactly one)"
    return PostingBlocked(
        PostingError.NO_MAPPING,
        f"No GL mapping for {name or payout.connection_id} and {subsidiary}: add one (admin: NetSuite > GL "
        "mappings, or POST /api/v1/netsuite/mappings/) before posting this payout.",
    )


def _mapping_from_row(values: tuple[Any, ...] | list[Any]) -> GlMapping:
    """A mapping row (``_MAPPING_COLUMNS``, ``_NETSUITE_COLUMNS``, credentials digest) as a mapping
    with its NetSuite connection attached, the connection's credentials deferred."""
    split = len(_MAPPING_COLUMNS)
    mapping = _from_row(GlMapping, _MAPPING_COLUMNS, values[:split])
    mapping.netsuite_connection = _from_row(Connection, _NETSUITE_COLUMNS, values[split:-1])
    mapping.credentials_digest = values[-1]  # type: ignore[attr-defined]
    return mapping


def _mapping_for(payout: Payout) -> GlMapping:
    """The payout's GL mapping with its NetSuite connection attached (credentials not decrypted).

    ``mapping.credentials_digest`` (an md5 of the stored ciphertext) tells shared_client
    whether its cached client is still current; decrypting the credentials on every posting
    would cost more than the rest of this lookup. A payout whose connection names no
    subsidiary uses the connection's only mapping, if it has exactly one.
    """
    with db.cursor() as cursor:
        cursor.execute(
            _MAPPING_SQL,
            {"tenant": payout.tenant_id, "connection": payout.connection_id, "subsidiary": payout.subsidiary_id or ""},
        )
        rows = cursor.fetchall()
    if len(rows) != 1:
        raise _no_mapping(payout)
    return _mapping_from_row(rows[0])


def prepare_entry(
    posting: NetsuitePosting,
    payout: Payout | None = None,
    recon_status: str | None = None,
    *,
    mapping: GlMapping | None = None,
    groups: list[LineGroup] | None = None,
    recon_difference: int | None = None,
) -> PreparedEntry:
    """Check the posting can be sent and build its journal entry; raise PostingBlocked if not.

    Nothing is sent unless the payout is (still) reconciled, its mapping has every account
    the entry needs, and the entry balances to the minor unit (``netsuite.journal``). What
    the caller has already read (the send reads it all in one statement) is not read again.
    """
    payout = payout or Payout.objects.get(pk=posting.payout_id)
    label = f"{payout.source} payout {payout.source_id}"
    if posting.kind == PostingKind.PAYOUT:
        if recon_status is None:
            from recon.models import ReconPayout

            recon_status, recon_difference = (
                ReconPayout.objects.filter(tenant_id=payout.tenant_id, payout_id=payout.pk)
                .values_list("status", "difference_minor")
                .first()
            ) or (None, None)
        if recon_status != "reconciled":
            raise PostingBlocked(
                PostingError.NOT_RECONCILED,
                f"{label} is {recon_status or 'not reconciled yet'}; only reconciled payouts are posted.",
            )
    elif payout.status not in FAILED_PAYOUT_STATUSES:
        raise PostingBlocked(
            PostingError.NOT_POSTABLE, f"{label} is {payout.status}; only a failed payout is reversed."
        )
    mapping = mapping or _mapping_for(payout)
    if not mapping.netsuite_connection.enabled:
        raise PostingBlocked(
            PostingError.NOT_POSTABLE, f"The NetSuite connection {mapping.netsuite_connection.name} is disabled."
        )
    journal_mapping = mapping.as_journal_mapping()
    subsidiary_id = mapping.subsidiary_id
    try:
        if posting.kind == PostingKind.REVERSAL:
            original = _original_entry(payout)
            summary = reversal_summary(payout=payout, bank_minor=original.bank_minor if original else None)
            if original is not None:
                # Cancel what NetSuite holds, not what today's mapping would book: accounts,
                # subsidiary and currency come from the original entry (the mapping only fills
                # an account the original did not show).
                journal_mapping = replace(
                    journal_mapping,
                    **original.accounts,
                    currency_ids={**journal_mapping.currency_ids, summary.currency: original.currency_id},
                )
                subsidiary_id = original.subsidiary_id
        elif groups is not None:
            folded = summarize(payout, groups, payout.tenant_id)
            if isinstance(folded, JournalBuildError):
                raise folded
            summary = folded
        else:
            summary = payout_summary(payout=payout)
        summary = replace(summary, subsidiary_id=subsidiary_id)
        unexplained = unexplained_minor(summary)
        if posting.kind == PostingKind.PAYOUT and unexplained and unexplained == recon_difference:
            # Reconciled with a difference: a person accepted exactly this amount (a resolved
            # payout_total_mismatch). It is booked to adjustments so the entry balances; any
            # other difference (lines changed since) still refuses the entry as unbalanced.
            summary = replace(summary, accepted_difference_minor=unexplained)
        body = build_journal_entry(summary, journal_mapping)
    except UnmappedAccountError as exc:
        raise PostingBlocked(
            PostingError.UNMAPPED_ACCOUNT, f"{label}: the GL mapping for subsidiary {mapping.subsidiary_id}: {exc}"
        ) from exc
    except UnbalancedEntryError as exc:
        raise PostingBlocked(PostingError.UNBALANCED, f"{label}: {exc}; nothing was sent") from exc
    except JournalBuildError as exc:
        raise PostingBlocked(PostingError.NOT_POSTABLE, f"{label}: {exc}") from exc
    _refuse_a_closed_month(payout.tenant_id, label, posting.kind, summary.arrival_date)
    if body["externalId"] != posting.external_id:
        # Both come from journal.external_id_for; a difference means the posting row is stale.
        raise PostingBlocked(
            PostingError.UNEXPECTED,
            f"external id {body['externalId']} differs from the posting's {posting.external_id}",
        )
    return PreparedEntry(
        body=body,
        netsuite_connection=mapping.netsuite_connection,
        mapping=mapping,
        amount_minor=summary.amount_minor,
        currency=summary.currency.upper(),
    )


def _refuse_a_closed_month(tenant_id: Any, label: str, kind: str, entry_date: date) -> None:
    """A closed month's books are final: an entry dated in it waits until a person reopens it.

    The month's close checked every entry it was due; one that would land in it later (a payout
    that arrived late, a reversal dated in it) must not change it silently."""
    from recon.models import MonthClose

    first_day = entry_date.replace(day=1)
    if MonthClose.objects.filter(tenant_id=tenant_id, month=first_day, reopened_at__isnull=True).exists():
        what = "its reversal" if kind == PostingKind.REVERSAL else "its entry"
        raise PostingBlocked(
            PostingError.MONTH_CLOSED,
            f"{label}: {what} is dated {entry_date.isoformat()}, and {first_day:%Y-%m} is closed; nothing was sent. "
            f"Reopen {first_day:%Y-%m} to post it.",
        )


@dataclass(frozen=True)
class EntryView:
    """A posting's journal entry, line by line, for a person about to approve or check it.

    ``origin``: ``sent``, the entry NetSuite holds (a posted posting's stored exchange);
    ``to_send``, what approving or retrying it would send as things stand now, built by the
    very code that sends it; ``blocked``, nothing would be sent, and ``blocked_reason`` says why.
    """

    origin: str
    external_id: str
    currency: str
    tran_date: str = ""
    subsidiary_id: str = ""
    currency_id: str = ""
    memo: str = ""
    lines: tuple[EntryLine, ...] = ()
    blocked_code: str = ""
    blocked_reason: str = ""

    @property
    def debit_minor(self) -> int:
        return sum(line.debit_minor for line in self.lines)

    @property
    def credit_minor(self) -> int:
        return sum(line.credit_minor for line in self.lines)

    def as_data(self, posting: NetsuitePosting) -> dict[str, Any]:
        """The entry as the API and the MCP tool answer it."""
        data = asdict(self)
        del data["blocked_code"], data["blocked_reason"]  # said once, as "blocked"
        return {
            **data,
            "posting": posting.pk,
            "kind": posting.kind,
            "state": posting.state,
            "debit_minor": self.debit_minor,
            "credit_minor": self.credit_minor,
            "blocked": {"code": self.blocked_code, "detail": self.blocked_reason} if self.origin == "blocked" else None,
        }


def posting_entry(*, posting: NetsuitePosting) -> EntryView:
    """The posting's journal entry as NetSuite holds it, or as a send would build it now."""
    payout = Payout.objects.get(pk=posting.payout_id)
    override = processor_exponent(payout)
    if posting.state == PostingState.POSTED:
        body = stored_entry_body(posting)
        view = _entry_view(body, "sent", posting.external_id, posting.currency, override) if body else None
        if view is not None:
            return _named(view, payout)
    try:
        prepared = prepare_entry(posting, payout)
    except PostingBlocked as blocked:
        return EntryView(
            origin="blocked",
            external_id=posting.external_id,
            currency=posting.currency,
            blocked_code=blocked.code,
            blocked_reason=blocked.message,
        )
    view = _entry_view(prepared.body, "to_send", posting.external_id, prepared.currency, override)
    if view is None:  # the builder's own body: unreadable only if the builder broke
        raise JournalBuildError(f"the entry built for posting {posting.pk} cannot be read back")
    return _named(view, payout)


def _named(view: EntryView, payout: Payout) -> EntryView:
    """The entry with NetSuite's account names, as the payout's GL mapping was last checked."""
    names = account_names(connection_id=payout.connection_id)
    return replace(view, lines=named_lines(view.lines, names)) if names else view


def _entry_view(
    body: dict[str, Any], origin: str, external_id: str, currency: str, override: int | None
) -> EntryView | None:
    """An entry body (amounts as Decimal, as built or as stored) in minor units; None if unreadable."""
    lines = entry_lines(body, currency, override)
    if lines is None:
        return None
    try:
        return EntryView(
            origin=origin,
            external_id=str(body.get("externalId") or external_id),
            currency=currency.upper(),
            tran_date=str(body.get("tranDate") or ""),
            subsidiary_id=str((body.get("subsidiary") or {}).get("id") or ""),
            currency_id=str((body.get("currency") or {}).get("id") or ""),
            memo=str(body.get("memo") or ""),
            lines=lines,
        )
    except (TypeError, AttributeError):
        return None


def _original_entry(payout: Payout) -> PostedEntry | None:
    """The posted entry of a payout, as it was sent (None: none posted, or not readable)."""
    original = (
        NetsuitePosting.objects.filter(
            tenant_id=payout.tenant_id, payout_id=payout.pk, kind=PostingKind.PAYOUT, state=PostingState.POSTED
        )
        .only("request", "response", "currency")
        .first()
    )
    if original is None:
        return None
    return posted_entry(posting=original, currency_exponent_override=processor_exponent(payout))


def _record_blocked(posting: NetsuitePosting, blocked: PostingBlocked, *, actor: Any = None) -> None:
    NetsuitePosting.objects.filter(pk=posting.pk).update(
        error_code=blocked.code, last_error=blocked.message, updated_at=timezone.now()
    )
    posting.error_code, posting.last_error = blocked.code, blocked.message
    audit_record(
        action="netsuite.posting_blocked",
        actor=actor,
        target=posting,
        outcome=Outcome.FAILURE,
        detail={"code": blocked.code, "reason": blocked.message[:500]},
    )


def _amount_changed(
    posting: NetsuitePosting, was_minor: Any, was_currency: Any, prepared: PreparedEntry, *, when: str
) -> PostingBlocked:
    was = format_minor(was_minor, was_currency or prepared.currency, posting.source)
    now = format_minor(prepared.amount_minor, prepared.currency, posting.source)
    return PostingBlocked(
        PostingError.AMOUNT_CHANGED,
        f"The payout changed: the entry would now move {now}, not the {was} it {when}; nothing was sent. "
        "Review it and approve it again.",
    )


def _not_a_draft(posting: NetsuitePosting) -> ServiceError:
    return ServiceError(
        f"Only a draft can be approved; this posting is {posting.get_state_display().lower()}.",
        field="state",
        code="invalid_state",
    )


def posting_approve(*, posting: NetsuitePosting, actor: Any) -> NetsuitePosting:
    """Approve a draft and queue its send. Refused, with the reason, if it could not be sent.

    Only a draft is looked at: anything else is refused before its entry is prepared, so a
    refused approve never overwrites the error a failed or posted entry carries."""
    current, shown_minor, shown_currency = NetsuitePosting.objects.filter(pk=posting.pk).values_list(
        "state", "amount_minor", "currency"
    ).first() or (None, None, None)
    if current != PostingState.DRAFT:
        raise _not_a_draft(posting if current is None else NetsuitePosting(state=current))
    try:
        prepared = prepare_entry(posting)
        if (prepared.amount_minor, prepared.currency) != (shown_minor, shown_currency):
            # The payout changed after this draft was last brought up to date: the draft takes
            # the new figures, and the person approves what will really be sent.
            NetsuitePosting.objects.filter(pk=posting.pk, state=PostingState.DRAFT).update(
                amount_minor=prepared.amount_minor, currency=prepared.currency
            )
            posting.amount_minor, posting.currency = prepared.amount_minor, prepared.currency
            raise _amount_changed(posting, shown_minor, shown_currency, prepared, when="was shown")
    except PostingBlocked as blocked:
        _record_blocked(posting, blocked, actor=actor)
        field_name = "gl_mapping" if blocked.code in (PostingError.NO_MAPPING, PostingError.UNMAPPED_ACCOUNT) else None
        raise ServiceError(blocked.message, field=field_name, code=blocked.code) from blocked
    with transaction.atomic():
        # One row locked (no lock-ordering concern): two approvers, or an approver and the
        # admin action, decide one after the other on the state they see.
        locked = NetsuitePosting.objects.select_for_update().get(pk=posting.pk)
        if locked.state != PostingState.DRAFT:
            raise _not_a_draft(locked)
        now = timezone.now()
        locked.state = PostingState.APPROVED
        locked.approved_by_id = getattr(actor, "pk", None)
        locked.approved_by_email = getattr(actor, "email", "") or ""
        locked.approved_at = now
        locked.error_code, locked.last_error = "", ""
        locked.resumes = 0  # a person sends it: the schedule may resume it as often again
        locked.send_queued_at = now  # posting_enqueue records it; the answer shows it
        locked.updated_at = now
        locked.save(
            update_fields=[
                "state",
                "approved_by_id",
                "approved_by_email",
                "approved_at",
                "error_code",
                "last_error",
                "resumes",
                "send_queued_at",
                "updated_at",
            ]
        )
        audit_record(
            action="netsuite.posting_approved",
            actor=actor,
            target=locked,
            detail={"payout": locked.source_id, "kind": locked.kind, "external_id": locked.external_id},
        )
        posting_enqueue(posting_id=locked.pk, tenant_id=locked.tenant_id, now=now)
    return locked


def send_in_progress(posting: NetsuitePosting) -> bool:
    """True while some live session is sending this posting (it holds the send lock)."""
    key = _send_lock_key(posting.pk)
    if _try_send_lock(key):
        _release_send_lock(key)
        return False
    return True


def posting_retry(*, posting: NetsuitePosting, actor: Any) -> NetsuitePosting:
    """Send a failed posting again, or resume one a crashed worker left ``sending``."""
    with transaction.atomic():
        # One row locked, as in posting_approve; a sender's final update waits for it.
        locked = NetsuitePosting.objects.select_for_update().get(pk=posting.pk)
        previous, resumes = locked.state, locked.resumes
        if locked.state == PostingState.FAILED:
            locked.state = PostingState.APPROVED
            locked.updated_at = timezone.now()
            locked.save(update_fields=["state", "updated_at"])
        elif locked.state == PostingState.SENDING:
            if send_in_progress(locked):
                raise ServiceError(
                    "This posting is being sent right now; wait for the answer.", field="state", code="in_progress"
                )
            # A worker died mid-send: the send resumes it (same upsert, same external id).
        elif locked.state != PostingState.APPROVED:  # approved: re-queue a send whose task was lost
            raise ServiceError(
                f"A {locked.get_state_display().lower()} posting cannot be retried"
                + ("; approve it first." if locked.state == PostingState.DRAFT else "."),
                field="state",
                code="invalid_state",
            )
        if resumes:  # a person sends it: the schedule may resume it as often again
            locked.resumes = 0
            locked.save(update_fields=["resumes"])
        locked.send_queued_at = timezone.now()
        audit_record(
            action="netsuite.posting_retried",
            actor=actor,
            target=locked,
            detail={
                "from_state": previous,
                "attempts": locked.attempts,
                "resumes": resumes,
                "last_error": locked.last_error[:500],
            },
        )
        posting_enqueue(posting_id=locked.pk, tenant_id=locked.tenant_id, now=locked.send_queued_at)
    return locked


BULK_ACTIONS = {"approve": posting_approve, "retry": posting_retry}
BULK_LIMIT = 500  # postings per bulk action: each is prepared (approve) and queued on its own


@dataclass
class PostingsBulkResult:
    """What a bulk approve or retry did: the postings it queued, and those it left, with why."""

    changed: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def postings_bulk_act(*, actor: Any, ids: list[Any], action: str) -> PostingsBulkResult:
    """Approve (drafts) or retry (failed postings) many at once: month end brings a page of them.

    Each posting goes through the one-posting action (:func:`posting_approve`,
    :func:`posting_retry`) with its own checks, lock, transaction and audit event, in arrival
    order, so one that is refused (its payout changed, a closed month, no GL mapping, not a
    draft any more) is reported in ``skipped`` with NetSuite's or the check's reason and does
    not hold back the others. Ids that are not postings of this tenant refuse the whole request
    before anything is done (``not_found``), as another tenant's id would.
    """
    act = BULK_ACTIONS.get(action)
    if act is None:
        raise ServiceError(f"Unknown action {action!r}; choose one of {', '.join(BULK_ACTIONS)}.", field="action")
    if not ids:
        raise ServiceError("Give at least one posting id.", field="ids")
    if len(ids) > BULK_LIMIT:
        raise ServiceError(f"At most {BULK_LIMIT} postings per bulk action.", field="ids")
    wanted = set(parse_ids(ids, field="ids", what="a posting id"))
    postings = list(
        NetsuitePosting.objects.filter(tenant_id=current_tenant().pk, pk__in=wanted)
        .select_related("payout")
        .order_by("payout__arrival_date", "source_id", "pk")
    )
    missing = sorted(str(pk) for pk in wanted - {posting.pk for posting in postings})
    if missing:
        raise ServiceError(f"No posting {', '.join(missing)} in this tenant.", field="ids", code="not_found")
    result = PostingsBulkResult()
    for posting in postings:
        try:
            act(posting=posting, actor=actor)
        except ServiceError as exc:
            result.skipped.append(
                {"id": str(posting.pk), "payout": posting.source_id, "code": exc.code or "refused", "reason": str(exc)}
            )
        else:
            result.changed.append(str(posting.pk))
    return result


# ------------------------------------------------------------------------------ sending


def _send_lock_key(posting_id: Any) -> int:
    # One bigint advisory key per posting; the two-int key space of the slot provider is separate.
    digest = hashlib.blake2b(f"ecomops.netsuite.posting-send:{posting_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _try_send_lock(key: int) -> bool:
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        return bool(cursor.fetchone()[0])


def _release_send_lock(key: int) -> None:
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def _classify(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, NetSuiteError):
        if exc.status in (401, 403) or exc.code in ("INVALID_LOGIN", "invalid_client", "invalid_grant"):
            code = PostingError.NETSUITE_AUTH
        elif exc.retryable:
            code = PostingError.NETSUITE_UNAVAILABLE
        else:
            code = PostingError.NETSUITE_REJECTED
        details = "; ".join(f"{d.code}: {d.detail}" + (f" at {d.path}" if d.path else "") for d in exc.details)
        return code, f"NetSuite {exc.status} after {exc.attempts} attempt(s): {details}"
    if isinstance(exc, NetSuiteClientError):
        return PostingError.NETSUITE_UNAVAILABLE, f"{type(exc).__name__}: {exc}"
    return PostingError.UNEXPECTED, f"{type(exc).__name__}: {exc}"


def _exchange_record(exchange: Exchange | None) -> tuple[dict[str, Any], dict[str, Any]]:
    if exchange is None:
        return {}, {}
    request = {
        "operation": exchange.operation,
        "method": exchange.method,
        "url": exchange.url,
        "headers": exchange.request_headers,
        "body": exchange.request_body,
    }
    response = {
        "status": exchange.status,
        "headers": exchange.response_headers,
        "body": exchange.response_body,
        "error": exchange.error,
        "elapsed_ms": exchange.elapsed_ms,
    }
    return request, response


def _main_exchange(exchanges: list[Exchange]) -> Exchange | None:
    """The journal entry's own exchange, not the token request that may have preceded it."""
    return next((e for e in reversed(exchanges) if e.operation != "oauth2.token"), exchanges[-1] if exchanges else None)


def _attempt_record(exchange: Exchange) -> dict[str, Any]:
    """One HTTP attempt, briefly; what NetSuite said is kept for the attempts that failed."""
    record: dict[str, Any] = {
        "operation": exchange.operation,
        "attempt": exchange.attempt,
        "method": exchange.method,
        "status": exchange.status,
        "elapsed_ms": exchange.elapsed_ms,
        "error": exchange.error,
    }
    if exchange.error or (exchange.status or 0) >= 400:
        record["response_body"] = exchange.response_body[:2000]
    return record


def _record_outcome(
    posting: NetsuitePosting,
    exchanges: list[Exchange],
    *,
    internal_id: str | None,
    error: BaseException | None,
    lock_key: int,
) -> bool:
    """Record the send's outcome on the posting (updated in place) and release its send lock.

    Returns whether the lock was released (else the caller still holds it).
    """
    now = timezone.now()
    posting.exchanges = [_attempt_record(e) for e in exchanges[-MAX_KEPT_EXCHANGES:]]
    posting.request, posting.response = _exchange_record(_main_exchange(exchanges))
    posting.updated_at = now
    if error is None:
        posting.state = PostingState.POSTED
        posting.netsuite_internal_id = str(internal_id)
        posting.posted_at = now
        posting.error_code, posting.last_error = "", ""
    else:
        posting.state = PostingState.FAILED
        posting.error_code, posting.last_error = _classify(error)
        if any(e.operation == "journalentry.upsert" and may_have_been_applied(e) for e in exchanges):
            # However the retries ended, one of them may have been applied: NetSuite may hold
            # the entry. Recording "not posted" would leave a posted entry unreversed if the
            # payout then fails; it is looked up by external id first (postings_settle).
            posting.error_code = PostingError.OUTCOME_UNKNOWN
            posting.last_error = f"{UNKNOWN_OUTCOME_NOTE} Last error: {posting.last_error}"
    _schedule_first_lookup(posting, now)
    values: dict[str, Any] = {
        "state": posting.state,
        "error_code": posting.error_code,
        "last_error": posting.last_error,
        "request": json.dumps(posting.request),
        "response": json.dumps(posting.response),
        "exchanges": json.dumps(posting.exchanges),
        "settle_attempts": posting.settle_attempts,
        "next_settle_at": posting.next_settle_at,
        "updated_at": now,
    }
    if error is None:
        values.update(netsuite_internal_id=posting.netsuite_internal_id, posted_at=now)
    assignments = ", ".join(
        f"{name} = %({name})s::jsonb" if name in ("request", "response", "exchanges") else f"{name} = %({name})s"
        for name in values
    )
    with transaction.atomic():
        # No row lock needed: this session holds the posting's send lock, and nothing else
        # writes a posting in ``sending`` (approve wants a draft, retry refuses a live send).
        # Plain SQL on the hot path, as the claim (see _MAPPING_SQL).
        with db.cursor() as cursor:
            # The send lock goes in the same statement: the row stays locked by this update
            # until the commit, and the next sender takes the row lock before it tries the send
            # lock, so it sees this outcome, never the ``sending`` before it.
            cursor.execute(
                f"UPDATE netsuite_netsuiteposting SET {assignments} WHERE tenant_id = %(tenant)s AND id = %(id)s "
                "RETURNING pg_advisory_unlock(%(lock)s)",
                {**values, "tenant": posting.tenant_id, "id": posting.pk, "lock": lock_key},
            )
            released = cursor.fetchone()
        audit_record(
            action="netsuite.posting_sent",
            actor_kind="task",
            target=posting,
            outcome=Outcome.SUCCESS if error is None else Outcome.FAILURE,
            detail={
                "external_id": posting.external_id,
                "state": posting.state,
                "netsuite_internal_id": str(internal_id or ""),
                "attempt": posting.attempts,
                "http_attempts": len(exchanges),
                **({"error": posting.last_error[:500]} if error is not None else {}),
            },
        )
    return bool(released and released[0])


_POSTING_COLUMNS = _columns(
    NetsuitePosting,
    {
        "id",
        "tenant_id",
        "payout_id",
        "kind",
        "source",
        "source_id",
        "external_id",
        "state",
        "attempts",
        "error_code",
        "amount_minor",
        "currency",
        "approved_by_id",
    },
)
_PAYOUT_COLUMNS = _columns(
    Payout,
    {
        "id",
        "tenant_id",
        "connection_id",
        "source",
        "source_id",
        "subsidiary_id",
        "currency",
        "amount_minor",
        "status",
        "arrival_date",
    },
)
# The claim: one statement that locks the posting row (FOR UPDATE OF n: not its payout's),
# tries the posting's send lock if the posting is there to be sent, marks it ``sending`` with
# one more attempt if the lock was had, and reads everything the send needs: the payout and
# its reconciliation status, the payout's line groups, its GL mapping (and how many would
# match) with the NetSuite connection minus its credentials.
#
# Order matters and is guaranteed: ``claimed`` has row marks, so it is not inlined and its row
# lock is taken (waiting, if need be, for another sender's commit) before ``locked`` tries the
# send lock on the row as it then stands; ``locked`` is read twice, so it is evaluated once.
# Run outside a transaction, the statement commits on its own: ``sending`` is durable before
# any request leaves, in one round trip where a transaction of reads and an update took six.
_CLAIM_SQL = f"""
WITH claimed AS (
    SELECT {", ".join(f"n.{c} AS n_{c}" for c in _POSTING_COLUMNS)},
           {", ".join(f"p.{c} AS p_{c}" for c in _PAYOUT_COLUMNS)},
           r.status AS recon_status, r.difference_minor AS recon_difference
    FROM netsuite_netsuiteposting n
    JOIN canonical_payout p ON p.tenant_id = n.tenant_id AND p.id = n.payout_id
    LEFT JOIN recon_reconpayout r ON r.tenant_id = n.tenant_id AND r.payout_id = n.payout_id
    WHERE n.tenant_id = %(tenant)s AND n.id = %(id)s
    FOR UPDATE OF n
), locked AS (
    SELECT claimed.*,
           CASE WHEN claimed.n_state IN ('{PostingState.APPROVED}', '{PostingState.SENDING}')
                THEN pg_try_advisory_lock(%(lock)s) ELSE false END AS send_lock
    FROM claimed
), marked AS (
    UPDATE netsuite_netsuiteposting n
    SET state = '{PostingState.SENDING}', attempts = n.attempts + 1, sending_started_at = now(), updated_at = now()
    FROM locked
    WHERE n.tenant_id = %(tenant)s AND n.id = locked.n_id AND locked.send_lock
    RETURNING n.attempts, n.sending_started_at
)
SELECT {", ".join(f"locked.n_{c}" for c in _POSTING_COLUMNS)},
       {", ".join(f"locked.p_{c}" for c in _PAYOUT_COLUMNS)},
       locked.recon_status,
       locked.recon_difference,
       locked.send_lock,
       (SELECT attempts FROM marked),
       (SELECT sending_started_at FROM marked),
       {LINE_GROUPS_SUBQUERY.format(payout="locked.p_")},
       mc.candidates,
       {", ".join(f"mc.m_{c}" for c in _MAPPING_COLUMNS)},
       {", ".join(f"mc.c_{c}" for c in _NETSUITE_COLUMNS)},
       mc.credentials_digest
FROM locked
LEFT JOIN LATERAL (
    SELECT {", ".join(f"m.{c} AS m_{c}" for c in _MAPPING_COLUMNS)},
           {", ".join(f"c.{c} AS c_{c}" for c in _NETSUITE_COLUMNS)},
           md5(c.credentials) AS credentials_digest,
           count(*) OVER () AS candidates
    FROM netsuite_glmapping m
    JOIN connections_connection c ON c.tenant_id = m.tenant_id AND c.id = m.netsuite_connection_id
    WHERE m.tenant_id = %(tenant)s AND m.connection_id = locked.p_connection_id
      AND (m.subsidiary_id = locked.p_subsidiary_id OR locked.p_subsidiary_id = '')
    ORDER BY m.id
    LIMIT 1
) mc ON true
"""


@dataclass
class _Claim:
    posting: NetsuitePosting
    was: str  # the posting's state before the claim
    payout: Payout
    recon_status: str
    recon_difference: int | None
    holds_lock: bool
    groups: list[LineGroup]
    mapping: GlMapping | None  # None: no mapping, or more than one could apply


def _claim(posting_id: Any, lock_key: int) -> _Claim | None:
    """Run the claim (see _CLAIM_SQL); the posting comes back as it now is, other fields deferred."""
    tenant_id = current_tenant().pk
    with db.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, {**line_group_parameters(tenant_id), "id": posting_id, "lock": lock_key})
        row = cursor.fetchone()
    if row is None:
        return None
    at = len(_POSTING_COLUMNS)
    posting = _from_row(NetsuitePosting, _POSTING_COLUMNS, row[:at])
    payout = _from_row(Payout, _PAYOUT_COLUMNS, row[at : at + len(_PAYOUT_COLUMNS)])
    at += len(_PAYOUT_COLUMNS)
    recon_status, recon_difference, send_lock, attempts, sending_started_at, raw_groups, candidates = row[at : at + 7]
    was = posting.state
    if send_lock:  # the statement marked it: reflect that on the instance
        posting.state, posting.attempts = PostingState.SENDING, attempts
        posting.sending_started_at = posting.updated_at = sending_started_at
    return _Claim(
        posting=posting,
        was=was,
        payout=payout,
        recon_status=recon_status or "",
        recon_difference=recon_difference,
        holds_lock=bool(send_lock),
        groups=line_groups(raw_groups),
        mapping=_mapping_from_row(row[at + 7 :]) if candidates == 1 else None,
    )


def posting_send(*, posting_id: Any, client: ConnectionClient | None = None) -> NetsuitePosting | None:
    """Send an approved posting (or resume one left ``sending``) to NetSuite, exactly once.

    Safe to run twice and concurrently (see the module docstring). Call it outside a
    transaction (a task, a command): the claim must commit ``sending`` before the request
    leaves. Returns the posting as it ends up, or None if it does not exist. ``client``
    overrides the process's shared client for the posting's NetSuite connection (tests pass
    one with fast retries).
    """
    key = _send_lock_key(posting_id)
    holds_lock = False
    try:
        claim = _claim(posting_id, key)
        if claim is None:
            return None
        posting, holds_lock = claim.posting, claim.holds_lock
        if claim.was not in (PostingState.APPROVED, PostingState.SENDING):
            return posting  # posted, failed, a draft: nothing to send (no lock was tried)
        if not holds_lock:
            logger.info("netsuite_posting_busy", posting_id=str(posting.pk))
            return posting  # another live worker is sending it right now
        try:
            if claim.mapping is None:
                raise _no_mapping(claim.payout)
            prepared = prepare_entry(
                posting,
                claim.payout,
                claim.recon_status,
                mapping=claim.mapping,
                groups=claim.groups,
                recon_difference=claim.recon_difference,
            )
        except PostingBlocked as blocked:
            return _refuse(claim, blocked.code, blocked.message, client=client)
        except Exception as exc:  # a bug must not leave the posting "sending" for ever
            logger.exception("netsuite_posting_prepare_failed", posting_id=str(posting.pk))
            return _refuse(claim, PostingError.UNEXPECTED, f"{type(exc).__name__}: {exc}", client=client)
        if (prepared.amount_minor, prepared.currency) != (posting.amount_minor, posting.currency):
            if posting.approved_by_id is not None:
                lookup = _lookup_if_maybe_sent(claim, client)
                if lookup is not None and lookup.found is not False:
                    # Sent before with the approved figures (or no telling): that is what stands.
                    blocked = _amount_changed(
                        posting, posting.amount_minor, posting.currency, prepared, when="was approved for"
                    )
                    return _refuse(claim, blocked.code, blocked.message, client=client, lookup=lookup)
                _record_back_to_draft(posting, prepared)
                return posting
            # Approved automatically: nobody approved a figure, and recon still says the payout
            # is reconciled; the posting records what is sent.
            _amount_update(posting, prepared)
        # ``sending`` is committed (the claim's own statement) and nothing has left yet. The
        # request goes out with no transaction open: NetSuite can take seconds, and a
        # transaction held that long would pin row locks and vacuum for nothing.
        if client is None:
            try:
                client = shared_client(
                    prepared.netsuite_connection, credentials_digest=prepared.mapping.credentials_digest
                )
            except NetSuiteConfigError as exc:
                # Nothing can be sent until the connection is fixed; the posting must not stay
                # "sending" (nor the task crash) on settings a person has to correct.
                return _refuse(
                    claim,
                    PostingError.NETSUITE_CONFIG,
                    f"The NetSuite connection {prepared.netsuite_connection.name} cannot be used: {exc} "
                    "Fix the connection, then retry the posting.",
                    client=None,
                )
            except Exception as exc:  # a bug must not leave the posting "sending" for ever
                logger.exception("netsuite_client_build_failed", posting_id=str(posting.pk))
                return _refuse(
                    claim,
                    PostingError.UNEXPECTED,
                    f"Could not build the NetSuite client: {type(exc).__name__}",
                    client=None,
                )
        internal_id: str | None = None
        error: BaseException | None = None
        with capture_exchanges() as exchanges:
            try:
                # replace=line: a resend after a lost answer must replace the lines the first
                # send committed, not add a second set to them (NetSuite appends otherwise).
                internal_id = client.upsert_by_external_id(
                    "journalentry", posting.external_id, prepared.body, replace=JOURNAL_SUBLISTS
                )
            except Exception as exc:  # recorded on the posting, with its reason, below
                error = exc
                if not isinstance(exc, NetSuiteClientError):
                    logger.exception("netsuite_posting_unexpected_error", posting_id=str(posting.pk))
        released = _record_outcome(posting, exchanges, internal_id=internal_id, error=error, lock_key=key)
        holds_lock = holds_lock and not released
        if posting.state == PostingState.POSTED and claim.payout.status in FAILED_PAYOUT_STATUSES:
            _reverse_now([posting])
        return posting
    finally:
        if holds_lock:
            _release_send_lock(key)


def _reverse_now(posted: list[NetsuitePosting]) -> None:
    """Payout entries just posted (sent, or found in NetSuite) whose payouts had already failed:
    their reversals are created now, not at the next reconciliation, which may be a sync away.

    A payout that failed before it was posted reaches here when a person resolved its
    ``payout_failed`` exception (the funds came back in a later payout): its entry books what
    it paid out, and the reversal moves its bank line back to clearing at once, so the bank
    account never shows money that did not arrive for longer than the approval takes.
    """
    payout_ids = [p.payout_id for p in posted if p.kind == PostingKind.PAYOUT]
    if payout_ids:
        created = postings_after_recon(payout_ids=payout_ids, settle=False)
        logger.info("netsuite_failed_payouts_reversed_at_once", payouts=len(payout_ids), reversals=created.reversals)


def _lookup_if_maybe_sent(claim: _Claim, client: ConnectionClient | None) -> EntryLookup | None:
    """Ask NetSuite for a claimed posting's entry if an earlier send may have put it there.

    A resumed send (its worker died after the request left) or a retry after no definite
    answer may find the entry in NetSuite already. Sending again settles that by itself (the
    same upsert); a send that is not going to happen (refused, back to draft) must ask first,
    or the posting would say "not posted" of an entry NetSuite holds. None: no need to ask.
    """
    if claim.was != PostingState.SENDING and claim.posting.error_code not in MAYBE_SENT_ERRORS:
        return None
    return _ask_netsuite(claim.posting, claim.mapping, client)


def _refuse(
    claim: _Claim, code: str, message: str, *, client: ConnectionClient | None, lookup: EntryLookup | None = None
) -> NetsuitePosting:
    """Record that a claimed posting is not sent, unless NetSuite turns out to hold its entry already.

    Found: the posting is posted (the refusal no longer matters: the entry stands, and a
    reversal follows if its payout fails). Not found: refused as asked. No telling: failed
    with ``outcome_unknown`` (and the reason it is not sent), to be asked again later.
    """
    posting = claim.posting
    lookup = lookup or _lookup_if_maybe_sent(claim, client)
    if lookup is not None and lookup.found:
        found = _record_found(posting, lookup, expect={"state": PostingState.SENDING}, take_back_attempt=True)
        if found is not None and claim.payout.status in FAILED_PAYOUT_STATUSES:
            _reverse_now([found])
        return found or posting
    if lookup is not None and lookup.found is None:
        code = PostingError.OUTCOME_UNKNOWN
        message = f"{message} {UNKNOWN_OUTCOME_NOTE} Asking NetSuite failed: {lookup.reason}"
    _record_refusal(posting, code, message)
    return posting


def _record_refusal(posting: NetsuitePosting, code: str, message: str) -> None:
    """A claimed posting that cannot be sent: failed with the reason; the claim's attempt taken back."""
    posting.state = PostingState.FAILED
    posting.error_code, posting.last_error = code, message
    posting.attempts -= 1  # nothing was sent
    posting.updated_at = timezone.now()
    _schedule_first_lookup(posting, posting.updated_at)
    with transaction.atomic():
        posting.save(
            update_fields=[
                "state",
                "error_code",
                "last_error",
                "attempts",
                "settle_attempts",
                "next_settle_at",
                "updated_at",
            ]
        )
        audit_record(
            action="netsuite.posting_sent",
            actor_kind="task",
            target=posting,
            outcome=Outcome.FAILURE,
            detail={"external_id": posting.external_id, "code": code, "error": message[:500]},
        )


def _amount_update(posting: NetsuitePosting, prepared: PreparedEntry) -> None:
    was = (posting.amount_minor, posting.currency)
    posting.amount_minor, posting.currency = prepared.amount_minor, prepared.currency
    with transaction.atomic():
        NetsuitePosting.objects.filter(pk=posting.pk).update(
            amount_minor=posting.amount_minor, currency=posting.currency
        )
        audit_record(
            action="netsuite.posting_amount_updated",
            actor_kind="task",
            target=posting,
            detail={"from": list(was), "to": [posting.amount_minor, posting.currency]},
        )


def _record_back_to_draft(posting: NetsuitePosting, prepared: PreparedEntry) -> None:
    """A person approved other figures than the entry would now send: back to them, nothing sent."""
    blocked = _amount_changed(posting, posting.amount_minor, posting.currency, prepared, when="was approved for")
    posting.state = PostingState.DRAFT
    posting.amount_minor, posting.currency = prepared.amount_minor, prepared.currency
    posting.error_code, posting.last_error = blocked.code, blocked.message
    posting.approved_by_id, posting.approved_by_email, posting.approved_at = None, "", None
    posting.attempts -= 1  # nothing was sent
    posting.updated_at = timezone.now()
    with transaction.atomic():
        posting.save(
            update_fields=[
                "state",
                "amount_minor",
                "currency",
                "error_code",
                "last_error",
                "approved_by_id",
                "approved_by_email",
                "approved_at",
                "attempts",
                "updated_at",
            ]
        )
        audit_record(
            action="netsuite.posting_sent",
            actor_kind="task",
            target=posting,
            outcome=Outcome.FAILURE,
            detail={"external_id": posting.external_id, "code": blocked.code, "error": blocked.message[:500]},
        )


# ---------------------------------------------------------------- settling unknown outcomes

SETTLE_MAX_DELAY = timedelta(hours=24)  # however many lookups went unanswered, ask at least daily


def settle_max_attempts() -> int:
    """Unanswered lookups after which the schedule stops asking NetSuite about a posting."""
    return max(1, int(getattr(settings, "POSTING_SETTLE_MAX_ATTEMPTS", 8)))


def _settle_delay(unanswered: int) -> timedelta:
    """How long after a send (0) or after its ``unanswered``-th unanswered lookup to ask next:
    ``POSTING_SETTLE_INTERVAL_MINUTES``, doubling with each lookup NetSuite did not answer."""
    interval = timedelta(minutes=max(1, int(getattr(settings, "POSTING_SETTLE_INTERVAL_MINUTES", 5))))
    return min(interval * 2 ** min(unanswered, 16), SETTLE_MAX_DELAY)


def _schedule_first_lookup(posting: NetsuitePosting, now: datetime) -> None:
    """A send just ended (on the instance), or was given up: an outcome that may have reached
    NetSuite is asked about an interval from now, by the schedule; any other needs no lookup."""
    unknown = posting.state == PostingState.FAILED and posting.error_code in MAYBE_SENT_ERRORS
    posting.settle_attempts = 0
    posting.next_settle_at = now + _settle_delay(0) if unknown else None


@dataclass(frozen=True)
class EntryLookup:
    """What NetSuite said when asked for a posting's entry by its external id."""

    found: bool | None  # True: it holds the entry; False: it does not; None: no telling
    internal_id: str = ""
    reason: str = ""  # why there is no telling
    exchanges: list[Exchange] = field(default_factory=list)


def _lookup_client(mapping: GlMapping | None) -> tuple[ConnectionClient | None, str]:
    """The client to ask with, or None and why there is none."""
    if mapping is None:
        return None, "no single GL mapping names the NetSuite account to ask."
    netsuite_connection = mapping.netsuite_connection
    if not netsuite_connection.enabled:
        return None, f"the NetSuite connection {netsuite_connection.name} is disabled."
    try:
        digest = getattr(mapping, "credentials_digest", None)
        return shared_client(netsuite_connection, credentials_digest=digest), ""
    except NetSuiteConfigError as exc:
        return None, f"the NetSuite connection {netsuite_connection.name} cannot be used: {exc}"
    except Exception as exc:  # reported on the posting; the lookup is tried again later
        logger.exception("netsuite_client_build_failed", connection_id=str(netsuite_connection.pk))
        return None, f"could not build the NetSuite client: {type(exc).__name__}."


def _ask_netsuite(posting: NetsuitePosting, mapping: GlMapping | None, client: ConnectionClient | None) -> EntryLookup:
    """GET ``journalentry/eid:{external_id}``: does NetSuite hold this posting's entry?

    Only NetSuite's own "no such record" (404 with its error body) means it does not; an
    answer from anything else (a proxy's 404 page, a timeout, a refusal of the credentials)
    tells nothing, and the posting stays unknown.
    """
    if client is None:
        client, why_not = _lookup_client(mapping)
        if client is None:
            return EntryLookup(None, reason=why_not)
    sent_to = str((posting.request or {}).get("url") or "")
    if sent_to and not sent_to.startswith(f"{client.base_url}/"):
        # The mapping now names another NetSuite account: a 404 there says nothing about
        # the account the entry was sent to.
        return EntryLookup(None, reason="it was sent to another NetSuite account than the GL mapping now names.")
    with capture_exchanges() as exchanges:
        try:
            record = client.get("journalentry", f"eid:{posting.external_id}", expand_sub_resources=True)
        except NetSuiteError as exc:
            if exc.status == 404 and exc.has_netsuite_body:
                return EntryLookup(False, exchanges=exchanges)
            return EntryLookup(None, reason=_classify(exc)[1], exchanges=exchanges)
        except Exception as exc:  # recorded as "no telling": the posting is asked about again
            if not isinstance(exc, NetSuiteClientError):
                logger.exception("netsuite_lookup_unexpected_error", posting_id=str(posting.pk))
            return EntryLookup(None, reason=_classify(exc)[1], exchanges=exchanges)
    internal_id = str(record.get("id") or "") if isinstance(record, dict) else ""
    if not _INTERNAL_ID.match(internal_id):
        return EntryLookup(None, reason="NetSuite's answer carries no internal id.", exchanges=exchanges)
    return EntryLookup(True, internal_id=internal_id, exchanges=exchanges)


def _record_found(
    posting: NetsuitePosting,
    lookup: EntryLookup,
    *,
    expect: dict[str, Any],
    take_back_attempt: bool,
    actor_kind: str = "task",
) -> NetsuitePosting | None:
    """NetSuite holds the posting's entry: record it as posted, with NetSuite's internal id.

    ``expect`` is what the row must still be (else someone retried or sent it meanwhile, and
    that send records its own outcome: None). The lookup becomes the posting's last exchange:
    its answer is the entry as NetSuite holds it, which a reversal then cancels.
    """
    now = timezone.now()
    with transaction.atomic():
        # One row locked (no lock-ordering concern), as in posting_retry.
        row = NetsuitePosting.objects.select_for_update().filter(pk=posting.pk, **expect).first()
        if row is None:
            return None
        previous_error = row.last_error
        row.state = PostingState.POSTED
        row.netsuite_internal_id = lookup.internal_id
        row.posted_at = now
        row.error_code, row.last_error = "", ""
        row.request, row.response = _exchange_record(_main_exchange(lookup.exchanges))
        row.exchanges = [*row.exchanges, *(_attempt_record(e) for e in lookup.exchanges)][-MAX_KEPT_EXCHANGES:]
        if take_back_attempt:
            row.attempts -= 1  # this send sent nothing
        row.settle_attempts, row.next_settle_at = 0, None
        row.updated_at = now
        row.save(
            update_fields=[
                "state",
                "netsuite_internal_id",
                "posted_at",
                "error_code",
                "last_error",
                "request",
                "response",
                "exchanges",
                "attempts",
                "settle_attempts",
                "next_settle_at",
                "updated_at",
            ]
        )
        audit_record(
            action="netsuite.posting_settled",
            actor_kind=actor_kind,
            target=row,
            outcome=Outcome.SUCCESS,
            detail={
                "external_id": row.external_id,
                "found": True,
                "state": row.state,
                "netsuite_internal_id": row.netsuite_internal_id,
                "error": previous_error[:500],
            },
        )
    return row


def _record_not_found(
    posting: NetsuitePosting, lookup: EntryLookup, *, expect: dict[str, Any], actor_kind: str = "task"
) -> bool:
    """NetSuite holds no entry: the send was not applied; the posting stays failed, to be retried.

    One whose send kept stopping its worker keeps ``send_abandoned``: retried as it is, it would
    most likely stop the worker again, so a person looks at why first."""
    now = timezone.now()
    with transaction.atomic():
        row = NetsuitePosting.objects.select_for_update().filter(pk=posting.pk, **expect).first()
        if row is None:
            return False
        previous_error = row.last_error
        asked = f"asked on {now:%Y-%m-%d %H:%M} UTC, NetSuite holds no entry with external id {row.external_id}"
        if row.error_code == PostingError.SEND_ABANDONED:
            row.last_error = (
                f"Sending this entry stopped its worker {row.resumes + 1} times, and nothing was posted: {asked}. "
                f"Look in the worker logs for posting {row.pk}, then retry it."
            )
        else:
            row.error_code = PostingError.NETSUITE_UNAVAILABLE
            row.last_error = (
                f"NetSuite gave no definite answer to the send; {asked}, so nothing was posted. Retry to send it."
            )
        row.exchanges = [*row.exchanges, *(_attempt_record(e) for e in lookup.exchanges)][-MAX_KEPT_EXCHANGES:]
        row.settle_attempts, row.next_settle_at = 0, None
        row.updated_at = now
        row.save(
            update_fields=["error_code", "last_error", "exchanges", "settle_attempts", "next_settle_at", "updated_at"]
        )
        audit_record(
            action="netsuite.posting_settled",
            actor_kind=actor_kind,
            target=row,
            outcome=Outcome.SUCCESS,
            detail={"external_id": row.external_id, "found": False, "state": row.state, "error": previous_error[:500]},
        )
    return True


def _record_unanswered(
    posting: NetsuitePosting, lookup: EntryLookup, *, expect: dict[str, Any], actor_kind: str
) -> bool:
    """NetSuite could not be asked (or did not answer): count it, and say when to ask next.

    After ``POSTING_SETTLE_MAX_ATTEMPTS`` such lookups the schedule stops asking and the posting
    says so first thing: a person retries it (or waits for a reconciliation, which still asks).
    """
    now = timezone.now()
    with transaction.atomic():
        row = NetsuitePosting.objects.select_for_update().filter(pk=posting.pk, **expect).first()
        if row is None:
            return False
        row.settle_attempts += 1
        limit = settle_max_attempts()
        given_up = row.settle_attempts >= limit
        row.next_settle_at = None if given_up else now + _settle_delay(row.settle_attempts)
        if row.settle_attempts == limit:  # once: reconciliations may go on asking (and counting)
            row.last_error = (
                f"NetSuite answered none of {limit} lookups of external id {row.external_id} (the last on "
                f"{now:%Y-%m-%d %H:%M} UTC: {lookup.reason}), so it is no longer asked every few minutes. "
                f"Retry the posting to settle it: that asks NetSuite again or sends the same upsert "
                f"(never a second entry). {row.last_error}"
            )
        row.exchanges = [*row.exchanges, *(_attempt_record(e) for e in lookup.exchanges)][-MAX_KEPT_EXCHANGES:]
        row.updated_at = now
        row.save(update_fields=["settle_attempts", "next_settle_at", "last_error", "exchanges", "updated_at"])
        audit_record(
            action="netsuite.posting_settle_unanswered",
            actor_kind=actor_kind,
            target=row,
            outcome=Outcome.FAILURE,
            detail={
                "external_id": row.external_id,
                "settle_attempts": row.settle_attempts,
                "next_settle_at": row.next_settle_at.isoformat() if row.next_settle_at else None,
                "given_up": given_up,
                "reason": lookup.reason[:500],
            },
        )
    return True


@dataclass
class PostingsSettled:
    """What :func:`postings_settle` found out."""

    posted: int = 0  # NetSuite holds the entry: now posted
    not_posted: int = 0  # NetSuite holds none: failed, to be retried
    unknown: int = 0  # still no telling: asked again next time


def postings_settle(
    *,
    payout_ids: Iterable[Any] | None = None,
    posting_ids: Iterable[Any] | None = None,
    client: ConnectionClient | None = None,
    actor_kind: str = "task",
    reverse: bool = True,
) -> PostingsSettled:
    """Ask NetSuite about every failed posting whose outcome is unknown, and record what it says.

    A send that ended without a definite answer (``outcome_unknown``), or that kept stopping its
    worker until it was given up (``send_abandoned``: a dead worker may have sent it), may have
    left the entry in NetSuite. Each one is looked up by external id: found, it is posted (so a
    reversal follows if its payout fails: at once, if it has failed already and ``reverse``, as
    when a person or the schedule asks; :func:`postings_after_recon` creates its own after asking);
    not found, it stays failed and can be retried; no telling
    (NetSuite still unreachable), it stays unknown, and the posting counts the lookup and says
    when the schedule asks next (:func:`postings_settle_enqueue_due`). Call it outside a
    transaction: it talks to NetSuite. A posting retried or sent meanwhile is left to that
    send. ``payout_ids`` / ``posting_ids`` narrow the postings asked about; ``actor_kind`` is
    who asks, for the audit trail; ``client`` overrides the shared client of every posting's
    NetSuite connection (tests).
    """
    tenant = current_tenant()
    unknown = NetsuitePosting.objects.filter(
        tenant_id=tenant.pk, state=PostingState.FAILED, error_code__in=MAYBE_SENT_ERRORS
    )
    if payout_ids is not None:
        unknown = unknown.filter(payout_id__in=list(payout_ids))
    if posting_ids is not None:
        unknown = unknown.filter(pk__in=list(posting_ids))
    result = PostingsSettled()
    found_failed: list[NetsuitePosting] = []
    for posting in unknown.select_related("payout").order_by("created_at", "pk"):
        try:
            mapping: GlMapping | None = _mapping_for(posting.payout)
        except PostingBlocked:
            mapping = None
        lookup = _ask_netsuite(posting, mapping, client)
        # Unchanged since it was read: a retry or send in between decides instead.
        expect = {
            "state": PostingState.FAILED,
            "error_code": posting.error_code,
            "attempts": posting.attempts,
        }
        if lookup.found:
            found = _record_found(posting, lookup, expect=expect, take_back_attempt=False, actor_kind=actor_kind)
            if found is not None:
                result.posted += 1
                if posting.payout.status in FAILED_PAYOUT_STATUSES:
                    found_failed.append(found)
        elif lookup.found is False:
            if _record_not_found(posting, lookup, expect=expect, actor_kind=actor_kind):
                result.not_posted += 1
        else:
            result.unknown += 1
            _record_unanswered(posting, lookup, expect=expect, actor_kind=actor_kind)
            logger.warning(
                "netsuite_posting_outcome_still_unknown", posting_id=str(posting.pk), reason=lookup.reason[:500]
            )
    if reverse:
        _reverse_now(found_failed)
    return result


def postings_pending(*, payout_ids: Iterable[Any] | None = None) -> list[uuid.UUID]:
    """Ids of postings waiting to be sent: approved ones, and ``sending`` ones to resume."""
    tenant = current_tenant()
    pending = NetsuitePosting.objects.filter(
        tenant_id=tenant.pk, state__in=(PostingState.APPROVED, PostingState.SENDING)
    )
    if payout_ids is not None:
        pending = pending.filter(payout_id__in=list(payout_ids))
    return list(pending.order_by("created_at", "pk").values_list("pk", flat=True))


# ------------------------------------------------------------ postings nobody else looks after
# Called by the schedule (netsuite.schedule), in each tenant every minute. Each only queues work
# on the ``posting`` queue: the sends and lookups run there, through the one send path and the
# per-account request limit, whichever process or person started them.


def send_lease() -> timedelta:
    """How long after its send started a ``sending`` posting no live worker holds is resumed."""
    return timedelta(minutes=max(1, int(getattr(settings, "POSTING_SEND_LEASE_MINUTES", 5))))


def max_resumes() -> int:
    """Resumes after which a posting whose send keeps killing its worker is left to a person."""
    return max(1, int(getattr(settings, "POSTING_MAX_RESUMES", 3)))


def postings_resume_abandoned(*, now: datetime | None = None) -> list[uuid.UUID]:
    """Queue the send of every posting a dead worker left ``sending``; return their ids.

    Abandoned: its send started more than a lease ago (``POSTING_SEND_LEASE_MINUTES``) and no
    session holds its send lock, which a live sender keeps from its claim to its outcome. The
    resume is the ordinary send (:func:`posting_send`, queued as a retry queues it): it claims
    the posting again under the row and send locks, so a worker that turns out to be alive still
    sends alone, and the same upsert lands on the entry the dead worker may have written.
    Queueing touches ``updated_at``: a resume still waiting in the queue is not queued again
    before another lease has passed. Audited as ``netsuite.posting_resumed``.

    A posting already resumed ``POSTING_MAX_RESUMES`` times (its send killed the worker each
    time, or so it looks) is not resumed again: it is failed with ``send_abandoned`` and says so,
    for a person to look at and retry (:func:`_record_resumes_exhausted`). Its id is not returned.
    """
    tenant = current_tenant()
    now = now or timezone.now()
    lease = send_lease()
    cutoff = now - lease
    abandoned = NetsuitePosting.objects.filter(
        tenant_id=tenant.pk, state=PostingState.SENDING, sending_started_at__lte=cutoff, updated_at__lte=cutoff
    )
    resumed: list[uuid.UUID] = []
    for posting_id in list(abandoned.order_by("created_at", "pk").values_list("pk", flat=True)):
        with transaction.atomic():
            # One row locked at a time (no lock-ordering concern), then its send lock tried, in
            # posting_retry's order: a claim or an outcome of the same posting waits for this.
            locked = (
                NetsuitePosting.objects.select_for_update()
                .filter(pk=posting_id, state=PostingState.SENDING, updated_at__lte=cutoff)
                .first()
            )
            if locked is None or send_in_progress(locked):
                continue
            if locked.resumes >= max_resumes():
                _record_resumes_exhausted(locked, now)
                continue
            started = locked.sending_started_at
            locked.resumes += 1
            locked.updated_at = now
            locked.save(update_fields=["resumes", "updated_at"])
            audit_record(
                action="netsuite.posting_resumed",
                actor_kind="schedule",
                target=locked,
                detail={
                    "external_id": locked.external_id,
                    "attempts": locked.attempts,
                    "resumes": locked.resumes,
                    "sending_started_at": started.isoformat() if started else None,
                    "lease_minutes": int(lease.total_seconds() // 60),
                },
            )
            posting_enqueue(posting_id=locked.pk, tenant_id=locked.tenant_id, now=now)
        logger.info("netsuite_posting_resumed", posting_id=str(posting_id), attempts=locked.attempts)
        resumed.append(posting_id)
    return resumed


def _record_resumes_exhausted(locked: NetsuitePosting, now: datetime) -> None:
    """A posting (row locked, send lock free) resumed as often as allowed, left ``sending`` again:
    failed with ``send_abandoned``, for a person. Its entry may be in NetSuite (a dead worker may
    have sent it), so the schedule looks it up, as an unknown outcome, and the retry's send asks
    NetSuite before it records anything but a send."""
    started = locked.sending_started_at
    locked.state = PostingState.FAILED
    locked.error_code = PostingError.SEND_ABANDONED
    locked.last_error = (
        f"Sending this entry stopped its worker {locked.resumes + 1} times (resumed {locked.resumes} times, "
        f"the last send started on {started or now:%Y-%m-%d %H:%M} UTC, never an answer recorded), so it is "
        f"no longer resumed on its own. Look in the worker logs for posting {locked.pk}, then retry it: the retry "
        "sends the same upsert (never a second entry). NetSuite may already hold the entry: it is asked in a few "
        "minutes, and the posting is recorded as posted if it does."
    )
    _schedule_first_lookup(locked, now)
    locked.updated_at = now
    locked.save(update_fields=["state", "error_code", "last_error", "settle_attempts", "next_settle_at", "updated_at"])
    audit_record(
        action="netsuite.posting_resumes_exhausted",
        actor_kind="schedule",
        target=locked,
        outcome=Outcome.FAILURE,
        detail={
            "external_id": locked.external_id,
            "attempts": locked.attempts,
            "resumes": locked.resumes,
            "sending_started_at": started.isoformat() if started else None,
        },
    )
    logger.warning(
        "netsuite_posting_resumes_exhausted",
        posting_id=str(locked.pk),
        attempts=locked.attempts,
        resumes=locked.resumes,
    )


def queue_lease() -> timedelta:
    """How long after its send was queued an ``approved`` posting no worker claimed may be lost."""
    return timedelta(minutes=max(1, int(getattr(settings, "POSTING_QUEUE_LEASE_MINUTES", 60))))


def _queued_at() -> Coalesce:
    # A posting approved before ``send_queued_at`` was recorded: its last change is when it was queued.
    return Coalesce("send_queued_at", "updated_at")


def postings_requeue_lost(*, now: datetime | None = None) -> list[uuid.UUID]:
    """Queue again the send of ``approved`` postings whose task was lost; return their ids.

    django-q2 does not give a task back when the worker holding it dies before it runs (the
    Redis broker has popped it; the ORM broker hands it out again only after ``TASK_RETRY_SECONDS``),
    and a task queued after a commit is lost with the process that was to queue it: the posting
    stays ``approved``, and nothing else sends it. Lost, as far as can be told without reading the
    broker: its send was queued more than a lease ago (``POSTING_QUEUE_LEASE_MINUTES``), and
    either no send of the tenant started within that lease (the queue is idle or its workers are
    gone) or the queue has moved past it (a send queued later than it started within the lease).
    A backlog still being worked through (10k approvals at month end) is therefore left to the
    queue, however long it takes. A duplicate is harmless: the send claims under the row and send
    locks, and a posting it finds posted, failed or being sent is left alone.

    At most ``REQUEUE_BATCH`` per call, oldest first; each one's ``send_queued_at`` moves to now,
    so it is queued again at most once a lease. Audited as ``netsuite.posting_requeued``.
    """
    tenant = current_tenant()
    now = now or timezone.now()
    lease = queue_lease()
    cutoff = now - lease
    postings = NetsuitePosting.objects.filter(tenant_id=tenant.pk).alias(queued=_queued_at())
    stale = postings.filter(state=PostingState.APPROVED, queued__lte=cutoff)
    if not stale.exists():
        return []
    # Sends claimed within the lease whose last queueing they answered: the queue is working.
    recent = postings.filter(sending_started_at__gt=cutoff, sending_started_at__gte=F("queued"))
    reached = recent.aggregate(reached=Max(_queued_at()))["reached"]
    if reached is not None:
        stale = stale.filter(queued__lt=reached)
    elif postings.filter(sending_started_at__gt=cutoff).exists():
        return []  # sends are being made, none of a queueing that could tell how far the queue is
    requeued: list[uuid.UUID] = []
    for posting_id in list(stale.order_by("queued", "pk").values_list("pk", flat=True)[:REQUEUE_BATCH]):
        with transaction.atomic():
            # One row locked at a time (no lock-ordering concern); a send claiming it right now
            # holds the row and leaves it ``sending``, which the filter then skips.
            locked = (
                NetsuitePosting.objects.select_for_update(of=("self",))
                .alias(queued=_queued_at())
                .filter(pk=posting_id, state=PostingState.APPROVED, queued__lte=cutoff)
                .first()
            )
            if locked is None:
                continue
            queued_at = locked.send_queued_at or locked.updated_at
            audit_record(
                action="netsuite.posting_requeued",
                actor_kind="schedule",
                target=locked,
                detail={
                    "external_id": locked.external_id,
                    "attempts": locked.attempts,
                    "send_queued_at": queued_at.isoformat(),
                    "lease_minutes": int(lease.total_seconds() // 60),
                },
            )
            posting_enqueue(posting_id=locked.pk, tenant_id=locked.tenant_id, now=now)
        logger.info("netsuite_posting_requeued", posting_id=str(posting_id), send_queued_at=queued_at.isoformat())
        requeued.append(posting_id)
    return requeued


def postings_settle_enqueue_due(*, now: datetime | None = None) -> list[uuid.UUID]:
    """Queue a lookup of the postings whose unknown outcome is due to be asked about; return their ids.

    Due: failed with ``outcome_unknown`` or ``send_abandoned``, fewer than
    ``POSTING_SETTLE_MAX_ATTEMPTS`` lookups unanswered since the send, and ``next_settle_at``
    passed (or unset: an unknown outcome recorded before there was a schedule). One task per
    tenant asks NetSuite (:func:`postings_settle`). Their ``next_settle_at`` moves an interval
    on at once, so a tick while the task waits in the queue does not ask twice, and a lost task
    is asked again then.
    """
    tenant = current_tenant()
    now = now or timezone.now()
    due = NetsuitePosting.objects.filter(
        tenant_id=tenant.pk,
        state=PostingState.FAILED,
        error_code__in=MAYBE_SENT_ERRORS,
        settle_attempts__lt=settle_max_attempts(),
    ).filter(
        # An abandoned send is asked about only while a lookup is scheduled: once NetSuite said it
        # holds no entry, it keeps its code (for a person) with nothing scheduled.
        Q(next_settle_at__isnull=True, error_code=PostingError.OUTCOME_UNKNOWN) | Q(next_settle_at__lte=now)
    )
    with transaction.atomic():
        # pk order (rows locked in one order never deadlock); a posting someone is retrying
        # right now is skipped, its retry decides.
        ids = list(due.select_for_update(skip_locked=True).order_by("pk").values_list("pk", flat=True))
        if not ids:
            return []
        NetsuitePosting.objects.filter(tenant_id=tenant.pk, pk__in=ids).update(next_settle_at=now + _settle_delay(0))
        enqueue_task(SETTLE_TASK, tenant_id=tenant.pk, queue="posting", posting_ids=[str(pk) for pk in ids])
    logger.info("netsuite_postings_settle_queued", count=len(ids))
    return ids


# ---------------------------------------------------------------------- SuiteQL


@dataclass(frozen=True)
class SuiteQLAnswer:
    rows: list[dict[str, Any]]
    total_results: int | None
    truncated: bool
    truncation_reason: str | None
    warnings: list[str]


def suiteql_run(*, actor: Any, connection: Connection, query: str, limit: int) -> SuiteQLAnswer:
    """One read-only SuiteQL SELECT through ``connection``, at most ``limit`` rows: the API's
    ``POST /netsuite/suiteql/`` and the MCP tool ``netsuite.suiteql`` alike.

    Anything but a single SELECT is refused before anything is sent (``field="query"``). A query
    that is sent is audited (``netsuite.suiteql``, the query and the outcome) whatever NetSuite
    answers. Refusals are ServiceErrors whose ``code`` says whose fault: ``invalid`` (the query
    is not one read-only SELECT), ``query_refused`` (NetSuite refused it), ``netsuite_config``
    (the connection's settings), ``netsuite_error`` (NetSuite failed), ``netsuite_unavailable``.
    A person or an agent waits on the answer: each page is retried at most twice within 15 s
    (``INTERACTIVE_RETRIES``), not with the budget the worker's postings have.
    """
    from netsuite.suiteql import MAX_PAGE_SIZE, SuiteQLValidationError, validate_read_only

    if connection.provider != Provider.NETSUITE:
        raise ServiceError(f"{connection.name} is not a NetSuite connection.", field="connection")
    try:
        validate_read_only(query)
    except SuiteQLValidationError as exc:
        raise ServiceError(str(exc), field="query") from exc

    def audit(outcome: str, detail: dict[str, Any]) -> None:
        detail = {"query": query[:2000], **detail}
        audit_record(action="netsuite.suiteql", actor=actor, target=connection, outcome=outcome, detail=detail)

    with _netsuite_failures(audit, connection):
        client = shared_client(connection)
        try:
            result = client.suiteql(
                query, max_rows=limit, page_size=min(limit, MAX_PAGE_SIZE), retry_policy=INTERACTIVE_RETRIES
            )
            rows = result.all()
        except NetSuiteError as exc:
            if exc.status != 400:
                raise
            audit(Outcome.FAILURE, {"error": str(exc)[:500]})  # NetSuite's verdict on the query itself
            message = f"NetSuite refused the query: {exc.detail}"
            raise ServiceError(message, field="query", code="query_refused") from exc
    audit(Outcome.SUCCESS, {"rows": len(rows), "truncated": result.truncated})
    return SuiteQLAnswer(
        rows=rows,
        total_results=result.total_results,
        truncated=result.truncated,
        truncation_reason=result.truncation_reason,
        warnings=result.warnings,
    )


# ---------------------------------------------------------------- what NetSuite holds, checked

VERIFY_BATCH = 500  # entries per SuiteQL lookup (their ids are spelled into the query)


@dataclass(frozen=True)
class AccountDrift:
    """One account of an entry: net (debit minus credit, minor units) as sent and as held now."""

    account_id: str
    sent_minor: int
    held_minor: int


@dataclass(frozen=True)
class EntryDrift:
    """A posted entry NetSuite no longer holds as it was sent: ``missing`` (deleted there) or
    ``changed`` (a line's account or amount, or the entry's date, edited there), with the
    accounts that differ and both dates."""

    posting: NetsuitePosting
    status: str
    sent_date: str
    held_date: str = ""  # "" when missing
    accounts: tuple[AccountDrift, ...] = ()


@dataclass(frozen=True)
class EntriesVerified:
    """The posted entries dated in a period, each looked up in NetSuite and compared line by
    line (per account, in the entry's currency) with what was sent."""

    first: date
    last: date
    entries: int  # looked up
    held: int  # found as sent
    drift: tuple[EntryDrift, ...]
    not_checked: int  # posted, but what was sent cannot be read back, or no NetSuite connection maps it now

    def as_data(self) -> dict[str, Any]:
        return {
            "first_day": self.first,
            "last_day": self.last,
            "entries": self.entries,
            "held": self.held,
            "not_checked": self.not_checked,
            "drift": [
                {
                    "posting": d.posting.pk,
                    "kind": d.posting.kind,
                    "payout": d.posting.payout_id,
                    "source": d.posting.source,
                    "source_id": d.posting.source_id,
                    "external_id": d.posting.external_id,
                    "netsuite_internal_id": d.posting.netsuite_internal_id,
                    "currency": d.posting.currency.upper(),
                    "status": d.status,
                    "sent_date": d.sent_date,
                    "held_date": d.held_date,
                    "accounts": [asdict(a) for a in d.accounts],
                }
                for d in self.drift
            ],
        }


@dataclass(frozen=True)
class _Booked:
    """An entry's date (ISO) and net per account in minor units (debit positive)."""

    tran_date: str
    accounts: dict[str, int]


def _as_sent(posting: NetsuitePosting) -> _Booked | None:
    """The entry as it was sent; None if it cannot be read back."""
    read = dated_lines(stored_entry_body(posting), posting.currency, processor_exponent(posting.payout))
    if read is None:
        return None
    dated, lines = read
    accounts: dict[str, int] = {}
    for line in lines:
        accounts[line.account_id] = accounts.get(line.account_id, 0) + line.debit_minor - line.credit_minor
    return _Booked(dated.isoformat(), accounts)


def _as_held(client: Any, postings: list[NetsuitePosting]) -> dict[str, _Booked]:
    """What NetSuite holds of these entries, by internal id: the date (``TO_CHAR``: NetSuite
    would otherwise format it as the user's preference says) and the net per account in minor
    units (``transactionline.foreignamount``: the entry's own currency, debit positive). An
    entry NetSuite no longer has is not in the answer."""
    held: dict[str, _Booked] = {}
    exponents = {p.netsuite_internal_id: currency_exponent(p.currency, processor_exponent(p.payout)) for p in postings}
    ids = sorted(exponents, key=int)
    for start in range(0, len(ids), VERIFY_BATCH):
        batch = ids[start : start + VERIFY_BATCH]
        heads = (
            "SELECT t.id AS entry, TO_CHAR(t.trandate, 'YYYY-MM-DD') AS trandate FROM transaction t "
            f"WHERE t.id IN ({', '.join(batch)})"
        )
        for row in client.suiteql(heads, retry_policy=INTERACTIVE_RETRIES).all():
            held[str(row.get("entry"))] = _Booked(str(row.get("trandate") or ""), {})
        query = (
            "SELECT tal.transaction AS entry, tal.account AS account, SUM(tl.foreignamount) AS amount "
            "FROM transactionaccountingline tal JOIN transactionline tl "
            "ON tl.transaction = tal.transaction AND tl.id = tal.transactionline "
            f"WHERE tal.transaction IN ({', '.join(batch)}) GROUP BY tal.transaction, tal.account"
        )
        for row in client.suiteql(query, retry_policy=INTERACTIVE_RETRIES).all():
            entry = str(row.get("entry"))
            try:
                amount = Decimal(str(row.get("amount") or 0)).scaleb(exponents.get(entry, 2))
            except InvalidOperation as exc:
                raise ServiceError(
                    f"NetSuite answered an amount that is not a number for entry {entry}.", code="netsuite_error"
                ) from exc
            if entry in held:
                held[entry].accounts[str(row.get("account"))] = int(amount.to_integral_value())
    return held


def posted_entries_verify(*, actor: Any, first: date, last: date) -> EntriesVerified:
    """Ask NetSuite whether it still holds each entry posted with a date from ``first`` to
    ``last`` (reversals included) as it was sent: one deleted or edited in NetSuite since breaks
    the month's tie-out, and only NetSuite can say so. Read-only there; audited
    (``netsuite.entries_verified``). NetSuite failing is a ServiceError (``netsuite_config``,
    ``netsuite_error``, ``netsuite_unavailable``), as for SuiteQL."""
    postings = list(posted_around(first=first, last=last).select_related("payout").order_by("arrival_date", "pk"))
    sent: dict[Any, _Booked] = {}
    by_netsuite: dict[Any, tuple[GlMapping, list[NetsuitePosting]]] = {}
    not_checked = 0
    for posting in postings:
        booked = _as_sent(posting)
        if booked is not None and not first.isoformat() <= booked.tran_date <= last.isoformat():
            continue  # dated in another month
        try:
            mapping = _mapping_for(posting.payout) if booked is not None else None
        except PostingBlocked:
            mapping = None
        if booked is None or mapping is None or not _INTERNAL_ID.match(posting.netsuite_internal_id):
            not_checked += 1
            continue
        sent[posting.pk] = booked
        by_netsuite.setdefault(mapping.netsuite_connection_id, (mapping, []))[1].append(posting)

    def audit(outcome: str, detail: dict[str, Any]) -> None:
        detail = {"first_day": first.isoformat(), "last_day": last.isoformat(), **detail}
        audit_record(action="netsuite.entries_verified", actor=actor, outcome=outcome, detail=detail)

    drift: list[EntryDrift] = []
    for mapping, checked in by_netsuite.values():
        with _netsuite_failures(audit, mapping.netsuite_connection):
            held = _as_held(shared_client(mapping.netsuite_connection), checked)
        for posting in checked:
            ours, there = sent[posting.pk], held.get(posting.netsuite_internal_id)
            if there is None:
                drift.append(EntryDrift(posting, "missing", ours.tran_date))
                continue
            differing = tuple(
                AccountDrift(account, ours.accounts.get(account, 0), there.accounts.get(account, 0))
                for account in sorted({*ours.accounts, *there.accounts}, key=lambda a: (len(a), a))
                if ours.accounts.get(account, 0) != there.accounts.get(account, 0)
            )
            if differing or ours.tran_date != there.tran_date:
                drift.append(EntryDrift(posting, "changed", ours.tran_date, there.tran_date, differing))
    entries = len(sent)
    result = EntriesVerified(first, last, entries, entries - len(drift), tuple(drift), not_checked)
    audit(
        Outcome.SUCCESS,
        {
            "entries": entries,
            "held": result.held,
            "not_checked": not_checked,
            "drift": [{"external_id": d.posting.external_id, "status": d.status} for d in drift[:100]],
        },
    )
    return result
