"""NetSuite REST record API client over httpx: creates, upserts, gets, retries, limits.

What it promises (DESIGN §6):

* ``create`` POSTs a record and returns the internal id from the ``Location`` header of the
  204 answer; ``upsert_by_external_id`` PUTs ``/record/v1/{type}/eid:{externalId}`` - the
  exactly-once path for journal entries.
* Throttling (429 or ``CONCURRENCY_LIMIT_EXCEEDED``) and 5xx answers are retried with
  exponential backoff and full jitter, within a retry budget (attempts and seconds). 4xx
  validation errors are never retried.
* A connection lost before the answer is retried only for requests that are safe to
  repeat (GET, SuiteQL, upsert by external id). For a plain create the outcome is unknown
  and :class:`OutcomeUnknownError` is raised: retrying could post twice.
* At most ``max_concurrency`` requests per account are in flight, enforced by a
  :class:`~netsuite.slots.SlotProvider` (in-process by default, PostgreSQL across
  processes). The slot is held only while a request is on the wire, not while backing off.
* Every attempt can be handed to ``on_exchange`` as a redacted :class:`Exchange`.
* Errors name what failed (the httpx exception's type and its scrubbed message) but chain no
  library exception: those quote what came back (a garbled status line, a body in
  ``JSONDecodeError.doc``) unscrubbed, and a traceback prints every exception in the chain.
  So they are raised after the ``except`` block, not in it, which would set ``__context__``
  even with ``from None``.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_before_delay

from netsuite import jsonio
from netsuite.errors import (
    NetSuiteClientError,
    NetSuiteError,
    NetSuiteProtocolError,
    OutcomeUnknownError,
)
from netsuite.redact import Exchange, authorization_secrets, exchange_from_request, scrub
from netsuite.slots import (
    LocalSlotProvider,
    PostgresSlotProvider,
    SlotProvider,
    SlotTimeoutError,
    default_slot_provider,
)

if TYPE_CHECKING:
    from netsuite.suiteql import SuiteQLResult

__all__ = [
    "Exchange",
    "LocalSlotProvider",
    "NetSuiteClient",
    "NetSuiteClientError",
    "NetSuiteError",
    "NetSuiteProtocolError",
    "NetSuiteTransportError",
    "OutcomeUnknownError",
    "PostgresSlotProvider",
    "RetryPolicy",
    "SlotProvider",
    "SlotTimeoutError",
    "may_have_been_applied",
    "parse_location_id",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

RECORD_PREFIX = "/services/rest/record/v1"
# NetSuite can take tens of seconds on a large journal entry; connecting should be quick.
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
_RECORD_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class NetSuiteTransportError(NetSuiteClientError):
    """NetSuite could not be reached (or the answer was lost) and retries ran out."""


class _RetryableProtocolError(NetSuiteProtocolError):
    """A garbled answer to a request that is safe to repeat."""


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff with full jitter: sleep ~ U(0, min(max_delay, base_delay * 2**(n-1))).

    ``max_attempts`` counts the first try. ``budget_seconds`` bounds the whole operation:
    no retry is started whose sleep would end after the budget.
    """

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0
    budget_seconds: float = 120.0


def parse_location_id(location: str | None, record_type: str) -> str:
    """Internal id from ``Location: https://host/services/rest/record/v1/{type}/{id}``."""
    if not location:
        raise NetSuiteProtocolError(f"NetSuite answered a {record_type} write without a Location header")
    path = urlsplit(location).path.rstrip("/")
    prefix, _, last = path.rpartition("/")
    if not prefix.lower().endswith(f"{RECORD_PREFIX}/{record_type.lower()}") or not last:
        raise NetSuiteProtocolError(f"unexpected Location for {record_type}: {location}")
    return unquote(last)


def record_path(record_type: str, key: str | None = None) -> str:
    """``/services/rest/record/v1/{type}[/{id | eid:...}]`` with the key safely quoted."""
    if not _RECORD_TYPE.match(record_type):
        raise ValueError(f"not a NetSuite record type: {record_type!r}")
    if key is None:
        return f"{RECORD_PREFIX}/{record_type}"
    if key.startswith("eid:"):
        return f"{RECORD_PREFIX}/{record_type}/eid:{quote(key[4:], safe='')}"
    return f"{RECORD_PREFIX}/{record_type}/{quote(key, safe='')}"


