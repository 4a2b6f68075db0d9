"""``manage.py runmcp`` end to end: a real server process, the MCP SDK's client over stdio,
the embedded PostgreSQL and the NetSuite sandbox on a loopback port.

The server is another process, so the data it reads is committed (and dropped with its
tenants at the end). One server serves the whole module: starting one takes seconds.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from ecomops.tenancy import public_context, tenant_context
from mcp_bridge.models import Schedule
from mcp_bridge.tests.mcp_client import McpServerProcess, message_schema_errors, runmcp_refused, server_env
from recon.models import ReconException, ReconRun

pytestmark = pytest.mark.slow

PRO, TRIAL = "mcp-pro", "mcp-trial"
OWNER, VIEWER, OUTSIDER = "owner@mcp-pro.example.com", "viewer@mcp-pro.example.com", "outsider@mcp.example.com"
TRIAL_OWNER = "owner@mcp-trial.example.com"
SUITEQL_SECRET_QUERY = "SELECT id, acctnumber, acctnumber AS api_key FROM account ORDER BY id"
# Governance settings of the server under test: small, so the limits show with little data.
LIMITS = {
    "MCP_DEFAULT_ROWS": "2",
    "MCP_MAX_ROWS": "3",
    "MCP_EXPORT_MAX_ROWS": "4",
    "MCP_RATE_LIMITS": "recon.run=2/min",
}


class World:
    """The committed tenants and what the tests check against."""

    def __init__(self, pro, trial, owner, netsuite, sandbox) -> None:
        self.pro, self.trial, self.owner, self.netsuite, self.sandbox = pro, trial, owner, netsuite, sandbox

    def suiteql_calls(self) -> int:
        return int(self.sandbox.app.stats()["calls"].get("suiteql", 0))


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    from connections.services import connection_create
    from ecomops.sandbox_http import SandboxServer
    from netsuite.connection import forget_shared_clients
    from netsuite.sandbox import build_netsuite_sandbox
    from netsuite.services import gl_mapping_create, postings_after_recon
    from netsuite.tests.factories import full_mapping_values
    from recon.tests.factories import connection, payout_own_line, payout_row, reconcile, sale, write
    from tenants.models import Membership, Role, Tenant, User
    from tenants.services import tenant_create

    app, credentials = build_netsuite_sandbox()
    server = SandboxServer(app).start()
    with django_db_blocker.unblock():
        pro = tenant_create(name="MCP Pro", plan="pro", slug=PRO)
        trial = tenant_create(name="MCP Trial", plan="trial", slug=TRIAL)
        users = {email: User.objects.get_or_create(email=email)[0] for email in (OWNER, VIEWER, OUTSIDER, TRIAL_OWNER)}
        Membership.objects.create(user=users[OWNER], tenant=pro, role=Role.OWNER)
        Membership.objects.create(user=users[VIEWER], tenant=pro, role=Role.VIEWER)
        Membership.objects.create(user=users[TRIAL_OWNER], tenant=trial, role=Role.OWNER)
        with tenant_context(pro):
            stripe = connection()
            for n in range(1, 6):  # five payouts; po_mcp_5 pays 50.00 less than its sale nets
                paid = 9680 if n < 5 else 4680
                with transaction.atomic():  # the upsert writes in the caller's transaction
                    write(
                        stripe,
                        *sale(stripe, n, payout=f"po_mcp_{n}", amount=10000, fee=320),
                        payout_row(f"po_mcp_{n}", paid),
                        payout_own_line(f"po_mcp_{n}", paid),
                    )
            reconcile()
            netsuite = connection_create(
                actor=users[OWNER],
                name="NetSuite",
                provider="netsuite",
                base_url=server.url,
                account_id=credentials.account_id,
                credentials={
                    "consumer_key": credentials.consumer_key,
                    "consumer_secret": credentials.consumer_secret,
                    "token_id": credentials.token_id,
                    "token_secret": credentials.token_secret,
                },
            )
            # the four payouts that add up get draft journal entries to look at
            gl_mapping_create(
                actor=users[OWNER],
                connection=stripe,
                netsuite_connection=netsuite,
                subsidiary_id="1",
                **full_mapping_values(credentials),
            )
            postings_after_recon()
    yield World(pro, trial, users[OWNER], netsuite, type("Sandbox", (), {"app": app})())
    server.stop()
    forget_shared_clients()
    with django_db_blocker.unblock(), public_context():
        for tenant in (pro, trial):
            Tenant.objects.get(pk=tenant.pk).delete(force_drop=True)
        User.objects.filter(email__in=list(users)).delete()


@pytest.fixture(scope="module")
def server(world, tmp_path_factory, django_db_blocker):
    with django_db_blocker.unblock():
        env = server_env(**LIMITS)
    with McpServerProcess(
        tenant=PRO, user=OWNER, stderr_path=tmp_path_factory.mktemp("runmcp") / "stderr.log", env=env
    ) as process:
        yield process


def payload(result) -> dict:
    """A tool result's JSON (its text content, which the structured content repeats)."""
    data = json.loads(result.content[0].text) if not result.is_error else result.structured_content
    assert data == result.structured_content
    return data


