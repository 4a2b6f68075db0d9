from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _install_change_capture_after_migrate(sender, using="default", **kwargs):
    """After every migrate of a tenant schema, (re)install the change-capture triggers.

    Like row-level security (``ecomops.apps``): django-tenants migrates schema by schema and
    this runs at the end of each, so every tenant, new or old, has them.
    """
    from django.db import connection
    from django_tenants.utils import get_public_schema_name

    from recon.changes import install_change_capture

    if connection.schema_name == get_public_schema_name():
        return
    install_change_capture()


class ReconConfig(AppConfig):
    name = "recon"
    verbose_name = "Reconciliation"

    def ready(self) -> None:
        post_migrate.connect(
            _install_change_capture_after_migrate, sender=self, dispatch_uid="recon.install_change_capture"
        )
