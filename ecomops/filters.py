"""What every list filter shares, in the API, the pages and the selectors alike."""

from __future__ import annotations

from django import forms


class RangeForm(forms.Form):
    """A filter form whose ranges must not be reversed: a "from" after its "to" matches nothing,
    and an empty list would read as "nothing there" rather than as the mistake it is.

    ``ranges``: pairs of field names, low then high; when not given, every ``x_after`` /
    ``x_before`` and ``x_from`` / ``x_to`` pair of the form's fields.
    """

    ranges: tuple[tuple[str, str], ...] = ()

    def clean(self) -> dict:
        data = super().clean()
        for low, high in self.ranges or _paired_bounds(self.fields):
            if data.get(low) and data.get(high) and data[low] > data[high] and high not in self.errors:
                self.add_error(high, f"{high} is before {low}.")
        return data


def _paired_bounds(fields: dict) -> list[tuple[str, str]]:
    pairs = []
    for name in fields:
        for low, high in (("_after", "_before"), ("_from", "_to")):
            if name.endswith(low) and f"{name[: -len(low)]}{high}" in fields:
                pairs.append((name, f"{name[: -len(low)]}{high}"))
    return pairs
