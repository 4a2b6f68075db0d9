"""Shopify streams: orders (with their payments and refunds), disputes, payouts with their
balance transactions, and every balance transaction.

Shopify's GraphQL connections page forward by cursor under a fixed search. A pass fixes its
lower time bound (``since``), pages with ``after``, and records the newest time it saw;
when the pass ends, that becomes the next pass's bound, less a look-back for objects that
change without a newer timestamp (payouts turn FAILED, lines get their payout later).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from canonical.rows import CanonicalRow
from connections.shopify import normalize as shopify_normalize
from connections.shopify.client import Page, ShopifyClient, order_truncation_warning
from connections.sync.engine import Batch, page_batches
from connections.sync.time_zone import AccountTimeZone

PAYOUT_LOOKBACK = timedelta(days=14)
LINE_LOOKBACK = timedelta(days=3)
DISPUTE_LOOKBACK = timedelta(days=60)
# Dispute statuses (as stored, lower case) after which Shopify no longer changes a dispute.
DISPUTE_FINAL_STATUSES = ("won", "lost", "accepted", "charge_refunded")
DISPUTE_GID = "gid://shopify/ShopifyPaymentsDispute/"


class ShopifyRowErrors:
    """Objects a normalizer refused: counted and reported on the job, never silently lost."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.test_orders: list[str] = []
        self.test_order_disputes: list[str] = []
        self.test_balance_transactions: list[str] = []
        # Set once the sync has removed the stored ones (``shopify_test_order_disputes_remove``).
        self.removed_test_order_disputes: list[str] = []
        self.kept_test_order_disputes: list[str] = []

    def order_rows(self, node: dict[str, Any]) -> list[CanonicalRow]:
        """An order's rows; a test order gives none and is named on the job."""
        if shopify_normalize.is_test(node):
            self.test_orders.append(str(node.get("name") or node.get("id") or "?"))
        return self.rows(shopify_normalize.normalize_order, node)

    def dispute_rows(self, node: dict[str, Any]) -> list[CanonicalRow]:
        """A dispute's row; a dispute on a test order gives none and is named on the job (once,
        though a stored open one is read twice: by the disputes stream and as an open one)."""
        dispute_id = str(node.get("id") or "?")
        if shopify_normalize.is_test_order_dispute(node) and dispute_id not in self.test_order_disputes:
            self.test_order_disputes.append(dispute_id)
        return self.rows(shopify_normalize.normalize_dispute, node)

    def balance_transaction_rows(self, node: dict[str, Any]) -> list[CanonicalRow]:
        """A balance transaction's line; a test one gives none and is named on the job (once,
        though it is read twice: with its payout and among all balance transactions)."""
        line_id = str(node.get("id") or "?")
        if shopify_normalize.is_test(node) and line_id not in self.test_balance_transactions:
            self.test_balance_transactions.append(line_id)
        return self.rows(shopify_normalize.normalize_balance_transaction, node)

    def notes(self) -> list[str]:
        """What the job reports beside its errors: the test orders and their disputes it did not book."""
        notes = []
        if self.test_orders:
            notes.append(
                f"{len(self.test_orders)} test order(s) not booked (no money moved, never paid out): "
                + _first_names(self.test_orders)
            )
        stored = {*self.removed_test_order_disputes, *self.kept_test_order_disputes}
        not_booked = [d for d in self.test_order_disputes if d not in stored]
        if not_booked:
            notes.append(
                f"{len(not_booked)} dispute(s) on test orders not booked (simulated, never paid out): "
                + _first_names(not_booked)
            )
        if self.removed_test_order_disputes:
            notes.append(
                f"{len(self.removed_test_order_disputes)} dispute(s) on test orders stored before removed "
                "(simulated, never paid out; reconciliation closes what they caused): "
                + _first_names(self.removed_test_order_disputes)
            )
        if self.kept_test_order_disputes:
            notes.append(
                f"{len(self.kept_test_order_disputes)} dispute(s) on test orders kept, as a payout line stands for "
                "them (a line never disappears; look at them): " + _first_names(self.kept_test_order_disputes)
            )
        if self.test_balance_transactions:
            notes.append(
                f"{len(self.test_balance_transactions)} test balance transaction(s) not booked "
                "(test money, never paid out): " + _first_names(self.test_balance_transactions)
            )
        return notes

    def rows(self, normalizer: Callable[[dict[str, Any]], Any], node: dict[str, Any]) -> list[CanonicalRow]:
        try:
            result = normalizer(node)
        except (ValueError, KeyError, TypeError) as exc:
            self.messages.append(f"{node.get('id', '?')}: {exc}")
            return []
        if result is None:
            return []  # the normalizer books nothing for it (a test order's dispute, say)
        return result if isinstance(result, list) else [result]


