"""A NetSuite Connection row as a client: both auth methods, the connection test, the limit."""

from __future__ import annotations

import threading

import pytest

from audit.models import AuditEvent
from connections.models import ConnectionStatus
from connections.providers import client_for
from connections.services import connection_create, connection_test
from netsuite.connection import ConnectionClient, netsuite_client, shared_client
from netsuite.slots import PostgresSlotProvider
from netsuite.tests.conftest import oauth2_credentials, tba_credentials


def netsuite_connection(sandbox, credentials, **extra):  # type: ignore[no-untyped-def]
    return connection_create(
        actor=None,
        name="NetSuite",
        provider="netsuite",
        base_url=sandbox.url,
        account_id=sandbox.credentials.account_id,
        credentials=credentials,
        **extra,
    )


@pytest.mark.parametrize("auth", ["tba", "oauth2"])
def test_connection_test_lists_subsidiaries(tenant_a, in_tenant, sandbox, auth) -> None:  # type: ignore[no-untyped-def]
    credentials = tba_credentials(sandbox) if auth == "tba" else oauth2_credentials(sandbox)
    with in_tenant(tenant_a.tenant):
        connection = netsuite_connection(sandbox, credentials)

        ok, message = connection_test(actor=tenant_a.admin, connection=connection)

        assert ok, message
        assert message == "Connected to NetSuite account 1234567_SB1: 2 subsidiaries (Parent Company, Europe B.V.)"
        connection.refresh_from_db()
        assert connection.status == ConnectionStatus.OK
        assert sandbox.app.stats()["calls"]["suiteql"] == 1


@pytest.mark.parametrize("auth", ["tba", "oauth2"])
def test_refused_credentials_mark_the_connection_broken(tenant_a, in_tenant, sandbox, auth) -> None:  # type: ignore[no-untyped-def]
    if auth == "tba":
        credentials = {**tba_credentials(sandbox), "token_secret": "0" * 64}
    else:
        from netsuite.sandbox.server import generate_rsa_private_key_pem

        credentials = {**oauth2_credentials(sandbox), "private_key": generate_rsa_private_key_pem()}
    with in_tenant(tenant_a.tenant):
        connection = netsuite_connection(sandbox, credentials)

        ok, message = connection_test(actor=tenant_a.admin, connection=connection)

        assert not ok
        assert "refused the credentials" in message
        connection.refresh_from_db()
        assert connection.status == ConnectionStatus.BROKEN
        for secret in credentials.values():
            if len(secret) > 12:
                assert secret[:40] not in message
        event = AuditEvent.objects.get(action="connection.tested", target_id=str(connection.pk))
        assert event.outcome == "failure"


def test_unreachable_netsuite_is_an_error_not_broken(tenant_a, in_tenant, sandbox) -> None:  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with in_tenant(tenant_a.tenant):
        connection = netsuite_connection(sandbox, tba_credentials(sandbox))
        connection.base_url = f"http://127.0.0.1:{port}"
        connection.save(update_fields=["base_url"])

        ok, message = connection_test(actor=None, connection=connection)

        assert not ok
        assert "Could not reach NetSuite" in message
        connection.refresh_from_db()
        assert connection.status == ConnectionStatus.ERROR


def test_client_for_builds_a_limited_client_on_the_database_slots(tenant_a, in_tenant, sandbox) -> None:  # type: ignore[no-untyped-def]
    with in_tenant(tenant_a.tenant):
        connection = netsuite_connection(sandbox, tba_credentials(sandbox), netsuite_concurrency=3)

        client = client_for(connection)

        assert isinstance(client, ConnectionClient)
        assert client.max_concurrency == 3
        assert isinstance(client.slots, PostgresSlotProvider)
        assert client.base_url == sandbox.url
        assert shared_client(connection) is shared_client(connection)  # one per process and connection


def test_connection_limit_holds_across_clients_and_threads(tenant_a, in_tenant, sandbox_factory) -> None:  # type: ignore[no-untyped-def]
    sandbox = sandbox_factory(service_time=0.03)
    with in_tenant(tenant_a.tenant):
        connection = netsuite_connection(sandbox, tba_credentials(sandbox), netsuite_concurrency=2)
        clients = [netsuite_client(connection), netsuite_client(connection)]  # e.g. two worker processes
    errors: list[BaseException] = []

    def hammer(client: ConnectionClient) -> None:
        try:
            for _ in range(4):
                client.get("account", "101")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(clients[n % 2],)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    stats = sandbox.app.stats()
    assert stats["calls"]["account.get"] == 24
    assert stats["max_in_flight"][sandbox.credentials.account_id] == 2


