"""Template filters for reconciliation pages."""

from __future__ import annotations

from typing import Any

from django import template

from recon import models

register = template.Library()


@register.filter
def reason_label(code: str) -> str:
    """A reason code as a controller reads it ("Payout failed or was canceled"); an unknown one as is."""
    return models.reason_label(code)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


@register.simple_tag
def check_link_text(check: dict[str, Any], close: dict[str, Any]) -> str:
    """What a month-close checklist item's link opens, said in full (a screen reader lists the
    page's links out of their sentences: a row of "Go" says nothing). ``close``: the
    ``recon.close.month_close`` result the item belongs to."""
    key = check["key"]
    if key == "sources":
        return "Open Connections to fix or sync them"
    if key == "recon":
        return "Open Reconciliation to run it again"
    if key == "payouts":
        counts = close["payout_counts"]
        left = sum(counts.values()) - counts["reconciled"]
        return f"See the {_count(left, 'payout', 'payouts')} not reconciled"
    if key == "exceptions":
        return f"Open the {_count(close['open_exceptions'], 'open exception', 'open exceptions')}"
    if key == "postings":
        counts = close["posting_counts"] or {}
        waiting = sum(counts.get(state, 0) for state in ("awaiting_approval", "queued", "failed"))
        if waiting:
            return f"Open the {_count(waiting, 'journal entry', 'journal entries')} not posted yet"
        return "Open the month's journal entries in Postings"
    return f"Open: {check['title']}"