def events(world, **filters) -> list[AuditEvent]:
    with tenant_context(world.pro):
        return list(AuditEvent.objects.filter(action="mcp.tool_called", **filters).order_by("created_at"))


# --------------------------------------------------------------------------- refused before serving


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--tenant", "no-such-tenant", "--user", OWNER], "Unknown tenant 'no-such-tenant'"),
        (["--tenant", PRO, "--user", OUTSIDER], f"{OUTSIDER} is not an active member of tenant {PRO}"),
        (["--tenant", TRIAL, "--user", TRIAL_OWNER], "MCP tools are not included in the Trial plan"),
        (["--tenant", PRO, "--user", VIEWER], "does not allow MCP tools (tenants.use_mcp)"),
        # a byte that is no UTF-8 (Python reads it as a lone surrogate): no address anyone has
        (["--tenant", PRO, "--user", "owner\udcff@mcp-pro.example.com"], "is not an active member of tenant"),
    ],
    ids=["unknown-tenant", "not-a-member", "trial-plan", "no-use_mcp", "undecodable-user"],
)
def test_runmcp_refuses_before_serving_anything(world, live_db, args, says):
    process = runmcp_refused(*args)

    assert process.returncode != 0
    assert process.stdout == ""  # not a byte of protocol: nothing was served
    assert says in process.stderr
    assert "Traceback" not in process.stderr


# --------------------------------------------------------------------------- the tools


def test_tools_list_shows_the_tools_the_role_allows(server):
    assert server.tool_names() == [
        "recon.explain_payout",
        "recon.exceptions",
        "recon.month_close",
        "recon.run",
        "netsuite.journal_entries",
        "netsuite.verify_entries",
        "netsuite.suiteql",
        "report.export",
        "schedule.create",
        "schedule.list",
        "schedule.run",
    ]


def test_explain_payout_by_processor_id_says_how_short_it_is(server, world, live_db):
    result = server.call("recon.explain_payout", {"payout": "po_mcp_5"})

    assert not result.is_error, result.content[0].text
    explained = payload(result)["result"]
    assert explained["payout"]["source_id"] == "po_mcp_5"
    assert explained["payout"]["amount_minor"] == 4680
    assert explained["lines_total_minor"] == 9680
    assert explained["difference_minor"] == -5000
    assert [e["reason"] for e in explained["exceptions"]] == ["payout_total_mismatch"]
    event = events(world, correlation_id=payload(result)["correlation_id"])[0]
    assert (event.outcome, event.actor_kind, event.actor_email) == ("success", "mcp", OWNER)
    assert event.target_id == "recon.explain_payout"


