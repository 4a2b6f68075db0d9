"""`manage.py sandbox --configure-demo` leaves the demo tenant able to post: each processor mapped
onto the NetSuite sandbox's seeded chart of accounts, once, however often it runs, and checked
against it."""

from __future__ import annotations

from types import SimpleNamespace

from ecomops.management.commands.sandbox import Command
from ecomops.tenancy import tenant_context
from netsuite.models import GlMapping
from tenants.demo import demo_ensure


def test_the_demo_maps_each_processor_onto_the_sandbox_chart_once(sandbox, db) -> None:  # type: ignore[no-untyped-def]
    tenant, _, _ = demo_ensure(password="a-demo-password-long-enough")
    servers = {
        "stripe": SimpleNamespace(url="http://127.0.0.1:12111"),
        "shopify": SimpleNamespace(url="http://127.0.0.1:12112"),
        "netsuite": SimpleNamespace(url=sandbox.url),
    }
    chart = sandbox.credentials.gl_mapping_ids()

    Command()._configure_demo(servers, "sk_test_demo", "shpat_demo", sandbox.credentials)
    Command()._configure_demo(servers, "sk_test_demo", "shpat_demo", sandbox.credentials)  # make run, again

    with tenant_context(tenant):
        mappings = list(
            GlMapping.objects.select_related("connection", "netsuite_connection").order_by("connection__name")
        )
        assert [(m.connection.name, m.netsuite_connection.name, m.subsidiary_id) for m in mappings] == [
            ("Shopify (sandbox)", "NetSuite (sandbox)", "1"),
            ("Stripe (sandbox)", "NetSuite (sandbox)", "1"),
        ]
        for mapping in mappings:
            assert (mapping.bank_account, mapping.clearing_account, mapping.processor_fees_account) == (
                chart["bank"],
                chart["clearing"],
                chart["processor_fees"],
            )
            assert mapping.currency_ids == sandbox.credentials.currency_ids()
            # checked against the sandbox it maps onto: the demo's entries name their accounts
            assert mapping.last_check["ok"] is True
            assert mapping.account_names()[chart["bank"]] == "1000 Operating Bank"
