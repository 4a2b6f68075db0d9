"""JSON-lines logging through structlog (django-structlog binds request context).

Every line carries ``correlation_id``, ``tenant_id`` and ``user_id`` when known: the request
middleware, task runner and MCP server bind them with ``structlog.contextvars``.

Secrets are kept out twice: a field whose name says it is a secret loses its value
(``redact_secrets``), and a credential recognisable by its shape is masked wherever it
sits in the line (``redact_secret_values``), whichever logger wrote it. Libraries log what
they send and receive at DEBUG (stripe-python the response body, httpcore the bytes it
could not parse), and an answer may quote the request's credentials back.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import structlog

SECRET_KEY_PATTERN = re.compile(
    r"(password|secret|token|api_key|apikey|private_key|consumer_key|signing_key|credential|authorization|signature)",
    re.I,
)
REDACTED = "[redacted]"

# Credentials recognisable by their shape. Group 1 (kept) says what was there; the rest goes.
SECRET_VALUE_PATTERNS = [
    re.compile(r"\b((?:sk|rk)_(?:live|test)_)[A-Za-z0-9]+"),  # Stripe secret and restricted keys
    re.compile(r"\b(whsec_)[A-Za-z0-9]+"),  # Stripe webhook signing secrets
    re.compile(r"\b(shp(?:at|ca|pa|ss)_)[A-Za-z0-9]+"),  # Shopify access tokens and app secrets
    # an HTTP bearer token of any kind: 20 characters or more, or 8 or more with a digit or a
    # sign in them, so that "Bearer certificates" in a sentence is left as it is
    re.compile(r"\b(Bearer\s+)(?:[A-Za-z0-9._~+/-]{20,}|(?=[A-Za-z]*[0-9._~+/-])[A-Za-z0-9._~+/-]{8,})=*"),
    re.compile(r"\b(oauth_(?:consumer_key|token|signature)=\\?\"?)[^\"\\,&\s]+"),  # OAuth 1.0 (NetSuite TBA)
    re.compile(r"\b(client_assertion=)[A-Za-z0-9._~%+/=-]+"),  # OAuth 2.0 client assertion in a form body
    re.compile(r"(?i)(x-shopify-access-token\\?[\"']?\s*[:=]\s*\\?[\"']?)[^\s\"'\\,;|&}]+"),  # any token shape
    re.compile(r"()\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"),  # a JWT (access tokens, assertions)
    # a query parameter whose name says it is a secret, in a logged path or URL (`?password=...`,
    # `&api_key=...`), whatever its value looks like; the API refuses such writes, but the request
    # is logged before that
    re.compile(
        r"([?&][^=&\s#\"']*?(?:password|secret|token|api_?key|private_key|signing_key|credential|signature)"
        r"[^=&\s#\"']*=)[^&\s#\"']+",
        re.I,
    ),
]


def redact_secrets(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Drop the value of any log field whose name says it is a secret, at any depth."""
    return redact(event_dict)


def redact_secret_values(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Mask credential-shaped values anywhere in the line: messages, fields, exception text."""
    return {key: _mask_values(value) for key, value in event_dict.items()}


def mask_secret_values(text: str) -> str:
    """``text`` with every credential-shaped value (``SECRET_VALUE_PATTERNS``) masked."""
    for pattern in SECRET_VALUE_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def _mask_values(value: Any) -> Any:
    if isinstance(value, str):
        return mask_secret_values(value)
    if isinstance(value, dict):
        return {k: _mask_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask_values(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    # What the JSON renderer would write for it (an exception, a stdlib record's exc_info).
    return mask_secret_values(repr(value))


def redact(value: Any) -> Any:
    """A copy of ``value`` with the values of secret-named keys replaced, at any depth."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and SECRET_KEY_PATTERN.search(k) else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v) for v in value)
    return value


SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    redact_secrets,
]


def configure_logging(*, level: str = "INFO", log_file: str = "") -> dict[str, Any]:
    """Configure structlog and return the stdlib LOGGING dict for Django."""
    structlog.configure(
        processors=[
            *SHARED_PROCESSORS,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handlers: dict[str, Any] = {
        "console": {"class": "logging.StreamHandler", "formatter": "json"},
    }
    if log_file:
        handlers["file"] = {"class": "logging.FileHandler", "filename": log_file, "formatter": "json"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    redact_secret_values,  # last: it sees the rendered exception too
                    structlog.processors.JSONRenderer(),
                ],
                "foreign_pre_chain": SHARED_PROCESSORS,
            }
        },
        "handlers": handlers,
        "root": {"handlers": list(handlers), "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            "django_q": {"level": "WARNING"},
            "stripe": {"level": "WARNING"},  # it logs every request at INFO
            "httpx": {"level": "WARNING"},
            "django_structlog": {"level": level},
        },
    }


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)


logging.captureWarnings(True)
