"""Fixtures: a seeded Stripe sandbox on a loopback port and a fast-retrying client for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connections.stripe.client import StripeApi
from connections.stripe.sandbox.server import StripeSandbox, build_stripe_sandbox, stripe_sandbox_server
from connections.stripe.tests.helpers import API_KEY, make_api
from ecomops.sandbox_http import SandboxServer

SEED = 7


@pytest.fixture
def sandbox_app() -> StripeSandbox:
    """A fresh 30-day business per test: tests advance it and inject faults."""
    return build_stripe_sandbox(seed=SEED, days=30, api_key=API_KEY)


@pytest.fixture
def server(sandbox_app: StripeSandbox) -> Iterator[SandboxServer]:
    with stripe_sandbox_server(sandbox_app) as srv:
        yield srv


@pytest.fixture
def api(server: SandboxServer) -> StripeApi:
    return make_api(server)
