from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_sync_schedule(**kwargs) -> None:
    from connections.schedule import ensure_schedule

    ensure_schedule()


class ConnectionsConfig(AppConfig):
    name = "connections"

    def ready(self) -> None:
        post_migrate.connect(_ensure_sync_schedule, sender=self, dispatch_uid="connections.sync_schedule")
