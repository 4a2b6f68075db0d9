"""Reads for NetSuite posting: what a payout consists of, and the lists users see.

:func:`payout_summaries` turns canonical payouts into the pure builder's
:class:`~netsuite.journal.PayoutSummary`: one ``GROUP BY`` over the payout lines (sums
happen in SQL, on integers), then a fold of the few group rows into the summary fields.
Its sign rule is the builder's: each field is a sum of balance-transaction amounts, so the
fields add up to the lines' net, which for a reconciled payout is the payout amount.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection as db
from django.db.models import Case, Count, QuerySet, When
from django.db.models.fields.json import KT
from django.http import Http404

from canonical.models import Payout, PayoutLine
from ecomops.money import minor_exponent
from ecomops.tenancy import current_tenant_id
from netsuite.filters import GlMappingFilter, PostingFilter
from netsuite.journal import BANK, CATEGORIES, Category, JournalBuildError, PayoutSummary, currency_exponent
from netsuite.models import GlMapping, NetsuitePosting, PostingState

# Where a line's *amount* goes, by reporting category (both providers' vocabularies; see
# canonical.rows and connections.shopify.normalize). A line's *fee* goes to processor fees,
# or to dispute fees on dispute lines (Stripe books the dispute fee as the fee of the
# dispute line, and refunds it as a negative fee on the dispute_reversal line).
AMOUNT_FIELD_BY_CATEGORY: dict[str, str] = {
    "charge": "gross_charges_minor",
    "charge_failure": "gross_charges_minor",  # Stripe: a paid charge that failed later (ACH), a negative charge
    "partial_capture_reversal": "gross_charges_minor",
    "refund": "refunds_minor",
    "refund_failure": "refunds_minor",  # a refund that bounced: the money is back, against the refunds account
    "dispute": "disputes_minor",
    "dispute_reversal": "dispute_reversals_minor",
    "fee": "processor_fees_minor",  # fees billed as lines of their own (e.g. Stripe's Instant Payout fee)
    "payout_reversal": "payout_reversal_minor",  # a failed payout's money back in the balance
    # Another payout's own line swept into this one (Stripe's instant and manual payouts):
    # money that left the processor balance for the bank earlier, in that payout's own entry
    # (bank debited, clearing credited); here clearing is debited, so the two cancel there.
    "payout": "manual_payouts_minor",
    "payout_minimum_balance_hold": "reserve_holds_minor",
    "payout_minimum_balance_release": "reserve_releases_minor",
    "adjustment": "adjustments_minor",
}
# Reserve categories with no direction in the name: a negative line holds, a positive one releases.
SIGNED_RESERVE_CATEGORIES = frozenset({"reserve_transaction", "risk_reserved_funds", "connect_reserved_funds"})
# Everything else (Shopify's shopify_billing, tax, financing, transfer, other; Stripe's topup,
# transfer, other_adjustment, ...) is booked as an adjustment until someone maps it better.
UNKNOWN_CATEGORY_FIELD = "adjustments_minor"
DISPUTE_CATEGORIES = frozenset({"dispute", "dispute_reversal"})
# Shopify books the dispute fee, and its refund, as lines of their own inside the dispute categories.
DISPUTE_FEE_TYPES = ("chargeback_fee", "chargeback_fee_refund")


def amount_field(category: str, negative: bool) -> str:
    """The PayoutSummary field a line's amount adds to."""
    if category in SIGNED_RESERVE_CATEGORIES:
        return "reserve_holds_minor" if negative else "reserve_releases_minor"
    return AMOUNT_FIELD_BY_CATEGORY.get(category, UNKNOWN_CATEGORY_FIELD)


def fee_field(category: str) -> str:
    """The PayoutSummary field a line's fee (subtracted) goes to."""
    return "dispute_fees_minor" if category in DISPUTE_CATEGORIES else "processor_fees_minor"


