"""Template filters for reconciliation pages."""

from __future__ import annotations

from django import template

from recon import models

register = template.Library()


@register.filter
def reason_label(code: str) -> str:
    """A reason code as a controller reads it ("Payout failed or was canceled"); an unknown one as is."""
    return models.reason_label(code)