def test_journal_entries_show_a_draft_line_by_line_as_approving_it_would_send_it(server):
    # po_mcp_1: one 100.00 sale with a 3.20 fee paid out as 96.80; bank and fees debited,
    # clearing credited with the gross (the sandbox's seeded accounts 101, 601 and 110)
    data = payload(server.call("netsuite.journal_entries", {"payout": "po_mcp_1"}))["result"]
    no_entry = payload(server.call("netsuite.journal_entries", {"payout": "po_mcp_5"}))["result"]  # 50.00 short

    assert data["payout"]["source_id"] == "po_mcp_1"
    [entry] = data["entries"]
    assert (entry["kind"], entry["state"], entry["origin"], entry["blocked"]) == ("payout", "draft", "to_send", None)
    assert [(x["account_id"], x["debit_minor"], x["credit_minor"]) for x in entry["lines"]] == [
        ("101", 9680, 0),
        ("110", 0, 10000),
        ("601", 320, 0),
    ]
    assert (entry["debit_minor"], entry["credit_minor"]) == (10000, 10000)
    assert no_entry["entries"] == []
    assert no_entry["note"] == "No journal entry yet: a payout gets one once it is reconciled."


def test_explain_payout_of_a_payout_not_in_the_tenant_is_a_tool_error_naming_it(server):
    result = server.call("recon.explain_payout", {"payout": "po_elsewhere"})

    assert result.is_error
    assert result.content[0].text == "payout: No payout po_elsewhere in this tenant."
    assert result.structured_content["param"] == "payout"


def test_exceptions_filters_as_the_api_does_with_default_and_maximum_rows(server, world, live_db):
    with tenant_context(world.pro):
        open_count = ReconException.objects.filter(state="open").count()
    assert open_count >= 1

    by_payout = payload(server.call("recon.exceptions", {"state": "open", "payout": "po_mcp_5"}))["result"]
    assert by_payout["total"] == 1
    assert by_payout["exceptions"][0]["payout_source_id"] == "po_mcp_5"

    every = payload(server.call("recon.exceptions", {}))
    assert every["result"]["count"] == min(2, every["result"]["total"])  # MCP_DEFAULT_ROWS

    many = payload(server.call("recon.exceptions", {"limit": 10_000}))
    assert "limit 10000 is above the most this tool returns; 3 used." in many["notices"]  # MCP_MAX_ROWS


def test_unknown_params_are_dropped_reported_and_audited_without_their_values(server, world, live_db):
    result = server.call(
        "recon.exceptions", {"state": "open", "api_key": "sk_live_do_not_keep", "drop_table": "payouts"}
    )

    assert not result.is_error, result.content[0].text
    body = payload(result)
    assert body["ignored_params"] == ["api_key", "drop_table"]
    assert body["result"]["total"] >= 1  # the known ones still applied
    event = events(world, correlation_id=body["correlation_id"])[0]
    assert event.detail["ignored_params"] == ["api_key", "drop_table"]
    assert "sk_live_do_not_keep" not in json.dumps(event.detail)


def test_bad_parameters_say_which_and_why(server):
    wrong_type = server.call("recon.exceptions", {"limit": "lots"})
    bad_filter = server.call("recon.exceptions", {"state": "forgotten"})
    missing = server.call("recon.explain_payout", {})

    assert wrong_type.is_error
    assert wrong_type.content[0].text == "limit: must be a whole number, not a string."
    assert bad_filter.is_error
    assert bad_filter.content[0].text.startswith("state: Select a valid choice.")
    assert missing.is_error
    assert missing.content[0].text == "payout: is required."
    for result in (wrong_type, bad_filter, missing):
        assert "Traceback" not in result.content[0].text


