"""The one way to record an audit event."""

from __future__ import annotations

from typing import Any

import structlog
from django.db import models

from audit.models import AuditEvent, Outcome
from ecomops.logging import redact
from ecomops.tenancy import current_tenant, tenant_context

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
        target_type = target_type or f"{target._meta.app_label}.{target._meta.model_name}"
        target_id = target_id or str(target.pk)
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    context = structlog.contextvars.get_contextvars()
    event = AuditEvent.objects.create(
        action=action,
        actor_id=actor.pk if is_user else None,
        actor_email=actor.email if is_user else "",
        actor_kind=actor_kind or ("user" if is_user else "system"),
        target_type=target_type,
        target_id=str(target_id),
        outcome=outcome,
        correlation_id=str(context.get("correlation_id", "")),
        detail=redact(detail or {}),
    )
    logger.info("audit", action=action, outcome=str(outcome), target_type=target_type, target_id=str(target_id))
    return event
