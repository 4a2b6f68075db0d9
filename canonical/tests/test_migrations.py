"""Data migrations of the canonical tables, run as a tenant schema's migration runs them."""

from __future__ import annotations

import importlib

from django.db import connection as db

from canonical.models import Order
from recon.tests.factories import connection, order_row, write

partial_capture = importlib.import_module("canonical.migrations.0003_stripe_partial_capture")
authorized = importlib.import_module("canonical.migrations.0004_stripe_authorized")


def _migrate(old: str, new: str, migration=partial_capture) -> None:
    with db.cursor() as cursor:
        # A migration runs with no tenant selected: row-level security then hides every row.
        cursor.execute("SELECT set_config('app.current_tenant_id', '', true)")
        cursor.execute(migration.RELABEL.format(old=old, new=new))


def test_stripe_partial_captures_are_relabelled_and_shopify_orders_kept(tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        write(connection(), order_row("pi_part", total=5000, financial_status="partially_paid"))
        shop = connection("shopify")
        write(shop, order_row("gid_more", total=5000, financial_status="partially_paid", source="shopify"))
        write(shop, order_row("gid_paid", total=5000, source="shopify"))

        _migrate("partially_paid", "partially_captured")
        after = dict(Order.objects.values_list("source_id", "financial_status"))

        _migrate("partially_captured", "partially_paid")  # the reverse migration
        reversed_ = dict(Order.objects.values_list("source_id", "financial_status"))

    assert after == {"pi_part": "partially_captured", "gid_more": "partially_paid", "gid_paid": "paid"}
    assert reversed_["pi_part"] == "partially_paid"


def test_stripe_payment_intents_awaiting_capture_become_authorized(tenant_a, in_tenant):
    from dataclasses import replace

    with in_tenant(tenant_a.tenant):
        conn = connection()
        waiting = order_row("pi_auth", total=5000, financial_status="pending")
        write(
            conn,
            replace(waiting, raw_data={"id": "pi_auth", "status": "requires_capture"}),
            replace(order_row("pi_3ds", total=5000, financial_status="pending"),
                    raw_data={"id": "pi_3ds", "status": "requires_action"}),
        )  # fmt: skip
        write(connection("shopify"), order_row("gid_pending", total=5000, financial_status="pending", source="shopify"))

        _migrate("pending", "authorized", authorized)
        after = dict(Order.objects.values_list("source_id", "financial_status"))

    assert after == {"pi_auth": "authorized", "pi_3ds": "pending", "gid_pending": "pending"}
