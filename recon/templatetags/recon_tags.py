"""Template filters for reconciliation pages."""

from __future__ import annotations

from django import template

from recon.models import Reason

register = template.Library()
_LABELS = dict(Reason.choices)


@register.filter
def reason_label(code: str) -> str:
    """A reason code as a controller reads it ("Payout failed or was canceled"); an unknown one as is."""
    return _LABELS.get(code, code)