class NotPostableError(JournalBuildError):
    """The payout's data cannot make an entry (no lines, mixed currencies, no date)."""


@dataclass(frozen=True)
class LineGroup:
    """The sums of one payout's lines sharing category, dispute-fee-ness, sign and currency."""

    category: str
    dispute_fee_line: bool
    negative: bool
    currency: str
    amount: int
    fee: int
    net: int
    lines: int


# One payout's lines grouped by (category, dispute-fee line, sign, currency), as a JSON array
# of arrays, for the payout whose id, connection and source id the caller's query names
# (``{payout}``: a table alias or CTE with ``id``, ``connection_id`` and ``source_id``
# columns, named by the caller's prefix). The payout's own line (the transfer to the bank,
# whose source object is the payout itself) is excluded: it is what the other lines add up
# to, not one of them. Used as a correlated subquery, so one statement can carry it.
LINE_GROUPS_SUBQUERY = """(
    SELECT json_agg(json_build_array(g.category, g.fee_line, g.negative, g.currency, g.amount, g.fee, g.net, g.lines))
    FROM (
        SELECT l.reporting_category AS category, lower(l.type) = ANY(%(fee_types)s) AS fee_line,
               l.amount_minor < 0 AS negative, l.currency,
               SUM(l.amount_minor)::bigint AS amount, SUM(l.fee_minor)::bigint AS fee,
               SUM(l.net_minor)::bigint AS net, COUNT(*) AS lines
        FROM canonical_payoutline l
        WHERE l.tenant_id = %(tenant)s AND l.connection_id = {payout}connection_id
          AND l.payout_source_id = {payout}source_id AND l.source_object_id <> {payout}source_id
        GROUP BY 1, 2, 3, 4
    ) g
)"""
_SUMMARIES_SQL = (
    "SELECT p.id, "
    + LINE_GROUPS_SUBQUERY.format(payout="p.")
    + " FROM canonical_payout p WHERE p.tenant_id = %(tenant)s AND p.id = ANY(%(ids)s)"
)


def line_groups(raw: Any) -> list[LineGroup]:
    """The groups from LINE_GROUPS_SUBQUERY's JSON (text or already parsed; NULL: no lines)."""
    if raw is None:
        return []
    rows = json.loads(raw) if isinstance(raw, str | bytes) else raw
    return [LineGroup(*row) for row in rows]


def line_group_parameters(tenant_id: Any) -> dict[str, Any]:
    """The parameters LINE_GROUPS_SUBQUERY needs."""
    return {"tenant": tenant_id, "fee_types": list(DISPUTE_FEE_TYPES)}


def payout_summaries(*, payouts: Iterable[Payout]) -> dict[uuid.UUID, PayoutSummary | JournalBuildError]:
    """Each payout's summary by category, or why it cannot have one; one query for all of them."""
    payouts = list(payouts)
    if not payouts:
        return {}
    tenant_id = current_tenant_id()
    with db.cursor() as cursor:
        cursor.execute(_SUMMARIES_SQL, {**line_group_parameters(tenant_id), "ids": [p.pk for p in payouts]})
        groups = {payout_id: line_groups(raw) for payout_id, raw in cursor.fetchall()}
    return {p.pk: summarize(p, groups.get(p.pk, []), tenant_id) for p in payouts}


def payout_summary(*, payout: Payout) -> PayoutSummary:
    """One payout's summary; raises JournalBuildError when it cannot have one."""
    result = payout_summaries(payouts=[payout])[payout.pk]
    if isinstance(result, JournalBuildError):
        raise result
    return result


