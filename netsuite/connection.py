"""A NetSuite client for a ``connections.Connection`` row: auth from its credentials, the
per-account concurrency limit shared by every worker process, and a connection test.

``connections.providers.client_for`` calls :func:`netsuite_client` for provider ``netsuite``.
The posting service uses :func:`shared_client`, which keeps one client per connection and
process: a client holds the OAuth 2.0 token cache and the HTTP connection pool, so a new
one per posting would fetch a token and open a socket for every journal entry.

The limit on parallel requests (``connection.netsuite_concurrency``) is enforced by
:class:`~netsuite.slots.PostgresSlotProvider` on the project's own database, so every
django-q2 worker, on any host, counts against the same slots.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import httpx
from django.db.models import CharField, F, Func

from netsuite.auth import (
    ClientCredentialsAuth,
    TbaCredentials,
    TokenBasedAuth,
    load_signing_key,
    netsuite_base_url,
    netsuite_host,
)
from netsuite.client import NetSuiteClient, RetryPolicy
from netsuite.errors import NetSuiteClientError, NetSuiteConfigError, NetSuiteError
from netsuite.redact import Exchange
from netsuite.slots import PostgresSlotProvider

if TYPE_CHECKING:
    from connections.models import Connection

TBA_FIELDS = ("consumer_key", "consumer_secret", "token_id", "token_secret")
OAUTH2_FIELDS = ("client_id", "certificate_id", "private_key")
# A connection test answers a person waiting on a page: fail fast rather than back off for minutes.
FAST_FAIL_RETRIES = RetryPolicy(max_attempts=2, base_delay=0.2, max_delay=1.0, budget_seconds=10.0)
# A call someone waits on (SuiteQL from the API or an MCP tool): a few quick retries, then the
# error, rather than the worker's two minutes of backoff on a NetSuite that throttles or fails.
INTERACTIVE_RETRIES = RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=4.0, budget_seconds=15.0)

# Where the exchanges of the current posting go. The client is shared between threads and
# postings, so its one ``on_exchange`` hook hands each exchange to whatever sink the calling
# thread (context) has opened; ``capture_exchanges`` opens one.
_exchange_sink: ContextVar[list[Exchange] | None] = ContextVar("netsuite_exchange_sink", default=None)


def _to_sink(exchange: Exchange) -> None:
    sink = _exchange_sink.get()
    if sink is not None:
        sink.append(exchange)


@contextmanager
def capture_exchanges() -> Iterator[list[Exchange]]:
    """Collect the (redacted) exchanges this context makes through any connection client."""
    sink: list[Exchange] = []
    token = _exchange_sink.set(sink)
    try:
        yield sink
    finally:
        _exchange_sink.reset(token)


class ConnectionClient(NetSuiteClient):
    """A :class:`NetSuiteClient` for one connection, plus the connection test the settings page uses."""

    last_error: Exception | None = None

    def test_connection(self) -> tuple[bool, str]:
        """List the account's subsidiaries with SuiteQL; return (ok, a sentence for the user).

        ``last_error`` keeps NetSuite's refusal so the caller can tell revoked credentials
        (the connection is broken) from an outage. The sentence never contains a secret.
        """
        self.last_error = None
        try:
            result = self.suiteql("SELECT id, name FROM subsidiary ORDER BY id", max_rows=50, page_size=50)
            rows = result.all()
        except NetSuiteError as exc:
            self.last_error = exc
            if exc.status in (401, 403) or exc.code in ("INVALID_LOGIN", "invalid_client", "invalid_grant"):
                return False, f"NetSuite refused the credentials ({exc.code}): {exc.detail}"
            return False, f"NetSuite answered {exc.status} {exc.code}: {exc.detail}"
        except NetSuiteClientError as exc:
            self.last_error = exc
            return False, f"Could not reach NetSuite at {self.base_url}: {exc}"
        except httpx.HTTPError as exc:  # e.g. an invalid URL: the page needs words, not a traceback
            self.last_error = exc
            return False, f"Could not reach NetSuite at {self.base_url}: {type(exc).__name__}"
        names = ", ".join(row.get("name", row.get("id", "?")) for row in rows[:5])
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        return True, f"Connected to NetSuite account {self.account_id}: {len(rows)} subsidiaries ({names}{more})"


# The algorithm ClientCredentialsAuth signs with by default (an RSA key).
OAUTH2_ALGORITHM = "PS256"


def settings_problem(
    *, account_id: str, base_url: str = "", credentials: dict[str, Any] | None = None
) -> NetSuiteConfigError | None:
    """Why these connection settings cannot make a NetSuite client, or None.

    Checked when a connection is saved (so a bad key is refused where it is typed) and again
    when a client is built (rows saved before the check existed). Never names a secret's value.
    """
    if not (account_id or "").strip():
        return NetSuiteConfigError(
            "The NetSuite connection needs an account id (e.g. 1234567 or 1234567_SB1).", field="account_id"
        )
    if not base_url:
        try:
            netsuite_host(account_id)
        except ValueError:
            return NetSuiteConfigError(
                "The NetSuite account id may contain only letters, digits and underscores (e.g. 1234567_SB1).",
                field="account_id",
            )
    private_key = (credentials or {}).get("private_key")
    if private_key:
        try:
            load_signing_key(str(private_key), OAUTH2_ALGORITHM)
        except Exception:  # the library's message may quote the key material: not passed on
            return NetSuiteConfigError(
                "The private_key is not a PEM-encoded RSA private key (-----BEGIN PRIVATE KEY----- ...); "
                "paste the key whose certificate is uploaded to NetSuite.",
                field="private_key",
            )
    return None


def auth_for(connection: Connection, *, on_exchange: Callable[[Any], None] | None = None) -> httpx.Auth:
    """TBA when the four TBA fields are set, else OAuth 2.0 client credentials."""
    credentials = connection.credentials or {}
    account_id = connection.account_id
    if all(credentials.get(name) for name in TBA_FIELDS):
        return TokenBasedAuth(TbaCredentials(account_id, *(str(credentials[name]) for name in TBA_FIELDS)))
    if all(credentials.get(name) for name in OAUTH2_FIELDS):
        return ClientCredentialsAuth.for_base_url(
            base_url_for(connection),
            str(credentials["client_id"]),
            str(credentials["certificate_id"]),
            str(credentials["private_key"]),
            account_id=account_id,
            on_exchange=on_exchange,
        )
    raise NetSuiteConfigError(
        "The NetSuite connection has neither token-based (consumer_key, consumer_secret, token_id, token_secret) "
        "nor OAuth 2.0 (client_id, certificate_id, private_key) credentials.",
        field="credentials",
    )


def base_url_for(connection: Connection) -> str:
    """The connection's base URL, or NetSuite's account-specific REST host."""
    return (connection.base_url or "").rstrip("/") or netsuite_base_url(connection.account_id)


_slot_providers: dict[str, PostgresSlotProvider] = {}
_slot_lock = threading.Lock()


def database_slot_provider() -> PostgresSlotProvider:
    """This process's slot provider on the project database (one connection per process)."""
    from django.db import connection as db

    from ecomops.dbsetup import database_url

    conninfo = database_url(db.settings_dict)
    with _slot_lock:
        provider = _slot_providers.get(conninfo)
        if provider is None:
            provider = _slot_providers[conninfo] = PostgresSlotProvider(conninfo)
        return provider


