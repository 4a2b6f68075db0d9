"""A thin Stripe client for syncing: plain dicts in and out, one page at a time.

Built on stripe-python's ``stripe.StripeClient`` (API version pinned to 2023-08-16, the
shapes the normalizers and the sandbox are written for). What it adds:

* **Pages, not objects.** ``*_pages()`` yield :class:`Page` objects (at most 100 dicts,
  newest first, and the cursor to resume after them) so a sync can commit each page and
  restart from the last committed cursor after a crash.
* **Incremental by ``created``.** Pass ``created_gte`` (the high-water mark of the last
  completed run; ``gte`` rather than ``gt`` because several objects share a second, and
  re-reading one is harmless for an idempotent upsert). Remember ``Page.max_created``
  of what you read; when a run completes, that is the next run's ``created_gte``. To
  resume a crashed run, call again with the same ``created_gte`` and
  ``starting_after=<last committed Page.next_cursor>``.
* **Retries.** 429, 5xx and connection errors are retried with exponential backoff and
  full jitter (tenacity), up to ``max_retries`` times; other 4xx are never retried.
  stripe-python's own retries are turned off (``max_network_retries=0``): they do not
  retry 429 and their delays are class constants a test cannot shorten.
* **Rate limit.** One token bucket per instance (``rate_limit`` requests/s, default 25 as
  in Stripe test mode; live mode allows 100), shared by every thread using the instance.
* **Clear errors.** Everything that fails raises :class:`StripeSyncError` with the HTTP
  status, Stripe's error code and the page cursor, and never the API key: not in its
  message, nor in a chained stripe-python or urllib3 exception (none is chained; they quote
  what came back, and a traceback prints the whole chain).

Speed: objects come from the request ``StripeClient.raw_request`` makes, and the JSON body
is parsed once, with orjson, into plain dicts, skipping stripe-python's stdlib parse and its
``StripeObject`` conversion, which were the bottleneck (see ``_raw_get``), over urllib3
rather than ``requests`` (see ``Urllib3Client``). Measured on this 2-core machine paging
100,000 balance transactions from the scale sandbox, rate limit off:
``v1.balance_transactions.list`` + ``to_dict()`` 8,500-10,000 objects/s; ``raw_request`` +
orjson 38,000-40,000 objects/s with the sandbox in another process, 33,000-45,000 in the
same one (``connections/stripe/tests/test_client.py::test_paging_throughput``). With the
default 25 requests/s the ceiling is 2,500 objects/s (10,000 at live mode's 100/s):
benchmarks against the sandbox pass ``rate_limit=None``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import stripe
import urllib3
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

STRIPE_API_VERSION = "2023-08-16"
PAGE_SIZE = 100  # Stripe's maximum page size
_ID = re.compile(r"^[A-Za-z0-9_]+$")
_KEY_SHAPE = re.compile(r"\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9_]+")


class StripeSyncError(Exception):
    """A Stripe request that failed for good (after any retries).

    ``status`` is the HTTP status (None when Stripe could not be reached or answered
    garbage), ``code`` Stripe's error code, ``cursor`` the ``starting_after`` of the page
    being fetched, ``retryable`` whether trying again later may succeed.
    """

    def __init__(
        self,
        message: str,
        *,
        resource: str | None = None,
        cursor: str | None = None,
        status: int | None = None,
        code: str | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.resource = resource
        self.cursor = cursor
        self.status = status
        self.code = code
        self.retryable = retryable


class StripeNotFoundError(StripeSyncError):
    """The object asked for does not exist (HTTP 404, ``resource_missing``)."""


@dataclass(frozen=True)
class Page:
    """One list page: ``data`` newest first, and where to resume after it."""

    resource: str
    data: list[dict[str, Any]]
    has_more: bool
    cursor: str | None  # the starting_after this page was fetched with (None: first page)
    next_cursor: str | None  # pass as starting_after to continue after this page
    number: int  # 1-based, within this iteration

    @property
    def max_created(self) -> int | None:
        """The newest ``created`` on the page: the candidate high-water mark for the next run."""
        return max((obj["created"] for obj in self.data), default=None)


class RateLimiter:
    """A thread-safe token bucket: at most ``rate`` requests/s, bursts up to ``burst``."""

    def __init__(
        self,
        rate: float | None,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate if rate and rate > 0 else None
        self.burst = max(1, burst)
        self._clock, self._sleep = clock, sleep
        self._tokens = float(self.burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until the next request may start."""
        if self.rate is None:
            return
        with self._lock:  # held while sleeping so waiting threads queue up in order
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens < 1:
                wait = (1 - self._tokens) / self.rate
                self._sleep(wait)
                self._stamp = self._clock()
                self._tokens = 1.0
            self._tokens -= 1


