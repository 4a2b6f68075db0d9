"""Text that PostgreSQL can hold: no NUL, no lone surrogate.

A NUL comes from a caller that means harm or has a bug; a lone surrogate is what Python makes
of bytes that are not UTF-8 on a command line (surrogateescape), or of a JSON escape such as
``"\\ud800"`` that names no character. PostgreSQL refuses both, in a column, in jsonb and even
as a query parameter, so input holding one is either refused where it arrives, not found (a
reference no record can have), or, where it must be recorded as sent (the audit trail), kept
as its escape.
"""

from __future__ import annotations

import re
from typing import Any

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # in decoded text: a pair decodes to one character


def is_storable(text: str) -> bool:
    """Whether PostgreSQL can hold (or compare against) the text."""
    return UNSTORABLE.search(text) is None


def holds(value: Any, pattern: re.Pattern[str] = UNSTORABLE) -> bool:
    """Whether any string or key of a JSON value matches ``pattern``. A loop, not recursion: a
    document may be nested about as deep as the decoder allows."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if pattern.search(item):
                return True
        elif isinstance(item, dict):
            pending += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            pending += item
    return False


def storable(text: str) -> str:
    """The text with each NUL and lone surrogate written as its escape (``\\u0000``, ``\\ud800``)."""
    return UNSTORABLE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def storable_json(value: Any) -> Any:
    """A copy of a JSON value whose every string and key is ``storable``."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(k) if isinstance(k, str) else k: storable_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable_json(v) for v in value]
    return value
