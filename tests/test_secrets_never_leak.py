"""No credential reaches a log, a response, a page, an error or a stored row, whatever fails.

Every credential here carries the marker ``LEAKCANARY``: Stripe keys, Shopify tokens, the
NetSuite TBA secrets and OAuth 2.0 client ids, the webhook signing secrets, a password.
What carries no marker is looked for by value: a private key's lines, the Authorization
headers and client assertions the servers received, the bearer tokens they issued.

Each test points a connection at a sandbox or at a local server that misbehaves (a refused
key, an error body or a gateway page that quotes the request's headers back, garbage
instead of HTTP or TLS, silence, a redirect to another host, 429 and 5xx storms), drives
the failure through the project's own paths (connection test on the API and the page,
full and targeted sync, posting, SuiteQL on the API and the MCP pipeline, webhooks, the
django-q2 worker), and then searches everything a person or a program can read afterwards:
every log line of every logger at every level, rendered by the project's JSON formatter;
stdout and stderr; every API and page response of the run; the pages and admin pages that
show connections, jobs, postings, webhook events and the audit log, and their API; every
row of every table the tenant can see; django-q2's queue and results; and what reached the
other host of a redirect.

A server that quotes the credential back is not far-fetched: proxies, gateways and
providers' own error pages do it. Whatever comes back on the wire is treated as if it held
the secret.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import secrets
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.db import connection as db

from conftest import PASSWORD, signed_in
from tests.servers import Answer, EchoServer, Received

MARKER = "LEAKCANARY"


def canary(prefix: str = "") -> str:
    """A credential nobody else uses, recognisable by its marker wherever a part of it lands."""
    return f"{prefix}{MARKER}{secrets.token_hex(12)}"


# --------------------------------------------------------------------------- what is searched


@dataclass
class Evidence:
    """Everything that was shown, answered, logged or stored, by where it was found."""

    extra_secrets: list[str] = field(default_factory=list)  # secrets without the marker (a PEM's lines)
    texts: list[tuple[str, str]] = field(default_factory=list)

    def add(self, where: str, content: Any) -> None:
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
        elif not isinstance(content, str):
            content = json.dumps(content, default=str)
        self.texts.append((where, content))

    def response(self, where: str, response: Any) -> Any:
        """An HTTP response of the run: its body and every header."""
        self.add(f"{where} (body)", response.content)
        self.add(f"{where} (headers)", "\n".join(f"{k}: {v}" for k, v in response.items()))
        return response

    def leaks(self) -> list[str]:
        """Where a secret was found, each place once, with what surrounds it."""
        found: dict[str, str] = {}
        for where, text in self.texts:
            for needle in [MARKER, *self.extra_secrets]:
                at = text.find(needle)
                if at >= 0 and where not in found:
                    found[where] = f"{where}: ...{text[max(0, at - 120) : at + 60]}..."
        return list(found.values())


@pytest.fixture
def evidence() -> Evidence:
    return Evidence()


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Every record of every logger at every level, rendered by the project's JSON formatter.

    Loggers the settings quieten (``stripe``, ``httpx`` at WARNING) are opened to DEBUG for the
    test: a secret in a debug line is a secret in the log of whoever turns debugging on.
    """
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    config = dict(settings.LOGGING["formatters"]["json"])
    handler.setFormatter(config.pop("()")(**config))
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    loggers = [root, *(lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger))]
    levels = {lg: lg.level for lg in loggers}
    for lg in loggers:
        lg.setLevel(logging.DEBUG if lg is root else logging.NOTSET)
    isolated = [lg for lg in loggers if not lg.propagate]
    for lg in [root, *isolated]:
        lg.addHandler(handler)
    try:
        yield stream
    finally:
        for lg in [root, *isolated]:
            lg.removeHandler(handler)
        for lg, level in levels.items():
            lg.setLevel(level)


# --------------------------------------------------------------------------- misbehaving servers


class RawServer:
    """A loopback socket that reads a request and then ``reply(request_bytes)`` (None: stays silent)."""

    def __init__(self, reply: Callable[[bytes], bytes | None]) -> None:
        self.stopped = threading.Event()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(5)
                data = b""
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in data:
                        chunk = self.request.recv(65536)
                        data += chunk
                        if not chunk or not data[:1].isalpha():  # the end, or a TLS handshake
                            break
                answer = reply(data)
                if answer is None:
                    outer.stopped.wait(30)  # a server that never answers
                    return
                with contextlib.suppress(OSError):
                    self.request.sendall(answer)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()


def refused_url() -> str:
    """A loopback address where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def garbage(request: bytes) -> bytes:
    """Not HTTP: a broken middlebox that answers with the request it got, headers and all."""
    return b"\x15\x03\x01 NOT HTTP " + request.replace(b"\r\n", b" | ")[:4000] + b"\r\n\r\n"


def html_502(received: Received) -> Answer:
    """A gateway's error page that prints the request it could not pass on."""
    page = f"<html><body><h1>502 Bad Gateway</h1><pre>{received.echo()}</pre></body></html>"
    return 502, {"Content-Type": "text/html"}, page.encode()