def test_recon_run_starts_a_run_then_the_rate_limit_refuses(server, world, live_db):
    first = payload(server.call("recon.run", {"payout_ids": ["po_mcp_5"]}))
    second = server.call("recon.run", {})
    third = server.call("recon.run", {})

    assert first["result"]["status"] == "queued"
    with tenant_context(world.pro):
        run = ReconRun.objects.get(pk=first["result"]["run_id"])
    assert (run.trigger, run.requested_by_email, run.correlation_id) == ("mcp", OWNER, first["correlation_id"])
    assert not second.is_error
    assert third.is_error  # MCP_RATE_LIMITS recon.run=2/min
    assert third.structured_content["code"] == "rate_limited"
    assert third.content[0].text.startswith("Rate limit: recon.run takes 2 calls per minute in this tenant")
    refused = events(world, correlation_id=third.structured_content["correlation_id"])[0]
    assert refused.outcome == "denied"
    with tenant_context(world.pro):
        assert ReconRun.objects.filter(trigger="mcp", queued_at__gte=timezone.now() - timedelta(minutes=5)).count() == 2


@pytest.mark.parametrize(
    "query",
    [
        "DELETE FROM account",
        "UPDATE account SET acctnumber = '1'",
        "SELECT id FROM account; DROP TABLE account",
        "/* SELECT */ INSERT INTO account (id) VALUES (1)",
        "SELECT id INTO copy FROM account",
        "CREATE TABLE x (id INT)",
    ],
    ids=["delete", "update", "two-statements", "comment-hiding-insert", "select-into", "ddl"],
)
def test_suiteql_refuses_anything_but_one_select_and_sends_nothing(server, world, query):
    before = world.suiteql_calls()

    result = server.call("netsuite.suiteql", {"query": query})

    assert result.is_error
    assert result.content[0].text.startswith("query: ")
    assert world.suiteql_calls() == before


def test_suiteql_select_is_capped_and_its_secret_named_columns_redacted(server, world, live_db):
    result = server.call("netsuite.suiteql", {"query": SUITEQL_SECRET_QUERY, "limit": 50})

    assert not result.is_error, result.content[0].text
    body = payload(result)
    rows = body["result"]["rows"]
    assert len(rows) == 3  # MCP_MAX_ROWS
    assert body["result"]["truncated"] is True
    assert all(row["api_key"] == "[redacted]" and row["acctnumber"] for row in rows)
    # audited as the API's SuiteQL is, on the connection, besides the MCP call's own event
    with tenant_context(world.pro):
        sent = AuditEvent.objects.filter(action="netsuite.suiteql", target_id=str(world.netsuite.pk))
        sent = sent.latest("created_at")
    assert (sent.actor_email, sent.outcome, sent.detail["query"]) == (OWNER, "success", SUITEQL_SECRET_QUERY)


def test_report_export_writes_csv_capped_at_the_export_ceiling(server, world):
    result = server.call("report.export", {"table": "payouts", "limit": 100, "filters": {"currency": "USD", "x": 1}})

    assert not result.is_error, result.content[0].text
    body = payload(result)
    exported = body["result"]
    assert (exported["rows"], exported["total"], exported["truncated"]) == (4, 5, True)  # MCP_EXPORT_MAX_ROWS
    assert body["ignored_params"] == ["filters.x"]
    rows = list(csv.DictReader(io.StringIO(exported["csv"])))
    assert len(rows) == 4
    assert {row["source_id"] for row in rows} <= {f"po_mcp_{n}" for n in range(1, 6)}


def test_report_export_of_the_exceptions_queue(server):
    result = server.call("report.export", {"table": "exceptions", "filters": {"state": "open"}})

    assert not result.is_error, result.content[0].text
    rows = list(csv.DictReader(io.StringIO(payload(result)["result"]["csv"])))
    assert ("payout_total_mismatch", "po_mcp_5") in {(row["reason"], row["payout"]) for row in rows}
    assert "note_history" in rows[0]  # the same columns as the queue's own download


