"""Stripe streams: charges, payment intents, refunds, disputes, payouts with their lines,
and every balance transaction.

Stripe lists newest first, so a pass reads ``created >= floor`` from the top and pages
down with ``starting_after``. The stream state holds ``high_water`` (the newest ``created``
of the last complete pass) and, inside a pass, ``pass`` = the floor, the id to resume after,
and the newest ``created`` seen. A pass re-reads a look-back window below the high-water
mark: Stripe changes objects after creating them (a payout fails days after it was paid, a
dispute is won weeks later), and an unchanged object costs a read, not a write.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

from canonical.rows import CanonicalRow
from connections.stripe import normalize as stripe_normalize
from connections.stripe.client import Page, StripeApi, StripeNotFoundError
from connections.sync.engine import Batch, Deferred, page_batches
from connections.sync.time_zone import AccountTimeZone

DAY = 86_400
# (stream, list resource, look-back below the high-water mark)
LIST_STREAMS = (
    ("stripe.payment_intents", "payment_intents", 2 * DAY),
    ("stripe.charges", "charges", 7 * DAY),
    ("stripe.refunds", "refunds", 7 * DAY),
    ("stripe.disputes", "disputes", 60 * DAY),
)
PAYOUT_LOOKBACK = 14 * DAY
BALANCE_TRANSACTION_LOOKBACK = 2 * DAY
# Refund statuses Stripe has not settled yet (succeeded, failed or canceled are settled; a
# succeeded one failing later is read with its refund_failure balance transaction).
REFUND_OPEN_STATUSES = ("pending", "requires_action")
# Dispute statuses after which Stripe no longer changes a dispute.
DISPUTE_FINAL_STATUSES = ("won", "lost", "warning_closed", "prevented")


class RowErrors:
    """Objects a normalizer refused: counted and reported on the job, never silently lost."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def notes(self) -> list[str]:
        """What the job reports beside its errors (nothing, for Stripe)."""
        return []

    def normalize(self, obj: dict[str, Any], **kwargs: Any) -> CanonicalRow | None:
        try:
            return stripe_normalize.normalize(obj, **kwargs)
        except (ValueError, KeyError, TypeError) as exc:
            self.messages.append(f"{obj.get('object', 'object')} {obj.get('id', '?')}: {exc}")
            return None


def _floor(state: dict[str, Any], lookback: int, backfill_start: date | None) -> int:
    backfill = calendar.timegm(backfill_start.timetuple()) if backfill_start else 0
    high_water = state.get("high_water")
    return max(backfill, high_water - lookback) if high_water else backfill


def paged_pass(
    state: dict[str, Any],
    *,
    lookback: int,
    backfill_start: date | None,
    pages: Callable[[int, str | None], Iterator[Page]],
    chunks_for_page: Callable[[Page], Iterator[tuple[list[CanonicalRow], int]]],
) -> Iterator[Batch]:
    """One pass over a newest-first list, resumable after any yielded batch.

    ``chunks_for_page`` yields a page's rows in chunks, each with the number of further
    pages read for it (a payout's lines). Only the last chunk of a page moves the cursor
    past the page; a crash inside a page re-reads it, which the upsert makes harmless.
    """
    current = state.get("pass") or {
        "floor": _floor(state, lookback, backfill_start),
        "after": None,
        "newest": state.get("high_water"),
    }
    before_page = {"high_water": state.get("high_water"), "pass": current}
    for page in pages(current["floor"], current["after"]):
        newest = max(filter(None, [current["newest"], page.max_created]), default=None)
        current = {"floor": current["floor"], "after": page.next_cursor, "newest": newest}
        if page.has_more:
            after_page = {"high_water": state.get("high_water"), "pass": current}
        else:
            after_page = {"high_water": newest, "pass": None}
        yield from page_batches(
            chunks_for_page(page), before_page=before_page, after_page=after_page, objects=len(page.data)
        )
        before_page = after_page


class StripeListStream:
    def __init__(
        self,
        name: str,
        resource: str,
        lookback: int,
        api: StripeApi,
        backfill_start: date | None,
        errors: RowErrors,
        *,
        lane: int = 0,
    ) -> None:
        self.name, self.resource, self.lookback, self.lane = name, resource, lookback, lane
        self.api, self.backfill_start, self.errors = api, backfill_start, errors

    def chunks_for_page(self, page: Page) -> Iterator[tuple]:
        yield [r for r in map(self.errors.normalize, page.data) if r], 0

    def batches(self, state: dict[str, Any]) -> Iterator[Batch]:
        return paged_pass(
            state,
            lookback=self.lookback,
            backfill_start=self.backfill_start,
            pages=lambda floor, after: self.api.iter_pages(self.resource, created_gte=floor, starting_after=after),
            chunks_for_page=self.chunks_for_page,
        )


