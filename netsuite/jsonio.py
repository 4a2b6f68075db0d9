"""JSON in and out without floats touching money.

Amounts go to NetSuite as JSON numbers with the currency's decimals (``12.30``), built
from ``Decimal``; the standard library cannot write a Decimal as a number, and a float
would be the wrong tool for money anyway. Responses are parsed with ``parse_float=Decimal``
so that a journal line's ``17.0`` comes back exact.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def dumps(value: Any) -> bytes:
    """Serialise to compact JSON; ``Decimal`` becomes a plain number literal (``12.30``)."""
    out: list[str] = []
    _write(value, out)
    return "".join(out).encode()


def loads(content: bytes | str) -> Any:
    """Parse JSON with decimal numbers as ``Decimal`` (integers stay ``int``)."""
    return json.loads(content, parse_float=Decimal)


def _write(value: Any, out: list[str]) -> None:
    if value is None or isinstance(value, bool | str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send a non-finite amount: {value}")
        out.append(format(value, "f"))  # 'f' never uses exponent notation
    elif isinstance(value, float):
        out.append(json.dumps(value, allow_nan=False))
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")
