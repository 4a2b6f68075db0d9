"""The one write path into the canonical tables: batched, idempotent, and silent on no change.

For each kind, a batch of rows is ``COPY``-ed into a temporary staging table, then moved
with one ``INSERT ... SELECT ... ON CONFLICT (tenant_id, dedupe_key) DO UPDATE ... WHERE
content_hash IS DISTINCT FROM EXCLUDED.content_hash``. Rows whose hash already matches the
table are dropped before the insert (``NOT EXISTS``): an ``ON CONFLICT`` that changes
nothing would still lock and log every matched row, so an unchanged re-sync writes nothing.

Rows of a source whose order does not say what was refunded of it (Stripe) also bring
their orders' refund status up to date, from the refunds, in the same transaction
(``_refresh_refund_status``).

Rows a provider no longer stands behind (a dispute found to be on a test order, stored
before the sync could tell) leave through ``rows_remove``, which never takes one a payout
line stands for.

Measured on the 2-core machine (DESIGN §4): COPY into a temp table then one INSERT ...
SELECT reaches about 0.75 of a plain COPY; Django's bulk_create(update_conflicts=True) 0.16.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from django.db import connection as db

from canonical.models import CANONICAL_MODELS, LINKED_KINDS
from canonical.rows import KIND_FIELDS, CanonicalRow

# Columns every canonical table has, in staging order (id and tenant_id are added in SQL).
COMMON_COLUMNS = (
    "dedupe_key",
    "source",
    "source_id",
    "connection_id",
    "subsidiary_id",
    "raw_data",
    "content_hash",
    "source_created_at",
    "source_updated_at",
    "synced_at",
)
# A payout line's links: filled as the line is written when its object is already there
# (see ``_line_links``), otherwise by recon; a re-sync must never clear them.
NOT_FROM_SOURCE = {"payment_id", "refund_id", "dispute_id"}
# Within a batch, the objects lines stand for are written before the lines.
WRITE_ORDER = ("order", "payment", "refund", "dispute", "payout", "payout_line")
# Columns where an empty incoming value means "not known from this listing: keep what the
# table has". Stripe names a balance transaction's payout only when listed per payout; the
# same transaction listed among all transactions must not unlink it. They are left out of
# the content hash and compared on their own.
STICKY_COLUMNS: dict[str, tuple[str, ...]] = {"payout_line": ("payout_source_id",)}
# Sources whose order object does not say how much of it was refunded. A Stripe
# PaymentIntent names its latest charge by id only (the refunds show on the charge, and
# come days or weeks after the order, long after the order was last read), so its orders
# take their refund status from the canonical refunds of their payments, as each batch is
# written (``_refresh_refund_status``). Shopify's orders say it themselves.
REFUND_STATUS_FROM_REFUNDS = frozenset({"stripe"})
# Orders whose money was taken for good: only these follow their refunds. An order still
# authorized, pending or voided has nothing refunded (and is what reconciliation reads).
REFUNDABLE_STATUSES = ("paid", "partially_captured", "partially_refunded", "refunded")
# Refunds whose money never left, or came back (Stripe: the bank returned a card refund).
VOID_REFUND_STATUSES = ("failed", "canceled")


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __iadd__(self, other: UpsertResult) -> UpsertResult:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        return self

    @property
    def written(self) -> int:
        return self.created + self.updated


def dedupe_key(connection_id: uuid.UUID | str, kind: str, source_id: str) -> str:
    """Unique per tenant: the same object from the same account is always the same row."""
    return f"{connection_id}:{kind}:{source_id}"


def content_hash(row: CanonicalRow, raw_json: bytes | None = None) -> str:
    """What a row was built from: its fields (but sticky ones) and the source object as sent.

    The raw object is hashed as serialized (key order as the provider sent it), so the same
    bytes serve the hash and the COPY.
    """
    sticky = STICKY_COLUMNS.get(row.kind, ())
    fields = {k: v for k, v in row.fields.items() if k not in sticky} if sticky else row.fields
    digest = hashlib.md5(usedforsecurity=False)
    digest.update(
        orjson.dumps(
            [fields, row.source_created_at, row.source_updated_at],
            option=orjson.OPT_SORT_KEYS,
            default=_json_default,
        )
    )
    digest.update(raw_json if raw_json is not None else orjson.dumps(row.raw_data, default=_json_default))
    return digest.hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot hash {type(value).__name__}")


@functools.cache
def _null_replacements(kind: str) -> dict[str, Any]:
    """For NOT NULL columns with a default: what a None from a normalizer becomes."""
    model = CANONICAL_MODELS[kind]
    replacements = {}
    for name in KIND_FIELDS[kind]:
        field = model._meta.get_field(name)
        if not field.null and field.has_default() and not callable(field.default):
            replacements[name] = field.default
    return replacements


JSON_FIELDS = frozenset({"raw_data", "fee_details"})


@functools.cache
def _field_plan(kind: str) -> tuple[tuple[str, Any, bool], ...]:
    """Per field of ``kind``, in staging order: (name, what None becomes, whether it is JSON)."""
    replacements = _null_replacements(kind)
    return tuple((name, replacements.get(name), name in JSON_FIELDS) for name in KIND_FIELDS[kind])


@functools.lru_cache(maxsize=1024)
def _key_prefix(connection_id: uuid.UUID, kind: str) -> str:
    return dedupe_key(connection_id, kind, "")


def copy_values(row: CanonicalRow, connection_id: uuid.UUID, subsidiary_id: str, synced_at: datetime) -> tuple:
    """One row as COPY values, in ``columns_for(row.kind)`` order.

    Runs once per object a sync writes, so it walks a precomputed plan of the kind's fields
    rather than asking per field what the column needs.
    """
    raw_json = orjson.dumps(row.raw_data, default=_json_default)
    fields = row.fields
    values = [
        _key_prefix(connection_id, row.kind) + row.source_id,
        row.source,
        row.source_id,
        connection_id,
        subsidiary_id,
        raw_json.decode(),
        content_hash(row, raw_json),
        row.source_created_at,
        row.source_updated_at,
        synced_at,
    ]
    for name, if_none, is_json in _field_plan(row.kind):
        value = fields[name]
        if value is None:
            value = if_none
        elif is_json:
            value = orjson.dumps(value, default=_json_default).decode()
        values.append(value)
    return tuple(values)


def _line_links(connection_id: uuid.UUID) -> tuple[dict[str, str], dict[str, str]]:
    """Per link column of a staged payout line, the SQL that finds its object if it is there,
    and the parameters it needs: one probe of the object table's unique (tenant_id,
    dedupe_key) index per line."""
    links, params = {}, {}
    for kind, categories in LINKED_KINDS.items():
        table = db.ops.quote_name(CANONICAL_MODELS[kind]._meta.db_table)
        listed = ", ".join(f"'{c}'" for c in categories)  # constants of canonical.models
        params[f"{kind}_key"] = _key_prefix(connection_id, kind)
        links[f"{kind}_id"] = (
            f"CASE WHEN s.reporting_category IN ({listed}) AND s.source_object_id <> '' THEN "
            f"(SELECT o.id FROM {table} o WHERE o.tenant_id = %(t)s "
            f"AND o.dedupe_key = %({kind}_key)s || s.source_object_id) END"
        )
    return links, params


def columns_for(kind: str) -> tuple[str, ...]:
    return COMMON_COLUMNS + KIND_FIELDS[kind]


def upsert_rows(
    rows: Iterable[CanonicalRow],
    *,
    connection_id: uuid.UUID,
    tenant_id: uuid.UUID,
    subsidiary_id: str = "",
    synced_at: datetime | None = None,
) -> UpsertResult:
    """Write rows of any kinds for one connection, in the caller's transaction.

    The caller holds the tenant context and the transaction: a sync commits a page's rows
    together with its cursor.
    """
    synced_at = synced_at or datetime.now(UTC)
    by_kind: dict[str, dict[str, CanonicalRow]] = defaultdict(dict)
    for row in rows:
        # The last version of an object in a batch wins; ON CONFLICT cannot touch a row twice.
        by_kind[row.kind][row.source_id] = row
    result = UpsertResult()
    for kind, batch in sorted(by_kind.items(), key=lambda item: WRITE_ORDER.index(item[0])):
        result += _upsert_kind(kind, list(batch.values()), connection_id, tenant_id, subsidiary_id, synced_at)
    # An order whose refund status changed is an order changed, even when its own row was not
    # rewritten (a webhook's sync read only the refund): counted as updated, once.
    orders = by_kind.get("order", {})
    for source_id, written_now in _refresh_refund_status(by_kind, connection_id, tenant_id, synced_at):
        if written_now:
            continue  # created or updated by this batch, and counted so already
        result.updated += 1
        if source_id in orders:
            result.unchanged -= 1  # the batch read it unchanged; its status was not
    return result


def _upsert_kind(
    kind: str,
    rows: list[CanonicalRow],
    connection_id: uuid.UUID,
    tenant_id: uuid.UUID,
    subsidiary_id: str,
    synced_at: datetime,
) -> UpsertResult:
    model = CANONICAL_MODELS[kind]
    table = db.ops.quote_name(model._meta.db_table)
    stage = db.ops.quote_name(f"stage_{model._meta.db_table}")
    columns = columns_for(kind)
    column_list = ", ".join(columns)
    with db.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
            f"SELECT {column_list} FROM {table} WITH NO DATA"
        )
        cursor.execute(f"TRUNCATE {stage}")  # in case the caller's transaction spans batches
        with cursor.cursor.copy(f"COPY {stage} ({column_list}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(copy_values(row, connection_id, subsidiary_id, synced_at))
        sticky = STICKY_COLUMNS.get(kind, ())
        updates = ", ".join(
            f"{c} = COALESCE(NULLIF(EXCLUDED.{c}, ''), t.{c})" if c in sticky else f"{c} = EXCLUDED.{c}"
            for c in columns
            if c != "dedupe_key" and c not in NOT_FROM_SOURCE
        )
        # Unchanged: same hash, and every sticky column either not given or already equal.
        same_sticky = "".join(f" AND (s.{c} = '' OR e.{c} = s.{c})" for c in sticky)
        sticky_changed = "".join(f" OR (EXCLUDED.{c} <> '' AND t.{c} IS DISTINCT FROM EXCLUDED.{c})" for c in sticky)
        links, params = _line_links(connection_id) if kind == "payout_line" else ({}, {})
        link_columns = "".join(f", {name}" for name in links)
        link_values = "".join(f", {value}" for value in links.values())
        # A line synced again gains the links it can now have and never loses one.
        updates += "".join(f", {name} = COALESCE(EXCLUDED.{name}, t.{name})" for name in links)
        cursor.execute(
            f"""
            INSERT INTO {table} AS t (id, tenant_id, {column_list}{link_columns})
            SELECT gen_random_uuid(), %(t)s, {", ".join("s." + c for c in columns)}{link_values}
            FROM {stage} s
            WHERE NOT EXISTS (
                -- OFFSET 0: one probe of the unique index per staged row, whatever the
                -- planner believes about the table. Left to itself, on a table this very sync
                -- is filling (statistics not caught up), it hashed every row the tenant had
                -- for each batch: a backfill quadratic in its size.
                SELECT 1 FROM {table} e
                WHERE e.tenant_id = %(t)s AND e.dedupe_key = s.dedupe_key AND e.content_hash = s.content_hash
                {same_sticky}
                OFFSET 0
            )
            ON CONFLICT (tenant_id, dedupe_key) DO UPDATE SET {updates}
            WHERE t.content_hash IS DISTINCT FROM EXCLUDED.content_hash{sticky_changed}
            RETURNING (xmax = 0)
            """,
            {"t": tenant_id, **params},
        )
        flags = cursor.fetchall()
    created = sum(1 for (inserted,) in flags if inserted)
    updated = len(flags) - created
    return UpsertResult(created=created, updated=updated, unchanged=len(rows) - created - updated)


@dataclass
class RefundTouch:
    """The rows of a batch that may change refund statuses (see ``_refresh_refund_status``)."""

    orders: set[str] = field(default_factory=set)  # orders of the batch, and those its refunds name
    paid: dict[str, str] = field(default_factory=dict)  # payment of the batch -> its order
    refunded: set[str] = field(default_factory=set)  # payments of refunds that name no order

    def __bool__(self) -> bool:
        return bool(self.orders or self.paid or self.refunded)


def _refunds_touched(by_kind: dict[str, dict[str, CanonicalRow]]) -> RefundTouch:
    """The rows of a batch that may change an order's refund status (REFUND_STATUS_FROM_REFUNDS only)."""
    touch = RefundTouch()
    for row in by_kind.get("order", {}).values():
        if row.source in REFUND_STATUS_FROM_REFUNDS and row.fields.get("financial_status") in REFUNDABLE_STATUSES:
            touch.orders.add(row.source_id)
    for row in by_kind.get("payment", {}).values():
        if row.source in REFUND_STATUS_FROM_REFUNDS and row.fields.get("order_source_id"):
            touch.paid[row.source_id] = row.fields["order_source_id"]
    for row in by_kind.get("refund", {}).values():
        if row.source not in REFUND_STATUS_FROM_REFUNDS:
            continue
        if row.fields.get("order_source_id"):
            touch.orders.add(row.fields["order_source_id"])
        elif row.fields.get("payment_source_id"):
            touch.refunded.add(row.fields["payment_source_id"])
    return touch


