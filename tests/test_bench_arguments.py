"""``manage.py bench``: a bad size is refused up front, naming the option, before anything starts."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from ecomops.management.commands.bench import Command


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "--objects", "-5"], "--objects: must be at least 1, not -5"),
        (["ingest", "--objects", "lots"], "--objects: 'lots' is not a whole number"),
        (["recon", "--payouts", "0"], "--payouts: must be at least 1, not 0"),
        (["recon", "--lines", "1"], "--lines: must be at least 2, not 1"),
        (["recon", "--fault-every", "150"], "--fault-every: must be a multiple of 100, not 150"),
        (["post", "--concurrency", "0"], "--concurrency: must be at least 1, not 0"),
        (["post", "--latency-ms", "-1"], "--latency-ms: must be at least 0, not -1"),
        (["export", "--rows", "0"], "--rows: must be at least 1, not 0"),
        # a slip of the keyboard is refused too, rather than generating for hours
        (["recon", "--payouts", "10000000"], "--payouts: must be at most 200000, not 10000000"),
        (["recon", "--lines", "1000000"], "--lines: must be at most 1000, not 1000000"),
        (
            ["recon", "--payouts", "200000", "--lines", "1000"],
            r"--payouts x --lines is 200,000,000 lines; at most 20,000,000",
        ),
        (["ingest", "--objects", "100000000"], "--objects: must be at most 5000000, not 100000000"),
        (["export", "--rows", "1000000000"], "--rows: must be at most 20000000, not 1000000000"),
        (["post", "--payouts", "5000000"], "--payouts: must be at most 100000, not 5000000"),
        (["post", "--threads", "1000"], "--threads: must be at most 64, not 1000"),
    ],
)
def test_a_bad_size_is_refused_with_the_options_name(args, message):
    # No database is touched and no sandbox started: the arguments are checked first.
    with pytest.raises(CommandError, match=message):
        call_command("bench", *args)


def test_help_lists_every_benchmark():
    # What `manage.py bench --help` prints (each benchmark's summary is its docstring's first line).
    text = Command().create_parser("manage.py", "bench").format_help()

    assert "ingest" in text
    assert "post" in text
    assert "Export N orders as CSV" in text
    assert "Reconcile N payouts x M lines with ~1% planted faults" in text
