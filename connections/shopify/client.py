"""Thin client for the Shopify Admin GraphQL API, on the ShopifyAPI library.

Plain data in, plain data out: the iterators yield ``Page`` objects (the page's node dicts as
Shopify sent them, plus the cursor to resume after it), so a sync can commit page by page and
restart from the last committed cursor after a crash.

Transport is the library's own: ``shopify.Session`` + ``ShopifyResource.activate_session``
give the access-token header and API version, ``shopify.GraphQL().execute`` sends the POST.
Around it this module adds what a long sync needs: cost-based throttling from
``extensions.cost.throttleStatus``, retries with backoff and jitter on THROTTLED, HTTP 429,
5xx and dropped connections (the documents are read-only queries, so a retry is always
safe), and one exception type, ``ShopifySyncError``, for everything else, worded for the
person reading the sync job's error.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import shopify
import tenacity

from connections.shopify.queries import (
    BALANCE_TRANSACTIONS_PAGE_SIZE,
    BALANCE_TRANSACTIONS_QUERY,
    DISPUTES_PAGE_SIZE,
    DISPUTES_QUERY,
    ORDER_DETAIL_LIMITS,
    ORDER_DETAIL_QUERY,
    ORDER_PAGE_LIMITS,
    ORDERS_PAGE_SIZE,
    ORDERS_QUERY,
    PAYOUTS_PAGE_SIZE,
    PAYOUTS_QUERY,
    SHOP_QUERY,
)
from connections.shopify.schema import ADMIN_API_VERSION

# Waits for the cost bucket aim one point past the need: the bucket is tracked in floats on
# both sides, and landing a hair short of the requested cost means a THROTTLED round trip.
SAFETY_MARGIN_POINTS = 1.0
_TOKEN_PREFIX = re.compile(r"^shp[a-z]{2}_")


def _mask(token: str) -> str:
    """A token as a person may see it: its kind and last four characters (``shpat_****1a2b``)."""
    match = _TOKEN_PREFIX.match(token)
    return f"{match.group(0) if match else ''}****{token[-4:]}" if len(token) >= 12 else "****"


class ShopifySyncError(Exception):
    """Shopify could not be read; the message says why in words (never with the token).

    ``status`` is the HTTP status when Shopify answered with an error status.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ShopifyAuthError(ShopifySyncError):
    """Shopify refused the credentials (HTTP 401/403): retrying will not help."""


class ShopifyGraphQLError(ShopifySyncError):
    """Shopify answered with GraphQL errors (a bad query, a missing scope, ...)."""

    def __init__(self, message: str, errors: list[Any]) -> None:
        super().__init__(message)
        self.errors = errors


class ShopifyRetriesExhausted(ShopifySyncError):
    """Shopify kept answering with a transient error until the retry budget ran out."""


