"""The Shopify sandbox: the Admin GraphQL API over a generated business, on a loopback port.

``POST /admin/api/2026-07/graphql.json`` parses, validates and executes each request against
Shopify's official schema (``connections.shopify.schema``), so a document real Shopify would
refuse (unknown field, wrong argument, bad syntax) is refused here too, in Shopify's error
format. Resolvers read plain dicts projected from ``ShopifyBusiness``; a field the sandbox has
no data for resolves to null (and a non-null one fails the way a broken server would).

Around execution it behaves like Shopify on the wire: the ``X-Shopify-Access-Token`` header
is checked (401 otherwise), each query is costed (``cost.query_cost``), queries over 1,000
points are refused with ``MAX_COST_EXCEEDED``, a leaky bucket answers ``THROTTLED`` when it
lacks room, and every answer carries ``extensions.cost``. Connections take ``first``/``after``
(``last``/``before`` too), ``sortKey``, ``reverse`` and a subset of Shopify's search syntax in
``query`` (unknown search fields come back as ``extensions.search`` warnings, as on Shopify).

Control endpoints (besides the shared ``/__sandbox__/faults`` and ``stats``):

    POST /__sandbox__/advance    {"days": 1}                       simulate more days
    POST /__sandbox__/throttle   {"currently_available": 0}        set the cost bucket
    POST /__sandbox__/test_chargeback                              a dispute on a new test order
    POST /__sandbox__/test_charge  {"payout": "<payout GID>"}      a test-mode balance transaction,
                                                                   listed with that payout (optional)

Start one with ``build_shopify_sandbox(...)`` and ``SandboxServer(app).start()``, or
``python -m connections.shopify.sandbox.server --port 8102``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import orjson
from graphql import (
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLSchema,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    validate,
)

from connections.shopify.money import format_minor_units
from connections.shopify.sandbox.business import (
    SHOP_CURRENCY,
    SHOP_NAME,
    BalanceTransaction,
    Dispute,
    MoneyPair,
    Order,
    OrderTransaction,
    Payout,
    ShopifyBusiness,
)
from connections.shopify.sandbox.cost import MAX_QUERY_COST, coerce_variables, query_cost
from connections.shopify.schema import ADMIN_API_VERSION, load_admin_schema
from ecomops.sandbox_http import SandboxApp, SandboxRequest, SandboxResponse, SandboxServer

DEFAULT_ACCESS_TOKEN = "shpat_sandbox_0000000000000000"  # noqa: S105 - a sandbox-only fake
DEFAULT_SHOP_DOMAIN = "ecomops-demo.myshopify.com"
INVALID_TOKEN_MESSAGE = "[API] Invalid API key or access token (unrecognized login or wrong password)"  # noqa: S105
RATE_LIMIT_MESSAGE = "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
MAX_PAGE_SIZE = 250

T = TypeVar("T")


def sign_webhook(body: bytes, secret: str) -> str:
    """The ``X-Shopify-Hmac-Sha256`` header Shopify sends with a webhook: base64(HMAC-SHA256(secret, body))."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


# --------------------------------------------------------------------------- cost bucket


