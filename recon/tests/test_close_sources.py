"""The month close's first check, "Every processor synced after the month ended": judged for
each connection at midnight in its own time zone, and by when its data was read, not by when
its last sync ended.

Sync jobs are written with hand-set times (as the runner leaves them: started, finished, and
the pages a failed one committed); the syncs themselves, and the time zone they read, are
tested against the sandboxes in ``connections/tests``. January 2026: Los Angeles keeps
standard time (UTC-8), so its January ends at 08:00 UTC on February 1st.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from conftest import signed_in
from connections.models import Connection, SyncJobStatus
from connections.tests.factories import SyncJobFactory
from recon.tests.factories import connection

LA = "America/Los_Angeles"


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of January 31st or February 1st 2026, in UTC."""
    return datetime(2026, 1 if day == 31 else 2, day, hour, minute, tzinfo=UTC)


def synced(conn: Connection, started: datetime, finished: datetime, **job) -> None:
    """A full sync of ``conn`` that ran from ``started`` to ``finished`` (succeeded unless a
    ``status`` is given), recorded as the runner records it."""
    SyncJobFactory(connection=conn, started_at=started, finished_at=finished, **job)
    if job.get("status", SyncJobStatus.SUCCEEDED) == SyncJobStatus.SUCCEEDED:
        Connection.objects.filter(pk=conn.pk).update(last_sync_succeeded_at=finished)


@pytest.fixture
def shop(tenant_a, in_tenant):
    """A Shopify shop in Los Angeles whose syncs the test writes (none yet)."""
    with in_tenant(tenant_a.tenant):
        yield connection("shopify", name="Shop in California", time_zone=LA, last_sync_succeeded_at=None)


@pytest.fixture
def january(tenant_a, api_as):
    """The sources check of January 2026, as the close API answers it: (passed, detail)."""
    client = api_as(tenant_a.accountant, tenant_a.tenant)

    def check() -> tuple[bool, str]:
        answer = client.get("/api/v1/recon/close/", {"month": "2026-01"})
        assert answer.status_code == 200, answer.content
        return next((c["passed"], c["detail"]) for c in answer.json()["checks"] if c["key"] == "sources")

    return check


def test_a_los_angeles_shop_synced_at_3_utc_on_the_1st_has_not_synced_after_its_month_ended(shop, january):
    # 03:00 UTC on February 1st is 19:00 on January 31st in Los Angeles: the shop's day goes on
    synced(shop, utc(1, 3), utc(1, 3, 5))

    assert january() == (False, f"Shop in California: synced as of 2026-01-31 19:00 {LA}.")


def test_a_los_angeles_shop_synced_at_9_utc_on_the_1st_has_synced_after_its_month_ended(shop, january):
    synced(shop, utc(1, 9), utc(1, 9, 5))

    assert january() == (
        True,
        f"1 connection, each synced after its month ended: Shop in California as of 2026-02-01 01:00 {LA}.",
    )


def test_a_sync_that_started_before_the_month_ended_and_finished_after_does_not_count(shop, january):
    # 23:50 to 00:10 in Los Angeles: it read its pages from 23:50 on, what came later may be missing
    synced(shop, utc(1, 7, 50), utc(1, 8, 10))

    assert january() == (False, f"Shop in California: synced as of 2026-01-31 23:50 {LA}.")


@pytest.mark.parametrize(
    ("pages", "expected"),
    [
        # it committed pages: the sync after resumed its passes, which began at 23:40
        (3, (False, f"Shop in California: synced as of 2026-01-31 23:40 {LA}.")),
        # it committed nothing: the sync after read everything afresh, from 00:05
        (
            0,
            (True, f"1 connection, each synced after its month ended: Shop in California as of 2026-02-01 00:05 {LA}."),
        ),
    ],
)
def test_a_sync_that_finished_what_a_failed_one_began_counts_from_the_failed_ones_start(shop, january, pages, expected):
    synced(shop, utc(1, 7, 40), utc(1, 7, 45), status=SyncJobStatus.FAILED, pages=pages)
    synced(shop, utc(1, 8, 5), utc(1, 8, 30))

    assert january() == expected


def test_a_webhooks_sync_after_the_month_ended_does_not_count(shop, january):
    synced(shop, utc(1, 7), utc(1, 7, 5))
    SyncJobFactory(connection=shop, at=utc(1, 10), kind="targeted", trigger="webhook", target_ids=["gid://x/1"])

    assert january() == (False, f"Shop in California: synced as of 2026-01-31 23:00 {LA}.")


def test_a_connection_whose_time_zone_is_not_known_is_judged_in_utc_and_says_so(tenant_a, in_tenant, january):
    with in_tenant(tenant_a.tenant):
        stripe = connection(name="Stripe US", last_sync_succeeded_at=None)
        assert stripe.time_zone == ""
        synced(stripe, utc(31, 23, 30), utc(1, 0, 10))
    before = january()
    with in_tenant(tenant_a.tenant):
        synced(stripe, utc(1, 3), utc(1, 3, 5))
    after = january()

    assert before == (False, "Stripe US: synced as of 2026-01-31 23:30 UTC (its time zone is not known yet).")
    assert after == (
        True,
        "1 connection, each synced after its month ended: Stripe US as of 2026-02-01 03:00 UTC "
        "(its time zone is not known yet).",
    )


def test_a_connection_never_synced_and_a_month_not_over_yet_say_so_in_its_time_zone(shop, tenant_a, api_as):
    client = api_as(tenant_a.accountant, tenant_a.tenant)

    def sources(month: str) -> str:
        return next(c["detail"] for c in client.get("/api/v1/recon/close/", {"month": month}).json()["checks"])

    assert sources("2026-01") == "Shop in California: never synced."
    assert sources("9998-12") == f"the month is not over until 9999-01-01 00:00 {LA}; Shop in California: never synced."


def test_the_same_sync_counts_after_the_month_in_utc_but_not_in_los_angeles(shop, tenant_a, in_tenant, january):
    with in_tenant(tenant_a.tenant):
        stripe = connection(name="Stripe US", last_sync_succeeded_at=None)
        for conn in (shop, stripe):
            synced(conn, utc(1, 3), utc(1, 3, 5))

    assert january() == (False, f"Shop in California: synced as of 2026-01-31 19:00 {LA}.")


def test_the_close_page_shows_the_sync_in_the_connections_time_zone(shop, tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        synced(shop, utc(1, 3), utc(1, 3, 5))

    page = signed_in("accountant@acme.example.com").get("/close/", {"month": "2026-01"}).content.decode()

    assert f"Shop in California: synced as of 2026-01-31 19:00 {LA}." in page
