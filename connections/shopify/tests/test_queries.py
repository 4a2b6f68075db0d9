"""Every GraphQL document the client sends is valid for Shopify's official 2026-07 schema."""

from __future__ import annotations

import pytest
from graphql import get_operation_ast, parse, validate

from connections.shopify import queries
from connections.shopify.sandbox.cost import MAX_QUERY_COST, coerce_variables, query_cost
from connections.shopify.schema import load_admin_schema

QUERY_NAMES = sorted(queries.ALL_QUERIES)


def test_all_queries_lists_every_document_in_the_module() -> None:
    # given every module-level string that is a GraphQL operation
    documents = {
        name: value for name, value in vars(queries).items() if name.endswith("_QUERY") and isinstance(value, str)
    }
    # then ALL_QUERIES carries each of them, so the tests below cover a new query automatically
    listed = {document for document, _ in queries.ALL_QUERIES.values()}
    missing = sorted(name for name, document in documents.items() if document not in listed)
    assert missing == [], f"add {missing} to queries.ALL_QUERIES"


@pytest.mark.parametrize("name", QUERY_NAMES)
def test_query_validates_against_official_schema(name: str) -> None:
    document, _ = queries.ALL_QUERIES[name]
    errors = validate(load_admin_schema(), parse(document))
    assert [e.message for e in errors] == []


@pytest.mark.parametrize("name", QUERY_NAMES)
def test_query_operation_is_named_after_its_key(name: str) -> None:
    document, _ = queries.ALL_QUERIES[name]
    operation = get_operation_ast(parse(document))
    assert operation is not None
    assert operation.name is not None
    assert operation.name.value == name


@pytest.mark.parametrize("name", QUERY_NAMES)
def test_query_cost_at_client_page_size_fits_shopify_single_query_limit(name: str) -> None:
    schema = load_admin_schema()
    document, variables = queries.ALL_QUERIES[name]
    parsed = parse(document)
    operation = get_operation_ast(parsed)
    assert operation is not None
    coerced = coerce_variables(schema, operation, variables)
    assert not isinstance(coerced, list), coerced
    assert query_cost(schema, parsed, operation, coerced) <= MAX_QUERY_COST


def test_validation_catches_a_field_shopify_does_not_have() -> None:
    # A guard on the guard: the same check rejects a document with an invented field.
    broken = queries.PAYOUTS_QUERY.replace("issuedAt", "issuedAt arrivalDate")
    errors = validate(load_admin_schema(), parse(broken))
    assert any("arrivalDate" in e.message for e in errors)
