"""The dashboard's payout chart: what was paid out day by day, and how much of it reconciled.

Server-rendered SVG, no script: one chart per processor and currency (amounts of different
currencies are never added up), a bar per arrival day over the ``DAYS`` days up to the latest
payout (not up to today: a connection that stopped syncing still shows its last month), each
bar stacked by the payouts' reconciliation status. Reversals (negative payouts) are left out.
Every bar segment carries its figures as a tooltip, and the same figures are listed in a
table under the chart.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Count, Max, Sum
from django.utils import timezone

from canonical.models import Payout
from ecomops.money import format_minor

DAYS = 30
# Stacked bottom up, in this order; "unchecked": no reconciliation has judged the payout yet.
STATUSES = (
    ("reconciled", "reconciled"),
    ("exceptions", "with exceptions"),
    ("pending", "pending"),
    ("unchecked", "not reconciled yet"),
)
# The plot's own units (the SVG scales to its box).
WIDTH, HEIGHT = 600, 140
BAR_SHARE = 0.7


@dataclass
class Segment:
    status: str
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass
class Day:
    day: date
    amounts: list[str]  # per status of the legend, in its order ("" where none)
    total: str


@dataclass
class Chart:
    source: str
    currency: str
    first: date
    last: date
    peak: str  # the highest day's total, the top of the scale
    total: str
    legend: list[tuple[str, str, str]]  # (status, label, formatted amount)
    segments: list[Segment] = field(default_factory=list)
    days: list[Day] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT


def payout_charts(*, tenant_id: uuid.UUID, days: int = DAYS) -> list[Chart]:
    payouts = Payout.objects.filter(tenant_id=tenant_id, amount_minor__gt=0, arrival_date__lte=timezone.localdate())
    latest = payouts.aggregate(latest=Max("arrival_date"))["latest"]
    if latest is None:
        return []
    first = latest - timedelta(days=days - 1)
    rows = (
        payouts.filter(arrival_date__gte=first)
        .values("source", "currency", "arrival_date", "recon__status")
        .annotate(total=Sum("amount_minor"), n=Count("id"))
        .order_by()
    )
    # (source, currency) -> day -> status -> (amount, count); one row per key from the GROUP BY
    grouped: dict[tuple[str, str], dict[date, dict[str, tuple[int, int]]]] = {}
    for row in rows:
        per_day = grouped.setdefault((row["source"], row["currency"]), {}).setdefault(row["arrival_date"], {})
        per_day[row["recon__status"] or "unchecked"] = (row["total"], row["n"])
    charts = [_chart(source, currency, per_day, first, latest, days) for (source, currency), per_day in grouped.items()]
    return sorted(charts, key=lambda c: (c.source, c.currency))


def _chart(
    source: str, currency: str, per_day: dict[date, dict[str, tuple[int, int]]], first: date, last: date, days: int
) -> Chart:
    def money(amount: int) -> str:
        return format_minor(amount, currency, source)

    totals = {d: sum(amount for amount, _ in statuses.values()) for d, statuses in per_day.items()}
    peak = max(totals.values())
    slot = WIDTH / days
    by_status = {status: sum(s.get(status, (0, 0))[0] for s in per_day.values()) for status, _ in STATUSES}
    chart = Chart(
        source=source,
        currency=currency,
        first=first,
        last=last,
        peak=money(peak),
        total=money(sum(totals.values())),
        legend=[(status, label, money(by_status[status])) for status, label in STATUSES if by_status[status]],
    )
    for d in sorted(per_day):
        statuses = per_day[d]
        x = (d - first).days * slot + slot * (1 - BAR_SHARE) / 2
        top = float(HEIGHT)
        for status, label in STATUSES:
            amount, count = statuses.get(status, (0, 0))
            if not amount:
                continue
            height = HEIGHT * amount / peak
            top -= height
            title = f"{d.isoformat()}: {money(amount)} {label} ({count} payout{'' if count == 1 else 's'})"
            chart.segments.append(
                Segment(status, round(x, 2), round(top, 2), round(slot * BAR_SHARE, 2), round(height, 2), title)
            )
        chart.days.append(
            Day(
                day=d,
                amounts=[money(statuses[status][0]) if status in statuses else "" for status, _, _ in chart.legend],
                total=money(totals[d]),
            )
        )
    return chart
