"""Change capture triggers: installed after every migrate by ``recon.apps`` (like RLS), and
removed here when recon's migrations are reversed, so canonical writes never hit a dropped table."""

from django.db import migrations


def install(apps, schema_editor):
    from recon.changes import install_change_capture

    install_change_capture()


def drop(apps, schema_editor):
    from recon.changes import drop_change_capture

    drop_change_capture()


class Migration(migrations.Migration):
    dependencies = [("recon", "0001_initial")]

    operations = [migrations.RunPython(install, drop, elidable=False)]
