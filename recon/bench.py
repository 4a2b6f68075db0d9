"""Reconcile N payouts x M lines with ~1% planted faults of each kind, against a baseline.

``manage.py bench recon --payouts 10000 --lines 100 [--json]`` builds a scratch tenant,
fills its canonical tables with set-based SQL (``INSERT ... SELECT generate_series``):
payouts of ``--lines`` lines each (charges, partial refunds, disputes, the payout's own
line), one payment and one order per charge, plus manual, failed, reversed payouts and
orders never paid out. Faults of every kind the engine detects are planted by index, and
the expected exceptions are derived independently, in Python, from the same plan.

It then times, in the same process and database:

* the baseline: one ``GROUP BY payout`` aggregate of net over the same lines;
* the join floor: the bare join every full evaluation needs (each line to its payment, each
  payment to its order), with no rule evaluated, as a ratio to the baseline too;
* a full reconciliation run (``recon_run_execute``: evaluation, merge, statuses);
* writing the lines' payment/refund/dispute links (what a large run leaves to a follow-up
  task), reported on its own;
* a re-run with nothing changed (incremental: it reads the change log and finds nothing).

and checks that every planted fault was found and nothing else (``false_positives``). The
tenant and its schema are dropped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError
from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from ecomops.cli import at_least

TOLERANCE = 5  # the bench tenant's payment-vs-order tolerance, in minor units
RAW_PAD = "x" * 180  # makes line rows ~600 bytes, like the 1M-line measurements in DESIGN §4


# Upper bounds, so a slip of the keyboard is refused instead of filling the disk for hours: the
# default run is 1M lines (about 1 GB with its payments and orders); 20x that still fits here.
MAX_PAYOUTS = 200_000
MAX_LINES_PER_PAYOUT = 1_000
MAX_LINES = 20_000_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--payouts", type=at_least(1, maximum=MAX_PAYOUTS), default=10_000, help="automatic payouts to generate"
    )
    parser.add_argument(
        "--lines",
        type=at_least(2, maximum=MAX_LINES_PER_PAYOUT),
        default=100,
        help="lines per payout, its own line included",
    )
    parser.add_argument(
        "--fault-every",
        type=at_least(100, multiple_of=100, maximum=1_000_000),
        default=100,
        help="plant each kind of fault on one in N of its population (100 = ~1%%, the default; a multiple of 100)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench tenant (for inspection)")


# ---------------------------------------------------------------------- the plan


def _kind(j: int, lines: int) -> str:
    k = j % lines
    if k == lines - 1:
        return "own"
    if j % 25 == 24 and k != 0:
        return "refund"
    if j % 50 == 37 and k != 0:
        return "dispute"
    return "charge"


# charge lines, by j % every: the fault planted on them (``every`` = 100 plants 1% of each kind)
CHARGE_FAULTS = {
    3: ("line_net_mismatch", "txn"),
    5: ("line_fee_mismatch", "txn"),
    7: ("line_unmatched", "txn"),
    11: ("payment_without_order", "ch"),
    13: ("amount_mismatch", "pi"),
    17: ("line_amount_mismatch", "txn"),
    19: ("currency_mismatch", "txn"),
}
WITHIN_TOLERANCE = 15  # order total off by TOLERANCE: must NOT be an exception


def _dispute_short(j: int, every: int) -> bool:
    """A closed dispute whose withdrawal line takes 1.00 more than was disputed (1% of disputes
    at ``every`` = 100). Mirrored in SQL by ``_DISPUTE_SHORT``."""
    group = every // 50
    return (j // 50) % group == 1 and (j // 50 // group) % 50 == 3


_DISPUTE_SHORT = "(j / 50) %% (%(M)s / 50) = 1 AND (j / 50 / (%(M)s / 50)) %% 50 = 3"


def planted_faults(payouts: int, lines: int, every: int = 100) -> set[tuple[str, str]]:
    """(reason, subject source id) of every fault the generator plants, derived from the plan."""
    planted: set[tuple[str, str]] = set()
    for j in range(payouts * lines):
        kind = _kind(j, lines)
        if kind == "charge" and j % every in CHARGE_FAULTS:
            reason, prefix = CHARGE_FAULTS[j % every]
            planted.add((reason, f"{prefix}_b{j}"))
        elif kind == "refund" and (j // 25) % (every // 10) == 4:
            planted.add(("refund_without_payment", f"re_b{j}"))
        elif kind == "dispute" and (j // 50) % (every // 50) == 0:
            planted.add(("dispute_open", f"dp_b{j}"))
        elif kind == "dispute" and _dispute_short(j, every):
            planted.add(("line_amount_mismatch", f"txn_b{j}"))
    for p in range(payouts):
        if p % every == 1:
            planted.add(("payout_total_mismatch", f"po_b{p}"))
        if p % every == 2:
            planted.add(("payout_failed", f"po_b{p}"))
    for i in range(max(1, payouts // every)):
        planted.add(("manual_payout_unitemized", f"po_bm{i}"))
        if every * i + 4 < payouts:
            planted.add(("payout_reversed", f"po_b{every * i + 4}"))
    for i in range(max(1, payouts * lines // every)):
        planted.add(("order_unpaid", f"pi_bu{i}"))
    return planted


# ---------------------------------------------------------------------- generation (SQL)

_COMMON = (
    "id, tenant_id, dedupe_key, source, source_id, connection_id, subsidiary_id, raw_data, content_hash, "
    "source_created_at, source_updated_at, synced_at"
)

# j → kind and base amount, shared by every statement below (same rules as _kind above)
_PLAN = """
    SELECT j,
           CASE WHEN j %% %(L)s = %(L)s - 1 THEN 'own'
                WHEN j %% 25 = 24 AND j %% %(L)s <> 0 THEN 'refund'
                WHEN j %% 50 = 37 AND j %% %(L)s <> 0 THEN 'dispute'
                ELSE 'charge' END AS kind,
           1000 + (j * 7919) %% 9000 AS a,
           1000 + ((j - 1) * 7919) %% 9000 AS a_prev
    FROM generate_series(0::bigint, %(n)s - 1) j
