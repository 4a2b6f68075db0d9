import django_filters

from connections.models import SyncJob, SyncJobStatus


class SyncJobFilter(django_filters.FilterSet):
    """The sync jobs list's filters (API and page): a bad value is an error naming its field."""

    connection = django_filters.UUIDFilter(field_name="connection_id")
    status = django_filters.ChoiceFilter(choices=SyncJobStatus.choices)

    class Meta:
        model = SyncJob
        fields = ["connection", "status"]
