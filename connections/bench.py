"""Ingestion: Stripe sandbox over HTTP into the canonical tables, against a plain COPY.

Figures, all measured in one run on this machine:

(a) end to end: a full sync from a Stripe sandbox (its own process, lazy scale ledger of N
    balance transactions with their charges and payment intents) over HTTP into the
    canonical tables, in objects/s;
(b) the upsert stage alone (``canonical.upsert.upsert_rows``) in rows/s, and
(c) a plain ``COPY`` of the very same rows into a scratch table with the same columns and
    indexes, in rows/s; (b)/(c) is the price of the idempotent upsert;
(d) a second, unchanged sync: its time and the rows it wrote (must be 0).

Pages are streamed and committed as they arrive, so memory stays flat in N.
"""

from __future__ import annotations

import resource
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.db import connection as db
from django.db import transaction

from ecomops.cli import at_least

BATCH_ROWS = 5000


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--objects",
        type=at_least(1, maximum=5_000_000),
        default=200_000,
        help="balance transactions in the sandbox ledger",
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench tenant (default: drop it)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_sandbox(objects: int) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-m", "connections.stripe.sandbox.server", "--port", str(port), "--scale", str(objects)],
        cwd=Path(settings.BASE_DIR),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/__sandbox__/stats", timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the Stripe sandbox did not start")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _copy_baseline(rows_by_kind: dict[str, list], connection_id: uuid.UUID, tenant_id: uuid.UUID) -> float:
    """Time a plain COPY of the same rows (same columns, same indexes) into scratch tables."""
    from canonical.models import CANONICAL_MODELS
    from canonical.rows import KIND_FIELDS
    from canonical.upsert import COMMON_COLUMNS, copy_values

    elapsed = 0.0
    now = datetime.now(UTC)
    for kind, rows in rows_by_kind.items():
        table = CANONICAL_MODELS[kind]._meta.db_table
        scratch = db.ops.quote_name(f"bench_copy_{table}")
        columns = ("id", "tenant_id", *COMMON_COLUMNS, *KIND_FIELDS[kind])
        # The clock covers turning the rows into COPY tuples, as it does for the upsert.
        started = time.perf_counter()
        prepared = [(uuid.uuid4(), tenant_id, *copy_values(r, connection_id, "", now)) for r in rows]
        with transaction.atomic(), db.cursor() as cursor:
            paused = time.perf_counter()
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {scratch} (LIKE {db.ops.quote_name(table)} INCLUDING ALL)")
            started += time.perf_counter() - paused  # the scratch table's creation is not the COPY
            with cursor.cursor.copy(f"COPY {scratch} ({', '.join(columns)}) FROM STDIN") as copy:
                for values in prepared:
                    copy.write_row(values)
            elapsed += time.perf_counter() - started
    return elapsed


def _lines_linked(connection) -> tuple[int, int]:
    """Lines that stand for a payment, refund or dispute, and how many of them the sync linked
    as it wrote them (the others wait for reconciliation: their object came later)."""
    from django.db.models import Count, Q

    from canonical.models import LINKED_KINDS, PayoutLine

    categories = [category for kind in LINKED_KINDS.values() for category in kind]
    counts = PayoutLine.objects.filter(connection=connection, reporting_category__in=categories).aggregate(
        linkable=Count("id"),
        linked=Count("id", filter=Q(payment__isnull=False) | Q(refund__isnull=False) | Q(dispute__isnull=False)),
    )
    return counts["linked"], counts["linkable"]


def _stage_measurements(url: str, connection, out: Any, verbose: bool) -> tuple[int, float, float]:
    """Stream the sandbox's rows; time the upsert and a plain COPY of each batch."""
    from canonical.upsert import upsert_rows
    from connections.stripe import normalize
    from connections.stripe.client import StripeApi

    api = StripeApi(connection.credentials["api_key"], base_url=url, rate_limit=None)
    total_rows, upsert_seconds, copy_seconds = 0, 0.0, 0.0
    for listing in ("balance_transactions", "charges"):
        batch: list = []
        pages = api.iter_pages(listing)
        for page in pages:
            batch.extend(normalize.normalize(obj) for obj in page.data)
            if len(batch) >= BATCH_ROWS or not page.has_more:
                with transaction.atomic():
                    started = time.perf_counter()
                    upsert_rows(batch, connection_id=connection.pk, tenant_id=connection.tenant_id)
                    upsert_seconds += time.perf_counter() - started
                copy_seconds += _copy_baseline({batch[0].kind: batch}, connection.pk, connection.tenant_id)
                total_rows += len(batch)
                batch = []
    return total_rows, upsert_seconds, copy_seconds