class CostBucket:
    """Shopify's leaky bucket of query-cost points, on an injectable clock."""

    def __init__(
        self,
        maximum_available: float = 2000.0,
        restore_rate: float = 100.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.maximum_available = float(maximum_available)
        self.restore_rate = float(restore_rate)
        self.clock = clock
        self.available = self.maximum_available
        self._last = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.available = min(self.maximum_available, self.available + max(0.0, now - self._last) * self.restore_rate)
        self._last = now

    def try_take(self, cost: int) -> bool:
        """Take ``cost`` points if the bucket has them (Shopify checks the *requested* cost)."""
        self._refill()
        if cost > self.available:
            return False
        self.available -= cost
        return True

    def give_back(self, points: float) -> None:
        """Refund the difference between requested and actual cost after execution."""
        self.available = min(self.maximum_available, self.available + max(0.0, points))

    def set_available(self, points: float) -> None:
        self._refill()
        self.available = max(0.0, min(self.maximum_available, float(points)))

    def status(self) -> dict[str, float]:
        self._refill()
        return {
            "maximumAvailable": self.maximum_available,
            # floored, as a client that trusts it must never be told more than is there
            "currentlyAvailable": float(int(self.available)),
            "restoreRate": self.restore_rate,
        }


# --------------------------------------------------------------------------- wire helpers


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _money(minor: int, currency: str) -> dict[str, str]:
    return {"amount": format_minor_units(minor, currency, trim=True), "currencyCode": currency}


def _bag(pair: MoneyPair) -> dict[str, dict[str, str]]:
    return {
        "shopMoney": _money(pair.shop, SHOP_CURRENCY),
        "presentmentMoney": _money(pair.presentment, pair.presentment_currency),
    }


def _gid(kind: str, legacy_id: int) -> str:
    return f"gid://shopify/{kind}/{legacy_id}"


def _legacy_id(value: str) -> int | None:
    """Numeric id from a GID or a plain number; None if it is neither."""
    tail = value.rsplit("/", 1)[-1].strip()
    return int(tail) if tail.isdigit() else None


# --------------------------------------------------------------------------- search syntax

_TERM = re.compile(r"""^(?P<field>[a-z_]+):(?P<op><=|>=|<|>)?(?P<value>'[^']*'|"[^"]*"|\S+)$""")
_TOKEN = re.compile(r"""\S+?:(?:<=|>=|<|>)?(?:'[^']*'|"[^"]*"|\S+)|\S+""")


@dataclass(frozen=True)
class _Filter:
    kind: str  # "time" | "int" | "str"
    get: Callable[[Any], Any]


def _parse_time(text: str) -> tuple[datetime, bool]:
    """A search value as a UTC datetime, and whether it named a whole day."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC), True
    parsed = datetime.fromisoformat(text)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC), False


def _compare(left: Any, op: str, right: Any) -> bool:
    if op == ">=":
        return left >= right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    if op == "<":
        return left < right
    return left == right


def _search(
    items: Iterable[T],
    query: str | None,
    filters: dict[str, _Filter],
    path: Sequence[str],
    warnings: list[dict[str, Any]],
) -> list[T]:
    """Apply the supported part of Shopify's search syntax; report the rest as warnings."""
    items = list(items)
    if not query or not query.strip():
        return items
    predicates: list[Callable[[T], bool]] = []
    problems: list[dict[str, str]] = []
    for token in _TOKEN.findall(query):
        if token.upper() == "AND":
            continue
        match = _TERM.match(token)
        if not match or match["field"] not in filters:
            field_name = match["field"] if match else token
            problems.append({"field": field_name, "message": "Invalid search field for this query."})
            continue
        spec = filters[match["field"]]
        op = match["op"] or ""
        raw = match["value"].strip("'\"")
        try:
            predicates.append(_predicate(spec, op, raw))
        except ValueError:
            problems.append({"field": match["field"], "message": f"Invalid value {raw!r}."})
    if problems:
        warnings.append({"path": list(path), "query": query, "warnings": problems})
    return [item for item in items if all(p(item) for p in predicates)]


def _predicate(spec: _Filter, op: str, raw: str) -> Callable[[Any], bool]:
    if spec.kind == "time":
        moment, whole_day = _parse_time(raw)
        if whole_day and op == "":
            return lambda item: moment <= spec.get(item) < moment + timedelta(days=1)
        if whole_day and op in (">", "<="):
            moment = moment + timedelta(days=1) - timedelta(microseconds=1)
        return lambda item: _compare(spec.get(item), op, moment)
    if spec.kind == "int":
        number = _legacy_id(raw)
        if number is None:
            raise ValueError(raw)
        return lambda item: (value := spec.get(item)) is not None and _compare(value, op, number)
    lowered = raw.lower()
    return lambda item: str(spec.get(item) or "").lower() == lowered


# --------------------------------------------------------------------------- connections


def _encode_cursor(key: tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"last_id": key[-1], "last_value": key[0]})).decode("ascii")


