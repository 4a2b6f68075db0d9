"""The Stripe sandbox: Stripe's REST API v1 (read side) over HTTP on loopback.

Serves a :mod:`~connections.stripe.sandbox.business` ledger the way api.stripe.com
answers, so the real ``stripe.StripeClient`` can sync from it::

    app = build_stripe_sandbox(seed=7, days=30, api_key="sk_test_sandbox")
    with stripe_sandbox_server(app) as server:
        client = stripe.StripeClient("sk_test_sandbox", base_addresses={"api": server.url})

Routes: ``GET /v1/{balance_transactions,payouts,charges,payment_intents,refunds,disputes}``
(lists) and ``GET /v1/<resource>/<id>`` (retrieve), ``GET /v1/balance``, ``GET /v1/account``.
Lists are newest first with ``limit`` (1-100, default 10), ``starting_after`` /
``ending_before`` and ``created[gt|gte|lt|lte]``; balance transactions also filter on
``payout``, ``type``, ``source`` and ``currency``. Errors use Stripe's body
``{"error": {"type", "code", "message", "param"}}``.

Besides the shared fault switchboard of :mod:`ecomops.sandbox_http`, control routes:
``POST /__sandbox__/advance {"days": 1}`` runs more days of business (new objects, all
created after the existing ones), ``GET /__sandbox__/state`` reports counts and clock,
``POST /__sandbox__/refund {"charge": "ch_...", "amount": 500}`` refunds a charge now (all
that is left of it without ``amount``) and ``POST /__sandbox__/fail_refund {"refund":
"re_..."}`` fails a refund now, its money coming back; both answer ``{"refund": {...}}``.

Run it on its own (e.g. for a benchmark client in another process)::

    python -m connections.stripe.sandbox.server --port 12111 --scale 1000000
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import itertools
import re
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import orjson

from connections.stripe.sandbox.business import (
    DEFAULT_START,
    RESOURCES,
    STRIPE_API_VERSION,
    Ledger,
    ManualPayoutError,
    Obj,
    RefundError,
    Seq,
    build_business,
)
from ecomops.sandbox_http import SandboxApp, SandboxRequest, SandboxResponse, SandboxServer

DEFAULT_API_KEY = "sk_test_ecomops_sandbox_0000"
MAX_LIMIT = 100
DEFAULT_LIMIT = 10

# Singular names as Stripe spells them in "No such ..." messages.
_NOUN = {
    "balance_transactions": "balance transaction",
    "charges": "charge",
    "payment_intents": "payment_intent",
    "refunds": "refund",
    "disputes": "dispute",
    "payouts": "payout",
}
_CREATED_OPS = ("gt", "gte", "lt", "lte")
_COMMON_PARAMS = frozenset(
    {"limit", "starting_after", "ending_before", "created"} | {f"created[{op}]" for op in _CREATED_OPS}
)
# Extra equality filters each list accepts (query parameter -> object field).
_FILTERS: dict[str, dict[str, str]] = {
    "balance_transactions": {"type": "type", "source": "source", "currency": "currency"},  # + payout, handled apart
    "payouts": {"status": "status"},
    "charges": {"payment_intent": "payment_intent"},
    "payment_intents": {},
    "refunds": {"charge": "charge", "payment_intent": "payment_intent"},
    "disputes": {"charge": "charge", "payment_intent": "payment_intent"},
}
_PATH = re.compile(r"^/v1/(?P<resource>[a-z_]+)(?:/(?P<id>[^/]+))?/?$")


class StripeApiError(Exception):
    """An error answer in Stripe's format; raised inside the handler, turned into a response."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type_, code, param

    def response(self, request_id: str) -> SandboxResponse:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        return _json_response({"error": error}, self.status, request_id)


def _json_response(payload: Any, status: int, request_id: str) -> SandboxResponse:
    return SandboxResponse(
        status=status,
        body=orjson.dumps(payload),
        headers={"Content-Type": "application/json", "Request-Id": request_id, "Stripe-Version": STRIPE_API_VERSION},
    )


def mask_key(key: str) -> str:
    """Stripe's way to name a key in an error: its kind and last four characters only."""
    match = re.match(r"^((?:sk|rk|pk)_(?:test|live)_)", key)
    prefix = match.group(1) if match else ""
    return f"{prefix}****{key[-4:]}" if len(key) >= len(prefix) + 8 else f"{prefix}****"