def run(options: dict[str, Any], out: Any) -> dict[str, Any]:
    from canonical.models import CANONICAL_MODELS
    from connections.services import connection_create
    from connections.stripe.sandbox.server import DEFAULT_API_KEY
    from connections.sync.runner import sync_job_run, sync_start
    from ecomops.tenancy import public_context, tenant_context
    from tenants.models import Tenant
    from tenants.services import tenant_create

    verbose = not options.get("json")
    objects = options["objects"]
    say = (lambda text: out.write(text)) if verbose else (lambda text: None)
    say(f"Starting a Stripe sandbox with {objects:,} balance transactions (+ their charges and payment intents)...")
    sandbox, url = _start_sandbox(objects)
    tenants = []

    def scratch_tenant(label: str):
        tenant = tenant_create(
            name=f"Ingest benchmark ({label})", plan="enterprise", slug=f"bench-{label}-{uuid.uuid4().hex[:6]}"
        )
        tenants.append(tenant)
        return tenant

    def connection(name: str, **extra: Any):
        return connection_create(
            actor=None, name=name, provider="stripe", credentials={"api_key": DEFAULT_API_KEY}, base_url=url, **extra
        )

    try:
        with tenant_context(scratch_tenant("e2e")):
            e2e = connection("bench e2e", backfill_start=date(2000, 1, 1))
            fast = {"rate_limit": None}
            started = time.perf_counter()
            first = sync_job_run(job=sync_start(connection=e2e, trigger="bench", enqueue=False), client_options=fast)
            e2e_seconds = time.perf_counter() - started
            if first.status != "succeeded":
                raise RuntimeError(f"the end-to-end sync failed: {first.error_message}")
            stored = sum(model.objects.filter(connection=e2e).count() for model in CANONICAL_MODELS.values())
            say(
                f"(a) end to end: {stored:,} objects stored ({first.object_count:,} read, {first.pages:,} pages) "
                f"in {e2e_seconds:.1f} s = {stored / e2e_seconds:,.0f} objects/s  (target >= 10,000)"
            )
            linked, linkable = _lines_linked(e2e)
            say(f"    lines linked to their object as they were written: {linked:,} of {linkable:,}")

            started = time.perf_counter()
            second = sync_job_run(job=sync_start(connection=e2e, trigger="bench", enqueue=False), client_options=fast)
            resync_seconds = time.perf_counter() - started
            written = second.created_count + second.updated_count
            say(
                f"(d) unchanged re-sync: {resync_seconds:.1f} s, {written} rows written "
                f"({second.unchanged_count:,} re-read unchanged)"
            )
        # (b) and (c) in a fresh tenant of their own, into empty tables, so neither writes into
        # indexes the end-to-end run has already grown.
        with tenant_context(scratch_tenant("stage")):
            rows, upsert_seconds, copy_seconds = _stage_measurements(url, connection("bench stage"), out, verbose)
        upsert_rate, copy_rate = rows / upsert_seconds, rows / copy_seconds
        say(f"(b) upsert stage: {rows:,} rows in {upsert_seconds:.2f} s = {upsert_rate:,.0f} rows/s")
        say(f"(c) plain COPY of the same rows: {copy_seconds:.2f} s = {copy_rate:,.0f} rows/s")
        say(f"    (b)/(c) = {upsert_rate / copy_rate:.2f}  (target >= 0.5)")

        say(f"peak RSS {_peak_rss_mb():.0f} MB")
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
        if not options.get("keep"):
            with public_context():
                for tenant in tenants:
                    Tenant.objects.get(pk=tenant.pk).delete(force_drop=True)
    return {
        "objects": stored,
        "objects_read": first.object_count,
        "balance_transactions": objects,
        "end_to_end_seconds": round(e2e_seconds, 3),
        "end_to_end_objects_per_s": round(stored / e2e_seconds),
        "upsert_rows": rows,
        "upsert_rows_per_s": round(upsert_rate),
        "copy_rows_per_s": round(copy_rate),
        "upsert_to_copy_ratio": round(upsert_rate / copy_rate, 3),
        "lines_linked_on_arrival": linked,
        "lines_linkable": linkable,
        "resync_seconds": round(resync_seconds, 3),
        "resync_rows_written": written,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }
