"""Liveness and readiness answer without authentication; readiness checks real dependencies."""

from __future__ import annotations

import socket


def test_liveness(api, db):
    response = api.get("/api/v1/health/")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readiness_checks_database_and_broker(api, db):
    response = api.get("/api/v1/health/ready/")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert response.json()["database"] == "ok"


def test_readiness_is_503_when_the_broker_is_unreachable(api, db, settings):
    # A real, closed port: nothing listens there, so the Redis client's connect fails.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"

    response = api.get("/api/v1/health/ready/")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["broker"] == "ConnectionError"
