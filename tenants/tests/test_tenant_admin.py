"""The platform admin's tenant form: reconciliation settings are range-checked and audited as in the API."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditEvent
from conftest import PASSWORD
from ecomops.tenancy import tenant_context
from tenants.models import Tenant, User


@pytest.fixture
def staff(tenant_a) -> Client:
    User.objects.create_superuser(email="ops@ecomops.example.com", password=PASSWORD)
    client = Client()
    response = client.post("/login/", {"email": "ops@ecomops.example.com", "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def _change_url(tenant: Tenant) -> str:
    return f"/admin/tenants/tenant/{tenant.pk}/change/"


def _form_data(client: Client, tenant: Tenant, **changes) -> dict:
    """What the change form would post unedited (its fields and inline formsets), plus ``changes``."""
    page = client.get(_change_url(tenant))
    assert page.status_code == 200
    form = page.context["adminform"].form
    data: dict = {}

    def put(key: str, field, value) -> None:
        if value is None or value is False:
            return
        if hasattr(field.widget, "decompress"):  # a split date and time: one input per part
            for n, part in enumerate(field.widget.decompress(value)):
                data[f"{key}_{n}"] = part
        else:
            data[key] = "on" if value is True else getattr(value, "pk", value)

    for name, field in form.fields.items():
        put(name, field, form.initial.get(name, field.initial))
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update({f"{formset.prefix}-{k}": v for k, v in formset.management_form.initial.items()})
        for sub in formset.forms:
            for name, field in sub.fields.items():
                put(f"{sub.prefix}-{name}", field, sub.initial.get(name, field.initial))
    data.update(changes)
    return data


def _update_events(tenant: Tenant) -> list[AuditEvent]:
    with tenant_context(tenant):
        return list(AuditEvent.objects.filter(action="tenant.updated"))


def test_an_out_of_range_setting_is_refused_and_nothing_changes(staff, tenant_a):
    tenant = tenant_a.tenant

    response = staff.post(
        _change_url(tenant),
        _form_data(staff, tenant, name="Renamed", recon_freshness_hours=0, recon_unpaid_grace_days=400),
    )

    assert response.status_code == 200  # the form again, with its errors
    errors = response.context["adminform"].form.errors
    assert "greater than or equal to 1" in errors["recon_freshness_hours"][0]
    assert "less than or equal to 365" in errors["recon_unpaid_grace_days"][0]
    stored = Tenant.objects.get(pk=tenant.pk)
    assert (stored.name, stored.recon_freshness_hours, stored.recon_unpaid_grace_days) == ("Acme Ltd", 24, 7)
    assert _update_events(tenant) == []


def test_a_change_is_saved_and_audited_with_old_and_new_values(staff, tenant_a):
    tenant = tenant_a.tenant

    response = staff.post(
        _change_url(tenant), _form_data(staff, tenant, recon_amount_tolerance_minor=25, recon_freshness_hours=48)
    )

    assert response.status_code == 302, [f.formset.errors for f in response.context["inline_admin_formsets"]]
    stored = Tenant.objects.get(pk=tenant.pk)
    assert (stored.name, stored.recon_amount_tolerance_minor, stored.recon_freshness_hours) == ("Acme Ltd", 25, 48)
    [event] = _update_events(tenant)
    assert event.actor_email == "ops@ecomops.example.com"
    assert event.detail == {"recon_amount_tolerance_minor": [0, 25], "recon_freshness_hours": [24, 48]}


def test_other_fields_still_save_without_an_update_event(staff, tenant_a):
    tenant = tenant_a.tenant

    response = staff.post(_change_url(tenant), _form_data(staff, tenant, is_active=""))

    assert response.status_code == 302
    assert Tenant.objects.get(pk=tenant.pk).is_active is False
    assert _update_events(tenant) == []