@dataclass
class ClientStats:
    """Counters a sync job can show as progress."""

    requests: int = 0
    retries: int = 0
    pages: int = 0
    objects: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)


class _Retryable(Exception):
    """Internal: a failure worth another attempt (429, 5xx, connection)."""

    def __init__(self, error: StripeSyncError) -> None:
        super().__init__(error.message)
        self.error = error


class Urllib3Client(stripe.HTTPClient):
    """stripe-python's transport on a urllib3 connection pool, without ``requests`` on top.

    stripe-python lets a caller bring its own ``HTTPClient``. Its default,
    ``RequestsClient``, spends most of a page's client-side time in ``requests`` itself
    (session settings merged per call, cookie jars, hooks, response wrapping): 3.7 of the
    14 s the sync held the GIL in a 50,000-transaction backfill, measured with py-spy. A
    list page needs one keep-alive GET and the body's bytes; urllib3 (which ``requests``
    runs on anyway) does exactly that, from one pool shared by the instance's threads.
    Connection failures and timeouts become ``APIConnectionError`` as with the stock clients;
    retrying them is ``StripeApi``'s business.
    """

    name = "urllib3"

    def __init__(self, *, timeout: float = 30.0, pool_size: int = 4) -> None:
        super().__init__()
        self._timeout = urllib3.Timeout(total=timeout)
        self._pool = urllib3.PoolManager(maxsize=pool_size, retries=False, timeout=self._timeout)

    def request(
        self, method: str, url: str, headers: Any, post_data: Any = None, *, _usage: Any = None
    ) -> tuple[bytes, int, Any]:
        try:
            response = self._pool.request(
                method.upper(), url, headers=dict(headers or {}), body=post_data, preload_content=True, redirect=False
            )
        except urllib3.exceptions.SSLError as exc:
            failure = stripe.APIConnectionError(
                f"Could not verify Stripe's TLS certificate ({type(exc).__name__})", should_retry=False
            )
        except urllib3.exceptions.HTTPError as exc:
            failure = stripe.APIConnectionError(
                f"Unexpected error communicating with Stripe ({type(exc).__name__}: {exc})", should_retry=True
            )
        else:
            return response.data, response.status, response.headers
        # Raised outside the handler so that urllib3's exception is not chained to it: it quotes
        # what came back (a garbled status line quoting the request, key and all), and StripeApi
        # scrubs only the message it is handed.
        raise failure

    def request_stream(self, method: str, url: str, headers: Any, post_data: Any = None, *, _usage: Any = None) -> Any:
        raise NotImplementedError("streamed Stripe responses are not used by this client")

    def close(self) -> None:
        self._pool.clear()


def _mask(key: str) -> str:
    match = re.match(r"^((?:sk|rk|pk)_(?:test|live)_)", key)
    prefix = match.group(1) if match else ""
    return f"{prefix}****{key[-4:]}" if len(key) >= 12 else "****"


