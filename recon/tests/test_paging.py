"""Paging through the recon lists: rows whose sort keys are all equal still come out each once.

Page-number paging reads ``OFFSET n LIMIT m`` of the same ordered query again for each page; when
the order ties, PostgreSQL may order the tied rows differently for each page, so a row could show
on two pages and another on none. Each list ends its order with the primary key.
"""

from __future__ import annotations

import re
import uuid
from datetime import date

import pytest
from django.db import connection as db
from django.utils import timezone

from conftest import signed_in
from recon.models import MonthClose, ReconException, ReconRun
from recon.tests.factories import connection, payout_row, write

SAME_TIME = timezone.now()


def _api_ids(client, path: str, *, page_size: int) -> list[str]:
    """Every id the API lists, page after page, in the order given."""
    ids: list[str] = []
    page = 1
    while True:
        answer = client.get(path, {"page": page, "page_size": page_size})
        assert answer.status_code == 200, answer.content
        ids += [row["id"] for row in answer.json()["results"]]
        if answer.json()["next"] is None:
            return ids
        page += 1


@pytest.fixture
def alike_exceptions(tenant_a, in_tenant) -> list[str]:
    """130 open exceptions the queue's order cannot tell apart: same time seen, reason and subject."""
    with in_tenant(tenant_a.tenant):
        conn = connection()
        made = ReconException.objects.bulk_create(
            ReconException(
                reason="line_unmatched",
                subject_type="payout_line",
                subject_id=uuid.uuid4(),
                subject_ref="txn_same",
                connection_id=conn.pk,
                last_seen_at=SAME_TIME,
            )
            for _ in range(400)
        )
    return sorted(str(e.pk) for e in made)


def test_paging_the_exceptions_api_lists_each_exception_once(alike_exceptions, tenant_a, api_as):
    client = api_as(tenant_a.accountant, tenant_a.tenant)

    listed = _api_ids(client, "/api/v1/recon/exceptions/", page_size=7)

    assert sorted(listed) == alike_exceptions


def test_paging_the_queue_page_lists_each_exception_once(alike_exceptions):
    client = signed_in("accountant@acme.example.com")
    listed: list[str] = []

    for page in range(1, 9):  # 50 a page
        body = client.get("/recon/", {"state": "open", "page": page}).content.decode()
        listed += re.findall(r'<tr id="exception-([0-9a-f-]{36})"', body)

    assert sorted(listed) == alike_exceptions


def test_paging_the_runs_api_lists_each_run_once(tenant_a, in_tenant, api_as):
    with in_tenant(tenant_a.tenant):
        runs = ReconRun.objects.bulk_create(
            ReconRun(trigger="api", status="completed", queued_at=SAME_TIME) for _ in range(300)
        )
    client = api_as(tenant_a.accountant, tenant_a.tenant)
    # Read in time order, the runs' index hands back tied rows in one order every time; the
    # planner may as well sort them instead (a filter another index serves, a table whose
    # statistics changed), and a sort that stops at the page's end orders ties as it goes.
    with db.cursor() as cursor:  # rolled back with the test
        cursor.execute("SET enable_indexscan = off; SET enable_bitmapscan = off")

    listed = _api_ids(client, "/api/v1/recon/runs/", page_size=7)

    assert sorted(listed) == sorted(str(r.pk) for r in runs)


def test_paging_the_payouts_api_lists_each_payout_once(tenant_a, in_tenant, api_as):
    # the same payout id on the same day in several accounts: one per connection
    with in_tenant(tenant_a.tenant):
        for _ in range(24):
            write(connection(), payout_row("po_same", 1000))
    client = api_as(tenant_a.accountant, tenant_a.tenant)

    listed = _api_ids(client, "/api/v1/recon/payouts/", page_size=5)

    assert len(listed) == 24
    assert len(set(listed)) == 24


def test_paging_the_closes_api_lists_each_close_once(tenant_a, in_tenant, api_as):
    # a month closed and reopened again and again, each close at the same instant
    with in_tenant(tenant_a.tenant):
        closes = MonthClose.objects.bulk_create(
            MonthClose(month=date(2026, 10, 1), closed_at=SAME_TIME, reopened_at=SAME_TIME, reopen_note="again")
            for _ in range(60)
        )
    client = api_as(tenant_a.accountant, tenant_a.tenant)

    listed = _api_ids(client, "/api/v1/recon/closes/", page_size=7)

    assert sorted(listed) == sorted(str(c.pk) for c in closes)
