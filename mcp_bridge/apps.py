from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_tenant_schedules_tick(**kwargs) -> None:
    from mcp_bridge.schedule import ensure_schedule

    ensure_schedule()


class McpBridgeConfig(AppConfig):
    name = "mcp_bridge"

    def ready(self) -> None:
        post_migrate.connect(_ensure_tenant_schedules_tick, sender=self, dispatch_uid="mcp_bridge.schedules_tick")
