"""Closing a month: what still stands between the books and the processors' payouts.

One selector, ``month_close``, for the page, its CSV and the API. A month is closed on the
payouts that arrived in it (a payout with no arrival date counts on the day it was created):
each processor synced after the month ended (at midnight in its own time zone), each payout
reconciled, without open exceptions, and posted to NetSuite. Exceptions belong to the month
of their payout, or, with no payout (an order never paid out), to the month of their own
date; the exceptions queue's ``month`` filter uses the same rule (``exceptions_of_month``),
so the page's counts and the queue it links to agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Min, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from canonical.models import Payout
from connections.models import PAYMENT_PROVIDERS, Connection, ConnectionStatus, Provider, SyncJob, SyncJobStatus
from ecomops.money import format_minor
from ecomops.tenancy import current_tenant_id
from recon.engine import FAILED_PAYOUT_STATUSES, NOT_PAID_YET
from recon.models import OPEN_STATES, ExceptionState, MonthClose, ReconException, ReconRun, RunStatus

_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")
PAYOUT_FIELDS = [
    "id",
    "source_id",
    "arrival_date",
    "source_created_at",
    "status",
    "method",
    "amount_minor",
    "currency",
    "connection__provider",
    "connection__name",
    "recon__status",
    "recon__difference_minor",
    "recon__open_exceptions",
]


@dataclass(frozen=True)
class Month:
    first: date  # its first day
    end: date  # the first day of the next month

    @property
    def last(self) -> date:
        return date.fromordinal(self.end.toordinal() - 1)

    def ended_at(self, zone: tzinfo = UTC) -> datetime:
        """When the month is over where the days are kept in ``zone``: midnight there after its
        last day (a shop in Los Angeles ends October at 07:00 UTC on November 1st)."""
        return datetime.combine(self.end, time.min, tzinfo=zone)

    @property
    def label(self) -> str:
        return self.first.strftime("%Y-%m")

    @property
    def previous(self) -> Month:
        return month_of(date.fromordinal(self.first.toordinal() - 1))

    @property
    def next(self) -> Month:
        return month_of(self.end)


def month_of(day: date) -> Month:
    first = day.replace(day=1)
    end = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return Month(first=first, end=end)


def parse_month(value: Any) -> Month:
    """``"2026-10"`` -> that month; anything else is a ValidationError that says what is expected.

    The value given is passed as a parameter, never put into the message itself: form and
    filter errors are %-formatted, and a ``%`` typed by someone must not break that."""
    text = str(value or "").strip()
    if not text:
        raise ValidationError("a month is required, as YYYY-MM (e.g. 2026-10)", code="required")
    match = _MONTH.match(text)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValidationError(
            "month must be a month as YYYY-MM (e.g. 2026-10), not %(value)s",
            code="invalid",
            params={"value": repr(text[:20])},
        )
    if not 1970 <= int(match.group(1)) <= 9998:
        raise ValidationError(
            "month must be between 1970-01 and 9998-12, not %(value)s", code="invalid", params={"value": repr(text)}
        )
    return month_of(date(int(match.group(1)), int(match.group(2)), 1))


ON_THEIR_WAY = ("pending", "in_transit")  # the canonical statuses of a payout that has not arrived


def month_to_open(*, user: Any, today: date) -> Month:
    """The month the close page and the dashboard open on when none is asked for: the latest
    month that has ended (before ``today``'s) with payouts of the tenant in it, counted as the
    month counts them (arrival date, else the day created); the month that ended last when
    there are none (a new tenant), or when the user may not see reconciliation.

    Not simply the month that ended last: a tenant whose payouts stopped (a demo's data, a
    processor left) would open on an empty month each time. And a month is counted by a payout
    that has arrived (or failed), not by one still pending or in transit: where the data stops
    (a processor left, a sandbox's business that ends), the last month would otherwise hold only
    the payouts on their way, which never arrive, and could never be closed. When no payout has
    arrived at all, one on its way counts after all."""
    last_ended = month_of(today).previous
    if not user.has_perm("recon.view_reconpayout"):
        return last_ended
    payouts = Payout.objects.filter(tenant_id=current_tenant_id())
    this_month = month_of(today).first
    # separate reads, so each is a walk down the (tenant_id, arrival_date) index
    before = payouts.filter(arrival_date__lt=this_month)
    arrived = before.exclude(status__in=ON_THEIR_WAY).aggregate(latest=Max("arrival_date"))["latest"]
    if arrived is None:
        arrived = before.aggregate(latest=Max("arrival_date"))["latest"]
    created = payouts.filter(arrival_date__isnull=True, source_created_at__date__lt=this_month).aggregate(
        latest=Max("source_created_at__date")
    )["latest"]
    latest = max((day for day in (arrived, created) if day is not None), default=None)
    return month_of(latest) if latest else last_ended


def _payouts_q(month: Month, prefix: str = "") -> Q:
    """Payouts that count in ``month``: by arrival date, else by the day they were created."""
    return Q(**{f"{prefix}arrival_date__gte": month.first, f"{prefix}arrival_date__lt": month.end}) | Q(
        **{
            f"{prefix}arrival_date__isnull": True,
            f"{prefix}source_created_at__date__gte": month.first,
            f"{prefix}source_created_at__date__lt": month.end,
        }
    )


def exceptions_of_month(queryset: QuerySet[ReconException], month: Month) -> QuerySet[ReconException]:
    """The exceptions that belong to ``month``: their payout's, or their own date's with no payout."""
    return queryset.filter(
        (Q(payout__isnull=False) & _payouts_q(month, "payout__"))
        | Q(payout__isnull=True, occurred_on__gte=month.first, occurred_on__lt=month.end)
    )


def _check(key: str, passed: bool, title: str, detail: str, link: str = "") -> dict[str, Any]:
    return {"key": key, "passed": passed, "title": title, "detail": detail, "link": link}


def _plural(n: int, word: str, words: str = "") -> str:
    return f"{n} {word if n == 1 else words or word + 's'}"


def _posting_row(posting: dict[str, Any] | None) -> dict[str, Any] | None:
    if posting is None:
        return None
    return {
        "id": str(posting["id"]),
        "state": posting["state"],
        "netsuite_internal_id": posting["netsuite_internal_id"],
        "error_code": posting["error_code"],
        "amount_minor": posting["amount_minor"],
    }


def month_close(*, user: Any, month: Month) -> dict[str, Any] | None:
    """The month's checklist, its payouts (each with its status and postings), and totals per
    processor and currency. None if the user may not see reconciliation; without the postings
    permission, postings are left out (``postings_visible`` False) and their check not made."""
    if not user.has_perm("recon.view_reconpayout"):
        return None
    from netsuite.models import NetsuitePosting, PostingKind, PostingState

    tenant_id = current_tenant_id()
    postings_visible = user.has_perm("netsuite.view_netsuiteposting")
    sources = list(
        Connection.objects.filter(tenant_id=tenant_id, provider__in=PAYMENT_PROVIDERS, enabled=True).order_by("name")
    )
    # Plain rows, not model instances: a month may hold thousands of payouts, and neither their
    # raw payloads nor the connections' credentials are needed (10k payouts: 0.5 s, not 2.8 s).
    payouts = list(
        Payout.objects.filter(tenant_id=tenant_id)
        .filter(_payouts_q(month))
        .order_by("arrival_date", "connection__name", "source_id", "pk")
        .values(*PAYOUT_FIELDS)
    )
    postings: dict[tuple[Any, str], dict[str, Any]] = {}
    has_netsuite = False
    if postings_visible:
        for posting in NetsuitePosting.objects.filter(
            tenant_id=tenant_id, payout__in=[p["id"] for p in payouts]
        ).values("id", "payout_id", "kind", "state", "netsuite_internal_id", "error_code", "amount_minor"):
            postings[(posting["payout_id"], posting["kind"])] = posting
        has_netsuite = Connection.objects.filter(tenant_id=tenant_id, provider=Provider.NETSUITE, enabled=True).exists()

    rows, totals = [], {}
    counts = {"reconciled": 0, "exceptions": 0, "pending": 0, "unevaluated": 0}
    posting_counts = {"posted": 0, "awaiting_approval": 0, "queued": 0, "failed": 0, "missing": 0}
    for payout in payouts:
        status = payout["recon__status"] or "unevaluated"
        counts[status] += 1
        paid = payout["status"] not in NOT_PAID_YET and payout["status"] not in FAILED_PAYOUT_STATUSES
        posting = postings.get((payout["id"], PostingKind.PAYOUT))
        reversal = postings.get((payout["id"], PostingKind.REVERSAL))
        # What NetSuite must hold for this payout: its entry once paid; a failed payout's entry
        # only if it had been posted, and then its reversal too.
        needed = [p for p, due in ((posting, paid), (reversal, posting is not None and not paid)) if due]
        for p in needed:
            if p is None:
                posting_counts["missing"] += 1
            elif p["state"] == PostingState.POSTED:
                posting_counts["posted"] += 1
            elif p["state"] == PostingState.DRAFT:
                posting_counts["awaiting_approval"] += 1
            elif p["state"] == PostingState.FAILED:
                posting_counts["failed"] += 1
            else:
                posting_counts["queued"] += 1
        source, currency = payout["connection__provider"], payout["currency"].upper()
        total = totals.setdefault(
            (source, currency),
            {"source": source, "currency": currency, "payouts": 0, "paid_minor": 0, "failed_minor": 0,
             "posted_minor": 0, "not_posted_minor": 0},
        )  # fmt: skip
        total["payouts"] += 1
        if paid:
            total["paid_minor"] += payout["amount_minor"]
            # Paid, not posted: what NetSuite lacks of this payout. A failed payout's entry, still
            # standing while its reversal waits, counts as posted but takes nothing off this.
            entered = posting["amount_minor"] if posting and posting["state"] == PostingState.POSTED else 0
            total["not_posted_minor"] += payout["amount_minor"] - entered
        elif payout["status"] in FAILED_PAYOUT_STATUSES:
            total["failed_minor"] += payout["amount_minor"]
        for p in (posting, reversal):
            if p is not None and p["state"] == PostingState.POSTED:
                total["posted_minor"] += p["amount_minor"]
        rows.append(
            {
                "id": str(payout["id"]),
                "source_id": payout["source_id"],
                "source": source,
                "connection": payout["connection__name"],
                "arrival_date": payout["arrival_date"] or payout["source_created_at"].date(),
                "status": payout["status"],
                "method": payout["method"],
                "amount_minor": payout["amount_minor"],
                "currency": currency,
                "recon_status": status,
                "difference_minor": payout["recon__difference_minor"],
                "open_exceptions": payout["recon__open_exceptions"] or 0,
                "posting": _posting_row(posting) if postings_visible else None,
                "reversal": _posting_row(reversal) if postings_visible else None,
            }
        )

    open_exceptions = exceptions_of_month(
        ReconException.objects.filter(tenant_id=tenant_id, state__in=OPEN_STATES), month
    )
    by_reason = dict(
        open_exceptions.values_list("reason")
        .annotate(n=Count("id"))
        .values_list("reason", "n")
        .order_by("-n", "reason")
    )
    by_state = dict(open_exceptions.values_list("state").annotate(n=Count("id")).values_list("state", "n"))
    last_run = (
        ReconRun.objects.filter(tenant_id=tenant_id).exclude(status=RunStatus.QUEUED).order_by("-queued_at").first()
    )

    checks = [
        _sources_check(sources, month, {c.pk: _synced_as_of(c) for c in sources}),
        _recon_check(last_run, sources),
        _payouts_check(counts, len(payouts)),
        _exceptions_check(by_state, month),
    ]
    if postings_visible:
        checks.append(_postings_check(posting_counts, has_netsuite, month))
    record = MonthClose.objects.filter(tenant_id=tenant_id, month=month.first, reopened_at__isnull=True).first()
    in_netsuite = None
    if postings_visible and has_netsuite:
        from netsuite.selectors import posted_by_account

        in_netsuite = posted_by_account(first=month.first, last=month.last)
    result = {
        "month": month.label,
        "first_day": month.first,
        "last_day": month.last,
        "ready": all(c["passed"] for c in checks),
        "checks": checks,
        "payouts": rows,
        "payout_counts": counts,
        "posting_counts": posting_counts if postings_visible else None,
        "postings_visible": postings_visible,
        "open_exceptions": sum(by_state.values()),
        "open_by_reason": by_reason,
        "totals": sorted(totals.values(), key=lambda t: (t["source"], t["currency"])),
        # What NetSuite holds dated in the month, per account, to tie out against its ledger.
        "posted_by_account": in_netsuite,
        "last_run": (
            {"id": str(last_run.pk), "status": last_run.status, "finished_at": last_run.finished_at}
            if last_run
            else None
        ),
    }
    result["closed"] = _closed(record, result) if record else None
    return result


def close_snapshot(close: dict[str, Any]) -> dict[str, Any]:
    """What a close keeps of the month: each payout's status and amount, and the totals."""
    return {
        "payouts": {p["source_id"]: [p["status"], p["amount_minor"], p["currency"]] for p in close["payouts"]},
        "totals": [
            {k: t[k] for k in ("source", "currency", "payouts", "paid_minor", "failed_minor", "posted_minor")}
            for t in close["totals"]
        ],
    }


def _closed(record: MonthClose, close: dict[str, Any]) -> dict[str, Any]:
    """The close on record, and what changed since: payouts that came, went or changed status
    or amount, and checklist items that no longer hold."""
    then = record.snapshot.get("payouts", {})
    now = {p["source_id"]: p for p in close["payouts"]}
    changes = []
    for source_id, p in now.items():
        before = then.get(source_id)
        if before is None:
            changes.append(f"payout {source_id} arrived in the month after it was closed")
        elif before[0] != p["status"] or before[1] != p["amount_minor"]:
            was = format_minor(before[1], before[2], p["source"])
            changes.append(
                f"payout {source_id} was {before[0]} {was} at close, now {p['status']} "
                f"{format_minor(p['amount_minor'], p['currency'], p['source'])}"
            )
    changes += [f"payout {source_id} is no longer in the month" for source_id in then if source_id not in now]
    changes += [f"{c['title'].lower()}: {c['detail']}" for c in close["checks"] if not c["passed"]]
    return {
        "closed_at": record.closed_at,
        "closed_by_email": record.closed_by_email,
        "note": record.note,
        "changes": changes,
    }


def _synced_as_of(connection: Connection) -> datetime | None:
    """The moment up to which the connection's data is known to be synced: when the last
    successful full sync started, or earlier if it finished what failed syncs had begun.

    Not when it finished (``last_sync_succeeded_at``): a sync reads from its start on, so
    one that started at 23:50 on the last day and finished at 00:10 may lack what happened
    in between (a payout issued at 23:55, after the page it would be on was read). Nor when
    it was queued: it read nothing while it waited. And a full sync resumes the passes that
    failed ones left half-way (their cursors were committed with their pages, counted in
    ``SyncJob.pages``); a resumed pass does not go back for what appeared since it began, so
    the start of the earliest such failed sync since the success before bounds the data
    instead. A webhook's targeted sync reads a few named objects and vouches for nothing else.
    """
    full = SyncJob.objects.filter(
        tenant_id=connection.tenant_id, connection=connection, started_at__isnull=False
    ).exclude(kind="targeted")
    starts = list(
        full.filter(status=SyncJobStatus.SUCCEEDED).order_by("-started_at").values_list("started_at", flat=True)[:2]
    )
    if not starts:
        return None
    resumed = full.filter(status=SyncJobStatus.FAILED, pages__gt=0, started_at__lt=starts[0])
    if len(starts) > 1:
        resumed = resumed.filter(started_at__gt=starts[1])
    earliest = resumed.aggregate(earliest=Min("started_at"))["earliest"]
    return min(starts[0], earliest) if earliest else starts[0]


def _zone_of(connection: Connection) -> tuple[tzinfo, str]:
    """The time zone the connection's days are kept in, as read by its last sync, and its name
    for a sentence; UTC, saying so, while no sync has read one."""
    if connection.time_zone:
        try:
            return ZoneInfo(connection.time_zone), connection.time_zone
        except (ZoneInfoNotFoundError, ValueError):
            pass  # named by the provider, but not known to this server's time zone data
    return UTC, "UTC (its time zone is not known yet)"


def _at(moment: datetime, zone: tzinfo, zone_name: str) -> str:
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M} {zone_name}"


def _sources_check(sources: list[Connection], month: Month, synced_as_of: dict[Any, datetime | None]) -> dict[str, Any]:
    """Each connection synced after its own month end: midnight in its time zone."""
    title = "Every processor synced after the month ended"
    link = reverse("connections")
    if not sources:
        return _check("sources", False, title, "No Stripe or Shopify connection is enabled.", link)
    broken = [c for c in sources if c.status in (ConnectionStatus.BROKEN, ConnectionStatus.ERROR)]
    problems = [f"{c.name}: {c.get_status_display().lower()}: {c.status_message}".rstrip(": ") for c in broken]
    # A month the sync never fetched (all of it or its start) is unknown, not empty.
    problems += [
        f"{c.name}: its data starts on {c.backfill_start} (backfill start), after the month began"
        for c in sources
        if c.backfill_start and c.backfill_start > month.first
    ]
    now, not_over, synced = timezone.now(), set(), []
    for c in sources:
        zone, zone_name = _zone_of(c)
        as_of, ended_at = synced_as_of[c.pk], month.ended_at(zone)
        if as_of is not None and as_of >= ended_at:
            synced.append(f"{c.name} as of {_at(as_of, zone, zone_name)}")
            continue
        problems.append(f"{c.name}: synced as of {_at(as_of, zone, zone_name)}" if as_of else f"{c.name}: never synced")
        if now < ended_at:
            not_over.add(_at(ended_at, zone, zone_name))
    if problems:
        if not_over:
            problems.insert(0, f"the month is not over until {' and '.join(sorted(not_over))}")
        return _check("sources", False, title, "; ".join(problems) + ".", link)
    detail = f"{_plural(len(sources), 'connection')}, each synced after its month ended: {'; '.join(synced)}."
    return _check("sources", True, title, detail)


def _recon_check(run: ReconRun | None, sources: list[Connection]) -> dict[str, Any]:
    title = "Reconciled after the last sync"
    link = reverse("recon")
    if run is None:
        return _check("recon", False, title, "Reconciliation has never run.", link)
    if run.status == RunStatus.STALE:
        return _check("recon", False, title, f"The last run read stale data: {run.stale_reason}", link)
    if run.status != RunStatus.COMPLETED:
        return _check("recon", False, title, f"The last run is {run.get_status_display().lower()}.", link)
    synced = [c.last_sync_succeeded_at for c in sources if c.last_sync_succeeded_at]
    if synced and run.finished_at and run.finished_at < max(synced):
        return _check("recon", False, title, "A sync finished after the last run; the next run is due.", link)
    return _check("recon", True, title, f"Last run completed {run.finished_at:%Y-%m-%d %H:%M} UTC.")


def _payouts_check(counts: dict[str, int], total: int) -> dict[str, Any]:
    title = "Every payout of the month reconciled"
    if not total:
        return _check("payouts", True, title, "No payout arrived in this month.")
    if counts["reconciled"] == total:
        return _check("payouts", True, title, f"All {_plural(total, 'payout')} reconciled.")
    parts = [
        _plural(counts["exceptions"], "payout") + " with exceptions" if counts["exceptions"] else "",
        f"{counts['pending']} not paid yet" if counts["pending"] else "",
        f"{counts['unevaluated']} not evaluated yet" if counts["unevaluated"] else "",
    ]
    detail = f"{counts['reconciled']} of {total} reconciled; " + ", ".join(p for p in parts if p) + "."
    return _check("payouts", False, title, detail, "#close-payouts")


def _exceptions_check(by_state: dict[str, int], month: Month) -> dict[str, Any]:
    title = "No open exceptions"
    link = f"{reverse('recon')}?state=open&state=acknowledged&month={month.label}"
    n = sum(by_state.values())
    if not n:
        return _check("exceptions", True, title, "Nothing open for this month.")
    detail = f"{_plural(n, 'exception')} to work: {by_state.get(ExceptionState.OPEN, 0)} open, "
    detail += f"{by_state.get(ExceptionState.ACKNOWLEDGED, 0)} acknowledged."
    return _check("exceptions", False, title, detail, link)


def _postings_check(counts: dict[str, int], has_netsuite: bool, month: Month) -> dict[str, Any]:
    from netsuite.models import PostingState

    title = "Every paid payout posted to NetSuite"
    link = f"{reverse('postings')}?" + urlencode(
        [("state", s) for s in (PostingState.DRAFT, PostingState.APPROVED, PostingState.SENDING, PostingState.FAILED)]
        + [("arrival_after", month.first.isoformat()), ("arrival_before", month.last.isoformat())]
    )
    needed = sum(counts.values())
    if not needed:
        return _check("postings", True, title, "No entry is due for this month.")
    if not has_netsuite:
        return _check(
            "postings", False, title, f"No NetSuite connection; {_plural(needed, 'entry', 'entries')} due.", link
        )
    if counts["posted"] == needed:
        return _check("postings", True, title, f"All {_plural(needed, 'entry', 'entries')} posted.")
    parts = [
        f"{counts['awaiting_approval']} awaiting approval" if counts["awaiting_approval"] else "",
        f"{counts['queued']} being sent" if counts["queued"] else "",
        f"{counts['failed']} failed" if counts["failed"] else "",
        f"{counts['missing']} without an entry (not reconciled yet)" if counts["missing"] else "",
    ]
    detail = f"{counts['posted']} of {needed} posted; " + ", ".join(p for p in parts if p) + "."
    return _check("postings", False, title, detail, link)


def closed_months_changed(*, user: Any, latest: int = 3, known: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Of the ``latest`` months closed (and not reopened), those that changed since their close,
    each with what changed: for the dashboard, so a late failure does not wait for someone to
    open the month again. ``known``: a ``month_close`` result already read (not read again)."""
    if not user.has_perm("recon.view_reconpayout"):
        return []
    records = MonthClose.objects.filter(tenant_id=current_tenant_id(), reopened_at__isnull=True).order_by("-month")
    changed = []
    for record in records[:latest]:
        month = month_of(record.month)
        close = known if known and known["month"] == month.label else month_close(user=user, month=month)
        if close and close["closed"] and close["closed"]["changes"]:
            changed.append({"month": close["month"], "changes": close["closed"]["changes"]})
    return changed


def month_close_list(*, user: Any) -> QuerySet[MonthClose]:
    """Every close on record, newest month first (reopened ones included, with why)."""
    if not user.has_perm("recon.view_monthclose"):
        return MonthClose.objects.none()
    return MonthClose.objects.filter(tenant_id=current_tenant_id()).order_by("-month", "-closed_at")


def month_close_history(*, user: Any, month: Month) -> list[MonthClose]:
    """Every close of ``month``, oldest first, each with its reopening (who, when, why) if it was
    reopened: the month's page shows what happened to it, also once it is open again. One read:
    the rows hold what the ``recon.month_closed`` and ``recon.month_reopened`` audit events say."""
    return list(month_close_list(user=user).filter(month=month.first).order_by("closed_at"))
