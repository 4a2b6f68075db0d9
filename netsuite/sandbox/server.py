"""A NetSuite imitation on the wire, for development and tests (DESIGN §6).

Serves, on a loopback port through :mod:`ecomops.sandbox_http`:

* ``POST /services/rest/auth/oauth2/v1/token`` - OAuth 2.0 client credentials with a JWT
  assertion (verified against the registered certificate's public key, ``kid``, ``iss``,
  ``aud``, ``exp`` at most an hour after ``iat``); issues bearer tokens with a configurable
  lifetime and accepts only its own unexpired ones.
* OAuth 1.0a TBA (HMAC-SHA256): recomputes the signature from the request, refuses reused
  nonces and stale timestamps, with NetSuite's 401 ``INVALID_LOGIN`` body.
* ``/services/rest/record/v1/journalentry``: create (204 + ``Location``), upsert by
  ``eid:`` (same external id, same internal id; the lines sent are appended to the
  entry's lines unless ``?replace=line`` asks to replace them, as NetSuite does), GET with
  ``expandSubResources``; unbalanced entries and unknown accounts/subsidiaries/currencies
  are refused with NetSuite's 400 bodies. ``account``, ``subsidiary``, ``currency`` GETs.
* ``POST /services/rest/query/v1/suiteql``: SuiteQL over the store with ``limit``/``offset``,
  ``hasMore``/``totalResults``/``count``/``items``/``links``, lower-case columns, string values.

Plus the shared fault board (429 answered as ``CONCURRENCY_LIMIT_EXCEEDED``), per-account
in-flight concurrency tracking (current and maximum), an optional NetSuite-style
concurrency limit, and per-operation call counters (also on ``GET /__sandbox__/stats``).
"""

from __future__ import annotations

import hmac
import math
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlencode
from urllib.request import parse_http_list, parse_keqv_list

from authlib.oauth1.rfc5849.signature import construct_base_string
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import extract_compact
from sqlglot import exp

from ecomops.sandbox_http import CONTROL_PREFIX, SandboxApp, SandboxRequest, SandboxResponse
from netsuite import jsonio
from netsuite.auth import (
    CLIENT_ASSERTION_TYPE,
    MAX_ASSERTION_LIFETIME,
    SIGNATURE_HMAC_SHA256,
    TOKEN_PATH,
    ClientCredentialsAuth,
    TbaCredentials,
    TokenBasedAuth,
    hmac_sha256_signature,
)
from netsuite.sandbox.store import SEED_ACCOUNTS, SEED_CURRENCY_IDS, SUITEQL_TABLES, SandboxStore, StoredLine
from netsuite.suiteql import MAX_PAGE_SIZE, ROW_CEILING, SUITEQL_PATH, SuiteQLValidationError, parse_single_select

RECORD_PREFIX = "/services/rest/record/v1/"
_RECORD_ROUTE = re.compile(r"^/services/rest/record/v1/([A-Za-z][A-Za-z0-9_]*)(?:/([^/]+))?/?$")
ERROR_CONTENT_TYPE = "application/vnd.oracle.resource+json; type=error"
SINGULAR_CONTENT_TYPE = "application/vnd.oracle.resource+json; type=singular"
COLLECTION_CONTENT_TYPE = "application/vnd.oracle.resource+json; type=collection"
INVALID_LOGIN_DETAIL = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at Setup > "
    "Users/Roles > User Management > View Login Audit Trail."
)
_TYPE_URLS = {
    400: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.1",
    401: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html",  # as in Oracle's own example
    404: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.5",
    405: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.6",
    429: "https://www.rfc-editor.org/rfc/rfc6585.html#section-4",
    500: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.5.1",
    502: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.5.3",
    503: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.5.4",
}
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_FAULT_ERRORS = {
    429: ("CONCURRENCY_LIMIT_EXCEEDED", "Concurrent request limit exceeded. Request blocked."),
    500: ("UNEXPECTED_ERROR", "An unexpected error occurred. Error ID: sandbox-injected-fault"),
    502: ("UNEXPECTED_ERROR", "Bad gateway."),
    503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable. Try again later."),
}
# Oracle's documented algorithms for the client-credentials assertion (section_162790605110).
DEFAULT_JWT_ALGORITHMS = ("PS256", "PS384", "PS512", "ES256", "ES384", "ES512")


def ns_error(status: int, code: str, detail: str, path: str | None = None) -> SandboxResponse:
    """A response carrying NetSuite's REST error body."""
    item: dict[str, Any] = {"detail": detail, "o:errorCode": code}
    if path:
        item["o:errorPath"] = path
    body = {
        "type": _TYPE_URLS.get(status, _TYPE_URLS[400]),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "o:errorDetails": [item],
    }
    return SandboxResponse.json(body, status=status, headers={"Content-Type": ERROR_CONTENT_TYPE})


