"""Shopify test orders (``test: true``: Shopify Payments in test mode, the Bogus gateway) are
no longer booked by the sync (``connections.shopify.normalize.is_test``), but those stored
before are still here, each waiting in reconciliation as an unpaid order. This removes them
with their payments and refunds, in each tenant schema.

A stored order is told a test one by its source object, kept in ``raw_data`` as the sync read
it (the queries have asked for ``test`` from the start). A payout line never disappears nor
changes: a test order that any payout line names (its order, one of its payments or refunds,
by source id or by link) is kept whole, and named in a warning, for a person to look at.
Disputes are left alone: the sync still writes a test order's dispute, so removing it here
would only bring it back. What was removed and kept is recorded in the tenant's audit log
(``canonical.shopify_test_orders_removed``) and in the log.

Reconciliation's change capture records the deleted rows, so its next run re-evaluates them
(an open "unpaid order" exception of a removed order resolves as its cause is gone). Row-level
security hides every row unless the tenant id is set: it is set, for this transaction only,
to the tenant that owns the schema being migrated. The reverse restores nothing: a sync would
not write these rows again either.
"""

import structlog
from django.db import migrations

from ecomops.rls import migration_tenant

logger = structlog.get_logger(__name__)

# One statement: what is a test order and what depends on it, which of them a payout line
# names, then the deletes of the rest (each data-modifying step sees the rows as they were
# before the statement, so the order of the steps does not matter).
REMOVE_TEST_ORDERS = """
    WITH test_order AS (
        SELECT o.id, o.connection_id, o.source_id FROM canonical_order o
        WHERE o.tenant_id = %(t)s AND o.source = 'shopify' AND o.raw_data -> 'test' = 'true'::jsonb
    ),
    test_payment AS (
        SELECT o.id AS order_id, pm.id, pm.source_id
        FROM test_order o
        JOIN canonical_payment pm
          ON pm.tenant_id = %(t)s AND pm.connection_id = o.connection_id AND pm.order_source_id = o.source_id
    ),
    test_refund AS (
        SELECT DISTINCT o.id AS order_id, r.id, r.source_id
        FROM test_order o
        JOIN canonical_refund r ON r.tenant_id = %(t)s AND r.connection_id = o.connection_id
        LEFT JOIN test_payment p ON p.order_id = o.id AND p.source_id = r.payment_source_id
        WHERE r.order_source_id = o.source_id OR p.id IS NOT NULL
    ),
    named AS (  -- every id a payout line could name a test order by
        SELECT id AS order_id, id AS row_id, source_id FROM test_order
        UNION ALL SELECT order_id, id, source_id FROM test_payment
        UNION ALL SELECT order_id, id, source_id FROM test_refund
    ),
    on_a_line AS (  -- by the object a line stands for (indexed), its order, its links (one hashed pass each)
        SELECT n.order_id FROM named n
        WHERE EXISTS (
            SELECT 1 FROM canonical_payoutline l
            WHERE l.tenant_id = %(t)s AND l.source_object_id = n.source_id
        )
        UNION
        SELECT n.order_id FROM named n JOIN canonical_payoutline l
          ON l.tenant_id = %(t)s AND l.source_order_id = n.source_id
        UNION
        SELECT n.order_id FROM named n JOIN canonical_payoutline l ON l.tenant_id = %(t)s AND l.payment_id = n.row_id
        UNION
        SELECT n.order_id FROM named n JOIN canonical_payoutline l ON l.tenant_id = %(t)s AND l.refund_id = n.row_id
    ),
    removed_refunds AS (
        DELETE FROM canonical_refund r USING test_refund x
        WHERE r.tenant_id = %(t)s AND r.id = x.id AND x.order_id NOT IN (SELECT order_id FROM on_a_line)
        RETURNING r.id
    ),
    removed_payments AS (
        DELETE FROM canonical_payment pm USING test_payment x
        WHERE pm.tenant_id = %(t)s AND pm.id = x.id AND x.order_id NOT IN (SELECT order_id FROM on_a_line)
        RETURNING pm.id
    ),
    removed_orders AS (
        DELETE FROM canonical_order o USING test_order x
        WHERE o.tenant_id = %(t)s AND o.id = x.id AND x.id NOT IN (SELECT order_id FROM on_a_line)
        RETURNING o.id
    )
    SELECT (SELECT COUNT(*) FROM removed_orders),
           (SELECT COUNT(*) FROM removed_payments),
           (SELECT COUNT(*) FROM removed_refunds),
           ARRAY(SELECT o.source_id FROM test_order o JOIN on_a_line k ON k.order_id = o.id ORDER BY o.source_id)
"""


def remove_test_orders(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        owner = migration_tenant(cursor)
        if owner is None:
            return
        cursor.execute(REMOVE_TEST_ORDERS, {"t": owner})
        orders, payments, refunds, kept = cursor.fetchone()
        if orders or kept:  # in the tenant's audit log too, where its people look for what changed
            apps.get_model("audit", "AuditEvent").objects.create(
                tenant_id=owner,
                action="canonical.shopify_test_orders_removed",
                actor_kind="system",
                target_type="canonical.order",
                detail={
                    "orders": orders,
                    "payments": payments,
                    "refunds": refunds,
                    "kept_on_payout_lines": kept,
                    "why": "Shopify test orders move no money and are no longer synced",
                },
            )
    if orders or kept:
        logger.info("shopify_test_orders_removed", orders=orders, payments=payments, refunds=refunds, tenant_id=owner)
    if kept:
        logger.warning(
            "shopify_test_orders_kept_on_payout_lines",
            orders=kept,
            tenant_id=owner,
            why="a payout line names them; a line never disappears, so they are left for a person to look at",
        )


class Migration(migrations.Migration):
    dependencies = [
        ("canonical", "0005_stripe_refund_status"),
        ("audit", "0003_target_index"),
    ]

    operations = [
        migrations.RunPython(remove_test_orders, reverse_code=migrations.RunPython.noop, elidable=True),
    ]
