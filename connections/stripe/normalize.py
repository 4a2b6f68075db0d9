"""Stripe objects, as the API returns them (plain dicts), to canonical rows.

Pure functions, one per object type, each returning one
:class:`canonical.rows.CanonicalRow`:

- ``payment_intent`` -> ``order`` (order number from ``metadata.order_id``, else the PI id)
- ``charge`` -> ``payment`` (linked to its PaymentIntent and balance transaction)
- ``refund`` -> ``refund``; ``dispute`` -> ``dispute``
- ``payout`` -> ``payout`` (``automatic: false`` marks a payout Stripe cannot itemize)
- ``balance_transaction`` -> ``payout_line`` (``payout_source_id`` from the caller, below)

Rules that keep reconciliation honest:

* Amounts are passed through exactly as Stripe sends them: integers in the currency's
  minor unit (JPY has none, so 5000 means 5000 yen). Anything else (a float, a decimal
  string such as ``"10.00"``) is refused with ``ValueError`` instead of being guessed at.
* A balance transaction's ``net`` is copied, never recomputed from ``amount - fee``: the
  reconciliation checks that equation and must see what Stripe said.
* ``reporting_category``, not ``type``, says what a line is (Stripe books dispute
  withdrawals as type ``adjustment``, category ``dispute``); it is required.
* A balance transaction does not say which payout paid it out; when listing
  ``/v1/balance_transactions?payout=po_...`` the caller knows and passes it in.
* References (``source``, ``charge``, ``payment_intent``, ...) may be an id string or an
  expanded object; both give the id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from canonical.rows import CanonicalRow

Obj = Mapping[str, Any]

# Id prefix -> object type, for a balance transaction ``source`` given as a bare id.
_SOURCE_PREFIXES = {
    "ch": "charge",
    "py": "charge",  # non-card payments are Charge objects with a py_ id
    "re": "refund",
    "pyr": "refund",
    "dp": "dispute",
    "du": "dispute",
    "po": "payout",
    "tr": "transfer",
    "trr": "transfer_reversal",
    "fee": "application_fee",
    "fr": "fee_refund",
    "tu": "topup",
    "ich": "issuing.transaction",
    "iauth": "issuing.authorization",
    "idp": "issuing.dispute",
}

_ORDER_STATUS = {
    "canceled": "voided",
    "processing": "pending",
    "requires_action": "pending",
    "requires_capture": "authorized",  # the card is authorized, the capture is still to come
    "requires_confirmation": "pending",
    "requires_payment_method": "pending",
}


def _label(obj: Obj) -> str:
    return f"{obj.get('object', 'object')} {obj.get('id', '<no id>')}"


def _expect(obj: Obj, kind: str) -> str:
    if not isinstance(obj, Mapping):
        raise ValueError(f"expected a Stripe {kind} object (a dict), got {type(obj).__name__}")
    if obj.get("object", kind) != kind:
        raise ValueError(f"expected a Stripe {kind}, got {_label(obj)}")
    obj_id = obj.get("id")
    if not isinstance(obj_id, str) or not obj_id:
        raise ValueError(f"Stripe {kind} without an id")
    return obj_id


def _minor(obj: Obj, name: str, *, label: str | None = None) -> int:
    """An amount in minor units, exactly as Stripe sends it (an int), or a clear error."""
    value = obj.get(name)
    if type(value) is not int:  # bool is an int subclass: refuse it too
        raise ValueError(
            f"{label or _label(obj)}: {name} is {value!r}, not an integer amount in the currency's minor unit "
            "(Stripe sends integers such as 1000 for 10.00 USD); refusing to guess what it means"
        )
    return value


def _minor_or_zero(obj: Obj, name: str) -> int:
    return 0 if obj.get(name) is None else _minor(obj, name)


def _currency(obj: Obj, name: str = "currency", *, label: str | None = None) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
        raise ValueError(f"{label or _label(obj)}: {name} is {value!r}, not a three-letter ISO 4217 code")
    return value.upper()


def _timestamp(obj: Obj, name: str, *, nullable: bool = True) -> datetime | None:
    value = obj.get(name)
    if value is None and nullable:
        return None
    if type(value) is not int:
        raise ValueError(f"{_label(obj)}: {name} is {value!r}, not a unix timestamp")
    return datetime.fromtimestamp(value, tz=UTC)


def _date(obj: Obj, name: str) -> date | None:
    stamp = _timestamp(obj, name)
    return None if stamp is None else stamp.date()


def _ref(value: Any) -> str | None:
    """The id of a reference that is either an id string or an expanded object."""
    if isinstance(value, Mapping):
        value = value.get("id")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a Stripe id or object: {value!r}")
    return value


def _text(value: Any) -> str | None:
    # Empty strings stand for "nothing" in some stored copies (e.g. dj-stripe's fixtures).
    return None if value is None or value == "" else str(value)


def _decimal_text(obj: Obj, name: str) -> str | None:
    """A JSON number as a plain decimal string ("1.234", "0.0068"), exact as written."""
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f"{_label(obj)}: {name} is {value!r}, not a number")
    try:
        # str() of a float is its shortest round-trip form, i.e. what the JSON said.
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{_label(obj)}: {name} is {value!r}, not a number") from None
    if not number.is_finite():
        raise ValueError(f"{_label(obj)}: {name} is {value!r}, not a finite number")
    return format(number.normalize(), "f")


def source_object_type(source: Any) -> str | None:
    """What a balance transaction's ``source`` is: ``charge``, ``refund``, ``dispute``, ...

    An expanded object says so itself; a bare id is read from its prefix (``ch_``,
    ``re_``, ``dp_``, ``po_``, ...). Unknown prefixes give ``other``; no source gives None.
    """
    if isinstance(source, Mapping):
        kind = source.get("object")
        return str(kind) if kind else source_object_type(source.get("id"))
    if not source:
        return None
    if not isinstance(source, str):
        raise ValueError(f"not a Stripe id or object: {source!r}")
    prefix = source.split("_", 1)[0] if "_" in source else ""
    return _SOURCE_PREFIXES.get(prefix, "other")


def normalize_payment_intent(pi: Obj) -> CanonicalRow:
    """A PaymentIntent -> an ``order`` row (what the customer was asked to pay).

    A PaymentIntent does not say what was refunded: only its charge does, when expanded
    (``latest_charge``). The sync reads PaymentIntents unexpanded, and a refund comes days
    after the order was last read anyway, so a synced order's ``refunded`` and
    ``partially_refunded`` come from its canonical refunds instead, with the same rule, as
    they are written (``canonical.upsert.REFUND_STATUS_FROM_REFUNDS``).
    """
    pi_id = _expect(pi, "payment_intent")
    amount = _minor(pi, "amount")
    received = _minor_or_zero(pi, "amount_received")
    status = pi.get("status")
    if status == "succeeded":
        # Less received than asked for is a partial capture: final, the rest was released.
        financial = "paid" if received >= amount else "partially_captured"
        charge = pi.get("latest_charge")
        if isinstance(charge, Mapping):  # expanded: refunds are visible
            refunded = _minor_or_zero(charge, "amount_refunded")
            if refunded and refunded >= received:
                financial = "refunded"
            elif refunded:
                financial = "partially_refunded"
    elif status in _ORDER_STATUS:
        financial = _ORDER_STATUS[status]
    else:
        raise ValueError(f"{_label(pi)}: unknown PaymentIntent status {status!r}")
    raw_metadata = pi.get("metadata")
    metadata: Mapping[str, Any] = raw_metadata if isinstance(raw_metadata, Mapping) else {}
    order_number = _text(metadata.get("order_id")) or pi_id
    return CanonicalRow(
        kind="order",
        source="stripe",
        source_id=pi_id,
        fields={
            "order_number": order_number,
            "currency": _currency(pi),
            "total_minor": amount,
            # Stripe sells no gift cards: the liability is zero, not unknown.
            "gift_card_sold_minor": 0,
            "financial_status": financial,
            "cancelled": status == "canceled",
        },
        raw_data=dict(pi),
        source_created_at=_timestamp(pi, "created", nullable=False),
        source_updated_at=_timestamp(pi, "canceled_at"),
    )


def normalize_charge(charge: Obj) -> CanonicalRow:
    """A Charge -> a ``payment`` row, in the presentment currency the customer paid in.

    The amount is what was captured: a charge captured for less than it authorized moves,
    and settles as its balance transaction, only ``amount_captured`` (the rest is released,
    not refunded, so no Refund object stands for it). An uncaptured authorization keeps
    ``amount`` and says ``captured: False``.
    """
    ch_id = _expect(charge, "charge")
    captured = bool(charge.get("captured"))
    amount = _minor(charge, "amount")
    if captured and charge.get("amount_captured") is not None:
        # 0 on a captured charge is not a capture of nothing but an object written before the
        # field existed (fixtures do this): the amount stands
        amount_captured = _minor(charge, "amount_captured")
        if 0 < amount_captured < amount:
            amount = amount_captured
    return CanonicalRow(
        kind="payment",
        source="stripe",
        source_id=ch_id,
        fields={
            "order_source_id": _ref(charge.get("payment_intent")),
            "currency": _currency(charge),
            "amount_minor": amount,
            "status": _text(charge.get("status")),
            "captured": captured,
            "gateway": "stripe",
            "is_gift_card": False,
            "balance_transaction_source_id": _ref(charge.get("balance_transaction")),
        },
        raw_data=dict(charge),
        source_created_at=_timestamp(charge, "created", nullable=False),
    )


def normalize_refund(refund: Obj) -> CanonicalRow:
    """A Refund -> a ``refund`` row."""
    re_id = _expect(refund, "refund")
    return CanonicalRow(
        kind="refund",
        source="stripe",
        source_id=re_id,
        fields={
            "payment_source_id": _ref(refund.get("charge")),
            "order_source_id": _ref(refund.get("payment_intent")),
            "currency": _currency(refund),
            "amount_minor": _minor(refund, "amount"),
            "status": _text(refund.get("status")),
            "reason": _text(refund.get("reason")),
        },
        raw_data=dict(refund),
        source_created_at=_timestamp(refund, "created", nullable=False),
    )


def normalize_dispute(dispute: Obj) -> CanonicalRow:
    """A Dispute -> a ``dispute`` row (its money moves are balance transactions of their own)."""
    dp_id = _expect(dispute, "dispute")
    return CanonicalRow(
        kind="dispute",
        source="stripe",
        source_id=dp_id,
        fields={
            "payment_source_id": _ref(dispute.get("charge")),
            "currency": _currency(dispute),
            "amount_minor": _minor(dispute, "amount"),
            "status": _text(dispute.get("status")),
            "reason": _text(dispute.get("reason")),
        },
        raw_data=dict(dispute),
        source_created_at=_timestamp(dispute, "created", nullable=False),
    )


def normalize_payout(payout: Obj) -> CanonicalRow:
    """A Payout -> a ``payout`` row."""
    po_id = _expect(payout, "payout")
    automatic = payout.get("automatic")
    if not isinstance(automatic, bool):
        raise ValueError(f"{_label(payout)}: automatic is {automatic!r}, not a boolean")
    return CanonicalRow(
        kind="payout",
        source="stripe",
        source_id=po_id,
        fields={
            "currency": _currency(payout),
            "amount_minor": _minor(payout, "amount"),
            "status": _text(payout.get("status")),
            "method": _text(payout.get("method")),
            "automatic": automatic,
            "arrival_date": _date(payout, "arrival_date"),
            "failure_code": _text(payout.get("failure_code")),
            "reversal_of_source_id": _ref(payout.get("original_payout")),
        },
        raw_data=dict(payout),
        source_created_at=_timestamp(payout, "created", nullable=False),
    )


def _fee_details(bt: Obj, details: list) -> list[dict[str, Any]]:
    if not details:
        return []
    label = f"fee detail of {_label(bt)}"
    return [
        {
            "amount_minor": _minor(detail, "amount", label=label),
            "currency": _currency(detail, label=label),
            "type": _text(detail.get("type")),
            "description": _text(detail.get("description")),
        }
        for detail in details
    ]


def normalize_balance_transaction(bt: Obj, *, payout_source_id: str | None = None) -> CanonicalRow:
    """A BalanceTransaction -> a ``payout_line`` row.

    ``payout_source_id`` is the payout the caller listed it under (``?payout=po_...``),
    or None for a line read from the unfiltered list.
    """
    txn_id = _expect(bt, "balance_transaction")
    category = bt.get("reporting_category")
    if not isinstance(category, str) or not category:
        raise ValueError(f"{_label(bt)}: no reporting_category; it, not type, says what the line is")
    fee_details = bt.get("fee_details") or []
    if not isinstance(fee_details, list):
        raise ValueError(f"{_label(bt)}: fee_details is {fee_details!r}, not a list")
    source = bt.get("source")
    return CanonicalRow(
        kind="payout_line",
        source="stripe",
        source_id=txn_id,
        fields={
            "payout_source_id": payout_source_id,
            "type": _text(bt.get("type")),
            "reporting_category": category,
            "currency": _currency(bt),
            "amount_minor": _minor(bt, "amount"),
            "fee_minor": _minor(bt, "fee"),
            "net_minor": _minor(bt, "net"),  # as Stripe says: the recon checks net == amount - fee
            "fee_details": _fee_details(bt, fee_details),
            "exchange_rate": _decimal_text(bt, "exchange_rate"),
            "source_object_id": _ref(source),
            "source_object_type": source_object_type(source),
            "source_order_id": None,  # Stripe lines point at charges, not orders
            "available_on": _date(bt, "available_on"),
        },
        raw_data=dict(bt),
        source_created_at=_timestamp(bt, "created", nullable=False),
    )


NORMALIZERS: dict[str, Callable[[Obj], CanonicalRow]] = {
    "payment_intent": normalize_payment_intent,
    "charge": normalize_charge,
    "refund": normalize_refund,
    "dispute": normalize_dispute,
    "payout": normalize_payout,
    "balance_transaction": normalize_balance_transaction,
}


def normalize(obj: Obj, *, payout_source_id: str | None = None) -> CanonicalRow:
    """Dispatch on ``obj["object"]``; ``payout_source_id`` only applies to balance transactions."""
    kind = obj.get("object") if isinstance(obj, Mapping) else None
    if kind == "balance_transaction":
        return normalize_balance_transaction(obj, payout_source_id=payout_source_id)
    if kind not in NORMALIZERS:
        raise ValueError(f"no Stripe normalizer for object type {kind!r}")
    return NORMALIZERS[str(kind)](obj)
