"""Input and output shapes of the recon API (kept apart, as CONVENTIONS asks)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from canonical.models import Payout
from ecomops.api.serializers import StrictInput, StrictUUIDField
from recon.models import RUN_COUNTS, MonthClose, ReconException, ReconRun
from recon.services import ACTIONS


class RunCreateInput(StrictInput):
    connection_ids = serializers.ListField(child=StrictUUIDField(), required=False, max_length=500)
    payout_ids = serializers.ListField(
        child=serializers.CharField(max_length=255),
        required=False,
        min_length=1,
        max_length=10_000,
        help_text="Canonical payout ids or processor payout ids (po_..., Shopify GIDs); leave it out to reconcile "
        "every payout.",
        error_messages={"min_length": "Give at least one payout, or leave payout_ids out to reconcile every payout."},
    )
    date_from = serializers.DateField(required=False, allow_null=True)
    date_to = serializers.DateField(required=False, allow_null=True)

    def validate(self, attrs: dict) -> dict:
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": ["date_to is before date_from."]})
        return attrs


class RunOutput(serializers.ModelSerializer):
    connection_ids = serializers.ListField(
        child=serializers.UUIDField(), read_only=True, help_text="The connections in scope (empty: every enabled one)."
    )
    payout_ids = serializers.ListField(child=serializers.UUIDField(), read_only=True)
    exceptions_by_reason = serializers.DictField(
        child=serializers.IntegerField(), read_only=True, help_text="What this run found, per reason."
    )
    freshness = serializers.ListField(
        child=serializers.DictField(),
        read_only=True,
        help_text="Per connection read: its last successful and failed sync, and whether it was fresh (with why not).",
    )

    class Meta:
        model = ReconRun
        fields = [
            "id",
            "status",
            "trigger",
            "mode",
            "requested_by_id",
            "requested_by_email",
            "sync_job_id",
            "correlation_id",
            "connection_ids",
            "payout_ids",
            "date_from",
            "date_to",
            *RUN_COUNTS,
            "freshness",
            "stale_reason",
            "error_message",
            "queued_at",
            "started_at",
            "finished_at",
            "duration_ms",
        ]


class ExceptionHistoryEntry(serializers.Serializer):
    """One state change of an exception, as the audit trail recorded it when it was made."""

    action = serializers.CharField(help_text="acknowledged, resolved or reopened")
    from_state = serializers.CharField(help_text="open, acknowledged or resolved")
    to_state = serializers.CharField(help_text="open, acknowledged or resolved")
    by_kind = serializers.CharField(help_text="user, or system: the engine (the cause gone, or back)")
    by_email = serializers.CharField(allow_blank=True, help_text="The person's email; empty for the system.")
    at = serializers.DateTimeField()
    note = serializers.CharField(allow_blank=True, help_text="The note given with this change (empty: none).")


class ExceptionOutput(serializers.ModelSerializer):
    payout_source_id = serializers.CharField(source="payout.source_id", default=None, read_only=True, allow_null=True)
    difference_minor = serializers.IntegerField(read_only=True, allow_null=True)
    at_stake_minor = serializers.IntegerField(
        read_only=True,
        help_text="What `?ordering=at_stake` sorts by: the difference when both amounts are known in one "
        "currency, else the amount known (0 when none is).",
    )
    at_stake_currency = serializers.CharField(
        read_only=True, help_text="The currency of `at_stake_minor` (empty: none)."
    )
    message = serializers.CharField(read_only=True)
    # A plain string in the schema: an enum named "state" collides with other apps' states.
    state = serializers.CharField(read_only=True, help_text="open, acknowledged or resolved")
    note = serializers.CharField(read_only=True, help_text="The latest person's note; `history` has every one.")
    history = ExceptionHistoryEntry(
        many=True, read_only=True, help_text="Every state change, oldest first, with who, when and the note given."
    )

    class Meta:
        model = ReconException
        fields = [
            "id",
            "reason",
            "subject_type",
            "subject_id",
            "subject_ref",
            "payout",
            "payout_source_id",
            "connection",
            "involved",
            "expected_minor",
            "expected_currency",
            "actual_minor",
            "actual_currency",
            "difference_minor",
            "at_stake_minor",
            "at_stake_currency",
            "message",
            "detail",
            "occurred_on",
            "state",
            "state_changed_at",
            "acknowledged_by_id",
            "acknowledged_by_email",
            "acknowledged_at",
            "resolved_by_kind",
            "resolved_by_id",
            "resolved_by_email",
            "resolved_at",
            "note",
            "system_note",
            "history",
            "first_seen_run",
            "last_seen_run",
            "first_seen_at",
            "last_seen_at",
        ]


class AcknowledgeInput(StrictInput):
    note = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")


class ResolveInput(StrictInput):
    note = serializers.CharField(max_length=4000, help_text="Why it is resolved (required).")


class BulkInput(StrictInput):
    ids = serializers.ListField(child=StrictUUIDField(), min_length=1, max_length=1000)
    action = serializers.ChoiceField(choices=ACTIONS)
    note = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")

    def validate(self, attrs: dict) -> dict:
        if attrs["action"] == "resolve" and not attrs.get("note", "").strip():
            raise serializers.ValidationError({"note": ["A note saying why is required to resolve exceptions."]})
        return attrs


class BulkOutput(serializers.Serializer):
    changed = serializers.ListField(child=serializers.UUIDField())
    skipped = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))


class PayoutOutput(serializers.ModelSerializer):
    """A canonical payout with what reconciliation concluded about it (None: never evaluated)."""

    connection_name = serializers.CharField(source="connection.name", read_only=True)
    recon_status = serializers.CharField(source="recon.status", read_only=True, allow_null=True, default=None)
    lines_total_minor = serializers.IntegerField(
        source="recon.lines_total_minor", read_only=True, allow_null=True, default=None
    )
    difference_minor = serializers.IntegerField(
        source="recon.difference_minor", read_only=True, allow_null=True, default=None
    )
    line_count = serializers.IntegerField(source="recon.line_count", read_only=True, allow_null=True, default=None)
    open_exceptions = serializers.IntegerField(
        source="recon.open_exceptions", read_only=True, allow_null=True, default=None
    )
    evaluated_at = serializers.DateTimeField(source="recon.evaluated_at", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Payout
        fields = [
            "id",
            "source",
            "source_id",
            "connection",
            "connection_name",
            "currency",
            "amount_minor",
            "status",
            "method",
            "automatic",
            "arrival_date",
            "recon_status",
            "lines_total_minor",
            "difference_minor",
            "line_count",
            "open_exceptions",
            "evaluated_at",
        ]


class MonthField(serializers.CharField):
    """A month as ``YYYY-MM``, validated as ``recon.close.Month``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 20)
        kwargs.setdefault("help_text", "The month, as YYYY-MM.")
        super().__init__(**kwargs)

    def run_validation(self, data: Any = serializers.empty) -> Any:
        from django.core.exceptions import ValidationError as DjangoValidationError

        from recon.close import parse_month

        value = super().run_validation(data)  # the text, its length checked
        try:
            return parse_month(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None


class MonthInput(StrictInput):
    month = MonthField()
    note = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")


class MonthCloseOutput(serializers.ModelSerializer):
    month = serializers.DateField(format="%Y-%m")

    class Meta:
        model = MonthClose
        fields = [
            "id",
            "month",
            "closed_at",
            "closed_by_email",
            "note",
            "snapshot",
            "reopened_at",
            "reopened_by_email",
            "reopen_note",
        ]


# What ``GET /recon/close/`` answers (``recon.close.month_close``), for the schema.


class CloseCheck(serializers.Serializer):
    key = serializers.ChoiceField(choices=["sources", "recon", "payouts", "exceptions", "postings"])
    passed = serializers.BooleanField()
    title = serializers.CharField()
    detail = serializers.CharField()
    link = serializers.CharField(help_text="Where to work the item; empty once it holds.")


class ClosePosting(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.CharField()
    netsuite_internal_id = serializers.CharField()
    error_code = serializers.CharField()
    amount_minor = serializers.IntegerField(help_text="Signed: a reversal is negative.")


class ClosePayout(serializers.Serializer):
    id = serializers.UUIDField()
    source_id = serializers.CharField()
    source = serializers.CharField()
    connection = serializers.CharField()
    arrival_date = serializers.DateField(help_text="Its arrival date, else the day it was created.")
    status = serializers.CharField()
    method = serializers.CharField()
    amount_minor = serializers.IntegerField()
    currency = serializers.CharField()
    recon_status = serializers.ChoiceField(choices=["reconciled", "exceptions", "pending", "unevaluated"])
    difference_minor = serializers.IntegerField(allow_null=True, help_text="null: not evaluated, or no lines.")
    open_exceptions = serializers.IntegerField()
    posting = ClosePosting(allow_null=True, help_text="null: none yet, or the postings are not yours to see.")
    reversal = ClosePosting(allow_null=True)


class ClosePayoutCounts(serializers.Serializer):
    reconciled = serializers.IntegerField()
    exceptions = serializers.IntegerField()
    pending = serializers.IntegerField()
    unevaluated = serializers.IntegerField()


class ClosePostingCounts(serializers.Serializer):
    posted = serializers.IntegerField()
    awaiting_approval = serializers.IntegerField()
    queued = serializers.IntegerField()
    failed = serializers.IntegerField()
    missing = serializers.IntegerField()


class CloseTotal(serializers.Serializer):
    source = serializers.CharField()
    currency = serializers.CharField()
    payouts = serializers.IntegerField()
    paid_minor = serializers.IntegerField()
    failed_minor = serializers.IntegerField()
    posted_minor = serializers.IntegerField(help_text="Entries and reversals posted, net.")
    not_posted_minor = serializers.IntegerField(help_text="Paid out, and not in a posted entry.")


class ClosePostedAccount(serializers.Serializer):
    source = serializers.CharField(help_text="The processor whose payouts the entries book (minor units are its own).")
    currency = serializers.CharField()
    account_id = serializers.CharField(help_text="The NetSuite internal id of the account.")
    account_name = serializers.CharField(
        allow_blank=True, help_text="NetSuite's name of the account, as the GL mapping's last check found it."
    )
    mapped_as = serializers.CharField(help_text="The GL mapping's field the account comes from (bank_account, ...).")
    debit_minor = serializers.IntegerField()
    credit_minor = serializers.IntegerField()
    lines = serializers.IntegerField()


class ClosePostedByAccount(serializers.Serializer):
    entries = serializers.IntegerField(help_text="Posted entries dated in the month (reversals included).")
    unreadable = serializers.IntegerField(
        help_text="Posted entries whose stored exchange cannot be read back: not counted, and their month unknown."
    )
    accounts = ClosePostedAccount(many=True, help_text="Per processor, currency and account, as the entries were sent.")


class CloseLastRun(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    finished_at = serializers.DateTimeField(allow_null=True)


class CloseRecord(serializers.Serializer):
    closed_at = serializers.DateTimeField()
    closed_by_email = serializers.CharField()
    note = serializers.CharField()
    changes = serializers.ListField(child=serializers.CharField(), help_text="What changed since the close.")


class MonthCloseStatus(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM")
    first_day = serializers.DateField()
    last_day = serializers.DateField()
    ready = serializers.BooleanField(help_text="Every check passed: the month may be closed.")
    checks = CloseCheck(many=True)
    payouts = ClosePayout(many=True)
    payout_counts = ClosePayoutCounts()
    posting_counts = ClosePostingCounts(allow_null=True, help_text="null: the postings are not yours to see.")
    postings_visible = serializers.BooleanField()
    open_exceptions = serializers.IntegerField()
    open_by_reason = serializers.DictField(child=serializers.IntegerField())
    totals = CloseTotal(many=True, help_text="Per processor and currency.")
    posted_by_account = ClosePostedByAccount(
        allow_null=True,
        help_text="What NetSuite holds dated in the month, per account, to tie out against its ledger; "
        "null: the postings are not yours to see, or no NetSuite connection is enabled.",
    )
    last_run = CloseLastRun(allow_null=True)
    closed = CloseRecord(allow_null=True, help_text="null: the month is open.")


# What ``GET /recon/payouts/<id>/explain/`` answers (``recon.selectors.payout_explain``), for the schema.


class ExplainConnection(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    provider = serializers.CharField()


class ExplainPayout(serializers.Serializer):
    id = serializers.UUIDField()
    source_id = serializers.CharField()
    source = serializers.CharField()
    connection = ExplainConnection()
    currency = serializers.CharField()
    amount_minor = serializers.IntegerField()
    status = serializers.CharField()
    automatic = serializers.BooleanField()
    method = serializers.CharField()
    arrival_date = serializers.DateField(allow_null=True)
    failure_code = serializers.CharField(allow_null=True)
    reversal_of_source_id = serializers.CharField(allow_null=True)


class ExplainCategory(serializers.Serializer):
    count = serializers.IntegerField()
    amount_minor = serializers.IntegerField()
    fee_minor = serializers.IntegerField()
    net_minor = serializers.IntegerField()


class ExplainLine(serializers.Serializer):
    id = serializers.UUIDField()
    source_id = serializers.CharField()
    type = serializers.CharField()
    category = serializers.CharField()
    currency = serializers.CharField()
    amount_minor = serializers.IntegerField()
    fee_minor = serializers.IntegerField()
    net_minor = serializers.IntegerField()
    exchange_rate = serializers.CharField(allow_null=True)
    source_object_id = serializers.CharField(allow_null=True)
    source_object_type = serializers.CharField(allow_null=True)
    source_order_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField(allow_null=True)
    own_payout_line = serializers.BooleanField(help_text="The payout's own line: listed, never summed.")
    net_ok = serializers.BooleanField(help_text="net = amount - fee")
    fee_ok = serializers.BooleanField(help_text="fee = the sum of its fee details")
    matched = serializers.DictField(
        allow_null=True,
        help_text="What the line stands for: a payment (with its order), refund, dispute or payout, by `type`.",
    )
    exceptions = serializers.ListField(
        child=serializers.CharField(), help_text="Reasons of the open exceptions of the line and what it stands for."
    )


class ExplainException(serializers.Serializer):
    id = serializers.UUIDField()
    reason = serializers.CharField()
    state = serializers.CharField()
    subject_type = serializers.CharField()
    subject_ref = serializers.CharField()
    expected_minor = serializers.IntegerField(allow_null=True)
    expected_currency = serializers.CharField()
    actual_minor = serializers.IntegerField(allow_null=True)
    actual_currency = serializers.CharField()
    difference_minor = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()
    note = serializers.CharField(help_text="The latest person's note; `history` has every one.")
    system_note = serializers.CharField()
    history = ExceptionHistoryEntry(many=True, help_text="Every state change, oldest first.")


class ExplainOutput(serializers.Serializer):
    payout = ExplainPayout()
    status = serializers.CharField(allow_null=True, help_text="What the last run concluded; null: never evaluated.")
    evaluated_at = serializers.DateTimeField(allow_null=True)
    last_run_id = serializers.UUIDField(allow_null=True)
    lines_total_minor = serializers.IntegerField(allow_null=True, help_text="null: the payout has no lines.")
    difference_minor = serializers.IntegerField(allow_null=True, help_text="The payout amount minus its lines' net.")
    difference = serializers.CharField(allow_null=True, help_text="The difference in major units, with its currency.")
    by_category = serializers.DictField(child=ExplainCategory(), help_text="Every line but the payout's own.")
    line_count = serializers.IntegerField()
    own_line_count = serializers.IntegerField()
    lines_truncated = serializers.BooleanField(help_text="Only the first `line_limit` lines are listed.")
    lines = ExplainLine(many=True)
    exceptions = ExplainException(many=True)
    summary = serializers.CharField()