def sign_webhook(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A valid ``Stripe-Signature`` header for ``payload``: ``t=<ts>,v1=<hex HMAC-SHA256>``.

    Stripe signs ``"{t}.{payload}"`` with the endpoint's signing secret (``whsec_...``);
    ``stripe.WebhookSignature.verify_header`` accepts what this returns.
    """
    ts = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def _int_param(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise StripeApiError(400, f"Invalid integer: {raw}", code="parameter_invalid_integer", param=name) from None


def _bisect(seq: Seq, lo: int, hi: int, before: Callable[[int], bool]) -> int:
    """First position in [lo, hi) where ``before(created)`` turns False (created is sorted)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if before(seq.created(mid)):
            lo = mid + 1
        else:
            hi = mid
    return lo


def list_page(
    seq: Seq,
    *,
    limit: int,
    starting_after: str | None = None,
    ending_before: str | None = None,
    created: dict[str, int] | None = None,
    where: dict[str, str] | None = None,
    noun: str = "object",
) -> tuple[list[Obj], bool]:
    """One page of ``seq`` the way Stripe lists: newest first, cursor by object id.

    ``created`` holds the ``gt/gte/lt/lte`` bounds (a bisection, since ``seq`` is sorted
    by ``created``); ``where`` holds equality filters on fields. Returns the page and
    ``has_more`` (whether more objects lie beyond the page in paging direction).
    """
    lo, hi = 0, len(seq)
    created = created or {}
    if "gte" in created:
        lo = _bisect(seq, lo, hi, lambda c: c < created["gte"])
    if "gt" in created:
        lo = max(lo, _bisect(seq, lo, hi, lambda c: c <= created["gt"]))
    if "lte" in created:
        hi = _bisect(seq, lo, hi, lambda c: c <= created["lte"])
    if "lt" in created:
        hi = min(hi, _bisect(seq, lo, hi, lambda c: c < created["lt"]))

    def matches(pos: int) -> bool:
        return not where or all(seq.field(pos, k) == v for k, v in where.items())

    def cursor(obj_id: str, param: str) -> int:
        pos = seq.find(obj_id)
        if pos is None:
            raise StripeApiError(400, f"No such {noun}: '{obj_id}'", code="resource_missing", param=param)
        return pos

    page: list[Obj] = []
    if ending_before is not None:
        # Walk towards newer objects from just after the cursor, then present newest first.
        pos = max(lo, cursor(ending_before, "ending_before") + 1)
        while pos < hi and len(page) < limit:
            if matches(pos):
                page.append(seq.item(pos))
            pos += 1
        has_more = any(matches(p) for p in range(pos, hi))
        page.reverse()
        return page, has_more
    pos = hi - 1 if starting_after is None else min(hi, cursor(starting_after, "starting_after")) - 1
    while pos >= lo and len(page) < limit:
        if matches(pos):
            page.append(seq.item(pos))
        pos -= 1
    has_more = any(matches(p) for p in range(pos, lo - 1, -1)) if where else pos >= lo
    return page, has_more


class StripeSandbox(SandboxApp):
    """Stripe's API v1 read side over a :class:`~connections.stripe.sandbox.business.Ledger`."""

    name = "stripe"

    def __init__(self, ledger: Ledger, api_key: str = DEFAULT_API_KEY, *, timezone: str | None = None) -> None:
        super().__init__()
        if not api_key:
            raise ValueError("the sandbox needs a secret key to check requests against")
        self.ledger = ledger
        self.api_key = api_key
        # The account's dashboard time zone, if not the ledger's: the business runs in UTC,
        # the account may be kept elsewhere (its month then ends at midnight there).
        self.timezone = timezone
        # Advancing mutates the ledger; a request must not see it half-way.
        self._lock = threading.RLock()
        self._request_ids = itertools.count(1)

    # ----------------------------------------------------------------- plumbing

    def _request_id(self) -> str:
        return f"req_sandbox{next(self._request_ids):012d}"

    def status_fault_response(self, status: int) -> SandboxResponse:
        """An injected 429 or 5xx, in the body Stripe sends for it."""
        request_id = self._request_id()
        if status == 429:
            return StripeApiError(
                429,
                "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
                type_="rate_limit_error",
                code="rate_limit",
            ).response(request_id)
        return StripeApiError(
            status,
            "An unknown error occurred. Please retry the request.",
            type_="api_error",
        ).response(request_id)

    def control(self, request: SandboxRequest) -> SandboxResponse:
        action = request.path.removeprefix("/__sandbox__/").strip("/")
        if action == "advance" and request.method == "POST":
            try:
                days = int((request.json() or {}).get("days", 1))
            except (TypeError, ValueError, AttributeError) as exc:
                return SandboxResponse.json({"error": f"bad advance spec: {exc}"}, status=400)
            if not 0 <= days <= 366:
                return SandboxResponse.json({"error": "days must be between 0 and 366"}, status=400)
            with self._lock:
                added = self.ledger.advance(days)
                return SandboxResponse.json({"ok": True, "added": added, "now": self.ledger.now})
        if action in ("refund", "fail_refund") and request.method == "POST":
            return self._refund_control(action, request)
        if action == "state" and request.method == "GET":
            with self._lock:
                counts = {name: len(self.ledger.seq(name)) for name in RESOURCES}
                return SandboxResponse.json(
                    {
                        "api_version": STRIPE_API_VERSION,
                        "now": self.ledger.now,
                        "counts": counts,
                        "account": self.ledger.account()["id"],
                    }
                )
        return super().control(request)

    def _refund_control(self, action: str, request: SandboxRequest) -> SandboxResponse:
        """``refund`` a charge or ``fail_refund`` a refund, now (what Stripe's dashboard or the
        customer's bank does; the sandbox serves no write side of the API itself)."""
        try:
            spec = request.json() or {}
        except ValueError:
            spec = None
        if not isinstance(spec, dict):
            return SandboxResponse.json({"error": f"bad {action} spec: expected a JSON object"}, status=400)
        name = "charge" if action == "refund" else "refund"
        target = spec.get(name)
        if not isinstance(target, str) or not target:
            return SandboxResponse.json({"error": f"bad {action} spec: '{name}' (an id) is required"}, status=400)
        try:
            with self._lock:
                if action == "refund":
                    refund = self.ledger.refund(target, spec.get("amount"))
                else:
                    refund = self.ledger.fail_refund(target, str(spec.get("reason") or "expired_or_canceled_card"))
                return SandboxResponse.json({"ok": True, "refund": refund})
        except RefundError as exc:
            return SandboxResponse.json({"error": str(exc)}, status=400)

    def account(self) -> Obj:
        """The Account object, in the time zone the sandbox was given, if any."""
        account = self.ledger.account()
        if self.timezone is None:
            return account
        settings = account["settings"]
        dashboard = {**settings["dashboard"], "timezone": self.timezone}
        return {**account, "settings": {**settings, "dashboard": dashboard}}

    def _check_auth(self, request: SandboxRequest) -> None:
        header = request.headers.get("authorization", "")
        key = ""
        if header.startswith("Bearer "):
            key = header[len("Bearer ") :].strip()
        elif header.startswith("Basic "):  # curl -u sk_test_...: ; the key is the user name
            try:
                key = base64.b64decode(header[len("Basic ") :]).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                key = ""
        if not key:
            raise StripeApiError(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). "
                "See https://stripe.com/docs/api#authentication for details.",
            )
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            raise StripeApiError(401, f"Invalid API Key provided: {mask_key(key)}")

    # ----------------------------------------------------------------- routing

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        request_id = self._request_id()
        try:
            self._check_auth(request)
            match = _PATH.match(request.path)
            if request.method != "GET" or match is None:
                raise self._unrecognized(request)
            resource, obj_id = match.group("resource"), match.group("id")
            with self._lock:
                if resource == "balance" and obj_id is None:
                    return _json_response(self.ledger.balance(), 200, request_id)
                if resource == "account" and obj_id is None:
                    return _json_response(self.account(), 200, request_id)
                if resource not in RESOURCES:
                    raise self._unrecognized(request)
                if obj_id is not None:
                    obj = self.ledger.get(resource, obj_id)
                    if obj is None:
                        raise StripeApiError(
                            404, f"No such {_NOUN[resource]}: '{obj_id}'", code="resource_missing", param="id"
                        )
                    return _json_response(obj, 200, request_id)
                return _json_response(self._list(resource, request), 200, request_id)
        except StripeApiError as exc:
            return exc.response(request_id)

    @staticmethod
    def _unrecognized(request: SandboxRequest) -> StripeApiError:
        return StripeApiError(
            404,
            f"Unrecognized request URL ({request.method}: {request.path}). "
            "Please see https://stripe.com/docs (this sandbox serves the read side of API v1 only).",
        )

    def _list(self, resource: str, request: SandboxRequest) -> Obj:
        params: dict[str, str] = {}
        for name, value in request.query:
            if name == "expand[]" or name.startswith("expand["):
                raise StripeApiError(400, "This sandbox does not expand objects; drop expand[].", param="expand")
            allowed = name in _COMMON_PARAMS or name in _FILTERS[resource]
            if not allowed and not (resource == "balance_transactions" and name == "payout"):
                raise StripeApiError(400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name)
            params[name] = value
        limit = _int_param(params, "limit")
        if limit is None:
            limit = DEFAULT_LIMIT
        elif limit < 1:
            raise StripeApiError(
                400, "This value must be greater than or equal to 1.", code="parameter_invalid_integer", param="limit"
            )
        elif limit > MAX_LIMIT:
            raise StripeApiError(
                400,
                f"This value must be less than or equal to {MAX_LIMIT} (it currently is '{limit}').",
                code="parameter_invalid_integer",
                param="limit",
            )
        if "starting_after" in params and "ending_before" in params:
            raise StripeApiError(400, "You may only specify one of these parameters: ending_before, starting_after.")
        created: dict[str, int] = {}
        exact = _int_param(params, "created")
        if exact is not None:
            created = {"gte": exact, "lte": exact}
        for op in _CREATED_OPS:
            bound = _int_param(params, f"created[{op}]")
            if bound is not None:
                created[op] = bound
        where = {field: params[p] for p, field in _FILTERS[resource].items() if p in params}
        if "currency" in where:
            where["currency"] = where["currency"].lower()
        seq = self.ledger.seq(resource)
        url = f"/v1/{resource}"
        if resource == "balance_transactions" and "payout" in params:
            try:
                payout_seq = self.ledger.payout_lines(params["payout"])
            except ManualPayoutError:
                # What Stripe answers: manual payouts carry no itemization.
                raise StripeApiError(
                    400,
                    "Balance transaction history can only be filtered on automatic transfers, not manual.",
                    param="payout",
                ) from None
            if payout_seq is None:
                raise StripeApiError(
                    404, f"No such payout: '{params['payout']}'", code="resource_missing", param="payout"
                )
            seq = payout_seq
        data, has_more = list_page(
            seq,
            limit=limit,
            starting_after=params.get("starting_after"),
            ending_before=params.get("ending_before"),
            created=created,
            where=where,
            noun=_NOUN[resource],
        )
        return {"object": "list", "data": data, "has_more": has_more, "url": url}


