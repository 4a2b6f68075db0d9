"""Authentication to NetSuite's REST web services, as httpx ``Auth`` classes.

Two schemes, both documented by Oracle:

* :class:`TokenBasedAuth` - OAuth 1.0a token-based authentication (TBA), signed with
  HMAC-SHA256. Realm = the account id as written (``1234567_SB1``); the signature key is
  ``consumer_secret&token_secret``; the realm is not part of the base string. The base
  string is built with authlib's RFC 5849 primitives; authlib itself only ships HMAC-SHA1,
  so the HMAC-SHA256 step is ours (it is the same construction with another digest).
* :class:`ClientCredentialsAuth` - OAuth 2.0 client credentials with a JWT assertion
  signed by the private key of the certificate mapped in NetSuite (``kid`` = certificate
  id). Oracle recommends it for new integrations. Access tokens live one hour; we cache
  one until ``refresh_margin`` seconds before it expires, and a 401 answer triggers one
  refresh and one retry.

Production base URLs come from :func:`netsuite_base_url`; tests pass the sandbox's
``http://127.0.0.1:PORT`` instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from authlib.oauth1.rfc5849.parameters import prepare_headers
from authlib.oauth1.rfc5849.signature import construct_base_string
from authlib.oauth1.rfc5849.util import escape
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from netsuite.errors import NetSuiteError

SIGNATURE_HMAC_SHA256 = "HMAC-SHA256"
TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"  # noqa: S105 - a URL path, not a password
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Oracle: "restlets, rest_webservices, suite_analytics, or all of them, separated by a comma"
# (help section_162790605110). The sandbox also accepts spaces and a JSON array.
DEFAULT_SCOPES: tuple[str, ...] = ("restlets", "rest_webservices")
# Oracle: exp "must be less than 60 minutes greater than" iat.
MAX_ASSERTION_LIFETIME = 3600
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_NONCE_ALPHABET = string.ascii_letters + string.digits


def netsuite_host(account_id: str, service: str = "suitetalk") -> str:
    """The account-specific host: ``1234567_SB1`` -> ``1234567-sb1.suitetalk.api.netsuite.com``."""
    if not account_id or not all(c.isalnum() or c == "_" for c in account_id):
        raise ValueError(f"not a NetSuite account id: {account_id!r}")
    return f"{account_id.lower().replace('_', '-')}.{service}.api.netsuite.com"


def netsuite_base_url(account_id: str) -> str:
    """``https://<account-host>``: the REST web services base URL of an account."""
    return f"https://{netsuite_host(account_id)}"


# --------------------------------------------------------------------------- OAuth 1.0a TBA


@dataclass(frozen=True)
class TbaCredentials:
    """The four TBA secrets plus the account they belong to; only the account is in repr.

    A key or token id is half of a credential pair (and what NetSuite's login audit trail
    names), so it stays out of tracebacks and error trackers' frame locals with the secrets.
    """

    account_id: str
    consumer_key: str = field(repr=False)
    consumer_secret: str = field(repr=False)
    token_id: str = field(repr=False)
    token_secret: str = field(repr=False)


@dataclass(frozen=True)
class TbaSignature:
    """A computed TBA signature with what went into it (useful for debugging and tests).

    Every part names the consumer key and token id, so none is in repr.
    """

    base_string: str = field(repr=False)
    signature: str = field(repr=False)
    oauth_params: tuple[tuple[str, str], ...] = field(repr=False)
    authorization: str = field(repr=False)


def tba_oauth_params(consumer_key: str, token_id: str, nonce: str, timestamp: str) -> list[tuple[str, str]]:
    """The ``oauth_*`` protocol parameters NetSuite expects, in header order."""
    return [
        ("oauth_consumer_key", consumer_key),
        ("oauth_token", token_id),
        ("oauth_signature_method", SIGNATURE_HMAC_SHA256),
        ("oauth_timestamp", timestamp),
        ("oauth_nonce", nonce),
        ("oauth_version", "1.0"),
    ]


def tba_base_string(
    method: str,
    url: str,
    oauth_params: Iterable[tuple[str, str]],
    form_params: Iterable[tuple[str, str]] = (),
) -> str:
    """RFC 5849 §3.4.1 signature base string: method, base URI, sorted query+form+oauth params.

    ``url`` may carry a query string; its parameters are signed. ``form_params`` are the
    decoded pairs of an ``application/x-www-form-urlencoded`` body (other bodies, such as
    JSON, are never signed in OAuth 1.0a). ``oauth_signature`` and ``realm`` are excluded.
    """
    query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    params = [*query, *form_params, *oauth_params]
    return construct_base_string(method, url, params)