def test_a_role_changed_mid_session_takes_effect_on_the_next_call(server, world, live_db):
    from tenants.models import Membership, Role

    membership = Membership.objects.get(user=world.owner, tenant=world.pro)
    membership.role = Role.ACCOUNTANT  # may use MCP, but not run SuiteQL
    membership.save()
    try:
        refused = server.call("netsuite.suiteql", {"query": "SELECT id FROM account ORDER BY id"})
        names = server.tool_names()
    finally:
        membership.role = Role.OWNER
        membership.save()

    assert refused.is_error
    assert refused.content[0].text == (
        "Your role in this tenant does not allow netsuite.suiteql (needs netsuite.run_suiteql)."
    )
    assert "netsuite.suiteql" not in names
    assert "recon.exceptions" in names
    assert events(world, correlation_id=refused.structured_content["correlation_id"])[0].outcome == "denied"


def test_a_plan_without_mcp_tools_mid_session_refuses_the_next_call(server, world, live_db):
    from tenants.models import Plan, Tenant

    pro_plan = world.pro.plan
    Tenant.objects.filter(pk=world.pro.pk).update(plan=Plan.objects.get(code="trial"))
    try:
        refused = server.call("recon.explain_payout", {"payout": "po_mcp_1"})
        names = server.tool_names()
    finally:
        Tenant.objects.filter(pk=world.pro.pk).update(plan=pro_plan)

    assert refused.is_error
    assert refused.content[0].text == f"Tenant {PRO}: MCP tools are not included in the Trial plan."
    assert names == []
    assert not server.call("recon.explain_payout", {"payout": "po_mcp_1"}).is_error  # back on pro


def test_every_message_the_server_wrote_is_valid_for_the_negotiated_protocol(server):
    server.call("recon.explain_payout", {"payout": "po_mcp_1", "line_limit": 1})  # whatever ran before

    assert server.protocol_version in ("2025-06-18", "2025-11-25")
    assert len(server.raw) >= 3
    assert message_schema_errors(server.raw, server.protocol_version) == []
    assert '"level"' in server.stderr()  # the logs went to stderr, as JSON lines


def test_month_close_says_what_stands_in_the_way_with_its_payouts_capped(server):
    month = timezone.localdate().strftime("%Y-%m")  # the factory's payouts arrive today

    result = server.call("recon.month_close", {"month": month})
    bad = server.call("recon.month_close", {"month": "2026-13"})

    assert not result.is_error, result.content[0].text
    body = payload(result)
    close = body["result"]
    assert close["month"] == month
    assert close["ready"] is False
    assert close["open_exceptions"] == 1  # po_mcp_5, 50.00 short
    assert next(c for c in close["checks"] if c["key"] == "exceptions")["passed"] is False
    assert (close["payout_total"], len(close["payouts"]), close["truncated"]) == (5, 2, True)  # MCP_DEFAULT_ROWS
    assert body["notices"] == ["The month has 5 payouts; the first 2 are listed (limit)."]
    assert bad.is_error
    assert payload(bad)["param"] == "month"


def test_verify_entries_finds_an_entry_deleted_in_netsuite(server, world, live_db):
    from netsuite.models import NetsuitePosting
    from netsuite.services import posting_approve, posting_send

    month = timezone.localdate().strftime("%Y-%m")  # the factory's payouts arrive today
    with tenant_context(world.pro):
        draft = NetsuitePosting.objects.get(source_id="po_mcp_4")
        sent = posting_send(posting_id=posting_approve(posting=draft, actor=world.owner).pk)
    assert sent.state == "posted"

    held = server.call("netsuite.verify_entries", {"month": month})
    world.sandbox.app.store.delete_journal(int(sent.netsuite_internal_id))  # someone deletes it in NetSuite
    gone = server.call("netsuite.verify_entries", {"month": month})
    bad = server.call("netsuite.verify_entries", {"month": "2026-13"})

    assert not held.is_error, held.content[0].text
    assert {k: payload(held)["result"][k] for k in ("month", "entries", "held", "drift")} == {
        "month": month,
        "entries": 1,
        "held": 1,
        "drift": [],
    }
    [drift] = payload(gone)["result"]["drift"]
    assert (drift["source_id"], drift["status"], drift["accounts"]) == ("po_mcp_4", "missing", [])
    assert payload(bad)["param"] == "month"


