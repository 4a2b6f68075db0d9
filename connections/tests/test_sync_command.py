"""``manage.py sync --tenant SLUG [--connection ID]``: a sync in the foreground, over real HTTP
to the Stripe sandbox, and clear errors for what it cannot find."""

from __future__ import annotations

from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from canonical.models import Payout, PayoutLine
from connections.models import SyncJob
from connections.services import connection_create
from connections.stripe.sandbox.server import DEFAULT_API_KEY, build_stripe_sandbox, stripe_sandbox_server


def sync(*args: str) -> str:
    out = StringIO()
    call_command("sync", *args, stdout=out)
    return out.getvalue()


def test_sync_command_fills_the_tables_and_reports_the_job(tenant_a, in_tenant):
    with stripe_sandbox_server(build_stripe_sandbox(seed=3, days=4)) as sandbox:
        with in_tenant(tenant_a.tenant):
            conn = connection_create(
                actor=tenant_a.admin,
                name="Stripe EU",
                provider="stripe",
                credentials={"api_key": DEFAULT_API_KEY},
                base_url=sandbox.url,
                backfill_start=date(2024, 1, 1),
            )
        first = sync("--tenant", tenant_a.tenant.slug)
        # by the tenant's id and the connection's id: the same connection, nothing new
        again = sync("--tenant", str(tenant_a.tenant.pk), "--connection", str(conn.pk))

    with in_tenant(tenant_a.tenant):
        jobs = list(SyncJob.objects.filter(connection=conn).order_by("queued_at"))
        assert [(j.trigger, j.status) for j in jobs] == [("command", "succeeded")] * 2
        assert Payout.objects.filter(connection=conn).exists()
        assert PayoutLine.objects.filter(connection=conn).count() > 10
        assert (jobs[1].created_count, jobs[1].updated_count) == (0, 0)
    assert f"Stripe EU: succeeded - {jobs[0].pages} pages, {jobs[0].object_count} objects, " in first
    assert "0 created, 0 updated" in again


def test_sync_command_says_what_it_cannot_find(tenant_a, tenant_b, in_tenant):
    with in_tenant(tenant_b.tenant):
        theirs = connection_create(
            actor=tenant_b.admin,
            name="B's Stripe",
            provider="stripe",
            credentials={"api_key": "sk_test_b_000000"},
            base_url="http://127.0.0.1:9",
        )

    with pytest.raises(CommandError, match="Unknown tenant 'no-such-shop'"):
        sync("--tenant", "no-such-shop")
    with pytest.raises(CommandError, match="'12' is not a connection id"):
        sync("--tenant", tenant_a.tenant.slug, "--connection", "12")
    # another tenant's connection is not found in this one
    with pytest.raises(CommandError, match=f"No enabled Stripe/Shopify connection {theirs.pk}"):
        sync("--tenant", tenant_a.tenant.slug, "--connection", str(theirs.pk))
    with in_tenant(tenant_b.tenant):
        assert not SyncJob.objects.exists()
