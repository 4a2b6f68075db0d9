"""The official Shopify Admin GraphQL schema this connection is written against.

The introspection result ships in ``shared/data/shopify-admin-graphql`` (next to the project
root, as in CI). Tests validate every query against it and the sandbox executes requests on
it, so both see exactly the types, fields and arguments real Shopify offers.
"""

from __future__ import annotations

import gzip
import json
import os
from functools import lru_cache
from pathlib import Path

from graphql import GraphQLInterfaceType, GraphQLObjectType, GraphQLSchema, build_client_schema, validate_schema

ADMIN_API_VERSION = "2026-07"

# connections/shopify/schema.py -> parents[2] is the project root; shared/ sits beside it.
_DEFAULT_SCHEMA_PATH = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "shopify-admin-graphql"
    / f"admin_{ADMIN_API_VERSION}.json.gz"
)


def admin_schema_path() -> Path:
    """Where the introspection file is read from; ``ECOMOPS_SHOPIFY_SCHEMA`` overrides it."""
    override = os.environ.get("ECOMOPS_SHOPIFY_SCHEMA")
    return Path(override) if override else _DEFAULT_SCHEMA_PATH


def _relax_deprecated_implementations(schema: GraphQLSchema) -> None:
    """Un-deprecate the few implementation fields whose interface field is not deprecated.

    graphql-core 3.3 enforces a newer spec rule (an implementation may not deprecate a field
    its interface keeps) that Shopify's graphql-ruby schema breaks in six places, e.g.
    ``MediaImage.metafield``. Deprecation never changes which documents are valid or how they
    execute, so clearing those six flags is the smallest change that lets the real schema
    pass ``validate_schema``; everything else stays as Shopify published it.
    """
    for named_type in schema.type_map.values():
        if not isinstance(named_type, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for interface in named_type.interfaces:
            for field_name, interface_field in interface.fields.items():
                field = named_type.fields.get(field_name)
                if field is not None and field.deprecation_reason and not interface_field.deprecation_reason:
                    field.deprecation_reason = None


@lru_cache(maxsize=1)
def load_admin_schema() -> GraphQLSchema:
    """Build (once per process) the Admin API schema from the official introspection result."""
    path = admin_schema_path()
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        introspection = json.load(handle)
    schema = build_client_schema(introspection.get("data", introspection))
    _relax_deprecated_implementations(schema)
    errors = validate_schema(schema)
    if errors:
        raise RuntimeError(f"Shopify admin schema {path} is not valid: {errors[0].message}")
    return schema
