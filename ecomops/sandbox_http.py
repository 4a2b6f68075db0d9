"""Shared HTTP plumbing for the development sandboxes (Stripe, Shopify, NetSuite).

Each sandbox imitates one provider on a loopback port. This module gives them one
threaded server, one request/response shape and one fault-injection switchboard, so a
test can tell any sandbox to misbehave the same way:

    POST /__sandbox__/faults   {"kind": "429", "count": 3}
    POST /__sandbox__/faults   {"kind": "500", "count": 1, "path_prefix": "/v1/payouts"}
    POST /__sandbox__/faults   {"kind": "slow", "count": 5, "delay_ms": 300}
    POST /__sandbox__/faults   {"kind": "latency", "delay_ms": 200}   # every request, until cleared
    POST /__sandbox__/faults   {"kind": "malformed", "count": 1}
    POST /__sandbox__/faults   {"kind": "drop_after_commit", "count": 1}
    DELETE /__sandbox__/faults                                          # clear all
    GET  /__sandbox__/stats                                             # request counters

Kinds: ``429`` and ``500``/``502``/``503`` answer with that status before the route runs;
``slow`` sleeps ``delay_ms`` then answers normally; ``latency`` adds ``delay_ms`` to every
request until cleared; ``malformed`` runs the route and then sends a truncated, invalid
JSON body; ``drop_after_commit`` runs the route (so its writes happen) and then closes the
socket without answering, the "lost response" case.

The sandboxes are development and test fakes: they never run under production settings.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

CONTROL_PREFIX = "/__sandbox__/"
STATUS_FAULTS = {"429": 429, "500": 500, "502": 502, "503": 503}


@dataclass
class SandboxRequest:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def query_dict(self) -> dict[str, str]:
        return dict(self.query)

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> list[tuple[str, str]]:
        return parse_qsl(self.body.decode(), keep_blank_values=True)


@dataclass
class SandboxResponse:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> SandboxResponse:
        merged = {"Content-Type": "application/json"}
        merged.update(headers or {})
        return cls(status=status, body=json.dumps(payload).encode(), headers=merged)


@dataclass
class Fault:
    kind: str
    count: int | None = 1  # None: until cleared
    delay_ms: int = 0
    path_prefix: str = ""


class FaultBoard:
    """Thread-safe list of pending faults, consumed by matching requests in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.requests_seen = 0
        self.faults_served = 0

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, path: str) -> list[Fault]:
        """Return the faults that apply to this request, consuming counted ones."""
        taken: list[Fault] = []
        with self._lock:
            self.requests_seen += 1
            for fault in list(self._faults):
                if not path.startswith(fault.path_prefix):
                    continue
                if fault.kind == "latency":
                    taken.append(fault)
                    continue
                if any(t.kind != "latency" for t in taken):
                    continue  # one counted fault per request
                taken.append(fault)
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
            self.faults_served += sum(1 for t in taken if t.kind != "latency")
        return taken


class SandboxApp:
    """A provider imitation. Subclasses implement ``handle``; the base serves it."""

    name = "sandbox"

    def __init__(self) -> None:
        self.faults = FaultBoard()

    def handle(self, request: SandboxRequest) -> SandboxResponse:  # pragma: no cover - abstract
        raise NotImplementedError

    def status_fault_response(self, status: int) -> SandboxResponse:
        """The provider's own body for an injected error status; override per provider."""
        return SandboxResponse.json({"error": {"message": f"Injected fault {status}"}}, status=status)

    def control(self, request: SandboxRequest) -> SandboxResponse:
        action = request.path[len(CONTROL_PREFIX) :].strip("/")
        if action == "faults" and request.method == "POST":
            try:
                spec = request.json() or {}
                fault = Fault(
                    kind=str(spec["kind"]),
                    count=None if spec.get("count", 1) is None else int(spec.get("count", 1)),
                    delay_ms=int(spec.get("delay_ms", 0)),
                    path_prefix=str(spec.get("path_prefix", "")),
                )
            except (KeyError, TypeError, ValueError) as exc:
                return SandboxResponse.json({"error": f"bad fault spec: {exc}"}, status=400)
            if fault.kind == "latency":
                fault.count = None
            if fault.kind not in {*STATUS_FAULTS, "slow", "latency", "malformed", "drop_after_commit"}:
                return SandboxResponse.json({"error": f"unknown fault kind {fault.kind!r}"}, status=400)
            self.faults.add(fault)
            return SandboxResponse.json({"ok": True})
        if action == "faults" and request.method == "DELETE":
            self.faults.clear()
            return SandboxResponse.json({"ok": True})
        if action == "stats":
            return SandboxResponse.json(
                {"requests": self.faults.requests_seen, "faults_served": self.faults.faults_served}
            )
        return SandboxResponse.json({"error": "unknown control action"}, status=404)


def _make_handler(app: SandboxApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"{app.name}-sandbox"
        # Headers and body go out in two writes; with Nagle on, the body waits for the
        # client's delayed ACK (~40 ms a response). TCP_NODELAY sends both at once.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: tests and `manage.py sandbox` report on their own

        def _dispatch(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = SandboxRequest(
                method=self.command,
                path=parts.path,
                query=parse_qsl(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            if request.path.startswith(CONTROL_PREFIX):
                self._send(app.control(request))
                return
            faults = app.faults.take(request.path)
            for fault in faults:
                if fault.kind in ("slow", "latency"):
                    time.sleep(fault.delay_ms / 1000)
            counted = next((f for f in faults if f.kind not in ("slow", "latency")), None)
            if counted and counted.kind in STATUS_FAULTS:
                self._send(app.status_fault_response(STATUS_FAULTS[counted.kind]))
                return
            try:
                response = app.handle(request)
            except Exception as exc:  # a sandbox bug must answer, not hang the client
                response = SandboxResponse.json({"error": {"message": f"sandbox error: {exc}"}}, status=500)
            if counted and counted.kind == "drop_after_commit":
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if counted and counted.kind == "malformed":
                response = SandboxResponse(
                    status=200,
                    body=response.body[: max(1, len(response.body) // 2)] or b"{",
                    headers={"Content-Type": "application/json"},
                )
            self._send(response)

        def _send(self, response: SandboxResponse) -> None:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if response.body and self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out or hung up (the fault tests do it on purpose) is not an
        # error worth a traceback on stderr.
        import sys

        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class SandboxServer:
    """Serves a SandboxApp on a loopback port in a background thread."""

    def __init__(self, app: SandboxApp, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("sandboxes only listen on loopback")
        self.app = app
        self.httpd = _QuietServer((host, port), _make_handler(app))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SandboxServer:
        # A short poll interval: stop() waits up to one interval, and tests start many servers.
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"{self.app.name}-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
