"""Audit events: who did what to which target, when, with what outcome. Append-only.

The table refuses UPDATE, DELETE and TRUNCATE in the database (a trigger, installed by
this app's migration), not only in the ORM. The actor is kept as an id and an email
snapshot rather than a foreign key: deleting a user must not rewrite history.
"""

from __future__ import annotations

import json

from django.db import models
from django.utils import timezone

from ecomops.models import TenantScopedModel


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    DENIED = "denied", "Denied"


# What an event shows to those who read the trail (the API, the CSV download).
AUDIT_EVENT_FIELDS = [
    "id",
    "created_at",
    "action",
    "actor_id",
    "actor_email",
    "actor_kind",
    "target_type",
    "target_id",
    "outcome",
    "correlation_id",
    "detail",
]


class AuditEvent(TenantScopedModel):
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=100, db_index=True)  # e.g. auth.login, membership.role_changed
    actor_id = models.BigIntegerField(null=True, blank=True)  # tenants.User id; None for the system
    actor_email = models.CharField(max_length=254, blank=True)
    actor_kind = models.CharField(max_length=20, default="user")  # user, system, task, mcp, webhook
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.SUCCESS)
    correlation_id = models.CharField(max_length=100, blank=True, db_index=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["tenant_id", "-created_at"], name="audit_tenant_time"),
            # One object's events: an exception's history on every queue page, the log filtered
            # by target, the webhook's rejection throttle.
            models.Index(fields=["tenant_id", "target_type", "target_id"], name="audit_target"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.outcome}"

    @property
    def detail_text(self) -> str:
        """The detail on one line, as the log page shows it ("" when there is none)."""
        return json.dumps(self.detail, ensure_ascii=False, sort_keys=True, default=str) if self.detail else ""