def _first_names(names: list[str]) -> str:
    return ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")


def shop_time_zone(client: ShopifyClient, errors: ShopifyRowErrors) -> AccountTimeZone:
    """The shop's time zone, in which Shopify dates its payouts: asked once, when first needed."""
    return AccountTimeZone(
        client.shop_timezone_name,
        whose="the shop's",
        unknown_means="its payouts are dated in UTC",
        messages=errors.messages,
    )


class PayoutNormalizer:
    """``normalize_payout`` in the shop's time zone, asked of Shopify when a payout first needs
    it, unless the sync asked already (an order's webhook sync never asks)."""

    def __init__(self, time_zone: AccountTimeZone) -> None:
        self.time_zone = time_zone

    def __call__(self, node: dict[str, Any]) -> CanonicalRow:
        return shopify_normalize.normalize_payout(node, self.time_zone.zone())


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _since(state: dict[str, Any], lookback: timedelta, backfill_start: date | None) -> str | None:
    floor = (
        datetime(backfill_start.year, backfill_start.month, backfill_start.day, tzinfo=UTC) if backfill_start else None
    )
    high_water = _parse(state.get("high_water"))
    candidate = high_water - lookback if high_water else None
    bound = max(filter(None, [floor, candidate]), default=None)
    return bound.isoformat().replace("+00:00", "Z") if bound else None


def forward_pass(
    state: dict[str, Any],
    *,
    lookback: timedelta,
    backfill_start: date | None,
    time_field: str,
    pages: Callable[[str | None, str | None], Iterator[Page]],
    chunks_for_page: Callable[[Page], Iterator[tuple[list[CanonicalRow], int]]],
) -> Iterator[Batch]:
    """One resumable pass over a cursor-paged connection filtered by ``time_field >= since``.

    As for Stripe, a page's rows may come in chunks; only the last moves the cursor on.
    """
    current = state.get("pass") or {
        "since": _since(state, lookback, backfill_start),
        "after": None,
        "newest": state.get("high_water"),
    }
    before_page = {"high_water": state.get("high_water"), "pass": current}
    for page in pages(current["since"], current["after"]):
        stamps = [n.get(time_field) for n in page.nodes if n.get(time_field)]
        newest = max([s for s in [current["newest"], *stamps] if s], key=_parse, default=None)
        current = {"since": current["since"], "after": page.end_cursor or current["after"], "newest": newest}
        if page.has_next_page:
            after_page = {"high_water": state.get("high_water"), "pass": current}
        else:
            after_page = {"high_water": newest, "pass": None}
        yield from page_batches(
            chunks_for_page(page), before_page=before_page, after_page=after_page, objects=len(page.nodes)
        )
        before_page = after_page


class ShopifyStream:
    def __init__(
        self,
        name: str,
        *,
        lookback: timedelta,
        backfill_start: date | None,
        time_field: str,
        pages: Callable[[str | None, str | None], Iterator[Page]],
        chunks_for_page: Callable[[Page], Iterator[tuple[list[CanonicalRow], int]]],
    ) -> None:
        self.name = name
        self.options = {
            "lookback": lookback,
            "backfill_start": backfill_start,
            "time_field": time_field,
            "pages": pages,
            "chunks_for_page": chunks_for_page,
        }

    def batches(self, state: dict[str, Any]) -> Iterator[Batch]:
        return forward_pass(state, **self.options)