def netsuite_client(
    connection: Connection,
    *,
    fast_fail: bool = False,
    on_exchange: Callable[[Exchange], None] | None = None,
    **options: Any,
) -> ConnectionClient:
    """A new client for a NetSuite connection (``options`` go to :class:`NetSuiteClient`).

    The limit is ``connection.netsuite_concurrency`` parallel requests per account, shared
    through PostgreSQL with every other process. ``fast_fail`` shortens the retries. Raises
    :class:`NetSuiteConfigError` when the connection's settings cannot make a client.
    """
    problem = settings_problem(
        account_id=connection.account_id, base_url=connection.base_url, credentials=connection.credentials
    )
    if problem is not None:
        raise problem
    hook = on_exchange or _to_sink
    if fast_fail:
        options.setdefault("retry_budget", FAST_FAIL_RETRIES)
        options.setdefault("timeout", httpx.Timeout(20.0, connect=5.0))
    options.setdefault("slot_provider", database_slot_provider())
    options.setdefault("max_concurrency", max(1, int(connection.netsuite_concurrency or 2)))
    return ConnectionClient(
        base_url_for(connection),
        connection.account_id,
        auth_for(connection, on_exchange=hook),
        on_exchange=hook,
        **options,
    )


_shared: dict[str, tuple[str, ConnectionClient]] = {}
_shared_lock = threading.Lock()


def credentials_digest_expression(path: str = "credentials") -> Func:
    """SQL for a digest of a connection's stored (encrypted) credentials.

    Read next to the other fields, it tells whether the cached client is still right without
    decrypting the credentials on every posting; any write of the credentials changes it.
    """
    return Func(F(path), function="md5", output_field=CharField())


def _fingerprint(connection: Connection, credentials_digest: str) -> str:
    """Changes whenever anything the client is built from changes."""
    parts = [
        base_url_for(connection),
        connection.account_id,
        str(connection.netsuite_concurrency),
        credentials_digest,
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def shared_client(connection: Connection, *, credentials_digest: str | None = None) -> ConnectionClient:
    """The process's client for this connection, rebuilt when the connection's settings change.

    ``credentials_digest`` is :func:`credentials_digest_expression` read with the connection
    (the posting service does, with its credentials deferred); without it, it is read here.
    The credentials are decrypted only when a client has to be built. Exchanges reach the
    sink opened by :func:`capture_exchanges` in the calling context.
    """
    from connections.models import Connection

    if credentials_digest is None:
        credentials_digest = (
            Connection.objects.filter(pk=connection.pk)
            .annotate(digest=credentials_digest_expression())
            .values_list("digest", flat=True)
            .get()
        )
    key, fingerprint = str(connection.pk), _fingerprint(connection, credentials_digest)
    with _shared_lock:
        cached = _shared.get(key)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
    if "credentials" in connection.get_deferred_fields():
        connection = Connection.objects.get(pk=connection.pk)
    client = netsuite_client(connection)
    with _shared_lock:
        # A changed connection replaces its old client, which is not closed: another thread
        # may be mid-request on it.
        cached = _shared.get(key)
        if cached is not None and cached[0] == fingerprint:
            client.close()
            return cached[1]  # another thread built it meanwhile
        _shared[key] = (fingerprint, client)
        return client


def forget_shared_clients() -> None:
    """Close and drop every cached client (tests; a process that changes settings)."""
    with _shared_lock:
        for _digest, client in _shared.values():
            client.close()
        _shared.clear()


def close_slot_providers() -> None:
    """Close this process's slot-provider connections (before the database is dropped, at exit)."""
    with _slot_lock:
        for provider in _slot_providers.values():
            provider.close()
        _slot_providers.clear()