class NetSuiteClient:
    """A client for one NetSuite account.

    ``auth`` is an httpx ``Auth`` (:class:`~netsuite.auth.TokenBasedAuth` or
    :class:`~netsuite.auth.ClientCredentialsAuth`). ``retry_budget`` is a
    :class:`RetryPolicy` or a number of seconds. ``slot_provider`` defaults to the
    process-wide in-process provider. Thread-safe: share one client between threads.
    """

    def __init__(
        self,
        base_url: str,
        account_id: str,
        auth: httpx.Auth,
        *,
        max_concurrency: int = 2,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry_budget: RetryPolicy | float = RetryPolicy(),
        slot_provider: SlotProvider | None = None,
        on_exchange: Callable[[Exchange], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.account_id = account_id
        self.max_concurrency = max_concurrency
        self.retry_policy = (
            retry_budget if isinstance(retry_budget, RetryPolicy) else RetryPolicy(budget_seconds=float(retry_budget))
        )
        self.slots: SlotProvider = slot_provider if slot_provider is not None else default_slot_provider()
        self.on_exchange = on_exchange
        self._auth = auth
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - backoff jitter, not a secret
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=auth,
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "EcomOps-NetSuite/1.0"},
        )

    # ----------------------------------------------------------------- record operations

    def create(self, record_type: str, body: Mapping[str, Any]) -> str:
        """POST a new record; return its internal id (NetSuite answers 204 + Location).

        Not retried when the connection drops after sending: see OutcomeUnknownError.
        """
        return self.send(
            "POST",
            record_path(record_type),
            json_body=body,
            idempotent=False,
            operation=f"{record_type}.create",
            parse=lambda r: _expect_location(r, record_type),
        )

    def upsert_by_external_id(
        self, record_type: str, external_id: str, body: Mapping[str, Any], *, replace: Sequence[str] = ()
    ) -> str:
        """PUT ``.../{type}/eid:{externalId}``: create or update; return the internal id.

        The same external id always lands on the same record, but on an update NetSuite
        appends the lines of a sublist without keys (a journal's ``line``) to those already
        there unless ``replace`` names the sublist (``?replace=line``): an upsert that is to
        be safe to repeat must name every sublist it sends.
        """
        if not external_id:
            raise ValueError("external_id is required for an upsert")
        return self.send(
            "PUT",
            record_path(record_type, f"eid:{external_id}"),
            params={"replace": ",".join(replace)} if replace else None,
            json_body=body,
            idempotent=True,
            operation=f"{record_type}.upsert",
            parse=lambda r: _expect_location(r, record_type),
        )

    def get(self, record_type: str, id_or_eid: str, expand_sub_resources: bool = False) -> dict[str, Any]:
        """GET one record by internal id or ``eid:<externalId>``; sublists expanded on request."""
        params = {"expandSubResources": "true"} if expand_sub_resources else None
        return self.send(
            "GET",
            record_path(record_type, str(id_or_eid)),
            params=params,
            idempotent=True,
            operation=f"{record_type}.get",
            parse=_expect_json,
        )

    def suiteql(self, sql: str, **options: Any) -> SuiteQLResult:
        """Run a read-only SuiteQL query; see :func:`netsuite.suiteql.run_suiteql`."""
        from netsuite.suiteql import run_suiteql

        return run_suiteql(self, sql, **options)

    # -------------------------------------------------------------------------- plumbing

    def send(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        operation: str,
        parse: Callable[[httpx.Response], T],
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> T:
        """Send with slots, retries and capture; ``parse`` turns a 2xx answer into the result.

        ``idempotent`` says whether repeating the request after a lost answer is safe.
        ``retry_policy`` replaces the client's for this call (a person waiting on the answer
        gets a short one from a client shared with the worker's postings).
        """
        policy = retry_policy or self.retry_policy
        content = jsonio.dumps(json_body) if json_body is not None else None
        req_headers = dict(headers or {})
        if content is not None:
            req_headers.setdefault("Content-Type", "application/json")
        label = f"{method} {path}"

        def retryable(exc: BaseException) -> bool:
            if isinstance(exc, NetSuiteError):
                return exc.retryable
            return isinstance(exc, NetSuiteTransportError | _RetryableProtocolError)

        retrying = Retrying(
            stop=stop_after_attempt(policy.max_attempts) | stop_before_delay(policy.budget_seconds),
            wait=lambda state: self._wait(state, policy),
            retry=retry_if_exception(retryable),
            sleep=self._sleep,
            reraise=True,
            before_sleep=lambda state: log.info(
                "netsuite retry %s attempt=%s error=%s",
                label,
                state.attempt_number,
                state.outcome.exception() if state.outcome else None,
            ),
        )
        result: T | None = None
        attempts = 0
        try:
            for attempt in retrying:
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    result = self._attempt(
                        method, path, params, content, req_headers, idempotent, operation, parse, attempts, label
                    )
        except NetSuiteError as exc:
            exc.attempts = attempts
            raise
        except _RetryableProtocolError as exc:
            # The retry marker is this module's business: callers get the public class.
            raise NetSuiteProtocolError(f"{exc} (after {attempts} attempts)") from None
        return result  # type: ignore[return-value]

    def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        content: bytes | None,
        headers: dict[str, str],
        idempotent: bool,
        operation: str,
        parse: Callable[[httpx.Response], T],
        attempt: int,
        label: str,
    ) -> T:
        # Build anew each time: the auth flow then signs with a fresh nonce/timestamp.
        request = self._http.build_request(method, path, params=params, content=content, headers=headers)
        started = time.monotonic()
        failure: NetSuiteClientError | None = None
        try:
            with self.slots.acquire(self.account_id, self.max_concurrency):
                response = self._http.send(request)
                response.read()
        except httpx.RequestError as exc:  # lost, refused, garbled, or a body that cannot be decoded
            # httpx quotes what came back in some of its messages (a garbled status line).
            secrets = self._secrets(request)
            self._capture(request, attempt, operation, error=exc, started=started, secrets=secrets)
            why = scrub(f"{type(exc).__name__}: {exc}", secrets)
            if idempotent or _never_sent(exc):
                failure = NetSuiteTransportError(f"{label}: {why}")
            else:
                failure = OutcomeUnknownError(label, why)
        if failure is not None:
            # Raised here, not in the handler: httpx's exception, which quotes what came back
            # unscrubbed, must not ride along as the cause or context of ours.
            raise failure
        secrets = self._secrets(response.request)
        for earlier in response.history:  # e.g. the 401 before a token refresh
            earlier_secrets = [*secrets, *self._secrets(earlier.request)]
            self._capture(
                earlier.request, attempt, operation, response=earlier, started=started, secrets=earlier_secrets
            )
        self._capture(response.request, attempt, operation, response=response, started=started, secrets=secrets)

        if response.status_code >= 400:
            error = NetSuiteError.from_response(
                response.status_code, response.content, response.headers, request=label, secrets=secrets
            )
            if not idempotent and error.status in (502, 504) and not error.has_netsuite_body:
                # A gateway answered, not NetSuite: the create may have been applied behind it.
                raise OutcomeUnknownError(label, error)
            raise error
        try:
            return parse(response)
        except NetSuiteProtocolError as exc:
            why = scrub(str(exc), secrets)  # e.g. quotes the Location header
            if idempotent:
                failure = _RetryableProtocolError(f"{label}: {why}")
            else:
                failure = OutcomeUnknownError(label, f"{type(exc).__name__}: {why}")
        raise failure  # outside the handler: the unscrubbed parse error is not chained to it

    def _secrets(self, request: httpx.Request) -> list[str]:
        """The credential values a request carried: whatever answers it may quote them back."""
        known = getattr(self._auth, "secret_values", None)
        return [*(known() if known else ()), *authorization_secrets(request.headers.get("authorization", ""))]

    def _wait(self, state: RetryCallState, policy: RetryPolicy) -> float:
        ceiling = min(policy.max_delay, policy.base_delay * (2 ** (state.attempt_number - 1)))
        delay = self._rng.uniform(0, ceiling)  # "full jitter": spreads competing workers apart
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, NetSuiteError) and exc.retry_after is not None:
            delay = max(delay, min(exc.retry_after, policy.max_delay))
        return delay

    def _capture(
        self,
        request: httpx.Request,
        attempt: int,
        operation: str,
        *,
        started: float,
        response: httpx.Response | None = None,
        error: BaseException | None = None,
        secrets: list[str] | None = None,
    ) -> None:
        if self.on_exchange is None:
            return
        try:
            exchange = exchange_from_request(
                request,
                attempt=attempt,
                operation=operation,
                response=response,
                error=error,
                elapsed_ms=round((time.monotonic() - started) * 1000, 1),
                secrets=secrets or (),
            )
            self.on_exchange(exchange)
        except Exception:
            # Losing the evidence must not turn a committed write into a reported failure.
            log.exception("netsuite on_exchange hook failed for %s", operation)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> NetSuiteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _never_sent(exc: httpx.TransportError) -> bool:
    """Errors that prove the request did not reach NetSuite, so even a create may be retried."""
    return isinstance(exc, _NEVER_SENT)