def summarize(payout: Payout, groups: list[LineGroup], tenant_id: Any) -> PayoutSummary | JournalBuildError:
    """Fold a payout's line groups into the builder's summary (or say why there is none)."""
    label = f"{payout.source} payout {payout.source_id}"
    fields: dict[str, int] = defaultdict(int)
    if not groups:
        if payout.automatic:
            return NotPostableError(f"{label} has no lines yet; it can be posted once the processor lists them")
        # A manual or instant payout lists no lines: what it paid out is itemized in the
        # processor's balance, and its own line is swept into a later automatic payout, whose
        # entry debits clearing with it. Its own entry moves the money from clearing to the
        # bank, on the day it arrived, so the bank account sees every deposit.
        fields["manual_payouts_minor"] = payout.amount_minor
    currencies = sorted({g.currency.upper() for g in groups} | {payout.currency.upper()})
    if len(currencies) > 1:
        return NotPostableError(f"{label} mixes currencies ({', '.join(currencies)}); lines must be in its currency")
    if payout.arrival_date is None:
        return NotPostableError(f"{label} has no arrival date")
    for group in groups:
        if group.dispute_fee_line and group.category in DISPUTE_CATEGORIES:
            fields["dispute_fees_minor"] += group.amount
        else:
            fields[amount_field(group.category, group.negative)] += group.amount
        fields[fee_field(group.category)] -= group.fee
    return PayoutSummary(
        tenant_id=str(tenant_id),
        source=payout.source,  # type: ignore[arg-type]
        payout_id=payout.source_id,
        currency=payout.currency.upper(),
        arrival_date=payout.arrival_date,
        subsidiary_id=payout.subsidiary_id,
        amount_minor=payout.amount_minor,
        currency_exponent=processor_exponent(payout),
        **fields,
    )


def processor_exponent(payout: Payout) -> int | None:
    """Stripe's own exponent where it differs from ISO 4217 (ISK, HUF... in two decimals)."""
    return source_exponent(payout.source, payout.currency)


def source_exponent(source: str, currency: str) -> int | None:
    """:func:`processor_exponent` for a payout known by its source and currency only."""
    if source != "stripe":
        return None  # Shopify speaks ISO 4217
    return minor_exponent(currency, "stripe")


def reversal_summary(*, payout: Payout, bank_minor: int | None = None) -> PayoutSummary:
    """The entry that takes back a posted payout that failed: the bank credited, clearing debited.

    Dated the day the processor returned the money (its ``payout_reversal`` line), else the
    arrival date. ``bank_minor`` is what the original entry debited the bank with (see
    :func:`posted_entry`), so the reversal cancels that line exactly; else the payout amount.

    Only the bank line is taken back: the charges, fees and refunds the payout paid out
    still happened, and the returned money sits in the processor balance (clearing) until a
    later payout pays it out again through its ``payout_reversal`` line.
    """
    amount_minor = payout.amount_minor if bank_minor is None else bank_minor
    failed_on = (
        PayoutLine.objects.filter(
            tenant_id=payout.tenant_id,
            connection_id=payout.connection_id,
            source_object_id=payout.source_id,
            reporting_category="payout_reversal",
        )
        .order_by("source_created_at")
        .values_list("source_created_at", flat=True)
        .first()
    )
    transaction_date: date | None = failed_on.date() if failed_on else payout.arrival_date
    if transaction_date is None:
        raise NotPostableError(f"{payout.source} payout {payout.source_id} has no date to reverse it on")
    return PayoutSummary(
        tenant_id=str(payout.tenant_id),
        source=payout.source,  # type: ignore[arg-type]
        payout_id=payout.source_id,
        currency=payout.currency.upper(),
        arrival_date=transaction_date,
        subsidiary_id=payout.subsidiary_id,
        amount_minor=-amount_minor,
        payout_reversal_minor=-amount_minor,
        kind="reversal",
        currency_exponent=processor_exponent(payout),
    )


@dataclass(frozen=True)
class PostedEntry:
    """Where an entry already in NetSuite booked the payout: what a reversal has to mirror.

    ``accounts`` maps the GL mapping's account names (``bank``, ``clearing``...) to the
    account ids the entry used; ``bank_minor`` is its bank line, signed as ``amount_minor``.
    """

    subsidiary_id: str
    currency_id: str
    accounts: dict[str, str]
    bank_minor: int | None


