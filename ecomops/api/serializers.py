"""What every API input has in common: a body must be an object, and a field the endpoint
does not know is an error, not a silent no-op (a misspelt ``payout_ids`` would otherwise
start a run over everything)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.settings import api_settings


class StrictInput(serializers.Serializer):
    """An input body: a JSON object of known fields only. ``require_one``: a partial update
    that sends none of them is refused rather than recorded as a change of nothing."""

    require_one = False

    def to_internal_value(self, data: Any) -> dict:
        if not isinstance(data, Mapping):
            return super().to_internal_value(data)  # DRF's own "expected a dictionary" error
        # Reported together with the known fields' errors, so one round trip shows them all.
        errors: dict[str, list[str]] = {name: ["Unknown field."] for name in sorted(set(data) - set(self.fields))}
        try:
            attrs = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({**exc.detail, **errors}) from exc
        if errors:
            raise serializers.ValidationError(errors)
        if self.require_one and not attrs:
            message = f"Send at least one of: {', '.join(self.fields)}."
            raise serializers.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [message]})
        return attrs


class NoInput(StrictInput):
    """The body of an endpoint that takes none (an action on the object in its path): any field
    is unknown, so a client that sends one (``{"kind": "full"}`` to a sync) learns it was not read."""


class StrictUUIDField(serializers.UUIDField):
    """A UUID written as a string: DRF's UUIDField would also turn the number 123 into one."""

    def to_internal_value(self, data: Any):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer and nothing else: DRF's IntegerField would also take "5", 5.0 and true."""

    default_error_messages = {"invalid": "A whole number is required (a JSON integer, not a string or decimal)."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return data
