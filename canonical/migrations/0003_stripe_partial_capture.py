"""Stripe orders captured in part were stored as ``partially_paid``, a status that on a
Shopify order means more is to come. They are now ``partially_captured`` (final), so that
reconciliation can tell the two apart by status alone.

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
        WHERE tenant_id = owner AND source = 'stripe' AND financial_status = '{old}';
    END IF;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("canonical", "0002_drop_unused_fk_indexes"),
    ]

    operations = [
        migrations.RunSQL(
            RELABEL.format(old="partially_paid", new="partially_captured"),
            reverse_sql=RELABEL.format(old="partially_captured", new="partially_paid"),
        ),
    ]