"""


def _generate(tenant_id: uuid.UUID, connection_id: uuid.UUID, payouts: int, lines: int, every: int = 100) -> None:
    now = timezone.now()
    params = {
        "t": tenant_id,
        "c": connection_id,
        "ck": f"{connection_id}:",
        "L": lines,
        "n": payouts * lines,
        "P": payouts,
        "M": every,
        "old": now - timedelta(days=60),
        "recent": now - timedelta(days=30),
        "fresh": now - timedelta(days=1),
        "now": now,
        "pad": RAW_PAD,
    }
    statements = [
        # lines: charges (some in EUR settled in USD), refunds, disputes, each payout's own line
        f"""
        INSERT INTO canonical_payoutline ({_COMMON}, payout_source_id, type, reporting_category, currency,
            amount_minor, fee_minor, net_minor, fee_details, exchange_rate, source_object_id, source_object_type,
            source_order_id, available_on)
        SELECT gen_random_uuid(), %(t)s, %(ck)s || 'payout_line:txn_b' || j, 'stripe', 'txn_b' || j, %(c)s, '',
               jsonb_build_object('id', 'txn_b' || j, 'object', 'balance_transaction', 'amount', amount,
                                  'fee', fee, 'net', net, 'currency', 'usd', 'description', %(pad)s,
                                  'reporting_category', category, 'source', object_id),
               md5('txn_b' || j), %(fresh)s, NULL::timestamptz,
               %(now)s, 'po_b' || (j / %(L)s), category, category, 'USD',
               amount, fee, net,
               CASE WHEN fee_listed = 0 THEN '[]'::jsonb ELSE jsonb_build_array(jsonb_build_object(
                   'amount_minor', fee_listed, 'currency', 'USD', 'type', 'stripe_fee', 'description', 'fee')) END,
               rate, object_id, category, '', (%(old)s)::date
        FROM (
            SELECT j, category, amount, fee, rate, object_id,
                   amount - fee + CASE WHEN category = 'charge' AND j %% %(M)s = 3 THEN 1 ELSE 0 END AS net,
                   fee + CASE WHEN category = 'charge' AND j %% %(M)s = 5 THEN 2 ELSE 0 END AS fee_listed
            FROM (
                SELECT j, category, amount, rate, object_id,
                       CASE category WHEN 'charge' THEN amount * 29 / 1000 + 30
                                     WHEN 'dispute' THEN 1500 ELSE 0 END AS fee
                FROM (
                    SELECT j,
                           CASE kind WHEN 'own' THEN 'payout' ELSE kind END AS category,
                           CASE kind WHEN 'own' THEN 0
                                     WHEN 'refund' THEN -(a_prev / 4)
                                     WHEN 'dispute' THEN -a_prev - CASE WHEN {_DISPUTE_SHORT} THEN 100 ELSE 0 END
                                     ELSE CASE WHEN j %% 20 = 9 THEN (a * 11 + 5) / 10 ELSE a END END AS amount,
                           CASE WHEN kind = 'charge' AND j %% 20 = 9 THEN 1.1 END AS rate,
                           CASE kind WHEN 'own' THEN 'po_b' || (j / %(L)s) WHEN 'refund' THEN 're_b' || j
                                     WHEN 'dispute' THEN 'dp_b' || j ELSE 'ch_b' || j END AS object_id
                    FROM ({_PLAN}) plan
                ) s1
            ) s2
        ) s3
        """,
        # payouts: the sum of their lines (off by 7 on 1%), 1% failed
        f"""
        INSERT INTO canonical_payout ({_COMMON}, currency, amount_minor, status, method, automatic, arrival_date,
            failure_code, reversal_of_source_id)
        SELECT gen_random_uuid(), %(t)s, %(ck)s || 'payout:' || k, 'stripe', k, %(c)s, '',
               jsonb_build_object('id', k, 'object', 'payout'), md5(k), %(old)s, NULL::timestamptz,
               %(now)s, 'USD',
               total + CASE WHEN p %% %(M)s = 1 THEN 7 ELSE 0 END,
               CASE WHEN p %% %(M)s = 2 THEN 'failed' ELSE 'paid' END, 'standard', true, (%(old)s)::date,
               CASE WHEN p %% %(M)s = 2 THEN 'account_closed' ELSE '' END, ''
        FROM (SELECT payout_source_id AS k, substr(payout_source_id, 5)::bigint AS p,
                     sum(net_minor) FILTER (WHERE source_object_id <> payout_source_id) AS total
              FROM canonical_payoutline WHERE tenant_id = %(t)s AND connection_id = %(c)s GROUP BY payout_source_id) s
        """,
        # each payout's own line carries minus its amount
        """
        UPDATE canonical_payoutline l SET amount_minor = -po.amount_minor, net_minor = -po.amount_minor
        FROM canonical_payout po
        WHERE l.tenant_id = %(t)s AND po.tenant_id = %(t)s AND po.source_id = l.payout_source_id
          AND l.source_object_id = po.source_id
        """,
        # manual (instant) payouts with no lines, and reversals of 1% of the payouts
        f"""
        INSERT INTO canonical_payout ({_COMMON}, currency, amount_minor, status, method, automatic, arrival_date,
            failure_code, reversal_of_source_id)
        SELECT gen_random_uuid(), %(t)s, %(ck)s || 'payout:po_bm' || i, 'stripe', 'po_bm' || i, %(c)s, '',
               '{{}}'::jsonb, md5('po_bm' || i), %(old)s, NULL::timestamptz,
               %(now)s, 'USD', 5000 + i, 'paid', 'instant', false,
               (%(old)s)::date, '', ''
        FROM generate_series(0, greatest(1, %(P)s / %(M)s) - 1) i
        UNION ALL
        SELECT gen_random_uuid(), %(t)s, %(ck)s || 'payout:po_br' || i, 'stripe', 'po_br' || i, %(c)s, '',
               '{{}}'::jsonb, md5('po_br' || i), %(old)s, NULL::timestamptz,
               %(now)s, 'USD', -po.amount_minor, 'paid', 'standard',
               true, (%(old)s)::date, '', po.source_id
        FROM generate_series(0, greatest(1, %(P)s / %(M)s) - 1) i
        JOIN canonical_payout po ON po.tenant_id = %(t)s AND po.source_id = 'po_b' || (%(M)s * i + 4)
        """,
        # one payment per charge line (none for 1%), in EUR for the FX ones, GBP for 1%
        f"""
        INSERT INTO canonical_payment ({_COMMON}, order_source_id, currency, amount_minor, status, captured, gateway,
            is_gift_card, balance_transaction_source_id)
        SELECT gen_random_uuid(), %(t)s, %(ck)s || 'payment:ch_b' || j, 'stripe', 'ch_b' || j, %(c)s, '',
               jsonb_build_object('id', 'ch_b' || j, 'object', 'charge', 'amount', a, 'status', 'succeeded'),
               md5('ch_b' || j), %(old)s, NULL::timestamptz,
               %(now)s,
               CASE WHEN j %% %(M)s = 11 THEN 'pi_gone_' || j ELSE 'pi_b' || j END,
               CASE WHEN j %% 20 = 9 THEN 'EUR' WHEN j %% %(M)s = 19 THEN 'GBP' ELSE 'USD' END,
               a + CASE WHEN j %% %(M)s = 17 THEN 3 ELSE 0 END, 'succeeded', true, 'stripe', false, 'txn_b' || j
        FROM ({_PLAN}) plan WHERE kind = 'charge' AND j %% %(M)s <> 7
        """,
        # one order per payment that has one; 1% off beyond tolerance, 1% within it
        f"""
        INSERT INTO canonical_order ({_COMMON}, order_number, currency, total_minor, gift_card_sold_minor,
            financial_status, cancelled)
        SELECT gen_random_uuid(), %(t)s, %(ck)s || 'order:pi_b' || j, 'stripe', 'pi_b' || j, %(c)s, '',
               jsonb_build_object('id', 'pi_b' || j, 'object', 'payment_intent', 'amount', a),
               md5('pi_b' || j), %(old)s, NULL::timestamptz,
               %(now)s, 'ORD-' || j,
               CASE WHEN j %% 20 = 9 THEN 'EUR' WHEN j %% %(M)s = 19 THEN 'GBP' ELSE 'USD' END,
               a + CASE j %% %(M)s WHEN 13 THEN 500 WHEN {WITHIN_TOLERANCE} THEN {TOLERANCE} WHEN 17 THEN 3 ELSE 0 END,
               0, 'paid', false
        FROM ({_PLAN}) plan WHERE kind = 'charge' AND j %% %(M)s NOT IN (7, 11)
        """,
        f"""
        INSERT INTO canonical_refund ({_COMMON}, payment_source_id, order_source_id, currency, amount_minor, status,
            reason)
        SELECT gen_random_uuid(), %(t)s, %(ck)s || 'refund:re_b' || j, 'stripe', 're_b' || j, %(c)s, '',
               jsonb_build_object('id', 're_b' || j, 'object', 'refund'), md5('re_b' || j), %(old)s, NULL::timestamptz,
               %(now)s,
               CASE WHEN (j / 25) %% (%(M)s / 10) = 4 THEN 'ch_gone_' || j ELSE 'ch_b' || (j - 1) END,
               'pi_b' || (j - 1),
               'USD', a_prev / 4, 'succeeded', 'requested_by_customer'
        FROM ({_PLAN}) plan WHERE kind = 'refund'
        """,
        f"""
        INSERT INTO canonical_dispute ({_COMMON}, payment_source_id, currency, amount_minor, status, reason)
        SELECT gen_random_uuid(), %(t)s, %(ck)s || 'dispute:dp_b' || j, 'stripe', 'dp_b' || j, %(c)s, '',
               jsonb_build_object('id', 'dp_b' || j, 'object', 'dispute'), md5('dp_b' || j), %(old)s, NULL::timestamptz,
               %(now)s,
               'ch_b' || (j - 1), 'USD', a_prev,
               CASE WHEN (j / 50) %% (%(M)s / 50) = 0 THEN 'needs_response' ELSE 'lost' END,
               'fraudulent'
        FROM ({_PLAN}) plan WHERE kind = 'dispute'
        """,
        # paid orders never paid out: 1% past the grace period, 0.1% still within it
        f"""
        INSERT INTO canonical_payment ({_COMMON}, order_source_id, currency, amount_minor, status, captured, gateway,
            is_gift_card, balance_transaction_source_id)
        SELECT gen_random_uuid(), %(t)s, %(ck)s || 'payment:ch_' || tag || i, 'stripe', 'ch_' || tag || i, %(c)s, '',
               '{{}}'::jsonb, md5(tag || i), at, NULL::timestamptz,
               %(now)s, 'pi_' || tag || i, 'USD', 2000 + i, 'succeeded',
               true, 'stripe', false, ''
        FROM (SELECT 'bu' AS tag, i, (%(recent)s)::timestamptz AS at
              FROM generate_series(0, greatest(1, %(n)s / %(M)s) - 1) i
              UNION ALL
              SELECT 'bw', i, %(fresh)s FROM generate_series(0, greatest(1, %(n)s / (10 * %(M)s)) - 1) i) s
        """,
        f"""
        INSERT INTO canonical_order ({_COMMON}, order_number, currency, total_minor, gift_card_sold_minor,
            financial_status, cancelled)
        SELECT gen_random_uuid(), %(t)s, %(ck)s || 'order:pi_' || tag || i, 'stripe', 'pi_' || tag || i, %(c)s, '',
               '{{}}'::jsonb, md5('pi_' || tag || i), at, NULL::timestamptz,
               %(now)s, 'U-' || tag || i, 'USD', 2000 + i, 0, 'paid',
               false
        FROM (SELECT 'bu' AS tag, i, (%(recent)s)::timestamptz AS at
              FROM generate_series(0, greatest(1, %(n)s / %(M)s) - 1) i
              UNION ALL
              SELECT 'bw', i, %(fresh)s FROM generate_series(0, greatest(1, %(n)s / (10 * %(M)s)) - 1) i) s
        """,
    ]
    # Data at rest, as a tenant's data is by the time it is reconciled: vacuumed (hint bits
    # and visibility map set, as autovacuum would) and analyzed. Without it the first query to
    # read each freshly inserted row pays for checking its transaction and rewriting its page.
    maintenance = [
        f"VACUUM (ANALYZE) {table}"
        for table in (
            "canonical_payoutline",
            "canonical_payment",
            "canonical_order",
            "canonical_payout",
            "canonical_refund",
            "canonical_dispute",
        )
    ]
    with db.cursor() as cursor:
        cursor.execute("SET work_mem = '256MB'")
        for statement in statements:
            cursor.execute(statement, params)
        cursor.execute("RESET work_mem")
        for statement in maintenance:  # VACUUM cannot run in a transaction: autocommit here
            cursor.execute(statement)


# ---------------------------------------------------------------------- the run


def _median_seconds(sql: str, params: dict[str, Any], settings: tuple[str, ...] = ()) -> float:
    """The median of 3 timings of ``sql``, each in a transaction of its own with ``settings``."""
    timings = []
    for _ in range(3):
        with transaction.atomic(), db.cursor() as cursor:
            for statement in settings:
                cursor.execute(statement)
            started = time.perf_counter()
            cursor.execute(sql, params)
            cursor.fetchall()
            timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def _baseline(tenant_id: uuid.UUID) -> float:
    """The reference: one GROUP BY payout aggregate of net over the same lines."""
    return _median_seconds(
        "SELECT payout_source_id, sum(net_minor) FROM canonical_payoutline WHERE tenant_id = %(t)s GROUP BY 1",
        {"t": tenant_id},
    )


def _join_floor(tenant_id: uuid.UUID) -> float:
    """What any full evaluation must at least do: join every line to its payment (FULL, as the
    engine does) and every payment to its order, with the engine's settings."""
    from recon.engine import SESSION_SETTINGS

    return _median_seconds(
        """SELECT count(*), sum(pm.amount_minor), sum(o.total_minor)
           FROM (SELECT * FROM canonical_payoutline WHERE tenant_id = %(t)s) l
           FULL JOIN (SELECT * FROM canonical_payment WHERE tenant_id = %(t)s AND status = 'succeeded') pm
                  ON pm.connection_id = l.connection_id
                 AND pm.source_id = CASE WHEN l.reporting_category = 'charge' THEN l.source_object_id END
           LEFT JOIN canonical_order o ON o.tenant_id = %(t)s AND o.connection_id = pm.connection_id
                                      AND o.source_id = pm.order_source_id""",
        {"t": tenant_id},
        SESSION_SETTINGS,
    )