class StripeApi:
    """Read access to one Stripe account for syncing (see the module docstring).

    ``base_url`` points it at the sandbox (``http://127.0.0.1:PORT``); None is api.stripe.com.
    ``max_retries``/``retry_base_delay``/``retry_max_delay`` shape the backoff (attempt n
    waits a random time up to ``min(retry_max_delay, retry_base_delay * 2**n)``);
    ``rate_limit`` is requests per second for this instance (None or 0: unlimited).
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        stripe_version: str = STRIPE_API_VERSION,
        max_retries: int = 5,
        retry_base_delay: float = 0.5,
        retry_max_delay: float = 30.0,
        rate_limit: float | None = 25.0,
        timeout: float = 30.0,
        page_size: int = PAGE_SIZE,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise ValueError("a Stripe secret key is required")
        if not 1 <= page_size <= PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {PAGE_SIZE}")
        self._api_key = api_key
        self.base_url = base_url or stripe.DEFAULT_API_BASE
        self.max_retries = max_retries
        self.retry_base_delay = retry_base_delay
        self.retry_max_delay = retry_max_delay
        self.page_size = page_size
        self._sleep = sleep
        self.limiter = RateLimiter(rate_limit, sleep=sleep)
        self.stats = ClientStats()
        self._stripe = stripe.StripeClient(
            api_key,
            stripe_version=stripe_version,
            base_addresses={"api": self.base_url},
            max_network_retries=0,  # retries are ours (see the module docstring)
            http_client=Urllib3Client(timeout=timeout),
        )

    def __repr__(self) -> str:  # never show the key, even in a traceback's locals
        return f"StripeApi(base_url={self.base_url!r}, key={_mask(self._api_key)})"

    # ----------------------------------------------------------------- requests

    def _redact(self, text: str) -> str:
        text = text.replace(self._api_key, _mask(self._api_key))
        # Any other full key-shaped string (e.g. echoed by a proxy) goes too.
        return _KEY_SHAPE.sub(lambda m: _mask(m.group(0)), text)

    def _error(self, exc: stripe.StripeError, resource: str | None, cursor: str | None) -> StripeSyncError:
        status = exc.http_status
        code = exc.code
        detail = self._redact(exc.user_message or str(exc) or type(exc).__name__)
        where = f" (resource {resource}, page after {cursor!r})" if resource else ""
        cls = StripeNotFoundError if status == 404 else StripeSyncError
        return cls(
            f"Stripe HTTP {status}{' ' + code if code else ''}: {detail}{where}",
            resource=resource,
            cursor=cursor,
            status=status,
            code=code,
            retryable=status == 429 or (status is not None and status >= 500),
        )

    def _request_once(
        self, path: str, params: dict[str, Any], resource: str | None, cursor: str | None, page: bool
    ) -> Any:
        self.limiter.acquire()
        self.stats.add(requests=1)
        # Failures are raised after the except blocks, never in them: stripe-python's errors
        # and orjson's keep what came back unscrubbed (an error message quoting the request's
        # Authorization header, a body whole in JSONDecodeError.doc), and a traceback prints
        # every exception chained as __cause__ or __context__ (which `from None` still sets).
        try:
            body = self._raw_get(path, params)
        except stripe.APIConnectionError as exc:
            error = StripeSyncError(
                f"Could not reach Stripe at {self.base_url}: {self._redact(exc.user_message or str(exc))}",
                resource=resource,
                cursor=cursor,
                retryable=True,
            )
        except stripe.StripeError as exc:
            error = self._error(exc, resource, cursor)
        else:
            try:
                return orjson.loads(body)
            except orjson.JSONDecodeError:
                error = self._malformed(path, resource, cursor, page=page)
        if error.retryable:
            raise _Retryable(error)
        raise error

    def _raw_get(self, path: str, params: dict[str, Any]) -> bytes | str:
        """``StripeClient.raw_request`` without its second JSON parse: the body of a 2xx.

        ``raw_request`` is ``request_raw`` followed by ``_interpret_response``, which parses
        every body with the stdlib ``json`` into a ``StripeResponse``; we parse it again with
        orjson into the dicts the normalizers read, so a 2xx body was decoded twice (about a
        quarter of a sync's CPU, measured with py-spy). Here only a non-2xx response goes
        through ``_interpret_response``, which raises stripe-python's typed error for it
        exactly as ``raw_request`` would. Both are stripe-python internals (pinned in
        requirements.txt); ``connections/stripe/tests/test_client.py`` covers every error path through them.
        """
        requestor = self._stripe._requestor
        body, status, headers = requestor.request_raw(
            "get", path, params=params, options={}, base_address="api", api_mode="V1", usage=["raw_request"]
        )
        if 200 <= status < 300:
            return body  # type: ignore[return-value]
        requestor._interpret_response(body, status, headers, "V1")  # raises the typed StripeError
        raise stripe.APIError(f"Stripe answered HTTP {status}", http_status=status)  # pragma: no cover

    @staticmethod
    def _malformed(path: str, resource: str | None, cursor: str | None, *, page: bool) -> StripeSyncError:
        if not page:
            return StripeSyncError(
                f"Stripe sent a malformed (not JSON or truncated) response for GET {path}", resource=resource
            )
        where = f"the page of {resource} after {cursor!r}" if cursor else f"the first page of {resource}"
        return StripeSyncError(
            f"Stripe sent a malformed (not JSON or truncated) response for {where}; "
            f"resume from starting_after={cursor!r}",
            resource=resource,
            cursor=cursor,
        )

    def _get(
        self,
        path: str,
        params: dict[str, Any],
        *,
        resource: str | None = None,
        cursor: str | None = None,
        page: bool = False,
    ) -> Any:
        def before_sleep(_state: Any) -> None:
            self.stats.add(retries=1)

        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait_random_exponential(multiplier=self.retry_base_delay, max=self.retry_max_delay),
            retry=retry_if_exception(lambda exc: isinstance(exc, _Retryable)),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(self._request_once, path, params, resource, cursor, page)
        except _Retryable as exc:
            error = exc.error
            error.message = f"{error.message}; gave up after {self.max_retries + 1} attempts"
            error.args = (error.message,)
        raise error  # outside the handler: the internal _Retryable is not its context

    # ----------------------------------------------------------------- lists

    def iter_pages(
        self,
        resource: str,
        *,
        created_gte: int | None = None,
        starting_after: str | None = None,
        **filters: str | None,
    ) -> Iterator[Page]:
        """Every page of ``GET /v1/<resource>``, newest first, ``limit`` = ``page_size``.

        ``created_gte`` lists only objects created at or after it; ``starting_after``
        resumes after that object id; ``filters`` are Stripe list parameters (``payout``,
        ``type``, ``charge``, ...).
        """
        base: dict[str, Any] = {k: v for k, v in filters.items() if v is not None}
        if created_gte is not None:
            base["created"] = {"gte": int(created_gte)}
        cursor = starting_after
        number = 0
        while True:
            params = {**base, "limit": self.page_size}
            if cursor is not None:
                params["starting_after"] = cursor
            body = self._get(f"/v1/{resource}", params, resource=resource, cursor=cursor, page=True)
            if not isinstance(body, dict) or body.get("object") != "list" or not isinstance(body.get("data"), list):
                raise self._malformed(f"/v1/{resource}", resource, cursor, page=True)
            data: list[dict[str, Any]] = body["data"]
            number += 1
            next_cursor = data[-1]["id"] if data else cursor
            has_more = bool(body.get("has_more")) and bool(data)
            self.stats.add(pages=1, objects=len(data))
            yield Page(resource, data, has_more, cursor, next_cursor, number)
            if not has_more:
                return
            cursor = next_cursor

    def balance_transaction_pages(
        self, *, created_gte: int | None = None, starting_after: str | None = None, txn_type: str | None = None
    ) -> Iterator[Page]:
        """Pages of all balance transactions (optionally of one Stripe ``type``), newest first."""
        return self.iter_pages(
            "balance_transactions", created_gte=created_gte, starting_after=starting_after, type=txn_type
        )

    def payout_balance_transaction_pages(self, payout_id: str, *, starting_after: str | None = None) -> Iterator[Page]:
        """Pages of what an automatic payout paid out, its own ``payout`` line included.

        Stripe refuses this for a manual payout (400): check ``payout["automatic"]`` first.
        """
        return self.iter_pages("balance_transactions", starting_after=starting_after, payout=self._check_id(payout_id))

    def payout_pages(self, *, created_gte: int | None = None, starting_after: str | None = None) -> Iterator[Page]:
        """Pages of payouts, newest first."""
        return self.iter_pages("payouts", created_gte=created_gte, starting_after=starting_after)

    def charge_pages(self, *, created_gte: int | None = None, starting_after: str | None = None) -> Iterator[Page]:
        """Pages of charges, newest first."""
        return self.iter_pages("charges", created_gte=created_gte, starting_after=starting_after)

    def payment_intent_pages(
        self, *, created_gte: int | None = None, starting_after: str | None = None
    ) -> Iterator[Page]:
        """Pages of PaymentIntents, newest first."""
        return self.iter_pages("payment_intents", created_gte=created_gte, starting_after=starting_after)

    def refund_pages(self, *, created_gte: int | None = None, starting_after: str | None = None) -> Iterator[Page]:
        """Pages of refunds, newest first."""
        return self.iter_pages("refunds", created_gte=created_gte, starting_after=starting_after)

    def charge_refund_pages(self, charge_id: str) -> Iterator[Page]:
        """Pages of one charge's refunds, newest first (``GET /v1/refunds?charge=``).

        Since API version 2022-11-15 a charge no longer carries its refunds unless they are
        expanded, which Stripe advises against; this list is how to read them.
        """
        return self.iter_pages("refunds", charge=self._check_id(charge_id))

    def dispute_pages(self, *, created_gte: int | None = None, starting_after: str | None = None) -> Iterator[Page]:
        """Pages of disputes, newest first."""
        return self.iter_pages("disputes", created_gte=created_gte, starting_after=starting_after)

    # ----------------------------------------------------------------- single objects

    @staticmethod
    def _check_id(obj_id: str) -> str:
        # Ids go into the URL path: refuse anything that could change the path.
        if not isinstance(obj_id, str) or not _ID.match(obj_id):
            raise ValueError(f"not a Stripe object id: {obj_id!r}")
        return obj_id

    def retrieve(self, resource: str, obj_id: str) -> dict[str, Any]:
        """``GET /v1/<resource>/<id>``; raises :class:`StripeNotFoundError` if it does not exist."""
        body: dict[str, Any] = self._get(f"/v1/{resource}/{self._check_id(obj_id)}", {}, resource=resource)
        return body

    def retrieve_balance_transaction(self, obj_id: str) -> dict[str, Any]:
        """One balance transaction by ``txn_`` id."""
        return self.retrieve("balance_transactions", obj_id)

    def retrieve_payout(self, obj_id: str) -> dict[str, Any]:
        """One payout by ``po_`` id."""
        return self.retrieve("payouts", obj_id)

    def retrieve_charge(self, obj_id: str) -> dict[str, Any]:
        """One charge by ``ch_``/``py_`` id."""
        return self.retrieve("charges", obj_id)

    def retrieve_payment_intent(self, obj_id: str) -> dict[str, Any]:
        """One PaymentIntent by ``pi_`` id."""
        return self.retrieve("payment_intents", obj_id)

    def retrieve_refund(self, obj_id: str) -> dict[str, Any]:
        """One refund by ``re_`` id."""
        return self.retrieve("refunds", obj_id)

    def retrieve_dispute(self, obj_id: str) -> dict[str, Any]:
        """One dispute by ``dp_``/``du_`` id."""
        return self.retrieve("disputes", obj_id)

    def retrieve_balance(self) -> dict[str, Any]:
        """The account's current Balance."""
        body: dict[str, Any] = self._get("/v1/balance", {})
        return body

    def retrieve_account(self) -> dict[str, Any]:
        """The Account the key belongs to."""
        body: dict[str, Any] = self._get("/v1/account", {})
        return body

    # ----------------------------------------------------------------- connection test

    def test_connection(self) -> tuple[bool, str]:
        """Try the key against ``GET /v1/account``; return (ok, a sentence for the user).

        The sentence names what went wrong in Stripe's words but never contains the key.
        """
        self.last_error: Exception | None = None  # the caller tells bad credentials from outages by it
        try:
            account = self.retrieve_account()
        except StripeSyncError as exc:
            self.last_error = exc
            return False, self._redact(self._explain(exc))
        except Exception as exc:  # the settings page must get an answer, not a traceback
            return False, self._redact(f"Unexpected error talking to Stripe: {type(exc).__name__}: {exc}")
        if not isinstance(account, dict) or account.get("object") != "account":
            return False, "Stripe answered /v1/account with something that is not an account"
        profile = account.get("business_profile") or {}
        dashboard = (account.get("settings") or {}).get("dashboard") or {}
        name = profile.get("name") or dashboard.get("display_name")
        mode = "test mode" if "_test_" in self._api_key else "live mode"
        label = f"{account.get('id')}" + (f" ({name})" if name else "")
        return True, f"Connected to Stripe account {label} in {mode}"

    @staticmethod
    def _explain(exc: StripeSyncError) -> str:
        if exc.status == 401:
            return f"Stripe rejected the API key: {exc.message}"
        if exc.status == 403:
            return f"The API key is valid but not allowed to read the account (restricted key?): {exc.message}"
        if exc.status == 429:
            return f"Stripe is rate limiting this key; try again in a minute ({exc.message})"
        if exc.status is not None and exc.status >= 500:
            return f"Stripe had a server error; try again later ({exc.message})"
        if exc.status is None:
            return exc.message  # unreachable host or malformed answer: the message says which
        return f"Stripe refused the request: {exc.message}"