class SandboxHttpError(Exception):
    """Raised inside a route to answer with NetSuite's error body."""

    def __init__(self, status: int, code: str, detail: str, path: str | None = None, reason: str = "") -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.path, self.reason = status, code, detail, path, reason

    def response(self) -> SandboxResponse:
        """The HTTP answer for this error."""
        return ns_error(self.status, self.code, self.detail, self.path)


class _OAuthError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error, self.description = error, description


@dataclass
class TbaIntegration:
    """One registered TBA integration + token."""

    account_id: str
    consumer_key: str
    consumer_secret: str = field(repr=False)
    token_id: str
    token_secret: str = field(repr=False)


@dataclass
class OAuth2Client:
    """One registered client-credentials mapping: client id, certificate id, public key."""

    account_id: str
    client_id: str
    certificate_id: str
    public_key: RSAKey | ECKey


@dataclass
class IssuedToken:
    """A bearer token this sandbox issued."""

    account_id: str
    expires_at: float


class NetSuiteSandbox(SandboxApp):
    """NetSuite's REST web services, imitated closely enough to test the client against."""

    name = "netsuite"

    def __init__(
        self,
        store: SandboxStore | None = None,
        *,
        token_lifetime: float = 3600.0,
        tba_timestamp_window: float = 300.0,
        suiteql_row_ceiling: int = ROW_CEILING,
        service_time: float = 0.0,
        concurrency_limit: int | None = None,
        jwt_algorithms: tuple[str, ...] = DEFAULT_JWT_ALGORITHMS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.store = store or SandboxStore()
        self.token_lifetime = token_lifetime
        self.tba_timestamp_window = tba_timestamp_window
        self.suiteql_row_ceiling = suiteql_row_ceiling
        self.service_time = service_time  # seconds each API call "works" while counted in flight
        self.concurrency_limit = concurrency_limit
        self.jwt_algorithms = jwt_algorithms
        self.clock = clock
        self._lock = threading.Lock()  # counters, tokens, nonces
        self._write_lock = threading.Lock()  # external-id check + write happen as one step
        self._tba: dict[tuple[str, str], TbaIntegration] = {}
        self._oauth2: dict[str, OAuth2Client] = {}  # by certificate id (the JWT kid)
        self._tokens: dict[str, IssuedToken] = {}
        self._nonces: dict[tuple[str, str, str], float] = {}
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.tokens_issued = 0
        self.concurrency_rejections = 0
        self.auth_failures: list[str] = []
        # Time spent answering API calls (injected latency excluded): lets a benchmark tell
        # the client's own cost from the server's.
        self.service_seconds = 0.0

    # ------------------------------------------------------------------- registration

    def register_tba(self, integration: TbaIntegration) -> None:
        """Accept TBA requests signed with these credentials."""
        self._tba[(integration.consumer_key, integration.token_id)] = integration

    def register_oauth2_client(self, client: OAuth2Client) -> None:
        """Accept client-credentials assertions signed for this certificate id."""
        self._oauth2[client.certificate_id] = client

    def revoke_tokens(self) -> None:
        """Forget every issued bearer token (NetSuite revoking them early)."""
        with self._lock:
            self._tokens.clear()

    # -------------------------------------------------------------------------- stats

    def stats(self) -> dict[str, Any]:
        """Counters: calls per operation, in-flight now and at most, per account."""
        with self._lock:
            return {
                "calls": dict(self.calls),
                "in_flight": dict(self.in_flight),
                "max_in_flight": dict(self.max_in_flight),
                "tokens_issued": self.tokens_issued,
                "concurrency_rejections": self.concurrency_rejections,
                "auth_failures": list(self.auth_failures),
                "journal_entries": self.store.count_journals(),
                "service_ms": round(self.service_seconds * 1000, 3),
            }

    def reset_stats(self) -> None:
        """Zero the counters (not the records)."""
        with self._lock:
            self.max_in_flight.clear()
            self.calls.clear()
            self.tokens_issued = 0
            self.concurrency_rejections = 0
            self.auth_failures.clear()
            self.service_seconds = 0.0

    def control(self, request: SandboxRequest) -> SandboxResponse:
        """The shared control routes, with NetSuite counters added to ``stats``."""
        action = request.path[len(CONTROL_PREFIX) :].strip("/")
        if action == "stats" and request.method == "GET":
            base = super().control(request)
            payload = jsonio.loads(base.body)
            payload["netsuite"] = self.stats()
            return SandboxResponse.json(payload)
        if action == "stats" and request.method == "DELETE":
            self.reset_stats()
            return SandboxResponse.json({"ok": True})
        return super().control(request)

    def status_fault_response(self, status: int) -> SandboxResponse:
        """Injected errors carry NetSuite's body (429 -> CONCURRENCY_LIMIT_EXCEEDED)."""
        code, detail = _FAULT_ERRORS.get(status, ("UNEXPECTED_ERROR", f"Injected fault {status}"))
        return ns_error(status, code, detail)

    @contextmanager
    def _track(self, account_id: str) -> Iterator[None]:
        with self._lock:
            if self.concurrency_limit is not None and self.in_flight[account_id] >= self.concurrency_limit:
                self.concurrency_rejections += 1
                raise SandboxHttpError(429, *_FAULT_ERRORS[429])
            self.in_flight[account_id] += 1
            if self.in_flight[account_id] > self.max_in_flight[account_id]:
                self.max_in_flight[account_id] = self.in_flight[account_id]
        try:
            yield
        finally:
            with self._lock:
                self.in_flight[account_id] -= 1

    def _count(self, operation: str) -> None:
        with self._lock:
            self.calls[operation] += 1

    # ------------------------------------------------------------------------ routing

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Route one API request."""
        started = time.perf_counter()
        try:
            return self._handle(request)
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                self.service_seconds += elapsed

    def _handle(self, request: SandboxRequest) -> SandboxResponse:
        try:
            if request.path == TOKEN_PATH:
                return self._token_endpoint(request)
            account_id = self._authenticate(request)
            with self._track(account_id):
                if self.service_time:
                    time.sleep(self.service_time)
                return self._route(request, account_id)
        except SandboxHttpError as error:
            if error.status == 401:
                with self._lock:
                    self.auth_failures.append(error.reason or error.detail)
            return error.response()

    def _route(self, request: SandboxRequest, account_id: str) -> SandboxResponse:
        if request.path == SUITEQL_PATH:
            if request.method != "POST":
                raise SandboxHttpError(405, "INVALID_METHOD", "SuiteQL queries are sent with POST.")
            return self._suiteql(request)
        match = _RECORD_ROUTE.match(request.path)
        if not match:
            raise SandboxHttpError(404, "NONEXISTENT_ID", f"The requested resource {request.path} does not exist.")
        record_type, key = match.group(1).lower(), match.group(2)
        if record_type == "journalentry":
            if request.method == "POST" and key is None:
                return self._create_journal(request)
            if request.method == "PUT" and key is not None and key.lower().startswith("eid:"):
                return self._upsert_journal(request, unquote(key[4:]))
            if request.method == "GET" and key is not None:
                return self._get_journal(request, key)
        elif record_type in ("account", "subsidiary", "currency"):
            if request.method == "GET" and key is not None:
                return self._get_reference(request, record_type, key)
        else:
            self._count(f"{record_type}.unknown")
            raise SandboxHttpError(
                400, "INVALID_PARAMETER", f"Record type '{record_type}' does not exist or is not supported."
            )
        raise SandboxHttpError(405, "INVALID_METHOD", f"{request.method} is not supported for {request.path}.")

    # ----------------------------------------------------------------- authentication

    def _authenticate(self, request: SandboxRequest) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, rest = header.partition(" ")
        if scheme.lower() == "oauth":
            return self._verify_tba(request, rest)
        if scheme.lower() == "bearer":
            return self._verify_bearer(rest.strip())
        raise _invalid_login("no OAuth or Bearer authorization header")

    def _verify_tba(self, request: SandboxRequest, header_params: str) -> str:
        try:
            raw = parse_keqv_list(parse_http_list(header_params))
        except ValueError as exc:
            raise _invalid_login(f"malformed OAuth header: {exc}") from exc
        params = {key: unquote(value) for key, value in raw.items()}
        required = (
            "oauth_consumer_key",
            "oauth_token",
            "oauth_signature_method",
            "oauth_timestamp",
            "oauth_nonce",
            "oauth_signature",
        )
        missing = [name for name in required if not params.get(name)]
        if missing:
            raise _invalid_login(f"missing {', '.join(missing)}")
        integration = self._tba.get((params["oauth_consumer_key"], params["oauth_token"]))
        if integration is None:
            raise _invalid_login("unknown consumer key or token")
        if params.get("realm", "").upper() != integration.account_id.upper():
            raise _invalid_login("realm is not the account id")
        if params["oauth_signature_method"] != SIGNATURE_HMAC_SHA256:
            raise _invalid_login(f"signature method {params['oauth_signature_method']} refused")
        if params.get("oauth_version", "1.0") != "1.0":
            raise _invalid_login("oauth_version must be 1.0")
        try:
            timestamp = int(params["oauth_timestamp"])
        except ValueError as exc:
            raise _invalid_login("timestamp is not a number") from exc
        now = self.clock()
        if abs(now - timestamp) > self.tba_timestamp_window:
            raise _invalid_login("timestamp outside the accepted window")

        url = f"http://{request.headers.get('host', '')}{request.path}"
        signed = [*request.query]
        if "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
            signed.extend(parse_qsl(request.body.decode(), keep_blank_values=True))
        signed.extend((k, v) for k, v in params.items() if k.startswith("oauth_"))
        base_string = construct_base_string(request.method, url, signed)  # drops oauth_signature and realm
        expected = hmac_sha256_signature(base_string, integration.consumer_secret, integration.token_secret)
        if not hmac.compare_digest(expected, params["oauth_signature"]):
            raise _invalid_login("signature mismatch")

        # Nonces are checked after the signature, so a forger cannot burn a client's nonce.
        key = (integration.consumer_key, integration.token_id, params["oauth_nonce"])
        with self._lock:
            horizon = now - 2 * self.tba_timestamp_window
            for stale in [k for k, seen in self._nonces.items() if seen < horizon]:
                del self._nonces[stale]
            if key in self._nonces:
                raise _invalid_login("nonce reused")
            self._nonces[key] = now
        return integration.account_id

    def _verify_bearer(self, token: str) -> str:
        with self._lock:
            issued = self._tokens.get(token)
        if issued is None:
            raise _invalid_login("unknown bearer token")
        if self.clock() >= issued.expires_at:
            raise _invalid_login("bearer token expired")
        return issued.account_id

    def _token_endpoint(self, request: SandboxRequest) -> SandboxResponse:
        self._count("oauth2.token")
        if request.method != "POST":
            return SandboxResponse.json({"error": "invalid_request"}, status=405)
        form = dict(request.form()) if request.body else {}
        try:
            if form.get("grant_type") != "client_credentials":
                raise _OAuthError("unsupported_grant_type", "grant_type must be client_credentials")
            if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
                raise _OAuthError("invalid_request", "client_assertion_type must be the JWT bearer type")
            assertion = form.get("client_assertion") or ""
            client = self._verify_assertion(request, assertion)
        except _OAuthError as error:
            with self._lock:
                self.auth_failures.append(f"token: {error.description}")
            return SandboxResponse.json({"error": error.error, "error_description": error.description}, status=400)
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = IssuedToken(client.account_id, self.clock() + self.token_lifetime)
            self.tokens_issued += 1
        # NetSuite sends expires_in as a string.
        payload = {"access_token": token, "expires_in": str(math.ceil(self.token_lifetime)), "token_type": "Bearer"}
        return SandboxResponse.json(payload)

    def _verify_assertion(self, request: SandboxRequest, assertion: str) -> OAuth2Client:
        try:
            header = extract_compact(assertion.encode()).headers()
        except (JoseError, ValueError) as exc:
            raise _OAuthError("invalid_request", f"client_assertion is not a JWT: {exc}") from exc
        client = self._oauth2.get(str(header.get("kid", "")))
        if client is None:
            raise _OAuthError("invalid_client", "unknown certificate id (kid)")
        if header.get("alg") not in self.jwt_algorithms:
            raise _OAuthError("invalid_request", f"algorithm {header.get('alg')} is not accepted")
        try:
            token = jwt.decode(assertion, client.public_key, algorithms=list(self.jwt_algorithms))
        except (JoseError, ValueError) as exc:
            raise _OAuthError("invalid_grant", f"assertion signature does not verify: {exc}") from exc
        claims = token.claims
        now = self.clock()
        token_url = f"http://{request.headers.get('host', '')}{TOKEN_PATH}"
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if claims.get("iss") != client.client_id:
            raise _OAuthError("invalid_grant", "iss is not the client id of this certificate")
        if token_url not in audiences:
            raise _OAuthError("invalid_grant", f"aud must be {token_url}")
        try:
            issued_at, expires = float(claims["iat"]), float(claims["exp"])
        except (KeyError, TypeError, ValueError) as exc:
            raise _OAuthError("invalid_grant", "iat and exp are required") from exc
        if expires <= now:
            raise _OAuthError("invalid_grant", "assertion expired")
        if issued_at > now + 60:
            raise _OAuthError("invalid_grant", "assertion issued in the future")
        if expires - issued_at > MAX_ASSERTION_LIFETIME:
            raise _OAuthError("invalid_grant", "exp must be at most 60 minutes after iat")
        scope = claims.get("scope")
        scopes = set(scope) if isinstance(scope, list) else set(re.split(r"[\s,]+", str(scope or "").strip()))
        if "rest_webservices" not in scopes:
            raise _OAuthError("invalid_scope", "scope must include rest_webservices")
        return client

    # ------------------------------------------------------------------ journal entries

    def _base(self, request: SandboxRequest) -> str:
        return f"http://{request.headers.get('host', '127.0.0.1')}"

    def _parse_body(self, request: SandboxRequest) -> dict[str, Any]:
        try:
            body = jsonio.loads(request.body or b"null")
        except ValueError as exc:
            raise SandboxHttpError(400, "INVALID_CONTENT", f"Invalid JSON in the request body: {exc}") from exc
        if not isinstance(body, dict):
            raise SandboxHttpError(400, "INVALID_CONTENT", "The request body must be a JSON object.")
        # NetSuite field names are case-insensitive on input (tranDate and trandate both work).
        return {str(k).lower(): v for k, v in body.items()}

    def _validated_journal(self, body: dict[str, Any]) -> dict[str, Any]:
        subsidiary_ref = _ref_id(body.get("subsidiary"))
        if subsidiary_ref is None:
            raise SandboxHttpError(400, "USER_ERROR", "Please enter value(s) for: Subsidiary", "subsidiary")
        subsidiary = self.store.row("subsidiary", subsidiary_ref)
        if subsidiary is None:
            raise SandboxHttpError(
                400, "INVALID_KEY_OR_REF", f"Invalid subsidiary reference key {subsidiary_ref}.", "subsidiary"
            )
        currency_ref = _ref_id(body.get("currency"))
        currency = self.store.row("currency", currency_ref) if currency_ref is not None else None
        if currency_ref is not None and currency is None:
            raise SandboxHttpError(
                400, "INVALID_KEY_OR_REF", f"Invalid currency reference key {currency_ref}.", "currency"
            )
        currency_id = int(currency["id"]) if currency else int(subsidiary["currency"])
        trandate = str(body.get("trandate") or date.today().isoformat())
        try:
            date.fromisoformat(trandate)
        except ValueError as exc:
            raise SandboxHttpError(
                400, "INVALID_CONTENT", f"Invalid date value {trandate}; use YYYY-MM-DD.", "tranDate"
            ) from exc
        line = body.get("line")
        items = line.get("items") if isinstance(line, dict) else None
        if not isinstance(items, list) or not items:
            raise SandboxHttpError(400, "USER_ERROR", "You must enter at least one line item for this transaction.")
        lines: list[StoredLine] = []
        debits = credits = Decimal(0)
        for index, raw in enumerate(items):
            where = f"line.items[{index}]"
            item = {str(k).lower(): v for k, v in raw.items()} if isinstance(raw, dict) else {}
            account_ref = _ref_id(item.get("account"))
            if account_ref is None:
                raise SandboxHttpError(400, "USER_ERROR", "Please enter value(s) for: Account", f"{where}.account")
            account = self.store.row("account", account_ref)
            if account is None or account.get("isinactive") == "T":  # an inactive record cannot be referenced
                raise SandboxHttpError(
                    400, "INVALID_KEY_OR_REF", f"Invalid account reference key {account_ref}.", f"{where}.account"
                )
            debit, credit = _amount(item.get("debit"), f"{where}.debit"), _amount(item.get("credit"), f"{where}.credit")
            if (debit is None) == (credit is None):
                raise SandboxHttpError(
                    400, "USER_ERROR", "Each line needs either a debit or a credit amount, not both.", where
                )
            debits += debit or 0
            credits += credit or 0
            lines.append(StoredLine(int(account_ref), debit, credit, _opt_str(item.get("memo"))))
        if debits != credits:
            raise SandboxHttpError(
                400,
                "USER_ERROR",
                f"The total of debit entries ({debits}) must equal the total of credit entries ({credits}).",
                "line",
            )
        return {
            "trandate": trandate,
            "memo": _opt_str(body.get("memo")),
            "currency": currency_id,
            "subsidiary": int(subsidiary["id"]),
            "lines": lines,
        }

    def _create_journal(self, request: SandboxRequest) -> SandboxResponse:
        self._count("journalentry.create")
        body = self._parse_body(request)
        fields = self._validated_journal(body)
        external_id = _opt_str(body.get("externalid"))
        with self._write_lock:
            if external_id and self.store.journal_id_for_external_id(external_id) is not None:
                raise SandboxHttpError(
                    400, "USER_ERROR", f"A record with the external ID {external_id} already exists.", "externalId"
                )
            journal_id = self.store.save_journal(externalid=external_id, **fields)
        return self._written(request, journal_id)

    def _upsert_journal(self, request: SandboxRequest, external_id: str) -> SandboxResponse:
        self._count("journalentry.upsert")
        body = self._parse_body(request)
        in_body = _opt_str(body.get("externalid"))
        if in_body is not None and in_body.lower() != external_id.lower():
            raise SandboxHttpError(
                400, "USER_ERROR", "The externalId in the body does not match the one in the URL.", "externalId"
            )
        fields = self._validated_journal(body)
        # NetSuite's "Updating a Sublist": lines of a sublist without keys (a journal's
        # ``line``) are appended to those present unless ``replace=<sublist>`` names it.
        replace = {name.strip().lower() for name in request.query_dict.get("replace", "").split(",")}
        # Check and write under one lock: two concurrent upserts must not both insert.
        with self._write_lock:
            existing = self.store.journal_id_for_external_id(external_id)
            journal_id = self.store.save_journal(
                externalid=external_id, replace_id=existing, replace_lines="line" in replace, **fields
            )
        return self._written(request, journal_id)

    def _written(self, request: SandboxRequest, journal_id: int) -> SandboxResponse:
        location = f"{self._base(request)}{RECORD_PREFIX}journalentry/{journal_id}"
        return SandboxResponse(status=204, body=b"", headers={"Location": location})

    def _get_journal(self, request: SandboxRequest, key: str) -> SandboxResponse:
        self._count("journalentry.get")
        key = unquote(key)
        journal_id = self.store.journal_id_for_external_id(key[4:]) if key.lower().startswith("eid:") else key
        journal = self.store.journal(journal_id) if journal_id is not None else None
        if journal is None:
            raise SandboxHttpError(
                404, "NONEXISTENT_ID", "The record instance does not exist. Provide a valid record instance ID."
            )
        base = self._base(request)
        expand = request.query_dict.get("expandSubResources", "").lower() == "true"
        self_href = f"{base}{RECORD_PREFIX}journalentry/{journal.id}"
        currency = self.store.row("currency", journal.currency) or {}
        subsidiary = self.store.row("subsidiary", journal.subsidiary) or {}
        line: dict[str, Any] = {"links": [{"rel": "self", "href": f"{self_href}/line"}]}
        if expand:
            items = []
            for index, stored in enumerate(journal.lines):
                account = self.store.row("account", stored.account_id) or {}
                item: dict[str, Any] = {
                    "links": [],
                    "account": _ref(base, "account", stored.account_id, account.get("accountsearchdisplayname")),
                }
                if stored.credit is not None:
                    item["credit"] = float(stored.credit)
                if stored.debit is not None:
                    item["debit"] = float(stored.debit)
                item["entitytype"] = "Entity"
                item["line"] = index
                if stored.memo is not None:
                    item["memo"] = stored.memo
                items.append(item)
            line.update({"items": items, "totalResults": len(items)})
        record: dict[str, Any] = {
            "links": [{"rel": "self", "href": self_href}],
            "approved": True,
            "createdDate": journal.created_at,
            "currency": _ref(base, "currency", journal.currency, currency.get("name")),
            "exchangerate": 1.0,
            "externalId": journal.externalid,
            "id": str(journal.id),
            "isbasecurrency": journal.currency == subsidiary.get("currency"),
            "lastModifiedDate": journal.modified_at,
            "line": line,
            "memo": journal.memo,
            "subsidiary": _ref(base, "subsidiary", journal.subsidiary, subsidiary.get("name")),
            "trandate": journal.trandate,
            "tranId": journal.tranid,
        }
        record = {k: v for k, v in record.items() if v is not None}
        return SandboxResponse.json(record, headers={"Content-Type": SINGULAR_CONTENT_TYPE})

    def _get_reference(self, request: SandboxRequest, record_type: str, key: str) -> SandboxResponse:
        self._count(f"{record_type}.get")
        row = self.store.row(record_type, key)
        if row is None:
            raise SandboxHttpError(
                404, "NONEXISTENT_ID", "The record instance does not exist. Provide a valid record instance ID."
            )
        base = self._base(request)
        record: dict[str, Any] = {"links": [{"rel": "self", "href": f"{base}{RECORD_PREFIX}{record_type}/{row['id']}"}]}
        for name, value in row.items():
            if value is None:
                continue
            if name in ("currency", "subsidiary", "parent"):
                target = self.store.row("currency" if name == "currency" else "subsidiary", value) or {}
                record[name] = _ref(base, "currency" if name == "currency" else "subsidiary", value, target.get("name"))
            elif isinstance(value, str) and value in ("T", "F"):
                record[name] = value == "T"
            else:
                record[name] = str(value) if name == "id" else value
        return SandboxResponse.json(record, headers={"Content-Type": SINGULAR_CONTENT_TYPE})

    # ------------------------------------------------------------------------- SuiteQL

    def _suiteql(self, request: SandboxRequest) -> SandboxResponse:
        self._count("suiteql")
        if "transient" not in request.headers.get("prefer", "").lower():
            raise SandboxHttpError(
                400, "INVALID_HEADER", 'SuiteQL requests must carry the header "Prefer: transient".', None
            )
        query = request.query_dict
        try:
            limit = int(query.get("limit", MAX_PAGE_SIZE))
            offset = int(query.get("offset", 0))
        except ValueError as exc:
            raise SandboxHttpError(400, "INVALID_PARAMETER", "limit and offset must be integers.") from exc
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise SandboxHttpError(400, "INVALID_PARAMETER", f"The limit must be between 1 and {MAX_PAGE_SIZE}.", None)
        if offset < 0:
            raise SandboxHttpError(400, "INVALID_PARAMETER", "The offset must not be negative.")
        if offset >= self.suiteql_row_ceiling:
            raise SandboxHttpError(
                400,
                "INVALID_PARAMETER",
                f"The offset must be less than {self.suiteql_row_ceiling}; narrow the query instead of paging further.",
            )
        body = self._parse_body(request)
        sql = body.get("q")
        if not isinstance(sql, str):
            raise SandboxHttpError(400, "INVALID_CONTENT", 'The body must be {"q": "<SuiteQL query>"}.')
        translated = _translate_suiteql(sql)
        try:
            (total,) = self.store.query(f"SELECT COUNT(*) FROM ({translated})")[1][0]
            names, rows = self.store.query(f"SELECT * FROM ({translated}) LIMIT ? OFFSET ?", (limit, offset))
        except Exception as exc:  # sqlite3 errors: answer like NetSuite's search error
            raise SandboxHttpError(
                400,
                "INVALID_PARAMETER",
                f"Invalid search query. Detailed unprocessed description follows. Search error occurred: {exc}",
            ) from exc
        keys = [name.lower() for name in names]
        items = []
        for row in rows:
            item: dict[str, Any] = {"links": []}
            for key, value in zip(keys, row, strict=True):
                if value is not None:  # NetSuite leaves null columns out
                    item[key] = _suiteql_value(value)
            items.append(item)
        has_more = offset + len(items) < total
        url = f"{self._base(request)}{SUITEQL_PATH}"
        links = [{"rel": "self", "href": f"{url}?{urlencode({'limit': limit, 'offset': offset})}"}]
        if has_more:
            links.insert(0, {"rel": "next", "href": f"{url}?{urlencode({'limit': limit, 'offset': offset + limit})}"})
        payload = {
            "links": links,
            "count": len(items),
            "hasMore": has_more,
            "items": items,
            "offset": offset,
            "totalResults": total,
        }
        return SandboxResponse.json(payload, headers={"Content-Type": COLLECTION_CONTENT_TYPE})


def _translate_suiteql(sql: str) -> str:
    """SuiteQL (Oracle-flavoured) -> SQLite, restricted to the sandbox's record tables."""
    try:
        statement = parse_single_select(sql)
    except SuiteQLValidationError as exc:
        raise SandboxHttpError(400, "INVALID_PARAMETER", f"Invalid search query: {exc}") from exc
    ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    for table in statement.find_all(exp.Table):
        name = table.name.lower()
        if name in ctes:
            continue
        if name not in SUITEQL_TABLES or table.args.get("db"):
            raise SandboxHttpError(
                400,
                "INVALID_PARAMETER",
                "Invalid search query. Detailed unprocessed description follows. "
                f"Search error occurred: Record '{table.name}' was not found.",
            )
        table.set("this", exp.to_identifier(name))
    # TO_CHAR(date, 'YYYY-MM-DD'), as NetSuite formats a date whatever the user's preference.
    for to_char in list(statement.find_all(exp.ToChar)):
        to_char.replace(_strftime(to_char))
    # "transaction" (a table and a column) is an SQLite keyword: quote every identifier.
    # SQLite matches quoted identifiers case-insensitively, so nothing else changes.
    for identifier in statement.find_all(exp.Identifier):
        identifier.set("quoted", True)
    return statement.sql(dialect="sqlite")


_DATE_FORMAT_PARTS = (("YYYY", "%Y"), ("MM", "%m"), ("DD", "%d"), ("HH24", "%H"), ("MI", "%M"), ("SS", "%S"))


def _strftime(to_char: exp.ToChar) -> exp.Expression:
    """Oracle's ``TO_CHAR(date, format)`` as SQLite's ``strftime``, for the date parts NetSuite
    integrations use; any other format is refused as NetSuite would refuse a bad one."""
    pattern = to_char.args.get("format")
    if not isinstance(pattern, exp.Literal) or not pattern.is_string:
        raise SandboxHttpError(400, "INVALID_PARAMETER", "Invalid search query: TO_CHAR needs a format literal.")
    text = pattern.this
    for oracle, sqlite in _DATE_FORMAT_PARTS:
        text = text.replace(oracle, sqlite)
    if any(ch.isalpha() and (i == 0 or text[i - 1] != "%") for i, ch in enumerate(text)):
        message = f"Invalid search query: unsupported date format {pattern.this!r}."
        raise SandboxHttpError(400, "INVALID_PARAMETER", message)
    return exp.Anonymous(this="strftime", expressions=[exp.Literal.string(text), to_char.this])


def _suiteql_value(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _ref(base: str, record_type: str, record_id: Any, name: Any) -> dict[str, Any]:
    ref: dict[str, Any] = {
        "links": [{"rel": "self", "href": f"{base}{RECORD_PREFIX}{record_type}/{record_id}"}],
        "id": str(record_id),
    }
    if name is not None:
        ref["refName"] = str(name)
    return ref


def _ref_id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = {str(k).lower(): v for k, v in value.items()}.get("id")
    if value is None or value == "":
        return None
    return str(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _amount(value: Any, path: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise SandboxHttpError(400, "INVALID_CONTENT", f"Invalid amount {value!r}.", path)
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise SandboxHttpError(400, "INVALID_CONTENT", f"Invalid amount {value!r}.", path) from exc
    if not amount.is_finite() or amount < 0:
        raise SandboxHttpError(400, "USER_ERROR", f"Amounts must be positive numbers, got {value}.", path)
    return amount if amount != 0 else None


def _invalid_login(reason: str) -> SandboxHttpError:
    return SandboxHttpError(401, "INVALID_LOGIN", INVALID_LOGIN_DETAIL, reason=reason)


# ------------------------------------------------------------------------------- factory


@dataclass(frozen=True)
class SandboxCredentials:
    """Everything a client needs to talk to a built sandbox. For tests and dev only."""

    account_id: str
    consumer_key: str
    consumer_secret: str = field(repr=False)
    token_id: str
    token_secret: str = field(repr=False)
    client_id: str
    certificate_id: str
    private_key_pem: str | None = field(default=None, repr=False)  # None when the caller supplied the key

    def tba(self) -> TbaCredentials:
        """The TBA credentials."""
        return TbaCredentials(
            self.account_id, self.consumer_key, self.consumer_secret, self.token_id, self.token_secret
        )

    def tba_auth(self) -> TokenBasedAuth:
        """An httpx auth signing with TBA."""
        return TokenBasedAuth(self.tba())

    def client_credentials_auth(self, base_url: str, **options: Any) -> ClientCredentialsAuth:
        """An httpx auth using OAuth 2.0 client credentials against ``base_url``."""
        if self.private_key_pem is None:
            raise ValueError("the sandbox was given a public key; build the auth with your private key")
        return ClientCredentialsAuth.for_base_url(
            base_url, self.client_id, self.certificate_id, self.private_key_pem, account_id=self.account_id, **options
        )

    def gl_mapping_ids(self) -> dict[str, str]:
        """The seeded chart of accounts, by GL mapping role (bank, clearing, ...)."""
        return {role: str(spec[0]) for role, spec in SEED_ACCOUNTS.items()}

    def currency_ids(self) -> dict[str, str]:
        """Seeded NetSuite currency ids by ISO code."""
        return dict(SEED_CURRENCY_IDS)


class SandboxBuild(NamedTuple):
    """``app, credentials = build_netsuite_sandbox(...)``."""

    app: NetSuiteSandbox
    credentials: SandboxCredentials


def generate_rsa_private_key_pem(bits: int = 2048) -> str:
    """A fresh RSA private key in PEM (PKCS#8), for a sandbox certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def build_netsuite_sandbox(
    account_id: str = "1234567_SB1",
    *,
    consumer_key: str | None = None,
    consumer_secret: str | None = None,
    token_id: str | None = None,
    token_secret: str | None = None,
    oauth2_client_id: str | None = None,
    oauth2_public_key: str | bytes | RSAKey | ECKey | None = None,
    oauth2_certificate_id: str | None = None,
    db_path: str = ":memory:",
    **options: Any,
) -> SandboxBuild:
    """Build a seeded sandbox app and the credentials it accepts.

    Missing TBA secrets and OAuth 2.0 ids are generated. Without ``oauth2_public_key`` an
    RSA key pair is generated and its private half returned in the credentials.
    ``options`` go to :class:`NetSuiteSandbox` (``token_lifetime``, ``service_time``,
    ``concurrency_limit``, ``suiteql_row_ceiling``, ``tba_timestamp_window``, ``clock``).
    Serve it with ``SandboxServer(app).start()``.
    """
    app = NetSuiteSandbox(SandboxStore(db_path), **options)
    integration = TbaIntegration(
        account_id=account_id,
        consumer_key=consumer_key or secrets.token_hex(32),
        consumer_secret=consumer_secret or secrets.token_hex(32),
        token_id=token_id or secrets.token_hex(32),
        token_secret=token_secret or secrets.token_hex(32),
    )
    app.register_tba(integration)
    private_pem: str | None = None
    if oauth2_public_key is None:
        private_pem = generate_rsa_private_key_pem()
        public_key: RSAKey | ECKey = RSAKey.import_key(private_pem)
    elif isinstance(oauth2_public_key, RSAKey | ECKey):
        public_key = oauth2_public_key
    else:
        public_key = _import_public_key(oauth2_public_key)
    client_id = oauth2_client_id or secrets.token_hex(32)
    certificate_id = oauth2_certificate_id or f"cert-{secrets.token_urlsafe(16)}"
    app.register_oauth2_client(OAuth2Client(account_id, client_id, certificate_id, public_key))
    credentials = SandboxCredentials(
        account_id=account_id,
        consumer_key=integration.consumer_key,
        consumer_secret=integration.consumer_secret,
        token_id=integration.token_id,
        token_secret=integration.token_secret,
        client_id=client_id,
        certificate_id=certificate_id,
        private_key_pem=private_pem,
    )
    return SandboxBuild(app, credentials)


def _import_public_key(data: str | bytes) -> RSAKey | ECKey:
    """A PEM public key or X.509 certificate (NetSuite maps a certificate) as a JOSE key."""
    raw = data.encode() if isinstance(data, str) else data
    if b"BEGIN CERTIFICATE" in raw:
        from cryptography import x509

        raw = (
            x509.load_pem_x509_certificate(raw)
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    try:
        return RSAKey.import_key(raw)
    except (JoseError, ValueError, TypeError):
        return ECKey.import_key(raw)


__all__ = [
    "NetSuiteSandbox",
    "OAuth2Client",
    "SandboxBuild",
    "SandboxCredentials",
    "SandboxHttpError",
    "TbaIntegration",
    "build_netsuite_sandbox",
    "generate_rsa_private_key_pem",
    "ns_error",
]
