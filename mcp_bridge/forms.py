"""The console's form for a new schedule.

It reads what a person typed into the values ``mcp_bridge.services.schedule_create`` takes, and
no more: what a schedule may be is the service's to say (its refusals name the field, and the
page shows each next to its field), so the page, the API and the MCP tools refuse alike.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from django import forms

from mcp_bridge.models import MAX_EVERY_HOURS, ScheduleKind

CADENCES = [("every", "Every so many hours"), ("daily", "Daily at a time")]


def time_zone_names() -> list[str]:
    """The IANA names offered as suggestions (any other name is still the service's to judge)."""
    return sorted(available_timezones())


class ScheduleForm(forms.Form):
    kind = forms.ChoiceField(label="What to start", choices=ScheduleKind.choices)
    cadence = forms.ChoiceField(label="When", choices=CADENCES, initial="every", widget=forms.RadioSelect)
    every_hours = forms.CharField(
        label="Every (hours)",
        required=False,
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_EVERY_HOURS, "inputmode": "numeric"}),
    )
    daily_at = forms.CharField(label="Daily at (HH:MM)", required=False, widget=forms.TimeInput(attrs={"type": "time"}))
    time_zone = forms.CharField(
        label="Time zone",
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"list": "time-zones", "placeholder": "Europe/Berlin", "autocomplete": "off"}),
    )
    connection_ids = forms.MultipleChoiceField(
        label="Connections (none ticked: every enabled Stripe and Shopify connection)",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, connections: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["connection_ids"].choices = connections

    def service_arguments(self) -> dict[str, Any]:
        """The cleaned form as ``schedule_create``'s keyword arguments: the cadence chosen decides
        which of ``every_hours`` and ``daily_at`` is sent (the other field may still hold a value)."""
        data = self.cleaned_data
        arguments: dict[str, Any] = {"kind": data["kind"], "connection_ids": data["connection_ids"]}
        if data["cadence"] == "every":
            hours = data["every_hours"].strip()
            # A number typed is sent as one; anything else (nothing typed too) as typed, for the
            # service to refuse next to its field.
            arguments["every_hours"] = int(hours) if hours.isdigit() else hours
        else:
            arguments["daily_at"] = data["daily_at"].strip()
            arguments["time_zone"] = data["time_zone"].strip()
        return arguments
