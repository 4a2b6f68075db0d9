"""Every GraphQL document the Shopify client sends (Admin API 2026-07).

Each document is validated against the official schema by the tests (``ALL_QUERIES`` is the
list they iterate, so a document added here is covered automatically), and its requested
cost at the page size the client uses must stay under Shopify's single-query limit of 1,000
points.

Why the nested limits are small: Shopify charges a connection ``2 + first * (node cost)`` and
multiplies nested connections, *before* running the query. An order page that asks for 100
line items per order cannot be sent at any useful page size. The order page therefore reads a
few transactions, refunds and line items per order, plus ``transactionsCount`` and
``pageInfo`` so the client can tell when an order was cut short and re-read that one order
with ``ORDER_DETAIL_QUERY`` (larger nested limits, one order).
"""

from __future__ import annotations

# Nested limits of the paged order query and of the one-order detail query.
ORDER_PAGE_LIMITS = {"transactions": 8, "refunds": 4, "refund_transactions": 4, "line_items": 10}
ORDER_DETAIL_LIMITS = {"transactions": 50, "refunds": 15, "refund_transactions": 10, "line_items": 80}

ORDERS_PAGE_SIZE = 6  # requested cost ~900 with ORDER_PAGE_LIMITS (tests pin it below 1,000)
PAYOUTS_PAGE_SIZE = 50
BALANCE_TRANSACTIONS_PAGE_SIZE = 100
DISPUTES_PAGE_SIZE = 25
MAX_PAGE_SIZE = 250  # Shopify's maximum for first/last

_MONEY_BAG_FRAGMENT = """
fragment MoneyBagFields on MoneyBag {
  shopMoney { amount currencyCode }
  presentmentMoney { amount currencyCode }
}
"""

_TRANSACTION_FRAGMENT = """
fragment OrderTransactionFields on OrderTransaction {
  id
  kind
  status
  gateway
  test
  createdAt
  processedAt
  errorCode
  amountSet { ...MoneyBagFields }
  parentTransaction { id }
  fees { amount { amount currencyCode } type }
}
"""


def _order_fields(fragment_name: str, limits: dict[str, int]) -> str:
    """The Order selection with the given nested limits, as a named fragment."""
    return f"""
fragment {fragment_name} on Order {{
  id
  legacyResourceId
  name
  createdAt
  updatedAt
  processedAt
  cancelledAt
  cancelReason
  test
  currencyCode
  presentmentCurrencyCode
  displayFinancialStatus
  totalPriceSet {{ ...MoneyBagFields }}
  currentTotalPriceSet {{ ...MoneyBagFields }}
  totalRefundedSet {{ ...MoneyBagFields }}
  transactionsCount {{ count }}
  transactions(first: {limits["transactions"]}) {{ ...OrderTransactionFields }}
  refunds(first: {limits["refunds"]}) {{
    id
    createdAt
    note
    totalRefundedSet {{ ...MoneyBagFields }}
    transactions(first: {limits["refund_transactions"]}) {{
      pageInfo {{ hasNextPage }}
      nodes {{ id }}
    }}
  }}
  lineItems(first: {limits["line_items"]}) {{
    pageInfo {{ hasNextPage }}
    nodes {{
      id
      isGiftCard
      quantity
      discountedTotalSet {{ ...MoneyBagFields }}
    }}
  }}
}}
"""


ORDERS_QUERY = (
    """
query OrdersPage($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes { ...OrderFields }
  }
}
"""
    + _order_fields("OrderFields", ORDER_PAGE_LIMITS)
    + _TRANSACTION_FRAGMENT
    + _MONEY_BAG_FRAGMENT
)

ORDER_DETAIL_QUERY = (
    """
query OrderDetail($id: ID!) {
  order(id: $id) { ...OrderDetailFields }
}
"""
    + _order_fields("OrderDetailFields", ORDER_DETAIL_LIMITS)
    + _TRANSACTION_FRAGMENT
    + _MONEY_BAG_FRAGMENT
)

PAYOUTS_QUERY = """
query PayoutsPage($first: Int!, $after: String, $query: String) {
  shopifyPaymentsAccount {
    payouts(first: $first, after: $after, query: $query, sortKey: ISSUED_AT) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id
        legacyResourceId
        issuedAt
        status
        transactionType
        net { amount currencyCode }
        summary {
          chargesGross { amount currencyCode }
          chargesFee { amount currencyCode }
          refundsFeeGross { amount currencyCode }
          refundsFee { amount currencyCode }
          adjustmentsGross { amount currencyCode }
          adjustmentsFee { amount currencyCode }
          reservedFundsGross { amount currencyCode }
          reservedFundsFee { amount currencyCode }
          retriedPayoutsGross { amount currencyCode }
          retriedPayoutsFee { amount currencyCode }
          advanceGross { amount currencyCode }
          advanceFees { amount currencyCode }
        }
      }
    }
  }
}
"""

# ``query`` takes Shopify search syntax; ``payments_transfer_id:<payout legacy id>`` narrows the
# list to the lines of one payout (Shopify calls payouts "transfers" internally).
BALANCE_TRANSACTIONS_QUERY = """
query BalanceTransactionsPage($first: Int!, $after: String, $query: String) {
  shopifyPaymentsAccount {
    balanceTransactions(first: $first, after: $after, query: $query, sortKey: PROCESSED_AT) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id
        type
        test
        transactionDate
        amount { amount currencyCode }
        fee { amount currencyCode }
        net { amount currencyCode }
        sourceType
        sourceId
        sourceOrderTransactionId
        adjustmentReason
        associatedOrder { id name }
        associatedPayout { id status }
      }
    }
  }
}
"""

DISPUTES_QUERY = """
query DisputesPage($first: Int!, $after: String, $query: String) {
  shopifyPaymentsAccount {
    disputes(first: $first, after: $after, query: $query) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id
        legacyResourceId
        status
        type
        initiatedAt
        evidenceDueBy
        evidenceSentOn
        finalizedOn
        amount { amount currencyCode }
        reasonDetails { reason networkReasonCode }
        order {
          id
          name
          test
          transactions(first: 10) { id kind status gateway }
        }
      }
    }
  }
}
"""

SHOP_QUERY = """
query ShopInfo {
  shop { id name myshopifyDomain currencyCode ianaTimezone }
  shopifyPaymentsAccount { id activated defaultCurrency }
}
"""

# name -> (document, variables the client sends with it at its default page size).
ALL_QUERIES: dict[str, tuple[str, dict[str, object]]] = {
    "OrdersPage": (ORDERS_QUERY, {"first": ORDERS_PAGE_SIZE, "after": None, "query": None}),
    "OrderDetail": (ORDER_DETAIL_QUERY, {"id": "gid://shopify/Order/1"}),
    "PayoutsPage": (PAYOUTS_QUERY, {"first": PAYOUTS_PAGE_SIZE, "after": None, "query": None}),
    "BalanceTransactionsPage": (
        BALANCE_TRANSACTIONS_QUERY,
        {"first": BALANCE_TRANSACTIONS_PAGE_SIZE, "after": None, "query": None},
    ),
    "DisputesPage": (DISPUTES_QUERY, {"first": DISPUTES_PAGE_SIZE, "after": None, "query": None}),
    "ShopInfo": (SHOP_QUERY, {}),
}
