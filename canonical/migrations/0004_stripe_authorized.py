"""Stripe PaymentIntents awaiting their capture (``requires_capture``) were stored as
``pending``, like one still waiting for a payment method. They are now ``authorized``, as
Shopify says of the same state; the PaymentIntent's own status is in ``raw_data``.

Row-level security hides every row unless the tenant id is set, so the statement sets it
(for this transaction only) from the tenant that owns the schema being migrated.
"""

from django.db import migrations

RELABEL = """
DO $$
DECLARE owner uuid;
BEGIN
    SELECT id INTO owner FROM public.tenants_tenant WHERE schema_name = current_schema();
    IF owner IS NOT NULL THEN
        PERFORM set_config('app.current_tenant_id', owner::text, true);
        UPDATE canonical_order SET financial_status = '{new}'
        WHERE tenant_id = owner AND source = 'stripe' AND financial_status = '{old}'
          AND raw_data->>'status' = 'requires_capture';
    END IF;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("canonical", "0003_stripe_partial_capture"),
    ]

    operations = [
        migrations.RunSQL(
            RELABEL.format(old="pending", new="authorized"),
            reverse_sql=RELABEL.format(old="authorized", new="pending"),
        ),
    ]
