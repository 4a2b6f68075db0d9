"""Benchmark: posting journal entries to the sandbox with 200 ms latency per call.

Run: ``.venv/bin/python -m netsuite.tests.bench_posting``. Not collected by pytest.
Shows what the per-account concurrency limit costs and buys: with NetSuite-like latency
the throughput scales with the number of slots, so the limit is a real trade-off
against the customer's other integrations sharing the pool.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import httpx

from ecomops.sandbox_http import SandboxServer
from netsuite.client import LocalSlotProvider, NetSuiteClient
from netsuite.journal import GlMapping, PayoutSummary, build_journal_entry
from netsuite.sandbox import build_netsuite_sandbox

ENTRIES = 24
LATENCY_MS = 200


def run(max_concurrency: int, workers: int = 8) -> tuple[float, int]:
    """Post ENTRIES upserts from ``workers`` threads; return (seconds, max in flight seen)."""
    app, creds = build_netsuite_sandbox()
    mapping = GlMapping(**creds.gl_mapping_ids(), currency_ids=creds.currency_ids())
    with SandboxServer(app) as server:
        httpx.post(f"{server.url}/__sandbox__/faults", json={"kind": "latency", "delay_ms": LATENCY_MS})
        client = NetSuiteClient(
            server.url,
            creds.account_id,
            creds.tba_auth(),
            max_concurrency=max_concurrency,
            slot_provider=LocalSlotProvider(),
        )
        bodies = [
            build_journal_entry(
                PayoutSummary(
                    "t1",
                    "stripe",
                    f"po_{n}",
                    "USD",
                    date(2024, 5, 1),
                    "1",
                    9680,
                    gross_charges_minor=10000,
                    processor_fees_minor=-320,
                ),
                mapping,
            )
            for n in range(ENTRIES)
        ]
        started = time.perf_counter()
        with client, ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda b: client.upsert_by_external_id("journalentry", b["externalId"], b), bodies))
        elapsed = time.perf_counter() - started
        assert app.store.count_journals() == ENTRIES
        return elapsed, app.stats()["max_in_flight"][creds.account_id]


def main() -> None:
    """Print one line per concurrency setting."""
    for limit in (1, 2, 4):
        elapsed, peak = run(limit)
        print(
            f"max_concurrency={limit}: {ENTRIES} entries in {elapsed:.2f}s "
            f"({ENTRIES / elapsed:.1f}/s, {elapsed / ENTRIES * 1000:.0f} ms/entry), max in flight {peak}"
        )


if __name__ == "__main__":
    main()
