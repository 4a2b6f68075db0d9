"""Plain-HTTP helpers for the Stripe sandbox tests (loopback only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from connections.stripe.client import StripeApi
from ecomops.sandbox_http import SandboxServer

API_KEY = "sk_test_ecomops_tests_9f3aQ7"


def http(
    server: SandboxServer, path: str, *, key: str | None = API_KEY, method: str = "GET", payload: Any = None
) -> tuple[int, Any]:
    """(status, parsed JSON body) of one request to the sandbox; ``key=None`` sends no auth."""
    assert server.url.startswith("http://127.0.0.1:")
    body = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(server.url + path, data=body, method=method)  # noqa: S310 - loopback sandbox
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback sandbox
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def control(server: SandboxServer, action: str, payload: Any = None, *, method: str = "POST") -> Any:
    """Call a ``/__sandbox__/`` control route and return its JSON answer."""
    status, body = http(server, f"/__sandbox__/{action}", key=None, method=method, payload=payload)
    assert status == 200, body
    return body


def inject(server: SandboxServer, kind: str, count: int | None = 1, **extra: Any) -> None:
    """Queue a fault (``429``, ``500``, ``malformed``, ...) on the sandbox."""
    control(server, "faults", {"kind": kind, "count": count, **extra})


def list_all(server: SandboxServer, resource: str, query: str = "") -> list[dict[str, Any]]:
    """Every object of a list endpoint via raw HTTP paging (independent of the client under test)."""
    objects: list[dict[str, Any]] = []
    after = ""
    while True:
        status, body = http(server, f"/v1/{resource}?limit=100{after}{query}")
        assert status == 200, body
        objects.extend(body["data"])
        if not body["has_more"]:
            return objects
        after = f"&starting_after={body['data'][-1]['id']}"


def make_api(server: SandboxServer, **overrides: object) -> StripeApi:
    """A client for ``server`` with millisecond backoff and no rate limit unless overridden."""
    options: dict[str, object] = {
        "base_url": server.url,
        "rate_limit": None,
        "max_retries": 5,
        "retry_base_delay": 0.001,
        "retry_max_delay": 0.01,
        "timeout": 10.0,
    }
    options.update(overrides)
    key = str(options.pop("api_key", API_KEY))
    return StripeApi(key, **options)  # type: ignore[arg-type]
