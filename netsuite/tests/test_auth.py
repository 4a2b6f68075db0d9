"""TBA signing (Oracle's vector, byte for byte), TBA end to end, OAuth 2.0 client credentials."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from netsuite.auth import (
    TOKEN_PATH,
    ClientCredentialsAuth,
    TbaCredentials,
    TokenBasedAuth,
    netsuite_base_url,
    netsuite_host,
    sign_tba,
)
from netsuite.client import NetSuiteError

VECTORS = Path("/work/shared/data/netsuite/tba-hmac-sha256-vectors.json")


def _vector() -> dict[str, str]:
    return json.loads(VECTORS.read_text())["vectors"][0]


def test_tba_vector_base_string_and_signature_byte_for_byte() -> None:
    v = _vector()
    credentials = TbaCredentials("1234567", v["consumer_key"], v["consumer_secret"], v["token_id"], v["token_secret"])
    signed = sign_tba(v["method"], v["url"], credentials, nonce=v["nonce"], timestamp=v["timestamp"])
    assert signed.base_string.encode() == v["expected_base_string"].encode()
    assert signed.signature.encode() == v["expected_signature"].encode()
    assert signed.authorization.startswith('OAuth realm="1234567", ')
    assert 'oauth_signature="i7MEtGwhCTIZbTsTrNGw9LdcERn4wsjt5C7TxmKWIfU%3D"' in signed.authorization


def test_tba_credentials_and_signature_reprs_name_no_part_of_a_credential() -> None:
    # Tracebacks and error trackers' frame locals print these objects with repr().
    v = _vector()
    credentials = TbaCredentials("1234567", v["consumer_key"], v["consumer_secret"], v["token_id"], v["token_secret"])
    signed = sign_tba(v["method"], v["url"], credentials, nonce=v["nonce"], timestamp=v["timestamp"])
    shown = repr(credentials) + repr(signed) + str(credentials) + str(signed)
    for value in (v["consumer_key"], v["consumer_secret"], v["token_id"], v["token_secret"], signed.signature):
        assert value not in shown
    assert repr(credentials) == "TbaCredentials(account_id='1234567')"


def test_tba_auth_flow_signs_the_vector_request_identically() -> None:
    v = _vector()
    credentials = TbaCredentials("1234567", v["consumer_key"], v["consumer_secret"], v["token_id"], v["token_secret"])
    auth = TokenBasedAuth(credentials, clock=lambda: float(v["timestamp"]), nonce_factory=lambda: v["nonce"])
    request = httpx.Request("POST", v["url"])
    signed = next(auth.auth_flow(request))
    assert f'oauth_signature="{v["expected_signature"].replace("=", "%3D")}"' in signed.headers["Authorization"]


def test_account_host_naming() -> None:
    assert netsuite_host("1234567_SB1") == "1234567-sb1.suitetalk.api.netsuite.com"
    assert netsuite_base_url("TSTDRV123") == "https://tstdrv123.suitetalk.api.netsuite.com"
    with pytest.raises(ValueError, match="not a NetSuite account id"):
        netsuite_host("evil.com/x")


def test_tba_end_to_end_good_signature_accepted(sandbox) -> None:  # type: ignore[no-untyped-def]
    with sandbox.client() as client:
        account = client.get("account", "101")
    assert account["id"] == "101"
    assert sandbox.app.stats()["auth_failures"] == []


def test_tba_tampered_signature_refused_with_invalid_login(sandbox) -> None:  # type: ignore[no-untyped-def]
    class Tamper(TokenBasedAuth):
        def auth_flow(self, request):  # type: ignore[no-untyped-def]
            for signed in super().auth_flow(request):
                header = signed.headers["Authorization"]
                signed.headers["Authorization"] = header.replace('oauth_signature="', 'oauth_signature="A')
                yield signed

    with sandbox.client(auth=Tamper(sandbox.credentials.tba())) as client, pytest.raises(NetSuiteError) as caught:
        client.get("account", "101")
    error = caught.value
    assert error.status == 401
    assert error.code == "INVALID_LOGIN"
    assert error.detail.startswith("Invalid login attempt.")
    assert error.title == "Unauthorized"
    assert error.attempts == 1  # a 401 is not retried
    assert sandbox.app.stats()["auth_failures"] == ["signature mismatch"]


def test_tba_wrong_secret_and_stale_timestamp_and_nonce_reuse_refused(sandbox) -> None:  # type: ignore[no-untyped-def]
    good = sandbox.credentials.tba()
    wrong = TbaCredentials(good.account_id, good.consumer_key, "not-the-secret", good.token_id, good.token_secret)
    stale = TokenBasedAuth(good, clock=lambda: time.time() - 3600)
    fixed_nonce = TokenBasedAuth(good, nonce_factory=lambda: "samenonce123")
    url = f"{sandbox.url}/services/rest/record/v1/account/101"
    with httpx.Client() as http:
        assert http.get(url, auth=TokenBasedAuth(wrong)).status_code == 401
        assert http.get(url, auth=stale).status_code == 401
        assert http.get(url, auth=fixed_nonce).status_code == 200
        replay = http.get(url, auth=fixed_nonce)
    assert replay.status_code == 401
    assert replay.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"
    assert sandbox.app.stats()["auth_failures"] == [
        "signature mismatch",
        "timestamp outside the accepted window",
        "nonce reused",
    ]


def test_tba_signs_query_parameters(sandbox) -> None:  # type: ignore[no-untyped-def]
    # expandSubResources travels in the query string, which is part of the base string.
    with sandbox.client() as client:
        entry_id = client.create("journalentry", _entry())
        record = client.get("journalentry", entry_id, expand_sub_resources=True)
    assert record["line"]["totalResults"] == 2


def _entry(external_id: str | None = None) -> dict[str, object]:
    from decimal import Decimal

    body: dict[str, object] = {
        "subsidiary": {"id": "1"},
        "currency": {"id": "1"},
        "tranDate": "2024-05-01",
        "memo": "auth test",
        "line": {
            "items": [
                {"account": {"id": "101"}, "debit": Decimal("10.00")},
                {"account": {"id": "110"}, "credit": Decimal("10.00")},
            ]
        },
    }
    if external_id:
        body["externalId"] = external_id
    return body


# ------------------------------------------------------------------------- OAuth 2.0


def test_client_credentials_assertion_claims(sandbox) -> None:  # type: ignore[no-untyped-def]
    auth = sandbox.credentials.client_credentials_auth(sandbox.url, assertion_lifetime=1800)
    assertion = auth.build_assertion()
    public = RSAKey.import_key(RSAKey.import_key(sandbox.credentials.private_key_pem).as_pem(private=False))
    token = jwt.decode(assertion, public, algorithms=["PS256"])
    assert token.header == {"typ": "JWT", "alg": "PS256", "kid": sandbox.credentials.certificate_id}
    assert token.claims["iss"] == sandbox.credentials.client_id
    assert token.claims["aud"] == f"{sandbox.url}{TOKEN_PATH}"
    assert token.claims["scope"] == "restlets,rest_webservices"
    assert 0 < token.claims["exp"] - token.claims["iat"] <= 3600
    with pytest.raises(ValueError, match="assertion_lifetime"):
        sandbox.credentials.client_credentials_auth(sandbox.url, assertion_lifetime=3601)


def test_oauth2_token_flow_and_cached_token_reuse(sandbox) -> None:  # type: ignore[no-untyped-def]
    auth = sandbox.credentials.client_credentials_auth(sandbox.url)
    with sandbox.client(auth=auth) as client:
        for _ in range(3):
            assert client.get("subsidiary", "1")["name"] == "Parent Company"
    assert auth.tokens_fetched == 1
    assert sandbox.app.stats()["tokens_issued"] == 1
    # The token request itself carries the assertion as a form field, in the documented shape.
    assert sandbox.app.stats()["calls"]["oauth2.token"] == 1


def test_oauth2_token_refreshed_when_it_nears_expiry(sandbox_factory) -> None:  # type: ignore[no-untyped-def]
    box = sandbox_factory(token_lifetime=2)
    auth = box.credentials.client_credentials_auth(box.url, refresh_margin=1.5)
    with box.client(auth=auth) as client:
        client.get("currency", "1")
        client.get("currency", "1")
        assert auth.tokens_fetched == 1
        time.sleep(0.6)  # inside the margin: refreshed before the sandbox would refuse it
        client.get("currency", "1")
    assert auth.tokens_fetched == 2
    assert box.app.stats()["auth_failures"] == []


def test_oauth2_refused_token_triggers_one_refresh_and_one_retry(sandbox) -> None:  # type: ignore[no-untyped-def]
    auth = sandbox.credentials.client_credentials_auth(sandbox.url)
    with sandbox.client(auth=auth) as client:
        client.get("currency", "1")
        sandbox.app.revoke_tokens()  # NetSuite refuses the cached token before our clock says so
        assert client.get("currency", "1")["symbol"] == "USD"
    assert auth.tokens_fetched == 2
    assert sandbox.app.stats()["auth_failures"] == ["unknown bearer token"]
    refused = [x for x in sandbox.exchanges if x.status == 401]
    assert len(refused) == 1
    assert refused[0].request_headers["authorization"] == "Bearer [REDACTED]"


def test_oauth2_expired_token_refused_without_margin(sandbox_factory) -> None:  # type: ignore[no-untyped-def]
    box = sandbox_factory(token_lifetime=1)
    auth = box.credentials.client_credentials_auth(box.url, refresh_margin=0.0)
    now = [time.time()]
    auth._clock = lambda: now[0]  # our clock lags: we believe the token is still fresh
    with box.client(auth=auth) as client:
        client.get("currency", "1")
        time.sleep(1.1)
        client.get("currency", "1")  # sandbox: expired -> 401 -> one refresh -> retry succeeds
    assert auth.tokens_fetched == 2
    assert box.app.stats()["auth_failures"] == ["bearer token expired"]


def test_oauth2_assertion_signed_with_unknown_key_refused(sandbox) -> None:  # type: ignore[no-untyped-def]
    from netsuite.sandbox.server import generate_rsa_private_key_pem

    rogue = ClientCredentialsAuth.for_base_url(
        sandbox.url, sandbox.credentials.client_id, sandbox.credentials.certificate_id, generate_rsa_private_key_pem()
    )
    with pytest.raises(NetSuiteError) as caught:
        rogue.get_token()
    assert caught.value.status == 400
    assert caught.value.code == "invalid_grant"
    assert rogue.tokens_fetched == 0


def test_oauth2_wrong_audience_refused(sandbox) -> None:  # type: ignore[no-untyped-def]
    auth = ClientCredentialsAuth(
        "https://1234567-sb1.suitetalk.api.netsuite.com" + TOKEN_PATH,  # aud for production, sent to the sandbox
        sandbox.credentials.client_id,
        sandbox.credentials.certificate_id,
        sandbox.credentials.private_key_pem,
    )
    auth.token_url = f"{sandbox.url}{TOKEN_PATH}"  # post to the sandbox, keep the foreign aud in the JWT
    original = auth.build_assertion

    def foreign_aud() -> str:
        auth.token_url = "https://1234567-sb1.suitetalk.api.netsuite.com" + TOKEN_PATH
        try:
            return original()
        finally:
            auth.token_url = f"{sandbox.url}{TOKEN_PATH}"

    auth.build_assertion = foreign_aud  # type: ignore[method-assign]
    with pytest.raises(NetSuiteError) as caught:
        auth.get_token()
    assert caught.value.code == "invalid_grant"
    assert "aud" in caught.value.detail


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html", b"<html><body>Sign in to continue</body></html>"),  # a proxy's or login page's 200
        ("application/json", b'["access_token"]'),  # JSON, but not the token object
        ("application/json", b'{"token_type": "Bearer"}'),  # the object without its token
    ],
)
def test_oauth2_token_endpoint_answering_200_without_a_token_is_a_netsuite_error(sandbox, content_type, body) -> None:  # type: ignore[no-untyped-def]
    from tests.servers import EchoServer

    server = EchoServer(lambda received: (200, {"Content-Type": content_type}, body))
    try:
        auth = sandbox.credentials.client_credentials_auth(server.url)
        with pytest.raises(NetSuiteError) as refused:
            auth.fetch_token()
    finally:
        server.close()

    assert refused.value.status == 200
    assert refused.value.code == "INVALID_TOKEN_RESPONSE"
    assert [r.path for r in server.received] == [TOKEN_PATH]
