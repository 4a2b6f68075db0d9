"""Input and output shapes of the schedules API (kept apart, as CONVENTIONS asks).

The input checks shape only (a JSON integer, a list of uuids); what a schedule may be (a kind,
hours from 1 to 168, HH:MM, a known time zone, this tenant's enabled connections) is
``mcp_bridge.services.schedule_create``'s to say, as it says it to the MCP tools and the page.
"""

from __future__ import annotations

from rest_framework import serializers

from ecomops.api.serializers import StrictInput, StrictUUIDField
from mcp_bridge.models import Schedule, ScheduleKind
from mcp_bridge.services import MAX_CONNECTIONS


class ScheduleCreateInput(StrictInput):
    # Plain strings in the schema, not enums: an enum named "kind" collides with other apps' kinds.
    kind = serializers.CharField(max_length=40, help_text=f"What it starts: {' or '.join(ScheduleKind.values)}.")
    every_hours = serializers.IntegerField(  # a JSON integer only: StrictInput refuses "5"
        required=False, allow_null=True, help_text="Every this many hours (1 to 168); or give daily_at."
    )
    daily_at = serializers.CharField(
        required=False, allow_null=True, max_length=5, help_text="Daily at HH:MM, local time in time_zone."
    )
    time_zone = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=64,
        help_text="An IANA name (Europe/Berlin), with daily_at only.",
    )
    connection_ids = serializers.ListField(
        child=StrictUUIDField(),
        required=False,
        max_length=MAX_CONNECTIONS,
        help_text="Stripe or Shopify connections of this tenant; leave it out for every enabled one.",
    )


class ScheduleOutput(serializers.ModelSerializer):
    kind = serializers.CharField(read_only=True, help_text=f"What it starts: {' or '.join(ScheduleKind.values)}.")
    when = serializers.CharField(read_only=True, help_text='In words: "every 6 hours", "daily at 06:00 Europe/Berlin".')
    daily_at = serializers.TimeField(format="%H:%M", read_only=True, allow_null=True)
    time_zone = serializers.CharField(read_only=True, allow_blank=True, help_text="IANA name, with daily_at.")
    connection_ids = serializers.ListField(
        child=serializers.UUIDField(), read_only=True, help_text="The connections it covers (empty: every enabled one)."
    )
    last_outcome = serializers.CharField(
        read_only=True, allow_blank=True, help_text="queued, failed, or empty when it has not run yet."
    )
    last_sync_job_ids = serializers.ListField(child=serializers.UUIDField(), read_only=True)

    class Meta:
        model = Schedule
        fields = [
            "id",
            "kind",
            "when",
            "every_hours",
            "daily_at",
            "time_zone",
            "connection_ids",
            "enabled",
            "next_run_at",
            "last_run_at",
            "last_outcome",
            "last_recon_run_id",
            "last_sync_job_ids",
            "last_error",
            "created_by_email",
            "created_at",
        ]
