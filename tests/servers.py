"""A loopback HTTP server for tests that need a server to answer what no sandbox would (a
gateway's error page, a body that quotes the request back, a 200 that is not JSON)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def echo(self) -> str:
        """The request as a careless server quotes it back: request line and every header."""
        head = "; ".join(f"{k}: {v}" for k, v in self.headers.items())
        return f"{self.method} {self.path} {head} {self.body[:4000].decode('utf-8', 'replace')}"


Answer = tuple[int, dict[str, str], bytes]


class EchoServer:
    """A loopback HTTP server that answers every request with ``answer(received)``."""

    def __init__(self, answer: Callable[[Received], Answer], host: str = "127.0.0.1") -> None:
        self.answer = answer
        self.received: list[Received] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                got = Received(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
                outer.received.append(got)
                status, headers, body = outer.answer(got)
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
