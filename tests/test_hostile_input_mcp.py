"""No parameter makes an MCP tool fail or lose anything.

Every tool ``runmcp`` serves (``mcp_bridge.tools.TOOLS``, so a new tool is swept too) is called
through the governance pipeline, as ``runmcp`` calls it, with each declared parameter hostile
to its JSON Schema type (and to what it names: ids, dates, months, filters), the others valid,
and with parameters it does not declare. Each answer is a result or a tool error in words,
never the pipeline's ``internal_error`` (the MCP form of a 500); a refused call of a tool that
writes leaves nothing but its audit events.

The pipeline closes and opens database connections between calls, as a long-lived server
must, so the tenant here is committed (and dropped afterwards), as in ``test_governance``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.hostile import LONG, NUL, SURROGATE, build_world, changed_tables, fingerprint, forget_queued_tasks, short

pytestmark = pytest.mark.slow

# Values the pipeline's parameter step refuses for any parameter (the wrong type, text PostgreSQL
# cannot hold, at any depth): sent to each tool's first parameter.
ANY_TYPE: dict[str, Any] = {
    "null": None,
    "true": True,
    "number": 2**64,
    "list": ["x"],
    "object": {"a": NUL},
    "nul": NUL,
    "lone_surrogate": SURROGATE,
    "nested": None,  # filled in below: 200 levels deep
}
# Values of a parameter's own type, hostile to what it names: sent to every parameter.
BY_TYPE: dict[str, dict[str, Any]] = {
    "string": {
        "long": LONG,
        "empty": "",
        "control": "\x1b[2J\r\n",
        "not_a_uuid": "not-a-uuid",
        "nobody": "00000000-0000-0000-0000-000000000000",
        "bad_date": "2026-13-45",
        "bad_month": "2026-00",
    },
    "integer": {"negative": -1, "zero": 0, "beyond_64_bit": 2**64, "huge": 10**40, "float": 1.5, "text": "5"},
    "array": {
        "empty": [],
        "of_nul": [NUL],
        "of_long": [LONG],
        "of_null": [None],
        "of_objects": [{}],
        "too_many": ["00000000-0000-0000-0000-000000000001"] * 1001,
    },
    "object": {
        "nul_value": {"currency": NUL},
        "surrogate_value": {"currency": SURROGATE},
        "nul_key": {"a\x00": "x"},
        "surrogate_key": {"\udc00": "x"},
        "bad_date": {"created_after": "2026-13-45"},
        "list_value": {"currency": ["USD", NUL]},
        "object_value": {"currency": {"a": 1}},
        "nested": {"currency": {"a": [{"b": [NUL]}]}},
    },
}
UNDECLARED: dict[str, Any] = {
    "nul_value": {"no_such_param": NUL},
    "surrogate_value": {"no_such_param": SURROGATE},
    "nul_name": {"no\x00such": 1},
    "surrogate_name": {"no\udc00such": 1},
    "long_name": {"n" * 10_000: 1},
}


def _valid(world) -> dict[str, dict[str, Any]]:
    """Valid parameters per tool, so a hostile value in one reaches what reads the others."""
    return {
        "recon.explain_payout": {"payout": "po_hostile_1"},
        "netsuite.journal_entries": {"payout": "po_hostile_1"},
        "netsuite.suiteql": {"query": "SELECT id FROM account"},
        "report.export": {"table": "payouts"},
        "schedule.create": {"kind": "recon.run", "every_hours": 6},
        "schedule.run": {"schedule": str(world.schedule.pk)},
    }


def _nested(depth: int) -> Any:
    value: Any = NUL
    for _ in range(depth):
        value = {"a": [value]}
    return value


@pytest.fixture
def mcp_world(committed_tenant, netsuite_sandbox, settings):
    from ecomops.tenancy import tenant_context

    settings.MCP_RATE_LIMIT, settings.MCP_RATE_LIMITS = "1000000/min", {}  # the sweep is not what is limited
    tenant_world = committed_tenant("hostile-mcp")
    with tenant_context(tenant_world.tenant):
        world = build_world(tenant_world, netsuite=netsuite_sandbox)
    yield world
    forget_queued_tasks(world.tenant.pk)


def _cases(tool, valid: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    cases = [(f"undeclared {label}", {**valid, **extra}) for label, extra in UNDECLARED.items()]
    for n, (name, schema) in enumerate(tool.properties.items()):
        values = {**ANY_TYPE, "nested": _nested(200)} if n == 0 else {}
        if "anyOf" in schema:  # a string or a list of them: swept as both
            values.update({**BY_TYPE["string"], **{f"list_{k}": v for k, v in BY_TYPE["array"].items()}})
        else:
            values.update(BY_TYPE.get(schema.get("type", "string"), {}))
        cases += [(f"{name}={label}", {**valid, name: value}) for label, value in values.items()]
    return cases


def test_no_hostile_parameter_makes_a_tool_fail_or_write(mcp_world):
    from ecomops.tenancy import tenant_context
    from mcp_bridge.governance import Pipeline
    from mcp_bridge.tools import TOOLS

    pipeline = Pipeline(tenant=mcp_world.tenant, user=mcp_world.user, tools=TOOLS)
    valid = _valid(mcp_world)
    problems: list[str] = []

    def state() -> dict[str, str]:
        with tenant_context(mcp_world.tenant):
            return fingerprint(mcp_world.tenant.schema_name, ignore=("audit_auditevent",))

    for tool in TOOLS:
        for case, arguments in _cases(tool, valid.get(tool.name, {})):
            before = None if tool.read_only else state()
            result = pipeline.call(tool.name, arguments)
            label = f"{tool.name} {case}"
            if result.is_error and result.payload["code"] == "internal_error":
                problems.append(f"{label}: internal error")
            elif result.is_error and not result.payload["error"].strip():
                problems.append(f"{label}: a tool error that says nothing")
            if before is not None and result.is_error:
                written = changed_tables(before, state())
                if written:
                    problems.append(f"{label}: refused ({short(result.payload['error'])}) but wrote {written}")

    assert problems == [], "\n".join(problems)
