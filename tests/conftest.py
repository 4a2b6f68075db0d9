"""Fixtures of the cross-app tests: what the hostile-input sweeps send their values at."""

from __future__ import annotations

import pytest
from django.db import transaction


@pytest.fixture(scope="session")
def netsuite_sandbox(django_db_setup, django_db_blocker):
    """One NetSuite sandbox on a loopback port: (its URL, the credentials it accepts)."""
    from ecomops.sandbox_http import SandboxServer
    from netsuite.connection import close_slot_providers, forget_shared_clients
    from netsuite.sandbox import build_netsuite_sandbox

    app, credentials = build_netsuite_sandbox()
    server = SandboxServer(app).start()
    yield server.url, credentials
    server.stop()
    with django_db_blocker.unblock():
        forget_shared_clients()
        close_slot_providers()  # its connection would block dropping the test database


@pytest.fixture(scope="module")
def hostile_world(worlds, django_db_blocker, netsuite_sandbox):
    """Tenant A with one object of every kind the surfaces name by id, built once for a module
    inside a transaction that is rolled back after it: each test's own transaction nests in it
    (a savepoint), so a test sees the objects, and what it writes is gone after it."""
    from ecomops.tenancy import tenant_context
    from tests.hostile import build_world

    with django_db_blocker.unblock(), transaction.atomic():
        with tenant_context(worlds["a"].tenant):
            world = build_world(worlds["a"], netsuite=netsuite_sandbox)
        yield world
        transaction.set_rollback(True)
