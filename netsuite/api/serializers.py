"""API shapes for NetSuite posting: input and output serializers kept apart."""

from __future__ import annotations

from rest_framework import serializers

from ecomops.api.serializers import StrictInput, StrictUUIDField
from netsuite.models import ACCOUNT_FIELDS, GlMapping, NetsuitePosting
from netsuite.services import BULK_ACTIONS, BULK_LIMIT, POSTING_MODES
from recon.api.serializers import MonthField

MAX_SUITEQL_ROWS = 5000


class GlMappingOutput(serializers.ModelSerializer):
    connection_name = serializers.CharField(source="connection.name", read_only=True)
    netsuite_connection_name = serializers.CharField(source="netsuite_connection.name", read_only=True)

    class Meta:
        model = GlMapping
        fields = [
            "id",
            "connection",
            "connection_name",
            "netsuite_connection",
            "netsuite_connection_name",
            "subsidiary_id",
            *ACCOUNT_FIELDS,
            "currency_ids",
            "created_at",
            "updated_at",
            "checked_at",
        ]


# One optional field per mapping account (bank_account, clearing_account, ...), declared once.
AccountInputs = type(
    "AccountInputs",
    (StrictInput,),
    {
        name: serializers.CharField(
            required=False, allow_blank=True, max_length=32, help_text="NetSuite internal id of the account"
        )
        for name in ACCOUNT_FIELDS
    },
)


class GlMappingCreateInput(AccountInputs):
    connection = StrictUUIDField(help_text="The Stripe or Shopify connection whose payouts this maps.")
    netsuite_connection = StrictUUIDField(help_text="The NetSuite connection the entries go to.")
    subsidiary_id = serializers.CharField(max_length=64)
    currency_ids = serializers.DictField(child=serializers.CharField(max_length=32), required=False)


class GlMappingUpdateInput(AccountInputs):
    require_one = True

    netsuite_connection = StrictUUIDField(required=False)
    subsidiary_id = serializers.CharField(max_length=64, required=False)
    currency_ids = serializers.DictField(child=serializers.CharField(max_length=32), required=False)


class PostingOutput(serializers.ModelSerializer):
    connection_name = serializers.CharField(source="connection.name", read_only=True)

    class Meta:
        model = NetsuitePosting
        fields = [
            "id",
            "payout",
            "kind",
            "connection",
            "connection_name",
            "source",
            "source_id",
            "external_id",
            "state",
            "amount_minor",
            "currency",
            "arrival_date",
            "attempts",
            "netsuite_internal_id",
            "error_code",
            "last_error",
            "approved_by_email",
            "approved_at",
            "sending_started_at",
            "send_queued_at",
            "resumes",
            "settle_attempts",
            "next_settle_at",
            "posted_at",
            "created_at",
            "updated_at",
        ]


class PostingDetailOutput(PostingOutput):
    """With the last request and response (secrets removed) and every attempt of the last send."""

    class Meta(PostingOutput.Meta):
        fields = [*PostingOutput.Meta.fields, "request", "response", "exchanges"]


class PostingsBulkInput(StrictInput):
    ids = serializers.ListField(child=StrictUUIDField(), min_length=1, max_length=BULK_LIMIT)
    action = serializers.ChoiceField(choices=list(BULK_ACTIONS), help_text="approve drafts, or retry failed postings")


class EntryLineOutput(serializers.Serializer):  # netsuite.services.EntryLine
    account_id = serializers.CharField(help_text="The NetSuite internal id of the account.")
    account_name = serializers.CharField(
        allow_blank=True, help_text="NetSuite's name of the account, as the GL mapping's last check found it."
    )
    mapped_as = serializers.CharField(
        allow_blank=True, help_text="The GL mapping's field the account comes from (bank_account, ...)."
    )
    memo = serializers.CharField()
    debit_minor = serializers.IntegerField()
    credit_minor = serializers.IntegerField()


