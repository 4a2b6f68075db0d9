"""Fixtures for the Shopify tests: a sandbox on a real loopback port, a client, a fake clock.

Plain pytest (run with ``-p no:django``): nothing here touches Django or a database.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from connections.shopify.client import RetryPolicy, ShopifyClient
from connections.shopify.sandbox.server import ShopifySandbox, build_shopify_sandbox
from ecomops.sandbox_http import SandboxServer

SHOPIFY_FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "data" / "shopify"
TOKEN = "shpat_test_token_0123456789abcdef"


@dataclass
class FakeClock:
    """One clock for the sandbox's cost bucket and the client's sleeps: sleeping advances it."""

    now: float = 1_000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_sandbox(clock: FakeClock) -> Iterator[Callable[..., tuple[ShopifySandbox, SandboxServer]]]:
    """Build and serve sandboxes (stopped at teardown); keyword arguments go to the factory."""
    servers: list[SandboxServer] = []

    def make(**options: Any) -> tuple[ShopifySandbox, SandboxServer]:
        options.setdefault("access_token", TOKEN)
        options.setdefault("clock", clock)
        options.setdefault("retry_after_seconds", 2.0)
        app = build_shopify_sandbox(**options)
        server = SandboxServer(app)
        # SandboxServer.start() serves with socketserver's default 0.5 s poll, which makes
        # every stop() take half a second; a short poll keeps the suite quick.
        threading.Thread(target=server.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        servers.append(server)
        return app, server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., tuple[ShopifySandbox, SandboxServer]]) -> tuple[ShopifySandbox, SandboxServer]:
    """The default 30-day business, with a bucket big and fast enough never to throttle."""
    return make_sandbox(maximum_available=1_000_000.0, restore_rate=1_000_000.0)


@pytest.fixture
def small_sandbox(
    make_sandbox: Callable[..., tuple[ShopifySandbox, SandboxServer]],
) -> tuple[ShopifySandbox, SandboxServer]:
    """Ten days (~200 orders, ~35 order pages): enough for paging tests, a third of the time."""
    return make_sandbox(days=10, maximum_available=1_000_000.0, restore_rate=1_000_000.0)


@pytest.fixture
def make_client(clock: FakeClock) -> Callable[..., ShopifyClient]:
    """Clients that sleep on the fake clock and retry with small delays."""

    def make(server: SandboxServer, app: ShopifySandbox, **options: Any) -> ShopifyClient:
        options.setdefault("retry", RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05))
        options.setdefault("sleep", clock.sleep)
        options.setdefault("clock", clock)
        token = options.pop("token", app.access_token)
        return ShopifyClient(app.shop_domain, token, base_url=server.url, **options)

    return make


def control(server: SandboxServer, action: str, payload: dict[str, Any] | None = None, method: str = "POST") -> Any:
    """Call a sandbox control endpoint (faults, advance, throttle, stats)."""
    body = json.dumps(payload or {}).encode() if method != "GET" else None
    request = urllib.request.Request(  # noqa: S310 - always the http://127.0.0.1 sandbox
        f"{server.url}/__sandbox__/{action}", data=body, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def post_graphql(
    server: SandboxServer,
    app: ShopifySandbox,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> tuple[int, dict[str, str], Any]:
    """POST a GraphQL request the way any HTTP client would; (status, headers, JSON body)."""
    request = urllib.request.Request(  # noqa: S310 - always the http://127.0.0.1 sandbox
        f"{server.url}{app.graphql_path}",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json", "X-Shopify-Access-Token": token or app.access_token},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def load_fixture(name: str) -> Any:
    """A REST fixture from shared/data/shopify (Shopify/shopify_python_api test fixtures, MIT)."""
    return json.loads((SHOPIFY_FIXTURES / name).read_text())