# The orders a batch touched (``RefundTouch``), as (connection_id, source_id): the batch's
# orders, the orders of its payments that have refunds, the orders of its refunds' payments.
_TOUCHED_ORDERS_SQL = """
    SELECT %(c)s::uuid AS connection_id, k.source_id FROM (
        SELECT k.source_id FROM unnest(%(orders)s::text[]) AS k(source_id)
        UNION
        SELECT p.order_source_id FROM unnest(%(paid)s::text[], %(paid_orders)s::text[]) AS p(source_id, order_source_id)
        WHERE EXISTS (
            SELECT 1 FROM canonical_refund r
            WHERE r.tenant_id = %(t)s AND r.connection_id = %(c)s AND r.payment_source_id = p.source_id OFFSET 0
        )
        UNION
        SELECT pm.order_source_id FROM unnest(%(refunded)s::text[]) AS p(source_id)
        CROSS JOIN LATERAL (
            SELECT pm.order_source_id FROM canonical_payment pm
            WHERE pm.tenant_id = %(t)s AND pm.connection_id = %(c)s AND pm.source_id = p.source_id OFFSET 0
        ) pm
        WHERE pm.order_source_id <> ''
    ) k
"""


def refund_status_sql(touched_orders: str) -> str:
    """The refund-status rule as one SELECT of ``(id, status)``: the orders among
    ``touched_orders`` (a query of ``(connection_id, source_id)``) whose status by their
    payments' refunds differs from the stored one. Its parameters: ``t`` (the tenant), those
    of ``touched_orders`` and ``REFUND_RULE_PARAMS``.

    The sync applies it to the orders a batch touched (``_refresh_refund_status``); a data
    migration can apply it to every stored order (``canonical/migrations/0005``), so the two
    cannot drift apart.

    Every step probes an index per key (LATERAL or EXISTS, OFFSET 0 so that it is not
    flattened into a join), whatever the planner believes about tables this very sync is
    filling: written as plain joins, one 100,000-object backfill (``manage.py bench ingest``)
    took 17 minutes instead of 44 s. A payment counts only if it has a refund (one probe of the
    small refunds table), so a batch of payments without refunds costs a probe each, one of
    orders two: about 1.4 s of a 50,000-object backfill, re-sync and upsert stage together.
    """
    return f"""
    WITH touched AS ({touched_orders}),
    money AS (
        -- what the order's payments captured, and what their refunds that stand gave back
        SELECT k.connection_id, k.source_id, m.received, m.refunded
        FROM touched k
        CROSS JOIN LATERAL (
            SELECT SUM(pm.amount_minor) FILTER (WHERE pm.status = 'succeeded' AND pm.captured) AS received,
                   COALESCE(SUM(r.refunded), 0) AS refunded, COALESCE(SUM(r.refunds), 0) AS refunds
            FROM canonical_payment pm
            CROSS JOIN LATERAL (
                SELECT SUM(r.amount_minor) FILTER (WHERE r.status <> ALL(%(void)s)) AS refunded, COUNT(*) AS refunds
                FROM canonical_refund r
                WHERE r.tenant_id = %(t)s AND r.connection_id = k.connection_id AND r.payment_source_id = pm.source_id
            ) r
            WHERE pm.tenant_id = %(t)s AND pm.connection_id = k.connection_id AND pm.order_source_id = k.source_id
        ) m
        WHERE m.refunds > 0 AND m.received > 0
    )
    SELECT d.id, d.status FROM (
        SELECT o.id, o.financial_status, CASE
            WHEN m.refunded > 0 AND m.refunded >= m.received THEN 'refunded'
            WHEN m.refunded > 0 THEN 'partially_refunded'
            WHEN m.received >= o.total_minor THEN 'paid'
            ELSE 'partially_captured' END AS status
        FROM money m
        CROSS JOIN LATERAL (
            SELECT o.id, o.total_minor, o.financial_status FROM canonical_order o
            WHERE o.tenant_id = %(t)s AND o.connection_id = m.connection_id AND o.source_id = m.source_id
              AND o.source = ANY(%(sources)s) AND o.financial_status = ANY(%(refundable)s)
            OFFSET 0
        ) o
    ) d
    WHERE d.status <> d.financial_status
    """