@dataclass
class Redirect:
    """A server that sends every request on to another host, which records what reaches it."""

    target: EchoServer
    source: EchoServer

    def close(self) -> None:
        self.source.close()
        self.target.close()


def redirect_to_another_host() -> Redirect:
    target = EchoServer(lambda r: (200, {"Content-Type": "application/json"}, b"{}"), host="127.0.0.2")
    source = EchoServer(lambda r: (302, {"Location": f"{target.url}{r.path}"}, b""))
    return Redirect(target, source)


# --------------------------------------------------------------------------- the sweep


def stored_rows(evidence: Evidence) -> None:
    """Every row of every table in the tenant's schema and the public one, as text."""
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN (current_schema(), 'public') AND table_type = 'BASE TABLE' ORDER BY 1, 2"
        )
        tables = cursor.fetchall()
        for schema, table in tables:
            name = f"{db.ops.quote_name(schema)}.{db.ops.quote_name(table)}"
            cursor.execute(f"SELECT t::text FROM {name} t")
            rows = "\n".join(row[0] for row in cursor.fetchall())
            evidence.add(f"table {schema}.{table}", rows)


def queued_and_finished_tasks(evidence: Evidence) -> None:
    """django-q2's queue and task results, decoded: their rows hold signed pickles, in which a
    credential would not be found as text."""
    from django_q.models import OrmQ, Task

    for task in Task.objects.all():
        evidence.add(f"django-q task {task.name}", [task.func, task.args, task.kwargs, task.result])
    for queued in OrmQ.objects.all():
        evidence.add(f"django-q queue {queued.key}", queued.task)


def pages_and_api(evidence: Evidence, world: Any, api_as: Callable[..., Any]) -> None:
    """What the people and programs of the tenant can read about connections, jobs, postings, audit."""
    from audit.models import AuditEvent
    from connections.models import Connection, SyncJob, WebhookEvent
    from ecomops.tenancy import tenant_context
    from netsuite.models import NetsuitePosting

    with tenant_context(world.tenant):
        connections = [str(pk) for pk in Connection.objects.values_list("pk", flat=True)]
        jobs = [str(pk) for pk in SyncJob.objects.values_list("pk", flat=True)]
        postings = [str(pk) for pk in NetsuitePosting.objects.values_list("pk", flat=True)]
        events = [str(pk) for pk in AuditEvent.objects.values_list("pk", flat=True)]
        webhooks = [str(pk) for pk in WebhookEvent.objects.values_list("pk", flat=True)]

    page = signed_in(world.admin.email)
    urls = ["/connections/", "/jobs/", "/postings/", "/audit/", "/recon/"]
    urls += [f"/connections/{pk}/row/" for pk in connections]
    urls += ["/admin/connections/connection/", "/admin/connections/syncjob/", "/admin/netsuite/netsuiteposting/"]
    urls += ["/admin/audit/auditevent/", "/admin/connections/webhookevent/", "/admin/recon/reconrun/"]
    urls += [f"/admin/connections/connection/{pk}/change/" for pk in connections]
    urls += [f"/admin/connections/syncjob/{pk}/change/" for pk in jobs]
    urls += [f"/admin/netsuite/netsuiteposting/{pk}/change/" for pk in postings]
    urls += [f"/admin/audit/auditevent/{pk}/change/" for pk in events]
    urls += [f"/admin/connections/webhookevent/{pk}/change/" for pk in webhooks]
    for url in urls:
        response = page.get(url)
        assert response.status_code == 200, (url, response.status_code)
        evidence.response(f"page {url}", response)

    api = api_as(world.admin, world.tenant)
    endpoints = ["/api/v1/connections/", "/api/v1/jobs/", "/api/v1/postings/", "/api/v1/audit/?page_size=200"]
    endpoints += [f"/api/v1/connections/{pk}/" for pk in connections]
    endpoints += [f"/api/v1/jobs/{pk}/" for pk in jobs]
    endpoints += [f"/api/v1/postings/{pk}/" for pk in postings]
    endpoints += [f"/api/v1/audit/{pk}/" for pk in events]
    for url in endpoints:
        response = api.get(url)
        assert response.status_code == 200, (url, response.status_code)
        evidence.response(f"api {url}", response)


def assert_no_leak(leaks: list[str]) -> None:
    assert not leaks, "credentials found in:\n" + "\n".join(leaks)


