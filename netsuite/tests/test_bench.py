"""The posting benchmark runs end to end (small), and reports what the issue asks for."""

from __future__ import annotations

from io import StringIO

import pytest

from netsuite import bench

pytestmark = pytest.mark.slow


def test_bench_post_small_run_reports_the_figures(live_db) -> None:  # type: ignore[no-untyped-def]
    out = StringIO()
    options = {
        "payouts": 30,
        "latency_ms": 50,
        "concurrency": 2,
        "threads": None,
        "overhead_payouts": 10,
        "auth": "tba",
        "keep": False,
        "json": False,
    }

    result = bench.run(options, out)

    for key in ("payouts", "je_per_s", "limit_je_per_s", "ratio", "overhead_ms_per_posting", "calls_per_payout"):
        assert key in result, key
    assert result["payouts"] == 30
    assert result["limit_je_per_s"] == 40.0
    assert result["calls_per_payout"] == 1.0  # one upsert per payout, nothing else
    assert result["journal_entries"] == 40
    assert 0 < result["ratio"] <= 1.05  # never faster than the limit allows
    assert result["overhead_ms_per_posting"] > 0
    text = out.getvalue()
    assert "JE/s" in text
    assert "calls per payout" in text


def test_bench_post_is_registered_with_the_bench_command() -> None:
    from ecomops.management.commands.bench import BENCHMARKS

    assert BENCHMARKS["post"] == "netsuite.bench"
