"""Correlation ids: taken from the caller or generated, echoed, and on every log line."""

from __future__ import annotations

import io
import json
import logging

import pytest
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


def test_credentials_are_masked_by_shape_whatever_logger_wrote_them_and_wherever():
    import structlog

    stripe_body = '{"error": {"message": "Invalid API Key provided: sk_live_4eC39HqLyjWDarjtT1zdp7dc"}}'
    tba = 'Authorization: OAuth realm="123_SB1", oauth_consumer_key="ck1234567890", oauth_token="tk0987654321"'
    stream, handler = _capture_json_logs()
    try:
        logging.getLogger("stripe").warning("message='API response body' body=%s", stripe_body)
        logging.getLogger("httpcore.http11").warning("receive_response_headers.failed exception=%s", tba)
        structlog.get_logger("ours").warning(
            "shop_said", detail="X-Shopify-Access-Token: 0123456789abcdef0123", hooks=["whsec_abcdef123456"]
        )
        try:
            raise ValueError("refused Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl")
        except ValueError:
            logging.getLogger("netsuite.client").exception("netsuite call failed")
    finally:
        logging.getLogger().removeHandler(handler)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["event"] == (
        """message='API response body' body={"error": {"message": "Invalid API Key provided: sk_live_[redacted]"}}"""
    )
    assert lines[1]["event"] == (
        'receive_response_headers.failed exception=Authorization: OAuth realm="123_SB1", '
        'oauth_consumer_key="[redacted]", oauth_token="[redacted]"'
    )
    assert (lines[2]["detail"], lines[2]["hooks"]) == ("X-Shopify-Access-Token: [redacted]", ["whsec_[redacted]"])
    assert "Bearer [redacted]" in json.dumps(lines[3]["exc_info"])
    for secret in ("4eC39HqLyjWDarjtT1zdp7dc", "ck1234567890", "tk0987654321", "0123456789abcdef0123", "c2lnbmF0dXJl"):
        assert secret not in stream.getvalue()


def test_masked_values_and_ordinary_words_are_left_as_they_are():
    from ecomops.logging import mask_secret_values

    text = "Stripe said sk_test_****4242; Bearer tokens expire; oauth_token is missing; shop ecomops-demo"
    assert mask_secret_values(text) == text
    prose = "the Bearer certificates of the Bearer instruments are not tokens"
    assert mask_secret_values(prose) == prose


def test_a_secret_named_query_parameter_is_masked_in_the_request_log(api, db):
    # A client that puts credentials in the URL: the request is logged before anything refuses it.
    stream, handler = _capture_json_logs()
    try:
        api.post("/api/v1/auth/login/?password=LEAKCANARYpw1&month=2026-10", {}, format="json")
        api.get("/api/v1/health/?api_key=LEAKCANARYk2&access_token=LEAKCANARYt3")
    finally:
        logging.getLogger().removeHandler(handler)

    logged = stream.getvalue()
    assert "LEAKCANARY" not in logged
    assert "/api/v1/auth/login/?password=[redacted]&month=2026-10" in logged  # the rest of the path stays
    assert "/api/v1/health/?api_key=[redacted]&access_token=[redacted]" in logged


@pytest.mark.parametrize(
    "token",
    [
        "0f8e2c7d9a1b4c3e5f6a7b8c9d0e1f2a",  # hex, as the NetSuite sandbox issues them
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",  # a JWT
        "abcdefghijklmnopqrstuvwxyz",  # letters only, but as long as tokens are
        "tok3n5ix",  # short, with digits
        "a.b-c_d~e+f/g=",  # short, with signs
    ],
)
def test_bearer_tokens_of_any_shape_are_masked(token):
    from ecomops.logging import mask_secret_values

    masked = mask_secret_values(f"Authorization: Bearer {token} refused")
    assert masked == "Authorization: Bearer [redacted] refused"
