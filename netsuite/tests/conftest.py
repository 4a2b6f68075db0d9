"""Fixtures: a NetSuite sandbox on a loopback port and clients pointed at it."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from ecomops.sandbox_http import SandboxServer
from netsuite.client import LocalSlotProvider, NetSuiteClient, RetryPolicy
from netsuite.redact import Exchange
from netsuite.sandbox import NetSuiteSandbox, SandboxCredentials, build_netsuite_sandbox

# Retries in tests: same shape as production, tiny delays so a storm takes milliseconds.
FAST_RETRIES = RetryPolicy(max_attempts=8, base_delay=0.005, max_delay=0.05, budget_seconds=10.0)


@pytest.fixture(scope="session")
def oauth2_private_key() -> str:
    """One RSA key for the session: generating one per test is slow."""
    from netsuite.sandbox.server import generate_rsa_private_key_pem

    return generate_rsa_private_key_pem()


class Sandbox:
    """A running sandbox plus what a test needs to reach it."""

    def __init__(self, app: NetSuiteSandbox, credentials: SandboxCredentials, server: SandboxServer) -> None:
        self.app = app
        self.credentials = credentials
        self.server = server
        self.url = server.url
        self.exchanges: list[Exchange] = []

    def client(self, auth: object | None = None, **options: object) -> NetSuiteClient:
        """A TBA client (unless ``auth`` is given) with fast retries and a private slot provider."""
        options.setdefault("retry_budget", FAST_RETRIES)
        options.setdefault("slot_provider", LocalSlotProvider())
        options.setdefault("on_exchange", self.exchanges.append)
        options.setdefault("rng", random.Random(7))
        return NetSuiteClient(
            self.url,
            self.credentials.account_id,
            auth or self.credentials.tba_auth(),  # type: ignore[arg-type]
            **options,  # type: ignore[arg-type]
        )


@pytest.fixture
def sandbox_factory(oauth2_private_key: str) -> Iterator[object]:
    """Build and serve sandboxes with custom options; all are stopped after the test."""
    from joserfc.jwk import RSAKey

    servers: list[SandboxServer] = []

    def make(**options: object) -> Sandbox:
        public = RSAKey.import_key(RSAKey.import_key(oauth2_private_key).as_pem(private=False))
        app, credentials = build_netsuite_sandbox(oauth2_public_key=public, **options)  # type: ignore[arg-type]
        credentials = SandboxCredentials(**{**credentials.__dict__, "private_key_pem": oauth2_private_key})
        server = SandboxServer(app).start()
        servers.append(server)
        return Sandbox(app, credentials, server)

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def sandbox(sandbox_factory) -> Sandbox:  # type: ignore[no-untyped-def]
    """A default sandbox."""
    return sandbox_factory()
