"""The API's JSON parser: DRF's, refusing (400) the two kinds of document it lets through to fail later.

* Nesting deeper than the decoder's recursion limit (``[[[[...]]]]`` of a few thousand levels):
  Python's decoder raises ``RecursionError``, not the ``ValueError`` DRF turns into a parse
  error, so the request failed with a 500.
* A lone surrogate (``"\\ud800"``): JSON's escapes allow it, but it names no character. No
  field can store it (PostgreSQL and the credential encryption refuse it) nor even name it in
  an error (the renderer's UTF-8 refuses it), so every field that echoed or stored one failed
  with a 500. Refused here, once, whatever field or key holds it.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        if _holds_lone_surrogate(data):
            raise ParseError(
                "JSON parse error - the body holds a lone surrogate escape (\\ud800-\\udfff), which is not a character."
            )
        return data


def _holds_lone_surrogate(data: Any) -> bool:
    """Any string or key of the parsed document holding a surrogate (a pair decodes to one
    character, so any left is alone). A loop, not recursion: the document may be ~1000 deep."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False
