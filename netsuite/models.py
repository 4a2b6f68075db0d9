"""GL mappings and journal-entry postings: the tenant data of NetSuite posting (DESIGN §6).

Both models are tenant data (``TenantScopedModel``: uuid key, ``tenant_id``, row-level
security installed by ``ecomops.apps``). Rows are written by ``netsuite.services`` only.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from ecomops.models import TenantScopedModel
from ecomops.money import format_minor
from netsuite import journal

# The mapping's account fields, in the order the admin and the API show them, with the
# ``netsuite.journal.GlMapping`` attribute each one fills.
ACCOUNT_FIELDS: dict[str, str] = {
    "bank_account": "bank",
    "clearing_account": "clearing",
    "processor_fees_account": "processor_fees",
    "refunds_account": "refunds",
    "chargebacks_account": "chargebacks",
    "dispute_fees_account": "dispute_fees",
    "adjustments_account": "adjustments",
    "reserves_account": "reserves",
    "fx_gain_loss_account": "fx_gain_loss",
}


def _account_field(label: str) -> models.CharField:
    return models.CharField(
        max_length=32, blank=True, default="", help_text=f"NetSuite internal id of the {label} account."
    )


class GlMapping(TenantScopedModel):
    """Where one payment connection's payouts are booked in NetSuite, for one subsidiary.

    ``connection`` is the Stripe or Shopify connection whose payouts this maps; its payouts
    carry the subsidiary they belong to, and the pair (connection, subsidiary) picks the
    mapping. ``netsuite_connection`` is the NetSuite account the entries go to. Account ids
    are NetSuite internal ids; an empty one is "not mapped yet", and a payout that needs it
    is refused with the category named. ``currency_ids`` maps ISO codes to NetSuite currency
    internal ids (``{"USD": "1"}``).
    """

    connection = models.ForeignKey(
        "connections.Connection", on_delete=models.PROTECT, related_name="gl_mappings", db_index=False
    )
    netsuite_connection = models.ForeignKey("connections.Connection", on_delete=models.PROTECT, related_name="+")
    subsidiary_id = models.CharField(max_length=64, help_text="NetSuite internal id of the subsidiary.")
    bank_account = _account_field("bank")
    clearing_account = _account_field("clearing (undeposited funds)")
    processor_fees_account = _account_field("processor fees")
    refunds_account = _account_field("refunds")
    chargebacks_account = _account_field("chargebacks")
    dispute_fees_account = _account_field("dispute fees")
    adjustments_account = _account_field("adjustments")
    reserves_account = _account_field("reserves")
    fx_gain_loss_account = _account_field("FX gain/loss")
    currency_ids = models.JSONField(
        default=dict, blank=True, help_text='NetSuite currency internal id per ISO code, e.g. {"USD": "1"}.'
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by_id = models.BigIntegerField(null=True, blank=True)  # tenants.User id (public schema)
    # The last check of the ids against NetSuite (services.gl_mapping_check): what each one names
    # there and what is wrong with it. Emptied when the mapping changes: it no longer says it.
    last_check = models.JSONField(default=dict, blank=True, editable=False)
    checked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["connection__name", "subsidiary_id"]
        verbose_name = "GL mapping"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "connection", "subsidiary_id"], name="one_gl_mapping_per_subsidiary"
            )
        ]

    def __str__(self) -> str:
        return f"GL mapping {self.connection_id} / subsidiary {self.subsidiary_id}"

    def as_journal_mapping(self) -> journal.GlMapping:
        """The pure builder's view of this mapping (empty ids become None: unmapped)."""
        accounts = {name: (getattr(self, field) or None) for field, name in ACCOUNT_FIELDS.items()}
        currency_ids = {str(code).upper(): str(value) for code, value in (self.currency_ids or {}).items() if value}
        return journal.GlMapping(**accounts, currency_ids=currency_ids)

    def account_names(self) -> dict[str, str]:
        """NetSuite's name of each account id the last check found (``{"110": "1200 Clearing"}``)."""
        return {
            row["internal_id"]: row["name"]
            for row in (self.last_check or {}).get("accounts", [])
            if row.get("internal_id") and row.get("name")
        }


class PostingState(models.TextChoices):
    DRAFT = "draft", "Draft (awaiting approval)"
    APPROVED = "approved", "Approved (queued)"
    SENDING = "sending", "Sending"
    POSTED = "posted", "Posted"
    FAILED = "failed", "Failed"


class PostingKind(models.TextChoices):
    PAYOUT = "payout", "Payout"
    REVERSAL = "reversal", "Reversal of a failed payout"


