"""No credential rides along in an error's cause chain, whatever the provider answered.

The clients word their own errors without the credentials, but an error is more than its
message: whatever prints it with its traceback (``logging.exception``, django-q2's stored
failure, an error tracker, ``traceback.format_exception``) prints every exception chained
to it through ``__cause__`` and ``__context__`` as well, and an error tracker also reads
their attributes. A library exception quoting what came back (a garbled status line, a
body that is not JSON, Stripe's error message) quotes the credentials when the answer did.

Each test points a real client at a loopback server that quotes the request back (every
header, the body), drives one failure through it with quick retries, and searches the
error it raises: the formatted traceback, and the ``str``, ``repr`` and attributes of
every exception in the chain. What is searched for: the canaries the client was given
(marked ``LEAKCANARY``), every ``Authorization`` value the server received and the
credentials inside it (the OAuth 1.0 signature, a bearer token), the client assertions
posted to a token endpoint, and the bearer tokens that endpoint issued.
"""

from __future__ import annotations

import json
import re
import secrets
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

import pytest

from tests.servers import Answer, EchoServer, Received
from tests.test_secrets_never_leak import (
    MARKER,
    NETSUITE_ACCOUNT,
    NETSUITE_FAST,
    STRIPE_FAST,
    RawServer,
    canary,
    garbage,
    graphql_errors,
    html_502,
    netsuite_error,
    refused_url,
    shopify_error,
    stripe_error,
    tba_canaries,
)

TIMEOUT = 0.5  # seconds; the silent server's case waits this long per attempt

# --------------------------------------------------------------------------- what is searched


def chain(error: BaseException) -> list[BaseException]:
    """``error`` and every exception reachable from it through ``__cause__`` and ``__context__``."""
    found: list[BaseException] = []
    waiting: list[BaseException | None] = [error]
    while waiting:
        current = waiting.pop()
        if current is None or any(current is seen for seen in found):
            continue
        found.append(current)
        waiting += [current.__cause__, current.__context__]
    return found


def readable(error: BaseException) -> list[tuple[str, str]]:
    """Everything a person or a program can read off ``error``, by where it was read."""
    texts = [("traceback.format_exception", "".join(traceback.format_exception(error)))]
    for exc in chain(error):
        name = type(exc).__name__
        texts.append((f"str({name})", str(exc)))
        texts.append((f"repr({name})", repr(exc)))
        texts.append((f"attributes of {name}", repr(vars(exc))))
    return texts


def leaks(error: BaseException, credentials: list[str]) -> list[str]:
    found = []
    for where, text in readable(error):
        for credential in [MARKER, *credentials]:
            at = text.find(credential)
            if at >= 0:
                found.append(f"{where}: ...{text[max(0, at - 100) : at + 40]}...")
                break
    return found


def authorization_credentials(value: str) -> list[str]:
    """An ``Authorization`` value and the credentials inside it, as sent and decoded."""
    found = [value]
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        found.append(rest.strip())
    for part in rest.split(","):
        name, _, quoted = part.strip().partition("=")
        if name in ("oauth_consumer_key", "oauth_token", "oauth_signature"):
            found += [quoted.strip('"'), unquote(quoted.strip('"'))]
    return [credential for credential in found if len(credential) >= 8]


# --------------------------------------------------------------------------- misbehaving servers


@dataclass
class Wire:
    """Where the client is pointed, and what reached it and what it handed out."""

    url: str
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)  # (headers, body)
    issued: list[str] = field(default_factory=list)  # bearer tokens a token endpoint issued
    closers: list[Callable[[], None]] = field(default_factory=list)

    def credentials(self) -> list[str]:
        """The secrets the servers saw or issued: they must not come back in an error."""
        found = list(self.issued)
        for headers, body in self.requests:
            for name, value in headers.items():
                if name.lower() in ("authorization", "x-shopify-access-token"):
                    found += authorization_credentials(value)
            form = parse_qsl(body.decode("utf-8", "replace"))
            found += [value for name, value in form if name == "client_assertion"]
        return found


def echoing(answer: Callable[[Received, Wire], Answer]) -> Callable[[], Wire]:
    """A server that answers ``answer(request, wire)``; keeps what it received."""

    def start() -> Wire:
        wire = Wire("")

        def respond(received: Received) -> Answer:
            wire.requests.append((received.headers, received.body))
            return answer(received, wire)

        server = EchoServer(respond)
        wire.url, wire.closers = server.url, [server.close]
        return wire

    return start


