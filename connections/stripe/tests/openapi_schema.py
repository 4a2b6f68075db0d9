"""Validate objects against Stripe's OpenAPI 3.0 schemas with a plain JSON Schema validator.

OpenAPI 3.0 marks optional-null values with ``nullable: true`` (on a typed schema, or
next to an ``anyOf``); JSON Schema has no such keyword, so a validator that ignores it
rejects every ``null`` Stripe sends ("None is not of type 'string'"). The converter
rewrites ``nullable`` into JSON Schema's own terms, walking only real subschema
positions (``properties``, ``items``, ``anyOf``, ...) so that a *property* called
``nullable`` or ``type`` is left alone.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
STRIPE_SCHEMAS = SHARED_DATA / "stripe" / "stripe-reconciliation-schemas.2023-08-16.extract.json"

_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = ("items", "not", "additionalProperties", "contains")
_SCHEMA_MAPS = ("properties", "patternProperties")


def openapi_to_jsonschema(schema: Any, *, strict: bool = False) -> Any:
    """An OpenAPI 3.0 schema object as an equivalent JSON Schema (draft 2020-12).

    ``nullable: true`` becomes ``"type": [t, "null"]`` (and ``None`` joins an ``enum``) on
    a typed schema, or ``{"anyOf": [schema, {"type": "null"}]}`` on an untyped one (an
    ``anyOf``/``$ref`` wrapper). ``x-`` extensions are dropped. With ``strict``, an
    object schema that lists ``properties`` and says nothing about others refuses
    unknown properties, so a misspelt or invented field fails validation.
    """
    if isinstance(schema, bool) or not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "nullable" or key.startswith("x-"):
            continue
        if key in _SCHEMA_LISTS:
            out[key] = [openapi_to_jsonschema(sub, strict=strict) for sub in value]
        elif key in _SCHEMA_VALUES:
            out[key] = openapi_to_jsonschema(value, strict=strict)
        elif key in _SCHEMA_MAPS:
            out[key] = {name: openapi_to_jsonschema(sub, strict=strict) for name, sub in value.items()}
        else:
            out[key] = value
    if strict and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if schema.get("nullable") is True:
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"] if "null" not in types else types
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@lru_cache(maxsize=2)
def stripe_components(strict: bool) -> dict[str, Any]:
    """The converted ``components`` of the 2023-08-16 reconciliation schema extract."""
    document = json.loads(STRIPE_SCHEMAS.read_text())
    schemas = {name: openapi_to_jsonschema(s, strict=strict) for name, s in document["components"]["schemas"].items()}
    # Stripe adds enum values to existing fields without a new API version: the minimum
    # balance hold/release types (reporting categories payout_minimum_balance_*) are sent
    # to accounts on 2023-08-16 although that spec's enum predates them (stripe-python 16
    # lists them in BalanceTransaction.type). Allow exactly those two.
    bt_type = schemas["balance_transaction"]["properties"]["type"]
    bt_type["enum"] = [*bt_type["enum"], "payout_minimum_balance_hold", "payout_minimum_balance_release"]
    return {"schemas": schemas}


def stripe_validator(name: str, *, strict: bool = True) -> Draft202012Validator:
    """A validator for Stripe schema ``name`` (``balance_transaction``, ``charge``, ...)."""
    root = {"$ref": f"#/components/schemas/{name}", "components": stripe_components(strict)}
    return Draft202012Validator(root)


def schema_errors(name: str, obj: Any, *, strict: bool = True) -> list[str]:
    """Every validation error for ``obj`` as ``path: message`` lines (empty when valid)."""
    errors = stripe_validator(name, strict=strict).iter_errors(obj)
    return sorted(f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors)
