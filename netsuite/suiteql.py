"""SuiteQL over REST: read-only validation, lazy paging, honest truncation.

``POST /services/rest/query/v1/suiteql?limit=&offset=`` with ``Prefer: transient`` and
``{"q": "..."}``. NetSuite answers pages of at most 1,000 items with ``hasMore``,
``totalResults``, ``count`` and ``offset``; column names come back lower-case and every
value as a string (null columns are simply absent), and each item carries a ``links``
list, which we drop. Offset paging reaches at most 100,000 rows; beyond that NetSuite
cannot page, so a larger result is reported as ``truncated`` with a reason, never cut
silently. Paging without a stable order can skip or repeat rows between pages, so a query
whose ``ORDER BY`` does not end with the primary key ``id`` gets a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from netsuite import jsonio
from netsuite.errors import NetSuiteProtocolError

if TYPE_CHECKING:
    from netsuite.client import NetSuiteClient, RetryPolicy

log = logging.getLogger(__name__)

SUITEQL_PATH = "/services/rest/query/v1/suiteql"
MAX_PAGE_SIZE = 1000
ROW_CEILING = 100_000
# SuiteQL is Oracle-flavoured SQL (NVL, ROWNUM, TO_DATE ...); sqlglot's Oracle dialect reads it.
DIALECT = "oracle"

_FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = tuple(
    cls
    for cls in (
        getattr(exp, name, None)
        for name in (
            "Insert",
            "Update",
            "Delete",
            "Merge",
            "Create",
            "Drop",
            "Alter",
            "AlterTable",
            "Command",
            "TruncateTable",
            "Into",
            "Lock",
            "Grant",
            "Use",
            "Set",
            "Transaction",
            "Commit",
            "Rollback",
        )
    )
    if isinstance(cls, type)
)
_QUERY_ROOTS: tuple[type[exp.Expression], ...] = (exp.Select, exp.Union, exp.Intersect, exp.Except)


class SuiteQLValidationError(ValueError):
    """The text is not exactly one read-only SELECT statement."""


def parse_single_select(sql: str) -> exp.Expression:
    """Parse ``sql`` and return its one statement, which must be a read-only query.

    Accepts ``SELECT`` (with ``WITH``, joins, subqueries, set operations); refuses DML,
    DDL, ``SELECT ... INTO``, locking reads and more than one statement.
    """
    if not sql or not sql.strip():
        raise SuiteQLValidationError("SuiteQL query is empty")
    try:
        statements = [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None]
    except ParseError as exc:
        raise SuiteQLValidationError(f"SuiteQL query could not be parsed: {_first_line(exc)}") from exc
    except RecursionError as exc:  # thousands of nested parentheses
        raise SuiteQLValidationError("SuiteQL query is nested too deeply to be checked") from exc
    if not statements:
        raise SuiteQLValidationError("SuiteQL query is empty")
    if len(statements) > 1:
        kinds = ", ".join(s.key.upper() for s in statements)
        raise SuiteQLValidationError(f"exactly one SELECT statement is allowed, got {len(statements)} ({kinds})")
    statement = statements[0]
    if not isinstance(statement, _QUERY_ROOTS):
        raise SuiteQLValidationError(f"only SELECT queries are allowed, got {statement.key.upper()}")
    for node in statement.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            raise SuiteQLValidationError(f"read-only queries only: {node.key.upper()} is not allowed")
    return statement


def validate_read_only(sql: str) -> str:
    """Raise :class:`SuiteQLValidationError` unless ``sql`` is one read-only SELECT; return it."""
    parse_single_select(sql)
    return sql


def ordering_warnings(statement: exp.Expression) -> list[str]:
    """Warnings about paging a query whose order is not unique (it can skip or repeat rows)."""
    order = statement.args.get("order")
    if not isinstance(order, exp.Order) or not order.expressions:
        return [
            "query has no ORDER BY: NetSuite pages by offset, so without a stable order rows can be "
            "skipped or repeated between pages; end the ORDER BY with the primary key id"
        ]
    last = order.expressions[-1]
    key = last.this if isinstance(last, exp.Ordered) else last
    if isinstance(key, exp.Column) and key.name.lower() == "id":
        return []
    return [
        f"ORDER BY does not end with the primary key id (ends with {key.sql(dialect=DIALECT)}): rows with "
        "equal sort keys can be skipped or repeated between pages"
    ]


class SuiteQLResult:
    """Lazily paged SuiteQL rows (dicts of lower-case column -> string value).

    Iterate it once. ``warnings`` is known up front; ``total_results``, ``truncated`` and
    ``truncation_reason`` are set as soon as the first page arrives and are final when the
    iteration ends. Nothing is fetched until the first row is asked for.
    """

    def __init__(
        self,
        client: NetSuiteClient,
        sql: str,
        *,
        page_size: int,
        row_ceiling: int,
        max_rows: int | None,
        warnings: list[str],
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.client = client
        self.retry_policy = retry_policy
        self.sql = sql
        self.page_size = page_size
        self.row_ceiling = row_ceiling
        self.max_rows = max_rows
        self.warnings = warnings
        self.total_results: int | None = None
        self.truncated = False
        self.truncation_reason: str | None = None
        self.pages_fetched = 0
        self.rows_returned = 0
        self._rows = self._generate()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self

    def __next__(self) -> dict[str, Any]:
        return next(self._rows)

    def all(self) -> list[dict[str, Any]]:
        """Consume the remaining rows into a list."""
        return list(self)

    def _truncate(self, reason: str) -> None:
        if not self.truncated:
            self.truncated = True
            self.truncation_reason = reason
            log.warning("suiteql result truncated: %s", reason)

    def _fetch(self, offset: int) -> dict[str, Any]:
        self.pages_fetched += 1
        return self.client.send(
            "POST",
            SUITEQL_PATH,
            params={"limit": str(self.page_size), "offset": str(offset)},
            json_body={"q": self.sql},
            headers={"Prefer": "transient"},
            idempotent=True,  # a read: repeating it after a lost answer is harmless
            operation="suiteql",
            parse=_expect_page,
            retry_policy=self.retry_policy,
        )

    def _generate(self) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            if self.max_rows is not None and self.rows_returned >= self.max_rows:
                self._truncate(f"stopped at max_rows={self.max_rows} of {self.total_results} rows")
                return
            if offset >= self.row_ceiling:
                # The last reachable page said hasMore: NetSuite cannot page any further.
                self._truncate(
                    f"NetSuite offset paging stops at {self.row_ceiling} rows; the query matched "
                    f"{self.total_results if self.total_results is not None else 'more'} rows. "
                    "Narrow it (e.g. WHERE id > last id seen) and page again"
                )
                return
            page = self._fetch(offset)
            items = page["items"]
            total = page.get("totalResults")
            if isinstance(total, int):
                self.total_results = total
                if total > self.row_ceiling:
                    self._truncate(
                        f"the query matched {total} rows but NetSuite offset paging reaches only "
                        f"{self.row_ceiling}; narrow it (e.g. WHERE id > last id seen) and page again"
                    )
            for item in items:
                if self.max_rows is not None and self.rows_returned >= self.max_rows:
                    self._truncate(f"stopped at max_rows={self.max_rows} of {self.total_results} rows")
                    return
                self.rows_returned += 1
                yield _clean_row(item)
            if not page.get("hasMore"):
                if self.total_results is not None and offset + len(items) < self.total_results:
                    self._truncate(f"NetSuite stopped paging at {offset + len(items)} of {self.total_results} rows")
                return
            if not items:
                raise NetSuiteProtocolError(f"SuiteQL page at offset {offset} is empty but hasMore is true")
            offset += len(items)


def run_suiteql(
    client: NetSuiteClient,
    sql: str,
    *,
    page_size: int = MAX_PAGE_SIZE,
    row_ceiling: int = ROW_CEILING,
    max_rows: int | None = None,
    retry_policy: RetryPolicy | None = None,
) -> SuiteQLResult:
    """Validate ``sql`` as one read-only SELECT and return its lazily paged result.

    ``page_size`` is NetSuite's ``limit`` (1..1000). ``row_ceiling`` is how far offset
    paging can reach (100,000 on NetSuite). ``max_rows`` stops early on the caller's behalf,
    also reported through ``truncated``. ``retry_policy`` replaces the client's for each page.
    """
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
    statement = parse_single_select(sql)
    return SuiteQLResult(
        client,
        sql,
        page_size=page_size,
        row_ceiling=row_ceiling,
        max_rows=max_rows,
        warnings=ordering_warnings(statement),
        retry_policy=retry_policy,
    )


def _clean_row(item: dict[str, Any]) -> dict[str, Any]:
    # Values are left exactly as NetSuite sent them (strings); only the per-item links go.
    return {str(key).lower(): value for key, value in item.items() if key != "links"}


def _expect_page(response: httpx.Response) -> dict[str, Any]:
    try:
        page = jsonio.loads(response.content)
    except ValueError as exc:
        reason = str(exc)  # where parsing stopped; the exception also keeps the whole body (.doc)
    else:
        reason = None
    if reason is not None:
        raise NetSuiteProtocolError(f"unparseable SuiteQL page: {reason}")
    if not isinstance(page, dict) or not isinstance(page.get("items"), list):
        raise NetSuiteProtocolError("SuiteQL answer has no items list")
    return page


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
