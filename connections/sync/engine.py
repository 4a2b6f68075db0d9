"""Running a sync: streams of pages, committed with their cursor, with live progress.

A provider's sync is a list of *streams* (Stripe charges, payouts, ...). A stream reads
pages from its cursor state and yields ``Batch``es: canonical rows plus the state to
resume from after them. The engine writes each batch through the bulk upsert and saves the
stream's new state and the job's progress in the same transaction, so a crash at any point
loses nothing and duplicates nothing: the next run continues after the last committed batch.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from django.db import connection as db
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from canonical.models import CANONICAL_MODELS
from canonical.rows import CanonicalRow
from canonical.upsert import UpsertResult, upsert_rows
from connections.models import Connection, SyncCursor, SyncJob

logger = structlog.get_logger(__name__)

# How many rows to gather (across pages) before committing. A commit per 100-object page
# would cap throughput at the commit rate; the cursor still commits with exactly the rows
# it covers, so resuming is as precise either way.
DEFAULT_COMMIT_ROWS = 5000


@dataclass
class Deferred:
    """Source objects whose rows are built and written only where the stored copy is not final.

    ``final_when`` is a SQL condition (a constant of the stream's module, never input) on the
    stored row of ``kind``: where it holds, the provider no longer changes the object, so
    reading it again needs neither normalizing nor writing. The writer asks once per batch.
    """

    kind: str
    objects: list[Any]
    source_id: Callable[[Any], str]
    build: Callable[[Any], CanonicalRow | None]
    final_when: str


@dataclass
class Batch:
    rows: list[CanonicalRow]
    state: dict[str, Any]  # the stream's state once these rows are committed
    pages: int = 1
    objects: int = 0  # source objects read (a Shopify order yields several rows)
    deferred: list[Deferred] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.rows) + sum(len(d.objects) for d in self.deferred)


class Stream(Protocol):
    name: str
    # Streams of different lanes are read side by side (``run_streams``); optional, 0 if absent.
    # lane: int

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
            pending = Batch(
                rows=list(batch.rows),
                state=batch.state,
                pages=batch.pages,
                objects=batch.objects,
                deferred=list(batch.deferred),
            )
        else:
            pending.rows.extend(batch.rows)
            pending.deferred.extend(batch.deferred)
            pending.state, pending.pages, pending.objects = (
                batch.state,
                pending.pages + batch.pages,
                (pending.objects + batch.objects),
            )
        if pending.size >= commit_rows:
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
    chunks: Iterator[tuple],
    *,
    before_page: dict[str, Any],
    after_page: dict[str, Any],
    objects: int,
) -> Iterator[Batch]:
    """One source page as batches: the page's rows may come in chunks (a payout's lines, a
    page at a time); every chunk but the last keeps the state from before the page, so only
    a fully written page moves the cursor past it. A crash inside a page re-reads it.

    A chunk is ``(rows, extra pages read)`` or ``(rows, extra pages read, Deferred)``."""
    for (rows, extra_pages, *deferred), is_last in list_with_last(chunks):
        yield Batch(
            rows=rows,
            state=after_page if is_last else before_page,
            pages=extra_pages + (1 if is_last else 0),
            objects=objects if is_last else 0,
            deferred=deferred,
        )


def resolve_deferred(deferred: list[Deferred], connection: Connection) -> tuple[list[CanonicalRow], int]:
    """The rows to write for deferred objects, and how many were skipped as final."""
    rows: list[CanonicalRow] = []
    skipped = 0
    for group in deferred:
        ids = [group.source_id(obj) for obj in group.objects]
        table = db.ops.quote_name(CANONICAL_MODELS[group.kind]._meta.db_table)
        with db.cursor() as cursor:
            # One index probe per id (OFFSET 0 keeps the subquery a per-row probe): on a table
            # the sync is still filling, the planner's own choice was to scan it per batch.
            cursor.execute(
                f"SELECT k.source_id FROM unnest(%s::text[]) AS k(source_id) "
                f"WHERE EXISTS (SELECT 1 FROM {table} t WHERE t.tenant_id = %s AND t.connection_id = %s "
                f"AND t.source_id = k.source_id AND ({group.final_when}) OFFSET 0)",
                [ids, connection.tenant_id, connection.pk],
            )
            final = {source_id for (source_id,) in cursor.fetchall()}
        for obj, source_id in zip(group.objects, ids, strict=True):
            if source_id and source_id in final:
                skipped += 1
                continue
            row = group.build(obj)
            if row is not None:
                rows.append(row)
    return rows, skipped


@contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """Let the cyclic garbage collector run less often while a sync streams objects.

    A sync allocates millions of short-lived dicts (parsed pages) that reference counting
    frees; with the default thresholds the collector still ran every 700 allocations and
    re-walked the whole heap about once a second: 22% of a sync's client CPU, measured with
    ``gc.callbacks`` on a 50k-transaction backfill (4.2 s of 19 s; 1.5 s with a first
    threshold of 20,000, 0.5 s with these). Cycles are still collected, just in fewer, larger
    passes (tens of ms each). Process-wide: the worker runs one task at a time; the previous
    thresholds come back afterwards.
    """
    previous = gc.get_threshold()
    gc.set_threshold(100_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


_DONE = object()


def interleaved(sources: list[Iterator[Any]], depth: int = 4) -> Iterator[Any]:
    """Read every source in a thread of its own; yield their items as they come.

    Each source's items keep their order; items of different sources interleave. Fetching
    (HTTP, JSON, normalizing) then overlaps with the caller's writing (PostgreSQL) and with
    the other sources' waits on the provider. Threads, not processes: the work mostly waits
    on sockets and the GIL is released meanwhile. A source's exception is raised in the
    caller, in order; when the caller stops early, every thread stops too. Sources must not
    touch the database: they run outside the tenant's connection.
    """
    import queue
    import threading

    items: queue.Queue = queue.Queue(maxsize=depth * max(1, len(sources)))
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce(source: Iterator[Any]) -> None:
        try:
            for item in source:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it in order
            put(exc)

    threads = [
        threading.Thread(target=produce, args=(source,), name=f"sync-fetch-{n}", daemon=True)
        for n, source in enumerate(sources)
    ]
    for thread in threads:
        thread.start()
    try:
        running = len(threads)
        while running:
            item = items.get()
            if item is _DONE:
                running -= 1
                continue
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)


def lanes_of(streams: list[Stream]) -> list[list[Stream]]:
    """Streams grouped by their ``lane`` (0 when unset), in order: lanes run side by side,
    the streams of one lane one after another."""
    lanes: dict[int, list[Stream]] = {}
    for stream in streams:
        lanes.setdefault(getattr(stream, "lane", 0), []).append(stream)
    return [lanes[key] for key in sorted(lanes)]


def run_streams(
    *,
    job: SyncJob,
    connection: Connection,
    streams: list[Stream],
    commit_rows: int = DEFAULT_COMMIT_ROWS,
    on_commit: Callable[[SyncJob], None] | None = None,
) -> SyncProgress:
    """Run every stream to the end, committing rows + cursor + progress batch by batch.

    Streams in different lanes (``Stream.lane``) are read at the same time, each lane in a
    thread of its own; the batches are written here, one at a time, each in one transaction
    with the cursor of the stream it came from. A stream's cursor only ever moves past what
    is committed, whatever the other lanes do, so a crash or an error anywhere resumes every
    stream from its own last committed batch.
    """
    progress = SyncProgress()
    cursors = {
        stream.name: SyncCursor.objects.get_or_create(connection=connection, stream=stream.name)[0]
        for stream in streams
    }
    active: list[str] = []

    def lane(streams_of_lane: list[Stream]) -> Iterator[tuple[str, Stream, Batch | None]]:
        for stream in streams_of_lane:
            yield "start", stream, None
            for batch in _merge(stream.batches(dict(cursors[stream.name].state)), commit_rows):
                yield "batch", stream, batch
            yield "done", stream, None

    def show_active() -> None:
        current = ", ".join(active)[: SyncJob._meta.get_field("current_stream").max_length]
        SyncJob.objects.filter(pk=job.pk).update(current_stream=current, heartbeat_at=timezone.now())

    with fewer_gc_passes():
        for event, stream, batch in interleaved([lane(group) for group in lanes_of(streams)]):
            if event == "start":
                active.append(stream.name)
                show_active()
                continue
            if event == "done":
                active.remove(stream.name)
                logger.info("sync_stream_done", stream=stream.name, connection_id=str(connection.pk))
                continue
            assert batch is not None
            result = _write_batch(job, connection, cursors[stream.name], batch)
            progress.pages += batch.pages
            progress.objects += batch.objects or len(batch.rows)
            progress.result += result
            if on_commit is not None:
                on_commit(job)
    return progress


def _write_batch(job: SyncJob, connection: Connection, cursor: SyncCursor, batch: Batch) -> UpsertResult:
    """One batch's rows, its stream's cursor and the job's counters, in one transaction."""
    with transaction.atomic():
        rows, final = resolve_deferred(batch.deferred, connection) if batch.deferred else ([], 0)
        result = upsert_rows(
            batch.rows + rows,
            connection_id=connection.pk,
            tenant_id=connection.tenant_id,
            subsidiary_id=connection.subsidiary_id,
        )
        result.unchanged += final
        SyncCursor.objects.filter(pk=cursor.pk).update(state=batch.state, updated_at=timezone.now())
        SyncJob.objects.filter(pk=job.pk).update(
            pages=F("pages") + batch.pages,
            object_count=F("object_count") + (batch.objects or len(batch.rows)),
            created_count=F("created_count") + result.created,
            updated_count=F("updated_count") + result.updated,
            unchanged_count=F("unchanged_count") + result.unchanged,
            heartbeat_at=timezone.now(),
        )
    return result
