"""What every API input has in common: a body must be an object, a field the endpoint does
not know is an error, not a silent no-op (a misspelt ``payout_ids`` would otherwise start a
run over everything), and a value must be of the JSON type its field takes.

DRF's fields turn what they are given into their type: an IntegerField takes ``"5"``, ``5.0``
and ``true``, a BooleanField ``"no"`` and ``0``, a CharField ``5`` (as ``"5"``). A client that
sends ``"5"`` has a bug or a misunderstanding the answer should show, not hide; and text given
as a number (a card-like ``4242424242424242``, an id) may already have lost digits in the
client's own JSON encoder."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.settings import api_settings

NOT_AN_INTEGER = "A whole number is required (a JSON integer, not a string or decimal)."
NOT_A_BOOLEAN = "true or false is required (a JSON boolean, not a string or number)."
NOT_A_STRING = "A string is required (a JSON string, not a number)."

# (field class, whether a JSON value is of the type it takes, the refusal). Subclasses count:
# an EmailField or a URLField is a CharField. A value of another type still is DRF's to
# refuse (a list for a text), with its own message.
JSON_TYPES: list[tuple[type[serializers.Field], Callable[[Any], bool], str]] = [
    (serializers.BooleanField, lambda value: isinstance(value, bool), NOT_A_BOOLEAN),
    (serializers.IntegerField, lambda value: isinstance(value, int) and not isinstance(value, bool), NOT_AN_INTEGER),
    (serializers.CharField, lambda value: isinstance(value, bool) or not isinstance(value, int | float), NOT_A_STRING),
]


def json_type_errors(field: serializers.Field, value: Any) -> list[str] | dict | None:
    """The refusal of a value of another JSON type than ``field`` takes, in DRF's shape (a list's
    items by position, a mapping's by key); None when there is none. ``null`` is the field's to
    take or refuse (``allow_null``)."""
    if value is None:
        return None
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        items = {n: error for n, item in enumerate(value) if (error := json_type_errors(field.child, item))}
        return items or None
    if isinstance(field, serializers.DictField) and isinstance(value, Mapping):
        items = {str(k): error for k, item in value.items() if (error := json_type_errors(field.child, item))}
        return items or None
    for kind, takes, refusal in JSON_TYPES:
        if isinstance(field, kind) and not takes(value):
            return [refusal]
    return None


class StrictInput(serializers.Serializer):
    """An input body: a JSON object of known fields only, each of its field's JSON type.
    ``require_one``: a partial update that sends none of them is refused rather than recorded
    as a change of nothing.

    A form's values are all text: a view whose input has a number or a boolean takes JSON only
    (``parser_classes = [JSONParser]``, a 415 for a form), as its fields would refuse the form's.
    """

    require_one = False

    def to_internal_value(self, data: Any) -> dict:
        if not isinstance(data, Mapping):
            return super().to_internal_value(data)  # DRF's own "expected a dictionary" error
        # Reported together with the known fields' errors, so one round trip shows them all.
        errors: dict[str, Any] = {name: ["Unknown field."] for name in sorted(set(data) - set(self.fields))}
        for name, field in self.fields.items():
            if name in data and (refusal := json_type_errors(field, data[name])):
                errors[name] = refusal
        try:
            attrs = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError(_merged(exc.detail, errors)) from exc
        if errors:
            raise serializers.ValidationError(errors)
        if self.require_one and not attrs:
            message = f"Send at least one of: {', '.join(self.fields)}."
            raise serializers.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [message]})
        return attrs


def _merged(drf: dict, ours: dict) -> dict:
    """DRF's field errors with ours: ours win for a field (its refusal of a "5" says more than
    its range check), and a list's or mapping's item errors are put together."""
    merged = dict(drf)
    for name, error in ours.items():
        mine = merged.get(name)
        merged[name] = {**mine, **error} if isinstance(mine, dict) and isinstance(error, dict) else error
    return merged


class NoInput(StrictInput):
    """The body of an endpoint that takes none (an action on the object in its path): any field
    is unknown, so a client that sends one (``{"kind": "full"}`` to a sync) learns it was not read."""


class StrictUUIDField(serializers.UUIDField):
    """A UUID written as a string: DRF's UUIDField would also turn the number 123 into one."""

    def to_internal_value(self, data: Any):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)
