"""``manage.py runmcp`` as its own process, talked to with the MCP SDK's client over stdio.

The client session lives on an event loop in a thread of its own, so synchronous tests (and
their database checks) can share one server across a module. Every line the server writes
to its standard output is kept as written (``raw``), for checking against the protocol's
JSON Schemas.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import jsonschema
import mcp.client.stdio as mcp_stdio
from mcp.client.session import ClientSession

from tests.worker import ROOT, worker_database_url

SCHEMAS = ROOT.parent / "shared" / "data" / "mcp"


def server_env(**extra: str) -> dict[str, str]:
    """The environment of a runmcp process against the test database."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ecomops.settings.test",
        "DATABASE_URL": worker_database_url(),
        **extra,
    }


def runmcp_refused(*args: str) -> subprocess.CompletedProcess:
    """Run ``manage.py runmcp`` expecting it to refuse; its stdin is closed at once."""
    return subprocess.run(
        [sys.executable, "manage.py", "runmcp", *args],
        cwd=ROOT,
        env=server_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


class McpServerProcess:
    """``with McpServerProcess(tenant, email, stderr_path, env) as server: server.call(...)``"""

    def __init__(self, *, tenant: str, user: str, stderr_path: Path, env: dict[str, str]) -> None:
        self.params = mcp_stdio.StdioServerParameters(
            command=sys.executable,
            args=["manage.py", "runmcp", "--tenant", tenant, "--user", user],
            cwd=str(ROOT),
            env=env,
        )
        self.stderr_path = stderr_path
        self.raw: list[str] = []  # every line of the server's stdout, as written
        self.protocol_version = ""
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._session: ClientSession | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._parse_line = mcp_stdio._parse_line

    def __enter__(self) -> McpServerProcess:
        def tap(line: str) -> Any:
            self.raw.append(line)
            return self._parse_line(line)

        # The SDK's transport parses each line here: the one place that sees it as written.
        mcp_stdio._parse_line = tap
        self._thread.start()
        if not self._ready.wait(120) or self._error is not None:
            self.__exit__()
            raise RuntimeError(f"runmcp did not start: {self._error!r}\n{self.stderr()}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        mcp_stdio._parse_line = self._parse_line

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            with self.stderr_path.open("w") as errlog:
                async with (
                    mcp_stdio.stdio_client(self.params, errlog=errlog) as (read, write),
                    ClientSession(read, write) as session,
                ):
                    self.protocol_version = (await session.initialize()).protocol_version
                    self._session = session
                    self._ready.set()
                    await self._stop.wait()
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    def _run(self, coroutine: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=120)

    def call(self, name: str, arguments: dict[str, Any] | None = None) -> Any:
        """``tools/call``: the CallToolResult."""
        assert self._session is not None
        return self._run(self._session.call_tool(name, arguments or {}))

    def tool_names(self) -> list[str]:
        assert self._session is not None
        return [tool.name for tool in self._run(self._session.list_tools()).tools]

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""


def message_schema_errors(raw_lines: list[str], protocol_version: str) -> list[str]:
    """Each line the server wrote that is not a valid message of ``protocol_version``, and why.

    A line must be one JSON-RPC message; a result is also checked as the result it answers
    (initialize, tools/list, tools/call, or an empty one), told apart by its shape.
    """
    schema = json.loads((SCHEMAS / f"mcp-spec-{protocol_version}.schema.json").read_text())
    defs = "$defs" if "$defs" in schema else "definitions"
    validator_class = jsonschema.validators.validator_for(schema)

    def check(instance: Any, name: str) -> list[str]:
        validator = validator_class({**schema, "$ref": f"#/{defs}/{name}"})
        return [f"{name}: {e.message[:300]} at {list(e.absolute_path)}" for e in validator.iter_errors(instance)]

    problems = []
    for line in raw_lines:
        try:
            message = json.loads(line)
        except ValueError:
            problems.append(f"not JSON: {line[:200]!r}")
            continue
        errors = check(message, "JSONRPCMessage")
        result = message.get("result") if isinstance(message, dict) else None
        if isinstance(result, dict):
            if "protocolVersion" in result:
                errors += check(result, "InitializeResult")
            elif "tools" in result:
                errors += check(result, "ListToolsResult")
            elif "content" in result:
                errors += check(result, "CallToolResult")
            else:
                errors += check(result, "EmptyResult")
        problems += [f"{line[:120]}: {error}" for error in errors]
    return problems
