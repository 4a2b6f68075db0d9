"""Shopify objects -> ``CanonicalRow``s. Pure functions: no I/O, no Django, no clock.

Two input shapes are accepted:

* GraphQL Admin API nodes, as the client's queries (``queries.py``) return them: the live path.
* REST Admin API objects (``order``, ``transaction``, ``refund``, ``dispute``, ``payout``,
  ``payouts/transactions``): what exports and older connections hold. Both shapes of the same
  object give the same ``source_id`` (Shopify's GID), so they upsert into the same row.

Decisions worth knowing:

* Orders, payments and refunds are in the **shop currency** (``shopMoney``), which is what
  Shopify Payments settles and pays out in: a payment's amount then equals its CHARGE
  balance transaction's amount to the cent. The presentment amounts stay in ``raw_data``.
* One refund row per successful REFUND *transaction* (a Refund can be split over several
  gateways); its id is the transaction's GID, which is also what a REFUND balance
  transaction points at through ``sourceOrderTransactionId``.
* A payment with gateway ``gift_card`` is flagged ``is_gift_card``: no processor money moves.
  Gift cards *sold* on an order are a liability, reported as ``gift_card_sold_minor``.
* A test order (``test: true``: Shopify Payments in test mode, or the Bogus gateway) and a
  test transaction move no money and never reach a payout: they give no rows. Shopify never
  turns a test order into a real one, so nothing real is lost. Nor does a dispute on a test
  order (test mode lets a merchant simulate chargebacks): it is told by its ``order { test }``.
  Nor does a test balance transaction (``test: true``, either shape): its money is never paid
  out, so a line for it would make the payout it is listed with look short or long.
* ``reporting_category`` of a payout line comes from ``ShopifyPaymentsTransactionType``
  through ``REPORTING_CATEGORY_BY_TYPE``, which names every value of the 2026-07 enum (a
  test keeps it complete); a type Shopify adds later maps to ``other`` until someone decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from canonical.rows import CanonicalRow, Kind
from connections.shopify.money import MoneyError, to_minor_units

SOURCE = "shopify"


class ShopifyNormalizeError(ValueError):
    """A Shopify object that cannot be turned into canonical rows (missing field, bad amount)."""


# --------------------------------------------------------------------------- categories


# Every ShopifyPaymentsTransactionType of API 2026-07, grouped by the GL treatment the
# accountant will want. RESERVED_FUNDS itself (no direction in its name) is decided by sign.
_CATEGORY_GROUPS: dict[str, tuple[str, ...]] = {
    "charge": ("CHARGE",),
    "refund": ("REFUND",),
    "refund_failure": ("REFUND_FAILURE",),
    # A dispute line carries the withdrawn amount and the chargeback fee; Stripe books its
    # dispute fees in the dispute category too, so both providers post alike.
    "dispute": ("DISPUTE_WITHDRAWAL", "CHARGEBACK_FEE"),
    "dispute_reversal": ("DISPUTE_REVERSAL", "CHARGEBACK_FEE_REFUND"),
    "payout": ("TRANSFER",),  # Shopify calls payouts "transfers" internally
    "payout_reversal": ("TRANSFER_FAILURE", "TRANSFER_CANCEL", "TRANSFER_REFUND"),
    # Shopify's payout reserve: money held back from payouts, then released.
    "payout_minimum_balance_hold": ("RESERVED_FUNDS_WITHDRAWAL",),
    "payout_minimum_balance_release": ("RESERVED_FUNDS_REVERSAL",),
    # Holds for risk or pending chargebacks: not tied to the payout reserve.
    "reserve_transaction": ("RISK_WITHDRAWAL", "RISK_REVERSAL", "CHARGEBACK_HOLD", "CHARGEBACK_HOLD_RELEASE"),
    "fee": (
        "STRIPE_FEE",
        "APPLICATION_FEE_REFUND",
        "ACH_BANK_FAILURE_DEBIT_FEE",
        "ACH_BANK_FAILURE_DEBIT_REVERSAL_FEE",
        "MARKETPLACE_FEE_CREDIT",
        "MARKETPLACE_FEE_CREDIT_REVERSAL",
        "REFERRAL_FEE",
        "REFERRAL_FEE_TAX",
    ),
    # Shopify invoices settled from the payments balance (subscription, apps, labels, Shop Cash campaigns).
    "shopify_billing": (
        "BILLING_DEBIT",
        "BILLING_DEBIT_REVERSAL",
        "SHIPPING_LABEL",
        "SHIPPING_LABEL_ADJUSTMENT",
        "SHIPPING_LABEL_ADJUSTMENT_BASE",
        "SHIPPING_LABEL_ADJUSTMENT_SURCHARGE",
        "SHIPPING_OTHER_CARRIER_CHARGE_ADJUSTMENT",
        "SHIPPING_RETURN_TO_ORIGIN_ADJUSTMENT",
        "SHOP_CASH_BILLING_DEBIT",
        "SHOP_CASH_BILLING_DEBIT_REVERSAL",
        "SHOP_CASH_CAMPAIGN_BILLING_CREDIT",
        "SHOP_CASH_CAMPAIGN_BILLING_CREDIT_REVERSAL",
        "SHOP_CASH_CAMPAIGN_BILLING_DEBIT",
        "SHOP_CASH_CAMPAIGN_BILLING_DEBIT_REVERSAL",
    ),
    "tax": (
        "CUSTOMS_DUTY",
        "CUSTOMS_DUTY_ADJUSTMENT",
        "IMPORT_TAX",
        "IMPORT_TAX_ADJUSTMENT",
        "IMPORT_TAX_REFUND",
        "TAX_ADJUSTMENT_CREDIT",
        "TAX_ADJUSTMENT_CREDIT_REVERSAL",
        "TAX_ADJUSTMENT_DEBIT",
        "TAX_ADJUSTMENT_DEBIT_REVERSAL",
        "VAT_REFUND_CREDIT",
        "VAT_REFUND_CREDIT_REVERSAL",
    ),
    # Shopify Capital and advances: a loan, not income.
    "financing": (
        "ADVANCE",
        "ADVANCE_FUNDING",
        "LENDING_CAPITAL_REFUND",
        "LENDING_CAPITAL_REFUND_REVERSAL",
        "LENDING_CAPITAL_REMITTANCE",
        "LENDING_CAPITAL_REMITTANCE_REVERSAL",
        "LENDING_CREDIT",
        "LENDING_CREDIT_REFUND",
        "LENDING_CREDIT_REFUND_REVERSAL",
        "LENDING_CREDIT_REMITTANCE",
        "LENDING_CREDIT_REMITTANCE_REVERSAL",
        "LENDING_CREDIT_REVERSAL",
        "LENDING_DEBIT",
        "LENDING_DEBIT_REVERSAL",
    ),
    # Money moved between this balance and another Shopify balance or merchant.
    "transfer": (
        "BALANCE_TRANSFER_INBOUND",
        "BALANCE_TRANSFER_OUTBOUND",
        "CHANNEL_TRANSFER_CREDIT",
        "CHANNEL_TRANSFER_CREDIT_REVERSAL",
        "CHANNEL_TRANSFER_DEBIT",
        "CHANNEL_TRANSFER_DEBIT_REVERSAL",
        "MERCHANT_TO_MERCHANT_CREDIT",
        "MERCHANT_TO_MERCHANT_CREDIT_REVERSAL",
        "MERCHANT_TO_MERCHANT_DEBIT",
        "MERCHANT_TO_MERCHANT_DEBIT_REVERSAL",
        "SHOPIFY_COLLECTIVE_CREDIT",
        "SHOPIFY_COLLECTIVE_CREDIT_REVERSAL",
        "SHOPIFY_COLLECTIVE_DEBIT",
        "SHOPIFY_COLLECTIVE_DEBIT_REVERSAL",
        "SHOPIFY_SOURCE_CREDIT",
        "SHOPIFY_SOURCE_CREDIT_REVERSAL",
        "SHOPIFY_SOURCE_DEBIT",
        "SHOPIFY_SOURCE_DEBIT_REVERSAL",
    ),
    # Credits, corrections and protection payouts not tied to one canonical object.
    "adjustment": (
        "ADJUSTMENT",
        "CHARGE_ADJUSTMENT",
        "REFUND_ADJUSTMENT",
        "ANOMALY_CREDIT",
        "ANOMALY_CREDIT_REVERSAL",
        "ANOMALY_DEBIT",
        "ANOMALY_DEBIT_REVERSAL",
        "ADS_PUBLISHER_CREDIT",
        "ADS_PUBLISHER_CREDIT_REVERSAL",
        "CHANNEL_CREDIT",
        "CHANNEL_CREDIT_REVERSAL",
        "CHANNEL_PROMOTION_CREDIT",
        "CHANNEL_PROMOTION_CREDIT_REVERSAL",
        "CHARGEBACK_PROTECTION_CREDIT",
        "CHARGEBACK_PROTECTION_CREDIT_REVERSAL",
        "CHARGEBACK_PROTECTION_DEBIT",
        "CHARGEBACK_PROTECTION_DEBIT_REVERSAL",
        "COLLECTIONS_CREDIT",
        "COLLECTIONS_CREDIT_REVERSAL",
        "MARKETS_PRO_CREDIT",
        "MERCHANT_GOODWILL_CREDIT",
        "MERCHANT_GOODWILL_CREDIT_REVERSAL",
        "PROMOTION_CREDIT",
        "PROMOTION_CREDIT_REVERSAL",
        "SELLER_PROTECTION_CREDIT",
        "SELLER_PROTECTION_CREDIT_REVERSAL",
        "SHOP_CASH_CREDIT",
        "SHOP_CASH_CREDIT_REVERSAL",
        "SHOP_CASH_REFUND_DEBIT",
        "SHOP_CASH_REFUND_DEBIT_REVERSAL",
    ),
}

REPORTING_CATEGORY_BY_TYPE: dict[str, str] = {
    transaction_type: category for category, types in _CATEGORY_GROUPS.items() for transaction_type in types
}

# REST balance transaction types (payouts/transactions.json), where they differ from GraphQL's.
_REST_TYPES = {
    "payout": "TRANSFER",
    "payout_failure": "TRANSFER_FAILURE",
    "payout_cancellation": "TRANSFER_CANCEL",
    "credit": "ADJUSTMENT",
    "debit": "ADJUSTMENT",
}


def reporting_category(transaction_type: str, amount_minor: int) -> str:
    """The canonical reporting category of a Shopify balance transaction type (GraphQL or REST)."""
    upper = transaction_type.upper()
    if upper in ("RESERVED_FUNDS", "RESERVE"):
        return "payout_minimum_balance_hold" if amount_minor < 0 else "payout_minimum_balance_release"
    if upper == "DISPUTE":  # REST: one type for both directions
        return "dispute" if amount_minor < 0 else "dispute_reversal"
    upper = _REST_TYPES.get(transaction_type.lower(), upper)
    return REPORTING_CATEGORY_BY_TYPE.get(upper, "other")


# --------------------------------------------------------------------------- small helpers


def gid(kind: str, legacy_id: Any) -> str | None:
    """``gid://shopify/{kind}/{id}`` for a numeric id (None stays None; a GID passes through)."""
    if legacy_id is None or legacy_id == "":
        return None
    text = str(legacy_id)
    return text if text.startswith("gid://") else f"gid://shopify/{kind}/{text}"


