"""The demo `make run` serves can be closed: its businesses end settled (`manage.py sandbox
--configure-demo`), so once synced and reconciled, the month the close page opens on, and the
months before it, hold no payout still on its way."""

from __future__ import annotations

from datetime import date

from canonical.models import Payout
from connections.models import Connection
from connections.shopify.client import RetryPolicy
from connections.shopify.sandbox.server import DEFAULT_ACCESS_TOKEN
from connections.stripe.sandbox.server import DEFAULT_API_KEY
from connections.sync.runner import sync_job_run, sync_start
from ecomops.management.commands.sandbox import DEMO_NETSUITE_ACCOUNT, Command
from ecomops.sandbox_http import SandboxServer
from ecomops.tenancy import tenant_context
from netsuite.sandbox import build_netsuite_sandbox
from recon.close import month_close, month_of, month_to_open
from recon.engine import NOT_PAID_YET
from recon.tests.factories import reconcile
from tenants.demo import demo_ensure

CLIENT_OPTIONS = {
    "stripe": {"retry_base_delay": 0.01, "retry_max_delay": 0.05, "rate_limit": None},
    "shopify": {"retry": RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05)},
}


def _payouts_check(close: dict) -> dict:
    return next(check for check in close["checks"] if check["key"] == "payouts")


def test_the_demos_month_to_close_has_every_payout_paid(db) -> None:  # type: ignore[no-untyped-def]
    # given the demo as `make run` starts it: its sandboxes, and its connections pointed at them
    tenant, owner, _ = demo_ensure(password="a-demo-password-long-enough")
    command = Command()
    options = vars(command.create_parser("manage.py", "sandbox").parse_args(["--configure-demo"]))
    apps = command._processor_apps(options)
    netsuite = build_netsuite_sandbox(DEMO_NETSUITE_ACCOUNT)
    with (
        SandboxServer(apps["stripe"]) as stripe,
        SandboxServer(apps["shopify"]) as shopify,
        SandboxServer(netsuite.app) as netsuite_server,
    ):
        servers = {"stripe": stripe, "shopify": shopify, "netsuite": netsuite_server}
        command._configure_demo(servers, DEFAULT_API_KEY, DEFAULT_ACCESS_TOKEN, netsuite.credentials)

        # when the worker would: each processor synced over HTTP, then reconciled
        with tenant_context(tenant):
            for connection in Connection.objects.filter(provider__in=CLIENT_OPTIONS).order_by("name"):
                job = sync_start(connection=connection, trigger="test", enqueue=False)
                job = sync_job_run(job=job, client_options=CLIENT_OPTIONS[connection.provider])
                assert job.status == "succeeded", (connection.name, job.error_message)

    with tenant_context(tenant):
        reconcile()

        # then the close page opens on the month of the last payouts, every one of them paid
        month = month_to_open(user=owner, today=date(2024, 6, 15))
        close = month_close(user=owner, month=month)
        assert close is not None
        assert close["payouts"]
        assert {p["source"] for p in close["payouts"]} == {"stripe", "shopify"}
        assert [p["source_id"] for p in close["payouts"] if p["status"] in NOT_PAID_YET] == []
        assert close["payout_counts"]["pending"] == 0
        assert "not paid yet" not in _payouts_check(close)["detail"]
        # and so does January, the month of the sales, the one a controller wants to close
        january = month_close(user=owner, month=month_of(date(2024, 1, 1)))
        assert january is not None
        assert january["payout_counts"]["pending"] == 0, _payouts_check(january)["detail"]
        # nothing anywhere is still on its way
        assert list(Payout.objects.filter(status__in=NOT_PAID_YET).values_list("source_id", flat=True)) == []