# --------------------------------------------------------------------------- schedules


def test_schedule_create_list_and_run_now(server, world, live_db):
    created = server.call(
        "schedule.create",
        {"kind": "recon.run", "daily_at": "06:00", "time_zone": "Europe/Berlin", "cron": "* * * * *"},
    )

    assert not created.is_error, created.content[0].text
    body = payload(created)
    assert body["ignored_params"] == ["cron"]
    schedule_id = body["result"]["schedule_id"]
    assert body["result"]["schedule"]["when"] == "daily at 06:00 Europe/Berlin"
    with tenant_context(world.pro):
        schedule = Schedule.objects.get(pk=schedule_id)
    assert (schedule.kind, schedule.created_by_email, schedule.enabled) == ("recon.run", OWNER, True)
    assert schedule.next_run_at > timezone.now()

    listed = payload(server.call("schedule.list", {}))["result"]
    assert schedule_id in [s["id"] for s in listed["schedules"]]

    ran = server.call("schedule.run", {"schedule": schedule_id})

    assert not ran.is_error, ran.content[0].text
    result = payload(ran)["result"]
    with tenant_context(world.pro):
        run = ReconRun.objects.get(pk=result["run_id"])
        schedule.refresh_from_db()
    assert (run.trigger, run.requested_by_email, run.status) == ("schedule", OWNER, "queued")
    assert (schedule.last_outcome, str(schedule.last_recon_run_id)) == ("queued", result["run_id"])
    assert result["next_run_at"] == body["result"]["next_run_at"]  # run now does not move the next run
    with tenant_context(world.pro):
        assert AuditEvent.objects.filter(action="schedule.ran", target_id=schedule_id, actor_email=OWNER).exists()


def test_schedule_create_refuses_bad_input_naming_the_parameter(server, world, live_db):
    with tenant_context(world.pro):
        before = Schedule.objects.count()

    unknown_zone = server.call("schedule.create", {"kind": "sync", "daily_at": "06:00", "time_zone": "Mars/Olympus"})
    zero_hours = server.call("schedule.create", {"kind": "sync", "every_hours": 0})
    not_payments = server.call(
        "schedule.create", {"kind": "sync", "every_hours": 2, "connection_ids": [str(world.netsuite.pk)]}
    )
    unknown_kind = server.call("schedule.create", {"kind": "backup", "every_hours": 2})

    assert unknown_zone.is_error
    assert unknown_zone.content[0].text.startswith("time_zone: 'Mars/Olympus' is not a known IANA time zone")
    assert zero_hours.content[0].text == "every_hours: 0 is less than the minimum of 1."
    assert not_payments.content[0].text == (
        f"connection_ids: No Stripe or Shopify connection {world.netsuite.pk} in this tenant."
    )
    assert unknown_kind.content[0].text == "kind: must be one of recon.run, sync."
    assert [payload(r)["param"] for r in (unknown_zone, zero_hours, not_payments, unknown_kind)] == [
        "time_zone",
        "every_hours",
        "connection_ids",
        "kind",
    ]
    with tenant_context(world.pro):
        assert Schedule.objects.count() == before


def test_schedule_tools_refuse_what_the_role_does_not_allow(server, world, live_db):
    from tenants.models import Membership, Role

    sync = payload(server.call("schedule.create", {"kind": "sync", "every_hours": 12}))["result"]
    membership = Membership.objects.get(user=world.owner, tenant=world.pro)
    membership.role = Role.ACCOUNTANT  # sees schedules and runs recon; creates none, starts no sync
    membership.save()
    try:
        create = server.call("schedule.create", {"kind": "recon.run", "every_hours": 12})
        run_sync = server.call("schedule.run", {"schedule": sync["schedule_id"]})
        listed = server.call("schedule.list", {})
    finally:
        membership.role = Role.OWNER
        membership.save()

    assert create.is_error
    assert create.content[0].text == (
        "Your role in this tenant does not allow schedule.create (needs mcp_bridge.add_schedule)."
    )
    assert run_sync.is_error
    assert run_sync.content[0].text == (
        "Your role in this tenant does not allow starting a sync (needs connections.sync_connection), "
        "which this schedule would start."
    )
    assert run_sync.structured_content["code"] == "forbidden"
    assert not listed.is_error
    for refused in (create, run_sync):
        assert events(world, correlation_id=refused.structured_content["correlation_id"])[0].outcome == "denied"
    with tenant_context(world.pro):
        assert Schedule.objects.get(pk=sync["schedule_id"]).last_run_at is None  # nothing ran