class PostingError(models.TextChoices):
    """Why a posting did not go through: what the user has to do differs per code."""

    NOT_RECONCILED = "not_reconciled", "Payout is not reconciled"
    NO_MAPPING = "no_mapping", "No GL mapping"
    UNMAPPED_ACCOUNT = "unmapped_account", "GL mapping lacks an account"
    UNBALANCED = "unbalanced", "Entry does not balance"
    NOT_POSTABLE = "not_postable", "Payout cannot be turned into an entry"
    AMOUNT_CHANGED = "amount_changed", "Payout changed since approval"
    # The entry is dated in a month a person closed: it waits until the month is reopened.
    MONTH_CLOSED = "month_closed", "Entry dated in a closed month"
    NETSUITE_REJECTED = "netsuite_rejected", "NetSuite refused the entry"
    NETSUITE_AUTH = "netsuite_auth", "NetSuite refused the credentials"
    NETSUITE_CONFIG = "netsuite_config", "NetSuite connection settings unusable"
    NETSUITE_UNAVAILABLE = "netsuite_unavailable", "NetSuite unavailable (retries exhausted)"
    # A write reached NetSuite (or may have) and no answer says whether it was applied: the
    # entry may be there. Looked up by external id (services.postings_settle) before anything
    # is decided on it.
    OUTCOME_UNKNOWN = "outcome_unknown", "NetSuite did not answer (the entry may be there)"
    # Its send stopped the worker every time it was resumed (``POSTING_MAX_RESUMES``): no longer
    # resumed on its own. A person looks at it and retries; the entry may be in NetSuite.
    SEND_ABANDONED = "send_abandoned", "Sending it stopped the worker every time"
    UNEXPECTED = "unexpected", "Unexpected error"


class NetsuitePosting(TenantScopedModel):
    """One journal entry for one payout (or for the reversal of a payout that failed).

    States: draft -> approved -> sending -> posted / failed (failed -> approved on retry). A
    failed posting with ``outcome_unknown`` or ``send_abandoned`` may be in NetSuite: it becomes posted or stays
    failed once NetSuite is asked for its external id. ``netsuite.schedule`` asks on its own
    (``next_settle_at``, backing off), resumes a ``sending`` posting whose worker died (``resumes``
    times at most, then it is failed for a person), and queues again the send of an ``approved``
    posting whose task was lost (``send_queued_at`` a lease ago and the queue past it).
    ``external_id`` is derived from tenant, source and payout (``journal.external_id_for``)
    and the entry is sent as an upsert by ``eid:``, so however often it is sent it lands on
    one NetSuite record. ``request`` and ``response`` keep the last exchange, ``exchanges``
    every attempt of the last send, all with secrets removed (``netsuite.redact``).
    """

    payout = models.ForeignKey("canonical.Payout", on_delete=models.PROTECT, related_name="netsuite_postings")
    kind = models.CharField(max_length=16, choices=PostingKind.choices, default=PostingKind.PAYOUT)
    connection = models.ForeignKey("connections.Connection", on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=16)
    source_id = models.CharField(max_length=255)  # the payout's id at the processor (po_..., a GID)
    external_id = models.CharField(max_length=80)
    state = models.CharField(max_length=16, choices=PostingState.choices, default=PostingState.DRAFT)
    amount_minor = models.BigIntegerField()  # what reached (or left) the bank, signed as in the entry
    currency = models.CharField(max_length=3)
    arrival_date = models.DateField(null=True, blank=True)

    attempts = models.PositiveIntegerField(default=0)  # sends started (each may retry HTTP calls inside)
    netsuite_internal_id = models.CharField(max_length=64, blank=True, default="")
    error_code = models.CharField(max_length=32, choices=PostingError.choices, blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    request = models.JSONField(default=dict, blank=True)
    response = models.JSONField(default=dict, blank=True)
    exchanges = models.JSONField(default=list, blank=True)

    approved_by_id = models.BigIntegerField(null=True, blank=True)  # tenants.User id; None: automatic
    approved_by_email = models.CharField(max_length=254, blank=True, default="")
    approved_at = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    # When its send was last queued (approval, retry, resume, re-queue): an ``approved`` posting
    # queued long ago and still not claimed lost its task (a worker died holding it).
    send_queued_at = models.DateTimeField(null=True, blank=True)
    # Sends the schedule resumed after a worker died mid-send, since a person last sent it.
    resumes = models.PositiveIntegerField(default=0)
    # Only for ``outcome_unknown`` and ``send_abandoned`` (the entry may be in NetSuite): lookups of
    # the entry that got no answer since the send (or since it was given up), and
    # when the schedule asks next (None: at once if no lookup failed yet, never once it gave up).
    settle_attempts = models.PositiveIntegerField(default=0)
    next_settle_at = models.DateTimeField(null=True, blank=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "external_id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "external_id"], name="one_posting_per_external_id"),
            models.UniqueConstraint(fields=["tenant_id", "payout", "kind"], name="one_posting_per_payout_kind"),
        ]
        indexes = [models.Index(fields=["tenant_id", "state", "-created_at"], name="posting_state")]
        permissions = [
            ("approve_posting", "Approve a journal entry for posting to NetSuite"),
            ("retry_posting", "Send a failed posting to NetSuite again"),
            ("run_suiteql", "Run read-only SuiteQL queries against NetSuite"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.source_id} ({self.state})"

    @property
    def source_label(self) -> str:
        """The processor the payout came from, in words ("Stripe", "Shopify Payments")."""
        from connections.models import Provider

        return Provider(self.source).label if self.source in Provider.values else self.source

    @property
    def amount_display(self) -> str:
        """The entry's amount in its currency, e.g. ``96.80 USD``."""
        return format_minor(self.amount_minor, self.currency, self.source)
