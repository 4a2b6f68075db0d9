"""A table export over real HTTP (``runserver``): the COPY body arrives whole and in pieces, equal
to the Python writer's file, and a download dropped halfway leaves the server answering."""

from __future__ import annotations

import httpx
import pytest
from django.db import transaction

from canonical.exports import csv_response, table_columns
from canonical.models import PayoutLine
from canonical.tests.test_exports import _line
from canonical.upsert import upsert_rows
from connections.tests.factories import ConnectionFactory

pytestmark = pytest.mark.slow


def test_a_table_export_over_http_is_the_python_file_and_survives_a_dropped_download(committed_tenant, web):
    from conftest import tokens_for
    from ecomops.tenancy import tenant_context

    world = committed_tenant("exporthttp")
    with tenant_context(world.tenant):
        conn = ConnectionFactory()
        with transaction.atomic():
            upsert_rows([_line(n) for n in range(3000)], connection_id=conn.pk, tenant_id=conn.tenant_id)
        rows = PayoutLine.objects.order_by("-source_created_at", "source_id")
        expected = b"".join(csv_response(rows, table_columns(PayoutLine), "x", use_copy=False).streaming_content)
    headers = {"Authorization": f"Bearer {tokens_for(world.owner, world.tenant)['access']}"}
    url = f"{web}/api/v1/tables/payout_lines/"

    with httpx.stream("GET", url, params={"format": "csv"}, headers=headers, timeout=60) as response:
        assert response.status_code == 200
        pieces = list(response.iter_raw())
    with httpx.stream("GET", url, params={"format": "csv"}, headers=headers, timeout=60) as dropped:
        next(dropped.iter_raw())  # then the client goes away
    again = httpx.get(url, params={"format": "csv", "source_id": "txn_7"}, headers=headers, timeout=60)

    assert b"".join(pieces) == expected
    assert len(expected) > 1_000_000
    assert again.status_code == 200
    assert again.text.count("\r\n") == 2  # the header and txn_7
