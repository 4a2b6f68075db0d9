"""Shopify's calculated query cost, as published (shopify.dev, GraphQL Admin API rate limits).

Scalars and enums cost 0, an object 1, a connection ``2 + n * (cost of one node)`` where ``n``
is ``first``/``last`` before execution (the *requested* cost) and the number of nodes
returned after it (the *actual* cost). Lists of objects with a ``first`` argument (e.g.
``Order.transactions(first:)``) are sized the same way without the connection's 2; a list
without one counts one element when requested. This is an approximation of Shopify's exact
numbers, close enough that a query which fits the 1,000-point limit here fits there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    is_leaf_type,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values

MAX_QUERY_COST = 1000

_Composite = GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType


def coerce_variables(
    schema: GraphQLSchema, operation: OperationDefinitionNode, inputs: Mapping[str, Any] | None
) -> VariableValues | list[GraphQLError]:
    """The operation's variables coerced to their declared types, or the coercion errors."""
    return get_variable_values(schema, operation.variable_definitions or (), dict(inputs or {}))


def query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: VariableValues,
    data: Mapping[str, Any] | None = None,
) -> int:
    """Requested cost of ``operation`` (``data=None``) or its actual cost given the result ``data``.

    ``variables`` are the coerced values from ``coerce_variables``.
    """
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    root = schema.query_type if operation.operation.value == "query" else schema.mutation_type
    if root is None:
        return 0
    calc = _CostCalculator(schema, fragments, variables, actual=data is not None)
    return calc.selection(operation.selection_set, root, data)


class _CostCalculator:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: VariableValues,
        *,
        actual: bool,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.actual = actual

    def _fields(self, selection_set: SelectionSetNode, parent: _Composite) -> list[tuple[FieldNode, _Composite]]:
        """Flatten fragments: every field node with the type it is selected on."""
        out: list[tuple[FieldNode, _Composite]] = []
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                out.append((selection, parent))
            elif isinstance(selection, InlineFragmentNode):
                target = parent
                if selection.type_condition is not None:
                    named = self.schema.get_type(selection.type_condition.name.value)
                    if isinstance(named, _Composite):
                        target = named
                out.extend(self._fields(selection.selection_set, target))
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    named = self.schema.get_type(fragment.type_condition.name.value)
                    out.extend(self._fields(fragment.selection_set, named if isinstance(named, _Composite) else parent))
        return out

    def selection(self, selection_set: SelectionSetNode | None, parent: _Composite, value: Any) -> int:
        if selection_set is None or isinstance(parent, GraphQLUnionType):
            return 0
        total = 0
        for field_node, owner in self._fields(selection_set, parent):
            name = field_node.name.value
            if name.startswith("__") or isinstance(owner, GraphQLUnionType):
                continue
            field_def = owner.fields.get(name)
            if field_def is None:
                continue
            child = None
            if self.actual:
                key = field_node.alias.value if field_node.alias else name
                child = value.get(key) if isinstance(value, Mapping) else None
                if child is None:
                    continue  # a null object costs nothing once executed
            total += self._field(field_node, field_def, child)
        return total

    def _field(self, node: FieldNode, field_def: Any, value: Any) -> int:
        named = get_named_type(field_def.type)
        if is_leaf_type(named) or not isinstance(named, _Composite):
            return 0
        field_type = field_def.type.of_type if isinstance(field_def.type, GraphQLNonNull) else field_def.type
        args = get_argument_values(field_def, node, self.variables)
        if isinstance(named, GraphQLObjectType) and "pageInfo" in named.fields and "nodes" in named.fields:
            return 2 + self._connection_items(node, named, args, value)
        if isinstance(field_type, GraphQLList):
            if self.actual:
                return sum(1 + self.selection(node.selection_set, named, item) for item in value or [])
            size = args.get("first") or args.get("last") or 1
            return size * (1 + self.selection(node.selection_set, named, None))
        return 1 + self.selection(node.selection_set, named, value)

    def _connection_items(
        self, node: FieldNode, connection: GraphQLObjectType, args: dict[str, Any], value: Any
    ) -> int:
        """Cost of the nodes a connection returns, whether selected as ``nodes`` or ``edges.node``."""
        node_type = get_named_type(connection.fields["nodes"].type)
        assert isinstance(node_type, _Composite)
        requested = args.get("first") or args.get("last") or 0
        total = 0
        for field_node, _owner in self._fields(node.selection_set, connection) if node.selection_set else []:
            key = field_node.alias.value if field_node.alias else field_node.name.value
            if field_node.name.value == "nodes":
                items = (value or {}).get(key) or [] if self.actual else None
                total += self._items(field_node.selection_set, node_type, items, requested)
            elif field_node.name.value == "edges" and field_node.selection_set is not None:
                edge_type = get_named_type(connection.fields["edges"].type)
                assert isinstance(edge_type, GraphQLObjectType)
                edges = (value or {}).get(key) or [] if self.actual else None
                for inner, _ in self._fields(field_node.selection_set, edge_type):
                    if inner.name.value != "node":
                        continue
                    inner_key = inner.alias.value if inner.alias else "node"
                    items = [edge.get(inner_key) for edge in edges] if edges is not None else None
                    total += self._items(inner.selection_set, node_type, items, requested)
        return total

    def _items(self, selection_set: SelectionSetNode | None, node_type: _Composite, items: Any, requested: int) -> int:
        if items is None:
            return requested * (1 + self.selection(selection_set, node_type, None))
        return sum(1 + self.selection(selection_set, node_type, item) for item in items if item is not None)
