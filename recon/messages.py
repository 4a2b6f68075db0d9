"""Exceptions in words: what an accountant reads in the queue, the admin and the explain page."""

from __future__ import annotations

from typing import Any

from ecomops.money import format_minor


def _source(exception: Any) -> str:
    """The processor, for its own minor-unit exponents (recon.money), if already loaded.

    Selectors load the connection with the exception; without it the Stripe exponents
    are used, which differ from ISO 4217 only for a few currencies (ISK, HUF, TWD, UGX).
    """
    connection = exception._state.fields_cache.get("connection")
    return getattr(connection, "provider", "") or "stripe"


def exception_message(exception: Any) -> str:
    """One sentence naming the subject, what was expected and what was found."""
    source = _source(exception)
    ref = exception.subject_ref or str(exception.subject_id)
    detail = exception.detail or {}

    def money(amount: int | None, currency: str) -> str:
        return format_minor(amount, currency, source)

    expected = money(exception.expected_minor, exception.expected_currency)
    actual = money(exception.actual_minor, exception.actual_currency)
    difference = exception.difference_minor
    diff = f" (difference {money(difference, exception.actual_currency)})" if difference else ""
    reason = exception.reason
    if reason == "payout_total_mismatch":
        return f"Payout {ref} is {actual} but its {detail.get('lines', 0)} lines add up to {expected}{diff}."
    if reason == "line_net_mismatch":
        return f"Line {ref}: net is {actual}, but amount minus fee is {expected}{diff}."
    if reason == "line_fee_mismatch":
        return f"Line {ref}: fee is {actual}, but its fee details add up to {expected}{diff}."
    if reason == "line_unmatched":
        what = detail.get("category", "line")
        target = detail.get("object_id") or "no object id"
        return f"Line {ref} ({what}, {expected}) stands for {target}, which is not in the synced data."
    if reason == "line_amount_mismatch":
        rate = detail.get("exchange_rate")
        via = f" at exchange rate {rate}" if rate else ""
        return (
            f"Line {ref} is {actual}; its {money(detail.get('object_amount'), detail.get('object_currency', ''))} "
            f"object comes to {expected}{via}{diff}."
        )
    if reason == "currency_mismatch":
        against = detail.get("against", "payout")
        if exception.subject_type == "payment":
            return f"Payment {ref} is in {exception.actual_currency}, its order in {exception.expected_currency}."
        return f"Line {ref} is in {exception.actual_currency} but its {against} is in {exception.expected_currency}" + (
            " and the line has no exchange rate." if against == "payment" else "."
        )
    if reason == "payment_without_order":
        order = detail.get("order_id")
        return f"Payment {ref} ({expected}) " + (
            f"points at order {order}, which is not in the synced data." if order else "names no order."
        )
    if reason == "amount_mismatch":
        return (
            f"Order {ref} totals {expected} but its {detail.get('payments', 0)} payment(s) add up to {actual}"
            f"{diff}, beyond the tolerance of {money(detail.get('tolerance', 0), exception.expected_currency)}."
        )
    if reason == "order_unpaid":
        return f"Order {ref} was paid ({expected}) but none of its payments is in a payout after the grace period."
    if reason == "refund_without_payment":
        payment = detail.get("payment_id") or "no payment id"
        return f"Refund {ref} ({expected}) refunds {payment}, which is not in the synced data."
    if reason == "dispute_open":
        return f"Dispute {ref} over {expected} is {detail.get('status', 'open')}: the funds may not come back."
    if reason == "payout_failed":
        returned = detail.get("returned_by") or {}
        back = (
            f" The funds came back in line {returned.get('line')}"
            + (f" of payout {returned['payout']}." if returned.get("payout") else ", not yet paid out again.")
            if returned
            else " No returned-funds line has been seen yet."
        )
        code = detail.get("failure_code")
        return f"Payout {ref} of {expected} {detail.get('status', 'failed')}" + (f" ({code})." if code else ".") + back
    if reason == "payout_reversed":
        by = ", ".join(detail.get("reversed_by") or [])
        return f"Payout {ref} of {expected} was reversed by {by}; what stays in the bank is {actual}."
    if reason == "manual_payout_unitemized":
        carried = detail.get("carried_in") or {}
        where = f" It is carried as line {carried.get('line')} in payout {carried.get('payout')}." if carried else ""
        return (
            f"Payout {ref} of {expected} was made by hand ({detail.get('method', 'manual')}): the processor "
            f"lists no lines for it, so it cannot be itemized.{where}"
        )
    return f"{reason} on {ref}: expected {expected}, found {actual}."