@pytest.fixture
def sweep(evidence: Evidence, logs: io.StringIO, capfd: pytest.CaptureFixture[str], api_as, in_tenant):
    """``sweep(world)``: gather every surface into the evidence and return what leaked."""

    def run(world: Any) -> list[str]:
        pages_and_api(evidence, world, api_as)
        with in_tenant(world.tenant):
            stored_rows(evidence)
        queued_and_finished_tasks(evidence)
        for line in logs.getvalue().splitlines():
            record = json.loads(line)
            evidence.add(f"log {record.get('logger')} {record.get('level')} {record.get('event')!s:.60}", line)
        out, err = capfd.readouterr()
        evidence.add("stdout", out)
        evidence.add("stderr", err)
        return evidence.leaks()

    return run


# --------------------------------------------------------------------------- failures


@dataclass
class Case:
    """One failure: where the connection points and what the test can drive through it."""

    server: Any  # a server with a url, a Redirect, or a bare URL (nothing listens)
    credentials: dict[str, str] = field(default_factory=dict)  # NetSuite: what the connection holds
    sandbox: Any = None  # a NetSuite sandbox app, whose issued tokens are secrets too
    # NetSuite's answer is one the client retries (the posting here with a test's budget, the
    # API's SuiteQL with its own few quick retries).
    retried: bool = False
    # Nothing answers: only calls whose timeout the test sets (a connection test waits 30 s).
    silent: bool = False

    @property
    def url(self) -> str:
        if isinstance(self.server, str):
            return self.server
        return self.server.source.url if isinstance(self.server, Redirect) else self.server.url

    def what_was_sent(self, evidence: Evidence) -> None:
        """The credentials the servers received become secrets to look for (the signed header,
        a bearer token, a client assertion), and what reached the other host of a redirect is
        evidence: the credential must never get there."""
        from urllib.parse import parse_qsl

        if isinstance(self.server, Redirect):
            for got in self.server.target.received:
                evidence.add("request received by another host", got.echo())
        servers = [self.server.source, self.server.target] if isinstance(self.server, Redirect) else [self.server]
        for server in servers:
            for got in getattr(server, "received", []):
                evidence.extra_secrets += [v for k, v in got.headers.items() if k.lower() == "authorization"]
                form = parse_qsl(got.body.decode("utf-8", "replace"))
                evidence.extra_secrets += [v for k, v in form if k == "client_assertion"]
        if self.sandbox is not None:
            evidence.extra_secrets += list(self.sandbox._tokens)  # the bearer tokens it issued


Serve = Callable[[Any], Any]  # the ``servers`` fixture: keeps a server until the test ends


def echoing(answer: Callable[[Received], Answer]) -> Callable[[Serve], Case]:
    return lambda serve: Case(serve(EchoServer(answer)))


def refused(serve: Serve) -> Case:
    return Case(refused_url())


def silent(serve: Serve) -> Case:
    return Case(serve(RawServer(lambda request: None)), silent=True)


def garbled(serve: Serve) -> Case:
    return Case(serve(RawServer(garbage)))


def garbled_tls(serve: Serve) -> Case:
    """TLS spoken to a server that answers garbage: the handshake fails."""
    return Case(serve(RawServer(garbage)).url.replace("http://", "https://", 1))


def redirected(serve: Serve) -> Case:
    return Case(serve(redirect_to_another_host()))


@pytest.fixture
def servers() -> Iterator[Serve]:
    started: list[Any] = []
    yield lambda server: started.append(server) or server
    for server in started:
        (server.stop if hasattr(server, "stop") else server.close)()


def drive_connection(evidence: Evidence, world: Any, api_as, in_tenant, connection: Any, case: Case, **options: Any):
    """Test the connection (API and page), then run a full sync and a webhook's targeted one."""
    from connections.models import SyncJob
    from connections.sync.runner import sync_job_run, sync_start

    api = api_as(world.admin, world.tenant)
    if not case.silent:
        evidence.response("api connection test", api.post(f"/api/v1/connections/{connection.pk}/test/"))
        page = signed_in(world.admin.email)
        tested = page.post(f"/connections/{connection.pk}/test/", HTTP_HX_REQUEST="true")
        evidence.response("page connection test", tested)
    evidence.response("api sync", api.post(f"/api/v1/connections/{connection.pk}/sync/"))
    target = "po_1" if connection.provider == "stripe" else "gid://shopify/Order/1"
    with in_tenant(world.tenant):
        queued = SyncJob.objects.get(connection=connection, status="queued")
        webhook = sync_start(connection=connection, trigger="webhook", target_ids=[target], enqueue=False)
        for job in (queued, webhook):
            ran = sync_job_run(job=job, client_options=options)
            assert ran.status == "failed", ran.error_message
            evidence.add(f"{ran.kind} sync job error", ran.error_message)
    case.what_was_sent(evidence)


# --------------------------------------------------------------------------- Stripe