def noted(pages: Iterator[Page], errors: ShopifyRowErrors) -> Iterator[Page]:
    """The pages, with what the client warns of on each (an order whose payments did not all
    fit one query) added to the job's errors: a sync that read less than there is says so."""
    for page in pages:
        errors.messages.extend(page.warnings)
        yield page


def shopify_open_dispute_ids(connection: Any) -> list[str]:
    """The connection's stored disputes not decided yet (read before the streams start: they
    read in threads of their own, away from the database)."""
    from canonical.models import Dispute

    return list(
        Dispute.objects.filter(connection_id=connection.pk, source_id__startswith=DISPUTE_GID)
        .exclude(status__in=DISPUTE_FINAL_STATUSES)
        .order_by("source_id")
        .values_list("source_id", flat=True)
    )


TEST_ORDER_DISPUTE_REMOVED = "canonical.shopify_test_order_dispute_removed"


def shopify_test_order_disputes_remove(*, job: Any, connection: Any, errors: ShopifyRowErrors) -> None:
    """Remove the stored disputes this sync found to be on test orders.

    The sync has left a test order's dispute out since it asked for ``order { test }``; one
    stored before stayed, waiting in reconciliation as an open dispute no payout will ever
    carry. Shopify now says which they are (the open ones are re-read on every sync, and a
    webhook's sync reads the one it names), so they go, in one transaction with an audit event
    each (searchable by the dispute's id, the exception's subject), and reconciliation's next
    run closes their exceptions as their cause is gone. One a payout line stands for stays and
    is named on the job. Safe to run twice: what is gone is not found again.
    """
    if not errors.test_order_disputes:
        return
    from django.db import transaction

    from audit.services import audit_record
    from canonical.upsert import rows_remove

    with transaction.atomic():
        result = rows_remove(
            kind="dispute",
            source_ids=errors.test_order_disputes,
            connection_id=connection.pk,
            tenant_id=connection.tenant_id,
        )
        for row in result.removed:
            audit_record(
                action=TEST_ORDER_DISPUTE_REMOVED,
                actor_kind="sync",
                target_type="canonical.dispute",
                target_id=row["source_id"],
                detail={
                    "connection": str(connection.pk),
                    "sync_job": str(job.pk),
                    "status": row["status"],
                    "amount_minor": row["amount_minor"],
                    "currency": row["currency"],
                    "why": "a dispute on a Shopify test order (simulated in test mode): no money moved, never paid out",
                },
            )
    errors.removed_test_order_disputes = [row["source_id"] for row in result.removed]
    errors.kept_test_order_disputes = result.kept_on_payout_lines


class ShopifyOpenDisputesStream:
    """Re-read, one by one, the disputes still open, whatever their age.

    The disputes stream re-reads those initiated in the last ``DISPUTE_LOOKBACK`` only, but
    a bank can decide a dispute later than that. Only open disputes are re-read (a shop has
    a handful at a time), so this costs a few small queries a sync, not a re-read of the
    history. No cursor: the set comes from the stored rows on each run.
    """

    name = "shopify.open_disputes"

    def __init__(self, client: ShopifyClient, ids: list[str], errors: ShopifyRowErrors) -> None:
        self.client, self.ids, self.errors = client, ids, errors

    def batches(self, state: dict[str, Any]) -> Iterator[Batch]:
        rows: list[CanonicalRow] = []
        for gid in self.ids:
            rows += dispute_rows(self.client, gid, self.errors)
        yield Batch(rows=rows, state=state, objects=len(self.ids))


def dispute_rows(client: ShopifyClient, gid: str, errors: ShopifyRowErrors) -> list[CanonicalRow]:
    dispute = client.get_dispute(gid)
    if dispute is None:
        errors.messages.append(f"{gid}: Shopify has no such dispute")
        return []
    return errors.dispute_rows(dispute)


