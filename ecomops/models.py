"""The base of every tenant-schema model.

A model that stores tenant data subclasses ``TenantScopedModel``. That gives it a uuid
primary key (ids never repeat across tenants, so another tenant's id can only ever be a
404) and a ``tenant_id`` column filled from the tenant context. Row-level security is
installed on its table by the ``post_migrate`` hook in ``ecomops.apps`` for every concrete
subclass, so a new model cannot forget it; ``tests/test_rls_coverage.py`` checks every table
in a tenant schema.
"""

from __future__ import annotations

import uuid

from django.db import models

from ecomops.tenancy import current_tenant_id


class TenantScopedModel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant_id = models.UUIDField(default=current_tenant_id, editable=False)

    class Meta:
        abstract = True


def tenant_scoped_models() -> list[type[models.Model]]:
    """Every concrete, managed model that carries tenant data."""
    from django.apps import apps

    return [
        model
        for model in apps.get_models()
        if issubclass(model, TenantScopedModel) and model._meta.managed and not model._meta.proxy
    ]