def stripe_error(received: Received, status: int, code: str) -> Answer:
    """Stripe's error body, from a server that quotes the request's headers in its message."""
    body = {"error": {"type": "invalid_request_error", "code": code, "message": f"Refused: {received.echo()}"}}
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def stripe_sandbox(serve: Serve) -> Case:
    """The Stripe sandbox, which expects another key."""
    from connections.stripe.sandbox.server import build_stripe_sandbox, stripe_sandbox_server

    return Case(serve(stripe_sandbox_server(build_stripe_sandbox(seed=3, days=2)).start()))


STRIPE_PATHS: dict[str, Callable[[Serve], Case]] = {
    "wrong key (401 from the sandbox)": stripe_sandbox,
    "restricted key (403 echoing the key)": echoing(lambda r: stripe_error(r, 403, "secret_key_required")),
    "revoked key (401 api_key_expired echoing the key)": echoing(lambda r: stripe_error(r, 401, "api_key_expired")),
    "rate limited (429 echoing the key)": echoing(lambda r: stripe_error(r, 429, "rate_limit")),
    "5xx with an HTML page echoing the request": echoing(html_502),
    "connection refused": refused,
    "timeout": silent,
    "garbage instead of HTTP": garbled,
    "TLS handshake with garbage": garbled_tls,
    "redirect to another host": redirected,
}
STRIPE_FAST = {"retry_base_delay": 0.001, "retry_max_delay": 0.005, "rate_limit": None, "max_retries": 1}


@pytest.mark.parametrize("path", list(STRIPE_PATHS))
def test_a_failing_stripe_connection_leaks_no_key(path, tenant_a, in_tenant, api_as, servers, evidence, sweep):
    from connections.services import connection_create

    case = STRIPE_PATHS[path](servers)
    with in_tenant(tenant_a.tenant):
        connection = connection_create(
            actor=tenant_a.admin,
            name="Stripe",
            provider="stripe",
            credentials={"api_key": canary("sk_test_"), "webhook_secret": canary("whsec_")},
            base_url=case.url,
            backfill_start=date(2024, 1, 1),
        )

    drive_connection(evidence, tenant_a, api_as, in_tenant, connection, case, **STRIPE_FAST, timeout=0.5)

    assert_no_leak(sweep(tenant_a))


# --------------------------------------------------------------------------- Shopify


def graphql_errors(received: Received, code: str) -> Answer:
    """A GraphQL answer (HTTP 200) whose error message quotes the request back."""
    body = {"errors": [{"message": f"Access denied for {received.echo()}", "extensions": {"code": code}}]}
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def shopify_error(received: Received, status: int) -> Answer:
    """Shopify's REST-style error body, quoting the request back."""
    body = {"errors": f"[API] Invalid API key or access token: {received.echo()}"}
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def shopify_sandbox(serve: Serve) -> Case:
    """The Shopify sandbox, which expects another token."""
    from connections.shopify.sandbox.server import build_shopify_sandbox
    from ecomops.sandbox_http import SandboxServer

    return Case(serve(SandboxServer(build_shopify_sandbox(days=2, orders_per_day=2)).start()))


SHOPIFY_PATHS: dict[str, Callable[[Serve], Case]] = {
    "wrong token (401 from the sandbox)": shopify_sandbox,
    "revoked token (401 echoing the token)": echoing(lambda r: shopify_error(r, 401)),
    "app uninstalled (403 echoing the token)": echoing(lambda r: shopify_error(r, 403)),
    "scope withdrawn (ACCESS_DENIED echoing the token)": echoing(lambda r: graphql_errors(r, "ACCESS_DENIED")),
    "query refused (GraphQL error echoing the token)": echoing(lambda r: graphql_errors(r, "BAD_REQUEST")),
    "throttled (THROTTLED echoing the token)": echoing(lambda r: graphql_errors(r, "THROTTLED")),
    "rate limited (429 echoing the token)": echoing(lambda r: shopify_error(r, 429)),
    "5xx with an HTML page echoing the request": echoing(html_502),
    "connection refused": refused,
    "timeout": silent,
    "garbage instead of HTTP": garbled,
    "redirect to another host": redirected,
}


@pytest.mark.parametrize("path", list(SHOPIFY_PATHS))
def test_a_failing_shopify_connection_leaks_no_token(path, tenant_a, in_tenant, api_as, servers, evidence, sweep):
    from connections.services import connection_create
    from connections.shopify.client import RetryPolicy

    case = SHOPIFY_PATHS[path](servers)
    with in_tenant(tenant_a.tenant):
        connection = connection_create(
            actor=tenant_a.admin,
            name="Shop",
            provider="shopify",
            credentials={"access_token": canary("shpat_"), "webhook_secret": canary("shpss_")},
            base_url=case.url,
            account_id="leak-test.myshopify.com",
            backfill_start=date(2026, 5, 1),
        )

    fast = RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.005)
    drive_connection(evidence, tenant_a, api_as, in_tenant, connection, case, retry=fast, timeout=0.5)

    assert_no_leak(sweep(tenant_a))


