from __future__ import annotations

import pytest


@pytest.fixture
def in_a(tenant_a, in_tenant):
    """The test body runs inside tenant A (rolled back afterwards, like every ``db`` test)."""
    with in_tenant(tenant_a.tenant):
        yield tenant_a


@pytest.fixture
def tenant_settings(tenant_a):
    """``tenant_settings(recon_amount_tolerance_minor=50)``: change tenant A's recon settings for this test."""
    from tenants.models import Tenant

    def change(**fields):
        Tenant.objects.filter(pk=tenant_a.tenant.pk).update(**fields)

    return change
