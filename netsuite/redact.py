"""Capturing request/response exchanges with the secrets taken out.

The posting record keeps every request and response sent to NetSuite (DESIGN §6), so
what we hand over must never contain a credential: the ``Authorization`` header (TBA
signature, consumer key, token id, bearer token), OAuth form fields such as
``client_assertion``, and tokens in JSON bodies (the token endpoint's ``access_token``).

Names are not enough: whatever comes back on the wire may quote what was sent, wherever
it likes (a gateway's error page printing the request headers, an error detail naming the
token, garbage from a broken proxy that httpx quotes in its exception). So the client also
replaces the credential values it knows (:func:`scrub`) in everything it records or raises.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import httpx

REDACTED = "[REDACTED]"
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})
# A key is secret when its lower-cased name contains one of these fragments.
SECRET_KEY_FRAGMENTS = ("secret", "password", "token", "assertion", "signature", "credential", "api_key", "apikey")
DEFAULT_MAX_BODY_CHARS = 200_000
# Values shorter than this are not searched for: they would mask ordinary words, and no
# credential NetSuite issues is that short.
MIN_SECRET_CHARS = 8
# OAuth 1.0 header parameters that carry a credential (the nonce, timestamp and method do not).
_OAUTH_SECRET_PARAMS = ("oauth_consumer_key", "oauth_token", "oauth_signature")
_OAUTH_PARAM = re.compile(r'([A-Za-z_]+)="([^"]*)"')


def is_secret_key(name: str) -> bool:
    """True for parameter/field names that carry credentials."""
    lowered = name.lower()
    if lowered.endswith("_type"):  # token_type, client_assertion_type: names of schemes, not secrets
        return False
    return any(fragment in lowered for fragment in SECRET_KEY_FRAGMENTS)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Copy of ``headers`` with credential headers replaced; keeps the auth scheme for context."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() in SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] if name.lower().endswith("authorization") and " " in value else ""
            out[name] = f"{scheme} {REDACTED}".strip()
        else:
            out[name] = value
    return out


def redact_json(value: Any) -> Any:
    """Recursively replace the values of secret-looking keys."""
    if isinstance(value, Mapping):
        return {k: (REDACTED if is_secret_key(str(k)) else redact_json(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(v) for v in value]
    return value


def authorization_secrets(authorization: str) -> list[str]:
    """The credentials an ``Authorization`` value carries that a server could quote back: the
    whole value, a bearer token, the OAuth 1.0 consumer key, token and signature (as sent,
    percent-encoded, and decoded)."""
    value = (authorization or "").strip()
    if not value:
        return []
    found = [value]
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        found.append(rest.strip())
    elif scheme.lower() == "oauth":
        for name, quoted in _OAUTH_PARAM.findall(rest):
            if name in _OAUTH_SECRET_PARAMS:
                found += [quoted, unquote(quoted)]
    return found


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret value replaced, the longest first (a value
    that contains another is replaced whole)."""
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def scrub_json(value: Any, secrets: Iterable[str]) -> Any:
    """``value`` (parsed JSON) with the secret values replaced in every string, keys included."""
    secrets = list(secrets)
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, Mapping):
        return {scrub(str(k), secrets): scrub_json(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_json(v, secrets) for v in value]
    return value


def redact_url(url: str) -> str:
    """The URL with secret query parameters replaced."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = [(k, REDACTED if is_secret_key(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(pairs, safe="[]")))


def redact_body(
    content: bytes, content_type: str, max_chars: int = DEFAULT_MAX_BODY_CHARS, secrets: Iterable[str] = ()
) -> str:
    """A text rendering of a body with secrets replaced (JSON and form bodies are parsed).

    ``secrets``: credential values to replace wherever they appear, whatever the field's name.
    """
    if not content:
        return ""
    secrets = list(secrets)
    text = content.decode("utf-8", "replace")
    if "x-www-form-urlencoded" in content_type:
        pairs = parse_qsl(text, keep_blank_values=True)
        text = urlencode([(k, REDACTED if is_secret_key(k) else scrub(v, secrets)) for k, v in pairs], safe="[]")
    elif "json" in content_type or text.lstrip().startswith(("{", "[")):
        # Malformed JSON is kept as received: it is evidence.
        with contextlib.suppress(ValueError):
            text = json.dumps(scrub_json(redact_json(json.loads(text)), secrets), ensure_ascii=False)
    text = scrub(text, secrets)
    if len(text) > max_chars:
        text = text[:max_chars] + f"...[truncated {len(text) - max_chars} chars]"
    return text


@dataclass
class Exchange:
    """One HTTP attempt as the posting record stores it: redacted, JSON-serialisable."""

    operation: str
    attempt: int
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    elapsed_ms: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for a JSONField)."""
        return asdict(self)

    def scrubbed(self, secrets: Iterable[str]) -> Exchange:
        """A copy with the secret values replaced wherever they appear (see :func:`scrub`)."""
        secrets = list(secrets)
        if not secrets:
            return self
        return dataclasses.replace(
            self,
            url=scrub(self.url, secrets),
            request_headers={k: scrub(v, secrets) for k, v in self.request_headers.items()},
            request_body=scrub(self.request_body, secrets),
            response_headers={k: scrub(v, secrets) for k, v in self.response_headers.items()},
            response_body=scrub(self.response_body, secrets),
            error=scrub(self.error, secrets) if self.error is not None else None,
        )


def exchange_from_request(
    request: httpx.Request,
    *,
    attempt: int,
    operation: str,
    response: httpx.Response | None = None,
    error: BaseException | None = None,
    elapsed_ms: float | None = None,
    secrets: Iterable[str] = (),
) -> Exchange:
    """Build a redacted Exchange from the request actually sent and what came back, if anything.

    ``secrets``: credential values to replace wherever they appear (an answer quoting them).
    """
    secrets = list(secrets)
    req_type = request.headers.get("content-type", "")
    exchange = Exchange(
        operation=operation,
        attempt=attempt,
        method=request.method,
        url=redact_url(str(request.url)),
        request_headers=redact_headers(dict(request.headers)),
        request_body=redact_body(_request_content(request), req_type, secrets=secrets),
        elapsed_ms=elapsed_ms,
        error=f"{type(error).__name__}: {error}" if error is not None else None,
    )
    if response is not None:
        exchange.status = response.status_code
        exchange.response_headers = redact_headers(dict(response.headers))
        exchange.response_body = redact_body(
            response.content, response.headers.get("content-type", ""), secrets=secrets
        )
    return exchange.scrubbed(secrets)


def exchange_from_response(
    response: httpx.Response, *, attempt: int, operation: str, secrets: Iterable[str] = ()
) -> Exchange:
    """Shortcut for a completed exchange."""
    elapsed = response.elapsed.total_seconds() * 1000 if _has_elapsed(response) else None
    return exchange_from_request(
        response.request, attempt=attempt, operation=operation, response=response, elapsed_ms=elapsed, secrets=secrets
    )


def _request_content(request: httpx.Request) -> bytes:
    try:
        return request.content
    except httpx.RequestNotRead:
        return b""


def _has_elapsed(response: httpx.Response) -> bool:
    try:
        response.elapsed  # noqa: B018 - raises until the response is closed
    except RuntimeError:
        return False
    return True
