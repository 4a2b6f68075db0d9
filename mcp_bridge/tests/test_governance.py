"""The governance pipeline's rate limit under concurrent calls.

``Pipeline.call`` is what ``runmcp`` serves. Here it is called from several threads at once,
each thread with its own database connection, as several ``runmcp`` processes of one tenant
call it. The data is committed (the threads' connections must see it), and the tenant is
dropped afterwards.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from audit.models import AuditEvent
from ecomops.tenancy import tenant_context
from mcp_bridge.governance import CallResult, Pipeline, Tool, ToolCall
from mcp_bridge.tools import TOOLS

pytestmark = pytest.mark.slow


def _in_own_connection(work: Any) -> Any:
    """Run ``work()`` on this thread's own database connection, closed afterwards (or the test
    database cannot be dropped)."""
    from django.db import connection

    try:
        return work()
    finally:
        connection.close()


def _call_together(pipeline: Pipeline, name: str, count: int) -> list[CallResult]:
    """``count`` calls of one tool, each in its own thread, released at the same instant."""
    start = threading.Barrier(count)

    def call(_: int) -> CallResult:
        start.wait(timeout=30)
        return _in_own_connection(lambda: pipeline.call(name, {}))

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(call, range(count)))


def _tool_events(tenant: Any, tool: str) -> list[tuple[str, str, str]]:
    """(action, outcome, correlation id) of the tenant's audit events of a tool's calls."""
    with tenant_context(tenant):
        return list(
            AuditEvent.objects.filter(target_type="mcp.tool", target_id=tool)
            .order_by("created_at")
            .values_list("action", "outcome", "correlation_id")
        )


def test_concurrent_calls_get_exactly_the_tools_rate(committed_tenant, settings):
    # given: schedule.list takes 3 calls a minute, and 8 calls arrive at the same instant
    world = committed_tenant("mcp-rate-burst")
    settings.MCP_RATE_LIMITS = {"schedule.list": "3/min"}
    pipeline = Pipeline(tenant=world.tenant, user=world.owner, tools=TOOLS)

    # when
    results = _call_together(pipeline, "schedule.list", 8)

    # then: three went through, five were refused by the limit
    passed = [r for r in results if not r.is_error]
    refused = [r for r in results if r.is_error]
    assert len(passed) == 3, [r.payload.get("code", "ok") for r in results]
    assert [r.payload["code"] for r in refused] == ["rate_limited"] * 5
    assert all(r.text.startswith("Rate limit: schedule.list takes 3 calls per minute") for r in refused)
    # the trail: each admitted call started and ended (under one correlation id), each refused one
    # is one denied event
    events = _tool_events(world.tenant, "schedule.list")
    started = {cid for action, _, cid in events if action == "mcp.tool_call_started"}
    ended = {cid: outcome for action, outcome, cid in events if action == "mcp.tool_called"}
    assert started == {r.payload["correlation_id"] for r in passed}
    assert ended == {
        **{r.payload["correlation_id"]: "success" for r in passed},
        **{r.payload["correlation_id"]: "denied" for r in refused},
    }


def test_a_call_in_progress_counts_against_the_rate_but_does_not_hold_up_the_next(committed_tenant, settings):
    # given: a tool that, asked to, runs until the test releases it; two calls a minute
    world = committed_tenant("mcp-rate-slow")
    settings.MCP_RATE_LIMITS = {"test.slow": "2/min"}
    running, release = threading.Event(), threading.Event()

    def run(call: ToolCall) -> dict[str, Any]:
        if call.params.get("wait"):
            running.set()
            assert release.wait(timeout=60), "the test never released the slow call"
        return {"waited": bool(call.params.get("wait"))}

    slow = Tool(name="test.slow", description="Runs until released.", run=run, properties={"wait": {"type": "boolean"}})
    pipeline = Pipeline(tenant=world.tenant, user=world.owner, tools=[slow])
    results: dict[str, CallResult] = {}

    def call(key: str, arguments: dict[str, Any]) -> threading.Thread:
        def work() -> None:
            results[key] = _in_own_connection(lambda: pipeline.call("test.slow", arguments))

        thread = threading.Thread(target=work)
        thread.start()
        return thread

    first = call("first", {"wait": True})
    try:
        assert running.wait(timeout=30), "the first call never started"

        # when: two more calls while the first one is still running
        second = call("second", {})
        second.join(timeout=30)
        third = call("third", {})
        third.join(timeout=30)

        # then: the second ran to its end without waiting for the first; the third is over the
        # rate, since the first one counts from its start
        assert not second.is_alive(), "the second call waited for the first one to end"
        assert not third.is_alive(), "the third call waited for the first one to end"
        assert first.is_alive()
        assert results["second"].payload["result"] == {"waited": False}
        assert results["third"].payload["code"] == "rate_limited"
    finally:
        release.set()
        first.join(timeout=60)
    assert results["first"].payload["result"] == {"waited": True}


def test_a_parameter_holding_a_nul_or_a_lone_surrogate_is_refused_naming_it_and_audited_as_sent(committed_tenant):
    # given: a JSON client may send "\u0000" or "\ud800" in any string
    world = committed_tenant("mcp-unstorable")
    pipeline = Pipeline(tenant=world.tenant, user=world.owner, tools=TOOLS)

    # when
    nul = pipeline.call("recon.exceptions", {"subject": "ch_\x00"})
    surrogate = pipeline.call("recon.explain_payout", {"payout": "po_\ud800"})
    in_a_list = pipeline.call("recon.run", {"payout_ids": ["po_1", "po_\x00"]})
    unknown_name = pipeline.call("schedule.list", {"no\x00such": 1})

    # then: refused as bad input naming the parameter (not an internal error), and audited
    for result, param in ((nul, "subject"), (surrogate, "payout"), (in_a_list, "payout_ids")):
        assert (result.is_error, result.payload["code"], result.payload["param"]) == (True, "invalid_param", param)
        assert result.text == f"{param}: holds a NUL character or a lone surrogate, which no parameter takes."
    assert not unknown_name.is_error
    assert unknown_name.payload["ignored_params"] == ["no\\u0000such"]
    with tenant_context(world.tenant):
        refused = AuditEvent.objects.get(action="mcp.tool_called", target_id="recon.exceptions")
    assert (refused.outcome, refused.detail["params"]) == ("failure", {"subject": "ch_\\u0000"})


def test_an_offset_past_what_postgresql_takes_is_refused_and_the_largest_answers_nothing(committed_tenant):
    world = committed_tenant("mcp-offset")
    pipeline = Pipeline(tenant=world.tenant, user=world.owner, tools=TOOLS)

    beyond = pipeline.call("recon.exceptions", {"offset": 2**63})
    largest = pipeline.call("recon.exceptions", {"offset": 2**63 - 1})

    assert (beyond.payload["code"], beyond.payload["param"]) == ("invalid_param", "offset")
    assert beyond.text.startswith("offset: 9223372036854775808 is greater than the maximum of 9223372036854775807")
    assert largest.payload["result"]["count"] == 0
