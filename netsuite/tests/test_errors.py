"""Every NetSuite error body shape becomes one NetSuiteError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netsuite.client import NetSuiteError

SHAPES = json.loads(Path("/work/shared/data/netsuite/oracle-docs-response-shapes.json").read_text())


def test_rest_error_details_shape_from_oracle_401() -> None:
    body = json.dumps(SHAPES["errors"]["401"]).encode()
    error = NetSuiteError.from_response(401, body)
    assert (error.status, error.code, error.title) == (401, "INVALID_LOGIN", "Unauthorized")
    assert error.detail.startswith("Invalid login attempt.")
    assert error.path is None
    assert not error.retryable


def test_rest_error_details_shape_with_error_path() -> None:
    error = NetSuiteError.from_response(400, json.dumps(SHAPES["errors"]["400"]))
    assert error.code == "INVALID_CONTENT"
    assert error.path == "item.items[0].item"
    assert "Invalid Field Value 9999" in error.detail
    assert error.body == SHAPES["errors"]["400"]


def test_several_error_details_are_all_kept() -> None:
    body = {
        "title": "Bad Request",
        "status": 400,
        "o:errorDetails": [
            {"detail": "Invalid account reference key 9.", "o:errorCode": "INVALID_KEY_OR_REF", "o:errorPath": "a"},
            {"detail": "Please enter value(s) for: Subsidiary", "o:errorCode": "USER_ERROR"},
        ],
    }
    error = NetSuiteError.from_response(400, json.dumps(body))
    assert error.code == "INVALID_KEY_OR_REF"
    assert [d.code for d in error.details] == ["INVALID_KEY_OR_REF", "USER_ERROR"]


def test_flat_2020_nserror_shape() -> None:
    body = {"type": "https://x", "title": "Bad Request", "status": 400, "o:errorCode": "USER_ERROR", "detail": "No."}
    error = NetSuiteError.from_response(400, json.dumps(body))
    assert (error.code, error.detail, error.title) == ("USER_ERROR", "No.", "Bad Request")


def test_restlet_legacy_shape() -> None:
    body = {"error": {"code": "SSS_REQUEST_LIMIT_EXCEEDED", "message": "Request limit exceeded."}}
    error = NetSuiteError.from_response(400, json.dumps(body))
    assert error.code == "SSS_REQUEST_LIMIT_EXCEEDED"
    assert error.is_throttle
    assert error.retryable


def test_oauth_token_endpoint_shape() -> None:
    error = NetSuiteError.from_response(400, b'{"error": "invalid_grant", "error_description": "bad jwt"}')
    assert (error.code, error.detail) == ("invalid_grant", "bad jwt")
    assert not error.retryable


def test_concurrency_limit_with_any_status_is_retryable() -> None:
    body = {
        "o:errorDetails": [
            {"detail": "Concurrent request limit exceeded.", "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED"}
        ]
    }
    error = NetSuiteError.from_response(400, json.dumps(body))
    assert error.is_throttle
    assert error.retryable


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "<html><body>502 Bad Gateway</body></html>"),
        (b"", "(empty body)"),
        (b'{"unexpected": true}', '{"unexpected": true}'),
    ],
)
def test_non_netsuite_bodies(content: bytes, expected: str) -> None:
    error = NetSuiteError.from_response(502, content, {"Retry-After": "3"})
    assert error.code == "HTTP_502"
    assert error.detail == expected
    assert error.retry_after == 3.0
    assert error.retryable
    assert not error.has_netsuite_body