def build_stripe_sandbox(
    seed: int = 1,
    days: int = 30,
    scale_objects: int | None = None,
    api_key: str = DEFAULT_API_KEY,
    *,
    start: date = DEFAULT_START,
    orders_per_day: int = 20,
    timezone: str | None = None,
    settle: bool = False,
) -> StripeSandbox:
    """A Stripe sandbox app over a seeded business (or a lazy ledger of ``scale_objects`` lines),
    its account kept in ``timezone`` (an IANA name; the ledger's ``Etc/UTC`` if None). With
    ``settle`` the business winds down after its ``days``, until everything is paid out.

    Serve it with ``stripe_sandbox_server(app).start()`` (``.url`` is the base address for
    ``StripeClient(base_addresses={"api": url})``); requests must carry ``api_key``.
    """
    ledger = build_business(
        seed=seed, days=days, start=start, orders_per_day=orders_per_day, scale_objects=scale_objects, settle=settle
    )
    return StripeSandbox(ledger, api_key=api_key, timezone=timezone)


# The shared server already turns Nagle off and polls quickly; the name stays for callers.
StripeSandboxServer = SandboxServer


def stripe_sandbox_server(
    app: StripeSandbox | None = None, *, port: int = 0, **build_kwargs: Any
) -> StripeSandboxServer:
    """A server for ``app`` (or ``build_stripe_sandbox(**build_kwargs)``) on 127.0.0.1, not started.

    Use ``with stripe_sandbox_server(app) as server:`` or ``.start()`` / ``.stop()``.
    ``port=0`` picks a free port; ``server.url`` is the client's base address. Prefer it
    to building the app yourself: it takes the same keyword arguments as build_stripe_sandbox.
    """
    return StripeSandboxServer(app or build_stripe_sandbox(**build_kwargs), port=port)


def main(argv: list[str] | None = None) -> None:
    """Serve a Stripe sandbox on loopback until interrupted."""
    parser = argparse.ArgumentParser(description="Serve the EcomOps Stripe sandbox on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--orders-per-day", type=int, default=20)
    parser.add_argument("--scale", type=int, default=None, help="serve a lazy ledger of this many balance transactions")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    args = parser.parse_args(argv)
    app = build_stripe_sandbox(args.seed, args.days, args.scale, args.api_key, orders_per_day=args.orders_per_day)
    server = stripe_sandbox_server(app, port=args.port).start()
    print(f"Stripe sandbox on {server.url} (key {mask_key(args.api_key)}); Ctrl-C to stop", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
