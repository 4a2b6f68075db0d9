"""What the processors' data is worth: each Stripe and Shopify connection's last successful and
failed sync against the tenant's freshness window (DESIGN §5: never green on stale data).

A run records it for the connections it read; the dashboard and the postings a person's
resolution makes possible judge it again, for the connections they speak of, at that moment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from connections.models import PAYMENT_PROVIDERS, Connection, ConnectionStatus
from ecomops.tenancy import current_tenant_id
from tenants.models import Tenant


@dataclass
class Freshness:
    sources: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return bool(self.reasons)

    @property
    def fresh_connection_ids(self) -> set[str]:
        return {source["connection_id"] for source in self.sources if source["fresh"]}


def source_freshness(*, connections: list[Connection], window_hours: int, now: datetime) -> Freshness:
    """What each source's data is worth: its last successful and failed sync, against the window.

    Stale when the credentials were refused (broken), the connection is failing, its last
    sync failed, it never synced, or its last success is older than the window.
    """
    result = Freshness()
    window = timedelta(hours=window_hours)
    for conn in connections:
        succeeded, failed = conn.last_sync_succeeded_at, conn.last_sync_failed_at
        label = f"{conn.name} ({conn.get_provider_display()})"
        reason = ""
        if conn.status == ConnectionStatus.BROKEN:
            reason = f"{label}: credentials refused, the connection is broken ({conn.status_message or 'no detail'})"
        elif succeeded is None:
            reason = f"{label}: never synced successfully"
        elif failed is not None and failed > succeeded:
            reason = f"{label}: last sync failed at {failed:%Y-%m-%d %H:%M} UTC"
        elif conn.status == ConnectionStatus.ERROR:
            reason = f"{label}: failing ({conn.status_message or 'no detail'})"
        elif now - succeeded > window:
            hours = int((now - succeeded).total_seconds() // 3600)
            reason = f"{label}: last successful sync {hours} h ago, beyond the {window_hours} h freshness window"
        result.sources.append(
            {
                "connection_id": str(conn.pk),
                "name": conn.name,
                "provider": conn.provider,
                "status": conn.status,
                "last_sync_succeeded_at": succeeded.isoformat() if succeeded else None,
                "last_sync_failed_at": failed.isoformat() if failed else None,
                "fresh": not reason,
                "reason": reason,
            }
        )
        if reason:
            result.reasons.append(reason)
    return result


def freshness_now(*, connection_ids: Iterable[Any] | None = None) -> Freshness:
    """The current tenant's sources as they stand now: the Stripe and Shopify connections named
    (enabled or not), or every enabled one."""
    tenant_id = current_tenant_id()
    connections = Connection.objects.filter(tenant_id=tenant_id, provider__in=PAYMENT_PROVIDERS)
    if connection_ids is None:
        connections = connections.filter(enabled=True)
    else:
        connections = connections.filter(pk__in=list(connection_ids))
    window = Tenant.objects.only("recon_freshness_hours").get(pk=tenant_id).recon_freshness_hours
    connections = list(connections.order_by("name", "pk"))
    return source_freshness(connections=connections, window_hours=window, now=timezone.now())