def parse_datetime(value: Any) -> datetime | None:
    """An ISO 8601 timestamp from Shopify as an aware UTC datetime (None for null)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ShopifyNormalizeError(f"timestamp must be a string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ShopifyNormalizeError(f"not an ISO 8601 timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        raise ShopifyNormalizeError(f"timestamp without a time zone: {value!r}")
    return parsed.astimezone(UTC)


def _require(obj: Mapping[str, Any], key: str, what: str) -> Any:
    if not isinstance(obj, Mapping) or obj.get(key) is None:
        raise ShopifyNormalizeError(f"{what} lacks {key!r}")
    return obj[key]


def _minor(amount: Any, currency: Any, what: str) -> int:
    try:
        return to_minor_units(amount, str(currency))
    except MoneyError as exc:
        raise ShopifyNormalizeError(f"{what}: {exc}") from exc


def _money_v2(money: Any, what: str) -> tuple[int, str]:
    """A GraphQL ``MoneyV2`` -> (minor units, upper-case currency)."""
    amount = _require(money, "amount", what)
    currency = str(_require(money, "currencyCode", what)).upper()
    return _minor(amount, currency, what), currency


def _shop_money(bag: Any, what: str) -> tuple[int, str]:
    """The shop-currency side of a GraphQL ``MoneyBag``."""
    return _money_v2(_require(bag, "shopMoney", what), what)


def _row(
    kind: Kind,
    source_id: str,
    fields: dict[str, Any],
    raw: dict[str, Any],
    created: Any = None,
    updated: Any = None,
) -> CanonicalRow:
    return CanonicalRow(
        kind=kind,
        source=SOURCE,
        source_id=source_id,
        fields=fields,
        raw_data=raw,
        source_created_at=created if isinstance(created, datetime) or created is None else parse_datetime(created),
        source_updated_at=updated if isinstance(updated, datetime) or updated is None else parse_datetime(updated),
    )


_PAYOUT_STATUS = {
    "PAID": "paid",
    "SCHEDULED": "pending",
    "IN_TRANSIT": "in_transit",
    "FAILED": "failed",
    "CANCELED": "canceled",
    "CANCELLED": "canceled",
}


# --------------------------------------------------------------------------- GraphQL shapes


def is_test(obj: Mapping[str, Any]) -> bool:
    """Whether Shopify marks an order, an order transaction or a balance transaction (either
    shape) as a test."""
    return obj.get("test") is True


def normalize_order(node: dict[str, Any]) -> list[CanonicalRow]:
    """A GraphQL ``Order`` -> [order, one payment per successful SALE/CAPTURE, one refund per
    successful REFUND]; nothing for a test order."""
    if is_test(node):
        return []
    order_id = str(_require(node, "id", "order"))
    what = f"order {node.get('name') or order_id}"
    total_minor, currency = _shop_money(_require(node, "totalPriceSet", what), f"{what} totalPriceSet")
    status = node.get("displayFinancialStatus")
    rows = [
        _row(
            "order",
            order_id,
            {
                "order_number": node.get("name"),
                "currency": currency,
                "total_minor": total_minor,
                "gift_card_sold_minor": _gift_cards_sold(node, currency, what),
                "financial_status": status.lower() if isinstance(status, str) else None,
                "cancelled": node.get("cancelledAt") is not None,
            },
            node,
            node.get("createdAt"),
            node.get("updatedAt"),
        )
    ]
    refund_of_transaction: dict[str, dict[str, Any]] = {}
    for refund in node.get("refunds") or []:
        for refund_transaction in ((refund.get("transactions") or {}).get("nodes")) or []:
            if isinstance(refund_transaction, dict) and refund_transaction.get("id"):
                refund_of_transaction[refund_transaction["id"]] = refund
    for transaction in node.get("transactions") or []:
        row = _order_transaction_row(transaction, order_id, refund_of_transaction, what)
        if row is not None:
            rows.append(row)
    return rows


def _gift_cards_sold(node: dict[str, Any], currency: str, what: str) -> int | None:
    line_items = node.get("lineItems")
    if not isinstance(line_items, dict):
        return None  # not queried: unknown, not zero
    if (line_items.get("pageInfo") or {}).get("hasNextPage"):
        return None  # some lines were not read: a partial sum would understate the liability
    total = 0
    for line in line_items.get("nodes") or []:
        if not line.get("isGiftCard"):
            continue
        amount, line_currency = _shop_money(_require(line, "discountedTotalSet", f"{what} gift card line"), what)
        if line_currency != currency:
            raise ShopifyNormalizeError(f"{what}: gift card line in {line_currency}, order in {currency}")
        total += amount
    return total


def _order_transaction_row(
    transaction: dict[str, Any], order_id: str, refund_of_transaction: dict[str, dict[str, Any]], what: str
) -> CanonicalRow | None:
    if transaction.get("status") != "SUCCESS" or is_test(transaction):
        return None  # declined, pending and test attempts move no money
    kind = transaction.get("kind")
    if kind not in ("SALE", "CAPTURE", "REFUND"):
        return None  # authorizations, voids and suggestions are not money movements
    transaction_id = str(_require(transaction, "id", f"{what} transaction"))
    amount, currency = _shop_money(_require(transaction, "amountSet", transaction_id), f"{what} {transaction_id}")
    gateway = transaction.get("gateway")
    processed = transaction.get("processedAt") or transaction.get("createdAt")
    if kind == "REFUND":
        refund = refund_of_transaction.get(transaction_id) or {}
        return _row(
            "refund",
            transaction_id,
            {
                "payment_source_id": (transaction.get("parentTransaction") or {}).get("id"),
                "order_source_id": order_id,
                "currency": currency,
                "amount_minor": amount,
                "status": "succeeded",
                "reason": refund.get("note"),
            },
            {"transaction": transaction, "refund": {k: v for k, v in refund.items() if k != "transactions"} or None},
            processed,
            processed,
        )
    return _row(
        "payment",
        transaction_id,
        {
            "order_source_id": order_id,
            "currency": currency,
            "amount_minor": amount,
            "status": "succeeded",
            "captured": True,
            "gateway": gateway,
            "is_gift_card": gateway == "gift_card",
            "balance_transaction_source_id": None,  # Shopify does not link a transaction to its balance line
        },
        transaction,
        processed,
        processed,
    )


def normalize_payout(node: dict[str, Any], shop_timezone: tzinfo = UTC) -> CanonicalRow:
    """A GraphQL ``ShopifyPaymentsPayout`` -> payout row (a WITHDRAWAL is a negative amount).

    Its date is the day it was issued in the shop's time zone, as Shopify's admin and payout
    reports show it: a payout issued at 06:00 UTC belongs to the previous day in California,
    and to that day's month when the books close.
    """
    payout_id = str(_require(node, "id", "payout"))
    amount, currency = _money_v2(_require(node, "net", f"payout {payout_id}"), f"payout {payout_id} net")
    if node.get("transactionType") == "WITHDRAWAL":
        amount = -amount  # money taken from the bank account back to the Shopify balance
    issued = parse_datetime(node.get("issuedAt"))
    status = str(node.get("status") or "")
    return _row(
        "payout",
        payout_id,
        {
            "currency": currency,
            "amount_minor": amount,
            "status": _PAYOUT_STATUS.get(status, status.lower() or None),
            "method": "standard",
            "automatic": True,  # Shopify Payments payouts follow the payout schedule
            "arrival_date": issued.astimezone(shop_timezone).date() if issued else None,
            "failure_code": None,  # Shopify gives a FAILED status but no reason code
            "reversal_of_source_id": None,
        },
        node,
        issued,
        None,
    )


_SOURCE_OBJECT = {
    # sourceType -> (canonical source object type, GID kind of the id it points at, which id)
    "CHARGE": ("charge", "OrderTransaction", "sourceOrderTransactionId"),
    "REFUND": ("refund", "OrderTransaction", "sourceOrderTransactionId"),
    "DISPUTE": ("dispute", "ShopifyPaymentsDispute", "sourceId"),
    "TRANSFER": ("payout", "ShopifyPaymentsPayout", "sourceId"),
}


def normalize_balance_transaction(node: dict[str, Any]) -> CanonicalRow | None:
    """A GraphQL ``ShopifyPaymentsBalanceTransaction`` -> payout_line row; nothing for a test one."""
    if is_test(node):
        return None
    line_id = str(_require(node, "id", "balance transaction"))
    what = f"balance transaction {line_id}"
    amount, currency = _money_v2(_require(node, "amount", what), f"{what} amount")
    fee, fee_currency = _money_v2(_require(node, "fee", what), f"{what} fee")
    net, net_currency = _money_v2(_require(node, "net", what), f"{what} net")
    if not currency == fee_currency == net_currency:
        raise ShopifyNormalizeError(f"{what}: amount, fee and net in different currencies")
    transaction_type = str(_require(node, "type", what))
    source_type = node.get("sourceType")
    if source_type in _SOURCE_OBJECT:
        object_type, kind, id_field = _SOURCE_OBJECT[source_type]
        object_id = gid(kind, node.get(id_field))
    else:
        object_type = source_type.lower() if isinstance(source_type, str) else None
        object_id = str(node["sourceId"]) if node.get("sourceId") is not None else None
    payout = node.get("associatedPayout") or {}
    order = node.get("associatedOrder") or {}
    return _row(
        "payout_line",
        line_id,
        {
            "payout_source_id": payout.get("id"),
            "type": transaction_type.lower(),
            "reporting_category": reporting_category(transaction_type, amount),
            "currency": currency,
            "amount_minor": amount,
            "fee_minor": fee,
            "net_minor": net,
            "fee_details": _fee_details(fee, currency),
            "exchange_rate": None,  # Shopify converts before the balance; it reports no rate here
            "source_object_id": object_id,
            "source_object_type": object_type,
            "source_order_id": order.get("id"),
            "available_on": None,  # not exposed by the API
        },
        node,
        node.get("transactionDate"),
        None,
    )


def _fee_details(fee: int, currency: str) -> list[dict[str, Any]]:
    # Shopify reports one fee per balance transaction; a single detail keeps "fee equals the
    # sum of its details" true without inventing a breakdown.
    if fee == 0:
        return []
    return [{"amount_minor": fee, "currency": currency, "type": "shopify_payments_fee", "description": None}]


def is_test_order_dispute(node: Mapping[str, Any]) -> bool:
    """Whether a GraphQL ``ShopifyPaymentsDispute`` disputes a test order (``order { test }``)."""
    order = node.get("order")
    return isinstance(order, Mapping) and is_test(order)


def normalize_dispute(node: dict[str, Any]) -> CanonicalRow | None:
    """A GraphQL ``ShopifyPaymentsDispute`` -> dispute row; nothing for a dispute on a test order.

    The payment it disputes is found among the order's transactions: the one successful
    Shopify Payments SALE/CAPTURE. With none or several the link is left to reconciliation
    (the dispute's balance transaction names the exact transaction).
    """
    if is_test_order_dispute(node):
        return None
    dispute_id = str(_require(node, "id", "dispute"))
    amount, currency = _money_v2(_require(node, "amount", f"dispute {dispute_id}"), f"dispute {dispute_id} amount")
    order = node.get("order") or {}
    charges = [
        t.get("id")
        for t in order.get("transactions") or []
        if t.get("status") == "SUCCESS"
        and t.get("kind") in ("SALE", "CAPTURE")
        and t.get("gateway") == "shopify_payments"
    ]
    status = node.get("status")
    reason = (node.get("reasonDetails") or {}).get("reason")
    return _row(
        "dispute",
        dispute_id,
        {
            "payment_source_id": charges[0] if len(charges) == 1 else None,
            "currency": currency,
            "amount_minor": amount,
            "status": status.lower() if isinstance(status, str) else None,
            "reason": reason.lower() if isinstance(reason, str) else None,
        },
        node,
        node.get("initiatedAt"),
        node.get("finalizedOn") or node.get("evidenceSentOn"),
    )


# --------------------------------------------------------------------------- REST shapes


def _rest_shop_money(obj: dict[str, Any], field: str, fallback_currency: Any, what: str) -> tuple[int, str]:
    """``<field>_set.shop_money`` when present (multi-currency REST), else ``<field>`` + currency."""
    money_set = obj.get(f"{field}_set")
    if isinstance(money_set, dict) and isinstance(money_set.get("shop_money"), dict):
        shop = money_set["shop_money"]
        currency = str(_require(shop, "currency_code", what)).upper()
        return _minor(_require(shop, "amount", what), currency, what), currency
    if fallback_currency is None:
        raise ShopifyNormalizeError(f"{what} has no currency")
    currency = str(fallback_currency).upper()
    return _minor(_require(obj, field, what), currency, what), currency


def normalize_rest_order(order: dict[str, Any]) -> list[CanonicalRow]:
    """A REST ``order`` -> [order row] plus rows for any embedded ``transactions`` and ``refunds``;
    nothing for a test order."""
    if is_test(order):
        return []
    order_id = gid("Order", order.get("admin_graphql_api_id") or _require(order, "id", "order"))
    assert order_id is not None
    what = f"order {order.get('name') or order_id}"
    total, currency = _rest_shop_money(order, "total_price", order.get("currency"), what)
    gift_cards: int | None = None
    if isinstance(order.get("line_items"), list):
        gift_cards = 0
        for line in order["line_items"]:
            if line.get("gift_card"):
                gift_cards += _minor(_require(line, "price", f"{what} line"), currency, what) * int(
                    line.get("quantity", 1)
                )
    rows = [
        _row(
            "order",
            order_id,
            {
                "order_number": order.get("name"),
                "currency": currency,
                "total_minor": total,
                "gift_card_sold_minor": gift_cards,
                "financial_status": order.get("financial_status"),
                "cancelled": order.get("cancelled_at") is not None,
            },
            order,
            order.get("created_at"),
            order.get("updated_at"),
        )
    ]
    for transaction in order.get("transactions") or []:
        row = normalize_rest_transaction(transaction, currency=currency)
        if row is not None:
            rows.append(row)
    for refund in order.get("refunds") or []:
        rows.extend(normalize_rest_refund(refund, currency=currency))
    return rows


def normalize_rest_transaction(
    transaction: dict[str, Any], *, currency: str | None = None, reason: str | None = None
) -> CanonicalRow | None:
    """A REST ``transaction`` -> payment (successful sale/capture), refund (successful refund) or None.

    REST transactions carry their currency only in newer API versions; pass the order's
    ``currency`` for older ones.
    """
    if transaction.get("status") != "success" or transaction.get("kind") not in ("sale", "capture", "refund"):
        return None
    if is_test(transaction):
        return None
    transaction_id = gid("OrderTransaction", _require(transaction, "id", "transaction"))
    assert transaction_id is not None
    what = f"transaction {transaction_id}"
    code = transaction.get("currency") or currency
    if not code:
        raise ShopifyNormalizeError(f"{what} has no currency; pass the order's")
    amount = _minor(_require(transaction, "amount", what), code, what)
    order_id = gid("Order", transaction.get("order_id"))
    processed = transaction.get("processed_at") or transaction.get("created_at")
    gateway = transaction.get("gateway")
    if transaction["kind"] == "refund":
        return _row(
            "refund",
            transaction_id,
            {
                "payment_source_id": gid("OrderTransaction", transaction.get("parent_id")),
                "order_source_id": order_id,
                "currency": str(code).upper(),
                "amount_minor": amount,
                "status": "succeeded",
                "reason": reason,
            },
            transaction,
            processed,
            processed,
        )
    return _row(
        "payment",
        transaction_id,
        {
            "order_source_id": order_id,
            "currency": str(code).upper(),
            "amount_minor": amount,
            "status": "succeeded",
            "captured": True,
            "gateway": gateway,
            "is_gift_card": gateway == "gift_card",
            "balance_transaction_source_id": None,
        },
        transaction,
        processed,
        processed,
    )


def normalize_rest_refund(refund: dict[str, Any], *, currency: str | None = None) -> list[CanonicalRow]:
    """A REST ``refund`` -> one refund row per successful refund transaction, with the refund's note as reason."""
    rows = []
    for transaction in refund.get("transactions") or []:
        row = normalize_rest_transaction(transaction, currency=currency, reason=refund.get("note"))
        if row is not None and row.kind == "refund":
            rows.append(row)
    return rows


def normalize_rest_dispute(dispute: dict[str, Any]) -> CanonicalRow:
    """A REST Shopify Payments ``dispute`` -> dispute row (REST names no transaction, nor says
    whether the order is a test one: only the GraphQL shape can leave a test order's dispute out)."""
    dispute_id = gid("ShopifyPaymentsDispute", _require(dispute, "id", "dispute"))
    assert dispute_id is not None
    currency = str(_require(dispute, "currency", f"dispute {dispute_id}")).upper()
    return _row(
        "dispute",
        dispute_id,
        {
            "payment_source_id": None,
            "currency": currency,
            "amount_minor": _minor(
                _require(dispute, "amount", f"dispute {dispute_id}"), currency, f"dispute {dispute_id}"
            ),
            "status": dispute.get("status"),
            "reason": dispute.get("reason"),
        },
        dispute,
        dispute.get("initiated_at"),
        dispute.get("finalized_on") or dispute.get("evidence_sent_on"),
    )


def normalize_rest_payout(payout: dict[str, Any]) -> CanonicalRow:
    """A REST Shopify Payments ``payout`` -> payout row."""
    payout_id = gid("ShopifyPaymentsPayout", _require(payout, "id", "payout"))
    assert payout_id is not None
    currency = str(_require(payout, "currency", f"payout {payout_id}")).upper()
    status = str(payout.get("status") or "")
    day = payout.get("date")
    return _row(
        "payout",
        payout_id,
        {
            "currency": currency,
            "amount_minor": _minor(_require(payout, "amount", f"payout {payout_id}"), currency, f"payout {payout_id}"),
            "status": _PAYOUT_STATUS.get(status.upper(), status or None),
            "method": "standard",
            "automatic": True,
            "arrival_date": date.fromisoformat(day) if isinstance(day, str) else None,
            "failure_code": None,
            "reversal_of_source_id": None,
        },
        payout,
        None,
        None,
    )


def normalize_rest_balance_transaction(line: dict[str, Any]) -> CanonicalRow | None:
    """A REST ``payouts/transactions`` entry -> payout_line row; nothing for a test one."""
    if is_test(line):
        return None
    line_id = gid("ShopifyPaymentsBalanceTransaction", _require(line, "id", "balance transaction"))
    assert line_id is not None
    what = f"balance transaction {line_id}"
    currency = str(_require(line, "currency", what)).upper()
    amount = _minor(_require(line, "amount", what), currency, what)
    fee = _minor(_require(line, "fee", what), currency, what)
    net = _minor(_require(line, "net", what), currency, what)
    line_type = str(_require(line, "type", what))
    # REST's source_type is loose ("charge", "Payments::Refund", "Payments::Balance::AdjustmentReversal")
    # and sometimes names the charge on a refund line, so the line's own type decides what it stands for.
    if line_type == "charge":
        object_type, object_id = "charge", gid("OrderTransaction", line.get("source_order_transaction_id"))
    elif line_type == "refund":
        object_type, object_id = "refund", gid("OrderTransaction", line.get("source_order_transaction_id"))
    elif line_type == "dispute":
        object_type, object_id = "dispute", gid("ShopifyPaymentsDispute", line.get("source_id"))
    elif line_type in ("payout", "payout_failure", "payout_cancellation"):
        object_type, object_id = "payout", gid("ShopifyPaymentsPayout", line.get("source_id"))
    else:
        raw_type = line.get("source_type")
        object_type = _rest_source_type(raw_type) if raw_type else None
        object_id = str(line["source_id"]) if line.get("source_id") is not None else None
    return _row(
        "payout_line",
        line_id,
        {
            "payout_source_id": gid("ShopifyPaymentsPayout", line.get("payout_id")),
            "type": line_type,
            "reporting_category": reporting_category(line_type, amount),
            "currency": currency,
            "amount_minor": amount,
            "fee_minor": fee,
            "net_minor": net,
            "fee_details": _fee_details(fee, currency),
            "exchange_rate": None,
            "source_object_id": object_id,
            "source_object_type": object_type,
            "source_order_id": gid("Order", line.get("source_order_id")),
            "available_on": None,
        },
        line,
        line.get("processed_at"),
        None,
    )


def _rest_source_type(raw: str) -> str:
    """``Payments::Balance::AdjustmentReversal`` -> ``adjustment_reversal``."""
    tail = raw.rsplit("::", 1)[-1]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in tail).lstrip("_")
    return snake.lower()
