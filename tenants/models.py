"""Tenants, their domains and plans, users and memberships: all in the public schema."""

from __future__ import annotations

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django_tenants.models import DomainMixin, TenantMixin


class Plan(models.Model):
    """A commercial plan and what it entitles a tenant to. Checked in ``tenants.entitlements``."""

    code = models.SlugField(primary_key=True, max_length=32)
    name = models.CharField(max_length=64)
    max_connections = models.PositiveIntegerField()
    mcp_tools = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name


# What the owner may set each reconciliation setting to (inclusive). The model's validators
# (admin forms) and ``tenants.services.tenant_update`` (API) both enforce it.
RECON_SETTING_BOUNDS: dict[str, tuple[int, int]] = {
    "recon_amount_tolerance_minor": (0, 1_000_000),
    "recon_freshness_hours": (1, 720),
    "recon_unpaid_grace_days": (0, 365),
}


def _within(name: str) -> list:
    low, high = RECON_SETTING_BOUNDS[name]
    return [MinValueValidator(low), MaxValueValidator(high)]


class Tenant(TenantMixin):
    """A customer organisation. Its data lives in its own schema, behind row-level security."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="tenants", default="trial")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    # Reconciliation settings (recon reads them; the owner changes them).
    recon_amount_tolerance_minor = models.PositiveIntegerField(
        default=0,
        validators=_within("recon_amount_tolerance_minor"),
        help_text="How far a payment may differ from its order, in minor units, before it is an exception.",
    )
    recon_freshness_hours = models.PositiveIntegerField(
        default=24,
        validators=_within("recon_freshness_hours"),
        help_text="A source not synced successfully within this many hours makes a recon run stale.",
    )
    recon_unpaid_grace_days = models.PositiveIntegerField(
        default=7,
        validators=_within("recon_unpaid_grace_days"),
        help_text="Days a paid order may wait for its payout before it is an exception.",
    )

    # NetSuite posting (netsuite.services reads it): post reconciled payouts at once, or only
    # after a user whose role may approve postings has approved each journal entry.
    posting_mode = models.CharField(
        max_length=16,
        choices=[("auto", "Automatically"), ("approval", "After approval")],
        default="approval",
        help_text="Post reconciled payouts to NetSuite automatically, or after approval.",
    )

    auto_create_schema = True
    auto_drop_schema = True

    class Meta:
        ordering = ["name"]
        permissions = [
            ("view_members", "View the tenant's members and roles"),
            ("manage_members", "Invite members, change roles, remove members"),
            ("manage_settings", "Change the tenant's settings"),
            ("export_data", "Export data as CSV and reports"),
            ("use_mcp", "Use the MCP tools"),
        ]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def schema_name_for(slug: str) -> str:
        return "t_" + slug.replace("-", "_")


class Domain(DomainMixin):
    """A host name that addresses a tenant (optional: tokens and sessions carry the tenant too)."""


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


EMAIL_MAX_LENGTH = 254  # RFC 5321's limit on a path, and the column's


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Logs in by email; belongs to tenants through memberships.

    ``is_staff`` means platform operator (the platform admin); tenant members reach the
    tenant-scoped admin through their role, without it.
    """

    email = models.EmailField(unique=True, max_length=EMAIL_MAX_LENGTH)
    full_name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    ACCOUNTANT = "accountant", "Accountant"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    """A user's place in one tenant, with one role there (a Django group of permissions)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="one_membership_per_tenant")]
        ordering = ["-last_used_at", "created_at"]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.role})"


class WebhookRoute(models.Model):
    """Which tenant a connection's webhook URL belongs to.

    Webhooks arrive unauthenticated at ``/webhooks/<provider>/<connection id>/``; the
    connection lives in a tenant schema, so this public-schema row says which tenant to enter
    before anything else is read. Written and removed with the connection.
    """

    connection_id = models.UUIDField(primary_key=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhook_routes")
    provider = models.CharField(max_length=16)

    def __str__(self) -> str:
        return f"{self.provider}:{self.connection_id} -> {self.tenant_id}"
