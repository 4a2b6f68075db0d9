"""Change capture: the database tells the engine which canonical rows changed.

Why triggers: an incremental run must find what changed without reading every row. With
1M payout lines, any scan (a per-payout fingerprint, ``synced_at`` or ``xmin`` filters)
costs about as much as the baseline aggregate itself, for payments and orders again; and a
``synced_at`` watermark misses rows whose transaction committed after the run started but
stamped an earlier time. Statement-level ``AFTER`` triggers with transition tables cost one
small ``INSERT ... SELECT`` per upsert statement and record exactly the changed source ids,
committed (or rolled back) together with the rows themselves.

What counts as a change is what recon reads: a different ``content_hash`` (the canonical
upsert's hash of the source object) or, for payout lines, a different payout (that column
is left out of the hash, see ``canonical.upsert.STICKY_COLUMNS``). Recon's own writes to
the lines (the payment/refund/dispute links) change neither, so they record nothing.

Each statement appends at most one ``recon_reconchange`` row per (connection, kind) with
the affected source ids of that kind:

* a payout: its own id, and the payout it reverses;
* a payout line: its payout (before and after), for a charge line its payment (whether
  that payment has been paid out is part of the order-unpaid rule), and for a line that
  carries another payout that payout (where a failed payout's money came back);
* a payment: itself and its order (before and after); an order, a refund, a dispute: itself.

The functions and triggers are (re)installed in every tenant schema after each migrate, the
way row-level security is (``recon.apps``), so they cannot be forgotten on a new tenant.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

CHANGE_TABLE = "recon_reconchange"


@dataclass(frozen=True)
class Capture:
    """One kind of key a table's change contributes: ``key`` and ``when`` use ``{r}`` for the row."""

    kind: str
    key: str
    when: str = "true"


# table -> (extra column whose change also counts, what to record)
CAPTURED: dict[str, tuple[str | None, tuple[Capture, ...]]] = {
    "canonical_payout": (
        None,
        (
            Capture("payout", "{r}.source_id"),
            Capture("payout", "{r}.reversal_of_source_id", "{r}.reversal_of_source_id <> ''"),
        ),
    ),
    "canonical_payoutline": (
        "payout_source_id",
        (
            Capture("payout", "{r}.payout_source_id", "{r}.payout_source_id <> ''"),
            Capture(
                "payment", "{r}.source_object_id", "{r}.reporting_category = 'charge' AND {r}.source_object_id <> ''"
            ),
            # a line that carries another payout (a failed payout's money coming back, a manual
            # payout's own line swept into the next one): that payout's findings name it
            Capture(
                "payout",
                "{r}.source_object_id",
                "{r}.reporting_category IN ('payout', 'payout_reversal') AND {r}.source_object_id <> ''",
            ),
        ),
    ),
    "canonical_payment": (
        None,
        (
            Capture("payment", "{r}.source_id"),
            Capture("order", "{r}.order_source_id", "{r}.order_source_id <> ''"),
        ),
    ),
    "canonical_order": (None, (Capture("order", "{r}.source_id"),)),
    "canonical_refund": (None, (Capture("refund", "{r}.source_id"),)),
    "canonical_dispute": (None, (Capture("dispute", "{r}.source_id"),)),
}


def _keys_select(captures: tuple[Capture, ...], rows: str, alias: str) -> list[str]:
    parts = []
    for capture in captures:
        condition = capture.when.format(r=alias)
        parts.append(
            f"SELECT {alias}.tenant_id, {alias}.connection_id, '{capture.kind}'::text AS kind, "
            f"{capture.key.format(r=alias)} AS key FROM {rows} {alias} WHERE {condition}"
        )
    return parts


