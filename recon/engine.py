"""The reconciliation engine: DESIGN §5 as set-based SQL over the canonical tables.

A run evaluates a *scope* and merges what it finds into ``recon_reconexception`` and
``recon_reconpayout``. Everything happens in PostgreSQL, in the caller's transaction, with
the tenant filtered explicitly in every query (RLS is the wall, not the filter: DESIGN §4).

Scope
    *full*: every payout, line, payment, order, refund and dispute of the connections;
    *incremental*: what the change log (``recon.changes``) says changed since the last run,
    closed over the links the rules follow (a changed order brings its payments, their
    lines and those lines' payouts; a changed line brings its payout and its payment), plus
    the orders that aged past the grace period since then; *targeted*: the payouts asked for
    (by id or arrival date) and what their lines touch. Small scopes live in temporary
    tables and are read through the indexes; a full scope is a plain filter on connection.

The rules, with their reason codes (``recon.models.Reason``)
    1. a payout's lines, its own line excluded, add up to its amount
       (``payout_total_mismatch``); a manual or instant payout has no lines to add up
       (``manual_payout_unitemized``); a failed or canceled payout never arrived
       (``payout_failed``); a payout another one reverses (``payout_reversed``);
    2. every line has net = amount - fee (``line_net_mismatch``) and fee = the sum of its
       fee details (``line_fee_mismatch``);
    3. every charge / refund / dispute line has its canonical object (``line_unmatched``),
       in the payout's currency, and agrees with it in settlement terms: a payment in
       another currency is converted with the line's exchange rate (``line_amount_mismatch``,
       ``currency_mismatch``); a dispute's withdrawal takes its amount out and its reversal
       puts it back (a chargeback fee's own line is not the disputed funds); every payment
       has its order (``payment_without_order``); every refund its payment
       (``refund_without_payment``); a dispute that is still open is reported
       (``dispute_open``);
    4. the payments of an order add up to its total within the tenant's tolerance
       (``amount_mismatch``; an order still awaiting a capture is short only once the grace
       period has passed); a paid order whose processor payments are in no payout after
       the grace period (``order_unpaid``).

Gift cards: a payment with gateway ``gift_card`` counts toward its order's total but moves
no processor money, so it is never expected in a payout; gift cards *sold* are part of the
order total (the customer paid for them) and are a liability for posting, not a difference.

How one pass works: a single query joins the lines in scope to their payments (a FULL JOIN,
so payments with no line come along), their payouts, orders, refunds and disputes, and
keeps only the rows that break a rule, with one finding per broken rule (built only for
those rows); each payout's line count and total come from its lines alone. Orders flagged
by a single payment (a possible amount mismatch or unpaid order) are then checked against
all their payments through the indexes. Measured on the 2-core machine with 1M lines, 1M payments
and 1M orders (``manage.py bench recon``), see ``recon.bench``.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from django.db import connection as db

from canonical.models import CANONICAL_MODELS, DISPUTE_CATEGORIES, PAYMENT_CATEGORIES, REFUND_CATEGORIES
from recon.money import exponent_sql


def sql_list(values: tuple[str, ...]) -> str:
    """A SQL list of string literals from constants of this module (never from input)."""
    return "(" + ", ".join("'" + value.replace("'", "''") + "'" for value in values) + ")"


# Dispute-category lines that carry a chargeback fee, not the disputed funds (Shopify books
# the fee as a line of its own; Stripe puts it in the fee of the funds' line).
DISPUTE_FEE_TYPES = ("CHARGEBACK_FEE", "CHARGEBACK_FEE_REFUND")
# Payments that move processor money (and so are expected in a payout).
PROCESSOR_GATEWAYS = ("stripe", "shopify_payments")
OPEN_DISPUTE_STATUSES = ("needs_response", "under_review", "warning_needs_response", "warning_under_review")
NOT_PAID_YET = ("pending", "in_transit", "scheduled")
FAILED_PAYOUT_STATUSES = ("failed", "canceled")
# Orders whose processor still owes money: a card authorized but not captured yet, or more
# to come (Shopify's partially_paid). Short of their total only becomes a difference once the
# grace period has passed. A Stripe partial capture is final: it is ``partially_captured``.
AWAITING_CAPTURE_STATUSES = ("authorized", "pending", "partially_paid")
AWAITING_CAPTURE_SQL = f"o.financial_status IN {sql_list(AWAITING_CAPTURE_STATUSES)}"


# Every temporary table a run creates (all ON COMMIT DROP, and dropped at the end of a run).
TEMP_TABLES = (
    "recon_keys",
    "recon_s_payout",
    "recon_s_payment",
    "recon_s_linepay",
    "recon_s_order",
    "recon_s_refund",
    "recon_s_dispute",
    "recon_found",
    "recon_eval",
    "recon_flag",
    "recon_cand",
    "recon_multi",
    "recon_order_pay",
    "recon_merge",
    "recon_closed",
)
# Lines written back inline up to this many; beyond, a follow-up task writes them in batches
# (rewriting 1M wide rows takes ~34 s here, and a run must not hold those row locks).
INLINE_LINK_LIMIT = 50_000


# Set for each run's transaction (see ``Engine.run``).
SESSION_SETTINGS = ("SET LOCAL work_mem = '256MB'", "SET LOCAL hash_mem_multiplier = 8", "SET LOCAL jit = off")


# Part of every connection's settings fingerprint: bump it when a rule changes meaning, and
# the next run re-evaluates everything instead of only what changed.
RULES_VERSION = "rules-4"


@dataclass(frozen=True)
class RuleSettings:
    """The tenant settings the rules read; their fingerprint forces a full re-evaluation on change."""

    tolerance_minor: int
    grace_days: int

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(f"{RULES_VERSION}|{self.tolerance_minor}|{self.grace_days}".encode()).hexdigest()[:32]


@dataclass
class EngineResult:
    mode: str
    payout_ids: list[uuid.UUID] = field(default_factory=list)  # evaluated (for the link write-back)
    payouts_evaluated: int = 0
    payouts_reconciled: int = 0
    payouts_with_exceptions: int = 0
    payouts_pending: int = 0
    lines_evaluated: int = 0
    exceptions_opened: int = 0
    exceptions_updated: int = 0
    exceptions_reopened: int = 0
    exceptions_auto_resolved: int = 0
    open_exceptions: int = 0
    exceptions_by_reason: dict[str, int] = field(default_factory=dict)


MAX_UNROLLED_FEE_DETAILS = 6


def _fee_sum(alias: str) -> str:
    """The sum of a line's fee details, read without a subquery (None past a few details, or
    when one has no amount).

    A subquery per row (``jsonb_array_elements``) costs ~0.8 s over 1M lines and, being a
    SubPlan, stops PostgreSQL from aggregating in parallel; lines list one to three fees,
    so the sum is unrolled and the rare longer list is checked on its own afterwards.
    """
    terms = [f"({alias}.fee_details->{i}->>'amount_minor')::bigint" for i in range(MAX_UNROLLED_FEE_DETAILS)]
    cases = " ".join(f"WHEN {n} THEN {' + '.join(terms[:n])}" for n in range(1, MAX_UNROLLED_FEE_DETAILS + 1))
    return f"(CASE jsonb_array_length({alias}.fee_details) WHEN 0 THEN 0 {cases} END)"


def _converted(amount: str, from_currency: str, to_currency: str, rate: str) -> str:
    """``amount`` (minor units of ``from_currency``) in minor units of ``to_currency`` at ``rate``.

    Stripe's exchange_rate is per major unit, so both exponents matter (5000 JPY at 0.0068
    is 3400 US cents).
    """
    return (
        f"round({amount}::numeric * {rate} * power(10::numeric, "
        f"{exponent_sql(to_currency)} - {exponent_sql(from_currency)}))::bigint"
    )


def _fx_slack(expected: str) -> str:
    # The published rate is rounded: allow one minor unit plus 10 ppm of the amount.
    return f"(1 + abs({expected}) / 100000)"


# What the main pass needs of each line: narrow (the 1M-row probe side of every join), with
# the checks that need no other table already done.
_LINE_COLUMNS = f"""
    l.id, l.connection_id, l.source_id, l.payout_source_id, l.reporting_category AS category, l.currency,
    l.amount_minor, l.fee_minor, l.net_minor, l.exchange_rate, l.source_object_id,
    CASE WHEN l.reporting_category IN {sql_list(PAYMENT_CATEGORIES)} THEN l.source_object_id END AS pay_key,
    CASE WHEN l.reporting_category IN {sql_list(REFUND_CATEGORIES)} THEN l.source_object_id END AS refund_key,
    CASE WHEN l.reporting_category IN {sql_list(DISPUTE_CATEGORIES)} THEN l.source_object_id END AS dispute_key,
    CASE WHEN l.reporting_category NOT IN {sql_list(DISPUTE_CATEGORIES)}
              OR upper(l.type) IN {sql_list(DISPUTE_FEE_TYPES)} THEN NULL
         WHEN l.reporting_category = 'dispute' THEN -1 ELSE 1
    END AS dispute_sign,
    l.source_object_id = l.payout_source_id AS own,
    {_fee_sum("l")} AS fee_sum
"""
# Only succeeded payments take part: a declined attempt moves no money and has no line.
_PAYMENT_COLUMNS = f"""
    pm.id, pm.connection_id, pm.source_id, pm.order_source_id, pm.currency, pm.amount_minor,
    pm.source_created_at AS created,
    (pm.gateway IN {sql_list(PROCESSOR_GATEWAYS)} AND NOT pm.is_gift_card) AS processor
"""
_PAYOUT_COLUMNS = """
    po.id, po.connection_id, po.source, po.source_id, po.currency, po.amount_minor, po.arrival_date, po.status,
    po.automatic, po.method, po.reversal_of_source_id, po.failure_code, po.source_created_at
"""


def _label(sql: str) -> str:
    """A short name for a statement in a run's step timings."""
    text = " ".join(sql.split())
    found = re.search(r"SELECT '([a-z_]+)', '[a-z_]+'", text)
    if text.startswith("INSERT INTO recon_found") and found:
        return f"find {found.group(1)}"
    return text[:70]


