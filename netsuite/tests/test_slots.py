"""At most N requests in flight per account: threads in one process, and processes via PostgreSQL."""

from __future__ import annotations

import multiprocessing
import threading
import time

import psycopg
import pytest
from django.conf import settings

from ecomops.dbsetup import database_url
from netsuite.slots import LocalSlotProvider, PostgresSlotProvider, SlotTimeoutError, advisory_key
from netsuite.tests._workers import hammer

# Advisory locks need no tables: the project's own database (embedded or DATABASE_URL) serves.
PG = database_url(settings.DATABASES["default"])


def _run_processes(box, conninfo: str | None, limit: int, processes: int = 4, threads: int = 2, each: int = 5) -> None:  # type: ignore[no-untyped-def]
    ctx = multiprocessing.get_context("spawn")  # no fork of a process running server threads
    start = ctx.Event()
    creds = {
        "account_id": box.credentials.account_id,
        "consumer_key": box.credentials.consumer_key,
        "consumer_secret": box.credentials.consumer_secret,
        "token_id": box.credentials.token_id,
        "token_secret": box.credentials.token_secret,
    }
    procs = [
        ctx.Process(target=hammer, args=(box.url, creds, conninfo, limit, threads, each, start))
        for _ in range(processes)
    ]
    for proc in procs:
        proc.start()
    time.sleep(0.5)  # let every process import and connect before the start signal
    start.set()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0] * processes


def test_postgres_slots_limit_in_flight_across_processes(sandbox_factory) -> None:  # type: ignore[no-untyped-def]
    box = sandbox_factory(service_time=0.05)
    _run_processes(box, PG, limit=2)
    stats = box.app.stats()
    account = box.credentials.account_id
    assert stats["calls"]["account.get"] == 4 * 2 * 5
    assert stats["max_in_flight"][account] == 2  # never more, and the limit was actually reached
    with psycopg.connect(PG) as conn:
        (held,) = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s::oid",
            (advisory_key(account) & 0xFFFFFFFF,),
        ).fetchone()
    assert held == 0  # every slot released


def test_without_a_shared_provider_processes_exceed_the_limit(sandbox_factory) -> None:  # type: ignore[no-untyped-def]
    # The control: per-process semaphores cannot see each other, so the sandbox sees more.
    box = sandbox_factory(service_time=0.05)
    _run_processes(box, None, limit=2)
    assert box.app.stats()["max_in_flight"][box.credentials.account_id] > 2


def test_local_provider_limits_threads() -> None:
    provider = LocalSlotProvider()
    current = peak = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal current, peak
        with provider.acquire("acct", 3):
            with lock:
                current += 1
                peak = max(peak, current)
            time.sleep(0.02)
            with lock:
                current -= 1

    threads = [threading.Thread(target=work) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 3


def test_postgres_provider_threads_in_one_process_do_not_share_a_slot() -> None:
    # Session advisory locks are re-entrant: without local bookkeeping two threads of one
    # process would both "get" slot 0.
    provider = PostgresSlotProvider(PG, namespace="test-threads")
    slots: list[int] = []
    ready = threading.Barrier(2)

    def take() -> None:
        with provider.acquire("acct-threads", 2) as slot:
            slots.append(slot)
            ready.wait(timeout=5)

    threads = [threading.Thread(target=take) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    provider.close()
    assert sorted(slots) == [0, 1]


def test_postgres_provider_times_out_when_all_slots_are_taken() -> None:
    holder = PostgresSlotProvider(PG, namespace="test-timeout")
    waiter = PostgresSlotProvider(PG, namespace="test-timeout", acquire_timeout=0.2, poll_interval=0.02)
    with holder.acquire("acct", 1):
        started = time.monotonic()
        with pytest.raises(SlotTimeoutError), waiter.acquire("acct", 1):
            pass
        assert time.monotonic() - started >= 0.2
    with waiter.acquire("acct", 1) as slot:  # free again once released
        assert slot == 0
    holder.close()
    waiter.close()


def test_a_dead_session_frees_its_slot() -> None:
    holder = PostgresSlotProvider(PG, namespace="test-dead")
    waiter = PostgresSlotProvider(PG, namespace="test-dead", acquire_timeout=2, poll_interval=0.02)
    context = holder.acquire("acct", 1)
    context.__enter__()
    holder.close()  # the worker "dies": its session ends without unlocking
    with waiter.acquire("acct", 1) as slot:
        assert slot == 0
    waiter.close()