# Each line's memo starts with its category's label (journal.build_lines): the label, not
# the position, tells which mapping account a line of a stored entry was booked to.
_LABEL_PREFIXES = tuple((f"{category.label} - ", category) for category in (BANK, *CATEGORIES))


def line_category(memo: str) -> Category | None:
    """The category of an entry line, told by its memo (None for a line not built here)."""
    return next((c for prefix, c in _LABEL_PREFIXES if memo.startswith(prefix)), None)


@dataclass(frozen=True)
class EntryLine:
    """One line of a journal entry, in minor units of the entry's currency."""

    account_id: str
    mapped_as: str  # the GL mapping's field the account comes from (bank_account...); "" if not told
    memo: str
    debit_minor: int
    credit_minor: int
    account_name: str = ""  # NetSuite's, as the GL mapping's last check found it; "" if not known


def account_names(*, connection_id: Any = None) -> dict[str, str]:
    """NetSuite's name of each account id the current tenant's GL mappings (of ``connection_id``,
    or all) were last checked with: ``{"110": "1200 Undeposited Funds"}``."""
    mappings = GlMapping.objects.filter(tenant_id=current_tenant_id(), checked_at__isnull=False)
    if connection_id is not None:
        mappings = mappings.filter(connection_id=connection_id)
    names: dict[str, str] = {}
    for mapping in mappings.order_by("-checked_at"):  # the newest check speaks first
        for account_id, name in mapping.account_names().items():
            names.setdefault(account_id, name)
    return names


def named_lines(lines: tuple[EntryLine, ...], names: Mapping[str, str]) -> tuple[EntryLine, ...]:
    """The lines, each with its account's name where ``names`` knows it."""
    return tuple(replace(line, account_name=names.get(line.account_id, "")) for line in lines)


def entry_lines(body: dict[str, Any], currency: str, override: int | None) -> tuple[EntryLine, ...] | None:
    """An entry body's lines (amounts as Decimal, as built or as stored) in minor units; None if
    unreadable."""
    try:
        exponent = currency_exponent(currency, override)
        lines = []
        for item in body["line"]["items"]:
            memo = str(item.get("memo") or "")
            category = line_category(memo)
            debit, credit = (Decimal(str(item.get(side) or 0)).scaleb(exponent) for side in ("debit", "credit"))
            lines.append(
                EntryLine(
                    account_id=str((item.get("account") or {}).get("id") or ""),
                    mapped_as=f"{category.account}_account" if category else "",
                    memo=memo,
                    debit_minor=int(debit.to_integral_exact()),
                    credit_minor=int(credit.to_integral_exact()),
                )
            )
    except (KeyError, TypeError, AttributeError, InvalidOperation, ArithmeticError, JournalBuildError):
        return None
    return tuple(lines)


def stored_entry_body(posting: NetsuitePosting) -> dict[str, Any] | None:
    """The journal entry a sent posting's stored exchange holds (numbers as exact ``Decimal``),
    or None: the request body of the upsert, or the answer of the lookup (a GET) that found it
    in NetSuite after a send without a definite answer."""
    request, response = posting.request or {}, posting.response or {}
    source = response if request.get("method") == "GET" else request
    return _entry_body(source.get("body") if isinstance(source, dict) else None)


def _entry_body(text: Any) -> dict[str, Any] | None:
    try:
        body = json.loads(text or "", parse_float=Decimal)
    except (ValueError, TypeError):
        return None
    return body if isinstance(body, dict) else None


# Of a posting's stored exchange, only the text that holds its entry (read in SQL: the rest of
# the exchange, headers and all, is not loaded).
_ENTRY_TEXT = Case(When(request__method="GET", then=KT("response__body")), default=KT("request__body"))