# An audit event per exception the engine changed state of (``{rows}``: id, reason,
# subject_ref, previous), as audit.services.audit_record would write it, set-based.
_SYSTEM_AUDIT = """
    INSERT INTO audit_auditevent (id, tenant_id, created_at, action, actor_id, actor_email, actor_kind, target_type,
                                  target_id, outcome, correlation_id, detail)
    SELECT gen_random_uuid(), %(t)s, %(now)s,
           CASE WHEN {to} = 'open' THEN 'recon.exception_reopened' ELSE 'recon.exception_resolved' END,
           NULL, '', 'system', 'recon.reconexception', r.id::text, 'success', %(correlation)s,
           jsonb_build_object('reason', r.reason, 'subject', r.subject_ref, 'from', r.previous, 'to', {to},
                              'note', {note}, 'run', %(run)s::text)
    FROM {rows} r
"""


# An exception's subject (``e``) is no longer stored: a source removed it (a dispute on a test
# order, found after it was stored), so the note closing the exception says so. A probe of
# the subject's table by primary key, for the few exceptions a run closes.
_SUBJECT_GONE = "CASE e.subject_type {whens} ELSE false END".format(
    whens=" ".join(
        f"WHEN '{kind}' THEN NOT EXISTS (SELECT 1 FROM {model._meta.db_table} x"
        " WHERE x.tenant_id = %(t)s AND x.id = e.subject_id)"
        for kind, model in CANONICAL_MODELS.items()
    )
)


# A person resolved it, and the engine now finds more wrong than was there then (``f`` the
# finding, ``e`` the exception as last seen): it is reopened, since what the person accepted is
# no longer what is there. The same or less leaves a person's resolution alone. With one
# currency (or one amount) the size is the difference; with two, each amount on its own.
_GREW = """(
    (f.expected_currency, f.actual_currency) IS DISTINCT FROM (e.expected_currency, e.actual_currency)
    OR CASE WHEN f.expected_currency = f.actual_currency OR '' IN (f.expected_currency, f.actual_currency)
            THEN abs(COALESCE(f.actual_minor, 0) - COALESCE(f.expected_minor, 0))
                 > abs(COALESCE(e.actual_minor, 0) - COALESCE(e.expected_minor, 0))
            ELSE abs(COALESCE(f.expected_minor, 0)) > abs(COALESCE(e.expected_minor, 0))
                 OR abs(COALESCE(f.actual_minor, 0)) > abs(COALESCE(e.actual_minor, 0)) END
)"""


def _major(amount: str, currency: str) -> str:
    """An amount column in words for a note: ``96.80 USD``, or ``none``."""
    exponent = exponent_sql(currency)
    return (
        f"CASE WHEN {amount} IS NULL THEN 'none' ELSE rtrim(round({amount}::numeric / power(10::numeric, "
        f"{exponent}), {exponent})::text || ' ' || upper({currency})) END"
    )


def _ref(kind: str, id_col: str, ref_col: str) -> str:
    return f"jsonb_build_object('type', '{kind}', 'id', {id_col}, 'source_id', {ref_col})"


def _problem(reason: str, subject: str, subject_id: str, subject_ref: str, **parts: str) -> str:
    """A jsonb describing one broken rule for one row (built only for the rows that break it)."""
    keys = {
        "reason": f"'{reason}'",
        "st": f"'{subject}'",
        "sid": subject_id,
        "ref": subject_ref,
        "payout": parts.pop("payout", "NULL"),
        "conn": parts.pop("conn"),
        "exp": parts.pop("exp", "NULL"),
        "exp_cur": parts.pop("exp_cur", "NULL"),
        "act": parts.pop("act", "NULL"),
        "act_cur": parts.pop("act_cur", "NULL"),
        "occ": parts.pop("occ", "NULL"),
        "inv": parts.pop("inv", "'[]'::jsonb"),
        "det": parts.pop("det", "'{}'::jsonb"),
    }
    assert not parts, parts
    return "jsonb_build_object(" + ", ".join(f"'{k}', {v}" for k, v in keys.items()) + ")"