def hmac_sha256_signature(base_string: str, consumer_secret: str, token_secret: str) -> str:
    """base64(HMAC-SHA256(escape(consumer_secret) & escape(token_secret), base_string))."""
    key = f"{escape(consumer_secret)}&{escape(token_secret)}"
    digest = hmac.new(key.encode(), base_string.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def new_nonce(length: int = 20) -> str:
    """A random alphanumeric nonce (NetSuite wants at least 6 characters)."""
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(length))


def sign_tba(
    method: str,
    url: str,
    credentials: TbaCredentials,
    *,
    nonce: str | None = None,
    timestamp: str | None = None,
    form_params: Sequence[tuple[str, str]] = (),
) -> TbaSignature:
    """Sign one request; returns the signature and the complete ``Authorization`` value."""
    oauth = tba_oauth_params(
        credentials.consumer_key,
        credentials.token_id,
        nonce or new_nonce(),
        timestamp or str(int(time.time())),
    )
    base = tba_base_string(method, url, oauth, form_params)
    signature = hmac_sha256_signature(base, credentials.consumer_secret, credentials.token_secret)
    signed = [*oauth, ("oauth_signature", signature)]
    # authlib renders the header (values percent-encoded, realm first and unescaped).
    header = prepare_headers(signed, {}, realm=credentials.account_id)["Authorization"]
    return TbaSignature(base_string=base, signature=signature, oauth_params=tuple(signed), authorization=header)


def form_pairs(request: httpx.Request) -> list[tuple[str, str]]:
    """The decoded parameters of a form-encoded request body, else nothing."""
    content_type = request.headers.get("content-type", "")
    if FORM_CONTENT_TYPE not in content_type:
        return []
    return parse_qsl(request.content.decode(), keep_blank_values=True)


class TokenBasedAuth(httpx.Auth):
    """httpx auth that signs every request with OAuth 1.0a TBA (HMAC-SHA256).

    Each send gets a fresh nonce and timestamp, so a retried request is re-signed rather
    than replayed (NetSuite refuses a reused nonce).
    """

    requires_request_body = True  # form bodies are part of the signature

    def __init__(
        self,
        credentials: TbaCredentials,
        *,
        clock: Callable[[], float] = time.time,
        nonce_factory: Callable[[], str] = new_nonce,
    ) -> None:
        self.credentials = credentials
        self._clock = clock
        self._nonce_factory = nonce_factory

    @property
    def account_id(self) -> str:
        """The NetSuite account this auth signs for (the realm)."""
        return self.credentials.account_id

    def secret_values(self) -> tuple[str, ...]:
        """The credential values an answer must never carry on into a message or a record."""
        c = self.credentials
        return (c.consumer_key, c.consumer_secret, c.token_id, c.token_secret)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the ``Authorization: OAuth ...`` header and send."""
        signed = sign_tba(
            request.method,
            str(request.url),
            self.credentials,
            nonce=self._nonce_factory(),
            timestamp=str(int(self._clock())),
            form_params=form_pairs(request),
        )
        request.headers["Authorization"] = signed.authorization
        yield request


# ------------------------------------------------------------- OAuth 2.0 client credentials


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and the (client clock) time at which it stops being valid."""

    value: str = field(repr=False)
    expires_at: float
    token_type: str = "Bearer"  # noqa: S105 - the scheme name


def load_signing_key(private_key: str | bytes | RSAKey | ECKey, algorithm: str) -> RSAKey | ECKey:
    """Import a PEM private key for the JWT algorithm (PS*/RS* -> RSA, ES* -> EC)."""
    if isinstance(private_key, RSAKey | ECKey):
        return private_key
    if algorithm.startswith(("PS", "RS")):
        return RSAKey.import_key(private_key)
    if algorithm.startswith("ES"):
        return ECKey.import_key(private_key)
    raise ValueError(f"unsupported JWT algorithm {algorithm!r}")


