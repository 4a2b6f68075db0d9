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


# ------------------------------------------------------------------ posting (Django side)


class PostingWorld:
    """A tenant with a Stripe connection, a NetSuite connection at the sandbox, and a full GL mapping."""

    def __init__(self, world, sandbox: Sandbox, stripe, netsuite, mapping) -> None:  # type: ignore[no-untyped-def]
        self.world = world
        self.tenant = world.tenant
        self.sandbox = sandbox
        self.stripe = stripe
        self.netsuite = netsuite
        self.mapping = mapping

    def client(self, **options: object):  # type: ignore[no-untyped-def]
        """The NetSuite connection's own client (PostgreSQL slots), with fast retries."""
        from netsuite.connection import netsuite_client

        options.setdefault("retry_budget", FAST_RETRIES)
        options.setdefault("rng", random.Random(7))
        return netsuite_client(self.netsuite, **options)

    def journal_count(self, external_id: str | None = None) -> int:
        """Journal entries in the sandbox (with that external id), by SuiteQL over HTTP."""
        sql = "SELECT COUNT(*) AS n FROM transaction WHERE recordtype = 'journalentry'"
        if external_id is not None:
            sql += f" AND externalid = '{external_id}'"
        with self.client() as client:
            return int(client.suiteql(sql).all()[0]["n"])

    def upserts(self) -> int:
        return int(self.sandbox.app.stats()["calls"].get("journalentry.upsert", 0))


def tba_credentials(sandbox: Sandbox) -> dict[str, str]:
    c = sandbox.credentials
    return {
        "consumer_key": c.consumer_key,
        "consumer_secret": c.consumer_secret,
        "token_id": c.token_id,
        "token_secret": c.token_secret,
    }


def oauth2_credentials(sandbox: Sandbox) -> dict[str, str]:
    c = sandbox.credentials
    return {"client_id": c.client_id, "certificate_id": c.certificate_id, "private_key": c.private_key_pem or ""}


def make_posting_world(world, sandbox: Sandbox, *, auth: str = "tba", mapping_values: dict | None = None):  # type: ignore[no-untyped-def]
    """Connections and a GL mapping in the current tenant context (the caller entered it)."""
    from connections.services import connection_create
    from netsuite.services import gl_mapping_create
    from netsuite.tests.factories import full_mapping_values

    stripe = connection_create(
        actor=world.admin,
        name="Stripe",
        provider="stripe",
        credentials={"api_key": "sk_test_unused"},
        subsidiary_id="1",
    )
    netsuite = connection_create(
        actor=world.admin,
        name="NetSuite",
        provider="netsuite",
        base_url=sandbox.url,
        account_id=sandbox.credentials.account_id,
        credentials=tba_credentials(sandbox) if auth == "tba" else oauth2_credentials(sandbox),
    )
    values = full_mapping_values(sandbox.credentials) if mapping_values is None else mapping_values
    mapping = gl_mapping_create(
        actor=world.admin, connection=stripe, netsuite_connection=netsuite, subsidiary_id="1", **values
    )
    return PostingWorld(world, sandbox, stripe, netsuite, mapping)


@pytest.fixture
def posting(tenant_a, in_tenant, sandbox):  # type: ignore[no-untyped-def]
    """Tenant A, inside its context for the whole test, set up for posting to the sandbox."""
    tenant = tenant_a.tenant
    mode = tenant.posting_mode
    with in_tenant(tenant):
        yield make_posting_world(tenant_a, sandbox)
    tenant.posting_mode = mode  # the object is shared by the session; the database row rolls back


@pytest.fixture(autouse=True)
def _empty_task_queue():
    """Each test starts with an empty queue: with Redis as the broker, tasks a previous test
    queued are not rolled back with its transaction."""
    from django.conf import settings

    from netsuite.tests.factories import _TAKEN, _take_posting_tasks

    if settings.REDIS_URL:  # the ORM broker's queue is rolled back with each test already
        _take_posting_tasks("-")
    _TAKEN.clear()
    yield
    _TAKEN.clear()
