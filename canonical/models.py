"""The canonical model: one shape for Stripe's and Shopify's orders, payments, refunds,
disputes, payouts and payout lines.

Every table carries the same provenance columns (``CanonicalModel``): ``dedupe_key`` is
unique per tenant and makes every write an idempotent upsert; ``content_hash`` is the hash
of what the row was built from, so re-syncing unchanged data writes nothing. Money is an
integer in the currency's minor unit plus an ISO 4217 code, never a float.

Rows are written only by ``canonical.upsert`` (one bulk path), never one at a time.
Links between rows (a payment's order, a payout line's payment) are kept as source ids and
resolved by reconciliation, so the order in which objects arrive does not matter. A payout
line written after the payment, refund or dispute it stands for is also linked to it as it is
written; reconciliation links the rest.
"""

from __future__ import annotations

from django.db import models

from ecomops.models import TenantScopedModel


class Source(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    SHOPIFY = "shopify", "Shopify"


class CanonicalModel(TenantScopedModel):
    dedupe_key = models.CharField(max_length=255)
    source = models.CharField(max_length=16, choices=Source.choices)
    source_id = models.CharField(max_length=255)
    # No index of its own: every query of these tables names the tenant first, and the
    # (tenant, connection, source id) index serves them. A single-column index here cost
    # each synced row one more index insertion (only a connection's deletion, refused while
    # it has rows, looks rows up by connection alone).
    connection = models.ForeignKey("connections.Connection", on_delete=models.PROTECT, related_name="+", db_index=False)
    subsidiary_id = models.CharField(max_length=64, blank=True, default="")
    raw_data = models.JSONField()
    content_hash = models.CharField(max_length=32)
    source_created_at = models.DateTimeField(null=True, blank=True)
    source_updated_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField()

    # The canonical kind this table holds (canonical.rows.KIND_FIELDS).
    kind: str = ""

    class Meta:
        abstract = True
        constraints = [models.UniqueConstraint(fields=["tenant_id", "dedupe_key"], name="%(class)s_dedupe")]
        indexes = [
            models.Index(fields=["tenant_id", "connection", "source_id"], name="%(class)s_source"),
            models.Index(fields=["tenant_id", "source_created_at"], name="%(class)s_created"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.source_id}"


class Order(CanonicalModel):
    """What the customer was asked to pay: a Shopify order, or a Stripe PaymentIntent."""

    kind = "order"
    order_number = models.CharField(max_length=255, blank=True, default="")
    currency = models.CharField(max_length=3)
    total_minor = models.BigIntegerField()
    gift_card_sold_minor = models.BigIntegerField(default=0)
    financial_status = models.CharField(max_length=32, blank=True, default="")
    cancelled = models.BooleanField(default=False)

    class Meta(CanonicalModel.Meta):
        pass


class Payment(CanonicalModel):
    """Money received for an order: a Stripe charge, or a successful Shopify sale/capture."""

    kind = "payment"
    order_source_id = models.CharField(max_length=255, blank=True, default="")
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField()
    status = models.CharField(max_length=32)
    captured = models.BooleanField(default=True)
    gateway = models.CharField(max_length=64, blank=True, default="")
    is_gift_card = models.BooleanField(default=False)
    balance_transaction_source_id = models.CharField(max_length=255, blank=True, default="")

    class Meta(CanonicalModel.Meta):
        indexes = [
            *CanonicalModel.Meta.indexes,
            models.Index(fields=["tenant_id", "order_source_id"], name="payment_order"),
        ]


class Refund(CanonicalModel):
    kind = "refund"
    payment_source_id = models.CharField(max_length=255, blank=True, default="")
    order_source_id = models.CharField(max_length=255, blank=True, default="")
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField()
    status = models.CharField(max_length=32, blank=True, default="")
    reason = models.CharField(max_length=255, blank=True, default="")

    class Meta(CanonicalModel.Meta):
        indexes = [
            *CanonicalModel.Meta.indexes,
            models.Index(fields=["tenant_id", "payment_source_id"], name="refund_payment"),
        ]


class Dispute(CanonicalModel):
    kind = "dispute"
    payment_source_id = models.CharField(max_length=255, blank=True, default="")
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField()
    status = models.CharField(max_length=32)
    reason = models.CharField(max_length=255, blank=True, default="")

    class Meta(CanonicalModel.Meta):
        pass


class Payout(CanonicalModel):
    """Money the processor sent to the bank (or took back, for a reversal)."""

    kind = "payout"
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField()
    status = models.CharField(max_length=32)
    method = models.CharField(max_length=32, blank=True, default="standard")
    automatic = models.BooleanField(default=True)
    arrival_date = models.DateField(null=True, blank=True)
    failure_code = models.CharField(max_length=64, blank=True, default="")
    reversal_of_source_id = models.CharField(max_length=255, blank=True, default="")

    class Meta(CanonicalModel.Meta):
        indexes = [
            *CanonicalModel.Meta.indexes,
            models.Index(fields=["tenant_id", "arrival_date"], name="payout_arrival"),
        ]


# The reporting categories whose lines stand for a canonical object (their source_object_id),
# by the object's kind: what a line is linked to, at arrival and by reconciliation.
PAYMENT_CATEGORIES = ("charge",)
REFUND_CATEGORIES = ("refund", "refund_failure")
DISPUTE_CATEGORIES = ("dispute", "dispute_reversal")
LINKED_KINDS = {"payment": PAYMENT_CATEGORIES, "refund": REFUND_CATEGORIES, "dispute": DISPUTE_CATEGORIES}


class PayoutLine(CanonicalModel):
    """One balance transaction: what a payout paid out, line by line.

    ``payment``/``refund``/``dispute`` are filled when the line is written if the object it
    stands for is already there (``canonical.upsert``), otherwise by reconciliation once the
    line is matched.
    """

    kind = "payout_line"
    payout_source_id = models.CharField(max_length=255, blank=True, default="")
    type = models.CharField(max_length=64)
    reporting_category = models.CharField(max_length=64)
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField()
    fee_minor = models.BigIntegerField()
    net_minor = models.BigIntegerField()
    fee_details = models.JSONField(default=list)
    exchange_rate = models.DecimalField(max_digits=24, decimal_places=12, null=True, blank=True)
    source_object_id = models.CharField(max_length=255, blank=True, default="")
    source_object_type = models.CharField(max_length=64, blank=True, default="")
    source_order_id = models.CharField(max_length=255, blank=True, default="")
    available_on = models.DateField(null=True, blank=True)
    # Links written at arrival or by reconciliation (recon.engine.link_lines). Not indexed: nothing looks a
    # line up by them (the engine matches by source id), and each index made every synced
    # line and every link write-back one index insertion dearer.
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.SET_NULL, related_name="lines", db_index=False
    )
    refund = models.ForeignKey(
        Refund, null=True, blank=True, on_delete=models.SET_NULL, related_name="lines", db_index=False
    )
    dispute = models.ForeignKey(
        Dispute, null=True, blank=True, on_delete=models.SET_NULL, related_name="lines", db_index=False
    )

    class Meta(CanonicalModel.Meta):
        indexes = [
            *CanonicalModel.Meta.indexes,
            models.Index(fields=["tenant_id", "payout_source_id"], name="payoutline_payout"),
            models.Index(fields=["tenant_id", "source_object_id"], name="payoutline_object"),
        ]


CANONICAL_MODELS: dict[str, type[CanonicalModel]] = {
    model.kind: model for model in (Order, Payment, Refund, Dispute, Payout, PayoutLine)
}
