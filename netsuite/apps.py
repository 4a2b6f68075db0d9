from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_posting_schedule(**kwargs) -> None:
    from netsuite.schedule import ensure_schedule

    ensure_schedule()


class NetsuiteConfig(AppConfig):
    name = "netsuite"

    def ready(self) -> None:
        post_migrate.connect(_ensure_posting_schedule, sender=self, dispatch_uid="netsuite.posting_schedule")
