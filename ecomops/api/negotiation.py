"""How the API picks what to answer in: JSON, whatever the client's ``Accept`` says.

DRF answers 406 when no renderer matches ``Accept``; a browser's ``text/html`` alone (or a
client that asks for XML) would then get a 406 instead of the answer or the error. The API
has one representation, so a request for another gets that one (the schema view, with
several, still negotiates between them).
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation


class FirstRendererFallback(DefaultContentNegotiation):
    """DRF's negotiation, falling back to the view's first renderer instead of a 406."""

    def select_renderer(self, request: Any, renderers: list[Any], format_suffix: str | None = None) -> tuple[Any, str]:
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            renderer = renderers[0]
            return renderer, renderer.media_type
