"""The one way to record an audit event."""

from __future__ import annotations

from typing import Any

import structlog
from django.db import models

from audit.models import AuditEvent, Outcome
from ecomops.logging import redact
from ecomops.tenancy import current_tenant, tenant_context
from ecomops.text import storable, storable_json

logger = structlog.get_logger(__name__)


def audit_record(
    *,
    action: str,
    actor: Any = None,
    actor_kind: str | None = None,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    outcome: str = Outcome.SUCCESS,
    detail: dict[str, Any] | None = None,
    tenant: Any = None,
) -> AuditEvent:
    """Append an audit event in ``tenant`` (default: the current tenant context).

    The correlation id comes from the log context, so the event and the log lines of the
    same request, task or MCP call share it. Secret-looking keys in ``detail`` are redacted.
    What a caller sent is recorded as sent, even a NUL or a lone surrogate PostgreSQL cannot
    hold: as its escape (``ecomops.text.storable``), or the event, and the work audited with
    it, would fail.
    """
    if tenant is not None and current_tenant() != tenant:
        with tenant_context(tenant):
            return audit_record(
                action=action,
                actor=actor,
                actor_kind=actor_kind,
                target=target,
                target_type=target_type,
                target_id=target_id,
                outcome=outcome,
                detail=detail,
            )
    if target is not None:
        target_type = target_type or audit_target_type(target)
        target_id = target_id or str(target.pk)
    event = AuditEvent.objects.create(
        action=action,
        **audit_actor_columns(actor=actor, actor_kind=actor_kind),
        target_type=target_type,
        target_id=storable(str(target_id)),
        outcome=outcome,
        detail=storable_json(redact(detail or {})),
    )
    logger.info("audit", action=action, outcome=str(outcome), target_type=target_type, target_id=str(target_id))
    return event


def audit_actor_columns(*, actor: Any = None, actor_kind: str | None = None) -> dict[str, Any]:
    """The who and the correlation id of an event, as its columns.

    For the writers that insert many events in one statement (set-based, in SQL) and must
    fill these columns as ``audit_record`` does.
    """
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return {
        "actor_id": actor.pk if is_user else None,
        "actor_email": actor.email if is_user else "",
        "actor_kind": actor_kind or ("user" if is_user else "system"),
        "correlation_id": str(structlog.contextvars.get_contextvars().get("correlation_id", "")),
    }


def audit_target_type(target: models.Model | type[models.Model]) -> str:
    """How an event names the kind of its target: ``app_label.model_name``."""
    return f"{target._meta.app_label}.{target._meta.model_name}"
