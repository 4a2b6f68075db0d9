"""connection_update: stored credentials never follow a change of the address they are sent to."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connections.models import Connection
from tenants.services import ServiceError

STRIPE_KEY = "sk_live_StoredKeyNobodyMayRead_7a6b"
TBA = {"consumer_key": "ck-old", "consumer_secret": "cs-old", "token_id": "ti-old", "token_secret": "ts-old"}


class CaptureServer:
    """A server on loopback that answers every request and keeps what it was sent."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        captured = self.received

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                captured.append(str(self.headers).encode() + self.rfile.read(length))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:  # keep the test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> CaptureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    with CaptureServer() as server:
        yield server


def _stripe(**overrides: object) -> Connection:
    from connections.services import connection_create

    values = {
        "actor": None,
        "name": "Stripe",
        "provider": "stripe",
        "credentials": {"api_key": STRIPE_KEY, "webhook_secret": "whsec_stored_value_42"},
        "base_url": "http://127.0.0.1:9",  # discard: nothing answers there
    }
    values.update(overrides)
    return connection_create(**values)


def test_connection_update_refuses_a_new_base_url_without_credentials(tenant_a, in_tenant) -> None:
    from connections.services import connection_update

    with in_tenant(tenant_a.tenant):
        connection = _stripe()

        with pytest.raises(ServiceError) as refused:
            connection_update(actor=None, connection=connection, base_url="https://collector.example.net")

        assert refused.value.field == "base_url"
        assert "re-enter the credentials" in str(refused.value)
        connection.refresh_from_db()
        assert connection.base_url == "http://127.0.0.1:9"
        # the same base_url sent back (a form or a PATCH that repeats it) moves nothing
        kept = connection_update(actor=None, connection=connection, base_url="http://127.0.0.1:9", name="Renamed")
        assert (kept.name, kept.credentials["api_key"]) == ("Renamed", STRIPE_KEY)


def test_connection_update_takes_a_new_base_url_with_a_whole_new_set_of_credentials(tenant_a, in_tenant) -> None:
    from audit.models import AuditEvent
    from connections.services import connection_update

    with in_tenant(tenant_a.tenant):
        connection = _stripe()

        updated = connection_update(
            actor=None, connection=connection, base_url="https://api.stripe.com", credentials={"api_key": "sk_new_1"}
        )

        # nothing that is sent out is carried over to the new address; the webhook secret, which
        # only checks what arrives, stays
        assert updated.credentials == {"api_key": "sk_new_1", "webhook_secret": "whsec_stored_value_42"}
        assert updated.base_url == "https://api.stripe.com"
        assert updated.status == "untested"
        event = AuditEvent.objects.get(action="connection.updated")
        assert event.detail["address_changed"] == ["base_url"]


def test_connection_update_refuses_a_partial_set_for_a_new_address(tenant_a, in_tenant) -> None:
    from connections.services import connection_update

    with in_tenant(tenant_a.tenant):
        connection = _stripe()

        with pytest.raises(ServiceError) as refused:
            connection_update(
                actor=None,
                connection=connection,
                base_url="https://collector.example.net",
                credentials={"webhook_secret": "whsec_new"},  # the stored api_key would go along
            )

        assert refused.value.field == "credentials"
        connection.refresh_from_db()
        assert connection.credentials["api_key"] == STRIPE_KEY


@pytest.mark.parametrize("field", ["account_id", "base_url"])
def test_connection_update_refuses_a_new_shopify_shop_without_credentials(tenant_a, in_tenant, field) -> None:
    from connections.services import connection_create, connection_update

    with in_tenant(tenant_a.tenant):
        connection = connection_create(
            actor=None,
            name="Shop",
            provider="shopify",
            credentials={"access_token": "shpat_stored_token_0000"},
            account_id="acme.myshopify.com",
        )
        new_value = {"account_id": "collector.example.net", "base_url": "http://127.0.0.1:8"}[field]

        with pytest.raises(ServiceError) as refused:
            connection_update(actor=None, connection=connection, **{field: new_value})

        assert refused.value.field == field


@pytest.mark.parametrize(
    "change", [{"account_id": "7654321"}, {"base_url": "https://collector.example.net/services/rest"}]
)
def test_connection_update_refuses_a_new_netsuite_address_without_credentials(tenant_a, in_tenant, change) -> None:
    from connections.services import connection_create, connection_update

    with in_tenant(tenant_a.tenant):
        connection = connection_create(
            actor=None, name="NetSuite", provider="netsuite", credentials=TBA, account_id="1234567"
        )

        with pytest.raises(ServiceError) as refused:
            connection_update(actor=None, connection=connection, **change)
        accepted = connection_update(
            actor=None, connection=connection, credentials={**TBA, "token_secret": "ts-new"}, **change
        )

        assert refused.value.field == next(iter(change))
        assert accepted.credentials["token_secret"] == "ts-new"


def test_a_refused_base_url_change_never_sends_the_key_there(api_as, tenant_a, in_tenant, capture) -> None:
    with in_tenant(tenant_a.tenant):
        connection = _stripe()
    client = api_as(tenant_a.admin, tenant_a.tenant)

    patched = client.patch(f"/api/v1/connections/{connection.pk}/", {"base_url": capture.url}, format="json")
    client.post(f"/api/v1/connections/{connection.pk}/test/")
    client.post(f"/api/v1/connections/{connection.pk}/sync/")

    assert not any(STRIPE_KEY.encode() in request for request in capture.received)
    assert patched.status_code == 400, patched.content
    assert "base_url" in patched.json()


@pytest.mark.parametrize(
    ("change", "field"), [({"name": "  "}, "name"), ({"netsuite_concurrency": 50}, "netsuite_concurrency")]
)
def test_connection_update_checks_what_connection_create_checks(tenant_a, in_tenant, change, field) -> None:
    from connections.services import connection_update

    with in_tenant(tenant_a.tenant):
        connection = _stripe()

        with pytest.raises(ServiceError) as refused:
            connection_update(actor=None, connection=connection, **change)

        assert refused.value.field == field
