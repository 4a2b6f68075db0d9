"""Stripe orders stored before their refund status was derived from their refunds stay
``paid`` until a sync touches them again. This applies the sync's rule
(``canonical.upsert.refund_status_sql``) once to every stored Stripe order whose payments
have refunds: ``refunded``, ``partially_refunded``, or back to ``paid`` (``partially_captured``)
when the refunds failed.

Only ``financial_status`` is written, never ``content_hash``: the hash stays that of the
source object, as the sync's own update leaves it, so reconciliation's change capture records
nothing (no rule reads whether an order was refunded).

Row-level security hides every row unless the tenant id is set, so the tenant that owns the
schema being migrated is set for this transaction only. The reverse leaves the statuses as
they are: they are what the next sync would write anyway, and the code before the rule knew
every one of them (``refunded`` and ``partially_refunded`` are Shopify's too).
"""

from django.db import migrations

from canonical.upsert import REFUND_RULE_PARAMS, refund_status_sql
from ecomops.rls import migration_tenant

# Every stored order whose payments have a refund, of the sources whose orders take their
# status from their refunds (the rule checks the source and the status again). Read from the
# refunds, the smallest of the tables involved.
STORED_ORDERS_WITH_REFUNDS = """
    SELECT DISTINCT pm.connection_id, pm.order_source_id AS source_id
    FROM canonical_refund r
    JOIN canonical_payment pm
      ON pm.tenant_id = r.tenant_id AND pm.connection_id = r.connection_id AND pm.source_id = r.payment_source_id
    WHERE r.tenant_id = %(t)s AND r.source = ANY(%(sources)s) AND pm.order_source_id <> ''
"""

REPAIR = f"""
    UPDATE canonical_order o SET financial_status = d.status
    FROM ({refund_status_sql(STORED_ORDERS_WITH_REFUNDS)}) d
    WHERE o.tenant_id = %(t)s AND o.id = d.id
"""


def repair_refund_status(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        owner = migration_tenant(cursor)
        if owner is not None:
            cursor.execute(REPAIR, {"t": owner, **REFUND_RULE_PARAMS})


class Migration(migrations.Migration):
    dependencies = [
        ("canonical", "0004_stripe_authorized"),
    ]

    operations = [
        migrations.RunPython(repair_refund_status, reverse_code=migrations.RunPython.noop, elidable=True),
    ]
