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

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import Func, Model, QuerySet, TextField
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


# --- a whole table, written by PostgreSQL ---------------------------------------------------------
# A table export is PostgreSQL's own COPY (SELECT ...) TO STDOUT WITH (FORMAT csv): formatting a
# million rows cell by cell in Python took 30-50 s. Each column is turned in SQL into the text that
# ``_cell`` and the csv module write for it, so the file is the one the Python path writes, byte for
# byte, with two deliberate exceptions, both a number a spreadsheet reads as the same number:
# - a decimal is written as PostgreSQL prints it, positional with its full scale ("0.000000000000");
#   Python's Decimal wrote a value under 0.000001 in exponent notation ("0E-12", "1.00000E-7").
# - a number inside JSON is written as jsonb stores it, exactly ("1.50", "0.0000001"); the Python path
#   read it into a float first and wrote "1.5", "1e-07". Everything else in JSON (key order, spacing,
#   escapes, unicode) is what json.dumps(..., ensure_ascii=False) writes.
# A column of a type not listed in _CELL_SQL sends the export down the Python path.

# _FORMULA_START and _NUMBER in SQL. Python's "$" also matches before a final newline, hence "\n?".
_FORMULA_START_SQL = "('=', '+', '-', '@', chr(9), chr(13))"
_NUMBER_SQL = "'^[+-]?[0-9]+(\\.[0-9]+)?\\n?$'"


def _text_sql(value: str) -> str:
    # '' is written bare as csv does (COPY would quote it, to tell it from NULL)
    return (
        f"CASE WHEN left({value}, 1) IN {_FORMULA_START_SQL} AND {value} !~ {_NUMBER_SQL} "
        f"THEN '''' || {value} ELSE NULLIF({value}, '') END"
    )


def _bool_sql(value: str) -> str:
    return f"CASE WHEN {value} THEN 'True' WHEN NOT {value} THEN 'False' END"


def _datetime_sql(value: str) -> str:
    # str() of the UTC datetime Django reads: the microseconds only when there are some (one
    # to_char, the costliest call of the export, per timestamp)
    return f"replace(to_char(({value} AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24:MI:SS.US'), '.000000', '') || '+00:00'"


def _date_sql(value: str) -> str:
    return f"to_char({value}, 'YYYY-MM-DD')"


def _decimal_sql(value: str) -> str:
    return f"{value}::text"


def _json_sql(value: str) -> str:
    # jsonb prints an object or an array as json.dumps does ({"a": 1, "b": [1, 2]}), its keys in
    # jsonb's order, which is the order Django's json.loads of that text kept; a scalar is written
    # as the Python value it is read as (a string as text, guarded; true as True; null as nothing).
    string = f"({value} #>> '{{}}')"
    return (
        f"CASE jsonb_typeof({value}) WHEN 'object' THEN {value}::text WHEN 'array' THEN {value}::text "
        f"WHEN 'string' THEN {_text_sql(string)} "
        f"WHEN 'boolean' THEN {_bool_sql(f'({value})::boolean')} WHEN 'number' THEN {value}::text END"
    )


def _as_is_sql(value: str) -> str:
    return value  # COPY prints integers and uuids as str() does


_CELL_SQL: dict[str, Callable[[str], str]] = {
    "CharField": _text_sql,
    "TextField": _text_sql,
    "BooleanField": _bool_sql,
    "DateTimeField": _datetime_sql,
    "DateField": _date_sql,
    "DecimalField": _decimal_sql,
    "JSONField": _json_sql,
    "UUIDField": _as_is_sql,
    "AutoField": _as_is_sql,
    "BigAutoField": _as_is_sql,
    "IntegerField": _as_is_sql,
    "BigIntegerField": _as_is_sql,
    "SmallIntegerField": _as_is_sql,
    "PositiveIntegerField": _as_is_sql,
    "PositiveBigIntegerField": _as_is_sql,
    "PositiveSmallIntegerField": _as_is_sql,
}


class _CsvCell(Func):
    """A column as the text of its CSV cell."""

    output_field = TextField()

    def __init__(self, column: str, cell_sql: Callable[[str], str]) -> None:
        super().__init__(column, template=cell_sql("%(expressions)s"))


def _cell_sql(model: type[Model], column: str) -> Callable[[str], str] | None:
    field = next((f for f in model._meta.concrete_fields if f.attname == column), None)
    if field is None:
        return None
    if field.is_relation:
        field = field.target_field
    return _CELL_SQL.get(field.get_internal_type())


def copy_select(rows: QuerySet, columns: list[str]) -> tuple[str, tuple[Any, ...]] | None:
    """The SELECT whose COPY is the CSV body of ``rows.values_list(*columns)``: the same rows, filters
    and order, each column as the Python path writes it. None when a column's type is not handled
    here, or when the queryset is empty by construction (``.none()``)."""
    cells = []
    for column in columns:
        cell_sql = _cell_sql(rows.model, column)
        if cell_sql is None:
            return None
        cells.append(_CsvCell(column, cell_sql))
    try:
        return rows.values_list(*cells).query.sql_with_params()
    except EmptyResultSet:
        return None


def _copy_lines(select: tuple[str, tuple[Any, ...]]) -> Iterator[bytes]:
    """The COPY of ``select`` in pieces of about CHUNK_BYTES, each line ended with CRLF as csv ends it.

    PostgreSQL sends every row as one message ending with LF (a line break inside a cell is inside
    quotes, in the same message): each message's last byte, and only it, is the end of a line.

    Until the COPY ends the connection is in it and nothing else can use it (psycopg holds its
    lock): the body is read to its end, or the response is closed, which closes this generator
    and so cancels the COPY, before the request's connection is used again or closed.
    """
    sql, params = select
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
        piece: list[Any] = []
        size = 0
        for line in copy:
            piece.append(line[:-1])
            size += len(line)
            if size >= CHUNK_BYTES:
                piece.append(b"")
                yield b"\r\n".join(piece)
                piece, size = [], 0
        if piece:
            piece.append(b"")
            yield b"\r\n".join(piece)


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(
    rows: QuerySet | Sequence[Any],
    columns: list[str],
    filename: str,
    *,
    row: Callable[[Any], Sequence[Any]] | None = None,
    use_copy: bool = True,
) -> StreamingHttpResponse:
    """Stream rows as CSV without holding the table in memory.

    ``columns`` are read with ``values_list``, or, given ``row``, name the header of what
    ``row(record)`` returns for each model instance (or each item of a list already read).
    A table (a QuerySet without ``row``) is written by PostgreSQL's COPY (see ``copy_select``);
    ``use_copy=False`` writes it in Python instead (the baseline the tests and the bench compare with).

    Text that would start a spreadsheet formula is quoted with a leading ``'``; JSON
    values are written as JSON. The body is produced after the view has returned, when the request middleware has left
    the tenant: the stream enters the tenant's context again for as long as it reads.
    """
    writer = csv.writer(_Echo())
    tenant = current_tenant()
    copy = copy_select(rows, columns) if use_copy and isinstance(rows, QuerySet) and row is None else None

    def stream() -> Iterator[str | bytes]:
        # In a transaction the rows are read through a cursor as they are sent; outside one,
        # PostgreSQL materializes the whole result before the first row (a cursor WITH HOLD),
        # and the download is one consistent snapshot either way. The COPY, too, reads in the
        # tenant's schema under its row-level security, in a transaction of its own.
        with tenant_context(tenant), transaction.atomic():
            yield writer.writerow(columns)
            if copy is not None:
                yield from _copy_lines(copy)
                return
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
