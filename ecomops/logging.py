"""JSON-lines logging through structlog (django-structlog binds request context).

Every line carries ``correlation_id``, ``tenant_id`` and ``user_id`` when known: the request
middleware, task runner and MCP server bind them with ``structlog.contextvars``.
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


def redact_secrets(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Drop the value of any log field whose name says it is a secret, at any depth."""
    return redact(event_dict)


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
