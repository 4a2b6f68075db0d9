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

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from ecomops.text import LONE_SURROGATE, holds


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        if holds(data, LONE_SURROGATE):
            raise ParseError(
                "JSON parse error - the body holds a lone surrogate escape (\\ud800-\\udfff), which is not a character."
            )
        return data
