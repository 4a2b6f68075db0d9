from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0004_recon_settings"),
    ]

    operations = [
        migrations.AddField(
            model_name="tenant",
            name="posting_mode",
            field=models.CharField(
                choices=[("auto", "Automatically"), ("approval", "After approval")],
                default="approval",
                help_text="Post reconciled payouts to NetSuite automatically, or after approval.",
                max_length=16,
            ),
        ),
    ]