class Engine:
    """One evaluation inside the caller's transaction. Use ``run()``; temp tables drop on commit."""

    def __init__(
        self,
        *,
        tenant_id: uuid.UUID,
        run_id: uuid.UUID,
        connection_ids: list[uuid.UUID],
        settings: RuleSettings,
        now: datetime,
        data_now: dict[uuid.UUID, datetime] | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.run_id = run_id
        self.connection_ids = list(connection_ids)
        self.settings = settings
        self.now = now
        # The grace period runs against what the data covers: the newest line of each
        # connection (never later than now). Measured against the wall clock, a sync that lags
        # by days, or a sandbox whose business ended in the past, would make every order of
        # the last days "unpaid" merely because its payout is not synced yet.
        grace = timedelta(days=settings.grace_days)
        self.cutoffs = {cid: min(now, (data_now or {}).get(cid) or now) - grace for cid in self.connection_ids}
        self.full = False
        self.cursor: Any = None
        self.timings: list[tuple[str, float]] = []  # (statement, seconds), for the logs and the bench

    # ------------------------------------------------------------------ helpers

    @property
    def params(self) -> dict[str, Any]:
        return {
            "t": self.tenant_id,
            "c": self.connection_ids,
            "run": self.run_id,
            "now": self.now,
            "tol": self.settings.tolerance_minor,
            "note": f"cause gone (run {self.run_id})",
            "reopen_note": f"cause back (run {self.run_id})",
            "correlation": str(structlog.contextvars.get_contextvars().get("correlation_id", "")),
            **{f"cu_c{i}": cid for i, cid in enumerate(self.cutoffs)},
            **{f"cu_t{i}": cutoff for i, cutoff in enumerate(self.cutoffs.values())},
        }

    def _cutoff_values(self) -> str:
        """The grace cutoff of each connection as an inline VALUES list (parallel safe, unlike a
        temp table)."""
        rows = ", ".join(f"(%(cu_c{i})s::uuid, %(cu_t{i})s::timestamptz)" for i in range(len(self.cutoffs)))
        return f"(VALUES {rows or '(NULL::uuid, NULL::timestamptz)'}) cu(connection_id, cutoff)"

    def _exec(self, sql: str, extra: dict[str, Any] | None = None, *, label: str = "") -> int:
        started = time.perf_counter()
        self.cursor.execute(sql, {**self.params, **(extra or {})})
        self.timings.append((label or _label(sql), time.perf_counter() - started))
        return self.cursor.rowcount

    def _rows(self, sql: str, extra: dict[str, Any] | None = None, *, label: str = "") -> list[tuple]:
        self._exec(sql, extra, label=label)
        return self.cursor.fetchall()

    # ------------------------------------------------------------------ entry point

    def run(
        self,
        *,
        mode: str,
        payout_ids: list[uuid.UUID] | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        previous_cutoffs: dict[uuid.UUID, datetime | None] | None = None,
    ) -> tuple[EngineResult, list[uuid.UUID]]:
        """Evaluate and merge. Returns the result and the ids of the change-log rows consumed."""
        with db.cursor() as cursor:
            self.cursor = cursor
            # Big hash joins need memory: the default 4 MB spills 1M-row joins to disk. The
            # per-payout arrays of the main pass make the planner overestimate a hash
            # aggregate's memory and sort 1M wide rows instead (1.4x slower, measured), so hash
            # operations get a larger budget than sorts. JIT compilation costs about what it
            # saves here. All three end with the transaction.
            for statement in SESSION_SETTINGS:
                cursor.execute(statement)
            self._create_temp_tables()
            consumed: list[uuid.UUID] = []
            self.full = mode == "full"
            if mode == "full":
                consumed = self._consume_changes()
            elif mode == "incremental":
                consumed = self._consume_changes(into_keys=True)
                self._aged_orders(previous_cutoffs or {})
                self._close_scope()
            else:
                self._targeted(payout_ids or [], date_from, date_to)
                self._close_scope()
            result = EngineResult(mode=mode)
            self._evaluate()
            self._merge(result)
            self._statuses(result)
            # ON COMMIT DROP would do, but a caller may run the engine twice in one transaction.
            cursor.execute(f"DROP TABLE IF EXISTS {', '.join(TEMP_TABLES)}")
            return result, consumed

    # ------------------------------------------------------------------ scope

    def _create_temp_tables(self) -> None:
        for statement in (
            "CREATE TEMP TABLE recon_keys (connection_id uuid, kind text, key text) ON COMMIT DROP",
            "CREATE TEMP TABLE recon_s_payout (id uuid PRIMARY KEY, connection_id uuid, source_id text) ON COMMIT DROP",
            "CREATE TEMP TABLE recon_s_payment (id uuid PRIMARY KEY) ON COMMIT DROP",
            "CREATE TEMP TABLE recon_s_linepay (id uuid PRIMARY KEY) ON COMMIT DROP",
            "CREATE TEMP TABLE recon_s_order (id uuid PRIMARY KEY) ON COMMIT DROP",
            "CREATE TEMP TABLE recon_s_refund (id uuid PRIMARY KEY) ON COMMIT DROP",
            "CREATE TEMP TABLE recon_s_dispute (id uuid PRIMARY KEY) ON COMMIT DROP",
            # No key: rows are appended cheaply and de-duplicated once, when merged.
            """CREATE TEMP TABLE recon_found (
                reason text, subject_type text, subject_id uuid, subject_ref text, payout_id uuid,
                connection_id uuid, involved jsonb, expected_minor bigint, expected_currency text,
                actual_minor bigint, actual_currency text, detail jsonb, occurred_on date) ON COMMIT DROP""",
        ):
            self.cursor.execute(statement)

    def _consume_changes(self, *, into_keys: bool = False) -> list[uuid.UUID]:
        """Read (once, in one snapshot) the change-log rows of the connections in scope.

        Rows committed after this statement are not read and stay for the next run; the run
        deletes exactly the rows it read, at the end of its transaction.
        """
        insert = "INSERT INTO recon_keys SELECT DISTINCT connection_id, kind, unnest(keys) FROM ch" if into_keys else ""
        sql = f"""
            WITH ch AS (
                SELECT id, connection_id, kind, keys FROM recon_reconchange
                WHERE tenant_id = %(t)s AND connection_id = ANY(%(c)s)
            ){", ins AS (" + insert + ")" if insert else ""}
            SELECT id FROM ch
        """
        return [row[0] for row in self._rows(sql)]

    def _aged_orders(self, previous_cutoffs: dict[uuid.UUID, datetime | None]) -> None:
        """Orders, and payments taken after their order, that passed the grace period since
        the last run: they may now be unpaid."""
        for connection_id, previous in previous_cutoffs.items():
            cutoff = self.cutoffs.get(connection_id)
            if previous is None or cutoff is None or previous >= cutoff:
                continue
            self._exec(
                """
                INSERT INTO recon_keys
                SELECT o.connection_id, 'order', o.source_id FROM canonical_order o
                WHERE o.tenant_id = %(t)s AND o.connection_id = %(conn)s
                  AND o.source_created_at > %(prev)s AND o.source_created_at <= %(cutoff)s
                UNION ALL
                SELECT pm.connection_id, 'payment', pm.source_id FROM canonical_payment pm
                WHERE pm.tenant_id = %(t)s AND pm.connection_id = %(conn)s
                  AND pm.source_created_at > %(prev)s AND pm.source_created_at <= %(cutoff)s
                """,
                {"conn": connection_id, "prev": previous, "cutoff": cutoff},
            )

    def _targeted(self, payout_ids: list[uuid.UUID], date_from: date | None, date_to: date | None) -> None:
        if payout_ids:
            self._exec(
                """
                INSERT INTO recon_s_payout
                SELECT po.id, po.connection_id, po.source_id FROM canonical_payout po
                WHERE po.tenant_id = %(t)s AND po.connection_id = ANY(%(c)s) AND po.id = ANY(%(ids)s)
                ON CONFLICT DO NOTHING
                """,
                {"ids": payout_ids},
            )
        if date_from or date_to:
            bounds = {"lo": date_from or date.min, "hi": date_to or date.max}
            self._exec(
                """
                INSERT INTO recon_s_payout
                SELECT po.id, po.connection_id, po.source_id FROM canonical_payout po
                WHERE po.tenant_id = %(t)s AND po.connection_id = ANY(%(c)s)
                  AND COALESCE(po.arrival_date, po.source_created_at::date) BETWEEN %(lo)s AND %(hi)s
                ON CONFLICT DO NOTHING
                """,
                bounds,
            )
            self._exec(
                """
                INSERT INTO recon_keys
                SELECT o.connection_id, 'order', o.source_id FROM canonical_order o
                WHERE o.tenant_id = %(t)s AND o.connection_id = ANY(%(c)s)
                  AND o.source_created_at::date BETWEEN %(lo)s AND %(hi)s
                """,
                bounds,
            )

    def _close_scope(self) -> None:
        """From the changed keys to every row whose rules they can change (through the indexes).

        Each temp table is analyzed once filled: the planner otherwise guesses its size and
        reads whole canonical tables where a few index probes do.
        """
        steps = [
            "ANALYZE recon_keys",
            # a changed order: its payments count as changed too
            """INSERT INTO recon_keys
               SELECT pm.connection_id, 'payment', pm.source_id
               FROM (SELECT DISTINCT connection_id, key FROM recon_keys WHERE kind = 'order') k
               JOIN canonical_payment pm ON pm.tenant_id = %(t)s AND pm.connection_id = k.connection_id
                                        AND pm.order_source_id = k.key""",
            # payouts named, and payouts whose lines stand for a changed object
            """INSERT INTO recon_s_payout
               SELECT po.id, po.connection_id, po.source_id
               FROM (SELECT DISTINCT connection_id, key FROM recon_keys WHERE kind = 'payout') k
               JOIN canonical_payout po ON po.tenant_id = %(t)s AND po.connection_id = k.connection_id
                                       AND po.source_id = k.key
               ON CONFLICT DO NOTHING""",
            """INSERT INTO recon_s_payout
               SELECT DISTINCT po.id, po.connection_id, po.source_id
               FROM (SELECT DISTINCT connection_id, key FROM recon_keys
                     WHERE kind IN ('payment', 'refund', 'dispute')) k
               JOIN canonical_payoutline l ON l.tenant_id = %(t)s AND l.connection_id = k.connection_id
                                          AND l.source_object_id = k.key
               JOIN canonical_payout po ON po.tenant_id = %(t)s AND po.connection_id = l.connection_id
                                       AND po.source_id = l.payout_source_id
               ON CONFLICT DO NOTHING""",
            "ANALYZE recon_s_payout",
            # payments whose own rules (and their orders') are re-evaluated: the changed ones. A
            # payout or line that changed already marked its payments (recon.changes); a payment
            # a line in scope merely stands for is only read for the line's checks (below).
            """INSERT INTO recon_s_payment
               SELECT pm.id FROM (SELECT DISTINCT connection_id, key FROM recon_keys WHERE kind = 'payment') k
               JOIN canonical_payment pm ON pm.tenant_id = %(t)s AND pm.connection_id = k.connection_id
                                        AND pm.source_id = k.key
               ON CONFLICT DO NOTHING""",
            "ANALYZE recon_s_payment",
            # orders of those payments and changed orders; then all payments of those orders,
            # because an order's rules read all its payments
            """INSERT INTO recon_s_order
               SELECT o.id FROM recon_s_payment s JOIN canonical_payment pm ON pm.id = s.id
               JOIN canonical_order o ON o.tenant_id = %(t)s AND o.connection_id = pm.connection_id
                                      AND o.source_id = pm.order_source_id
               ON CONFLICT DO NOTHING""",
            """INSERT INTO recon_s_order
               SELECT o.id FROM (SELECT DISTINCT connection_id, key FROM recon_keys WHERE kind = 'order') k
               JOIN canonical_order o ON o.tenant_id = %(t)s AND o.connection_id = k.connection_id
                                      AND o.source_id = k.key
               ON CONFLICT DO NOTHING""",
            "ANALYZE recon_s_order",
            """INSERT INTO recon_s_payment
               SELECT pm.id FROM recon_s_order s JOIN canonical_order o ON o.id = s.id
               JOIN canonical_payment pm ON pm.tenant_id = %(t)s AND pm.connection_id = o.connection_id
                                        AND pm.order_source_id = o.source_id
               ON CONFLICT DO NOTHING""",
            "ANALYZE recon_s_payment",
            # the payments the lines in scope stand for, read for those lines' checks only
            """INSERT INTO recon_s_linepay
               SELECT pm.id FROM recon_s_payout s
               JOIN canonical_payoutline l ON l.tenant_id = %(t)s AND l.connection_id = s.connection_id
                                          AND l.payout_source_id = s.source_id AND l.reporting_category = 'charge'
               JOIN canonical_payment pm ON pm.tenant_id = %(t)s AND pm.connection_id = l.connection_id
                                        AND pm.source_id = l.source_object_id
               WHERE NOT EXISTS (SELECT 1 FROM recon_s_payment e WHERE e.id = pm.id)
               ON CONFLICT DO NOTHING""",
            "ANALYZE recon_s_linepay",
            # refunds: changed ones, those of changed payments, those a line in scope stands for
            """INSERT INTO recon_s_refund
               SELECT r.id FROM (SELECT DISTINCT connection_id, key FROM recon_keys WHERE kind = 'refund') k
               JOIN canonical_refund r ON r.tenant_id = %(t)s AND r.connection_id = k.connection_id
                                       AND r.source_id = k.key
               ON CONFLICT DO NOTHING""",
            """INSERT INTO recon_s_refund
               SELECT r.id FROM (SELECT DISTINCT connection_id, key FROM recon_keys WHERE kind = 'payment') k
               JOIN canonical_refund r ON r.tenant_id = %(t)s AND r.connection_id = k.connection_id
                                       AND r.payment_source_id = k.key
               ON CONFLICT DO NOTHING""",
            """INSERT INTO recon_s_refund
               SELECT r.id FROM recon_s_payout s
               JOIN canonical_payoutline l ON l.tenant_id = %(t)s AND l.connection_id = s.connection_id
                                          AND l.payout_source_id = s.source_id
                                          AND l.reporting_category IN ('refund', 'refund_failure')
               JOIN canonical_refund r ON r.tenant_id = %(t)s AND r.connection_id = l.connection_id
                                       AND r.source_id = l.source_object_id
               ON CONFLICT DO NOTHING""",
            """INSERT INTO recon_s_dispute
               SELECT d.id FROM (SELECT DISTINCT connection_id, key FROM recon_keys WHERE kind = 'dispute') k
               JOIN canonical_dispute d ON d.tenant_id = %(t)s AND d.connection_id = k.connection_id
                                        AND d.source_id = k.key
               ON CONFLICT DO NOTHING""",
            """INSERT INTO recon_s_dispute
               SELECT d.id FROM recon_s_payout s
               JOIN canonical_payoutline l ON l.tenant_id = %(t)s AND l.connection_id = s.connection_id
                                          AND l.payout_source_id = s.source_id
                                          AND l.reporting_category IN ('dispute', 'dispute_reversal')
               JOIN canonical_dispute d ON d.tenant_id = %(t)s AND d.connection_id = l.connection_id
                                        AND d.source_id = l.source_object_id
               ON CONFLICT DO NOTHING""",
            # the planner needs row counts of temp tables (autovacuum never analyzes them)
            "ANALYZE recon_s_refund",
            "ANALYZE recon_s_dispute",
        ]
        for sql in steps:
            self._exec(sql)

    # ------------------------------------------------------------------ the sources, per scope

    def _lines(self) -> str:
        if self.full:
            return f"""SELECT {_LINE_COLUMNS}, true AS in_scope FROM canonical_payoutline l
                       WHERE l.tenant_id = %(t)s AND l.connection_id = ANY(%(c)s)"""
        # Lines of the payouts in scope, plus (for whether they were paid out) the charge lines
        # of payments in scope that sit in other payouts or in none.
        return f"""SELECT {_LINE_COLUMNS}, true AS in_scope FROM recon_s_payout s
                   JOIN canonical_payoutline l ON l.tenant_id = %(t)s AND l.connection_id = s.connection_id
                                              AND l.payout_source_id = s.source_id
                   UNION ALL
                   SELECT {_LINE_COLUMNS}, false FROM recon_s_payment s
                   JOIN canonical_payment pm ON pm.id = s.id
                   JOIN canonical_payoutline l ON l.tenant_id = %(t)s AND l.connection_id = pm.connection_id
                                              AND l.source_object_id = pm.source_id
                                              AND l.reporting_category = 'charge'
                   WHERE NOT EXISTS (SELECT 1 FROM recon_s_payout s2
                                     WHERE s2.connection_id = l.connection_id AND s2.source_id = l.payout_source_id)"""

    def _payments(self) -> str:
        """Payments with ``evaluated``: whether their own rules are judged in this pass (False for
        one only read because a line in scope stands for it)."""
        if self.full:
            return f"""SELECT {_PAYMENT_COLUMNS}, cu.cutoff, true AS evaluated FROM canonical_payment pm
                       JOIN {self._cutoff_values()} ON cu.connection_id = pm.connection_id
                       WHERE pm.tenant_id = %(t)s AND pm.connection_id = ANY(%(c)s) AND pm.status = 'succeeded'"""
        return f"""SELECT {_PAYMENT_COLUMNS}, cu.cutoff, true AS evaluated
                   FROM recon_s_payment s JOIN canonical_payment pm ON pm.id = s.id
                   JOIN {self._cutoff_values()} ON cu.connection_id = pm.connection_id
                   WHERE pm.status = 'succeeded'
                   UNION ALL
                   SELECT {_PAYMENT_COLUMNS}, cu.cutoff, false
                   FROM recon_s_linepay s JOIN canonical_payment pm ON pm.id = s.id
                   JOIN {self._cutoff_values()} ON cu.connection_id = pm.connection_id
                   WHERE pm.status = 'succeeded'"""

    def _payouts(self) -> str:
        if self.full:
            return f"""SELECT {_PAYOUT_COLUMNS} FROM canonical_payout po
                       WHERE po.tenant_id = %(t)s AND po.connection_id = ANY(%(c)s)"""
        return f"SELECT {_PAYOUT_COLUMNS} FROM recon_s_payout s JOIN canonical_payout po ON po.id = s.id"

    def _scoped(self, table: str, alias: str, scope_table: str) -> str:
        if self.full:
            return (
                f"SELECT {alias}.* FROM {table} {alias} "
                f"WHERE {alias}.tenant_id = %(t)s AND {alias}.connection_id = ANY(%(c)s)"
            )
        return f"SELECT {alias}.* FROM {scope_table} s JOIN {table} {alias} ON {alias}.id = s.id"

    # ------------------------------------------------------------------ evaluation

    def _evaluate(self) -> None:
        self._evaluate_lines_and_payments()
        self._evaluate_orders()
        self._evaluate_refunds_and_disputes()
        self._evaluate_payouts()

    def _evaluate_lines_and_payments(self) -> None:
        """Rules 2 and 3 for every line in scope, rule 3 for every payment: one pass.

        The pass has no subqueries, so PostgreSQL runs it in parallel workers; it writes only
        the rows that break a rule (a few percent), not an aggregate of all of them.
        """
        line_inv = (
            f"jsonb_build_array({_ref('payout_line', 'x.line_id', 'x.line_ref')}, "
            f"{_ref('payout', 'x.payout_id', 'x.payout_ref')})"
        )
        payment_ref = _ref("payment", "x.payment_id", "x.payment_ref")
        line = {"payout": "x.payout_id", "conn": "x.connection_id", "occ": "x.arrival_date"}

        def settled_amount_check(matched: str, amount: str, currency: str, factor: str, ref: str) -> tuple[str, str]:
            """A line against the object it stands for, in settlement terms: the object's amount
            (times ``factor``), converted with the line's exchange rate when the currencies differ."""
            expected = (
                f"CASE WHEN {currency} = x.l_cur THEN {factor}{amount} WHEN x.exchange_rate IS NOT NULL "
                f"THEN {factor}{_converted(amount, currency, 'x.l_cur', 'x.exchange_rate')} END"
            )
            condition = (
                f"x.in_payout AND {matched} AND x.l_cur = x.po_cur AND ({expected}) IS NOT NULL"
                f" AND abs(x.l_amount - ({expected})) > "
                f"CASE WHEN {currency} = x.l_cur THEN 0 ELSE {_fx_slack(expected)} END"
            )
            element = _problem(
                "line_amount_mismatch",
                "payout_line",
                "x.line_id",
                "x.line_ref",
                **line,
                exp=expected,
                exp_cur="x.l_cur",
                act="x.l_amount",
                act_cur="x.l_cur",
                inv=f"{line_inv} || jsonb_build_array({ref})",
                det=f"jsonb_build_object('object_amount', {amount}, 'object_currency', {currency}, "
                "'exchange_rate', x.exchange_rate)",
            )
            return condition, element

        def unconvertible(
            matched: str, amount: str, currency: str, factor: str, ref: str, against: str
        ) -> tuple[str, str]:
            """A line whose object is in another currency, with no exchange rate on the line to
            compare them by: a currency mismatch (otherwise the amount check silently drops out)."""
            condition = (
                f"x.in_payout AND x.l_cur = x.po_cur AND {matched} AND {currency} <> x.l_cur"
                " AND x.exchange_rate IS NULL"
            )
            element = _problem(
                "currency_mismatch",
                "payout_line",
                "x.line_id",
                "x.line_ref",
                **line,
                exp=f"{factor}{amount}",
                exp_cur=currency,
                act="x.l_amount",
                act_cur="x.l_cur",
                inv=f"{line_inv} || jsonb_build_array({ref})",
                det=f"jsonb_build_object('against', '{against}')",
            )
            return condition, element

        problems = {
            "net_bad": (
                "x.in_payout AND x.l_net <> x.l_amount - x.l_fee",
                _problem(
                    "line_net_mismatch",
                    "payout_line",
                    "x.line_id",
                    "x.line_ref",
                    **line,
                    exp="x.l_amount - x.l_fee",
                    exp_cur="x.l_cur",
                    act="x.l_net",
                    act_cur="x.l_cur",
                    inv=line_inv,
                    det="jsonb_build_object('amount', x.l_amount, 'fee', x.l_fee)",
                ),
            ),
            "fee_bad": (
                "x.in_payout AND x.l_fee <> x.fee_sum",
                _problem(
                    "line_fee_mismatch",
                    "payout_line",
                    "x.line_id",
                    "x.line_ref",
                    **line,
                    exp="x.fee_sum",
                    exp_cur="x.l_cur",
                    act="x.l_fee",
                    act_cur="x.l_cur",
                    inv=line_inv,
                ),
            ),
            "unmatched": (
                f"x.in_payout AND (x.category IN {sql_list(PAYMENT_CATEGORIES)} AND x.payment_id IS NULL"
                f" OR x.category IN {sql_list(REFUND_CATEGORIES)} AND x.refund_id IS NULL"
                f" OR x.category IN {sql_list(DISPUTE_CATEGORIES)} AND x.dispute_id IS NULL)",
                _problem(
                    "line_unmatched",
                    "payout_line",
                    "x.line_id",
                    "x.line_ref",
                    **line,
                    exp="x.l_amount",
                    exp_cur="x.l_cur",
                    inv=line_inv,
                    det="jsonb_build_object('category', x.category, 'object_id', NULLIF(x.source_object_id, ''))",
                ),
            ),
            "payout_currency_bad": (
                "x.in_payout AND NOT x.own AND x.l_cur <> x.po_cur",
                _problem(
                    "currency_mismatch",
                    "payout_line",
                    "x.line_id",
                    "x.line_ref",
                    **line,
                    exp="x.l_amount",
                    exp_cur="x.po_cur",
                    act="x.l_amount",
                    act_cur="x.l_cur",
                    inv=line_inv,
                    det="jsonb_build_object('against', 'payout')",
                ),
            ),
            # An object in another currency with no rate on its line cannot be compared.
            "payment_currency_bad": unconvertible(
                "x.payment_id IS NOT NULL", "x.p_amount", "x.p_cur", "", payment_ref, "payment"
            ),
            "refund_currency_bad": unconvertible(
                "x.category = 'refund' AND x.refund_id IS NOT NULL",
                "x.r_amount",
                "x.r_cur",
                "-",
                _ref("refund", "x.refund_id", "x.refund_ref"),
                "refund",
            ),
            "dispute_currency_bad": unconvertible(
                "x.dispute_sign IS NOT NULL AND x.dispute_id IS NOT NULL",
                "x.d_amount",
                "x.d_cur",
                "x.dispute_sign * ",
                _ref("dispute", "x.dispute_id", "x.dispute_ref"),
                "dispute",
            ),
            # Compared in settlement terms, through the line (its currency and exchange rate).
            "charge_amount_bad": settled_amount_check(
                "x.payment_id IS NOT NULL", "x.p_amount", "x.p_cur", "", payment_ref
            ),
            "refund_amount_bad": settled_amount_check(
                "x.category = 'refund' AND x.refund_id IS NOT NULL",
                "x.r_amount",
                "x.r_cur",
                "-",
                _ref("refund", "x.refund_id", "x.refund_ref"),
            ),
            # The disputed funds leave with the withdrawal and come back with the reversal.
            "dispute_amount_bad": settled_amount_check(
                "x.dispute_sign IS NOT NULL AND x.dispute_id IS NOT NULL",
                "x.d_amount",
                "x.d_cur",
                "x.dispute_sign * ",
                _ref("dispute", "x.dispute_id", "x.dispute_ref"),
            ),
            "no_order": (
                "x.payment_id IS NOT NULL AND x.p_eval AND x.order_id IS NULL",
                _problem(
                    "payment_without_order",
                    "payment",
                    "x.payment_id",
                    "x.payment_ref",
                    payout="x.payout_id",
                    conn="x.p_conn",
                    exp="x.p_amount",
                    exp_cur="x.p_cur",
                    occ="x.p_created::date",
                    inv=f"jsonb_build_array({payment_ref})",
                    det="jsonb_build_object('order_id', NULLIF(x.order_source_id, ''))",
                ),
            ),
        }
        # Orders one payment alone says may break rule 4 (with the payout that payment went out
        # in); each is then checked against all the order's payments.
        candidates = {
            "order_amount": (
                "x.payment_id IS NOT NULL AND x.p_eval AND x.order_id IS NOT NULL"
                " AND (x.p_cur <> x.o_cur OR abs(x.p_amount - x.o_total) > %(tol)s)"
            ),
            "order_unpaid": (
                "x.payment_id IS NOT NULL AND x.p_eval AND x.order_id IS NOT NULL AND x.processor"
                " AND NOT x.o_cancelled"
                # the grace period runs from when the money was taken: an order authorized
                # long ago and captured today is not late
                " AND GREATEST(x.o_created, x.p_created) <= x.cutoff AND COALESCE(x.payout_source_id, '') = ''"
            ),
        }
        flagged = [f"CASE WHEN {cond} THEN {element} END AS {name}" for name, (cond, element) in problems.items()]
        flagged += [
            f"CASE WHEN {cond} THEN jsonb_build_object('o', x.order_id, 'p', x.payout_id, 'pm', x.payment_id) END"
            f" AS {name}"
            for name, cond in candidates.items()
        ]
        # A line whose fee details the pass does not add up (more than it unrolls, or one without
        # an amount): summed in full afterwards.
        unsummed = "x.in_payout AND x.fee_sum IS NULL"
        flagged.append(f"CASE WHEN {unsummed} THEN x.line_id END AS fee_unsummed")
        any_flag = " OR ".join(f"({cond})" for cond, _ in problems.values())
        any_flag += "".join(f" OR ({cond})" for cond in candidates.values())
        any_flag += f" OR ({unsummed})"
        # Most rows are a charge line that agrees with its payment and order in one currency:
        # each condition below makes every rule above false for the row (a charge has no refund
        # or dispute sign; one currency makes the settled amount the payment's own; an order of
        # the payment's currency within the tolerance; a line in a payout). Such a row is passed
        # over after these few comparisons instead of all the rules (~0.25 s of 1M rows); any
        # NULL among them (a missing object, a long fee list) leaves the row to the rules.
        settled = (
            "x.in_payout AND x.category = 'charge' AND x.payment_id IS NOT NULL AND x.order_id IS NOT NULL"
            " AND x.l_cur = x.po_cur AND x.p_cur = x.l_cur AND x.o_cur = x.p_cur AND x.l_amount = x.p_amount"
            " AND abs(x.p_amount - x.o_total) <= %(tol)s AND x.payout_source_id <> ''"
            " AND x.l_net = x.l_amount - x.l_fee AND x.l_fee = x.fee_sum"
        )
        # The rows that break a rule, and nothing else: the condition is evaluated on every
        # joined row, the findings built only for the few that hold. Grouping the 1M rows by
        # payout here instead (per-rule arrays) costs a hash lookup per row and the merging of
        # the workers' arrays; the per-payout totals come from the lines alone, below.
        self._exec(
            f"""
            CREATE TEMP TABLE recon_flag ON COMMIT DROP AS
            SELECT {", ".join(flagged)}
            FROM (
                SELECT l.id AS line_id, l.source_id AS line_ref, l.connection_id, l.payout_source_id, l.category,
                       l.currency AS l_cur, l.amount_minor AS l_amount, l.fee_minor AS l_fee, l.net_minor AS l_net,
                       l.exchange_rate, l.source_object_id, l.own, l.fee_sum, l.dispute_sign,
                       (l.in_scope AND po.id IS NOT NULL) AS in_payout,
                       po.id AS payout_id, po.source_id AS payout_ref, po.currency AS po_cur, po.arrival_date,
                       pm.id AS payment_id, pm.source_id AS payment_ref, pm.connection_id AS p_conn,
                       pm.currency AS p_cur, pm.amount_minor AS p_amount, pm.processor, pm.order_source_id,
                       pm.created AS p_created, pm.cutoff, pm.evaluated AS p_eval,
                       o.id AS order_id, o.currency AS o_cur, o.total_minor AS o_total,
                       o.cancelled AS o_cancelled, o.source_created_at AS o_created,
                       r.id AS refund_id, r.source_id AS refund_ref, r.currency AS r_cur, r.amount_minor AS r_amount,
                       d.id AS dispute_id, d.source_id AS dispute_ref, d.currency AS d_cur, d.amount_minor AS d_amount
                FROM ({self._lines()}) l
                FULL JOIN ({self._payments()}) pm
                       ON pm.connection_id = l.connection_id AND pm.source_id = l.pay_key
                LEFT JOIN (SELECT po.id, po.connection_id, po.source_id, po.currency, po.arrival_date
                           FROM ({self._payouts()}) po) po
                       ON po.connection_id = l.connection_id AND po.source_id = l.payout_source_id
                LEFT JOIN (SELECT o.id, o.connection_id, o.source_id, o.currency, o.total_minor, o.cancelled,
                                  o.source_created_at
                           FROM ({self._scoped("canonical_order", "o", "recon_s_order")}) o) o
                       ON o.connection_id = pm.connection_id AND o.source_id = pm.order_source_id
                LEFT JOIN (SELECT r.id, r.connection_id, r.source_id, r.currency, r.amount_minor
                           FROM ({self._scoped("canonical_refund", "r", "recon_s_refund")}) r) r
                       ON r.connection_id = l.connection_id AND r.source_id = l.refund_key
                LEFT JOIN (SELECT d.id, d.connection_id, d.source_id, d.currency, d.amount_minor
                           FROM ({self._scoped("canonical_dispute", "d", "recon_s_dispute")}) d) d
                       ON d.connection_id = l.connection_id AND d.source_id = l.dispute_key
            ) x
            WHERE NOT COALESCE({settled}, false) AND ({any_flag})
            """,
            label="main pass: lines, payments, orders, refunds, disputes",
        )
        # Each payout's line count and total (its own line excluded), from its lines alone.
        self._exec(
            f"""
            CREATE TEMP TABLE recon_eval ON COMMIT DROP AS
            SELECT po.id AS payout_id, t.line_count, t.lines_total
            FROM (SELECT l.connection_id, l.payout_source_id, count(*) AS line_count,
                         sum(l.net_minor) FILTER (WHERE NOT l.own) AS lines_total
                  FROM ({self._lines()}) l WHERE l.in_scope GROUP BY 1, 2) t
            JOIN (SELECT po.id, po.connection_id, po.source_id FROM ({self._payouts()}) po) po
              ON po.connection_id = t.connection_id AND po.source_id = t.payout_source_id
            """,
            label="payout totals",
        )
        # Every broken rule of every row, one row each (a payment seen twice counts once).
        elements = " UNION ALL ".join(f"SELECT f.{name}" for name in problems)
        self._exec(
            f"""
            INSERT INTO recon_found (reason, subject_type, subject_id, subject_ref, payout_id, connection_id,
                                     involved, expected_minor, expected_currency, actual_minor, actual_currency,
                                     detail, occurred_on)
            SELECT e->>'reason', e->>'st', (e->>'sid')::uuid, e->>'ref', (e->>'payout')::uuid, (e->>'conn')::uuid,
                   e->'inv', (e->>'exp')::bigint, COALESCE(e->>'exp_cur', ''), (e->>'act')::bigint,
                   COALESCE(e->>'act_cur', ''), e->'det', (e->>'occ')::date
            FROM recon_flag f CROSS JOIN LATERAL ({elements}) u(e)
            WHERE e IS NOT NULL
            """,
            label="unpack the main pass's findings",
        )
        # The rare line whose fee details the pass could not add up (``fee_unsummed``): summed here.
        self._exec(
            f"""
            INSERT INTO recon_found (reason, subject_type, subject_id, subject_ref, payout_id, connection_id,
                                     involved, expected_minor, expected_currency, actual_minor, actual_currency,
                                     detail, occurred_on)
            SELECT 'line_fee_mismatch', 'payout_line', l.id, l.source_id, po.id, l.connection_id,
                   jsonb_build_array({_ref("payout_line", "l.id", "l.source_id")},
                                     {_ref("payout", "po.id", "po.source_id")}),
                   f.total, l.currency, l.fee_minor, l.currency, '{{}}'::jsonb, po.arrival_date
            FROM (SELECT fee_unsummed AS id FROM recon_flag WHERE fee_unsummed IS NOT NULL) long
            JOIN canonical_payoutline l ON l.id = long.id
            JOIN canonical_payout po ON po.tenant_id = %(t)s AND po.connection_id = l.connection_id
                                    AND po.source_id = l.payout_source_id
            CROSS JOIN LATERAL (SELECT COALESCE(sum((e->>'amount_minor')::bigint), 0) AS total
                                FROM jsonb_array_elements(l.fee_details) e) f
            WHERE l.fee_minor <> f.total
            """
        )

    def _evaluate_orders(self) -> None:
        """Rule 4 for the orders a single payment flagged, against all of the order's payments."""
        self._exec(
            """
            CREATE TEMP TABLE recon_cand ON COMMIT DROP AS
            SELECT (c.e->>'o')::uuid AS order_id, bool_or(c.amount) AS amount, bool_or(c.unpaid) AS unpaid,
                   min(c.e->>'p')::uuid AS payout_id,
                   array_agg((c.e->>'pm')::uuid) FILTER (WHERE c.unpaid) AS unpaid_payments
            FROM (
                SELECT order_amount AS e, true AS amount, false AS unpaid FROM recon_flag WHERE order_amount IS NOT NULL
                UNION ALL
                SELECT order_unpaid, false, true FROM recon_flag WHERE order_unpaid IS NOT NULL
            ) c GROUP BY 1
            """
        )
        # An order with more than one payment can be paid twice although each payment alone
        # matches it (a double charge): checked against all its payments too. Only Shopify
        # orders can: a Stripe order is a PaymentIntent, which has one succeeded charge at most,
        # so its connections are not scanned for it (1M payments: 2-3 s).
        several = self._rows(
            """SELECT id FROM connections_connection
               WHERE tenant_id = %(t)s AND id = ANY(%(c)s) AND provider = 'shopify'""",
            label="connections whose orders take several payments",
        )
        if several:
            in_several = "pm.connection_id = ANY(%(several)s)"
            payments = (
                f"canonical_payment pm WHERE pm.tenant_id = %(t)s AND {in_several}"
                if self.full
                else f"recon_s_payment s JOIN canonical_payment pm ON pm.id = s.id WHERE {in_several}"
            )
            self._exec(
                f"""
                CREATE TEMP TABLE recon_multi ON COMMIT DROP AS
                SELECT o.id AS order_id
                FROM (SELECT pm.connection_id, pm.order_source_id FROM {payments}
                        AND pm.status = 'succeeded' AND pm.order_source_id <> ''
                      GROUP BY 1, 2 HAVING count(*) > 1) m
                JOIN canonical_order o ON o.tenant_id = %(t)s AND o.connection_id = m.connection_id
                                      AND o.source_id = m.order_source_id
                """,
                {"several": [row[0] for row in several]},
                label="orders with several payments",
            )
            self._exec("UPDATE recon_cand c SET amount = true FROM recon_multi m WHERE c.order_id = m.order_id")
            self._exec(
                """
                INSERT INTO recon_cand (order_id, amount, unpaid)
                SELECT m.order_id, true, false FROM recon_multi m
                WHERE NOT EXISTS (SELECT 1 FROM recon_cand c WHERE c.order_id = m.order_id)
                """
            )
        self._exec("ANALYZE recon_cand")
        # Every succeeded payment of each candidate order, and whether it went out in a payout.
        self._exec(
            f"""
            CREATE TEMP TABLE recon_order_pay ON COMMIT DROP AS
            SELECT c.order_id, c.amount, c.unpaid, c.payout_id, o.source_id AS order_ref, o.connection_id,
                   o.currency AS o_cur, o.total_minor, o.source_created_at, cu.cutoff,
                   {AWAITING_CAPTURE_SQL} AS awaiting_capture,
                   pm.id AS payment_id, pm.source_id AS payment_ref, pm.currency AS p_cur, pm.amount_minor,
                   (pm.gateway IN {sql_list(PROCESSOR_GATEWAYS)} AND NOT pm.is_gift_card) AS processor,
                   -- the main pass already saw the flagged payment unpaid; only an order's other
                   -- payments need looking up
                   CASE WHEN NOT c.unpaid THEN NULL
                        WHEN pm.id = ANY(c.unpaid_payments) THEN false
                        ELSE EXISTS (
                            SELECT 1 FROM canonical_payoutline l
                            WHERE l.tenant_id = %(t)s AND l.connection_id = pm.connection_id
                              AND l.source_object_id = pm.source_id AND l.reporting_category = 'charge'
                              AND l.payout_source_id <> '') END AS paid_out
            FROM recon_cand c
            JOIN canonical_order o ON o.id = c.order_id
            JOIN {self._cutoff_values()} ON cu.connection_id = o.connection_id
            JOIN canonical_payment pm ON pm.tenant_id = %(t)s AND pm.connection_id = o.connection_id
                                     AND pm.order_source_id = o.source_id AND pm.status = 'succeeded'
            """
        )
        # A payment in another currency than its order cannot count toward it.
        self._exec(
            """
            INSERT INTO recon_found (reason, subject_type, subject_id, subject_ref, payout_id, connection_id, involved,
                                     expected_minor, expected_currency, actual_minor, actual_currency, detail,
                                     occurred_on)
            SELECT 'currency_mismatch', 'payment', op.payment_id, op.payment_ref, op.payout_id, op.connection_id,
                   jsonb_build_array(jsonb_build_object('type', 'payment', 'id', op.payment_id,
                                                        'source_id', op.payment_ref),
                                     jsonb_build_object('type', 'order', 'id', op.order_id, 'source_id', op.order_ref)),
                   op.total_minor, op.o_cur, op.amount_minor, op.p_cur,
                   jsonb_build_object('against', 'order'), op.source_created_at::date
            FROM recon_order_pay op WHERE op.amount AND op.p_cur <> op.o_cur
            """
        )
        self._exec(
            """
            INSERT INTO recon_found (reason, subject_type, subject_id, subject_ref, payout_id, connection_id, involved,
                                     expected_minor, expected_currency, actual_minor, actual_currency, detail,
                                     occurred_on)
            SELECT 'amount_mismatch', 'order', g.order_id, g.order_ref, g.payout_id, g.connection_id,
                   jsonb_build_array(jsonb_build_object('type', 'order', 'id', g.order_id, 'source_id', g.order_ref))
                       || g.payments,
                   g.total_minor, g.o_cur, g.paid, g.o_cur,
                   jsonb_build_object('tolerance', %(tol)s, 'payments', g.n),
                   g.source_created_at::date
            FROM (
                SELECT op.order_id, op.order_ref, op.connection_id, op.total_minor, op.o_cur,
                       op.source_created_at, min(op.payout_id::text)::uuid AS payout_id,
                       sum(op.amount_minor) FILTER (WHERE op.p_cur = op.o_cur) AS paid, count(*) AS n,
                       jsonb_agg(jsonb_build_object('type', 'payment', 'id', op.payment_id,
                                                    'source_id', op.payment_ref)) AS payments,
                       bool_or(op.awaiting_capture AND op.source_created_at > op.cutoff) AS capture_due
                FROM recon_order_pay op WHERE op.amount
                GROUP BY op.order_id, op.order_ref, op.connection_id, op.total_minor, op.o_cur, op.source_created_at
            ) g
            WHERE abs(COALESCE(g.paid, 0) - g.total_minor) > %(tol)s
              -- short while a capture may still come (an incremental run re-reads the order
              -- once it ages past the grace period); paid too much is a difference at once
              AND NOT (g.capture_due AND COALESCE(g.paid, 0) < g.total_minor)
            """
        )
        self._exec(
            """
            INSERT INTO recon_found (reason, subject_type, subject_id, subject_ref, payout_id, connection_id, involved,
                                     expected_minor, expected_currency, actual_minor, actual_currency, detail,
                                     occurred_on)
            SELECT 'order_unpaid', 'order', g.order_id, g.order_ref, NULL, g.connection_id,
                   jsonb_build_array(jsonb_build_object('type', 'order', 'id', g.order_id, 'source_id', g.order_ref))
                       || g.payments,
                   g.expected, g.o_cur, 0, g.o_cur,
                   jsonb_build_object('grace_cutoff', g.cutoff),
                   g.source_created_at::date
            FROM (
                SELECT op.order_id, op.order_ref, op.connection_id, op.o_cur, op.source_created_at, op.cutoff,
                       -- what the processor still owes: its payments of the order in no payout
                       -- (one paid out does not clear another that never was)
                       sum(op.amount_minor) FILTER (WHERE op.processor AND NOT op.paid_out) AS expected,
                       jsonb_agg(jsonb_build_object('type', 'payment', 'id', op.payment_id,
                                                    'source_id', op.payment_ref))
                           FILTER (WHERE op.processor AND NOT op.paid_out) AS payments
                FROM recon_order_pay op WHERE op.unpaid
                GROUP BY op.order_id, op.order_ref, op.connection_id, op.o_cur, op.source_created_at, op.cutoff
            ) g
            WHERE g.expected <> 0
            """
        )

    def _evaluate_refunds_and_disputes(self) -> None:
        refunds = self._scoped("canonical_refund", "r", "recon_s_refund")
        disputes = self._scoped("canonical_dispute", "d", "recon_s_dispute")
        self._exec(
            f"""
            INSERT INTO recon_found (reason, subject_type, subject_id, subject_ref, payout_id, connection_id, involved,
                                     expected_minor, expected_currency, actual_minor, actual_currency, detail,
                                     occurred_on)
            SELECT 'refund_without_payment', 'refund', r.id, r.source_id, NULL, r.connection_id,
                   jsonb_build_array(jsonb_build_object('type', 'refund', 'id', r.id, 'source_id', r.source_id)),
                   r.amount_minor, r.currency, NULL, '',
                   jsonb_build_object('payment_id', NULLIF(r.payment_source_id, '')),
                   r.source_created_at::date
            FROM ({refunds}) r
            WHERE COALESCE(r.status, '') NOT IN ('failed', 'canceled')
              -- OFFSET 0 keeps this a per-refund index probe: refunds are a few percent of the
              -- payments, and an INSERT runs without parallel workers, so the anti-join the
              -- planner prefers (reading every payment) costs 0.3 s at 1M payments, the probes 0.05.
              AND NOT EXISTS (SELECT 1 FROM canonical_payment pm
                              WHERE pm.tenant_id = %(t)s AND pm.connection_id = r.connection_id
                                AND pm.source_id = r.payment_source_id OFFSET 0)
            """
        )
        self._exec(
            f"""
            INSERT INTO recon_found (reason, subject_type, subject_id, subject_ref, payout_id, connection_id, involved,
                                     expected_minor, expected_currency, actual_minor, actual_currency, detail,
                                     occurred_on)
            SELECT 'dispute_open', 'dispute', d.id, d.source_id, NULL, d.connection_id,
                   jsonb_build_array(jsonb_build_object('type', 'dispute', 'id', d.id, 'source_id', d.source_id)),
                   d.amount_minor, d.currency, NULL, '',
                   jsonb_build_object('status', d.status, 'reason', d.reason,
                                      'payment_id', NULLIF(d.payment_source_id, '')),
                   d.source_created_at::date
            FROM ({disputes}) d
            WHERE d.status IN {sql_list(OPEN_DISPUTE_STATUSES)}
            """
        )
        # The payout a refund or dispute exception belongs to: the one its line went out in.
        self._attach_payouts(
            to_lines="""JOIN canonical_payoutline l ON l.tenant_id = %(t)s AND l.connection_id = f2.connection_id
                                                   AND l.source_object_id = f2.subject_ref""",
            where="""f2.subject_type IN ('payment', 'refund', 'dispute')
                     AND l.reporting_category IN ('charge', 'refund', 'refund_failure', 'dispute')""",
            label="payouts of payments', refunds' and disputes' exceptions",
        )
        # An order's amount mismatch belongs to the first payout its payments went out in. An
        # incremental run may have read those payments' lines without their payouts (outside
        # its scope): looked up here, so it attaches the exception where a full run does.
        self._attach_payouts(
            to_lines="""JOIN canonical_payment pm ON pm.tenant_id = %(t)s AND pm.connection_id = f2.connection_id
                                                 AND pm.order_source_id = f2.subject_ref AND pm.status = 'succeeded'
                        JOIN canonical_payoutline l ON l.tenant_id = %(t)s AND l.connection_id = pm.connection_id
                                                   AND l.source_object_id = pm.source_id
                                                   AND l.reporting_category = 'charge'""",
            where="f2.subject_type = 'order' AND f2.reason = 'amount_mismatch'",
            label="payouts of orders' amount mismatches",
        )

    def _attach_payouts(self, *, to_lines: str, where: str, label: str) -> None:
        """Findings (``f2``, matching ``where``) with no payout yet get the first payout of the
        lines (``l``) that ``to_lines`` joins them to."""
        self._exec(
            f"""
            UPDATE recon_found f SET payout_id = lp.payout_id
            FROM (
                SELECT f2.reason, f2.subject_id, min(po.id::text)::uuid AS payout_id
                FROM recon_found f2
                {to_lines}
                JOIN canonical_payout po ON po.tenant_id = %(t)s AND po.connection_id = l.connection_id
                                        AND po.source_id = l.payout_source_id
                WHERE f2.payout_id IS NULL AND {where}
                GROUP BY f2.reason, f2.subject_id
            ) lp
            WHERE f.reason = lp.reason AND f.subject_id = lp.subject_id
            """,
            label=label,
        )

    def _evaluate_payouts(self) -> None:
        """Rule 1, and the payouts that fail, are reversed or cannot be itemized."""
        payouts = self._payouts()
        inv = "jsonb_build_array(jsonb_build_object('type', 'payout', 'id', po.id, 'source_id', po.source_id))"
        insert = """
            INSERT INTO recon_found (reason, subject_type, subject_id, subject_ref, payout_id, connection_id, involved,
                                     expected_minor, expected_currency, actual_minor, actual_currency, detail,
                                     occurred_on)
        """
        occurred = "COALESCE(po.arrival_date, po.source_created_at::date)"
        unlisted_ok = sql_list(NOT_PAID_YET + FAILED_PAYOUT_STATUSES)  # statuses where no lines is no mismatch
        self._exec(
            f"""{insert}
            SELECT 'payout_total_mismatch', 'payout', po.id, po.source_id, po.id, po.connection_id, {inv},
                   COALESCE(ev.lines_total, 0), po.currency, po.amount_minor, po.currency,
                   jsonb_build_object('lines', COALESCE(ev.line_count, 0)), {occurred}
            FROM ({payouts}) po LEFT JOIN recon_eval ev ON ev.payout_id = po.id
            WHERE po.reversal_of_source_id = ''
              AND (po.automatic OR COALESCE(ev.line_count, 0) > 0)
              -- no lines yet while it is on its way; none at all for one that failed first
              -- (payout_failed says that already)
              AND NOT (COALESCE(ev.line_count, 0) = 0 AND po.status IN {unlisted_ok})
              AND COALESCE(ev.lines_total, 0) <> po.amount_minor
            """
        )
        self._exec(
            f"""{insert}
            SELECT 'manual_payout_unitemized', 'payout', po.id, po.source_id, po.id, po.connection_id, {inv},
                   po.amount_minor, po.currency, NULL, '',
                   jsonb_build_object('method', po.method,
                                      'carried_in', (SELECT jsonb_build_object('line', l.source_id,
                                                                               'payout', l.payout_source_id)
                                                     FROM canonical_payoutline l
                                                     WHERE l.tenant_id = %(t)s AND l.connection_id = po.connection_id
                                                       AND l.source_object_id = po.source_id
                                                       AND l.payout_source_id NOT IN ('', po.source_id)
                                                     LIMIT 1)),
                   {occurred}
            FROM ({payouts}) po
            LEFT JOIN recon_eval ev ON ev.payout_id = po.id
            WHERE NOT po.automatic AND po.reversal_of_source_id = '' AND COALESCE(ev.line_count, 0) = 0
            """
        )
        self._exec(
            f"""{insert}
            SELECT 'payout_failed', 'payout', po.id, po.source_id, po.id, po.connection_id, {inv},
                   po.amount_minor, po.currency, 0, po.currency,
                   jsonb_build_object(
                       'status', po.status, 'failure_code', NULLIF(po.failure_code, ''),
                       -- where the money came back: the payout_reversal line that returns it
                       'returned_by', (SELECT jsonb_build_object('line', l.source_id,
                                                                 'payout', NULLIF(l.payout_source_id, ''),
                                                                 'amount', l.amount_minor)
                                       FROM canonical_payoutline l
                                       WHERE l.tenant_id = %(t)s AND l.connection_id = po.connection_id
                                         AND l.source_object_id = po.source_id
                                         AND l.reporting_category = 'payout_reversal'
                                       LIMIT 1)),
                   {occurred}
            FROM ({payouts}) po
            WHERE po.status IN {sql_list(FAILED_PAYOUT_STATUSES)}
            """
        )
        self._exec(
            f"""{insert}
            SELECT 'payout_reversed', 'payout', po.id, po.source_id, po.id, po.connection_id,
                   {inv} || jsonb_agg(jsonb_build_object('type', 'payout', 'id', rv.id, 'source_id', rv.source_id)),
                   po.amount_minor, po.currency, po.amount_minor + sum(rv.amount_minor), po.currency,
                   jsonb_build_object('reversed_by', jsonb_agg(rv.source_id)), {occurred}
            FROM ({payouts}) po
            JOIN canonical_payout rv ON rv.tenant_id = %(t)s AND rv.connection_id = po.connection_id
                                    AND rv.reversal_of_source_id = po.source_id
                                    -- a reversal the bank refused (or canceled) took nothing back
                                    AND rv.status NOT IN {sql_list(FAILED_PAYOUT_STATUSES)}
            GROUP BY po.id, po.source_id, po.connection_id, po.amount_minor, po.currency, po.source,
                     po.arrival_date, po.source_created_at
            """
        )

    # ------------------------------------------------------------------ merge

    def _in_scope(self, alias: str = "e") -> str:
        """Exceptions this evaluation was in a position to find again (only those may be closed)."""
        if self.full:
            return f"{alias}.connection_id = ANY(%(c)s)"
        return f"""(
            ({alias}.subject_type = 'payout' AND {alias}.subject_id IN (SELECT id FROM recon_s_payout))
            OR ({alias}.subject_type = 'payout_line' AND {alias}.payout_id IN (SELECT id FROM recon_s_payout))
            OR ({alias}.subject_type = 'payment' AND {alias}.subject_id IN (SELECT id FROM recon_s_payment))
            OR ({alias}.subject_type = 'order' AND {alias}.subject_id IN (SELECT id FROM recon_s_order))
            OR ({alias}.subject_type = 'refund' AND {alias}.subject_id IN (SELECT id FROM recon_s_refund))
            OR ({alias}.subject_type = 'dispute' AND {alias}.subject_id IN (SELECT id FROM recon_s_dispute))
            OR (({alias}.connection_id, {alias}.subject_type, {alias}.subject_ref) IN
                (SELECT connection_id, kind, key FROM recon_keys))
        )"""

    def _merge(self, result: EngineResult) -> None:
        """Found exceptions into the table: new ones open, known ones updated, gone ones closed.

        Known ones get the machine fields and ``last_seen_run``; their state and a person's
        note stay as they are, except that one the engine itself had closed is reopened (its
        cause is back), and so is one a person resolved whose difference has grown since
        (``_GREW``). Whatever this evaluation could have found again and did not is closed
        by the system, acknowledged ones included (a person's note stays). An insert and an
        update rather than one ``ON CONFLICT`` upsert: on a first run (~100k new rows) the
        speculative insertion of an upsert costs a third more, and runs of a tenant are
        serialized (``recon.services``), so nothing else inserts exceptions in between.
        """
        self._exec(
            f"""
            CREATE TEMP TABLE recon_merge ON COMMIT DROP AS
            SELECT DISTINCT ON (f.reason, f.subject_id) f.*, e.id AS existing_id,
                   COALESCE(e.state = 'resolved' AND e.resolved_by_kind = 'system', false) AS reopen,
                   COALESCE(e.state = 'resolved' AND e.resolved_by_kind <> 'system' AND {_GREW}, false) AS grew,
                   CASE WHEN e.state = 'resolved' AND e.resolved_by_kind <> 'system' AND {_GREW} THEN
                       format('larger than when it was resolved: then %%s expected, %%s actual (run %%s)',
                              {_major("e.expected_minor", "e.expected_currency")},
                              {_major("e.actual_minor", "e.actual_currency")}, %(run)s::text)
                   END AS grew_note
            FROM recon_found f
            LEFT JOIN recon_reconexception e ON e.tenant_id = %(t)s AND e.reason = f.reason
                                            AND e.subject_id = f.subject_id
            ORDER BY f.reason, f.subject_id, f.payout_id NULLS LAST
            """
        )
        result.exceptions_by_reason = dict(self._rows("SELECT reason, count(*) FROM recon_merge GROUP BY 1 ORDER BY 1"))
        # Machine fields only; a person's state and note stay while the cause persists.
        updated = self._exec(
            """
            UPDATE recon_reconexception e SET
                subject_ref = f.subject_ref, payout_id = f.payout_id, connection_id = f.connection_id,
                involved = f.involved, expected_minor = f.expected_minor, expected_currency = f.expected_currency,
                actual_minor = f.actual_minor, actual_currency = f.actual_currency, detail = f.detail,
                occurred_on = f.occurred_on, last_seen_run_id = %(run)s, last_seen_at = %(now)s,
                state = CASE WHEN f.reopen OR f.grew THEN 'open' ELSE e.state END,
                state_changed_at = CASE WHEN f.reopen OR f.grew THEN %(now)s ELSE e.state_changed_at END,
                resolved_by_kind = CASE WHEN f.reopen OR f.grew THEN '' ELSE e.resolved_by_kind END,
                resolved_by_id = CASE WHEN f.grew THEN NULL ELSE e.resolved_by_id END,
                resolved_by_email = CASE WHEN f.grew THEN '' ELSE e.resolved_by_email END,
                resolved_at = CASE WHEN f.reopen OR f.grew THEN NULL ELSE e.resolved_at END,
                system_note = CASE WHEN f.reopen THEN %(reopen_note)s WHEN f.grew THEN f.grew_note
                                   ELSE e.system_note END
            FROM recon_merge f
            WHERE e.tenant_id = %(t)s AND e.id = f.existing_id
            """
        )
        result.exceptions_reopened = self._rows("SELECT count(*) FROM recon_merge WHERE reopen OR grew")[0][0]
        result.exceptions_updated = updated - result.exceptions_reopened
        result.exceptions_opened = self._exec(
            """
            INSERT INTO recon_reconexception (
                id, tenant_id, reason, subject_type, subject_id, subject_ref, payout_id, connection_id, involved,
                expected_minor, expected_currency, actual_minor, actual_currency, detail, occurred_on,
                state, state_changed_at, acknowledged_by_email, resolved_by_kind, resolved_by_email, note,
                system_note, first_seen_run_id, last_seen_run_id, first_seen_at, last_seen_at)
            SELECT gen_random_uuid(), %(t)s, f.reason, f.subject_type, f.subject_id, COALESCE(f.subject_ref, ''),
                   f.payout_id, f.connection_id, COALESCE(f.involved, '[]'::jsonb), f.expected_minor,
                   f.expected_currency, f.actual_minor, f.actual_currency, COALESCE(f.detail, '{}'::jsonb),
                   f.occurred_on, 'open', %(now)s, '', '', '', '', '', %(run)s, %(run)s, %(now)s, %(now)s
            FROM recon_merge f WHERE f.existing_id IS NULL
            """
        )
        self._exec("CREATE TEMP TABLE recon_closed (payout_id uuid) ON COMMIT DROP")
        result.exceptions_auto_resolved = self._exec(
            f"""
            WITH gone AS (
                SELECT e.id, e.state, CASE WHEN {_SUBJECT_GONE} THEN
                           format('cause gone: the %%s is no longer stored (run %%s)',
                                  replace(e.subject_type, '_', ' '), %(run)s::text)
                       ELSE %(note)s END AS note
                FROM recon_reconexception e
                WHERE e.tenant_id = %(t)s AND e.state IN ('open', 'acknowledged') AND {self._in_scope()}
                  AND e.last_seen_run_id IS DISTINCT FROM %(run)s
                FOR UPDATE
            ),
            closed AS (
                UPDATE recon_reconexception e SET state = 'resolved', resolved_by_kind = 'system',
                       resolved_by_id = NULL, resolved_by_email = '', resolved_at = %(now)s,
                       state_changed_at = %(now)s, system_note = gone.note
                FROM gone
                WHERE e.tenant_id = %(t)s AND e.id = gone.id
                RETURNING e.id, e.payout_id, e.reason, e.subject_ref, gone.state AS previous, gone.note
            ),
            audited AS ({_SYSTEM_AUDIT.format(rows="closed", to="'resolved'", note="r.note")})
            INSERT INTO recon_closed SELECT payout_id FROM closed
            """
        )
        # Every state change is audited, the engine's own included (one row per exception,
        # written in the same statement set as the change).
        self._exec(
            f"""
            WITH reopened AS (
                SELECT existing_id AS id, reason, subject_ref, 'resolved'::text AS previous,
                       CASE WHEN reopen THEN %(reopen_note)s ELSE grew_note END AS note
                FROM recon_merge WHERE reopen OR grew
            )
            {_SYSTEM_AUDIT.format(rows="reopened", to="'open'", note="r.note")}
            """
        )

    def _statuses(self, result: EngineResult) -> None:
        """Each payout in scope (and each whose exceptions changed) gets its status."""
        payouts = self._payouts()
        counts = """
            SELECT payout_id, count(*) AS n FROM recon_reconexception
            WHERE tenant_id = %(t)s AND state IN ('open', 'acknowledged') AND payout_id IS NOT NULL {filter}
            GROUP BY payout_id
        """
        counts_in_scope = counts.format(
            filter="AND connection_id = ANY(%(c)s)" if self.full else "AND payout_id IN (SELECT id FROM recon_s_payout)"
        )
        status = f"""CASE WHEN COALESCE(n.n, 0) > 0 THEN 'exceptions'
                          WHEN po.status IN {sql_list(NOT_PAID_YET)} THEN 'pending' ELSE 'reconciled' END"""
        rows = self._rows(
            f"""
            WITH upserted AS (
                INSERT INTO recon_reconpayout AS rp (
                    id, tenant_id, payout_id, connection_id, status, currency, payout_amount_minor,
                    lines_total_minor, difference_minor, line_count, open_exceptions, evaluated_at, last_run_id)
                SELECT gen_random_uuid(), %(t)s, po.id, po.connection_id, {status}, po.currency, po.amount_minor,
                       CASE WHEN COALESCE(ev.line_count, 0) > 0 THEN COALESCE(ev.lines_total, 0) END,
                       CASE WHEN COALESCE(ev.line_count, 0) > 0 THEN po.amount_minor - COALESCE(ev.lines_total, 0) END,
                       COALESCE(ev.line_count, 0), COALESCE(n.n, 0), %(now)s, %(run)s
                FROM ({payouts}) po
                LEFT JOIN recon_eval ev ON ev.payout_id = po.id
                LEFT JOIN ({counts_in_scope}) n ON n.payout_id = po.id
                ON CONFLICT (payout_id) DO UPDATE SET
                    status = EXCLUDED.status, currency = EXCLUDED.currency,
                    payout_amount_minor = EXCLUDED.payout_amount_minor, lines_total_minor = EXCLUDED.lines_total_minor,
                    difference_minor = EXCLUDED.difference_minor, line_count = EXCLUDED.line_count,
                    open_exceptions = EXCLUDED.open_exceptions, evaluated_at = EXCLUDED.evaluated_at,
                    last_run_id = EXCLUDED.last_run_id
                RETURNING rp.payout_id, rp.status, rp.line_count
            )
            SELECT status, count(*), COALESCE(sum(line_count), 0) FROM upserted GROUP BY status
            """
        )
        by_status = {status: (n, lines) for status, n, lines in rows}
        result.payouts_reconciled = by_status.get("reconciled", (0, 0))[0]
        result.payouts_with_exceptions = by_status.get("exceptions", (0, 0))[0]
        result.payouts_pending = by_status.get("pending", (0, 0))[0]
        result.payouts_evaluated = sum(n for n, _ in by_status.values())
        result.lines_evaluated = sum(lines for _, lines in by_status.values())
        # Payouts outside the scope whose exceptions this run opened or closed.
        self._exec(
            f"""
            UPDATE recon_reconpayout rp SET open_exceptions = COALESCE(n.n, 0),
                   status = CASE WHEN COALESCE(n.n, 0) > 0 THEN 'exceptions'
                                 WHEN po.status IN {sql_list(NOT_PAID_YET)} THEN 'pending' ELSE 'reconciled' END
            FROM canonical_payout po
            LEFT JOIN ({counts.format(filter="")}) n ON n.payout_id = po.id
            WHERE rp.tenant_id = %(t)s AND po.tenant_id = %(t)s AND po.id = rp.payout_id
              AND rp.last_run_id IS DISTINCT FROM %(run)s
              AND rp.payout_id IN (SELECT payout_id FROM recon_found WHERE payout_id IS NOT NULL
                                   UNION SELECT payout_id FROM recon_closed WHERE payout_id IS NOT NULL)
            """
        )
        if not self.full:
            result.payout_ids = [row[0] for row in self._rows("SELECT id FROM recon_s_payout")]
        result.open_exceptions = self._rows(
            "SELECT count(*) FROM recon_reconexception WHERE tenant_id = %(t)s AND state IN ('open', 'acknowledged')"
        )[0][0]


def delete_consumed_changes(tenant_id: uuid.UUID, change_ids: list[uuid.UUID]) -> None:
    """Drop exactly the change-log rows a run read (rows added meanwhile stay for the next run)."""
    if not change_ids:
        return
    with db.cursor() as cursor:
        cursor.execute("DELETE FROM recon_reconchange WHERE tenant_id = %s AND id = ANY(%s)", [tenant_id, change_ids])


# ---------------------------------------------------------------------- links


def link_lines(*, tenant_id: uuid.UUID, connection_id: uuid.UUID, payout_keys: list[str] | None) -> int:
    """Write each payout line's payment / refund / dispute link (only where it differs).

    ``payout_keys`` limits it to those payouts' lines; None links every line of the
    connection that sits in a payout. The links are what the engine resolves by source id;
    nothing in recon reads them back, they are for the admin, exports and posting.
    """
    scope = "AND l.payout_source_id = ANY(%(keys)s)" if payout_keys is not None else "AND l.payout_source_id <> ''"
    with db.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute(
            f"""
            UPDATE canonical_payoutline t SET payment_id = x.payment_id, refund_id = x.refund_id,
                                             dispute_id = x.dispute_id
            FROM (
                SELECT l.id, pm.id AS payment_id, r.id AS refund_id, d.id AS dispute_id
                FROM canonical_payoutline l
                LEFT JOIN canonical_payment pm ON l.reporting_category IN {sql_list(PAYMENT_CATEGORIES)}
                     AND pm.tenant_id = %(t)s
                     AND pm.connection_id = l.connection_id AND pm.source_id = l.source_object_id
                LEFT JOIN canonical_refund r ON l.reporting_category IN {sql_list(REFUND_CATEGORIES)}
                     AND r.tenant_id = %(t)s AND r.connection_id = l.connection_id AND r.source_id = l.source_object_id
                LEFT JOIN canonical_dispute d ON l.reporting_category IN {sql_list(DISPUTE_CATEGORIES)}
                     AND d.tenant_id = %(t)s AND d.connection_id = l.connection_id AND d.source_id = l.source_object_id
                WHERE l.tenant_id = %(t)s AND l.connection_id = %(conn)s {scope}
            ) x
            WHERE t.tenant_id = %(t)s AND t.id = x.id
              AND (t.payment_id, t.refund_id, t.dispute_id) IS DISTINCT FROM (x.payment_id, x.refund_id, x.dispute_id)
            """,
            {"t": tenant_id, "conn": connection_id, "keys": payout_keys},
        )
        return cursor.rowcount