def raw(reply: Callable[[bytes], bytes | None]) -> Callable[[], Wire]:
    """A socket that answers ``reply(request)`` (None: never answers); keeps what it read."""

    def start() -> Wire:
        wire = Wire("")

        def recorded(request: bytes) -> bytes | None:
            head, _, body = request.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")[1:]
            headers = dict(line.split(": ", 1) for line in lines if ": " in line)
            wire.requests.append((headers, body))
            return reply(request)

        server = RawServer(recorded)
        wire.url, wire.closers = server.url, [server.close]
        return wire

    return start


def nothing_listens() -> Wire:
    return Wire(refused_url())


def not_json(received: Received, wire: Wire) -> Answer:
    """A 200 whose body is a page quoting the request, not the JSON the client expects."""
    return 200, {"Content-Type": "text/html"}, f"<html><body>Welcome {received.echo()}</body></html>".encode()


def gateway_page(received: Received, wire: Wire) -> Answer:
    return html_502(received)


def not_gzip(received: Received, wire: Wire) -> Answer:
    """A 200 said to be gzip that is the request quoted back instead: it cannot be decoded."""
    return 200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, received.echo().encode()


# Failures every provider can meet on the wire, whatever its API looks like.
GATEWAY_PAGE = "5xx with an HTML page echoing the request"
NOT_JSON = "200 that is not JSON, echoing the request"
NOT_GZIP = "200 said to be gzip that is not, echoing the request"
GARBAGE = "garbage instead of HTTP, echoing the request"
REFUSED = "connection refused"
SILENT = "timeout"
TRANSPORT: dict[str, Callable[[], Wire]] = {
    GATEWAY_PAGE: echoing(gateway_page),
    NOT_JSON: echoing(not_json),
    NOT_GZIP: echoing(not_gzip),
    GARBAGE: raw(garbage),
    REFUSED: nothing_listens,
    SILENT: raw(lambda request: None),
}


@dataclass(frozen=True)
class Failure:
    """A misbehaving server, and what the error must still tell the person reading it."""

    make: Callable[[], Wire]
    says: str  # a regular expression the error's message matches: the status, the kind of failure


def transport(says: dict[str, str]) -> dict[str, Failure]:
    return {name: Failure(TRANSPORT[name], says[name]) for name in TRANSPORT}


@pytest.fixture
def started() -> Iterator[Callable[[Callable[[], Wire]], Wire]]:
    wires: list[Wire] = []

    def start(make: Callable[[], Wire]) -> Wire:
        wire = make()
        wires.append(wire)
        return wire

    yield start
    for wire in wires:
        for close in wire.closers:
            close()


def assert_clean(error: BaseException, credentials: list[str], says: str) -> None:
    found = leaks(error, credentials)
    assert not found, "credentials found in the raised error:\n" + "\n".join(found)
    assert re.search(says, str(error)), f"the message no longer says what failed ({says}): {error}"


# --------------------------------------------------------------------------- Stripe


def stripe_refusal(status: int, code: str) -> Failure:
    return Failure(echoing(lambda received, wire: stripe_error(received, status, code)), f"Stripe HTTP {status}")


STRIPE_FAILURES: dict[str, Failure] = {
    "401 api_key_expired echoing the key": stripe_refusal(401, "api_key_expired"),
    "403 secret_key_required echoing the key": stripe_refusal(403, "secret_key_required"),
    "429 rate_limit echoing the key": stripe_refusal(429, "rate_limit"),
    "400 parameter_invalid echoing the key": stripe_refusal(400, "parameter_invalid"),
    **transport(
        {
            GATEWAY_PAGE: "Stripe HTTP 502",
            NOT_JSON: "malformed",
            NOT_GZIP: "DecodeError",
            GARBAGE: "ProtocolError",
            REFUSED: "Connection refused",
            SILENT: "ReadTimeoutError",
        }
    ),
}


# A single object, and a list's first page (what a sync reads).
STRIPE_CALLS: dict[str, Callable[[Any], Any]] = {
    "retrieve_account": lambda api: api.retrieve_account(),
    "balance_transaction_pages": lambda api: next(iter(api.balance_transaction_pages())),
}


@pytest.mark.parametrize("failure", list(STRIPE_FAILURES))
@pytest.mark.parametrize("call", list(STRIPE_CALLS))
def test_a_stripe_error_chains_no_key(failure, call, started):
    from connections.stripe.client import StripeApi, StripeSyncError

    key = canary("sk_live_")
    wire = started(STRIPE_FAILURES[failure].make)
    api = StripeApi(key, base_url=wire.url, **STRIPE_FAST, timeout=TIMEOUT)

    with pytest.raises(StripeSyncError) as raised:
        STRIPE_CALLS[call](api)

    assert_clean(raised.value, [key, *wire.credentials()], STRIPE_FAILURES[failure].says)


# --------------------------------------------------------------------------- Shopify


