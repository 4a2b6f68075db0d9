"""Sandbox behaviour not covered through the client tests: stats, limits, storage, factory."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from ecomops.sandbox_http import SandboxServer
from netsuite.client import NetSuiteClient, NetSuiteError
from netsuite.sandbox import build_netsuite_sandbox
from netsuite.tests.test_client import payout_entry


def test_stats_endpoint_reports_netsuite_counters(sandbox) -> None:  # type: ignore[no-untyped-def]
    with sandbox.client() as client:
        client.get("account", "101")
        client.get("subsidiary", "2")
    stats = httpx.get(f"{sandbox.url}/__sandbox__/stats").json()
    assert stats["requests"] == 2
    assert stats["netsuite"]["calls"] == {"account.get": 1, "subsidiary.get": 1}
    assert stats["netsuite"]["max_in_flight"] == {sandbox.credentials.account_id: 1}
    assert httpx.delete(f"{sandbox.url}/__sandbox__/stats").json() == {"ok": True}
    assert httpx.get(f"{sandbox.url}/__sandbox__/stats").json()["netsuite"]["calls"] == {}


def test_netsuite_style_concurrency_limit_answers_429(sandbox_factory) -> None:  # type: ignore[no-untyped-def]
    box = sandbox_factory(concurrency_limit=1, service_time=0.2)
    auth = box.credentials.tba_auth()
    results: list[int] = []

    def call() -> None:
        with httpx.Client(auth=auth) as http:
            results.append(http.get(f"{box.url}/services/rest/record/v1/account/101").status_code)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 429, 429]
    assert box.app.stats()["concurrency_rejections"] == 2


def test_client_within_the_limit_is_never_refused(sandbox_factory) -> None:  # type: ignore[no-untyped-def]
    box = sandbox_factory(concurrency_limit=2, service_time=0.02)
    client = box.client(max_concurrency=2)
    with client:
        threads = [threading.Thread(target=lambda: [client.get("account", "101") for _ in range(5)]) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    stats = box.app.stats()
    assert stats["calls"]["account.get"] == 30
    assert stats["concurrency_rejections"] == 0
    assert stats["max_in_flight"][box.credentials.account_id] == 2


def test_latency_fault_delays_every_call(sandbox) -> None:  # type: ignore[no-untyped-def]
    httpx.post(f"{sandbox.url}/__sandbox__/faults", json={"kind": "latency", "delay_ms": 150}).raise_for_status()
    with sandbox.client() as client:
        started = time.monotonic()
        client.get("account", "101")
        client.get("account", "101")
    assert time.monotonic() - started >= 0.3


def test_reference_records_and_unknown_types(sandbox) -> None:  # type: ignore[no-untyped-def]
    with sandbox.client() as client:
        account = client.get("account", "110")
        currency = client.get("currency", "5")
        with pytest.raises(NetSuiteError) as caught:
            client.get("customer", "1")
    assert account["acctname"] == "Undeposited Funds - Payments Clearing"
    assert account["currency"]["refName"] == "USA"
    assert account["isinactive"] is False
    assert currency["symbol"] == "JPY"
    assert currency["currencyprecision"] == 0
    assert caught.value.status == 400


def test_store_on_disk_survives_a_restart(tmp_path: Path, oauth2_private_key: str) -> None:
    from joserfc.jwk import RSAKey

    db = str(tmp_path / "netsuite.sqlite3")
    public = RSAKey.import_key(RSAKey.import_key(oauth2_private_key).as_pem(private=False))
    ids = {"consumer_key": "ck", "consumer_secret": "cs", "token_id": "ti", "token_secret": "ts"}
    app, creds = build_netsuite_sandbox(db_path=db, oauth2_public_key=public, **ids)
    with SandboxServer(app) as server:
        client = NetSuiteClient(server.url, creds.account_id, creds.tba_auth())
        with client:
            entry = payout_entry(_Box(creds))
            first = client.upsert_by_external_id("journalentry", entry["externalId"], entry)
    app.store.close()
    app2, creds2 = build_netsuite_sandbox(db_path=db, oauth2_public_key=public, **ids)
    with SandboxServer(app2) as server, NetSuiteClient(server.url, creds2.account_id, creds2.tba_auth()) as client:
        again = client.upsert_by_external_id("journalentry", entry["externalId"], entry)
    assert again == first
    assert app2.store.count_journals() == 1
    app2.store.close()


def test_factory_generates_credentials_and_accepts_a_certificate() -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    generated = build_netsuite_sandbox()
    assert generated.credentials.private_key_pem
    assert "PRIVATE KEY" in generated.credentials.private_key_pem
    assert len(generated.credentials.consumer_secret) == 64
    assert "consumer_secret" not in repr(generated.credentials)

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ecomops")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    app, creds = build_netsuite_sandbox(
        oauth2_public_key=cert.public_bytes(serialization.Encoding.PEM), oauth2_certificate_id="cert-ec"
    )
    assert creds.private_key_pem is None
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    from netsuite.auth import ClientCredentialsAuth

    with SandboxServer(app) as server:
        auth = ClientCredentialsAuth.for_base_url(server.url, creds.client_id, "cert-ec", pem, algorithm="ES256")
        with NetSuiteClient(server.url, creds.account_id, auth) as client:
            assert client.get("subsidiary", "2")["name"] == "Europe B.V."
        auth.close()
    for built in (generated.app, app):
        built.store.close()


class _Box:
    """Just enough of the Sandbox fixture for payout_entry()."""

    def __init__(self, credentials) -> None:  # type: ignore[no-untyped-def]
        self.credentials = credentials
