"""Worker processes for the cross-process concurrency test (importable under ``spawn``)."""

from __future__ import annotations

import threading
from typing import Any

from netsuite.auth import TbaCredentials, TokenBasedAuth
from netsuite.client import LocalSlotProvider, NetSuiteClient, RetryPolicy
from netsuite.slots import PostgresSlotProvider


def hammer(
    base_url: str,
    credentials: dict[str, str],
    conninfo: str | None,
    limit: int,
    threads: int,
    requests_per_thread: int,
    start: Any,
) -> None:
    """Send GETs from ``threads`` threads sharing one client, after all processes are ready."""
    provider = PostgresSlotProvider(conninfo) if conninfo else LocalSlotProvider()
    auth = TokenBasedAuth(TbaCredentials(**credentials))
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, budget_seconds=30)
    errors: list[BaseException] = []
    with NetSuiteClient(
        base_url, credentials["account_id"], auth, max_concurrency=limit, slot_provider=provider, retry_budget=policy
    ) as client:

        def run() -> None:
            try:
                for _ in range(requests_per_thread):
                    client.get("account", "101")
            except BaseException as exc:  # reported through the exit code
                errors.append(exc)

        start.wait()
        workers = [threading.Thread(target=run) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    if isinstance(provider, PostgresSlotProvider):
        provider.close()
    if errors:
        raise SystemExit(f"worker failed: {errors[0]!r}")
