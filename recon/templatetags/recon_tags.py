"""Template filters for reconciliation pages."""

from __future__ import annotations

import re
from typing import Any

from django import template

from recon import models

register = template.Library()


# The processors' codes an exception's sentence carries (``recon.messages``, from the detail
# the engine stores): a dispute's status, a payout's failure code, a line's category. The
# stored detail and the API's sentence keep the codes (scripts read them, and a re-run must
# not see a change); the pages say them in words.
CODE_WORDS = {
    # dispute statuses (Stripe; Shopify's are among them)
    "warning_needs_response": "an inquiry awaiting a response",
    "warning_under_review": "an inquiry under review",
    "warning_closed": "an inquiry closed",
    "needs_response": "awaiting a response",
    "under_review": "under review",
    "charge_refunded": "refunded",
    # payout statuses (Stripe's, and Shopify's as stored)
    "in_transit": "in transit",
    # payout failure codes (Stripe)
    **{
        code: code.replace("_", " ")
        for code in (
            "account_closed",
            "account_frozen",
            "bank_account_restricted",
            "bank_ownership_changed",
            "could_not_process",
            "debit_not_authorized",
            "incorrect_account_holder_address",
            "incorrect_account_holder_name",
            "incorrect_account_holder_tax_id",
            "insufficient_funds",
            "invalid_account_number",
            "invalid_currency",
            "no_account",
            "unsupported_card",
        )
    },
    # balance transaction reporting categories (Stripe) that are not single words
    **{
        code: code.replace("_", " ")
        for code in (
            "dispute_reversal",
            "payout_reversal",
            "payout_failure",
            "other_adjustment",
            "connect_reserved_funds",
            "risk_reserved_funds",
            "partial_capture_reversal",
            "refund_failure",
            "platform_earning",
            "platform_earning_refund",
        )
    },
}
# Whole codes only: an underscore is a word character, so "ch_under_review" is left alone.
_CODES = re.compile(r"\b(" + "|".join(sorted(map(re.escape, CODE_WORDS), key=len, reverse=True)) + r")\b")


@register.filter
def codes_in_words(sentence: str) -> str:
    """An exception's sentence with the processors' codes in it said in words ("is under_review"
    -> "is under review"); everything else as it is."""
    return _CODES.sub(lambda match: CODE_WORDS[match.group(1)], str(sentence or ""))


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