class _TransientError(ShopifySyncError):
    """Internal: worth another attempt, after ``wait_hint`` seconds when Shopify said how long."""

    def __init__(self, message: str, wait_hint: float | None = None, *, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.wait_hint = wait_hint


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Tests shrink the delays; production keeps these defaults."""

    max_attempts: int = 6
    base_delay: float = 0.5  # first backoff for 5xx/connection errors, doubled per attempt
    max_delay: float = 30.0  # cap of the exponential backoff
    max_server_hint: float = 120.0  # cap on a Retry-After / throttle wait Shopify asks for


@dataclass
class ThrottleStats:
    """What the client did about rate limits and failures, for job progress and for tests."""

    requests: int = 0
    requested_cost: int = 0
    actual_cost: int = 0
    cost_waits: int = 0  # pre-emptive sleeps because the bucket lacked room for the next query
    cost_wait_seconds: float = 0.0
    throttled: int = 0  # THROTTLED answers
    http_429: int = 0
    server_errors: int = 0
    connection_errors: int = 0
    retries: int = 0
    retry_wait_seconds: float = 0.0
    waits: list[tuple[str, float]] = field(default_factory=list)  # (reason, seconds) in order


@dataclass(frozen=True)
class Page:
    """One page of a connection: its nodes as Shopify sent them and where the next page starts."""

    nodes: list[dict[str, Any]]
    end_cursor: str | None
    has_next_page: bool
    warnings: tuple[str, ...] = ()


@dataclass
class _BucketState:
    maximum: float
    available: float
    restore_rate: float
    seen_at: float


def _iso(value: datetime | str) -> str:
    """A search-syntax timestamp; naive datetimes are refused rather than guessed."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("timestamps for Shopify searches must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _legacy_id(value: str | int) -> str:
    """``gid://shopify/ShopifyPaymentsPayout/123`` or ``123`` -> ``"123"``."""
    text = str(value).rsplit("/", 1)[-1]
    if not text.isdigit():
        raise ValueError(f"not a Shopify id: {value!r}")
    return text


def latest_updated_at(nodes: list[dict[str, Any]]) -> str | None:
    """The highest ``updatedAt`` among order nodes: the cursor to store after committing them."""
    stamps = [n["updatedAt"] for n in nodes if isinstance(n.get("updatedAt"), str)]
    return max(stamps, key=lambda s: datetime.fromisoformat(s)) if stamps else None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuses every redirect: urllib would send the request's headers, the access token among
    them, on to whatever host the answer names. The refused redirect is raised as the
    ``HTTPError`` of its 3xx status."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class _TimedGraphQL(shopify.GraphQL):
    """The library's GraphQL request, with a timeout, without printing error bodies, and
    without following redirects.

    ``shopify.GraphQL.execute`` calls ``urllib.request.urlopen`` with no timeout, so a shop
    that stops answering would hold a sync forever, and it prints every error response's
    body to standard output. This is the same request (the library's endpoint, session
    headers and body) with ``timeout`` seconds for connecting and for each read; an
    ``HTTPError`` is raised as before, for the client to classify. The Admin API does not
    redirect: an answer that does is not Shopify's, and the token must not follow it.
    """

    _opener = urllib.request.build_opener(_NoRedirects)

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def execute(self, query: str, variables: dict[str, Any] | None = None, operation_name: str | None = None) -> str:
        headers = self.merge_headers({"Accept": "application/json", "Content-Type": "application/json"}, self.headers)
        body = json.dumps({"query": query, "variables": variables, "operationName": operation_name}).encode()
        request = urllib.request.Request(self.endpoint, body, headers)  # noqa: S310 - the shop's https or the sandbox
        with self._opener.open(request, timeout=self.timeout) as response:
            return response.read().decode("utf-8")


class ShopifyClient:
    """Reads orders, payouts, balance transactions and disputes from one shop.

    ``base_url`` points the client somewhere other than ``https://{shop}`` (the sandbox:
    ``"http://127.0.0.1:PORT"``); leave it None for real Shopify. ``sleep`` and ``clock`` are
    injectable so tests can run the throttling logic on a fake clock.
    """

    def __init__(
        self,
        shop_domain: str,
        access_token: str,
        *,
        api_version: str = ADMIN_API_VERSION,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not shop_domain or not access_token:
            raise ValueError("shop_domain and access_token are required")
        if base_url is not None and not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        try:
            shopify.ApiVersion.coerce_to_version(api_version)
        except (shopify.VersionNotFoundError, shopify.InvalidVersionError) as exc:
            raise ValueError(f"not a Shopify API version: {api_version!r}") from exc
        self.shop_domain = shop_domain
        self._access_token = access_token  # kept private: never logged, never in a message
        self.api_version = api_version
        self.base_url = base_url.rstrip("/") if base_url else None
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - backoff jitter, not a secret
        self.stats = ThrottleStats()
        self._bucket: _BucketState | None = None
        self._requested_cost: dict[tuple[str, Any, Any], int] = {}

    def __repr__(self) -> str:
        return f"ShopifyClient(shop_domain={self.shop_domain!r}, api_version={self.api_version!r})"

    def _scrub(self, value: Any) -> Any:
        """``value`` (text, or parsed JSON) with the access token masked wherever it appears.

        Whatever comes back may quote the request, token header and all (an error message, a
        proxy's page): nothing from an answer goes into a message without passing here.
        """
        if isinstance(value, str):
            return value.replace(self._access_token, _mask(self._access_token))
        if isinstance(value, dict):
            return {self._scrub(k): self._scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        return value

    # ------------------------------------------------------------------ transport

    @property
    def endpoint(self) -> str:
        """The URL queries are POSTed to (the library's own for real Shopify)."""
        if self.base_url is None:
            return shopify.Session(self.shop_domain, self.api_version).site + "/graphql.json"
        return f"{self.base_url}/admin/api/{self.api_version}/graphql.json"

    def _post(self, query: str, variables: dict[str, Any] | None) -> str:
        """Send one request through the library and return the raw body.

        The library builds its endpoint as ``https://{shop}.myshopify.com/admin/api/{version}``
        (``Session`` strips any scheme and port from the shop URL, and its ``protocol``/``port``
        switches are class attributes shared by every session in the process). ``GraphQL`` keeps
        the URL in an instance attribute, ``endpoint``, which ``execute`` posts to: overriding it
        on this one instance is the narrowest supported way to reach the sandbox over plain
        http, and touches no other session.
        """
        session = shopify.Session(self.shop_domain, self.api_version, self._access_token)
        shopify.ShopifyResource.activate_session(session)
        try:
            graphql = _TimedGraphQL(self.timeout)
            if self.base_url is not None:
                graphql.endpoint = self.endpoint
            return graphql.execute(query, variables)
        finally:
            # The session lives in thread-local state; leave none behind for the next caller.
            shopify.ShopifyResource.clear_session()

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one query with throttling and retries; return its ``data``.

        Raises ``ShopifyAuthError`` for refused credentials, ``ShopifyGraphQLError`` for errors
        in the answer, ``ShopifyRetriesExhausted`` when transient failures outlast the retry
        policy, and ``ShopifySyncError`` for an answer that is not what Shopify sends.
        """
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retry.max_attempts),
            retry=tenacity.retry_if_exception_type(_TransientError),
            wait=self._retry_wait,
            sleep=self._retry_sleep,
            reraise=True,
        )
        try:
            return retrying(self._execute_once, query, variables)
        except _TransientError as exc:
            raise ShopifyRetriesExhausted(
                f"{exc}; gave up after {self.retry.max_attempts} attempts", status=exc.status
            ) from exc

    def _execute_once(self, query: str, variables: dict[str, Any] | None) -> dict[str, Any]:
        self._wait_for_budget(query, variables)
        self.stats.requests += 1
        # Failures are raised after the except blocks, never in them: urllib's, http.client's
        # and orjson's exceptions keep what came back unscrubbed (a garbled status line quoting
        # the token header, a body whole in JSONDecodeError.doc), and a traceback prints every
        # exception chained as __cause__ or __context__ (which `from None` still sets).
        try:
            raw = self._post(query, variables)
        except urllib.error.HTTPError as exc:
            failure = self._http_error(exc)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            # Refused, reset, dropped or silent before a complete answer: transient for a
            # read-only query.
            self.stats.connection_errors += 1
            reason = getattr(exc, "reason", None) or exc.__class__.__name__
            if isinstance(exc, TimeoutError) or isinstance(reason, TimeoutError):
                reason = f"no answer within {self.timeout:g} s (timed out)"
            failure = _TransientError(self._scrub(f"could not reach Shopify at {self.endpoint}: {reason}"))
        else:
            failure = None
        if failure is not None:
            raise failure

        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            start = self._scrub(raw)[:60]  # masked before it is cut: a cut token is no longer found
            failure = ShopifySyncError(
                f"Shopify answered with a body that is not valid JSON ({len(raw)} characters, starting {start!r})"
            )
        if failure is not None:
            raise failure
        if not isinstance(payload, dict):
            raise ShopifySyncError(f"Shopify answered with {type(payload).__name__}, not a JSON object")
        self._record_cost(query, variables, payload)

        errors = payload.get("errors")
        if errors:
            raise self._graphql_error(self._scrub(errors), payload)
        data = payload.get("data")
        if not isinstance(data, dict):
            raise ShopifySyncError("Shopify's answer has neither data nor errors")
        return data

    def _http_error(self, exc: urllib.error.HTTPError) -> ShopifySyncError:
        status = exc.code
        if status == 429:
            self.stats.http_429 += 1
            retry_after = exc.headers.get("Retry-After") if exc.headers else None
            try:
                hint = float(retry_after) if retry_after else None
            except ValueError:
                hint = None
            return _TransientError("Shopify rate limit reached (HTTP 429)", wait_hint=hint, status=429)
        if 500 <= status < 600:
            self.stats.server_errors += 1
            return _TransientError(f"Shopify had a server error (HTTP {status})", status=status)
        if status in (401, 403):
            return ShopifyAuthError(
                f"Shopify refused the access token for {self.shop_domain} (HTTP {status}): "
                "check that the app is installed and the token is current",
                status=status,
            )
        if status == 404:
            return ShopifySyncError(
                f"Shopify answered 404 for {self.shop_domain}: check the shop domain and that API version "
                f"{self.api_version} is still supported",
                status=status,
            )
        if status == 402:
            return ShopifySyncError(
                f"the shop {self.shop_domain} is frozen (HTTP 402: its Shopify bill is unpaid)", status=status
            )
        if status == 423:
            return ShopifySyncError(f"the shop {self.shop_domain} is locked by Shopify (HTTP 423)", status=status)
        if 300 <= status < 400:
            return ShopifySyncError(
                f"the answer for {self.shop_domain} was a redirect (HTTP {status}), which is not followed: the access "
                "token goes to the shop's own address only; check the shop domain",
                status=status,
            )
        return ShopifySyncError(f"Shopify answered HTTP {status}", status=status)

    def _graphql_error(self, errors: Any, payload: dict[str, Any]) -> ShopifySyncError:
        if not isinstance(errors, list):
            # REST-style {"errors": "..."} with HTTP 200 should not happen; say what came.
            return ShopifySyncError(f"Shopify answered with an error: {errors!r}")
        codes = {
            (e.get("extensions") or {}).get("code")
            for e in errors
            if isinstance(e, dict) and isinstance(e.get("extensions"), dict)
        }
        if "THROTTLED" in codes:
            self.stats.throttled += 1
            return _TransientError("Shopify throttled the query (THROTTLED)", wait_hint=self._throttle_wait(payload))
        if "INTERNAL_SERVER_ERROR" in codes:
            self.stats.server_errors += 1
            return _TransientError("Shopify reported an internal error (INTERNAL_SERVER_ERROR)")
        messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors[:5])
        if "ACCESS_DENIED" in codes:
            return ShopifyGraphQLError(f"Shopify denied access (a missing API scope?): {messages}", errors)
        return ShopifyGraphQLError(f"Shopify rejected the query: {messages}", errors)

    # ------------------------------------------------------------------ cost throttling

    @staticmethod
    def _cost_key(query: str, variables: dict[str, Any] | None) -> tuple[str, Any, Any]:
        # The requested cost of a document depends only on its page sizes.
        variables = variables or {}
        return (query, variables.get("first"), variables.get("last"))

    def _record_cost(self, query: str, variables: dict[str, Any] | None, payload: dict[str, Any]) -> None:
        extensions = payload.get("extensions")
        cost = extensions.get("cost") if isinstance(extensions, dict) else None
        if not isinstance(cost, dict):
            return
        requested = cost.get("requestedQueryCost")
        actual = cost.get("actualQueryCost")
        if isinstance(requested, int | float):
            self._requested_cost[self._cost_key(query, variables)] = int(requested)
            if isinstance(actual, int | float):  # no actual cost: nothing ran, nothing was charged
                self.stats.requested_cost += int(requested)
                self.stats.actual_cost += int(actual)
        status = cost.get("throttleStatus")
        if isinstance(status, dict):
            try:
                self._bucket = _BucketState(
                    maximum=float(status["maximumAvailable"]),
                    available=float(status["currentlyAvailable"]),
                    restore_rate=float(status["restoreRate"]),
                    seen_at=self._clock(),
                )
            except (KeyError, TypeError, ValueError):
                self._bucket = None

    def _available_now(self) -> float | None:
        bucket = self._bucket
        if bucket is None:
            return None
        elapsed = max(0.0, self._clock() - bucket.seen_at)
        return min(bucket.maximum, bucket.available + elapsed * bucket.restore_rate)

    def _wait_for_budget(self, query: str, variables: dict[str, Any] | None) -> None:
        """Sleep until the bucket has room for this query's requested cost, if we know both."""
        cost = self._requested_cost.get(self._cost_key(query, variables))
        available = self._available_now()
        bucket = self._bucket
        if cost is None or available is None or bucket is None or bucket.restore_rate <= 0:
            return
        if cost <= available or cost > bucket.maximum:
            return  # room enough, or it can never fit and Shopify will say so
        wait = (cost - available + SAFETY_MARGIN_POINTS) / bucket.restore_rate
        self.stats.cost_waits += 1
        self.stats.cost_wait_seconds += wait
        self.stats.waits.append(("cost", wait))
        self._sleep(wait)

    def _throttle_wait(self, payload: dict[str, Any]) -> float | None:
        """Seconds until a THROTTLED query's requested cost is available again."""
        extensions = payload.get("extensions")
        cost = extensions.get("cost") if isinstance(extensions, dict) else None
        if not isinstance(cost, dict):
            return None
        status = cost.get("throttleStatus") or {}
        try:
            needed = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
            rate = float(status["restoreRate"])
        except (KeyError, TypeError, ValueError):
            return None
        return (max(needed, 0.0) + SAFETY_MARGIN_POINTS) / rate if rate > 0 else None

    # ------------------------------------------------------------------ retries

    def _retry_wait(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, _TransientError) and exc.wait_hint is not None:
            return min(max(exc.wait_hint, 0.0), self.retry.max_server_hint)
        # Exponential backoff with "equal jitter": half the step is fixed, half random, so
        # workers that failed together do not come back together.
        step = min(self.retry.max_delay, self.retry.base_delay * 2 ** (retry_state.attempt_number - 1))
        return step / 2 + self._rng.uniform(0, step / 2)

    def _retry_sleep(self, seconds: float) -> None:
        self.stats.retries += 1
        self.stats.retry_wait_seconds += seconds
        self.stats.waits.append(("retry", seconds))
        self._sleep(seconds)

    # ------------------------------------------------------------------ reading

    def shop_timezone_name(self) -> str:
        """The shop's IANA time zone (``America/Los_Angeles``), in which Shopify dates its payouts."""
        shop = self.execute(SHOP_QUERY).get("shop") or {}
        return str(shop.get("ianaTimezone") or "")

    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials with a one-point query; ``(ok, a sentence for the user)``."""
        self.last_error: Exception | None = None  # the caller tells bad credentials from outages by it
        try:
            data = self.execute(SHOP_QUERY)
        except ShopifyAuthError as exc:
            self.last_error = exc
            return False, str(exc)
        except ShopifySyncError as exc:
            self.last_error = exc
            return False, f"Could not read the shop {self.shop_domain}: {exc}"
        shop = data.get("shop") or {}
        account = data.get("shopifyPaymentsAccount")
        name = shop.get("name") or self.shop_domain
        domain = shop.get("myshopifyDomain", self.shop_domain)
        message = f"Connected to {name} ({domain}), shop currency {shop.get('currencyCode', '?')}"
        if not account or not account.get("activated"):
            return True, message + "; Shopify Payments is not active, so there are no payouts to reconcile."
        return True, message + f"; Shopify Payments active, payouts in {account.get('defaultCurrency', '?')}."

    def iter_orders(
        self,
        *,
        updated_at_min: datetime | str | None = None,
        search: str | None = None,
        after: str | None = None,
        page_size: int = ORDERS_PAGE_SIZE,
    ) -> Iterator[Page]:
        """Orders sorted by ``updatedAt`` ascending, optionally those updated at or after a moment.

        For an incremental sync pass the ``latest_updated_at`` of the last committed page:
        ``>=`` re-reads the orders updated in that same second (harmless: the upsert is
        idempotent) instead of risking to skip one. Orders whose transactions, refunds or line
        items did not fit the page's nested limits are re-read one by one with larger limits;
        any still cut short are named in ``Page.warnings``.
        """
        if page_size > ORDERS_PAGE_SIZE:
            # Nested transactions, refunds and line items make each order ~150 points.
            raise ValueError(f"at most {ORDERS_PAGE_SIZE} orders a page fit under Shopify's 1,000-point query limit")
        terms = []
        if updated_at_min is not None:
            terms.append(f"updated_at:>='{_iso(updated_at_min)}'")
        if search:
            terms.append(search)
        query = " AND ".join(terms) or None
        for page in self._iter_connection(ORDERS_QUERY, ("orders",), {"query": query}, page_size, after):
            nodes: list[dict[str, Any]] = []
            warnings = list(page.warnings)
            for node in page.nodes:
                if _order_truncated(node, ORDER_PAGE_LIMITS):
                    detail = self.get_order(node["id"])
                    if detail is not None:
                        node = detail
                    warning = order_truncation_warning(node)
                    if warning:
                        warnings.append(warning)
                nodes.append(node)
            yield Page(nodes, page.end_cursor, page.has_next_page, tuple(warnings))

    def get_order(self, order_id: str) -> dict[str, Any] | None:
        """One order by GID with the larger nested limits (None if Shopify has no such order)."""
        data = self.execute(ORDER_DETAIL_QUERY, {"id": order_id})
        order = data.get("order")
        if order is not None and not isinstance(order, dict):
            raise ShopifySyncError("Shopify's order answer is not an object")
        return order

    def iter_payouts(
        self,
        *,
        issued_at_min: datetime | str | None = None,
        search: str | None = None,
        after: str | None = None,
        page_size: int = PAYOUTS_PAGE_SIZE,
    ) -> Iterator[Page]:
        """Shopify Payments payouts by issue time. Re-read a window (not only new ones): a payout
        can turn FAILED days after it was PAID."""
        terms = [f"issued_at:>='{_iso(issued_at_min)}'"] if issued_at_min is not None else []
        if search:
            terms.append(search)
        variables = {"query": " AND ".join(terms) or None}
        yield from self._iter_connection(
            PAYOUTS_QUERY, ("shopifyPaymentsAccount", "payouts"), variables, page_size, after
        )

    def iter_balance_transactions(
        self,
        *,
        payout_id: str | int | None = None,
        search: str | None = None,
        after: str | None = None,
        page_size: int = BALANCE_TRANSACTIONS_PAGE_SIZE,
    ) -> Iterator[Page]:
        """Balance transactions, all of them or those of one payout (GID or numeric id)."""
        terms = [f"payments_transfer_id:{_legacy_id(payout_id)}"] if payout_id is not None else []
        if search:
            terms.append(search)
        variables = {"query": " AND ".join(terms) or None}
        yield from self._iter_connection(
            BALANCE_TRANSACTIONS_QUERY, ("shopifyPaymentsAccount", "balanceTransactions"), variables, page_size, after
        )

    def iter_disputes(
        self,
        *,
        initiated_at_min: datetime | str | None = None,
        search: str | None = None,
        after: str | None = None,
        page_size: int = DISPUTES_PAGE_SIZE,
    ) -> Iterator[Page]:
        """Shopify Payments disputes, optionally those initiated at or after a moment."""
        terms = [f"initiated_at:>='{_iso(initiated_at_min)}'"] if initiated_at_min is not None else []
        if search:
            terms.append(search)
        variables = {"query": " AND ".join(terms) or None}
        yield from self._iter_connection(
            DISPUTES_QUERY, ("shopifyPaymentsAccount", "disputes"), variables, page_size, after
        )

    def get_dispute(self, dispute_id: str | int) -> dict[str, Any] | None:
        """One Shopify Payments dispute by GID or numeric id (None if Shopify has no such dispute).

        Searched by id on the account's disputes (the fields the sync reads come with the
        page's query); the node is checked to be the one asked for, whatever the search did.
        """
        legacy = _legacy_id(dispute_id)
        for page in self.iter_disputes(search=f"id:{legacy}"):
            for node in page.nodes:
                if str(node.get("legacyResourceId")) == str(legacy):
                    return node
        return None

    def _iter_connection(
        self,
        query: str,
        path: tuple[str, ...],
        variables: dict[str, Any],
        page_size: int,
        after: str | None,
    ) -> Iterator[Page]:
        """Follow ``pageInfo.endCursor`` until ``hasNextPage`` is false, one request per page."""
        if not 1 <= page_size <= 250:
            raise ValueError("page_size must be between 1 and 250")
        cursor = after
        while True:
            data = self.execute(query, {**variables, "first": page_size, "after": cursor})
            container: Any = data
            for index, key in enumerate(path):
                if not isinstance(container, dict) or key not in container:
                    raise ShopifySyncError(f"Shopify's answer lacks {'.'.join(path[: index + 1])}")
                container = container[key]
                if container is None and index < len(path) - 1:
                    return  # e.g. no Shopify Payments account: nothing to page through
            if not isinstance(container, dict):
                raise ShopifySyncError(f"Shopify's {'.'.join(path)} is not a connection")
            nodes = container.get("nodes")
            page_info = container.get("pageInfo")
            if not isinstance(nodes, list) or not isinstance(page_info, dict) or "hasNextPage" not in page_info:
                raise ShopifySyncError(f"Shopify's {'.'.join(path)} page lacks nodes or pageInfo")
            has_next = bool(page_info["hasNextPage"])
            end_cursor = page_info.get("endCursor")
            yield Page(nodes, end_cursor, has_next)
            if not has_next:
                return
            if not end_cursor or end_cursor == cursor:
                raise ShopifySyncError(f"Shopify's {'.'.join(path)} pagination did not advance")
            cursor = end_cursor


def order_truncation_warning(order: dict[str, Any]) -> str | None:
    """What to tell the user about an order read with ``ORDER_DETAIL_QUERY`` whose nested lists
    were still cut short by the query's limits (None when it was read whole)."""
    if not _order_truncated(order, ORDER_DETAIL_LIMITS):
        return None
    return (
        f"order {order.get('name', order.get('id'))} has more transactions, refunds or line items "
        "than one query can read; only the first ones were read, the rest are missing"
    )


def _order_truncated(order: dict[str, Any], limits: dict[str, int]) -> bool:
    """Whether the nested lists of an order node were cut by the query's limits."""
    transactions = order.get("transactions") or []
    count = (order.get("transactionsCount") or {}).get("count")
    if isinstance(count, int) and count > len(transactions):
        return True
    refunds = order.get("refunds") or []
    if len(refunds) >= limits["refunds"]:
        return True  # Order.refunds has no count: a full list may have been cut
    if any(((r.get("transactions") or {}).get("pageInfo") or {}).get("hasNextPage") for r in refunds):
        return True
    return bool(((order.get("lineItems") or {}).get("pageInfo") or {}).get("hasNextPage"))
