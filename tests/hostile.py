"""What the hostile-input sweeps share: the values they send, a tenant with one of everything
to send them at (``hostile_world``, in ``tests/conftest.py``), and a fingerprint of the
database that shows whether a refusal wrote anything.

Each sweep (``tests/test_hostile_input_*.py``) sends these values to every input of its surface
and asserts the same things: no failure (no 500, no traceback), a refusal in words, and for a
refusal that nothing was written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import connection as db

LONG = "x" * 10_000
NUL = "po_\x00x"
SURROGATE = "po_\ud800x"

# Query string values, percent-encoded as they arrive on the wire: those every parameter gets,
# then those a parameter of a kind gets too (the kinds are the OpenAPI schema's).
QUERY_ANY: dict[str, str] = {
    "nul": "a%00b",
    "invalid_utf8": "%ED%A0%80%FF",  # a surrogate encoded in UTF-8, and a byte no UTF-8 has
    "long": LONG,
    "empty": "",
}
QUERY_BY_KIND: dict[str, dict[str, str]] = {
    "integer": {"negative": "-1", "zero": "0", "beyond_64_bit": str(2**64), "decimal": "1.5", "exponent": "1e999"},
    "uuid": {"not_a_uuid": "not-a-uuid", "too_long": "1" * 100},
    "date": {"bad_date": "2026-13-45", "year_10000": "10000-01-01", "datetime": "2026-01-01T00:00:00Z"},
    "date-time": {"bad_datetime": "2026-02-30T25:61:00Z", "year_10000": "10000-01-01T00:00:00Z"},
    "boolean": {"not_a_bool": "maybe"},
    "enum": {"not_a_choice": "nope", "number": "99"},
    "string": {"bad_month": "2026-00", "beyond_64_bit": str(2**64), "brackets": "%5B%5D"},
    "array": {"not_a_choice": "nope", "comma_list": "a,b"},
}

# JSON values for a body field: those every field gets (the wrong types among them), then
# those a field of a kind gets too.
JSON_ANY: dict[str, Any] = {
    "null": None,
    "beyond_64_bit": 2**64,
    "list": ["a", 1],
    "object": {"a": 1},
    "nul": NUL,
    "long": LONG,
}
JSON_BY_KIND: dict[str, dict[str, Any]] = {
    "integer": {
        "negative": -1,
        "zero": 0,
        "below_64_bit": -(2**63) - 1,
        "numeric_string": "5",
        "true": True,
        "float": 1.5,
    },
    "uuid": {"not_a_uuid": "not-a-uuid", "nobody": "00000000-0000-0000-0000-000000000000", "number": 12},
    "date": {"bad_date": "2026-13-45", "year_10000": "10000-01-01", "empty": ""},
    "email": {"no_at": "nobody", "nul_domain": "a@b\x00.com", "empty": ""},
    "enum": {"not_a_choice": "nope", "empty": ""},
    "string": {"blank": "   ", "control": "\x1b[31m\r\n"},
    "boolean": {"word": "maybe", "number": 2},
    "array": {
        "empty": [],
        "of_nul": [NUL],
        "of_null": [None],
        "of_objects": [{}],
        "of_long": [LONG],
        "too_many": ["00000000-0000-0000-0000-000000000001"] * 10_001,
    },
    "object": {"nul_key": {"a\x00": "x"}, "null_value": {"USD": None}, "nested": {"a": {"b": [1]}}, "empty": {}},
}

# Whole bodies that are not a JSON object of fields: (raw bytes, content type). Those each view
# reads in its own way (nothing, not an object, a field it does not know, a form) go to each;
# those the one parser refuses before any view reads them (PARSER_BODIES), to one endpoint.
HOSTILE_BODIES: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "application/json"),
    "array": (b'[{"note": "x"}]', "application/json"),
    "null": (b"null", "application/json"),
    "unknown_field": (b'{"no_such_field": "x"}', "application/json"),
    "form": (b"note=%00&note=x", "application/x-www-form-urlencoded"),
}
PARSER_BODIES: dict[str, tuple[bytes, str]] = {
    "not_json": (b"note=hello", "application/json"),
    "lone_surrogate": (b'{"note": "\\ud800", "\\udc00": 1}', "application/json"),
    "deeply_nested": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    "invalid_utf8": (b'{"note": "\xff\xfe"}', "application/json"),
    "nan": (b'{"note": NaN}', "application/json"),
    "infinity": (b'{"note": -Infinity}', "application/json"),
    "deeply_nested_object": (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "application/json"),
    "truncated": (b'{"note": "', "application/json"),
    "bom": (b'\xef\xbb\xbf{"note": "x"}', "application/json"),
    "utf16": ('{"note": "x"}'.encode("utf-16"), "application/json"),
    "xml": (b"<note>x</note>", "application/xml"),
}


@dataclass
class World:
    """A tenant with one object of every kind the surfaces name by id, and its owner."""

    tenant: Any
    user: Any
    connection: Any
    netsuite: Any
    mapping: Any
    payout: Any
    exception: Any
    run: Any
    posting: Any
    schedule: Any
    job: Any
    audit_event: Any
    member_id: int


def build_world(tenant_world: Any, *, netsuite: tuple[str, Any]) -> World:
    """Create the objects in the tenant's context (the caller entered it).

    ``netsuite``: the URL and credentials of a NetSuite sandbox for the NetSuite connection."""
    from audit.models import AuditEvent
    from canonical.models import Payout
    from connections.models import SyncJob
    from connections.services import connection_create
    from mcp_bridge.services import schedule_create
    from netsuite.models import NetsuitePosting
    from netsuite.services import gl_mapping_create, postings_after_recon
    from netsuite.tests.factories import PayoutSpec, reconcile, write_payouts
    from recon.models import ReconException
    from recon.tests.factories import connection as recon_connection

    owner = tenant_world.owner
    # Loopback port 9 refuses at once: a connection test or sync never leaves the machine.
    stripe = recon_connection(base_url="http://127.0.0.1:9", subsidiary_id="1")
    netsuite_url, sandbox = netsuite
    netsuite = connection_create(
        actor=owner,
        name="NetSuite",
        provider="netsuite",
        base_url=netsuite_url,
        account_id=sandbox.account_id,
        credentials={
            "consumer_key": sandbox.consumer_key,
            "consumer_secret": sandbox.consumer_secret,
            "token_id": sandbox.token_id,
            "token_secret": sandbox.token_secret,
        },
    )
    accounts = ("bank", "clearing", "processor_fees", "refunds", "chargebacks", "dispute_fees", "adjustments")
    mapping = gl_mapping_create(
        actor=owner,
        connection=stripe,
        netsuite_connection=netsuite,
        subsidiary_id="1",
        **{f"{name}_account": str(100 + n) for n, name in enumerate(accounts)},
        reserves_account="120",
        fx_gain_loss_account="130",
        currency_ids={"USD": "1"},
    )
    write_payouts(stripe, PayoutSpec("po_hostile_1", arrival=date(2026, 3, 3)))
    # a payout whose lines do not add up: an open exception
    write_payouts(stripe, PayoutSpec("po_hostile_2", charges=(5000, 2500), arrival=date(2026, 3, 4)))
    Payout.objects.filter(source_id="po_hostile_2").update(amount_minor=1)
    run = reconcile(owner)
    postings_after_recon(settle=False)
    schedule = schedule_create(actor=owner, kind="recon.run", every_hours=6)
    world = World(
        tenant=tenant_world.tenant,
        user=owner,
        connection=stripe,
        netsuite=netsuite,
        mapping=mapping,
        payout=Payout.objects.get(source_id="po_hostile_1"),
        exception=ReconException.objects.filter(state="open").order_by("pk").first(),
        run=run,
        posting=NetsuitePosting.objects.order_by("pk").first(),
        schedule=schedule,
        job=SyncJob.objects.filter(connection=stripe).order_by("pk").first(),
        audit_event=AuditEvent.objects.order_by("pk").first(),
        member_id=tenant_world.viewer.pk,
    )
    missing = [name for name, value in vars(world).items() if value is None]
    assert not missing, f"the hostile world lacks {missing}: the sweeps would aim at no object"
    return world


def forget_queued_tasks(tenant_id: Any) -> None:
    """Take a committed tenant's tasks (the runs its accepted calls queued) off the broker before
    it is dropped: a worker of a later test must not be handed them."""
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    broker, others = get_broker(), []
    while broker.queue_size():
        batch = broker.dequeue()
        if not batch:
            break
        for ack_id, payload in batch:
            if str(tenant_id) not in [str(arg) for arg in SignedPackage.loads(payload).get("args", ())]:
                others.append(payload)
            broker.acknowledge(ack_id)
    for payload in others:
        broker.enqueue(payload)


def _tables(schemas: list[str]) -> list[tuple[str, str]]:
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema = ANY(%s) AND table_type = 'BASE TABLE' ORDER BY 1, 2",
            [schemas],
        )
        return cursor.fetchall()


def fingerprint(schema_name: str, *, ignore: tuple[str, ...] = ()) -> dict[str, str]:
    """Every row of the tenant's schema and of the public schema, one digest a table (call it
    inside the tenant's context: row-level security hides the rows of any other)."""
    tables = [(s, t) for s, t in _tables([schema_name, "public"]) if t not in ignore]
    parts = [
        f"SELECT '{s}.{t}', md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), '')) FROM \"{s}\".\"{t}\" r"
        for s, t in tables
    ]
    with db.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts))
        return dict(cursor.fetchall())


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