def _function_sql(schema: str, table: str, operation: str) -> tuple[str, str]:
    """(function name, CREATE FUNCTION statement) for one table and one operation."""
    extra, captures = CAPTURED[table]
    if operation == "insert":
        selects = _keys_select(captures, "new_rows", "r")
    elif operation == "delete":
        selects = _keys_select(captures, "old_rows", "r")
    else:
        changed = "r.content_hash IS DISTINCT FROM o.content_hash"
        if extra:
            changed += f" OR r.{extra} IS DISTINCT FROM o.{extra}"
        # Keys from both sides of a changed row: an order or payout it left is affected too.
        selects = []
        for capture in captures:
            for side, other in (("r", "o"), ("o", "r")):
                source = "new_rows" if side == "r" else "old_rows"
                partner = "old_rows" if side == "r" else "new_rows"
                condition = f"({capture.when.format(r=side)}) AND ({changed})"
                selects.append(
                    f"SELECT {side}.tenant_id, {side}.connection_id, '{capture.kind}'::text AS kind, "
                    f"{capture.key.format(r=side)} AS key FROM {source} {side} "
                    f"JOIN {partner} {other} ON {other}.id = {side}.id WHERE {condition}"
                )
    name = f"recon_capture_{table.removeprefix('canonical_')}_{operation}"
    quoted_schema = connection.ops.quote_name(schema)
    body = f"""
        CREATE OR REPLACE FUNCTION {quoted_schema}.{name}() RETURNS trigger
        LANGUAGE plpgsql AS $fn$
        BEGIN
            INSERT INTO {quoted_schema}.{CHANGE_TABLE} (id, tenant_id, connection_id, kind, keys, created_at)
            SELECT gen_random_uuid(), k.tenant_id, k.connection_id, k.kind, array_agg(DISTINCT k.key), now()
            FROM ({" UNION ALL ".join(selects)}) k
            GROUP BY k.tenant_id, k.connection_id, k.kind;
            RETURN NULL;
        END
        $fn$
    """
    return name, body


def change_capture_statements(schema: str) -> list[str]:
    """Every statement that (re)installs change capture in ``schema``. Names come from code only."""
    statements = []
    quoted_schema = connection.ops.quote_name(schema)
    for table in CAPTURED:
        quoted_table = f"{quoted_schema}.{connection.ops.quote_name(table)}"
        for operation, referencing in (
            ("insert", "NEW TABLE AS new_rows"),
            ("update", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
            ("delete", "OLD TABLE AS old_rows"),
        ):
            name, function = _function_sql(schema, table, operation)
            statements.append(function)
            statements.append(f"DROP TRIGGER IF EXISTS {name} ON {quoted_table}")
            statements.append(
                f"CREATE TRIGGER {name} AFTER {operation.upper()} ON {quoted_table} "
                f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {quoted_schema}.{name}()"
            )
    return statements


def install_change_capture() -> bool:
    """Install the triggers in the current schema if it holds the canonical and recon tables."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_schema(), array_agg(tablename::text) FROM pg_tables WHERE schemaname = current_schema()"
        )
        schema, tables = cursor.fetchone()
        present = set(tables or [])
        if CHANGE_TABLE not in present or not set(CAPTURED) <= present:
            return False
        for statement in change_capture_statements(schema):
            cursor.execute(statement)
    return True


def installed_triggers(schema: str) -> set[str]:
    """Names of the change-capture triggers present in ``schema`` (for tests and checks)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.tgname FROM pg_trigger t
            JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND t.tgname LIKE 'recon_capture_%%' AND NOT t.tgisinternal
            """,
            [schema],
        )
        return {row[0] for row in cursor.fetchall()}


def expected_triggers() -> set[str]:
    return {
        f"recon_capture_{table.removeprefix('canonical_')}_{operation}"
        for table in CAPTURED
        for operation in ("insert", "update", "delete")
    }


def drop_change_capture() -> None:
    """Remove the triggers and functions from the current schema (reversing recon's migrations).

    Without this, un-migrating recon would leave triggers that write to a dropped table, and
    every canonical upsert would fail.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = connection.ops.quote_name(cursor.fetchone()[0])
        for table in CAPTURED:
            for operation in ("insert", "update", "delete"):
                name = f"recon_capture_{table.removeprefix('canonical_')}_{operation}"
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {schema}.{connection.ops.quote_name(table)}")
                cursor.execute(f"DROP FUNCTION IF EXISTS {schema}.{name}()")
