"""A tenant's accounts at Stripe, Shopify and NetSuite, and the sync jobs that read them."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from connections.fields import EncryptedJSONField
from ecomops.models import TenantScopedModel


class Provider(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    SHOPIFY = "shopify", "Shopify Payments"
    NETSUITE = "netsuite", "NetSuite"


# The processors whose payouts are reconciled and posted (NetSuite is where they go).
PAYMENT_PROVIDERS = (Provider.STRIPE, Provider.SHOPIFY)


class ConnectionStatus(models.TextChoices):
    UNTESTED = "untested", "Not tested"
    OK = "ok", "Working"
    BROKEN = "broken", "Broken (credentials refused)"
    ERROR = "error", "Failing"


# The credential fields each provider needs; everything else in the credentials is refused.
CREDENTIAL_FIELDS: dict[str, dict[str, bool]] = {
    # field: required
    Provider.STRIPE: {"api_key": True, "webhook_secret": False},
    Provider.SHOPIFY: {"access_token": True, "webhook_secret": False},
    Provider.NETSUITE: {
        "consumer_key": False,
        "consumer_secret": False,
        "token_id": False,
        "token_secret": False,
        "client_id": False,
        "certificate_id": False,
        "private_key": False,
    },
}


class Connection(TenantScopedModel):
    """One account at one provider. Credentials are encrypted at rest and never shown back."""

    name = models.CharField(max_length=200)
    provider = models.CharField(max_length=16, choices=Provider.choices)
    enabled = models.BooleanField(default=True)
    # Stripe: API base (default https://api.stripe.com). Shopify: the shop's base URL
    # (https://shop.myshopify.com). NetSuite: the REST base URL of the account.
    base_url = models.URLField(max_length=300, blank=True, default="")
    account_id = models.CharField(max_length=100, blank=True, default="")  # NetSuite account / Shopify shop
    credentials = EncryptedJSONField()
    backfill_start = models.DateField(null=True, blank=True)
    subsidiary_id = models.CharField(max_length=64, blank=True, default="")
    netsuite_concurrency = models.PositiveSmallIntegerField(default=2)

    status = models.CharField(max_length=16, choices=ConnectionStatus.choices, default=ConnectionStatus.UNTESTED)
    status_message = models.CharField(max_length=500, blank=True, default="")
    status_checked_at = models.DateTimeField(null=True, blank=True)
    last_sync_succeeded_at = models.DateTimeField(null=True, blank=True)
    last_sync_failed_at = models.DateTimeField(null=True, blank=True)
    # The IANA time zone the provider keeps the account's business days in (a Shopify shop's
    # ``ianaTimezone``, a Stripe account's dashboard time zone), as the last sync that read a
    # known one found it; "" until then. A month ends at midnight there, not in UTC: the month
    # close judges each connection's sync against its own month end.
    time_zone = models.CharField(max_length=64, blank=True, default="")

    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("test_connection", "Test a connection"),
            ("sync_connection", "Start a sync"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_provider_display()})"

    def masked_credentials(self) -> dict[str, str]:
        """Each credential field as ``****`` plus its last four characters: enough to recognise."""
        return {name: mask_secret(value) for name, value in sorted((self.credentials or {}).items())}


def mask_secret(value: object) -> str:
    text = str(value or "")
    if len(text) <= 8:
        return "****"
    return "****" + text[-4:]


class SyncJobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class SyncJobKind(models.TextChoices):
    BACKFILL = "backfill", "Backfill (first sync)"
    INCREMENTAL = "incremental", "Incremental (what changed)"
    TARGETED = "targeted", "Targeted (objects a webhook named)"


class SyncTrigger(models.TextChoices):
    """What started a sync. Tests and tools may pass others (``sync_start(trigger=...)``): the
    choices give the known ones their words, an unknown one is shown as it is."""

    MANUAL = "manual", "By hand"
    PAGE = "page", "Connections page"
    API = "api", "API"
    ADMIN = "admin", "Admin"
    SCHEDULE = "schedule", "Schedule"
    WEBHOOK = "webhook", "Webhook"
    COMMAND = "command", "manage.py sync"
    BENCH = "bench", "Benchmark"


class SyncJob(TenantScopedModel):
    """One run of a connection's sync, with live progress the pages and API show."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="sync_jobs")
    kind = models.CharField(max_length=16, choices=SyncJobKind.choices, default=SyncJobKind.INCREMENTAL)
    status = models.CharField(max_length=16, choices=SyncJobStatus.choices, default=SyncJobStatus.QUEUED)
    trigger = models.CharField(max_length=32, choices=SyncTrigger.choices, default=SyncTrigger.MANUAL)
    requested_by_id = models.BigIntegerField(null=True, blank=True)
    target_ids = models.JSONField(default=list, blank=True)  # a webhook's targeted sync
    current_stream = models.CharField(max_length=64, blank=True, default="")
    pages = models.PositiveIntegerField(default=0)
    object_count = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    error_message = models.TextField(blank=True, default="")
    correlation_id = models.CharField(max_length=100, blank=True, default="")
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at"]
        indexes = [models.Index(fields=["tenant_id", "connection", "-queued_at"], name="syncjob_connection")]

    def __str__(self) -> str:
        return f"sync {self.connection_id} {self.status}"


class SyncCursor(TenantScopedModel):
    """Where one stream of a connection's sync stands, committed with each batch of rows.

    ``state`` belongs to the stream (e.g. Stripe: the ``created`` high-water mark of the last
    complete pass, and inside a pass the id to resume after). Because it commits in the same
    transaction as the rows it covers, a crash resumes exactly after the last committed rows.
    """

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="cursors")
    stream = models.CharField(max_length=64)
    state = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "connection", "stream"], name="one_cursor_per_stream")
        ]

    def __str__(self) -> str:
        return f"{self.connection_id}/{self.stream}"


class WebhookEvent(TenantScopedModel):
    """A webhook delivery that passed its signature check. The provider's event id makes a
    redelivery or replay harmless: it is recorded once and syncs once."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="webhook_events")
    event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=100)
    target_ids = models.JSONField(default=list)
    sync_job = models.ForeignKey(SyncJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "connection", "event_id"], name="one_webhook_event")
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"