def posted_entry(*, posting: NetsuitePosting, currency_exponent_override: int | None = None) -> PostedEntry | None:
    """What a sent posting's stored request told NetSuite, or None if it cannot be read back.

    The request body kept on the posting is the entry NetSuite holds for its external id
    (the upsert replaces the whole record), so a reversal built from it cancels what was
    posted even after the GL mapping has changed. A posting found in NetSuite after a send
    without a definite answer keeps the lookup (a GET) instead: its answer is the entry.
    """
    body = stored_entry_body(posting)
    try:
        subsidiary_id, currency_id = str(body["subsidiary"]["id"]), str(body["currency"]["id"])  # type: ignore[index]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    lines = entry_lines(body, posting.currency, currency_exponent_override)  # type: ignore[arg-type]
    if lines is None:
        return None
    accounts: dict[str, str] = {}
    bank_minor: int | None = None
    for line in lines:
        if not line.mapped_as or not line.account_id:
            continue
        category = line.mapped_as.removesuffix("_account")
        accounts.setdefault(category, line.account_id)
        if category == BANK.account:
            bank_minor = line.debit_minor - line.credit_minor
    return PostedEntry(subsidiary_id, currency_id, accounts, bank_minor)


# A payout fails days after it was paid, never months: how far before a month a payout may have
# arrived whose reversal is dated in it.
REVERSAL_LOOKBACK_DAYS = 92


def posted_around(*, first: date, last: date) -> QuerySet[NetsuitePosting]:
    """The current tenant's posted entries that may be dated from ``first`` to ``last``: those of
    payouts that arrived then, and reversals of ones that arrived up to ``REVERSAL_LOOKBACK_DAYS``
    before. Which are dated in the period, only their stored entries tell (``dated_lines``)."""
    return NetsuitePosting.objects.filter(
        tenant_id=current_tenant_id(),
        state=PostingState.POSTED,
        arrival_date__gte=first - timedelta(days=REVERSAL_LOOKBACK_DAYS),
        arrival_date__lte=last,
    )


def dated_lines(
    body: dict[str, Any] | None, currency: str, override: int | None
) -> tuple[date, tuple[EntryLine, ...]] | None:
    """A stored entry's date (``tranDate``) and its lines in minor units; None if unreadable."""
    lines = entry_lines(body, currency, override) if body else None
    try:
        dated = date.fromisoformat(str(body["tranDate"])) if body else None  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return None
    return (dated, lines) if lines is not None and dated is not None else None


def posted_by_account(*, first: date, last: date) -> dict[str, Any]:
    """What NetSuite holds of the entries dated from ``first`` to ``last``: debits and credits
    per processor, currency and account, as the entries were sent, to tie out against NetSuite's own
    account activity for the period. An entry not posted yet is not counted; one whose stored
    exchange cannot be read is counted in ``unreadable``."""
    postings = (
        posted_around(first=first, last=last)
        .annotate(entry_text=_ENTRY_TEXT)
        .values_list("entry_text", "currency", "source")
        .order_by("pk")
    )
    accounts: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    names = account_names()
    entries = unreadable = 0
    for text, currency, source in postings.iterator(chunk_size=500):
        read = dated_lines(_entry_body(text), currency, source_exponent(source, currency))
        if read is None:
            unreadable += 1
            continue
        dated, lines = read
        if not first <= dated <= last:
            continue
        entries += 1
        for line in lines:
            # per processor too: minor units are the processor's (Stripe books ISK in two decimals)
            total = accounts.setdefault(
                (source, currency.upper(), line.account_id, line.mapped_as),
                {"source": source, "currency": currency.upper(), "account_id": line.account_id,
                 "account_name": names.get(line.account_id, ""), "mapped_as": line.mapped_as,
                 "debit_minor": 0, "credit_minor": 0, "lines": 0},
            )  # fmt: skip
            total["debit_minor"] += line.debit_minor
            total["credit_minor"] += line.credit_minor
            total["lines"] += 1
    rows = sorted(accounts.values(), key=lambda r: (r["source"], r["currency"], r["account_id"], r["mapped_as"]))
    return {"entries": entries, "unreadable": unreadable, "accounts": rows}