class StripeBalanceTransactionStream(StripeListStream):
    """Every balance transaction, for the lines not paid out yet.

    A balance transaction changes only while it is pending (``status``, ``available_on``);
    one that sits in a payout was available when paid out, and the payout stream, read
    before this one in its lane, stored it already. So a line already linked to a payout is
    final: read again here, it is neither normalized nor written (on a backfill that is
    every paid-out line, a quarter of all objects read).
    """

    FINAL = "payout_source_id <> ''"

    def __init__(self, api: StripeApi, backfill_start: date | None, errors: RowErrors) -> None:
        super().__init__(
            "stripe.balance_transactions",
            "balance_transactions",
            BALANCE_TRANSACTION_LOOKBACK,
            api,
            backfill_start,
            errors,
            lane=1,
        )

    def chunks_for_page(self, page: Page) -> Iterator[tuple]:
        refunds, reads = failed_refund_rows(self.api, page.data, self.errors)
        yield (
            refunds,
            reads,
            Deferred(
                kind="payout_line",
                objects=page.data,
                source_id=lambda obj: obj.get("id") or "",
                build=self.errors.normalize,
                final_when=self.FINAL,
            ),
        )


def failed_refund_rows(api: StripeApi, transactions: list[dict[str, Any]], errors: RowErrors) -> tuple[list, int]:
    """The refunds that ``refund_failure`` balance transactions say failed, read again, and the
    number of reads. A card refund can fail weeks after it succeeded (the card was closed): the
    refunds stream's look-back no longer reads it, but the failure's balance transaction is new,
    so the refund comes along with it, and its order says paid again. Failures are rare: a
    read each, and only for the balance transactions of the look-back window."""
    rows: list[CanonicalRow] = []
    reads = 0
    for transaction in transactions:
        source = transaction.get("source")
        refund_id = source.get("id") if isinstance(source, dict) else source
        if transaction.get("type") != "refund_failure" or not isinstance(refund_id, str):
            continue
        if RETRIEVERS.get(refund_id.split("_", 1)[0]) != "refunds":
            continue
        reads += 1
        try:
            refund = api.retrieve("refunds", refund_id)
        except StripeNotFoundError:
            errors.messages.append(f"{refund_id}: Stripe no longer has the refund that failed; the stored copy is kept")
            continue
        row = errors.normalize(refund)
        if row is not None:
            rows.append(row)
    return rows, reads


class StripePayoutStream:
    """Payouts, each with every balance transaction it paid out (automatic payouts only:
    Stripe cannot itemize a manual payout, which reconciliation reports as such)."""

    name = "stripe.payouts"
    lane = 1

    def __init__(self, api: StripeApi, backfill_start: date | None, errors: RowErrors) -> None:
        self.api, self.backfill_start, self.errors = api, backfill_start, errors

    def chunks_for_payout(self, payout: dict[str, Any]) -> Iterator[tuple[list[CanonicalRow], int]]:
        """The payout's lines a page at a time (a payout can pay out many thousands), then the payout."""
        if payout.get("automatic"):
            for page in self.api.payout_balance_transaction_pages(payout["id"]):
                rows = [self.errors.normalize(bt, payout_source_id=payout["id"]) for bt in page.data]
                yield [r for r in rows if r is not None], 1
        row = self.errors.normalize(payout)
        yield ([row] if row is not None else []), 0

    def rows_for_payout(self, payout: dict[str, Any]) -> list[CanonicalRow]:
        return [row for rows, _ in self.chunks_for_payout(payout) for row in rows]

    def chunks_for_page(self, page: Page) -> Iterator[tuple[list[CanonicalRow], int]]:
        for payout in page.data:
            yield from self.chunks_for_payout(payout)

    def batches(self, state: dict[str, Any]) -> Iterator[Batch]:
        return paged_pass(
            state,
            lookback=PAYOUT_LOOKBACK,
            backfill_start=self.backfill_start,
            pages=lambda floor, after: self.api.payout_pages(created_gte=floor, starting_after=after),
            chunks_for_page=self.chunks_for_page,
        )


def stripe_account_time_zone(api: StripeApi, errors: RowErrors) -> AccountTimeZone:
    """The account's time zone, its dashboard's (``settings.dashboard.timezone``). The sync
    dates nothing by it (Stripe's timestamps are absolute); the month close ends the
    account's month at midnight there."""

    def read() -> str:
        account = api.retrieve_account()
        settings = account.get("settings") if isinstance(account, dict) else None
        dashboard = settings.get("dashboard") if isinstance(settings, dict) else None
        name = dashboard.get("timezone") if isinstance(dashboard, dict) else None
        return name if isinstance(name, str) else ""

    return AccountTimeZone(
        read,
        whose="the Stripe account's",
        unknown_means="the month close keeps the time zone read before, or judges the account in UTC",
        messages=errors.messages,
    )


