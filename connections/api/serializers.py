from __future__ import annotations

from rest_framework import serializers

from connections.models import Connection, Provider, SyncJob
from ecomops.api.serializers import StrictInput


class ConnectionOutput(serializers.ModelSerializer):
    """Credentials are never returned: only which fields are set, masked."""

    credentials = serializers.SerializerMethodField()

    class Meta:
        model = Connection
        fields = [
            "id",
            "name",
            "provider",
            "enabled",
            "base_url",
            "account_id",
            "backfill_start",
            "subsidiary_id",
            "netsuite_concurrency",
            "status",
            "status_message",
            "status_checked_at",
            "last_sync_succeeded_at",
            "last_sync_failed_at",
            "time_zone",
            "credentials",
            "created_at",
        ]

    def get_credentials(self, obj: Connection) -> dict[str, str]:
        return obj.masked_credentials()


class ConnectionCreateInput(StrictInput):
    name = serializers.CharField(max_length=200)
    provider = serializers.ChoiceField(choices=Provider.choices)
    credentials = serializers.DictField(child=serializers.CharField(allow_blank=True), write_only=True)
    base_url = serializers.URLField(required=False, allow_blank=True, default="", max_length=300)
    account_id = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    backfill_start = serializers.DateField(required=False, allow_null=True, default=None)
    subsidiary_id = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    enabled = serializers.BooleanField(required=False, default=True)
    netsuite_concurrency = serializers.IntegerField(required=False, default=2, min_value=1, max_value=20)


class ConnectionUpdateInput(StrictInput):
    require_one = True

    name = serializers.CharField(max_length=200, required=False)
    credentials = serializers.DictField(child=serializers.CharField(allow_blank=True), write_only=True, required=False)
    base_url = serializers.URLField(required=False, allow_blank=True, max_length=300)
    account_id = serializers.CharField(required=False, allow_blank=True, max_length=100)
    backfill_start = serializers.DateField(required=False, allow_null=True)
    subsidiary_id = serializers.CharField(required=False, allow_blank=True, max_length=64)
    enabled = serializers.BooleanField(required=False)
    netsuite_concurrency = serializers.IntegerField(required=False, min_value=1, max_value=20)


class TestResultOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()
    status = serializers.CharField()


class SyncJobOutput(serializers.ModelSerializer):
    connection_name = serializers.CharField(source="connection.name", read_only=True)
    # The codes, as the API has always answered them (the pages show the choices' words); a
    # trigger is not limited to the named ones (``sync_start(trigger=...)``).
    kind = serializers.CharField(read_only=True)
    trigger = serializers.CharField(read_only=True)

    class Meta:
        model = SyncJob
        fields = [
            "id",
            "connection",
            "connection_name",
            "kind",
            "status",
            "trigger",
            "target_ids",
            "current_stream",
            "pages",
            "object_count",
            "created_count",
            "updated_count",
            "unchanged_count",
            "error_count",
            "error_message",
            "correlation_id",
            "queued_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
        ]
