"""Export N orders as CSV: PostgreSQL's COPY against the Python csv writer, same file, same run.

``manage.py bench export --rows 1000000 [--json]`` builds a scratch tenant, fills its orders
table with set-based SQL (``INSERT ... SELECT generate_series``: a year of orders, with
microsecond timestamps, cancelled and refunded ones, order numbers a spreadsheet would run
as formulas, commas and quotes), then downloads the whole table as the orders page and the
API export it (``canonical.exports.csv_response`` over the table's own order, its default
columns), reading every byte of the streamed body:

(a) the Python path (``use_copy=False``: rows read through a cursor, each cell by ``_cell``
    and the csv module), the baseline;
(b) the COPY path (``COPY (SELECT ...) TO STDOUT WITH (FORMAT csv)``), what the table exports use;

and prints both times, rows/s and MB/s, their ratio, whether the two files are the same bytes
(sha256), the largest piece the stream sent and the process's peak RSS (the body is streamed:
neither grows with N). The tenant and its schema are dropped at the end.
"""

from __future__ import annotations

import hashlib
import resource
import time
import uuid
from typing import Any

from django.db import connection as db
from django.db import transaction

from ecomops.cli import at_least


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--rows", type=at_least(1, maximum=20_000_000), default=1_000_000, help="orders in the table exported"
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench tenant (default: drop it)")


_FILL = """
INSERT INTO canonical_order (id, tenant_id, dedupe_key, source, source_id, connection_id, subsidiary_id, raw_data,
    content_hash, source_created_at, source_updated_at, synced_at, order_number, currency, total_minor,
    gift_card_sold_minor, financial_status, cancelled)
SELECT gen_random_uuid(), %(t)s, %(key)s || n, 'shopify', 'gid://shopify/Order/' || n, %(c)s, '',
       jsonb_build_object('id', n, 'name', '#' || n, 'total_price', (total / 100.0)::text),
       md5(n::text),
       created,
       CASE WHEN n %% 3 = 0 THEN created + interval '2 days' END,
       now(),
       CASE WHEN n %% 1000 = 7 THEN '=HYPERLINK("http://x.example/' || n || '")'
            WHEN n %% 1000 = 8 THEN 'Müller, "VIP" ' || n
            ELSE '#' || (1000 + n) END,
       CASE WHEN n %% 4 = 0 THEN 'EUR' ELSE 'USD' END,
       total,
       CASE WHEN n %% 50 = 0 THEN 2500 ELSE 0 END,
       CASE WHEN n %% 20 = 0 THEN 'refunded' WHEN n %% 7 = 0 THEN 'partially_refunded' ELSE 'paid' END,
       n %% 100 = 0
FROM (
    SELECT n, (n::bigint * 7919) %% 250000 + 100 AS total,
           timestamptz '2025-01-01 00:00:00+00' + n * (interval '1 year' / %(rows)s)
               + CASE WHEN n %% 2 = 0 THEN (n %% 999983) * interval '1 microsecond' ELSE interval '0' END AS created
    FROM generate_series(1, %(rows)s) AS n
) AS orders
"""


def _fill(tenant_id: uuid.UUID, connection_id: uuid.UUID, rows: int) -> None:
    with transaction.atomic(), db.cursor() as cursor:
        key = f"{connection_id}:order:gid://shopify/Order/"
        cursor.execute(_FILL, {"t": tenant_id, "c": connection_id, "key": key, "rows": rows})
        cursor.execute("ANALYZE canonical_order")


def _download(rows: Any, columns: list[str], *, use_copy: bool) -> dict[str, Any]:
    """Read every byte of the export's body; the hashing is kept off the clock."""
    from canonical.exports import csv_response

    digest, size, largest, hashing = hashlib.sha256(), 0, 0, 0.0
    started = time.perf_counter()
    for piece in csv_response(rows, columns, "orders", use_copy=use_copy).streaming_content:
        size += len(piece)
        largest = max(largest, len(piece))
        paused = time.perf_counter()
        digest.update(piece)
        hashing += time.perf_counter() - paused
    seconds = time.perf_counter() - started - hashing
    return {"seconds": seconds, "bytes": size, "largest_piece": largest, "sha256": digest.hexdigest()}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(options: dict[str, Any], out: Any) -> dict[str, Any]:
    from canonical.exports import table_columns
    from canonical.models import Order
    from connections.services import connection_create
    from ecomops.tenancy import public_context, tenant_context
    from tenants.models import Tenant
    from tenants.services import tenant_create

    count = int(options["rows"])
    say = (lambda text: out.write(text)) if not options.get("json") else (lambda text: None)
    tenant = tenant_create(name="Export benchmark", plan="enterprise", slug=f"bench-export-{uuid.uuid4().hex[:6]}")
    try:
        with tenant_context(tenant):
            shop = connection_create(
                actor=None,
                name="Shopify (bench)",
                provider="shopify",
                credentials={"access_token": "shpat_bench_0000000000"},
                base_url="https://bench.myshopify.com",
            )
            say(f"Filling a scratch tenant's orders table with {count:,} orders...")
            started = time.perf_counter()
            _fill(tenant.pk, shop.pk, count)
            say(f"    filled in {time.perf_counter() - started:.1f} s")
            # What the orders page and the API export: the table's own order, its default columns.
            rows = Order.objects.filter(tenant_id=tenant.pk).order_by("-source_created_at", "source_id")
            columns = table_columns(Order)
            _download(rows.filter(source_id="warm-up"), columns, use_copy=True)
            # the table in the cache for both runs, not only the second
            with db.cursor() as cursor:
                cursor.execute("SELECT sum(length(order_number)) FROM canonical_order")  # RLS: this tenant's

            python = _download(rows, columns, use_copy=False)
            copy = _download(rows, columns, use_copy=True)
    finally:
        if not options.get("keep"):
            with public_context():
                Tenant.objects.get(pk=tenant.pk).delete(force_drop=True)

    megabytes = copy["bytes"] / 1e6
    identical = python["sha256"] == copy["sha256"] and python["bytes"] == copy["bytes"]
    ratio = python["seconds"] / copy["seconds"]
    for label, figures in (("(a) Python csv writer", python), ("(b) PostgreSQL COPY   ", copy)):
        say(
            f"{label}: {count:,} rows, {figures['bytes'] / 1e6:,.1f} MB in {figures['seconds']:.2f} s = "
            f"{count / figures['seconds']:,.0f} rows/s, {figures['bytes'] / 1e6 / figures['seconds']:,.1f} MB/s"
        )
    say(f"    (a)/(b) = {ratio:.1f}x faster; the same bytes: {'yes' if identical else 'NO'}")
    say(f"    largest piece streamed {max(python['largest_piece'], copy['largest_piece']) / 1024:.0f} KiB")
    say(f"    peak RSS {_peak_rss_mb():.0f} MB")
    return {
        "rows": count,
        "megabytes": round(megabytes, 1),
        "python_seconds": round(python["seconds"], 3),
        "copy_seconds": round(copy["seconds"], 3),
        "python_rows_per_s": round(count / python["seconds"]),
        "copy_rows_per_s": round(count / copy["seconds"]),
        "ratio": round(ratio, 2),
        "identical": identical,
        "largest_piece_bytes": max(python["largest_piece"], copy["largest_piece"]),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }
