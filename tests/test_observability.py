"""Correlation ids: taken from the caller or generated, echoed, and on every log line."""

from __future__ import annotations

import io
import json
import logging

from django.conf import settings


def _capture_json_logs():
    """Attach a handler with the project's own JSON formatter to the root logger."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    formatter_config = dict(settings.LOGGING["formatters"]["json"])
    factory = formatter_config.pop("()")
    handler.setFormatter(factory(**formatter_config))
    logging.getLogger().addHandler(handler)
    return stream, handler


def test_supplied_correlation_id_is_echoed_and_logged(api_as, tenant_a):
    stream, handler = _capture_json_logs()
    try:
        response = api_as(tenant_a.owner, tenant_a.tenant).get(
            "/api/v1/tenants/current/", HTTP_X_CORRELATION_ID="abc-123-corr"
        )
    finally:
        logging.getLogger().removeHandler(handler)

    assert response["X-Correlation-ID"] == "abc-123-corr"
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    finished = [line for line in lines if line.get("event") == "request_finished"]
    assert finished, lines
    assert finished[0]["correlation_id"] == "abc-123-corr"
    assert finished[0]["tenant_id"] == str(tenant_a.tenant.pk)
    assert finished[0]["user_id"] == str(tenant_a.owner.pk) or finished[0]["user_id"] == tenant_a.owner.pk


def test_missing_or_unsafe_correlation_id_is_replaced(api, db):
    generated = api.get("/api/v1/health/")
    unsafe = api.get("/api/v1/health/", HTTP_X_CORRELATION_ID="bad id\nwith newline")

    assert len(generated["X-Correlation-ID"]) == 32
    assert unsafe["X-Correlation-ID"] != "bad id\nwith newline"


def test_secret_fields_never_reach_the_log():
    import structlog

    stream, handler = _capture_json_logs()
    try:
        structlog.get_logger("test").info("connecting", api_key="sk_live_secret", nested={"password": "hunter2"})
    finally:
        logging.getLogger().removeHandler(handler)
    output = stream.getvalue()
    assert "sk_live_secret" not in output
    assert "hunter2" not in output
    assert '"api_key": "[redacted]"' in output


def test_keys_that_name_a_secret_are_redacted_at_any_depth():
    from ecomops.logging import redact

    event = {
        "connection": {"private_key": "-----BEGIN PRIVATE KEY-----x", "consumer_key": "ck_1", "account_id": "123"},
        "headers": [{"Authorization": "Bearer x"}],
        "amount_minor": 9680,
    }

    assert redact(event) == {
        "connection": {"private_key": "[redacted]", "consumer_key": "[redacted]", "account_id": "123"},
        "headers": [{"Authorization": "[redacted]"}],
        "amount_minor": 9680,
    }
