"""Limits on parallel in-flight requests per NetSuite account.

NetSuite has one concurrency pool per account, shared with the customer's other
integrations; going over it gets requests refused (429 / CONCURRENCY_LIMIT_EXCEEDED).
We keep our own share small (DESIGN §6: configurable, default 2). Workers run in several
processes (django-q2 clusters, possibly several hosts), so the limit needs a shared
arbiter: :class:`PostgresSlotProvider` uses PostgreSQL session advisory locks, one lock
per slot. :class:`LocalSlotProvider` is the in-process default.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol, runtime_checkable

from netsuite.errors import NetSuiteClientError


class SlotTimeoutError(NetSuiteClientError, TimeoutError):
    """No slot became free for the account within the provider's acquire timeout."""


@runtime_checkable
class SlotProvider(Protocol):
    """Hands out at most ``limit`` concurrent slots per account id."""

    def acquire(self, account_id: str, limit: int) -> AbstractContextManager[int]:
        """Context manager that holds one slot (its number) for the duration of a request."""
        ...


class LocalSlotProvider:
    """Per-account ``threading.BoundedSemaphore``: limits threads of one process only.

    The first ``limit`` seen for an account sizes its semaphore for the life of the
    provider; the client always passes the same configured value.
    """

    def __init__(self, acquire_timeout: float | None = 300.0) -> None:
        self.acquire_timeout = acquire_timeout
        self._lock = threading.Lock()
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}

    def _semaphore(self, account_id: str, limit: int) -> threading.BoundedSemaphore:
        with self._lock:
            sem = self._semaphores.get(account_id)
            if sem is None:
                sem = self._semaphores[account_id] = threading.BoundedSemaphore(max(1, limit))
            return sem

    @contextmanager
    def acquire(self, account_id: str, limit: int) -> Iterator[int]:
        """Block (up to ``acquire_timeout``) until one of the account's slots is free."""
        sem = self._semaphore(account_id, limit)
        if not sem.acquire(timeout=self.acquire_timeout):
            raise SlotTimeoutError(f"no NetSuite slot for account {account_id} within {self.acquire_timeout}s")
        try:
            yield 0  # a semaphore has no slot numbers
        finally:
            sem.release()


_default_local = LocalSlotProvider()


def default_slot_provider() -> LocalSlotProvider:
    """The process-wide in-process provider, so two clients of one account share the limit."""
    return _default_local


def advisory_key(account_id: str, namespace: str = "ecomops.netsuite.slots") -> int:
    """A stable signed 32-bit key for ``pg_try_advisory_lock(key, slot)``.

    Python's ``hash()`` is salted per process, so a digest is used: every process and host
    must compute the same key for the same account.
    """
    digest = hashlib.blake2b(f"{namespace}:{account_id}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresSlotProvider:
    """Slots shared by every process that can reach one PostgreSQL server.

    Slot ``i`` of an account is the session advisory lock ``(advisory_key(account), i)``.
    ``acquire`` tries ``pg_try_advisory_lock(key, i)`` for ``i`` in ``0..limit-1`` and sleeps
    ``poll_interval`` when all are taken. Session locks vanish with the session, so a worker
    that dies mid-request frees its slot without any cleanup.

    One connection per process is used (opened lazily, reopened after ``fork``). Session
    advisory locks are re-entrant within a session, so slots held by this process's other
    threads are tracked locally and never tried again - otherwise two threads would
    "acquire" the same slot. Needs a direct or session-pooled connection: a transaction-
    pooling pgbouncer would hand the lock to another client's session.
    """

    def __init__(
        self,
        conninfo: str,
        *,
        poll_interval: float = 0.01,
        acquire_timeout: float | None = 300.0,
        namespace: str = "ecomops.netsuite.slots",
        connect_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.conninfo = conninfo
        self.poll_interval = poll_interval
        self.acquire_timeout = acquire_timeout
        self.namespace = namespace
        self._connect_kwargs = connect_kwargs or {}
        self._lock = threading.Lock()  # serialises use of the one connection
        self._conn: Any = None
        self._pid: int | None = None
        self._held: set[tuple[int, int]] = set()

    def _connection(self) -> Any:
        import psycopg  # imported here: only deployments that use this provider need it

        if self._conn is None or self._pid != os.getpid() or self._conn.closed:
            # A new session holds no locks. After fork the parent's socket must not be used
            # by the child (psycopg does not close a connection inherited across fork).
            self._held = set()
            self._conn = psycopg.connect(self.conninfo, autocommit=True, **self._connect_kwargs)
            self._pid = os.getpid()
        return self._conn

    def _try(self, key: int, limit: int) -> int | None:
        with self._lock:
            conn = self._connection()
            for slot in range(limit):
                if (key, slot) in self._held:
                    continue
                row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (key, slot)).fetchone()
                if row and row[0]:
                    self._held.add((key, slot))
                    return slot
        return None

    def _release(self, key: int, slot: int) -> None:
        with self._lock:
            self._held.discard((key, slot))
            try:
                self._connection().execute("SELECT pg_advisory_unlock(%s, %s)", (key, slot))
            except Exception:
                # A broken session has already dropped its locks; start afresh next time.
                self._discard_connection()

    def _discard_connection(self) -> None:
        conn, self._conn = self._conn, None
        self._held = set()
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a dead connection may fail: nothing to do
                conn.close()

    @contextmanager
    def acquire(self, account_id: str, limit: int) -> Iterator[int]:
        """Hold one of the account's ``limit`` slots, polling until one is free."""
        key = advisory_key(account_id, self.namespace)
        deadline = None if self.acquire_timeout is None else time.monotonic() + self.acquire_timeout
        while True:
            slot = self._try(key, max(1, limit))
            if slot is not None:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise SlotTimeoutError(f"no NetSuite slot for account {account_id} within {self.acquire_timeout}s")
            time.sleep(self.poll_interval)
        try:
            yield slot
        finally:
            self._release(key, slot)

    def close(self) -> None:
        """Close this process's connection (which also releases any slot it still holds)."""
        with self._lock:
            if self._pid == os.getpid():
                self._discard_connection()