def _timed_run() -> tuple[Any, float]:
    from recon.models import RunTrigger
    from recon.services import recon_run_execute, recon_run_start

    started = time.perf_counter()
    run = recon_run_start(trigger=RunTrigger.BENCH, enqueue=False)
    run = recon_run_execute(run=run, write_links="skip")
    return run, time.perf_counter() - started


def run(options: dict[str, Any], out: Any) -> dict[str, Any]:
    from connections.models import Connection, ConnectionStatus
    from ecomops.tenancy import public_context, tenant_context
    from recon.models import ReconException
    from recon.services import recon_links_write
    from tenants.models import Tenant
    from tenants.services import tenant_create

    # Sizes are checked when parsed (``add_arguments``), their product here, before anything starts.
    payouts, lines = int(options["payouts"]), int(options["lines"])
    if payouts * lines > MAX_LINES:
        raise CommandError(
            f"--payouts x --lines is {payouts * lines:,} lines; at most {MAX_LINES:,} "
            "(e.g. --payouts 10000 --lines 100)."
        )
    every = int(options.get("fault_every") or 100)
    quiet = bool(options.get("json"))

    def say(text: str) -> None:
        if not quiet:
            out.write(text)

    slug = f"bench-recon-{uuid.uuid4().hex[:8]}"
    tenant = tenant_create(name="Recon benchmark", plan="enterprise", slug=slug)
    try:
        with tenant_context(tenant):
            Tenant.objects.filter(pk=tenant.pk).update(recon_amount_tolerance_minor=TOLERANCE)
            tenant.recon_amount_tolerance_minor = TOLERANCE
            conn = Connection.objects.create(
                name="Bench Stripe",
                provider="stripe",
                credentials={"api_key": "sk_test_bench_not_a_real_key"},
                status=ConnectionStatus.OK,
                last_sync_succeeded_at=timezone.now(),
            )
            say(f"generating {payouts} payouts x {lines} lines ...")
            started = time.perf_counter()
            _generate(tenant.pk, conn.pk, payouts, lines, every)
            generate_seconds = time.perf_counter() - started
            line_count = conn_lines = 0
            with db.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM canonical_payoutline WHERE tenant_id = %s", [tenant.pk])
                line_count = conn_lines = cursor.fetchone()[0]
            say(f"  {conn_lines} lines in {generate_seconds:.1f} s")
            planted = planted_faults(payouts, lines, every)

            baseline = _baseline(tenant.pk)
            say(f"baseline GROUP BY payout: {baseline:.3f} s")
            floor = _join_floor(tenant.pk)
            say(f"join floor, lines FULL JOIN payments, then orders: {floor:.3f} s = {floor / baseline:.1f}x baseline")
            full, seconds = _timed_run()
            say(f"full run ({full.mode}, {full.status}): {seconds:.2f} s = {seconds / baseline:.1f}x baseline")
            # The main pass is where the joins are; the rest (writing and merging the exceptions,
            # the statuses, the orders' check) is what a faster join could not remove.
            pass_seconds = sum(ms for label, ms in full.step_timings if label.startswith("main pass")) / 1000
            rest_seconds = seconds - pass_seconds
            say(
                f"    the main pass {pass_seconds:.2f} s = {pass_seconds / baseline:.1f}x, "
                f"everything else {rest_seconds:.2f} s = {rest_seconds / baseline:.1f}x"
            )
            for label, ms in sorted(full.step_timings, key=lambda step: -step[1])[:8]:
                say(f"    {ms / 1000:6.2f} s  {label}")
            started = time.perf_counter()
            links = recon_links_write(connection_ids=[conn.pk])
            link_seconds = time.perf_counter() - started
            say(f"links written afterwards (follow-up task): {links} lines in {link_seconds:.1f} s")
            rerun, rerun_seconds = _timed_run()
            say(f"re-run, nothing changed ({rerun.mode}): {rerun_seconds:.3f} s = {rerun_seconds / baseline:.2f}x")

            found_keys = set(
                ReconException.objects.filter(tenant_id=tenant.pk, last_seen_run=full).values_list(
                    "reason", "subject_ref"
                )
            )
            # One payout in a hundred changes at the source (as a re-synced status would): only
            # those are re-evaluated.
            with db.cursor() as cursor:
                cursor.execute(
                    """UPDATE canonical_payout SET content_hash = md5(content_hash || 'changed')
                       WHERE tenant_id = %s
                         AND source_id IN (SELECT 'po_b' || (100 * g + 50) FROM generate_series(0, %s) g)""",
                    [tenant.pk, payouts // 100],
                )
                touched = cursor.rowcount
            changed, changed_seconds = _timed_run()
            say(
                f"re-run after {touched} payouts changed ({changed.mode}, {changed.payouts_evaluated} evaluated): "
                f"{changed_seconds:.3f} s"
            )

            false_positives = sorted(found_keys - planted)
            missed = sorted(planted - found_keys)
            planted_by_reason = dict(sorted(Counter(reason for reason, _ in planted).items()))
            found_by_reason = dict(sorted(Counter(reason for reason, _ in found_keys).items()))
            for reason, count in planted_by_reason.items():
                say(f"  {reason:28} planted {count:6}  found {found_by_reason.get(reason, 0):6}")
            say(f"false positives: {len(false_positives)}  missed: {len(missed)}")
            result = {
                "payouts": payouts,
                "lines_per_payout": lines,
                "fault_every": every,
                "lines": line_count,
                "generate_seconds": round(generate_seconds, 3),
                "baseline_seconds": round(baseline, 4),
                "seconds": round(seconds, 3),
                "ratio": round(seconds / baseline, 2),
                "join_floor_seconds": round(floor, 4),
                "join_floor_ratio": round(floor / baseline, 2),
                "main_pass_seconds": round(pass_seconds, 3),
                "after_pass_seconds": round(rest_seconds, 3),
                "after_pass_ratio": round(rest_seconds / baseline, 2),
                "run_status": full.status,
                "run_mode": full.mode,
                "run_steps": full.step_timings,
                "link_write_seconds": round(link_seconds, 3),
                "links_written": links,
                "rerun_seconds": round(rerun_seconds, 4),
                "rerun_ratio": round(rerun_seconds / baseline, 3),
                "rerun_mode": rerun.mode,
                "changed_payouts": touched,
                "changed_rerun_seconds": round(changed_seconds, 4),
                "changed_rerun_payouts_evaluated": changed.payouts_evaluated,
                "rerun_exceptions_changed": rerun.exceptions_opened
                + rerun.exceptions_updated
                + rerun.exceptions_auto_resolved,
                "planted": planted_by_reason,
                "found": found_by_reason,
                "false_positives": len(false_positives),
                "false_positive_examples": [list(k) for k in false_positives[:10]],
                "missed": len(missed),
                "missed_examples": [list(k) for k in missed[:10]],
            }
    finally:
        if not options.get("keep"):
            with public_context():
                Tenant.objects.get(pk=tenant.pk).delete(force_drop=True)
    return result
