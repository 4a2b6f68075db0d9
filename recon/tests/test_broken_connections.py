"""A connection whose credentials are refused, whatever status or code says so, is broken,
and a run that reads it is stale."""

from __future__ import annotations

from datetime import date

import pytest

from connections.providers import is_auth_failure
from connections.shopify.client import ShopifyAuthError, ShopifyGraphQLError, ShopifySyncError
from connections.stripe.client import StripeSyncError
from connections.stripe.sandbox.server import build_stripe_sandbox, stripe_sandbox_server
from netsuite.errors import NetSuiteError


@pytest.mark.parametrize(
    "error",
    [
        StripeSyncError("Stripe HTTP 401: Invalid API Key", status=401),
        StripeSyncError("Stripe HTTP 403: restricted key", status=403),
        StripeSyncError("Stripe HTTP 401 api_key_expired", status=401, code="api_key_expired"),
        StripeSyncError("Stripe HTTP 400 platform_api_key_expired", status=400, code="platform_api_key_expired"),
        ShopifyAuthError("Shopify refused the access token", status=401),
        ShopifyGraphQLError("Shopify denied access", [{"message": "denied", "extensions": {"code": "ACCESS_DENIED"}}]),
    ],
)
def test_refused_credentials_are_auth_failures(error):
    assert is_auth_failure(error)


@pytest.mark.parametrize(
    "error",
    [
        StripeSyncError("Stripe HTTP 429", status=429),
        StripeSyncError("Stripe HTTP 500", status=500),
        ShopifySyncError("Shopify HTTP 503", status=503),
        ShopifyGraphQLError("Shopify rejected the query", [{"message": "bad", "extensions": {"code": "BAD_REQUEST"}}]),
    ],
)
def test_other_errors_are_not(error):
    assert not is_auth_failure(error)


def test_netsuite_login_codes_are_auth_failures():
    assert is_auth_failure(NetSuiteError(400, "INVALID_LOGIN_ATTEMPT", "Invalid login attempt."))
    assert is_auth_failure(NetSuiteError(401, "invalid_token", "The access token expired."))


def test_a_revoked_key_marks_the_connection_broken_and_the_next_run_stale(tenant_a, in_a):
    from connections.services import connection_create
    from connections.sync.runner import sync_job_run, sync_start
    from recon.tests.factories import reconcile

    with stripe_sandbox_server(build_stripe_sandbox(seed=5, days=3)) as sandbox:
        conn = connection_create(
            actor=tenant_a.owner,
            name="Revoked Stripe",
            provider="stripe",
            credentials={"api_key": "sk_test_revoked_key_000000"},
            base_url=sandbox.url,
            backfill_start=date(2024, 1, 1),
        )
        job = sync_job_run(
            job=sync_start(connection=conn, trigger="test", enqueue=False),
            client_options={"retry_base_delay": 0.01, "retry_max_delay": 0.05, "rate_limit": None},
        )

    conn.refresh_from_db()
    assert (job.status, conn.status) == ("failed", "broken")
    run = reconcile()
    assert run.status == "stale"
    assert "Revoked Stripe (Stripe): credentials refused" in run.stale_reason