def may_have_been_applied(exchange: Exchange) -> bool:
    """Could this (write) attempt have been applied by NetSuite although no answer said so?

    The same rule as for creates (see ``_attempt``): no answer at all, unless the request
    provably never left; a gateway's 502/504 instead of NetSuite's own error body; a 2xx that
    could not be read. An answer from NetSuite (a 4xx, a 5xx with its body, a 429) says it was not.
    """
    if exchange.status is None:
        error = exchange.error or ""
        return not any(error.startswith(f"{kind.__name__}:") for kind in _NEVER_SENT)
    if 200 <= exchange.status < 300:
        return True
    if exchange.status in (502, 504):
        return not NetSuiteError.from_response(exchange.status, exchange.response_body).has_netsuite_body
    return False


def _expect_location(response: httpx.Response, record_type: str) -> str:
    if response.status_code != 204:
        raise NetSuiteProtocolError(f"expected 204 No Content for a {record_type} write, got {response.status_code}")
    return parse_location_id(response.headers.get("location"), record_type)


def _expect_json(response: httpx.Response) -> Any:
    try:
        return jsonio.loads(response.content)
    except ValueError as exc:
        reason = str(exc)  # where parsing stopped; the exception also keeps the whole body (.doc)
    raise NetSuiteProtocolError(f"unparseable JSON from NetSuite: {reason}")
