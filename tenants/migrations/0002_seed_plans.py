from django.db import migrations


def seed_plans(apps, schema_editor):  # noqa: ANN001, ANN201
    from tenants.entitlements import DEFAULT_PLANS

    Plan = apps.get_model("tenants", "Plan")
    for plan in DEFAULT_PLANS:
        Plan.objects.update_or_create(code=plan["code"], defaults=plan)


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]
    operations = [migrations.RunPython(seed_plans, migrations.RunPython.noop)]