# ------------------------------------------------------------------------- user-facing lists


class FilterError(ValueError):
    """Bad filter values: answered as 400 naming the fields."""

    def __init__(self, errors: Mapping[str, Any]) -> None:
        super().__init__("invalid filters")
        self.errors = dict(errors)


# What a list of postings leaves out: each row's last request and response and its exchanges
# (the detail shows them), and its connection's credentials, decrypted on every row read.
POSTING_LIST_DEFER = ("request", "response", "exchanges", "connection__credentials")


def posting_list(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[NetsuitePosting]:
    """The tenant's postings the user may see, filtered (``netsuite.filters.PostingFilter``).

    For lists (pages, CSV, the API): see ``POSTING_LIST_DEFER``; one posting is ``posting_get``.
    Newest first; the drafts of one reconciliation run, made at the same instant, by arrival day
    (latest first), as a person works through them.
    """
    if not user.has_perm("netsuite.view_netsuiteposting"):
        return NetsuitePosting.objects.none()
    queryset = _postings().defer(*POSTING_LIST_DEFER)
    filterset = PostingFilter(filters or {}, queryset=queryset.order_by("-created_at", "-arrival_date", "external_id"))
    if not filterset.is_valid():
        raise FilterError(filterset.errors)
    return filterset.qs


def _postings() -> QuerySet[NetsuitePosting]:
    return NetsuitePosting.objects.filter(tenant_id=current_tenant_id()).select_related("connection")


def posting_summary(*, user: Any) -> dict[str, Any] | None:
    """What the dashboard says about posting: postings by state, and the newest failure."""
    if not user.has_perm("netsuite.view_netsuiteposting"):
        return None
    postings = NetsuitePosting.objects.filter(tenant_id=current_tenant_id())
    by_state = dict(postings.values_list("state").annotate(n=Count("id")).values_list("state", "n"))
    failed = postings.filter(state=PostingState.FAILED).order_by("-updated_at").first()
    return {
        "awaiting_approval": by_state.get(PostingState.DRAFT, 0),
        "queued": by_state.get(PostingState.APPROVED, 0) + by_state.get(PostingState.SENDING, 0),
        "posted": by_state.get(PostingState.POSTED, 0),
        "failed": by_state.get(PostingState.FAILED, 0),
        "last_failure": failed,
        "any": bool(by_state),
    }


def posting_get(*, user: Any, pk: Any) -> NetsuitePosting:
    """One posting, or 404 whether it is missing, another tenant's, or not the user's to see."""
    try:
        key = uuid.UUID(str(pk))
    except ValueError:
        raise Http404 from None
    if not user.has_perm("netsuite.view_netsuiteposting"):
        raise Http404
    posting = _postings().filter(pk=key).first()
    if posting is None:
        raise Http404
    return posting


def gl_mapping_list(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[GlMapping]:
    """The tenant's GL mappings the user may see."""
    if not user.has_perm("netsuite.view_glmapping"):
        return GlMapping.objects.none()
    queryset = GlMapping.objects.filter(tenant_id=current_tenant_id()).select_related(
        "connection", "netsuite_connection"
    )
    filterset = GlMappingFilter(filters or {}, queryset=queryset.order_by("connection__name", "subsidiary_id", "pk"))
    if not filterset.is_valid():
        raise FilterError(filterset.errors)
    return filterset.qs


def gl_mapping_get(*, user: Any, pk: Any) -> GlMapping:
    """One mapping, or 404."""
    try:
        key = uuid.UUID(str(pk))
    except ValueError:
        raise Http404 from None
    mapping = gl_mapping_list(user=user).filter(pk=key).first()
    if mapping is None:
        raise Http404
    return mapping