class ClientCredentialsAuth(httpx.Auth):
    """httpx auth for OAuth 2.0 client credentials with a signed JWT assertion (M2M).

    The token exchange goes through this object's own small httpx client, under a lock, so
    concurrent requests share one token and only one refresh happens at a time.
    """

    requires_request_body = True  # the request may be sent twice (401 -> refresh -> retry)

    def __init__(
        self,
        token_url: str,
        client_id: str,
        certificate_id: str,
        private_key: str | bytes | RSAKey | ECKey,
        *,
        account_id: str | None = None,
        algorithm: str = "PS256",
        scopes: Sequence[str] = DEFAULT_SCOPES,
        assertion_lifetime: int = 300,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.time,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        on_exchange: Callable[[Any], None] | None = None,
    ) -> None:
        if not 0 < assertion_lifetime <= MAX_ASSERTION_LIFETIME:
            raise ValueError(f"assertion_lifetime must be in (0, {MAX_ASSERTION_LIFETIME}] seconds")
        self.token_url = token_url
        self.client_id = client_id
        self.certificate_id = certificate_id
        self.account_id = account_id
        self.algorithm = algorithm
        self.scopes = tuple(scopes)
        self.assertion_lifetime = assertion_lifetime
        self.refresh_margin = refresh_margin
        self._key = load_signing_key(private_key, algorithm)
        self._clock = clock
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self._http = httpx.Client(timeout=timeout, transport=transport)
        self._on_exchange = on_exchange
        self.tokens_fetched = 0
        # The last few tokens and assertions sent: an answer may quote one that has since been
        # replaced (the 401 before a refresh quoting the refused token).
        self._sent: deque[str] = deque(maxlen=8)

    @classmethod
    def for_base_url(
        cls, base_url: str, client_id: str, certificate_id: str, private_key: Any, **kw: Any
    ) -> ClientCredentialsAuth:
        """Build with ``token_url = base_url + /services/rest/auth/oauth2/v1/token``."""
        return cls(base_url.rstrip("/") + TOKEN_PATH, client_id, certificate_id, private_key, **kw)

    def build_assertion(self) -> str:
        """The signed JWT NetSuite expects as ``client_assertion`` (header typ/alg/kid)."""
        now = int(self._clock())
        claims = {
            "iss": self.client_id,
            "scope": ",".join(self.scopes),
            "aud": self.token_url,
            "iat": now,
            "exp": now + self.assertion_lifetime,
            "jti": uuid.uuid4().hex,  # harmless for NetSuite, lets a server detect replays
        }
        header = {"typ": "JWT", "alg": self.algorithm, "kid": self.certificate_id}
        return jwt.encode(header, claims, self._key, algorithms=[self.algorithm])

    def secret_values(self) -> tuple[str, ...]:
        """The credential values an answer must never carry on into a message or a record: the
        client's ids and the last bearer tokens and assertions sent."""
        return (self.client_id, self.certificate_id, *self._sent)

    def fetch_token(self) -> AccessToken:
        """POST a fresh assertion to the token endpoint; raise NetSuiteError if refused."""
        from netsuite.redact import exchange_from_response, scrub  # local: redact imports nothing of ours

        assertion = self.build_assertion()
        self._sent.append(assertion)
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        sent_at = self._clock()
        response = self._http.post(self.token_url, data=form, headers={"Accept": "application/json"})
        secrets = self.secret_values()
        if self._on_exchange is not None:
            self._on_exchange(exchange_from_response(response, attempt=1, operation="oauth2.token", secrets=secrets))
        if response.status_code != 200:
            raise NetSuiteError.from_response(
                response.status_code, response.content, response.headers, request=f"POST {TOKEN_PATH}", secrets=secrets
            )
        try:
            # A proxy's or a login page's 200 is no token either: refused like a malformed one.
            payload = response.json()
            value = str(payload["access_token"])
            lifetime = float(payload.get("expires_in", 3600))  # NetSuite sends "3600" as a string
        except (KeyError, TypeError, ValueError) as exc:
            unusable = f"{type(exc).__name__}: {exc}"
        else:
            unusable = None
        if unusable is not None:
            # Raised outside the handler: the parse error quotes the answer unscrubbed (and a
            # JSONDecodeError keeps all of it), so it must not be chained to ours.
            raise NetSuiteError(
                response.status_code, "INVALID_TOKEN_RESPONSE", scrub(f"unusable token response: {unusable}", secrets)
            )
        self.tokens_fetched += 1
        self._sent.append(value)
        # Measure the lifetime from before the request: the token may be older than it looks.
        return AccessToken(value=value, expires_at=sent_at + lifetime, token_type=str(payload.get("token_type", "")))

    def get_token(self) -> AccessToken:
        """The cached token, or a new one when none is cached or it is within the margin."""
        with self._lock:
            token = self._token
            if token is None or self._clock() >= token.expires_at - self.refresh_margin:
                token = self._token = self.fetch_token()
            return token

    def invalidate(self, value: str | None = None) -> None:
        """Forget the cached token (only if it is still ``value``, when given)."""
        with self._lock:
            if self._token is not None and (value is None or self._token.value == value):
                self._token = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send with ``Authorization: Bearer``; on 401 refresh once and resend once."""
        token = self.get_token()
        request.headers["Authorization"] = f"Bearer {token.value}"
        response = yield request
        if response.status_code == 401:
            # NetSuite can revoke or expire a token before our clock says so.
            self.invalidate(token.value)
            token = self.get_token()
            request.headers["Authorization"] = f"Bearer {token.value}"
            yield request

    def close(self) -> None:
        """Close the token endpoint's HTTP client."""
        self._http.close()