def test_credentials_change_gives_a_new_shared_client(tenant_a, in_tenant, sandbox) -> None:  # type: ignore[no-untyped-def]
    from connections.services import connection_update

    with in_tenant(tenant_a.tenant):
        connection = netsuite_connection(sandbox, oauth2_credentials(sandbox))
        before = shared_client(connection)
        connection = connection_update(actor=None, connection=connection, credentials=tba_credentials(sandbox))

        after = shared_client(connection)

        assert after is not before
        assert after.suiteql("SELECT id FROM subsidiary ORDER BY id").all() == [{"id": "1"}, {"id": "2"}]


# A syntactically PEM-shaped key whose content is not a key: what a truncated paste looks like.
BROKEN_PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"


@pytest.mark.parametrize(
    ("settings", "field", "words"),
    [
        ({"account_id": ""}, "account_id", "needs an account id"),
        ({"account_id": "123 4567"}, "account_id", "letters, digits and underscores"),
        ({"private_key": "not a pem"}, "credentials", "private_key is not a PEM"),
        ({"private_key": BROKEN_PEM}, "credentials", "private_key is not a PEM"),
    ],
)
def test_netsuite_connection_settings_that_cannot_work_are_refused(  # type: ignore[no-untyped-def]
    tenant_a, in_tenant, sandbox, settings, field, words
) -> None:
    from connections.models import Connection
    from tenants.services import ServiceError

    credentials = {**oauth2_credentials(sandbox), **{k: v for k, v in settings.items() if k == "private_key"}}
    account_id = settings.get("account_id", sandbox.credentials.account_id)
    with in_tenant(tenant_a.tenant):
        with pytest.raises(ServiceError) as refused:
            connection_create(
                actor=None,
                name="NetSuite",
                provider="netsuite",
                base_url="" if "account_id" in settings else sandbox.url,
                account_id=account_id,
                credentials=credentials,
            )

        assert (refused.value.field, refused.value.code) == (field, "invalid")
        assert words in str(refused.value)
        assert "MIIEvQ" not in str(refused.value)  # the key material is never echoed
        assert not Connection.objects.filter(provider="netsuite").exists()


def test_an_update_cannot_break_a_netsuite_connection(tenant_a, in_tenant, sandbox) -> None:  # type: ignore[no-untyped-def]
    from connections.services import connection_update
    from tenants.services import ServiceError

    with in_tenant(tenant_a.tenant):
        connection = netsuite_connection(sandbox, oauth2_credentials(sandbox))

        with pytest.raises(ServiceError) as bad_key:
            connection_update(actor=None, connection=connection, credentials={"private_key": BROKEN_PEM})
        with pytest.raises(ServiceError) as no_account:
            connection_update(actor=None, connection=connection, account_id="")

        assert bad_key.value.field == "credentials"
        assert no_account.value.field == "account_id"
        connection.refresh_from_db()
        assert connection.account_id == sandbox.credentials.account_id
        assert connection.credentials["private_key"] == sandbox.credentials.private_key_pem.strip()
        assert connection_update(actor=None, connection=connection, name="NetSuite EU").name == "NetSuite EU"


def test_api_refuses_an_unloadable_private_key_without_echoing_it(api_as, tenant_a, in_tenant, sandbox) -> None:  # type: ignore[no-untyped-def]
    from connections.models import Connection

    body = {
        "name": "NetSuite",
        "provider": "netsuite",
        "base_url": sandbox.url,
        "account_id": sandbox.credentials.account_id,
        "credentials": {**oauth2_credentials(sandbox), "private_key": BROKEN_PEM},
    }

    response = api_as(tenant_a.admin, tenant_a.tenant).post("/api/v1/connections/", body, format="json")

    assert response.status_code == 400
    assert "private_key is not a PEM" in response.json()["credentials"][0]
    assert "MIIEvQ" not in response.content.decode()
    with in_tenant(tenant_a.tenant):
        assert not Connection.objects.filter(provider="netsuite").exists()