def _rows_written() -> int:
    """Rows this transaction has inserted, updated or deleted so far (rolled back ones too)."""
    with db.cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_xact_user_tables")
        return int(cursor.fetchone()[0])


class WriteWatch:
    """Whether a request changed what the database holds.

    PostgreSQL counts the rows each transaction writes (``pg_stat_xact_user_tables``): while
    that count stands still nothing was written, and only when it moves is the database
    fingerprinted again, to tell a write that stayed from one that was rolled back.
    """

    def __init__(self, tenant: Any, tenant_context: Any, *, ignore: tuple[str, ...] = ()) -> None:
        self.tenant, self.tenant_context, self.ignore = tenant, tenant_context, ignore
        self.state = self._fingerprint()
        self.count = _rows_written()

    def _fingerprint(self) -> dict[str, str]:
        with self.tenant_context(self.tenant):
            return fingerprint(self.tenant.schema_name, ignore=self.ignore)

    def changed(self) -> list[str]:
        """The tables that changed since the last call (or since the watch began)."""
        count = _rows_written()
        if count == self.count:
            return []
        self.count = count
        state = self._fingerprint()
        changed, self.state = changed_tables(self.state, state), state
        self.count = _rows_written()
        return changed


def short(value: Any) -> str:
    """A value as a failure message names it (a 10,000-character string by its length)."""
    text = repr(value)
    if len(text) > 80:
        return (
            f"{text[:40]}...({len(text)} chars, sha1 {hashlib.sha1(text.encode('utf-8', 'replace')).hexdigest()[:8]})"  # noqa: S324
        )
    return text
