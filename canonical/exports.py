"""CSV export of a canonical table, streamed (used by the API and the pages)."""

from __future__ import annotations

import csv
import datetime
import decimal
import json
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import StreamingHttpResponse

from ecomops.tenancy import current_tenant, tenant_context

HIDDEN_COLUMNS = {"tenant_id", "raw_data", "content_hash"}


def table_columns(model: type[Model], *, include_raw: bool = False) -> list[str]:
    columns = [f.attname for f in model._meta.concrete_fields if f.attname not in HIDDEN_COLUMNS]
    return [*columns, "raw_data"] if include_raw else columns


# A cell a spreadsheet would run as a formula (OWASP's CSV injection list). Notes, processor
# messages and descriptions come from people and processors; amounts like "-0.12" stay numbers.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")
_PLAIN = {int, bool, uuid.UUID, datetime.datetime, datetime.date, decimal.Decimal}  # written as they are

# Rows are sent in pieces of about this size: one piece per row made a million-row download
# a million writes to the client.
CHUNK_BYTES = 64 * 1024


def _cell(value: Any) -> Any:
    if value is None or value.__class__ in _PLAIN:
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, ensure_ascii=False)  # JSON, not a Python repr
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.match(value):
        return "'" + value  # shown as text, never evaluated
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(
    rows: QuerySet | Sequence[Any],
    columns: list[str],
    filename: str,
    *,
    row: Callable[[Any], Sequence[Any]] | None = None,
) -> StreamingHttpResponse:
    """Stream rows as CSV without holding the table in memory.

    ``columns`` are read with ``values_list``, or, given ``row``, name the header of what
    ``row(record)`` returns for each model instance (or each item of a list already read).

    Text that would start a spreadsheet formula is quoted with a leading ``'``; JSON
    values are written as JSON. The body is produced after the view has returned, when the request middleware has left
    the tenant: the stream enters the tenant's context again for as long as it reads.
    """
    writer = csv.writer(_Echo())
    tenant = current_tenant()

    def stream() -> Iterator[str]:
        # In a transaction the rows are read through a cursor as they are sent; outside one,
        # PostgreSQL materializes the whole result before the first row (a cursor WITH HOLD),
        # and the download is one consistent snapshot either way.
        with tenant_context(tenant), transaction.atomic():
            yield writer.writerow(columns)
            if not isinstance(rows, QuerySet):
                records: Any = rows
            elif row:
                records = rows.iterator(chunk_size=2000)
            else:
                records = rows.values_list(*columns).iterator(chunk_size=2000)
            piece, size = [], 0
            for record in records:
                line = writer.writerow([_cell(value) for value in (row(record) if row else record)])
                piece.append(line)
                size += len(line)
                if size >= CHUNK_BYTES:
                    yield "".join(piece)
                    piece, size = [], 0
            if piece:
                yield "".join(piece)

    response = StreamingHttpResponse(stream(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response
