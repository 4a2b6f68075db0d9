"""``manage.py bench recon`` at a tiny size: every planted fault found, nothing else."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command


def test_bench_recon_finds_every_planted_fault_and_nothing_else(live_db):
    from django_q.brokers import get_broker

    out = StringIO()
    queued = get_broker().queue_size()

    # 400 lines: the smallest plan with a dispute whose withdrawal line takes too much
    call_command("bench", "recon", "--payouts", "40", "--lines", "10", "--json", stdout=out)

    result = json.loads(out.getvalue())
    assert result["lines"] == 400
    assert result["found"] == result["planted"]
    assert result["planted"]["payout_total_mismatch"] == 1
    assert result["planted"]["line_net_mismatch"] == 4
    assert result["planted"]["line_amount_mismatch"] == 4 + 1  # four charge lines, one dispute line
    assert (result["false_positives"], result["missed"]) == (0, 0)
    assert result["rerun_mode"] == "incremental"
    assert result["rerun_exceptions_changed"] == 0
    for key in ("seconds", "baseline_seconds", "ratio", "rerun_seconds", "rerun_ratio", "join_floor_ratio"):
        assert result[key] >= 0
    assert 0 < result["main_pass_seconds"] < result["seconds"]
    assert result["after_pass_seconds"] == pytest.approx(result["seconds"] - result["main_pass_seconds"], abs=0.002)
    # nothing left for a worker: the bench's tenant is dropped when it ends, and a job queued
    # for it (a posting after its runs) would only find it gone
    assert get_broker().queue_size() == queued