# --------------------------------------------------------------------------- NetSuite

NETSUITE_ACCOUNT = "1234567_SB1"


def tba_canaries() -> dict[str, str]:
    return {name: canary(f"{name}-") for name in ("consumer_key", "consumer_secret", "token_id", "token_secret")}


def oauth2_canaries(pem: str) -> dict[str, str]:
    return {"client_id": canary("client-"), "certificate_id": canary("cert-"), "private_key": pem}


def netsuite_error(received: Received, status: int, code: str) -> Answer:
    """NetSuite's error body, from a server that quotes the request's headers in its detail."""
    body = {
        "type": "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html",
        "title": "Error",
        "status": status,
        "o:errorDetails": [{"detail": f"Refused {received.echo()}", "o:errorCode": code}],
    }
    return status, {"Content-Type": "application/vnd.oracle.resource+json; type=error"}, json.dumps(body).encode()


def netsuite_sandbox(serve: Serve, credentials: dict[str, str] | None = None, fault: str | None = None) -> Case:
    """The NetSuite sandbox: it knows ``credentials`` (else others), and answers ``fault`` until cleared."""
    from ecomops.sandbox_http import SandboxServer
    from netsuite.sandbox import build_netsuite_sandbox

    app, _ = build_netsuite_sandbox(NETSUITE_ACCOUNT, **(credentials or {}))
    server = serve(SandboxServer(app).start())
    if fault:
        httpx.post(f"{server.url}/__sandbox__/faults", json={"kind": fault, "count": None}).raise_for_status()
    return Case(server, credentials=credentials or tba_canaries(), sandbox=app, retried=bool(fault))


def storm(fault: str) -> Callable[[Serve, str], Case]:
    return lambda serve, pem: netsuite_sandbox(serve, tba_canaries(), fault)


def tba(make: Callable[[Serve], Case], *, retried: bool = False) -> Callable[[Serve, str], Case]:
    """A failure met with TBA credentials; ``retried``: one the client retries."""
    return lambda serve, pem: dataclasses.replace(make(serve), credentials=tba_canaries(), retried=retried)


def oauth2(make: Callable[[Serve], Case]) -> Callable[[Serve, str], Case]:
    """A failure met with OAuth 2.0 client credentials."""
    return lambda serve, pem: dataclasses.replace(make(serve), credentials=oauth2_canaries(pem))


def token_then_refusal(received: Received) -> Answer:
    """A token endpoint that issues a token, and an API that refuses it, quoting it back."""
    if received.path.endswith("/oauth2/v1/token"):
        token = {"access_token": canary("bearer-"), "expires_in": "3600", "token_type": "Bearer"}
        return 200, {"Content-Type": "application/json"}, json.dumps(token).encode()
    return netsuite_error(received, 401, "INVALID_LOGIN")


def assertion_refused(received: Received) -> Answer:
    body = {"error": "invalid_grant", "error_description": f"Bad assertion: {received.echo()}"}
    return 400, {"Content-Type": "application/json"}, json.dumps(body).encode()


NETSUITE_PATHS: dict[str, Callable[[Serve, str], Case]] = {
    "wrong TBA token (INVALID_LOGIN from the sandbox)": lambda serve, pem: netsuite_sandbox(serve),
    "429 CONCURRENCY_LIMIT_EXCEEDED storm (sandbox)": storm("429"),
    "503 storm (sandbox)": storm("503"),
    "INVALID_LOGIN echoing the OAuth header": tba(echoing(lambda r: netsuite_error(r, 401, "INVALID_LOGIN"))),
    "CONCURRENCY_LIMIT_EXCEEDED (400) echoing the OAuth header": tba(
        echoing(lambda r: netsuite_error(r, 400, "CONCURRENCY_LIMIT_EXCEEDED")), retried=True
    ),
    "validation error echoing the request": tba(echoing(lambda r: netsuite_error(r, 400, "USER_ERROR"))),
    "5xx with an HTML page echoing the request": tba(echoing(html_502), retried=True),
    "connection refused": tba(refused, retried=True),
    "timeout": tba(silent, retried=True),
    "garbage instead of HTTP": tba(garbled, retried=True),
    "TLS handshake with garbage": tba(garbled_tls, retried=True),
    "redirect to another host": tba(redirected, retried=True),
    "OAuth 2.0 client refused (sandbox)": lambda serve, pem: dataclasses.replace(
        netsuite_sandbox(serve), credentials=oauth2_canaries(pem)
    ),
    "OAuth 2.0 token endpoint echoing the assertion": oauth2(echoing(assertion_refused)),
    "OAuth 2.0 bearer token refused and echoed": oauth2(echoing(token_then_refusal)),
}
NETSUITE_FAST = {"max_attempts": 3, "base_delay": 0.001, "max_delay": 0.005, "budget_seconds": 5.0}


