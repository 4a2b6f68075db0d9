"""``manage.py bench export`` at a tiny size: both paths timed, the same file, the tenant gone."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from tenants.models import Tenant

pytestmark = pytest.mark.slow


def test_bench_export_times_both_paths_over_the_same_file(live_db):
    out = StringIO()

    call_command("bench", "export", "--rows", "2500", "--json", stdout=out)

    result = json.loads(out.getvalue())
    assert result["rows"] == 2500
    assert result["identical"] is True  # COPY wrote the bytes the Python path wrote
    assert result["python_seconds"] > 0
    assert result["copy_seconds"] > 0
    assert result["ratio"] > 0  # measured in the same run; at this size it says little
    assert 0 < result["largest_piece_bytes"] < 80 * 1024  # streamed in pieces, not one buffer
    assert result["megabytes"] > 0.2
    assert not Tenant.objects.filter(slug__startswith="bench-export-").exists()


def test_bench_export_prints_its_figures(live_db):
    out = StringIO()

    call_command("bench", "export", "--rows", "50", stdout=out)

    text = out.getvalue()
    assert "(a) Python csv writer: 50 rows" in text
    assert "(b) PostgreSQL COPY" in text
    assert "the same bytes: yes" in text
