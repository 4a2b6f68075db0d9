from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles_after_migrate(sender, **kwargs):
    from django.contrib.auth.management import create_permissions
    from django.db import connection
    from django_tenants.utils import get_public_schema_name

    if connection.schema_name != get_public_schema_name():
        return  # groups and permissions live in the public schema
    from tenants.roles import sync_roles

    # This receiver was connected before django.contrib.auth's (tenants comes first in
    # INSTALLED_APPS), so the last app's own permissions would not exist yet: a model of
    # that app would reach no role until the next migrate. Creating them is idempotent.
    create_permissions(sender, verbosity=0, **{name: kwargs[name] for name in ("using", "apps") if name in kwargs})
    sync_roles()


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants, users and plans"

    def ready(self) -> None:
        # Connected for the last installed app so every app's permissions exist by then.
        from django.apps import apps

        from tenants import schema  # noqa: F401 - registers the OpenAPI auth extension

        last_app = list(apps.get_app_configs())[-1]
        post_migrate.connect(_sync_roles_after_migrate, sender=last_app, dispatch_uid="tenants.sync_roles")
