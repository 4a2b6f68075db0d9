"""Two people working the same exceptions at once: each row changes once, and is audited once.

Data is committed (each person is a connection of its own), in a tenant of the test's own.
"""

from __future__ import annotations

import threading
import time

from django.db import connection as db
from django.db import transaction

from audit.models import AuditEvent
from ecomops.tenancy import tenant_context
from recon.models import ReconException
from recon.services import BulkResult, exception_bulk
from recon.tests.factories import connection, payout_own_line, payout_row, reconcile, sale, write


def _waiting_for_a_row_lock() -> bool:
    with db.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock'
              AND query LIKE '%%recon_reconexception%%FOR UPDATE%%'
            """
        )
        return cursor.fetchone()[0] > 0


def test_two_bulk_resolutions_of_the_same_exceptions_change_and_audit_each_once(committed_tenant):
    world = committed_tenant("rc-bulk-locks")
    with tenant_context(world.tenant):
        conn = connection()
        with transaction.atomic():  # the upsert stages its rows for the length of a transaction
            for n in (1, 2, 3):  # three payouts paying 100.00 for lines netting 96.80
                rows = sale(conn, n, payout=f"po_{n}", amount=10000, fee=320)
                write(conn, *rows, payout_row(f"po_{n}", 10000), payout_own_line(f"po_{n}", 10000))
        reconcile()
        ids = sorted(ReconException.objects.values_list("pk", flat=True))
    assert len(ids) == 3
    first_holds_its_locks = threading.Event()
    second_may_commit = threading.Event()
    results: dict[str, BulkResult] = {}

    def resolve(who: str, wait: threading.Event | None) -> None:
        try:
            # the first holds its transaction (and its row locks) open until told to commit
            with tenant_context(world.tenant), transaction.atomic():
                results[who] = exception_bulk(actor=world.owner, ids=ids, action="resolve", note=who)
                if wait is not None:
                    first_holds_its_locks.set()
                    wait.wait(timeout=30)
        finally:
            db.close()

    first = threading.Thread(target=resolve, args=("first", second_may_commit))
    first.start()
    assert first_holds_its_locks.wait(timeout=30)
    second = threading.Thread(target=resolve, args=("second", None))
    second.start()
    deadline = time.monotonic() + 10
    while not _waiting_for_a_row_lock() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _waiting_for_a_row_lock()  # the second waits for the first's row locks
    second_may_commit.set()
    first.join(timeout=30)
    second.join(timeout=30)

    assert sorted(results["first"].changed) == [str(i) for i in ids]
    assert results["second"].changed == []
    assert results["second"].skipped == [{"id": str(i), "reason": "already resolved"} for i in ids]
    with tenant_context(world.tenant):
        assert set(ReconException.objects.values_list("note", flat=True)) == {"first"}
        audited = list(AuditEvent.objects.filter(action="recon.exception_resolved").values_list("target_id", flat=True))
    assert sorted(audited) == [str(i) for i in ids]