def shopify_refusal(status: int) -> Failure:
    return Failure(echoing(lambda received, wire: shopify_error(received, status)), f"HTTP {status}")


def graphql_refusal(code: str, says: str) -> Failure:
    return Failure(echoing(lambda received, wire: graphql_errors(received, code)), says)


SHOPIFY_FAILURES: dict[str, Failure] = {
    "401 echoing the token": shopify_refusal(401),
    "403 echoing the token": shopify_refusal(403),
    "429 echoing the token": shopify_refusal(429),
    "ACCESS_DENIED echoing the token": graphql_refusal("ACCESS_DENIED", "denied access"),
    "THROTTLED echoing the token": graphql_refusal("THROTTLED", "THROTTLED"),
    **transport(
        {
            GATEWAY_PAGE: "HTTP 502",
            NOT_JSON: "not valid JSON",
            NOT_GZIP: "not valid JSON",  # urllib does not decode: the bytes are read as they came
            GARBAGE: "BadStatusLine",
            REFUSED: "Connection refused",
            SILENT: "timed out",
        }
    ),
}


@pytest.mark.parametrize("failure", list(SHOPIFY_FAILURES))
def test_a_shopify_error_chains_no_token(failure, started):
    from connections.shopify.client import RetryPolicy, ShopifyClient, ShopifySyncError

    token = canary("shpat_")
    wire = started(SHOPIFY_FAILURES[failure].make)
    fast = RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.005, max_server_hint=0.005)
    client = ShopifyClient("leak-test.myshopify.com", token, base_url=wire.url, retry=fast, timeout=TIMEOUT)

    with pytest.raises(ShopifySyncError) as raised:
        client.shop_timezone_name()

    assert_clean(raised.value, [token, *wire.credentials()], SHOPIFY_FAILURES[failure].says)


# --------------------------------------------------------------------------- NetSuite


def netsuite_errors(status: int, code: str) -> Callable[[Received, Wire], Answer]:
    return lambda received, wire: netsuite_error(received, status, code)


def netsuite_refusal(status: int, code: str) -> Failure:
    return Failure(echoing(netsuite_errors(status, code)), f"NetSuite {status} {code}")


NETSUITE_FAILURES: dict[str, Failure] = {
    "401 INVALID_LOGIN echoing the OAuth header": netsuite_refusal(401, "INVALID_LOGIN"),
    "429 CONCURRENCY_LIMIT_EXCEEDED echoing the OAuth header": netsuite_refusal(429, "CONCURRENCY_LIMIT_EXCEEDED"),
    "400 USER_ERROR echoing the request": netsuite_refusal(400, "USER_ERROR"),
    **transport(
        {
            GATEWAY_PAGE: "NetSuite 502",
            NOT_JSON: "unparseable|expected 204",  # a read wants JSON, a write 204 No Content
            NOT_GZIP: "DecodingError",
            GARBAGE: "RemoteProtocolError",
            REFUSED: "ConnectError: .*Connection refused",
            SILENT: "ReadTimeout",
        }
    ),
}

# The client's three ways of sending: a read, the exactly-once upsert, a create that is not
# repeated when its outcome is unknown; and SuiteQL on top.
NETSUITE_CALLS: dict[str, Callable[[Any], Any]] = {
    "get": lambda client: client.get("subsidiary", "1"),
    "upsert": lambda client: client.upsert_by_external_id("journalEntry", "po_1", {"memo": "x"}, replace=["line"]),
    "create": lambda client: client.create("journalEntry", {"memo": "x"}),
    "suiteql": lambda client: client.suiteql("SELECT id FROM subsidiary ORDER BY id").all(),
}


def netsuite_client(wire: Wire, auth: Any) -> Any:
    from netsuite.client import LocalSlotProvider, NetSuiteClient, RetryPolicy

    return NetSuiteClient(
        wire.url,
        NETSUITE_ACCOUNT,
        auth,
        retry_budget=RetryPolicy(**NETSUITE_FAST),
        timeout=TIMEOUT,
        slot_provider=LocalSlotProvider(),
    )


@pytest.mark.parametrize("failure", list(NETSUITE_FAILURES))
@pytest.mark.parametrize("call", list(NETSUITE_CALLS))
def test_a_netsuite_error_chains_no_tba_credential(failure, call, started):
    from netsuite.auth import TbaCredentials, TokenBasedAuth
    from netsuite.errors import NetSuiteClientError

    credentials = tba_canaries()
    wire = started(NETSUITE_FAILURES[failure].make)
    client = netsuite_client(wire, TokenBasedAuth(TbaCredentials(NETSUITE_ACCOUNT, **credentials)))

    with pytest.raises(NetSuiteClientError) as raised:
        NETSUITE_CALLS[call](client)
    client.close()

    assert_clean(raised.value, [*credentials.values(), *wire.credentials()], NETSUITE_FAILURES[failure].says)


