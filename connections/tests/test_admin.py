"""The console's connection pages write through the services: validated, audited, never unmasked."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import signed_in
from connections.models import Connection
from tenants.models import WebhookRoute

STRIPE_KEY = "sk_live_AdminFormStoredKey_1f2e"
TBA = {"consumer_key": "ck-one", "consumer_secret": "cs-one", "token_id": "ti-one", "token_secret": "ts-one"}
BROKEN_PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"


def _url(connection: Connection, view: str = "change") -> str:
    return f"/admin/connections/connection/{connection.pk}/{view}/"


def _form(connection: Connection, **changes: Any) -> dict[str, Any]:
    """The change form as the browser posts it: every setting as stored, credentials blank."""
    data = {
        "name": connection.name,
        "enabled": "on" if connection.enabled else "",
        "base_url": connection.base_url,
        "account_id": connection.account_id,
        "backfill_start": connection.backfill_start or "",
        "subsidiary_id": connection.subsidiary_id,
        "netsuite_concurrency": connection.netsuite_concurrency,
    }
    data.update(changes)
    return data


@pytest.fixture
def stripe(tenant_a, in_tenant) -> Connection:
    from connections.services import connection_create

    with in_tenant(tenant_a.tenant):
        return connection_create(
            actor=tenant_a.owner,
            name="Stripe EU",
            provider="stripe",
            credentials={"api_key": STRIPE_KEY, "webhook_secret": "whsec_admin_form_0042"},
            base_url="http://127.0.0.1:9",
        )


@pytest.fixture
def netsuite(tenant_a, in_tenant) -> Connection:
    from connections.services import connection_create

    with in_tenant(tenant_a.tenant):
        return connection_create(
            actor=tenant_a.owner, name="NetSuite", provider="netsuite", credentials=TBA, account_id="1234567"
        )


def _updates(in_tenant, tenant) -> list:
    from audit.models import AuditEvent

    with in_tenant(tenant):
        return list(AuditEvent.objects.filter(action="connection.updated"))


def test_admin_edit_goes_through_the_service_and_is_audited(tenant_a, in_tenant, stripe) -> None:
    client = signed_in("admin@acme.example.com")

    untouched = client.post(_url(stripe), _form(stripe))  # "Save" with nothing changed writes nothing
    response = client.post(_url(stripe), _form(stripe, name="Stripe Europe"))

    assert (untouched.status_code, response.status_code) == (302, 302)
    (event,) = _updates(in_tenant, tenant_a.tenant)
    assert event.actor_email == "admin@acme.example.com"
    assert event.detail["fields"] == ["name"]  # only what the form changed
    with in_tenant(tenant_a.tenant):
        assert Connection.objects.get(pk=stripe.pk).name == "Stripe Europe"


def test_admin_edit_is_refused_by_the_services_netsuite_key_check(tenant_a, in_tenant, netsuite) -> None:
    client = signed_in("admin@acme.example.com")

    response = client.post(
        _url(netsuite),
        _form(netsuite, new_client_id="client", new_certificate_id="cert", new_private_key=BROKEN_PEM),
    )

    assert response.status_code == 200  # the form again, with the service's refusal
    page = response.content.decode()
    assert "The private_key is not a PEM-encoded RSA private key" in page
    assert "MIIEvQ" not in page  # the key typed in is not echoed back
    assert _updates(in_tenant, tenant_a.tenant) == []
    with in_tenant(tenant_a.tenant):
        assert "private_key" not in Connection.objects.get(pk=netsuite.pk).credentials


def test_admin_refuses_a_new_base_url_without_the_credentials(tenant_a, in_tenant, stripe) -> None:
    client = signed_in("admin@acme.example.com")

    refused = client.post(_url(stripe), _form(stripe, base_url="https://collector.example.net"))
    accepted = client.post(
        _url(stripe), _form(stripe, base_url="https://api.stripe.com", new_api_key="sk_live_retyped_for_new_host")
    )

    assert refused.status_code == 200
    assert "re-enter the credentials to send them to a new address" in refused.content.decode()
    assert accepted.status_code == 302
    with in_tenant(tenant_a.tenant):
        saved = Connection.objects.get(pk=stripe.pk)
    assert saved.base_url == "https://api.stripe.com"
    # the key is the one typed in; the webhook secret, never sent anywhere, stays
    assert saved.credentials == {"api_key": "sk_live_retyped_for_new_host", "webhook_secret": "whsec_admin_form_0042"}
    (event,) = _updates(in_tenant, tenant_a.tenant)
    assert event.detail["address_changed"] == ["base_url"]


def test_admin_refuses_a_new_shopify_shop_without_the_credentials(tenant_a, in_tenant) -> None:
    from connections.services import connection_create

    with in_tenant(tenant_a.tenant):
        shop = connection_create(
            actor=None,
            name="Shop",
            provider="shopify",
            credentials={"access_token": "shpat_stored_0000000000"},
            account_id="acme.myshopify.com",
        )
    client = signed_in("admin@acme.example.com")

    response = client.post(_url(shop), _form(shop, account_id="collector.example.net"))

    assert response.status_code == 200
    assert "Changing account_id" in response.content.decode()
    with in_tenant(tenant_a.tenant):
        assert Connection.objects.get(pk=shop.pk).account_id == "acme.myshopify.com"


def test_admin_change_form_never_shows_a_credential(stripe) -> None:
    page = signed_in("admin@acme.example.com").get(_url(stripe)).content.decode()
    read_only = signed_in("viewer@acme.example.com").get(_url(stripe))

    assert "AdminFormStoredKey" not in page
    assert "api_key: ****1f2e" in page
    assert 'name="new_api_key"' in page  # write-only input, empty
    assert 'name="new_access_token"' not in page  # another provider's credential
    assert read_only.status_code == 200
    assert "AdminFormStoredKey" not in read_only.content.decode()
    assert "api_key: ****1f2e" in read_only.content.decode()


def test_admin_delete_removes_the_webhook_route_and_is_audited(tenant_a, in_tenant, stripe) -> None:
    from audit.models import AuditEvent

    client = signed_in("admin@acme.example.com")

    response = client.post(_url(stripe, "delete"), {"post": "yes"})

    assert response.status_code == 302
    assert not WebhookRoute.objects.filter(connection_id=stripe.pk).exists()
    with in_tenant(tenant_a.tenant):
        assert not Connection.objects.filter(pk=stripe.pk).exists()
        assert AuditEvent.objects.get(action="connection.deleted").target_id == str(stripe.pk)


def test_admin_bulk_delete_goes_through_the_service(tenant_a, in_tenant, stripe, netsuite) -> None:
    from audit.models import AuditEvent

    client = signed_in("admin@acme.example.com")

    response = client.post(
        "/admin/connections/connection/",
        {"action": "delete_selected", "_selected_action": [str(stripe.pk), str(netsuite.pk)], "post": "yes"},
    )

    assert response.status_code == 302
    assert not WebhookRoute.objects.filter(connection_id__in=[stripe.pk, netsuite.pk]).exists()
    with in_tenant(tenant_a.tenant):
        assert AuditEvent.objects.filter(action="connection.deleted").count() == 2


def test_admin_delete_refused_by_the_service_is_a_message(tenant_a, in_tenant, stripe, monkeypatch) -> None:
    from tenants.services import ServiceError

    def refuse(**_kwargs: Any) -> None:
        raise ServiceError("This connection has synced data; disable it instead of deleting it.", code="has_data")

    monkeypatch.setattr("connections.admin.connection_delete", refuse)
    client = signed_in("admin@acme.example.com")

    response = client.post(_url(stripe, "delete"), {"post": "yes"}, follow=True)

    assert response.status_code == 200
    assert "disable it instead of deleting it" in response.content.decode()
    assert WebhookRoute.objects.filter(connection_id=stripe.pk).exists()
    with in_tenant(tenant_a.tenant):
        assert Connection.objects.filter(pk=stripe.pk).exists()