def netsuite_world(world: Any, case: Case) -> tuple[Any, Any]:
    """A NetSuite connection as the case says, a Stripe connection with an approved payout's
    posting, and the GL mapping between them; returns (the NetSuite connection, the posting)."""
    from connections.services import connection_create
    from netsuite.models import NetsuitePosting
    from netsuite.sandbox import build_netsuite_sandbox
    from netsuite.services import gl_mapping_create, posting_approve, postings_after_recon
    from netsuite.tests.factories import PayoutSpec, full_mapping_values, reconcile, write_payouts

    stripe = connection_create(
        actor=world.admin, name="Stripe", provider="stripe", credentials={"api_key": canary("sk_live_")}
    )
    netsuite = connection_create(
        actor=world.admin,
        name="NetSuite",
        provider="netsuite",
        base_url=case.url,
        account_id=NETSUITE_ACCOUNT,
        credentials=case.credentials,
    )
    chart = build_netsuite_sandbox(NETSUITE_ACCOUNT).credentials  # the seeded accounts' ids
    mapping = full_mapping_values(chart)
    gl_mapping_create(actor=world.admin, connection=stripe, netsuite_connection=netsuite, subsidiary_id="1", **mapping)
    write_payouts(stripe, PayoutSpec("po_leak"))
    reconcile()
    postings_after_recon()
    posting = posting_approve(posting=NetsuitePosting.objects.get(source_id="po_leak"), actor=world.accountant)
    return netsuite, posting


@pytest.fixture(scope="module")
def pem() -> str:
    from netsuite.sandbox.server import generate_rsa_private_key_pem

    return generate_rsa_private_key_pem()


@pytest.fixture(scope="module", autouse=True)
def _close_netsuite_clients(django_db_setup):
    """The SuiteQL paths keep a client and a slot-provider connection per process: closed
    before the test database is dropped."""
    yield
    from netsuite.connection import close_slot_providers, forget_shared_clients

    forget_shared_clients()
    close_slot_providers()


def pem_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


@pytest.mark.parametrize("path", list(NETSUITE_PATHS))
def test_a_failing_netsuite_connection_leaks_no_credential(
    path, tenant_a, in_tenant, api_as, servers, evidence, sweep, pem
):
    from netsuite.client import LocalSlotProvider, RetryPolicy
    from netsuite.connection import netsuite_client
    from netsuite.services import posting_send

    case = NETSUITE_PATHS[path](servers, pem)
    evidence.extra_secrets += pem_lines(pem)
    with in_tenant(tenant_a.tenant):
        netsuite, posting = netsuite_world(tenant_a, case)

    api = api_as(tenant_a.admin, tenant_a.tenant)
    if not case.silent:
        evidence.response("api connection test", api.post(f"/api/v1/connections/{netsuite.pk}/test/"))
        page = signed_in(tenant_a.admin.email)
        tested = page.post(f"/connections/{netsuite.pk}/test/", HTTP_HX_REQUEST="true")
        evidence.response("page connection test", tested)
    if not case.silent:  # the shared client's timeout is a long one
        query = {"connection": str(netsuite.pk), "q": "SELECT id, name FROM subsidiary", "limit": 10}
        evidence.response("api suiteql", api.post("/api/v1/netsuite/suiteql/", query, format="json"))
    with in_tenant(tenant_a.tenant):
        client = netsuite_client(
            netsuite, retry_budget=RetryPolicy(**NETSUITE_FAST), timeout=0.5, slot_provider=LocalSlotProvider()
        )
        sent = posting_send(posting_id=posting.pk, client=client)
        assert sent.state == "failed", sent.last_error

    case.what_was_sent(evidence)
    assert_no_leak(sweep(tenant_a))


# --------------------------------------------------------------------------- webhooks