def shopify_streams(
    client: ShopifyClient,
    *,
    backfill_start: date | None,
    errors: ShopifyRowErrors,
    time_zone: AccountTimeZone,
    open_dispute_ids: list[str] | None = None,
) -> list:
    normalize_payout = PayoutNormalizer(time_zone)

    def payout_chunks(page: Page) -> Iterator[tuple[list[CanonicalRow], int]]:
        # A payout's lines a page at a time, then the payout: memory stays flat per payout size.
        for payout in page.nodes:
            for line_page in client.iter_balance_transactions(payout_id=payout["id"]):
                yield [r for n in line_page.nodes for r in errors.balance_transaction_rows(n)], 1
            yield errors.rows(normalize_payout, payout), 0

    streams: list = [
        ShopifyStream(
            "shopify.orders",
            lookback=timedelta(0),
            backfill_start=backfill_start,
            time_field="updatedAt",
            pages=lambda since, after: noted(client.iter_orders(updated_at_min=since, after=after), errors),
            chunks_for_page=lambda page: iter([([row for node in page.nodes for row in errors.order_rows(node)], 0)]),
        ),
        ShopifyStream(
            "shopify.disputes",
            lookback=DISPUTE_LOOKBACK,
            backfill_start=backfill_start,
            time_field="initiatedAt",
            pages=lambda since, after: noted(client.iter_disputes(initiated_at_min=since, after=after), errors),
            chunks_for_page=lambda page: iter([([row for node in page.nodes for row in errors.dispute_rows(node)], 0)]),
        ),
        ShopifyStream(
            "shopify.payouts",
            lookback=PAYOUT_LOOKBACK,
            backfill_start=backfill_start,
            time_field="issuedAt",
            pages=lambda since, after: noted(client.iter_payouts(issued_at_min=since, after=after), errors),
            chunks_for_page=payout_chunks,
        ),
        ShopifyStream(
            "shopify.balance_transactions",
            lookback=LINE_LOOKBACK,
            backfill_start=backfill_start,
            time_field="transactionDate",
            pages=lambda since, after: noted(
                client.iter_balance_transactions(search=f"processed_at:>='{since}'" if since else None, after=after),
                errors,
            ),
            chunks_for_page=lambda page: iter(
                [([row for node in page.nodes for row in errors.balance_transaction_rows(node)], 0)]
            ),
        ),
    ]
    if open_dispute_ids:
        streams.append(ShopifyOpenDisputesStream(client, open_dispute_ids, errors))
    return streams


class ShopifyTargetedStream:
    """A webhook's targeted sync: re-read exactly the named orders, payouts and disputes (the
    body is not trusted)."""

    name = "shopify.targeted"

    def __init__(
        self, client: ShopifyClient, ids: list[str], errors: ShopifyRowErrors, time_zone: AccountTimeZone
    ) -> None:
        self.client, self.ids, self.errors = client, ids, errors
        self.normalize_payout = PayoutNormalizer(time_zone)

    def batches(self, state: dict[str, Any]) -> Iterator[Batch]:
        rows: list[CanonicalRow] = []
        for gid in self.ids:
            if gid.startswith("gid://shopify/Order/"):
                order = self.client.get_order(gid)
                if order is None:
                    self.errors.messages.append(f"{gid}: Shopify has no such order")
                    continue
                warning = order_truncation_warning(order)
                if warning:
                    self.errors.messages.append(warning)
                rows += self.errors.order_rows(order)
            elif gid.startswith("gid://shopify/ShopifyPaymentsPayout/"):
                for page in self.client.iter_payouts(search=f"id:{gid.rsplit('/', 1)[-1]}"):
                    for payout in page.nodes:
                        rows += self.errors.rows(self.normalize_payout, payout)
                for page in self.client.iter_balance_transactions(payout_id=gid):
                    rows += [r for n in page.nodes for r in self.errors.balance_transaction_rows(n)]
            elif gid.startswith(DISPUTE_GID):
                rows += dispute_rows(self.client, gid, self.errors)
            else:
                self.errors.messages.append(f"{gid}: no targeted fetch for this object; left to the next sync")
        yield Batch(rows=rows, state=state, objects=len(self.ids))


def shopify_targeted_streams(
    client: ShopifyClient, ids: list[str], errors: ShopifyRowErrors, time_zone: AccountTimeZone
) -> list:
    return [ShopifyTargetedStream(client, ids, errors, time_zone)]