class PostingEntryOutput(serializers.Serializer):
    """A posting's journal entry, line by line, in minor units of its currency."""

    posting = serializers.UUIDField()
    kind = serializers.CharField()
    state = serializers.CharField()
    origin = serializers.ChoiceField(
        choices=["sent", "to_send", "blocked"],
        help_text="sent: the entry NetSuite holds; to_send: what approving or retrying the posting would send "
        "now; blocked: nothing would be sent (see blocked).",
    )
    external_id = serializers.CharField()
    tran_date = serializers.CharField(allow_blank=True)
    subsidiary_id = serializers.CharField(allow_blank=True)
    currency = serializers.CharField()
    currency_id = serializers.CharField(allow_blank=True, help_text="The NetSuite internal id of the currency.")
    memo = serializers.CharField(allow_blank=True)
    lines = EntryLineOutput(many=True)
    debit_minor = serializers.IntegerField()
    credit_minor = serializers.IntegerField()
    blocked = serializers.DictField(
        child=serializers.CharField(), allow_null=True, help_text="Why nothing would be sent: code and detail."
    )


class PostingsBulkOutput(serializers.Serializer):
    changed = serializers.ListField(child=serializers.UUIDField(), help_text="approved or queued again, in that order")
    skipped = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField()),
        help_text="left as they were: id, payout, code and reason",
    )


class PostingsComputedOutput(serializers.Serializer):
    drafts = serializers.IntegerField()
    approved = serializers.IntegerField()
    reversals = serializers.IntegerField()
    skipped_reason = serializers.CharField()


class SuiteQLInput(StrictInput):
    connection = StrictUUIDField(help_text="A NetSuite connection of this tenant.")
    q = serializers.CharField(help_text="One read-only SELECT statement.", trim_whitespace=True)
    limit = serializers.IntegerField(required=False, default=100, min_value=1, max_value=MAX_SUITEQL_ROWS)


class SuiteQLOutput(serializers.Serializer):
    rows = serializers.ListField(child=serializers.DictField())
    count = serializers.IntegerField()
    total_results = serializers.IntegerField(allow_null=True)
    truncated = serializers.BooleanField()
    truncation_reason = serializers.CharField(allow_null=True)
    warnings = serializers.ListField(child=serializers.CharField())


class CheckedIdOutput(serializers.Serializer):
    field = serializers.CharField(help_text="bank_account..., subsidiary_id, or currency_ids.<ISO code>")
    internal_id = serializers.CharField()
    status = serializers.ChoiceField(choices=["ok", "inactive", "missing", "other_currency", "unmapped"])
    name = serializers.CharField(help_text="NetSuite's name for it (an account's number and name)")
    kind = serializers.CharField(help_text="An account's type")


class MappingCheckOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    problems = serializers.ListField(child=serializers.CharField())
    subsidiary = CheckedIdOutput()
    accounts = CheckedIdOutput(many=True)
    currencies = CheckedIdOutput(many=True)
    checked_at = serializers.DateTimeField()


class EntriesVerifyInput(StrictInput):
    month = MonthField(help_text="The month whose entries to look up, as YYYY-MM.")


class AccountDriftOutput(serializers.Serializer):
    account_id = serializers.CharField()
    sent_minor = serializers.IntegerField(help_text="Debit minus credit on the account, as the entry was sent")
    held_minor = serializers.IntegerField(help_text="Debit minus credit on the account, as NetSuite holds it now")


class EntryDriftOutput(serializers.Serializer):
    posting = serializers.UUIDField()
    kind = serializers.CharField()
    payout = serializers.UUIDField()
    source = serializers.CharField()
    source_id = serializers.CharField()
    external_id = serializers.CharField()
    netsuite_internal_id = serializers.CharField()
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=["missing", "changed"], help_text="deleted in NetSuite, or edited there")
    sent_date = serializers.CharField(help_text="The entry's date as sent (YYYY-MM-DD)")
    held_date = serializers.CharField(allow_blank=True, help_text="Its date in NetSuite now; empty when missing")
    accounts = AccountDriftOutput(many=True, help_text="The accounts whose amounts differ (changed only)")


class EntriesVerifiedOutput(serializers.Serializer):
    month = serializers.CharField()
    first_day = serializers.DateField()
    last_day = serializers.DateField()
    entries = serializers.IntegerField(help_text="Posted entries dated in the month, each looked up in NetSuite")
    held = serializers.IntegerField(help_text="Of those, found as sent")
    not_checked = serializers.IntegerField(
        help_text="Posted, but what was sent cannot be read back or no GL mapping names its NetSuite account now"
    )
    drift = EntryDriftOutput(many=True)


class PostingSettings(StrictInput):
    posting_mode = serializers.ChoiceField(choices=POSTING_MODES)