# The rule's constants, as parameters of ``refund_status_sql``.
REFUND_RULE_PARAMS = {
    "void": list(VOID_REFUND_STATUSES),
    "sources": sorted(REFUND_STATUS_FROM_REFUNDS),
    "refundable": list(REFUNDABLE_STATUSES),
}
_REFUND_STATUS_SQL = refund_status_sql(_TOUCHED_ORDERS_SQL)


def _refresh_refund_status(
    by_kind: dict[str, dict[str, CanonicalRow]], connection_id: uuid.UUID, tenant_id: uuid.UUID, synced_at: datetime
) -> list[tuple[str, bool]]:
    """Set the refund status of the orders a batch touched from their payments' refunds.

    Returns each order it changed: its source id, and whether the batch itself had just written
    its row (``synced_at`` is the batch's).

    An order is touched by its own row, by a row of one of its payments or by a row of one
    of their refunds, so whichever of them is written last (a refund read by a webhook's
    sync, the order on a later page, the charge after its refund) brings the status up to
    date: ``refunded`` once the refunds that stand (not failed or canceled) add up to what
    its payments captured, ``partially_refunded`` while they do not, and back to ``paid``
    (``partially_captured`` if less was captured than asked) when a refund fails. The same
    rule as ``connections.stripe.normalize.normalize_payment_intent`` applies to a
    PaymentIntent whose charge is expanded.

    A plain UPDATE, outside the content hash: the hash stays that of the source object, so
    re-reading an unchanged one still writes nothing and keeps the status, and a rewritten
    order gets its status again here, in the same transaction. Reconciliation's change
    capture (``recon.changes``) follows the hash and records nothing for the status alone:
    no rule reads whether an order was refunded (only whether it still awaits a capture, a
    status this neither sets nor leaves), so it re-evaluates nothing for it.
    """
    touch = _refunds_touched(by_kind)
    if not touch:
        return []
    params = {
        "t": tenant_id,
        "c": connection_id,
        "orders": sorted(touch.orders),
        "paid": list(touch.paid),
        "paid_orders": list(touch.paid.values()),
        "refunded": sorted(touch.refunded),
        **REFUND_RULE_PARAMS,
    }
    with db.cursor() as cursor:
        cursor.execute(_REFUND_STATUS_SQL, params)
        changes = cursor.fetchall()
        if not changes:
            return []
        ids, statuses = zip(*changes, strict=True)
        cursor.execute(
            """
            UPDATE canonical_order o SET financial_status = v.status
            FROM unnest(%(ids)s::uuid[], %(statuses)s::text[]) AS v(id, status)
            WHERE o.tenant_id = %(t)s AND o.id = v.id
            RETURNING o.source_id, o.synced_at = %(synced)s
            """,
            {"t": tenant_id, "ids": list(ids), "statuses": list(statuses), "synced": synced_at},
        )
        return cursor.fetchall()


