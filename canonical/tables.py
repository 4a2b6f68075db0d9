"""django-tables2 tables for the data pages: the columns each table shows by default."""

from __future__ import annotations

import django_tables2 as tables
from django.utils.html import format_html

from canonical.models import Dispute, Order, Payment, Payout, PayoutLine, Refund
from ecomops.money import format_minor


class MoneyColumn(tables.Column):
    """An integer amount in minor units, shown in the row's currency (exactly, never via float)."""

    attrs = {"td": {"class": "num"}, "th": {"class": "num"}}

    def render(self, value, record):
        return format_minor(value, record.currency, record.source)


class CanonicalTable(tables.Table):
    source_id = tables.Column(verbose_name="Source id")
    source_created_at = tables.DateTimeColumn(format="Y-m-d H:i", verbose_name="Created")

    class Meta:
        attrs = {"class": "data"}
        template_name = "django_tables2/table.html"
        order_by = "-source_created_at"


class OrderTable(CanonicalTable):
    total_minor = MoneyColumn(verbose_name="Total")
    gift_card_sold_minor = MoneyColumn(verbose_name="Gift cards sold")

    class Meta(CanonicalTable.Meta):
        model = Order
        fields = (
            "source_id",
            "order_number",
            "currency",
            "total_minor",
            "gift_card_sold_minor",
            "financial_status",
            "cancelled",
            "source",
            "source_created_at",
        )


class PaymentTable(CanonicalTable):
    amount_minor = MoneyColumn(verbose_name="Amount")

    class Meta(CanonicalTable.Meta):
        model = Payment
        fields = (
            "source_id",
            "order_source_id",
            "currency",
            "amount_minor",
            "status",
            "gateway",
            "is_gift_card",
            "source",
            "source_created_at",
        )


class RefundTable(CanonicalTable):
    amount_minor = MoneyColumn(verbose_name="Amount")

    class Meta(CanonicalTable.Meta):
        model = Refund
        fields = (
            "source_id",
            "payment_source_id",
            "currency",
            "amount_minor",
            "status",
            "reason",
            "source",
            "source_created_at",
        )


class DisputeTable(CanonicalTable):
    amount_minor = MoneyColumn(verbose_name="Amount")

    class Meta(CanonicalTable.Meta):
        model = Dispute
        fields = (
            "source_id",
            "payment_source_id",
            "currency",
            "amount_minor",
            "status",
            "reason",
            "source",
            "source_created_at",
        )


class PayoutTable(CanonicalTable):
    amount_minor = MoneyColumn(verbose_name="Amount")
    arrival_date = tables.DateColumn(format="Y-m-d", verbose_name="Arrival date")

    class Meta(CanonicalTable.Meta):
        model = Payout
        fields = (
            "source_id",
            "currency",
            "amount_minor",
            "status",
            "method",
            "automatic",
            "arrival_date",
            "source",
            "source_created_at",
        )

    def render_source_id(self, value, record):
        # another table: the whole page (its tabs and filters), not only the table swapped
        return format_html('<a href="?table=payout_lines&payout_source_id={}" hx-boost="false">{}</a>', value, value)


class PayoutLineTable(CanonicalTable):
    amount_minor = MoneyColumn(verbose_name="Amount")
    fee_minor = MoneyColumn(verbose_name="Fee")
    net_minor = MoneyColumn(verbose_name="Net")

    class Meta(CanonicalTable.Meta):
        model = PayoutLine
        fields = (
            "source_id",
            "payout_source_id",
            "reporting_category",
            "currency",
            "amount_minor",
            "fee_minor",
            "net_minor",
            "source_object_id",
            "source",
            "source_created_at",
        )


TABLES = {
    "orders": ("Orders", OrderTable),
    "payments": ("Payments", PaymentTable),
    "refunds": ("Refunds", RefundTable),
    "disputes": ("Disputes", DisputeTable),
    "payouts": ("Payouts", PayoutTable),
    "payout_lines": ("Payout lines", PayoutLineTable),
}