def test_schedule_create_of_what_the_role_may_not_start_is_refused_in_the_services_words(server, world, live_db):
    from django.contrib.auth.models import Group, Permission

    from tenants.models import Membership, Role

    with tenant_context(world.pro):
        before = Schedule.objects.count()
    sync_connection = Permission.objects.get(content_type__app_label="connections", codename="sync_connection")
    admins = Group.objects.get(name=Role.ADMIN)
    membership = Membership.objects.get(user=world.owner, tenant=world.pro)
    membership.role = Role.ADMIN
    membership.save()
    admins.permissions.remove(sync_connection)  # still adds schedules, no longer syncs
    try:
        refused = server.call("schedule.create", {"kind": "sync", "every_hours": 12})
    finally:
        admins.permissions.add(sync_connection)
        membership.role = Role.OWNER
        membership.save()

    assert refused.is_error
    assert refused.content[0].text == (
        "Your role in this tenant does not allow starting a sync (needs connections.sync_connection), "
        "which this schedule would start."
    )
    assert refused.structured_content["code"] == "forbidden"
    assert events(world, correlation_id=refused.structured_content["correlation_id"])[0].outcome == "denied"
    with tenant_context(world.pro):
        assert Schedule.objects.count() == before


def test_schedule_run_that_queues_nothing_is_a_tool_error_and_the_schedule_keeps_the_failure(server, world, live_db):
    from connections.models import Connection, SyncJob
    from connections.tests.factories import ConnectionFactory

    with tenant_context(world.pro):
        paused = ConnectionFactory(name="Stripe paused")
    created = payload(
        server.call("schedule.create", {"kind": "sync", "every_hours": 6, "connection_ids": [str(paused.pk)]})
    )["result"]
    with tenant_context(world.pro):
        Connection.objects.filter(pk=paused.pk).update(enabled=False)

    ran = server.call("schedule.run", {"schedule": created["schedule_id"]})

    why = f"Connection Stripe paused ({paused.pk}) is disabled."
    assert ran.is_error
    assert ran.content[0].text == f"The schedule queued nothing: {why}"
    assert ran.structured_content["code"] == "schedule_failed"
    # the run is kept as the API and the page keep it: on the schedule and in its own audit event
    with tenant_context(world.pro):
        schedule = Schedule.objects.get(pk=created["schedule_id"])
        recorded = AuditEvent.objects.get(action="schedule.ran", target_id=created["schedule_id"])
        assert not SyncJob.objects.filter(connection_id=paused.pk).exists()
    assert (schedule.last_outcome, schedule.last_error) == ("failed", why)
    assert schedule.last_run_at is not None
    assert (recorded.outcome, recorded.actor_email, recorded.detail["error"]) == ("failure", OWNER, why)
    call = events(world, correlation_id=ran.structured_content["correlation_id"])[0]
    assert (call.outcome, call.detail["code"]) == ("failure", "schedule_failed")


def test_schedule_run_of_an_unknown_schedule_is_not_found(server):
    missing = server.call("schedule.run", {"schedule": "00000000-0000-0000-0000-000000000000"})
    garbled = server.call("schedule.run", {"schedule": "tomorrow"})

    assert (missing.is_error, missing.structured_content["code"]) == (True, "not_found")
    assert garbled.content[0].text == "schedule: 'tomorrow' is not a schedule id."