def stripe_open_ids(connection: Any) -> list[str]:
    """The connection's stored objects Stripe may still change however old they are: disputes
    not decided yet, PaymentIntents authorized but not captured yet, and refunds still on
    their way (a refund can stay pending for weeks). Read from the database, so before the
    streams start (they read in threads of their own)."""
    from canonical.models import Dispute, Order, Refund

    disputes = (
        Dispute.objects.filter(connection_id=connection.pk)
        .exclude(status__in=DISPUTE_FINAL_STATUSES)
        .order_by("source_id")
        .values_list("source_id", flat=True)
    )
    intents = (
        Order.objects.filter(connection_id=connection.pk, financial_status="authorized", source_id__startswith="pi_")
        .order_by("source_id")
        .values_list("source_id", flat=True)
    )
    refunds = (
        Refund.objects.filter(connection_id=connection.pk, status__in=REFUND_OPEN_STATUSES)
        .order_by("source_id")
        .values_list("source_id", flat=True)
    )
    return [*disputes, *intents, *refunds]


class StripeOpenObjectsStream:
    """Re-read, one by one, objects that are still open, whatever their age.

    A list stream's look-back re-reads recent objects only, but a dispute can be decided
    months after it opened, a card authorization captured up to 7 days after it was made
    (beyond the PaymentIntents' look-back), and a refund can stay pending for weeks. Only open
    ones are re-read: a dispute stays open for weeks, an authorization a week at most, so this
    is a few requests a sync, not a re-read of the history. No cursor: the set comes from the stored rows on each run.
    """

    name = "stripe.open_objects"
    chunk = 100

    def __init__(self, api: StripeApi, ids: list[str], errors: RowErrors) -> None:
        self.api, self.ids, self.errors = api, ids, errors

    def batches(self, state: dict[str, Any]) -> Iterator[Batch]:
        for start in range(0, len(self.ids), self.chunk):
            ids = self.ids[start : start + self.chunk]
            rows: list[CanonicalRow] = []
            for obj_id in ids:
                try:
                    obj = self.api.retrieve(RETRIEVERS[obj_id.split("_", 1)[0]], obj_id)
                except StripeNotFoundError:
                    self.errors.messages.append(f"{obj_id}: Stripe no longer has it; the stored copy is kept")
                    continue
                row = self.errors.normalize(obj)
                if row is not None:
                    rows.append(row)
            yield Batch(rows=rows, state=state, objects=len(ids))


def stripe_streams(
    api: StripeApi, *, backfill_start: date | None, errors: RowErrors, open_ids: list[str] | None = None
) -> list:
    """Two lanes read side by side (``run_streams``): the objects (lane 0), and the money
    movements (lane 1): payouts with their lines, then every balance transaction."""
    streams: list = [StripeListStream(n, r, lb, api, backfill_start, errors) for n, r, lb in LIST_STREAMS]
    if open_ids:
        streams.append(StripeOpenObjectsStream(api, open_ids, errors))
    streams.append(StripePayoutStream(api, backfill_start, errors))
    # After the payouts in their lane, so lines not yet paid out are known too, and the lines
    # read above are known final (the upsert keeps their payout links either way).
    streams.append(StripeBalanceTransactionStream(api, backfill_start, errors))
    return streams


RETRIEVERS = {
    "ch": "charges",
    "py": "charges",
    "pi": "payment_intents",
    "re": "refunds",
    "pyr": "refunds",
    "dp": "disputes",
    "du": "disputes",
    "po": "payouts",
    "txn": "balance_transactions",
}


class StripeTargetedStream:
    """A webhook's targeted sync: fetch exactly the named objects (never trust the body).

    A charge brings its refunds along: ``charge.refunded`` names the charge only, and since
    API version 2022-11-15 the charge no longer lists its refunds, so without them the refund
    (and the match of its payout line) would wait for the next full sync.
    """

    name = "stripe.targeted"

    def __init__(self, api: StripeApi, ids: list[str], errors: RowErrors, payout_stream: StripePayoutStream) -> None:
        self.api, self.ids, self.errors, self.payout_stream = api, ids, errors, payout_stream

    def batches(self, state: dict[str, Any]) -> Iterator[Batch]:
        rows: list[CanonicalRow] = []
        objects = 0
        for obj_id in self.ids:
            resource = RETRIEVERS.get(obj_id.split("_", 1)[0])
            if resource is None:
                self.errors.messages.append(f"{obj_id}: not a Stripe object this product syncs")
                continue
            obj = self.api.retrieve(resource, obj_id)
            objects += 1
            if resource == "payouts":
                rows.extend(self.payout_stream.rows_for_payout(obj))
                continue
            row = self.errors.normalize(obj)
            if row is not None:
                rows.append(row)
            if resource == "charges" and _has_refunds(obj):
                for page in self.api.charge_refund_pages(obj_id):
                    objects += len(page.data)
                    rows.extend(r for r in map(self.errors.normalize, page.data) if r)
        yield Batch(rows=rows, state=state, objects=objects)


def _has_refunds(charge: dict[str, Any]) -> bool:
    """Whether a charge, as Stripe answered it, was ever refunded. A refund that failed later
    gives its amount back to ``amount_refunded`` but arrives as a ``refund`` event of its own."""
    refunded = charge.get("amount_refunded")
    return bool(charge.get("refunded")) or (isinstance(refunded, int) and refunded > 0)
