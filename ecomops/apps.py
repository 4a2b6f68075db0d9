from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _install_rls_after_migrate(sender, using="default", **kwargs):
    """After every migrate of a tenant schema, put RLS on every TenantScopedModel table.

    django-tenants runs ``migrate`` once per schema; this runs at the end of each, so a table
    added by any migration of any tenant app gets its policy before the command returns.
    """
    from django.db import connection
    from django_tenants.utils import get_public_schema_name

    from ecomops.models import tenant_scoped_models
    from ecomops.rls import install_row_level_security

    if connection.schema_name == get_public_schema_name():
        return
    install_row_level_security(tenant_scoped_models())


class EcomopsConfig(AppConfig):
    name = "ecomops"
    verbose_name = "EcomOps platform"

    def ready(self) -> None:
        # sender=self: once per migrate run, not once per installed app.
        post_migrate.connect(_install_rls_after_migrate, sender=self, dispatch_uid="ecomops.install_rls")
