"""Running a sync: streams of pages, committed with their cursor, with live progress.

A provider's sync is a list of *streams* (Stripe charges, payouts, ...). A stream reads
pages from its cursor state and yields ``Batch``es: canonical rows plus the state to
resume from after them. The engine writes each batch through the bulk upsert and saves the
stream's new state and the job's progress in the same transaction, so a crash at any point
loses nothing and duplicates nothing: the next run continues after the last committed batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from canonical.rows import CanonicalRow
from canonical.upsert import UpsertResult, upsert_rows
from connections.models import Connection, SyncCursor, SyncJob

logger = structlog.get_logger(__name__)

# How many rows to gather (across pages) before committing. A commit per 100-object page
# would cap throughput at the commit rate; the cursor still commits with exactly the rows
# it covers, so resuming is as precise either way.
DEFAULT_COMMIT_ROWS = 5000


@dataclass
class Batch:
    rows: list[CanonicalRow]
    state: dict[str, Any]  # the stream's state once these rows are committed
    pages: int = 1
    objects: int = 0  # source objects read (a Shopify order yields several rows)


class Stream(Protocol):
    name: str

    def batches(self, state: dict[str, Any]) -> Iterator[Batch]: ...


class SyncAborted(Exception):
    """A sync stopped with a message for the user; committed batches stay committed."""


@dataclass
class SyncProgress:
    pages: int = 0
    objects: int = 0
    result: UpsertResult = field(default_factory=UpsertResult)


def _merge(batches: Iterator[Batch], commit_rows: int) -> Iterator[Batch]:
    """Group consecutive batches until they hold ``commit_rows`` rows; the last state wins."""
    pending: Batch | None = None
    for batch in batches:
        if pending is None:
            pending = Batch(rows=list(batch.rows), state=batch.state, pages=batch.pages, objects=batch.objects)
        else:
            pending.rows.extend(batch.rows)
            pending.state, pending.pages, pending.objects = (
                batch.state,
                pending.pages + batch.pages,
                (pending.objects + batch.objects),
            )
        if len(pending.rows) >= commit_rows:
            yield pending
            pending = None
    if pending is not None:
        yield pending


def list_with_last(items: Iterator[Any]) -> Iterator[tuple[Any, bool]]:
    """Each item with whether it is the last one; an empty iterator still yields one empty chunk."""
    previous: Any = None
    has_previous = False
    for item in items:
        if has_previous:
            yield previous, False
        previous, has_previous = item, True
    yield (previous if has_previous else ([], 0)), True


def page_batches(
    chunks: Iterator[tuple[list[CanonicalRow], int]],
    *,
    before_page: dict[str, Any],
    after_page: dict[str, Any],
    objects: int,
) -> Iterator[Batch]:
    """One source page as batches: the page's rows may come in chunks (a payout's lines, a
    page at a time); every chunk but the last keeps the state from before the page, so only
    a fully written page moves the cursor past it. A crash inside a page re-reads it."""
    for (rows, extra_pages), is_last in list_with_last(chunks):
        yield Batch(
            rows=rows,
            state=after_page if is_last else before_page,
            pages=extra_pages + (1 if is_last else 0),
            objects=objects if is_last else 0,
        )


_DONE = object()


def prefetched(batches: Iterator[Batch], depth: int = 4) -> Iterator[Batch]:
    """Read the next batches in a thread while the caller writes the current one.

    Fetching (HTTP, JSON, normalizing) and writing (PostgreSQL) then overlap instead of
    taking turns; both mostly wait on sockets, so the GIL is not the limit. The order of
    batches, and so of committed cursor states, is unchanged. Streams must not touch the
    database: they run in this thread, outside the tenant's connection.
    """
    import queue
    import threading

    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        items.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it in order
            items.put(exc)

    thread = threading.Thread(target=produce, name="sync-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def run_streams(
    *,
    job: SyncJob,
    connection: Connection,
    streams: list[Stream],
    commit_rows: int = DEFAULT_COMMIT_ROWS,
    on_commit: Callable[[SyncJob], None] | None = None,
) -> SyncProgress:
    """Run every stream to the end, committing rows + cursor + progress batch by batch."""
    progress = SyncProgress()
    for stream in streams:
        cursor, _ = SyncCursor.objects.get_or_create(connection=connection, stream=stream.name)
        SyncJob.objects.filter(pk=job.pk).update(current_stream=stream.name, heartbeat_at=timezone.now())
        for batch in prefetched(_merge(stream.batches(dict(cursor.state)), commit_rows)):
            with transaction.atomic():
                result = upsert_rows(
                    batch.rows,
                    connection_id=connection.pk,
                    tenant_id=connection.tenant_id,
                    subsidiary_id=connection.subsidiary_id,
                )
                SyncCursor.objects.filter(pk=cursor.pk).update(state=batch.state, updated_at=timezone.now())
                SyncJob.objects.filter(pk=job.pk).update(
                    pages=F("pages") + batch.pages,
                    object_count=F("object_count") + (batch.objects or len(batch.rows)),
                    created_count=F("created_count") + result.created,
                    updated_count=F("updated_count") + result.updated,
                    unchanged_count=F("unchanged_count") + result.unchanged,
                    heartbeat_at=timezone.now(),
                )
            progress.pages += batch.pages
            progress.objects += batch.objects or len(batch.rows)
            progress.result += result
            if on_commit is not None:
                on_commit(job)
        logger.info("sync_stream_done", stream=stream.name, connection_id=str(connection.pk))
    return progress