def _decode_cursor(cursor: str) -> tuple[Any, ...]:
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        return (payload["last_value"], payload["last_id"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor!r}") from exc


def _paginate(
    items: Sequence[T],
    key: Callable[[T], tuple[Any, Any]],
    to_node: Callable[[T], dict[str, Any]],
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    reverse: bool | None = False,
) -> dict[str, Any]:
    """A Relay connection over ``items`` with keyset cursors (stable while data is appended)."""
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last")
    for name, size in (("first", first), ("last", last)):
        if size is not None and not 0 <= size <= MAX_PAGE_SIZE:
            raise GraphQLError(f"The '{name}' argument must be between 0 and {MAX_PAGE_SIZE}")
    ordered = sorted(items, key=key, reverse=bool(reverse))
    keys = [key(item) for item in ordered]

    def is_after(candidate: tuple[Any, Any], mark: tuple[Any, Any]) -> bool:
        return candidate < mark if reverse else candidate > mark

    start, end = 0, len(ordered)
    if after:
        mark = _decode_cursor(after)
        start = next((i for i, k in enumerate(keys) if is_after(k, mark)), len(ordered))
    if before:
        mark = _decode_cursor(before)
        end = next((i for i, k in enumerate(keys) if not is_after(mark, k)), len(ordered))
        end = max(start, end)
    window = list(range(start, end))
    has_next = has_previous = False
    if first is not None and len(window) > first:
        window, has_next = window[:first], True
    if last is not None and len(window) > last:
        window, has_previous = window[-last:], True
    has_next = has_next or (bool(window) and window[-1] < len(ordered) - 1 and before is not None)
    has_previous = has_previous or (bool(window) and window[0] > 0 and after is not None)
    nodes = [to_node(ordered[i]) for i in window]
    cursors = [_encode_cursor(keys[i]) for i in window]
    return {
        "nodes": nodes,
        "edges": [{"node": node, "cursor": cursor} for node, cursor in zip(nodes, cursors, strict=True)],
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }


def _stamp(value: datetime) -> int:
    return int(value.timestamp())


# --------------------------------------------------------------------------- the app


class ShopifySandbox(SandboxApp):
    """Shopify Admin GraphQL API imitation over a ``ShopifyBusiness``."""

    name = "shopify"

    def __init__(
        self,
        business: ShopifyBusiness,
        *,
        access_token: str = DEFAULT_ACCESS_TOKEN,
        shop_domain: str = DEFAULT_SHOP_DOMAIN,
        api_version: str = ADMIN_API_VERSION,
        maximum_available: float = 2000.0,
        restore_rate: float = 100.0,
        clock: Callable[[], float] = time.monotonic,
        retry_after_seconds: float = 2.0,
        schema: GraphQLSchema | None = None,
        iana_timezone: str = "Etc/UTC",
    ) -> None:
        super().__init__()
        self.business = business
        self.iana_timezone = iana_timezone  # the business runs in UTC; the shop may be elsewhere
        self.access_token = access_token
        self.shop_domain = shop_domain
        self.api_version = api_version
        self.graphql_path = f"/admin/api/{api_version}/graphql.json"
        self.bucket = CostBucket(maximum_available, restore_rate, clock)
        self.retry_after_seconds = retry_after_seconds
        self.schema = schema or load_admin_schema()
        self.graphql_requests = 0
        self.throttled_responses = 0
        self._lock = threading.RLock()  # the business and the bucket are shared by the server's threads
        self._nodes: dict[tuple[str, int], dict[str, Any]] = {}

    # -- HTTP -----------------------------------------------------------------

    def status_fault_response(self, status: int) -> SandboxResponse:
        """Injected errors in Shopify's shape: 429 with Retry-After, 5xx with Shopify's text."""
        if status == 429:
            return self._json({"errors": RATE_LIMIT_MESSAGE}, 429, {"Retry-After": f"{self.retry_after_seconds:.1f}"})
        text = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}.get(status, "Error")
        return self._json({"errors": text}, status)

    def control(self, request: SandboxRequest) -> SandboxResponse:
        """``advance``, ``throttle`` and ``test_chargeback`` here; faults and stats from the shared base."""
        action = request.path.removeprefix("/__sandbox__/").strip("/")
        if action == "advance" and request.method == "POST":
            try:
                days = int((request.json() or {}).get("days", 1))
            except (ValueError, TypeError, AttributeError):
                return self._json({"error": 'body must be {"days": <int>}'}, 400)
            if not 1 <= days <= 366:
                return self._json({"error": "days must be between 1 and 366"}, 400)
            with self._lock:
                reports = self.business.advance(days)
                self._nodes.clear()
            return self._json(
                {
                    "ok": True,
                    "now": _iso(self.business.now),
                    "days": [
                        {
                            "date": r.day.isoformat(),
                            "orders_created": [_gid("Order", i) for i in r.orders_created],
                            "orders_updated": [_gid("Order", i) for i in r.orders_updated],
                            "payouts_created": [_gid("ShopifyPaymentsPayout", i) for i in r.payouts_created],
                        }
                        for r in reports
                    ],
                }
            )
        if action == "test_chargeback" and request.method == "POST":
            with self._lock:
                dispute = self.business.simulate_test_order_chargeback()
            return self._json(
                {
                    "ok": True,
                    "order": _gid("Order", dispute.order_id),
                    "dispute": _gid("ShopifyPaymentsDispute", dispute.id),
                }
            )
        if action == "test_charge" and request.method == "POST":
            try:
                payout = (request.json() or {}).get("payout")
            except (ValueError, AttributeError):
                return self._json({"error": 'body must be {"payout": "<payout GID>"} or empty'}, 400)
            payout_id = _legacy_id(str(payout)) if payout is not None else None
            with self._lock:
                if payout is not None and payout_id not in self.business.payouts:
                    return self._json({"error": f"no payout {payout!r}"}, 404)
                line = self.business.simulate_test_mode_charge(payout_id=payout_id)
                self._nodes.clear()  # the payout's listing changed
            return self._json(
                {
                    "ok": True,
                    "order": _gid("Order", line.order_id),
                    "balance_transaction": _gid("ShopifyPaymentsBalanceTransaction", line.id),
                    "payout": _gid("ShopifyPaymentsPayout", payout_id) if payout_id is not None else None,
                }
            )
        if action == "throttle" and request.method == "POST":
            spec = request.json() or {}
            with self._lock:
                if "maximum_available" in spec:
                    self.bucket.maximum_available = float(spec["maximum_available"])
                if "restore_rate" in spec:
                    self.bucket.restore_rate = float(spec["restore_rate"])
                if "currently_available" in spec:
                    self.bucket.set_available(float(spec["currently_available"]))
                return self._json({"ok": True, "throttleStatus": self.bucket.status()})
        if action == "stats":
            base = orjson.loads(super().control(request).body)
            return self._json(
                {**base, "graphql_requests": self.graphql_requests, "throttled": self.throttled_responses}
            )
        return super().control(request)

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Serve the GraphQL endpoint; everything else is a 404 like Shopify's."""
        if request.path != self.graphql_path:
            return self._json({"errors": "Not Found"}, 404)
        token = request.headers.get("x-shopify-access-token", "")
        if not hmac.compare_digest(token.encode(), self.access_token.encode()):
            return self._json({"errors": INVALID_TOKEN_MESSAGE}, 401)
        if request.method != "POST":
            return self._json({"errors": "Not Found"}, 404)
        try:
            body = orjson.loads(request.body or b"null")
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"].strip():
            return self._json({"errors": {"query": "Required parameter missing or invalid"}}, 400)
        variables = body.get("variables") or {}
        if not isinstance(variables, dict):
            return self._json({"errors": {"variables": "Invalid variables"}}, 400)
        with self._lock:
            self.graphql_requests += 1
            payload = self.run_graphql(body["query"], variables, body.get("operationName"))
        return self._json(payload, 200)

    @staticmethod
    def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> SandboxResponse:
        merged = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        return SandboxResponse(status=status, body=orjson.dumps(payload), headers=merged)

    # -- GraphQL ----------------------------------------------------------------

    def run_graphql(self, query: str, variables: dict[str, Any], operation_name: str | None = None) -> dict[str, Any]:
        """Parse, validate, cost, throttle and execute one request; the JSON body Shopify would send."""
        try:
            document = parse(query)
        except GraphQLError as error:
            return {"errors": [_shopify_error(error)]}
        errors = validate(self.schema, document)
        if errors:
            return {"errors": [_shopify_error(e) for e in errors]}
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            return {
                "errors": [
                    {"message": "An operation name is required", "extensions": {"code": "OPERATION_NAME_REQUIRED"}}
                ]
            }
        if operation.operation is not OperationType.QUERY:
            return {
                "errors": [
                    {
                        "message": f"The sandbox serves queries only, not {operation.operation.value}s",
                        "extensions": {"code": "ACCESS_DENIED"},
                    }
                ]
            }
        coerced = coerce_variables(self.schema, operation, variables)
        if isinstance(coerced, list):
            return {"errors": [_shopify_error(e, code="INVALID_VARIABLE") for e in coerced]}

        requested = query_cost(self.schema, document, operation, coerced)
        if requested > MAX_QUERY_COST:
            return {
                "errors": [
                    {
                        "message": (
                            f"Query cost is {requested}, which exceeds the single query max cost limit "
                            f"({MAX_QUERY_COST}).\n\nSee https://shopify.dev/concepts/about-apis/rate-limits for more "
                            "information on how the\ncost of a query is calculated.\n\nTo query larger amounts of data "
                            "with fewer limits, bulk operations should be used instead."
                        ),
                        "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": MAX_QUERY_COST},
                    }
                ],
                "extensions": self._cost_extension(requested, None),
            }
        if not self.bucket.try_take(requested):
            self.throttled_responses += 1
            return {
                "errors": [
                    {
                        "message": "Throttled",
                        "extensions": {
                            "code": "THROTTLED",
                            "documentation": "https://shopify.dev/api/usage/rate-limits",
                        },
                    }
                ],
                "extensions": self._cost_extension(requested, None),
            }

        context: dict[str, Any] = {"search_warnings": []}
        result = execute(
            self.schema,
            document,
            root_value=self._root(),
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
            field_resolver=_resolve_field,
        )
        assert not callable(getattr(result, "__await__", None))  # every resolver here is synchronous
        data = result.data  # type: ignore[union-attr]
        actual = query_cost(self.schema, document, operation, coerced, data or {})
        self.bucket.give_back(requested - actual)
        payload: dict[str, Any] = {}
        if result.errors:  # type: ignore[union-attr]
            payload["errors"] = [_shopify_error(e) for e in result.errors]  # type: ignore[union-attr]
        payload["data"] = data
        extensions = self._cost_extension(requested, actual)
        if context["search_warnings"]:
            extensions["search"] = context["search_warnings"]
        payload["extensions"] = extensions
        return payload

    def _cost_extension(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": self.bucket.status(),
            }
        }

    # -- projections: business objects -> Shopify-shaped dicts ------------------

    def _cached(self, kind: str, legacy_id: int, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        key = (kind, legacy_id)
        node = self._nodes.get(key)
        if node is None:
            node = self._nodes[key] = build()
        return node

    def _root(self) -> dict[str, Any]:
        business = self.business
        return {
            "shop": {
                "id": _gid("Shop", 68_000_000_001),
                "name": SHOP_NAME,
                "myshopifyDomain": self.shop_domain,
                "currencyCode": SHOP_CURRENCY,
                "ianaTimezone": self.iana_timezone,
                "email": "finance@ecomops-demo.example",
                "contactEmail": "finance@ecomops-demo.example",
                "createdAt": _iso(datetime.combine(business.start, datetime.min.time(), tzinfo=UTC)),
                "enabledPresentmentCurrencies": ["USD", "CAD", "EUR", "GBP", "JPY", "KWD"],
            },
            "orders": self._orders_connection,
            "order": self._order_by_id,
            "shopifyPaymentsAccount": {
                "id": _gid("ShopifyPaymentsAccount", 9_100_000_001),
                "activated": True,
                "defaultCurrency": SHOP_CURRENCY,
                "country": "US",
                "onboardable": False,
                "payouts": self._payouts_connection,
                "balanceTransactions": self._balance_transactions_connection,
                "disputes": self._disputes_connection,
            },
        }

    def _orders_connection(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        sort = args.get("sortKey") or "ID"
        key_of: dict[str, Callable[[Order], tuple[Any, Any]]] = {
            "UPDATED_AT": lambda o: (_stamp(o.updated_at), o.id),
            "CREATED_AT": lambda o: (_stamp(o.created_at), o.id),
            "PROCESSED_AT": lambda o: (_stamp(o.created_at), o.id),
            "ORDER_NUMBER": lambda o: (o.number, o.id),
        }
        filters = {
            "updated_at": _Filter("time", lambda o: o.updated_at),
            "created_at": _Filter("time", lambda o: o.created_at),
            "processed_at": _Filter("time", lambda o: o.created_at),
            "id": _Filter("int", lambda o: o.id),
            "financial_status": _Filter("str", lambda o: o.financial_status.lower()),
            "name": _Filter("str", lambda o: o.name),
        }
        items = _search(
            self.business.orders.values(), args.get("query"), filters, ["orders"], info.context["search_warnings"]
        )
        return _paginate(items, key_of.get(sort, lambda o: (o.id, o.id)), self._order_node, **_page_args(args))

    def _order_by_id(self, info: GraphQLResolveInfo, id: str) -> dict[str, Any] | None:
        legacy = _legacy_id(id) if id.startswith("gid://shopify/Order/") else None
        order = self.business.orders.get(legacy) if legacy is not None else None
        return self._order_node(order) if order else None

    def _payouts_connection(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        filters = {
            "issued_at": _Filter("time", lambda p: p.issued_at),
            "status": _Filter("str", lambda p: p.status.lower()),
            "id": _Filter("int", lambda p: p.id),
            "currency": _Filter("str", lambda p: p.currency),
        }
        items = _search(
            self.business.payouts.values(),
            args.get("query"),
            filters,
            ["shopifyPaymentsAccount", "payouts"],
            info.context["search_warnings"],
        )
        if args.get("transactionType"):
            items = [p for p in items if p.transaction_type == args["transactionType"]]
        key: Callable[[Payout], tuple[Any, Any]] = (
            (lambda p: (_stamp(p.issued_at), p.id)) if args.get("sortKey") == "ISSUED_AT" else (lambda p: (p.id, p.id))
        )
        return _paginate(items, key, self._payout_node, **_page_args(args))

    def _balance_transactions_connection(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        payouts = self.business.payouts
        filters = {
            "payments_transfer_id": _Filter("int", lambda b: b.payout_id),
            "payout_status": _Filter("str", lambda b: self._payout_status_of(b).lower()),
            "payout_date": _Filter(
                "time", lambda b: payouts[b.payout_id].issued_at if b.payout_id else datetime.max.replace(tzinfo=UTC)
            ),
            "processed_at": _Filter("time", lambda b: b.transaction_date),
            "transaction_type": _Filter("str", lambda b: b.type.lower()),
            "id": _Filter("int", lambda b: b.id),
            "currency": _Filter("str", lambda b: SHOP_CURRENCY),
        }
        items = _search(
            self.business.balance_transactions.values(),
            args.get("query"),
            filters,
            ["shopifyPaymentsAccount", "balanceTransactions"],
            info.context["search_warnings"],
        )
        if args.get("hideTransfers"):
            items = [b for b in items if b.type != "TRANSFER"]
        key: Callable[[BalanceTransaction], tuple[Any, Any]] = (
            (lambda b: (_stamp(b.transaction_date), b.id))
            if args.get("sortKey") == "PROCESSED_AT"
            else (lambda b: (b.id, b.id))
        )
        return _paginate(items, key, self._balance_node, **_page_args(args))

    def _disputes_connection(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        filters = {
            "initiated_at": _Filter("time", lambda d: d.initiated_at),
            "status": _Filter("str", lambda d: d.status.lower()),
            "id": _Filter("int", lambda d: d.id),
        }
        items = _search(
            self.business.disputes.values(),
            args.get("query"),
            filters,
            ["shopifyPaymentsAccount", "disputes"],
            info.context["search_warnings"],
        )
        return _paginate(items, lambda d: (d.id, d.id), self._dispute_node, **_page_args(args))

    def _payout_status_of(self, line: BalanceTransaction) -> str:
        return self.business.payouts[line.payout_id].status if line.payout_id else "PENDING"

    def _order_node(self, order: Order) -> dict[str, Any]:
        return self._cached("Order", order.id, lambda: self._build_order(order))

    def _build_order(self, order: Order) -> dict[str, Any]:
        node: dict[str, Any] = {
            "id": _gid("Order", order.id),
            "legacyResourceId": str(order.id),
            "name": order.name,
            "number": order.number - 1000,
            "email": order.email,
            "createdAt": _iso(order.created_at),
            "updatedAt": _iso(order.updated_at),
            "processedAt": _iso(order.created_at),
            "cancelledAt": _iso(order.cancelled_at),
            "cancelReason": order.cancel_reason,
            "closed": False,
            "test": order.test,
            "currencyCode": SHOP_CURRENCY,
            "presentmentCurrencyCode": order.presentment_currency,
            "displayFinancialStatus": order.financial_status,
            "paymentGatewayNames": sorted({t.gateway for t in order.transactions}),
            "subtotalPriceSet": _bag(order.subtotal),
            "totalShippingPriceSet": _bag(order.shipping),
            "totalTaxSet": _bag(order.tax),
            "totalPriceSet": _bag(order.total),
            "currentTotalPriceSet": _bag(order.current_total),
            "totalRefundedSet": _bag(order.refunded),
            "totalReceivedSet": _bag(order.received),
            "transactionsCount": {"count": len(order.transactions), "precision": "EXACT"},
            "disputes": [
                {
                    "id": _gid("OrderDisputeSummary", d),
                    "initiatedAs": "CHARGEBACK",
                    "status": self.business.disputes[d].status,
                }
                for d in order.dispute_ids
            ],
        }
        transactions: dict[int, dict[str, Any]] = {}
        for transaction in order.transactions:
            transactions[transaction.id] = self._transaction_node(transaction, node)
        for transaction in order.transactions:
            if transaction.parent_id is not None:
                transactions[transaction.id]["parentTransaction"] = transactions.get(transaction.parent_id)
        transaction_list = list(transactions.values())
        refunds = [
            {
                "id": _gid("Refund", refund.id),
                "legacyResourceId": str(refund.id),
                "createdAt": _iso(refund.created_at),
                "processedAt": _iso(refund.created_at),
                "updatedAt": _iso(refund.created_at),
                "note": refund.note,
                "order": node,
                "totalRefundedSet": _bag(refund.total),
                "transactions": _list_connection([transactions[t.id] for t in refund.transactions]),
            }
            for refund in order.refunds
        ]
        lines = [
            {
                "id": _gid("LineItem", line.id),
                "name": line.title,
                "title": line.title,
                "sku": line.sku,
                "quantity": line.quantity,
                "currentQuantity": line.quantity,
                "isGiftCard": line.is_gift_card,
                "requiresShipping": not line.is_gift_card,
                "taxable": not line.is_gift_card,
                "originalTotalSet": _bag(line.total),
                "discountedTotalSet": _bag(line.total),
            }
            for line in order.line_items
        ]
        node["transactions"] = lambda info, first=None, **_: (
            transaction_list[:first] if first is not None else transaction_list
        )
        node["refunds"] = lambda info, first=None, **_: refunds[:first] if first is not None else refunds
        node["lineItems"] = _list_connection(lines)
        return node

    @staticmethod
    def _transaction_node(transaction: OrderTransaction, order_node: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": _gid("OrderTransaction", transaction.id),
            "kind": transaction.kind,
            "status": transaction.status,
            "gateway": transaction.gateway,
            "formattedGateway": "Shopify Payments" if transaction.gateway == "shopify_payments" else "Gift card",
            "manualPaymentGateway": False,
            "test": bool(order_node.get("test")),
            "createdAt": _iso(transaction.processed_at),
            "processedAt": _iso(transaction.processed_at),
            "errorCode": transaction.error_code,
            "amountSet": _bag(transaction.amount),
            "parentTransaction": None,
            "order": order_node,
            "settlementCurrency": SHOP_CURRENCY if transaction.gateway == "shopify_payments" else None,
            "fees": [
                {
                    "id": _gid("TransactionFee", fee.id),
                    "amount": _money(fee.amount, SHOP_CURRENCY),
                    "flatFee": _money(fee.flat_fee, SHOP_CURRENCY),
                    "flatFeeName": "Per transaction",
                    "rate": str(fee.rate),
                    "rateName": fee.rate_name,
                    "taxAmount": _money(0, SHOP_CURRENCY),
                    "type": fee.type,
                }
                for fee in transaction.fees
            ],
        }

    def _payout_node(self, payout: Payout) -> dict[str, Any]:
        def build() -> dict[str, Any]:
            summary: dict[str, Any] = {}
            for bucket, (gross, fee) in payout.summary.items():
                gross_name = "refundsFeeGross" if bucket == "refunds" else f"{bucket}Gross"
                fee_name = "advanceFees" if bucket == "advance" else f"{bucket}Fee"
                summary[gross_name] = _money(gross, payout.currency)
                summary[fee_name] = _money(fee, payout.currency)
            summary["usdcRebateCreditAmount"] = _money(0, payout.currency)
            return {
                "id": _gid("ShopifyPaymentsPayout", payout.id),
                "legacyResourceId": str(payout.id),
                "issuedAt": _iso(payout.issued_at),
                "status": payout.status,
                "transactionType": payout.transaction_type,
                "net": _money(payout.net, payout.currency),
                "summary": summary,
                "externalTraceId": None,
            }

        return self._cached("ShopifyPaymentsPayout", payout.id, build)

    def _balance_node(self, line: BalanceTransaction) -> dict[str, Any]:
        def build() -> dict[str, Any]:
            order = self.business.orders.get(line.order_id) if line.order_id else None
            return {
                "id": _gid("ShopifyPaymentsBalanceTransaction", line.id),
                "type": line.type,
                "test": line.test,
                "transactionDate": _iso(line.transaction_date),
                "amount": _money(line.amount, SHOP_CURRENCY),
                "fee": _money(line.fee, SHOP_CURRENCY),
                "net": _money(line.net, SHOP_CURRENCY),
                "sourceType": line.source_type,
                "sourceId": str(line.source_id) if line.source_id is not None else None,
                "sourceOrderTransactionId": (
                    str(line.source_order_transaction_id) if line.source_order_transaction_id is not None else None
                ),
                "adjustmentReason": line.adjustment_reason,
                "adjustmentsOrders": [],
                "associatedOrder": {"id": _gid("Order", order.id), "name": order.name} if order else None,
                "associatedPayout": {
                    "id": _gid("ShopifyPaymentsPayout", line.payout_id) if line.payout_id else None,
                    "status": self._payout_status_of(line),
                },
            }

        return self._cached("ShopifyPaymentsBalanceTransaction", line.id, build)

    def _dispute_node(self, dispute: Dispute) -> dict[str, Any]:
        def build() -> dict[str, Any]:
            return {
                "id": _gid("ShopifyPaymentsDispute", dispute.id),
                "legacyResourceId": str(dispute.id),
                "status": dispute.status,
                "type": dispute.type,
                "amount": _money(dispute.amount, dispute.currency),
                "initiatedAt": _iso(dispute.initiated_at),
                "evidenceDueBy": _iso(dispute.evidence_due_by),
                "evidenceSentOn": _iso(dispute.evidence_sent_on),
                "finalizedOn": _iso(dispute.finalized_on),
                "reasonDetails": {"reason": dispute.reason, "networkReasonCode": dispute.network_reason_code},
                "order": self._order_node(self.business.orders[dispute.order_id]),
            }

        return self._cached("ShopifyPaymentsDispute", dispute.id, build)


def _page_args(args: dict[str, Any]) -> dict[str, Any]:
    return {name: args.get(name) for name in ("first", "after", "last", "before", "reverse")}


def _list_connection(nodes: list[dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """A connection field over nodes kept in their natural order (line items, refund transactions)."""
    positions = {id(node): index for index, node in enumerate(nodes)}

    def resolve(info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        return _paginate(nodes, lambda n: (positions[id(n)], positions[id(n)]), lambda n: n, **_page_args(args))

    return resolve


def _resolve_field(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    """Read a field from a projected dict; a callable value computes a field that takes arguments."""
    if not isinstance(source, dict):
        return None
    value = source.get(info.field_name)
    return value(info, **args) if callable(value) else value


# graphql-core words errors after graphql-js; Shopify runs graphql-ruby. The mistakes a client
# actually makes (a field or argument that does not exist, a missing argument) get Shopify's
# wording and codes; anything else keeps graphql-core's message under a generic code.
_ERROR_REWRITES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], tuple[str, dict[str, Any]]]], ...] = (
    (
        re.compile(r"^Cannot query field ['\"](?P<field>\w+)['\"] on type ['\"](?P<type>\w+)['\"]"),
        lambda m: (
            f"Field '{m['field']}' doesn't exist on type '{m['type']}'",
            {"code": "undefinedField", "typeName": m["type"], "fieldName": m["field"]},
        ),
    ),
    (
        re.compile(r"^Unknown argument ['\"](?P<arg>\w+)['\"] on field ['\"](?P<type>\w+)\.(?P<field>\w+)['\"]"),
        lambda m: (
            f"Field '{m['field']}' doesn't accept argument '{m['arg']}'",
            {"code": "argumentNotAccepted", "name": m["field"], "typeName": "Field", "argumentName": m["arg"]},
        ),
    ),
    (
        re.compile(
            r"^Field ['\"](?P<type>\w+)\.(?P<field>\w+)['\"] argument ['\"](?P<arg>\w+)['\"] of type .* is required"
        ),
        lambda m: (
            f"Field '{m['field']}' is missing required arguments: {m['arg']}",
            {"code": "missingRequiredArguments", "className": "Field", "name": m["field"], "arguments": m["arg"]},
        ),
    ),
    (
        re.compile(r"^Syntax Error: (?P<detail>.*)$", re.DOTALL),
        lambda m: (f"syntax error: {m['detail']}", {"code": "parseError"}),
    ),
)


def _shopify_error(error: GraphQLError, *, code: str = "GRAPHQL_VALIDATION_FAILED") -> dict[str, Any]:
    """One entry of Shopify's ``errors`` list for a graphql-core error."""
    message = error.message
    extensions: dict[str, Any] = {"code": code}
    for pattern, rewrite in _ERROR_REWRITES:
        match = pattern.search(message)
        if match:
            message, extensions = rewrite(match)
            break
    else:
        if error.path is not None:
            extensions = {"code": _execution_error_code(error)}
    out: dict[str, Any] = {"message": message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        out["path"] = list(error.path)
    out["extensions"] = extensions
    return out


def _execution_error_code(error: GraphQLError) -> str:
    if error.message.startswith("Cannot return null for non-nullable field"):
        # The query is valid but the sandbox has no data for that field. Said plainly, and not
        # INTERNAL_SERVER_ERROR, which clients rightly retry.
        return "SANDBOX_FIELD_NOT_SERVED"
    original = error.original_error
    if original is not None and not isinstance(original, GraphQLError):
        return "INTERNAL_SERVER_ERROR"  # a resolver crashed: what Shopify reports for its own bugs
    return "BAD_REQUEST"


def build_shopify_sandbox(
    *,
    seed: int = 20260701,
    days: int = 30,
    access_token: str = DEFAULT_ACCESS_TOKEN,
    start: date = date(2026, 6, 1),
    orders_per_day: int = 20,
    maximum_available: float = 2000.0,
    restore_rate: float = 100.0,
    clock: Callable[[], float] = time.monotonic,
    retry_after_seconds: float = 2.0,
    shop_domain: str = DEFAULT_SHOP_DOMAIN,
    iana_timezone: str = "Etc/UTC",
    settle: bool = False,
) -> ShopifySandbox:
    """A sandbox app over a freshly generated business; serve it with ``SandboxServer(app).start()``.
    With ``settle`` the business winds down after its ``days``, until everything is paid out."""
    business = ShopifyBusiness(seed=seed, days=days, start=start, orders_per_day=orders_per_day, settle=settle)
    return ShopifySandbox(
        business,
        access_token=access_token,
        shop_domain=shop_domain,
        maximum_available=maximum_available,
        restore_rate=restore_rate,
        clock=clock,
        retry_after_seconds=retry_after_seconds,
        iana_timezone=iana_timezone,
    )


def main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover - manual use
    """Serve a sandbox in the foreground: ``python -m connections.shopify.sandbox.server --port 8102``."""
    parser = argparse.ArgumentParser(description="Shopify Admin GraphQL sandbox on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=20260701)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--token", default=DEFAULT_ACCESS_TOKEN)
    options = parser.parse_args(argv)
    app = build_shopify_sandbox(seed=options.seed, days=options.days, access_token=options.token)
    server = SandboxServer(app, port=options.port).start()
    print(f"Shopify sandbox on {server.url}{app.graphql_path} (shop {app.shop_domain})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
