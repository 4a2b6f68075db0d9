"""``manage.py recon`` as cron runs it: its own process, whose exit status says how the run ended.

The tenants here are committed (the command is another process, on its own connection).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from canonical.models import Payout
from connections.models import Connection
from ecomops.tenancy import tenant_context
from recon.management.commands.recon import Command
from recon.models import ReconRun
from recon.services import _lock_key
from recon.tests.factories import connection, payout_own_line, payout_row, sale, write
from tests.worker import ROOT, worker_database_url


def manage_recon(*args: str, pg_options: str = "") -> subprocess.CompletedProcess:
    """``manage.py recon ARGS`` in a process of its own, against the test database."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "ecomops.settings.test", "DATABASE_URL": worker_database_url()}
    if pg_options:
        env["PGOPTIONS"] = pg_options  # libpq's settings for every connection the process opens
    return subprocess.run(
        [sys.executable, "manage.py", "recon", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _one_short_payout(world, *, synced_ago: timedelta) -> Connection:
    with tenant_context(world.tenant):
        conn = connection(last_sync_succeeded_at=timezone.now() - synced_ago)
        with transaction.atomic():  # the upsert stages its rows for the length of a transaction
            write(
                conn,
                *sale(conn, 1, payout="po_1", amount=10000, fee=320),
                payout_row("po_1", 10000),
                payout_own_line("po_1", 10000),
            )
    return conn


def test_a_stale_run_exits_3_with_the_reason_on_stderr_and_a_completed_one_0(committed_tenant):
    world = committed_tenant("rc-cmd-stale")
    conn = _one_short_payout(world, synced_ago=timedelta(hours=30))  # the window is 24 h

    stale = manage_recon("--tenant", "rc-cmd-stale")

    with tenant_context(world.tenant):
        run = ReconRun.objects.get()
    assert stale.returncode == 3, stale.stderr
    assert f"Run {run.pk} (full): stale" in stale.stdout
    assert "payouts evaluated 1:" in stale.stdout  # the counts are there; they are not called green
    assert "beyond the 24 h freshness window" in run.stale_reason
    assert stale.stderr.strip().splitlines()[-1] == f"CommandError: Run {run.pk} ended stale: {run.stale_reason}"

    with tenant_context(world.tenant):  # a sync succeeds
        Connection.objects.filter(pk=conn.pk).update(last_sync_succeeded_at=timezone.now())
    completed = manage_recon("--tenant", "rc-cmd-stale")

    assert completed.returncode == 0, completed.stderr
    assert "(incremental): completed" in completed.stdout
    assert "CommandError" not in completed.stderr


def test_a_failed_run_exits_1_with_the_error_on_stderr(committed_tenant):
    world = committed_tenant("rc-cmd-failed")
    _one_short_payout(world, synced_ago=timedelta(minutes=1))
    # Another run holds the tenant's recon lock, and the command's database gives up waiting
    # for a lock after 300 ms (a lock_timeout, as a production role may have).
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [_lock_key(world.tenant.pk)])
    try:
        failed = manage_recon("--tenant", "rc-cmd-failed", pg_options="-c lock_timeout=300")
    finally:
        with db.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_lock_key(world.tenant.pk)])

    with tenant_context(world.tenant):
        run = ReconRun.objects.get()
    assert failed.returncode == 1, failed.stderr
    assert (run.status, run.trigger) == ("failed", "command")
    assert "lock timeout" in run.error_message
    assert f"Run {run.pk}: failed in " in failed.stdout
    assert failed.stderr.strip().splitlines()[-1] == f"CommandError: Run {run.pk} failed: {run.error_message}"


def test_options_it_cannot_read_exit_2_as_before(db):
    unreadable = manage_recon("--tenant", "acme", "--from", "2026-13-01")

    assert unreadable.returncode == 2
    assert "--from: '2026-13-01' is not a date (YYYY-MM-DD)" in unreadable.stderr


def test_option_values_it_refuses_exit_2_with_one_line_on_stderr_and_record_no_run(committed_tenant):
    world = committed_tenant("rc-cmd-refused")
    neighbour = committed_tenant("rc-cmd-neighbour")
    _one_short_payout(world, synced_ago=timedelta(minutes=1))
    _one_short_payout(neighbour, synced_ago=timedelta(minutes=1))
    with tenant_context(neighbour.tenant):
        neighbours_payout = str(Payout.objects.get().pk)
    refusals = {
        ("--tenant", "nobody"): "CommandError: Unknown tenant 'nobody': give an existing tenant's slug or id.",
        ("--tenant", "rc-cmd-refused", "--payout", "po_404"): (
            "CommandError: --payout: No payout po_404 in this tenant."
        ),
        ("--tenant", "rc-cmd-refused", "--payout", neighbours_payout): (
            f"CommandError: --payout: No payout {neighbours_payout} in this tenant."
        ),
        ("--tenant", "rc-cmd-refused", "--from", "2026-02-01", "--to", "2026-01-01"): (
            "CommandError: --to 2026-01-01 is before --from 2026-02-01."
        ),
    }

    for args, reason in refusals.items():
        refused = manage_recon(*args)

        assert (refused.returncode, refused.stderr.strip()) == (2, reason), args
        assert refused.stdout == "", args  # no run, so no counts
    for tenant in (world.tenant, neighbour.tenant):
        with tenant_context(tenant):
            assert not ReconRun.objects.exists()


def test_help_says_what_each_exit_status_means():
    text = " ".join(Command().create_parser("manage.py", "recon").format_help().split())

    assert "Exit status: 0 the run completed; 1 it failed; 2 the options could not be read or their values" in text
    assert "were refused (an unknown tenant, payout or connection, --to before --from), and nothing was run" in text
    assert "3 it ended stale" in text