def test_refused_webhooks_name_no_signing_secret(tenant_a, in_tenant, api, evidence, sweep):
    import base64
    import hashlib
    import hmac
    import time

    from connections.services import connection_create
    from connections.stripe.sandbox.server import sign_webhook

    stripe_secret, shopify_secret = canary("whsec_"), canary("shpss_")
    with in_tenant(tenant_a.tenant):
        stripe = connection_create(
            actor=tenant_a.admin,
            name="Stripe",
            provider="stripe",
            credentials={"api_key": canary("sk_live_"), "webhook_secret": stripe_secret},
        )
        shop = connection_create(
            actor=tenant_a.admin,
            name="Shop",
            provider="shopify",
            credentials={"access_token": canary("shpat_"), "webhook_secret": shopify_secret},
            account_id="leak-test.myshopify.com",
        )
    event = json.dumps({"id": "evt_1", "type": "charge.refunded", "data": {"object": {"id": "ch_1"}}}).encode()
    stale = int(time.time()) - 3600
    stripe_headers = {
        "no signature": {},
        "signed with another secret": {"HTTP_STRIPE_SIGNATURE": sign_webhook(event, "whsec_someone_else")},
        "signed an hour ago": {"HTTP_STRIPE_SIGNATURE": sign_webhook(event, stripe_secret, timestamp=stale)},
        "malformed": {"HTTP_STRIPE_SIGNATURE": "t=abc,v1="},
    }
    for name, headers in stripe_headers.items():
        response = api.post(f"/webhooks/stripe/{stripe.pk}/", event, content_type="application/json", **headers)
        assert response.status_code == 400, (name, response.content)
        evidence.response(f"stripe webhook {name}", response)
    not_an_event = b'{"hello": "world"}'
    response = api.post(
        f"/webhooks/stripe/{stripe.pk}/",
        not_an_event,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign_webhook(not_an_event, stripe_secret),
    )
    evidence.response("stripe webhook signed but no event", response)

    order = b'{"id": 1, "admin_graphql_api_id": "gid://shopify/Order/1"}'
    wrong = base64.b64encode(hmac.new(b"someone else", order, hashlib.sha256).digest()).decode()
    shopify_headers = {
        "no signature": {},
        "signed with another secret": {"HTTP_X_SHOPIFY_HMAC_SHA256": wrong},
        "signed but no topic": {
            "HTTP_X_SHOPIFY_HMAC_SHA256": base64.b64encode(
                hmac.new(shopify_secret.encode(), order, hashlib.sha256).digest()
            ).decode()
        },
    }
    for name, headers in shopify_headers.items():
        response = api.post(f"/webhooks/shopify/{shop.pk}/", order, content_type="application/json", **headers)
        assert response.status_code == 400, (name, response.content)
        evidence.response(f"shopify webhook {name}", response)

    assert_no_leak(sweep(tenant_a))


# --------------------------------------------------------------------------- passwords and refused input


def test_refused_sign_ins_and_refused_connection_input_echo_no_secret(tenant_a, api, api_as, evidence, sweep):
    from django.test import Client

    password = canary("pw-")
    for email in (tenant_a.admin.email, "nobody@example.com", "not an email"):
        form = Client().post("/login/", {"email": email, "password": password})
        evidence.response(f"login page as {email}", form)
        answer = api.post("/api/v1/auth/login/", {"email": email, "password": password}, format="json")
        evidence.response(f"api login as {email}", answer)
    evidence.response(
        "api register refused",
        api.post("/api/v1/auth/register/", {"email": "not an email", "password": password}, format="json"),
    )

    admin = api_as(tenant_a.admin, tenant_a.tenant)
    refused = {
        "unknown credential field": {"provider": "stripe", "credentials": {"api_kee": canary("sk_live_")}},
        "credentials not an object": {"provider": "stripe", "credentials": canary("sk_live_")},
        "no name": {"provider": "stripe", "name": "", "credentials": {"api_key": canary("sk_live_")}},
        "unknown provider": {"provider": "paypal", "credentials": {"api_key": canary("sk_live_")}},
        "a key that is no PEM": {
            "provider": "netsuite",
            "account_id": NETSUITE_ACCOUNT,
            "credentials": {"client_id": canary(), "certificate_id": canary(), "private_key": canary("-----BEGIN ")},
        },
        "half a TBA set": {
            "provider": "netsuite",
            "account_id": NETSUITE_ACCOUNT,
            "credentials": tba_canaries() | {"token_secret": ""},
        },
    }
    for name, payload in refused.items():
        response = admin.post("/api/v1/connections/", {"name": "Refused", **payload}, format="json")
        assert response.status_code == 400, (name, response.status_code, response.content)
        evidence.response(f"api connection refused: {name}", response)

    page = signed_in(tenant_a.admin.email)
    form = {"name": "", "provider": "stripe", "new_api_key": canary("sk_live_"), "netsuite_concurrency": 2}
    evidence.response("admin connection add refused", page.post("/admin/connections/connection/add/", form))

    assert_no_leak(sweep(tenant_a))


# --------------------------------------------------------------------------- MCP