def issue_token(wire: Wire, *, expires_in: str = "3600") -> Answer:
    """A token endpoint's answer with a fresh bearer token that has no marker in it."""
    token = secrets.token_urlsafe(32)
    wire.issued.append(token)
    body = {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def token_then(answer: Callable[[Received, Wire], Answer]) -> Callable[[Received, Wire], Answer]:
    """A token endpoint that issues tokens, and an API that answers ``answer``."""

    def respond(received: Received, wire: Wire) -> Answer:
        if received.path.endswith("/oauth2/v1/token"):
            return issue_token(wire)
        return answer(received, wire)

    return respond


def assertion_refused(received: Received, wire: Wire) -> Answer:
    body = {"error": "invalid_grant", "error_description": f"Bad assertion: {received.echo()}"}
    return 400, {"Content-Type": "application/json"}, json.dumps(body).encode()


def token_unusable(received: Received, wire: Wire) -> Answer:
    """A 200 from the token endpoint whose lifetime quotes the request back: no usable token."""
    return issue_token(wire, expires_in=f"soon ({received.echo()})")


OAUTH2_FAILURES: dict[str, Failure] = {
    "token endpoint refusing, echoing the assertion": Failure(echoing(assertion_refused), "NetSuite 400 invalid_grant"),
    "token endpoint answering a page, echoing the assertion": Failure(
        echoing(not_json), "INVALID_TOKEN_RESPONSE: unusable token response: JSONDecodeError"
    ),
    "token endpoint answering an unusable token, echoing the assertion": Failure(
        echoing(token_unusable), "INVALID_TOKEN_RESPONSE: unusable token response: ValueError"
    ),
    "token endpoint answering garbage, echoing the assertion": Failure(raw(garbage), "RemoteProtocolError"),
    "bearer token refused and echoed": Failure(
        echoing(token_then(netsuite_errors(401, "INVALID_LOGIN"))), "NetSuite 401 INVALID_LOGIN"
    ),
    "bearer token answered by a page echoing it": Failure(echoing(token_then(not_json)), "unparseable|expected 204"),
    "bearer token answered by a gateway page echoing it": Failure(echoing(token_then(gateway_page)), "NetSuite 502"),
}


@pytest.fixture(scope="module")
def pem() -> str:
    from netsuite.sandbox.server import generate_rsa_private_key_pem

    return generate_rsa_private_key_pem()


@pytest.mark.parametrize("failure", list(OAUTH2_FAILURES))
@pytest.mark.parametrize("call", ["get", "create"])
def test_a_netsuite_error_chains_no_oauth2_credential(failure, call, started, pem):
    from netsuite.auth import ClientCredentialsAuth
    from netsuite.errors import NetSuiteClientError

    client_id, certificate_id = canary("client-"), canary("cert-")
    wire = started(OAUTH2_FAILURES[failure].make)
    auth = ClientCredentialsAuth.for_base_url(wire.url, client_id, certificate_id, pem, timeout=TIMEOUT)
    client = netsuite_client(wire, auth)

    with pytest.raises(NetSuiteClientError) as raised:
        NETSUITE_CALLS[call](client)
    client.close()
    auth.close()

    key_lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    credentials = [client_id, certificate_id, *key_lines, *wire.credentials()]
    assert_clean(raised.value, credentials, OAUTH2_FAILURES[failure].says)


# --------------------------------------------------------------------------- the search itself


def test_the_search_finds_a_credential_anywhere_in_a_chain():
    """The proof above is only as good as its search: a credential in a chained exception's
    message, in a context left behind by ``from None``, or in an attribute is found."""
    token = secrets.token_hex(32)  # a NetSuite TBA token id: no shape a log mask knows

    def raised(make: Callable[[], None]) -> BaseException:
        try:
            make()
        except Exception as exc:
            return exc
        raise AssertionError("nothing was raised")

    def from_cause() -> None:
        try:
            raise ValueError(f"bad line {token}")
        except ValueError as exc:
            raise RuntimeError("wrapped") from exc

    def from_none() -> None:
        try:
            raise ValueError(f"bad line {token}")
        except ValueError:
            raise RuntimeError("wrapped") from None

    def in_an_attribute() -> None:
        try:
            json.loads(f"<html>{token}</html>")  # JSONDecodeError keeps the document in .doc
        except ValueError as exc:
            raise RuntimeError("wrapped") from exc

    for make in (from_cause, from_none, in_an_attribute):
        assert leaks(raised(make), [token]), make.__name__
    assert not leaks(RuntimeError("clean"), [token])
