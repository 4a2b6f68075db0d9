"""Data migrations of the canonical tables, run as a tenant schema's migration runs them."""

from __future__ import annotations

import importlib

from django.db import connection as db

from audit.models import AuditEvent
from canonical.models import Order, Payment, PayoutLine, Refund
from recon.models import ReconChange, ReconException
from recon.tests.factories import (
    connection,
    line_row,
    order_row,
    payment_row,
    payout_row,
    reconcile,
    refund_row,
    write,
)

partial_capture = importlib.import_module("canonical.migrations.0003_stripe_partial_capture")
authorized = importlib.import_module("canonical.migrations.0004_stripe_authorized")
refund_status = "0005_stripe_refund_status"
test_orders_removed = "0006_remove_shopify_test_orders"


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


def _migrate_canonical_to(name: str) -> None:
    """``manage.py migrate canonical NAME`` in the current tenant's schema, inside the test's transaction."""
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(db)
    executor.loader.build_graph()
    executor.migrate([("canonical", name)])


def test_stripe_orders_stored_before_refunds_were_read_take_their_refund_status(tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        stripe, shop = connection(), connection("shopify")
        for n, refunded in (("full", 5000), ("part", 2000), ("kept", None)):
            write(
                stripe,
                order_row(f"pi_{n}", total=5000),
                payment_row(f"ch_{n}", order=f"pi_{n}", amount=5000),
                *([refund_row(f"re_{n}", payment=f"ch_{n}", amount=refunded)] if refunded else []),
            )
        write(
            shop,
            order_row("gid_1", total=5000, source="shopify"),  # says its own status, which the rule leaves
            payment_row("gid_t1", order="gid_1", amount=5000, source="shopify"),
            refund_row("gid_r1", payment="gid_t1", amount=5000, source="shopify"),
        )
        # as they were stored before the sync read refunds into the status
        Order.objects.update(financial_status="paid")
        hashes = dict(Order.objects.values_list("source_id", "content_hash"))
        ReconChange.objects.all().delete()
        _migrate_canonical_to("0004_stripe_authorized")  # back, as on a database not migrated yet

        _migrate_canonical_to(refund_status)
        after = dict(Order.objects.values_list("source_id", "financial_status"))
        recorded = ReconChange.objects.count()
        _migrate_canonical_to("0004_stripe_authorized")  # and back again: the statuses stay
        reversed_ = dict(Order.objects.values_list("source_id", "financial_status"))
        _migrate_canonical_to(refund_status)

        assert after == {"pi_full": "refunded", "pi_part": "partially_refunded", "pi_kept": "paid", "gid_1": "paid"}
        assert reversed_ == after
        assert dict(Order.objects.values_list("source_id", "financial_status")) == after
        assert dict(Order.objects.values_list("source_id", "content_hash")) == hashes
        assert recorded == 0  # reconciliation sees no change to re-evaluate


def _shopify_order(n: str, *, test: bool, refunded: int = 0) -> list:
    """A Shopify order paid in full (``gid_t<n>``), refunded in part if asked, as a sync stored it."""
    from dataclasses import replace

    order = order_row(f"gid_{n}", total=5000, source="shopify")
    rows = [
        replace(order, raw_data={**order.raw_data, "test": test}),
        payment_row(f"gid_t{n}", order=f"gid_{n}", amount=5000, source="shopify"),
    ]
    if refunded:
        refund = refund_row(f"gid_r{n}", payment=f"gid_t{n}", amount=refunded, source="shopify")
        rows.append(replace(refund, fields={**refund.fields, "order_source_id": f"gid_{n}"}))
    return rows


def test_stored_shopify_test_orders_go_with_their_payments_and_refunds_but_never_a_payout_line(tenant_a, in_tenant):
    from structlog.testing import capture_logs

    with in_tenant(tenant_a.tenant):
        shop, stripe = connection("shopify"), connection()
        write(shop, *_shopify_order("real", test=False, refunded=1000))
        write(shop, *_shopify_order("test", test=True, refunded=5000))  # waits in recon as unpaid
        # a test order whose payment a payout line stands for: the line stays, so the order does
        write(
            shop,
            *_shopify_order("paid_out", test=True),
            payout_row("gid_po", 5000, source="shopify"),
            line_row("gid_bt", payout="gid_po", amount=5000, object_id="gid_tpaid_out", source="shopify"),
        )
        # and one a line names by its order alone (an adjustment Shopify associates with it)
        write(
            shop,
            *_shopify_order("named", test=True),
            line_row("gid_adj", payout="gid_po", amount=-100, category="adjustment", order_id="gid_named",
                     source="shopify"),
        )  # fmt: skip
        write(stripe, order_row("pi_1", total=5000), payment_row("ch_1", order="pi_1", amount=5000))
        reconcile()
        unpaid = ReconException.objects.get(reason="order_unpaid", subject_ref="gid_test")
        lines = list(PayoutLine.objects.values_list("source_id", "payment_id", "content_hash"))
        _migrate_canonical_to(refund_status)  # back, as on a database not migrated yet

        with capture_logs() as logs:
            _migrate_canonical_to(test_orders_removed)
        reconcile()
        unpaid.refresh_from_db()
        real_unpaid = ReconException.objects.get(reason="order_unpaid", subject_ref="gid_real")
        orders = set(Order.objects.values_list("source_id", flat=True))
        payments = set(Payment.objects.values_list("source_id", flat=True))
        refunds = set(Refund.objects.values_list("source_id", flat=True))
        lines_after = list(PayoutLine.objects.values_list("source_id", "payment_id", "content_hash"))
        audited = list(AuditEvent.objects.filter(action="canonical.shopify_test_orders_removed"))

    assert orders == {"gid_real", "gid_paid_out", "gid_named", "pi_1"}
    assert payments == {"gid_treal", "gid_tpaid_out", "gid_tnamed", "ch_1"}
    assert refunds == {"gid_rreal"}
    assert lines_after == lines  # not one line gone, nor unlinked
    assert (unpaid.state, unpaid.resolved_by_kind) == ("resolved", "system")  # its cause is gone
    assert real_unpaid.state == "open"
    kept = [e for e in logs if e["event"] == "shopify_test_orders_kept_on_payout_lines"]
    assert [(e["log_level"], e["orders"]) for e in kept] == [("warning", ["gid_named", "gid_paid_out"])]
    assert [(e.actor_kind, e.detail["orders"], e.detail["kept_on_payout_lines"]) for e in audited] == [
        ("system", 1, ["gid_named", "gid_paid_out"])
    ]