@dataclass
class RemovedRows:
    """What ``rows_remove`` did: the rows it deleted, and the source ids it kept because a
    payout line stands for them."""

    removed: list[dict[str, Any]] = field(default_factory=list)  # source_id, status, amount_minor, currency
    kept_on_payout_lines: list[str] = field(default_factory=list)


def rows_remove(*, kind: str, source_ids: list[str], connection_id: uuid.UUID, tenant_id: uuid.UUID) -> RemovedRows:
    """Delete the connection's stored rows of ``kind`` (payment, refund or dispute) with these
    source ids, in the caller's transaction, except those a payout line stands for.

    A payout line never disappears nor changes (its money moved), so neither does the object
    it stands for: that one is kept and reported, for a person to look at. A line stands for
    an object of the same connection by its ``source_object_id``; its link column
    (``payment_id`` ...) is only ever set from that (here at arrival, by recon's
    ``link_lines``), so the indexed source id answers for the link too. Reconciliation's
    change capture records the deleted rows: its next run closes what they caused.
    """
    if kind not in LINKED_KINDS:
        raise ValueError(f"{kind} rows are not removed one by one")
    if not source_ids:
        return RemovedRows()
    table = db.ops.quote_name(CANONICAL_MODELS[kind]._meta.db_table)
    with db.cursor() as cursor:
        cursor.execute(
            f"""
            WITH named AS (
                SELECT o.id, o.source_id FROM {table} o
                WHERE o.tenant_id = %(t)s AND o.connection_id = %(c)s AND o.source_id = ANY(%(ids)s)
            ),
            on_a_line AS (
                SELECT n.id FROM named n
                WHERE EXISTS (
                    SELECT 1 FROM canonical_payoutline l
                    WHERE l.tenant_id = %(t)s AND l.source_object_id = n.source_id AND l.connection_id = %(c)s
                )
            ),
            removed AS (
                DELETE FROM {table} o USING named n
                WHERE o.tenant_id = %(t)s AND o.id = n.id AND n.id NOT IN (SELECT id FROM on_a_line)
                RETURNING o.source_id, o.status, o.amount_minor, o.currency
            )
            SELECT (SELECT COALESCE(jsonb_agg(to_jsonb(r) ORDER BY r.source_id), '[]'::jsonb) FROM removed r),
                   ARRAY(SELECT n.source_id FROM named n JOIN on_a_line k ON k.id = n.id ORDER BY n.source_id)
            """,
            {"t": tenant_id, "c": connection_id, "ids": sorted(set(source_ids))},
        )
        removed, kept = cursor.fetchone()
    return RemovedRows(
        removed=removed if isinstance(removed, list) else orjson.loads(removed), kept_on_payout_lines=kept
    )