@pytest.mark.parametrize(
    "path", ["INVALID_LOGIN echoing the OAuth header", "OAuth 2.0 token endpoint echoing the assertion"]
)
def test_the_suiteql_tool_refused_by_netsuite_answers_no_credential(
    path, committed_tenant, servers, evidence, sweep, pem
):
    from connections.services import connection_create
    from ecomops.tenancy import tenant_context
    from mcp_bridge.governance import Pipeline
    from mcp_bridge.tools import TOOLS

    # Committed: the pipeline closes stale database connections around each call, as runmcp does.
    world = committed_tenant("leak-mcp")
    world.owner.set_password(PASSWORD)
    world.owner.save()
    case = NETSUITE_PATHS[path](servers, pem)
    evidence.extra_secrets += pem_lines(pem)
    with tenant_context(world.tenant):
        netsuite = connection_create(
            actor=world.owner,
            name="NetSuite",
            provider="netsuite",
            base_url=case.url,
            account_id=NETSUITE_ACCOUNT,
            credentials=case.credentials,
        )

    result = Pipeline(tenant=world.tenant, user=world.owner, tools=TOOLS).call(
        "netsuite.suiteql", {"query": "SELECT id FROM subsidiary", "connection": str(netsuite.pk)}
    )

    assert result.is_error, result.payload
    evidence.add("mcp result", result.payload)
    evidence.add("mcp text", result.text)
    case.what_was_sent(evidence)
    assert_no_leak(sweep(world))


# --------------------------------------------------------------------------- the worker


@pytest.mark.slow
def test_jobs_failing_on_the_worker_log_and_store_no_credential(
    committed_tenant, servers, tmp_path, monkeypatch, evidence, sweep
):
    from django_q.models import Task

    from connections.models import SyncJob
    from connections.services import connection_create
    from connections.sync.runner import sync_start
    from ecomops.tenancy import tenant_context
    from netsuite.models import NetsuitePosting
    from tests.worker import Worker, wait_for

    world = committed_tenant("leak-worker")
    world.owner.set_password(PASSWORD)
    world.owner.save()
    stripe_case = STRIPE_PATHS["revoked key (401 api_key_expired echoing the key)"](servers)
    netsuite_case = NETSUITE_PATHS["INVALID_LOGIN echoing the OAuth header"](servers, "")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    worker = Worker(tmp_path / "worker.log").start()
    try:
        with tenant_context(world.tenant):
            stripe = connection_create(
                actor=world.owner,
                name="Stripe",
                provider="stripe",
                credentials={"api_key": canary("sk_live_")},
                base_url=stripe_case.url,
                backfill_start=date(2024, 1, 1),
            )
            job = sync_start(connection=stripe, actor=world.owner, trigger="test")  # queued for the worker
            _, posting = netsuite_world(world, netsuite_case)  # approved: its send is queued too

        def both_failed() -> bool:
            with tenant_context(world.tenant):
                synced = SyncJob.objects.get(pk=job.pk).status == "failed"
                posted = NetsuitePosting.objects.get(pk=posting.pk).state == "failed"
            # each task's result row too (the sync's and the send's), which django-q2's monitor
            # saves after the task has done its work: the sweep reads them
            recorded = Task.objects.filter(func="ecomops.tasks.run_tenant_task").count() >= 2
            return synced and posted and recorded

        wait_for(
            both_failed, timeout=90, message=f"the worker to fail and record the sync and the posting\n{worker.log()}"
        )
    finally:
        worker.stop()

    evidence.add("worker log", (tmp_path / "worker.log").read_text(errors="replace"))
    stripe_case.what_was_sent(evidence)
    netsuite_case.what_was_sent(evidence)
    assert_no_leak(sweep(world))


# --------------------------------------------------------------------------- the sweep itself


def test_the_sweep_finds_a_credential_wherever_it_was_left(tenant_a, in_tenant, evidence, sweep):
    """The proof above is only as good as its search: a credential planted in a stored message,
    a log line and an audit event is found in each, and on the pages that show them."""
    import structlog

    from audit.services import audit_record
    from connections.models import SyncJob
    from connections.services import connection_create

    key = canary("sk_live_")
    shapeless = canary("token-")  # the log masks a Stripe key by its shape: this has none
    with in_tenant(tenant_a.tenant):
        connection = connection_create(
            actor=tenant_a.admin, name="Stripe", provider="stripe", credentials={"api_key": "sk_live_harmless_1234"}
        )
        SyncJob.objects.create(connection=connection, status="failed", error_message=f"refused {key}")
        audit_record(action="test.planted", actor=tenant_a.admin, detail={"note": f"echo {key}"})
    logging.getLogger("somewhere.deep").debug("provider said %s", shapeless)
    structlog.get_logger("ours").info("provider_said", body=f"echo {shapeless}")

    leaks = sweep(tenant_a)

    places = {leak.split(":", 1)[0].split(" (")[0] for leak in leaks}
    assert "table t_acme.connections_syncjob" in places
    assert "table t_acme.audit_auditevent" in places
    assert "page /jobs/" in places
    assert "api /api/v1/jobs/" in places
    assert any(place.startswith("page /admin/connections/syncjob/") for place in places)
    assert any(place.startswith("page /admin/audit/auditevent/") for place in places)
    assert any(place.startswith("log somewhere.deep debug") for place in places)
    assert any(place.startswith("log ours info") for place in places)
