"""NetSuite error bodies, parsed into one exception type.

NetSuite answers errors in more than one shape, depending on the endpoint and the
release that generated it:

* REST web services today (Oracle help section_156570709583)::

      {"type": "...", "title": "Bad Request", "status": 400,
       "o:errorDetails": [{"detail": "...", "o:errorCode": "INVALID_KEY_OR_REF",
                           "o:errorPath": "line.items[0].account"}]}

* the flat ``nsError`` schema of the 2020 generated OpenAPI catalog::

      {"type": "...", "title": "...", "status": 400, "o:errorCode": "USER_ERROR", "detail": "..."}

* RESTlets and older SuiteScript endpoints: ``{"error": {"code": "...", "message": "..."}}``
* the OAuth 2.0 token endpoint (RFC 6749 §5.2): ``{"error": "invalid_grant", "error_description": "..."}``

Anything else (an HTML page from a gateway, an empty body) still becomes a
``NetSuiteError`` with the code ``HTTP_<status>``, so callers handle one type.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from netsuite.redact import scrub, scrub_json

# Codes that mean "NetSuite refused before doing anything, try again later". NetSuite's
# REST API uses CONCURRENCY_LIMIT_EXCEEDED (sometimes with a status other than 429);
# SSS_REQUEST_LIMIT_EXCEEDED is the RESTlet/SuiteScript governance equivalent.
THROTTLE_CODES = frozenset({"CONCURRENCY_LIMIT_EXCEEDED", "SSS_REQUEST_LIMIT_EXCEEDED"})


class NetSuiteClientError(Exception):
    """Base class of everything this package raises about talking to NetSuite."""


@dataclass(frozen=True)
class ErrorDetail:
    """One entry of ``o:errorDetails``."""

    code: str
    detail: str
    path: str | None = None


class NetSuiteError(NetSuiteClientError):
    """An error answer from NetSuite (or the sandbox), whatever body shape it came in."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        path: str | None = None,
        body: Any = None,
        *,
        title: str | None = None,
        details: tuple[ErrorDetail, ...] = (),
        retry_after: float | None = None,
        request: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.path = path
        self.body = body
        self.title = title
        self.details = details or (ErrorDetail(code=code, detail=detail, path=path),)
        self.retry_after = retry_after
        self.request = request  # "METHOD path", for messages and logs
        self.attempts = 1
        where = f" at {path}" if path else ""
        on = f" ({request})" if request else ""
        super().__init__(f"NetSuite {status} {code}: {detail}{where}{on}")

    @property
    def is_throttle(self) -> bool:
        """True when NetSuite refused because of its concurrency/rate governance."""
        return self.status == 429 or self.code in THROTTLE_CODES

    @property
    def retryable(self) -> bool:
        """True for answers a retry can cure: throttling and server-side (5xx) errors."""
        return self.is_throttle or self.status >= 500

    @property
    def has_netsuite_body(self) -> bool:
        """True when the body was one of NetSuite's own JSON error shapes (not a gateway page)."""
        return not self.code.startswith("HTTP_")

    @classmethod
    def from_response(
        cls,
        status: int,
        content: bytes | str | None,
        headers: Mapping[str, str] | None = None,
        *,
        request: str | None = None,
        secrets: Iterable[str] = (),
    ) -> NetSuiteError:
        """Build the error from an HTTP status and raw body, accepting every known shape.

        ``secrets``: the credential values the request carried. An answer that quotes them back
        (a gateway printing the request's headers, a detail naming the token) must not carry
        them into the error's message, which is stored, logged and shown.
        """
        secrets = list(secrets)
        raw = content.decode("utf-8", "replace") if isinstance(content, bytes) else (content or "")
        retry_after = _retry_after(headers)
        try:
            # Scrubbed once parsed: in the JSON text a quoted value is escaped, not as it was sent.
            body: Any = scrub_json(json.loads(raw), secrets) if raw.strip() else None
        except ValueError:
            body = None
        raw = scrub(raw, secrets)
        if isinstance(body, Mapping):
            parsed = parse_error_body(body)
            if parsed is not None:
                title, details = parsed
                first = details[0]
                return cls(
                    status,
                    first.code,
                    first.detail,
                    first.path,
                    body,
                    title=title,
                    details=details,
                    retry_after=retry_after,
                    request=request,
                )
        snippet = " ".join(raw.split())[:300] or "(empty body)"
        return cls(
            status,
            f"HTTP_{status}",
            snippet,
            None,
            body if body is not None else raw,
            retry_after=retry_after,
            request=request,
        )


def parse_error_body(body: Mapping[str, Any]) -> tuple[str | None, tuple[ErrorDetail, ...]] | None:
    """Return ``(title, details)`` for a recognised NetSuite error body, or None."""
    title = body.get("title") if isinstance(body.get("title"), str) else None
    listed = body.get("o:errorDetails")
    if isinstance(listed, list) and listed:
        details = tuple(
            ErrorDetail(
                code=str(item.get("o:errorCode") or "UNKNOWN"),
                detail=str(item.get("detail") or title or ""),
                path=item.get("o:errorPath") or item.get("o:errorQueryParam") or item.get("o:errorHeader"),
            )
            for item in listed
            if isinstance(item, Mapping)
        )
        if details:
            return title, details
    if "o:errorCode" in body:  # 2020 flat nsError
        return title, (ErrorDetail(code=str(body["o:errorCode"]), detail=str(body.get("detail") or title or "")),)
    error = body.get("error")
    if isinstance(error, Mapping) and ("code" in error or "message" in error):  # RESTlet / legacy
        return title, (ErrorDetail(code=str(error.get("code") or "UNKNOWN"), detail=str(error.get("message") or "")),)
    if isinstance(error, str):  # OAuth 2.0 token endpoint
        return title, (ErrorDetail(code=error, detail=str(body.get("error_description") or error)),)
    return None


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    value = None
    for name, candidate in headers.items():
        if name.lower() == "retry-after":
            value = candidate
            break
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from NetSuite, the backoff covers it


class OutcomeUnknownError(NetSuiteClientError):
    """A non-idempotent request may or may not have been applied by NetSuite.

    Raised when the connection is lost after a create was sent (or a gateway answered
    instead of NetSuite). Retrying could create a second record, so the client does not;
    the caller must look the record up (e.g. by external id) before trying again.
    """

    def __init__(self, request: str, cause: BaseException | str) -> None:
        self.request = request
        self.cause = cause
        why = f"{type(cause).__name__}: {cause}" if isinstance(cause, BaseException) else cause
        super().__init__(f"outcome of {request} is unknown: {why}")


class NetSuiteProtocolError(NetSuiteClientError):
    """NetSuite answered something this client cannot interpret (e.g. 204 without Location)."""


class NetSuiteConfigError(ValueError):
    """A NetSuite connection's settings cannot make a client (no account id, a key that is not a PEM).

    Nothing was sent: the connection has to be fixed first. ``field`` names the setting at
    fault. The message never contains the setting's value: a private key must not reach a
    log, a posting's error or an API answer.
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field
