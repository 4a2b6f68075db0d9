"""No input makes the API fail or lose anything.

Every operation the OpenAPI schema lists (so a new endpoint is swept too) gets, as an owner
of the tenant: hostile path ids, every query parameter it documents (and one it does not)
with values hostile to that parameter's kind, whole bodies that are no JSON object, and
every body field with values hostile to its kind. Each answer is JSON below 500, a refusal
says why, and a refusal writes nothing. The canonical tables' filters, which the schema
cannot list (they depend on the table), are swept from their FilterSets.

What hostile-looking input is legitimately accepted (a 4,000-character note) is checked to
be stored exactly as sent, below the sweep.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from django.core.cache import cache

from tests.hostile import (
    HOSTILE_BODIES,
    JSON_ANY,
    JSON_BY_KIND,
    PARSER_BODIES,
    QUERY_ANY,
    QUERY_BY_KIND,
    World,
    WriteWatch,
    short,
)

WRITES = ("POST", "PUT", "PATCH", "DELETE")


def _kind(schema: dict[str, Any]) -> str:
    """What kind of value an OpenAPI schema describes, as the hostile values are grouped."""
    if "$ref" in schema or "enum" in schema or "allOf" in schema:
        return "enum"
    if "oneOf" in schema:
        return _kind(schema["oneOf"][0])
    if schema.get("type") == "string" and schema.get("format") in ("uuid", "date", "date-time", "email"):
        return schema["format"]
    return schema.get("type", "string")


def _operations() -> list[tuple[str, str, dict[str, str], dict[str, str]]]:
    """(method, path template, {query parameter: kind}, {body field: kind}) of every operation."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    operations = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            query = {p["name"]: _kind(p["schema"]) for p in operation.get("parameters", []) if p["in"] == "query"}
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            fields: dict[str, str] = {}
            if body and "$ref" in body:
                properties = components[body["$ref"].rsplit("/", 1)[-1]].get("properties", {})
                alike: dict[str, str] = {}  # fields declared alike (a mapping's accounts) are swept once
                for name, field in properties.items():
                    alike.setdefault(json.dumps(field, sort_keys=True), name)
                fields = {name: _kind(properties[name]) for name in alike.values()}
            operations.append((method.upper(), path, query, fields))
    return operations


OPERATIONS = _operations()

# What a refusal may write by design: the audit trail of a failed login or of a query NetSuite
# refused, and the failed attempt that login throttling counts.
MAY_WRITE_WHEN_REFUSED = {
    "/api/v1/auth/login/": ("audit_auditevent", "axes_accessattempt"),
    "/api/v1/netsuite/suiteql/": ("audit_auditevent",),
}


def _valid_bodies(world: World) -> dict[tuple[str, str], dict[str, Any]]:
    """A valid body per operation, so a hostile value in one field reaches what reads the others."""
    return {
        ("POST", "/api/v1/auth/login/"): {"email": "owner@acme.example.com", "password": "wrong"},
        ("POST", "/api/v1/auth/register/"): {
            "email": "new@example.com",
            "password": "pw-hostile-1",
            "tenant_name": "N",
        },
        ("POST", "/api/v1/auth/switch-tenant/"): {"tenant": "acme"},
        ("POST", "/api/v1/connections/"): {"name": "S", "provider": "stripe", "credentials": {"api_key": "sk_test_1"}},
        ("PATCH", "/api/v1/connections/{id}/"): {"name": "Renamed"},
        ("POST", "/api/v1/netsuite/mappings/"): {
            "connection": str(world.connection.pk),
            "netsuite_connection": str(world.netsuite.pk),
            "subsidiary_id": "9",
        },
        ("PATCH", "/api/v1/netsuite/mappings/{id}/"): {"subsidiary_id": "2"},
        ("PATCH", "/api/v1/netsuite/settings/"): {"posting_mode": "manual"},
        ("POST", "/api/v1/netsuite/suiteql/"): {"connection": str(world.netsuite.pk), "q": "SELECT id FROM account"},
        ("POST", "/api/v1/postings/bulk/"): {"ids": [str(world.posting.pk)], "action": "approve"},
        ("POST", "/api/v1/recon/close/"): {"month": "2026-03", "note": "n"},
        ("POST", "/api/v1/recon/close/reopen/"): {"month": "2026-03", "note": "n"},
        ("POST", "/api/v1/recon/exceptions/{id}/acknowledge/"): {"note": "n"},
        ("POST", "/api/v1/recon/exceptions/{id}/resolve/"): {"note": "n"},
        ("POST", "/api/v1/recon/exceptions/bulk/"): {"ids": [str(world.exception.pk)], "action": "acknowledge"},
        ("POST", "/api/v1/recon/runs/"): {"payout_ids": ["po_hostile_1"]},
        ("POST", "/api/v1/schedules/"): {"kind": "recon.run", "every_hours": 6},
        ("PATCH", "/api/v1/tenants/current/"): {"name": "Acme Ltd"},
        ("POST", "/api/v1/users/"): {"email": "invitee@example.com", "role": "viewer"},
        ("PATCH", "/api/v1/users/{user_id}/"): {"role": "viewer"},
    }


def _path(template: str, world: World) -> str:
    """The template naming an object of tenant A for the operation to act on."""
    ids = {
        "/api/v1/audit/": world.audit_event.pk,
        "/api/v1/connections/": world.connection.pk,
        "/api/v1/jobs/": world.job.pk,
        "/api/v1/netsuite/mappings/": world.mapping.pk,
        "/api/v1/postings/": world.posting.pk,
        "/api/v1/recon/exceptions/": world.exception.pk,
        "/api/v1/recon/payouts/": world.payout.pk,
        "/api/v1/recon/runs/": world.run.pk,
        "/api/v1/schedules/": world.schedule.pk,
    }
    object_id = ids.get(template.split("{", 1)[0], "")
    return (
        template.replace("{id}", str(object_id))
        .replace("{user_id}", str(world.member_id))
        .replace("{table}", "payouts")
    )


HOSTILE_PATH_VALUES = {
    "{id}": ["not-a-uuid", "%00", "1" * 100, "00000000-0000-0000-0000-000000000000"],
    "{user_id}": [str(2**64), "9" * 40, "-1", "0", "%00"],
    "{table}": ["%00", "x" * 10_000, "%FF", "payouts%00"],
}


@pytest.fixture
def world(hostile_world, db) -> World:
    return hostile_world


class Sweep:
    """Sends requests as tenant A's owner and collects what went wrong with each."""

    def __init__(self, client, world: World, in_tenant, method: str, template: str) -> None:
        self.client, self.method = client, method
        self.watch = WriteWatch(world.tenant, in_tenant, ignore=MAY_WRITE_WHEN_REFUSED.get(template, ()))
        self.problems: list[str] = []

    def send(
        self, case: str, path: str, body: bytes | None = None, content_type: str = "application/json", **headers: str
    ):
        cache.clear()  # throttles count in the cache: every case is a first attempt
        call = getattr(self.client, self.method.lower())
        try:
            if body is None:
                response = call(path, **headers)
            else:
                response = call(path, data=body, content_type=content_type, **headers)
        except Exception as exc:  # the test client re-raises what no handler answered
            self.problems.append(f"{case}: raised {type(exc).__name__}: {short(str(exc))}")
            return None
        self.check(case, response)
        written = self.watch.changed()
        if written and response.status_code >= 400:
            self.problems.append(f"{case}: refused with {response.status_code} but wrote {written}")
        return response

    def check(self, case: str, response) -> None:
        status = response.status_code
        if status >= 500:
            self.problems.append(f"{case}: {status} {short(response.content[:300])}")
            return
        if status == 204:
            return
        content_type = response.get("Content-Type", "")
        if status < 300 and content_type.startswith("text/csv"):
            return
        if not content_type.startswith("application/json"):
            self.problems.append(f"{case}: {status} answered {content_type!r}, not JSON")
            return
        payload = json.loads(response.content)
        if status >= 400 and not (isinstance(payload, dict) and payload):  # "detail", or the fields at fault
            self.problems.append(f"{case}: {status} with no message: {short(payload)}")


PAGING = ("page", "page_size")


def _query_cases(query: dict[str, str], *, write: bool) -> list[tuple[str, str]]:
    """Hostile values for each parameter the operation documents, and for one it does not (a
    write refuses any query string: there, one value shows it is refused).

    What every list refuses alike before a filter reads it (a value given empty or twice:
    ``ecomops.api.filters.check_list_query``) is sent to its first parameter, and twice to each
    that takes several values. A NUL and text that is no UTF-8 go to the text parameters: one of
    another kind (a uuid, a date, a choice) refuses them as it refuses any text not its kind.
    The pager (one class, its range checks in test_api_errors) gets the values no number is."""
    unknown = {"nul": QUERY_ANY["nul"]} if write else {**QUERY_ANY, **QUERY_BY_KIND["string"]}
    cases = [(f"?no_such_filter={label}", f"no_such_filter={value}") for label, value in unknown.items()]
    for n, (name, kind) in enumerate(query.items()):
        values = {"long": QUERY_ANY["long"], **QUERY_BY_KIND.get(kind, {})}
        if name in PAGING:
            values = {"nul": QUERY_ANY["nul"], "long": QUERY_ANY["long"], "beyond_64_bit": str(2**64)}
        if kind in ("string", "array"):  # what a form field of another kind refuses as any text
            values.update(nul=QUERY_ANY["nul"], invalid_utf8=QUERY_ANY["invalid_utf8"])
        if n == 0:
            values["empty"] = ""
        cases += [(f"?{name}={label}", f"{quote(name)}={value}") for label, value in values.items()]
        if n == 0 or kind == "array":
            cases.append((f"?{name} twice", f"{quote(name)}=1&{quote(name)}=2"))
    return cases


@pytest.mark.parametrize(
    ("method", "template", "query", "fields"), OPERATIONS, ids=[f"{m} {p}" for m, p, _, _ in OPERATIONS]
)
def test_no_hostile_input_makes_an_endpoint_fail_or_write(method, template, query, fields, world, api_as, in_tenant):
    sweep = Sweep(api_as(world.user, world.tenant), world, in_tenant, method, template)
    path = _path(template, world)
    valid = _valid_bodies(world).get((method, template), {})
    valid_body = json.dumps(valid).encode() if method in WRITES else None

    for placeholder, values in HOSTILE_PATH_VALUES.items():
        if placeholder in template:
            for value in values:
                sweep.send(f"path {placeholder}={short(value)}", _path(template.replace(placeholder, value), world))

    for case, query_string in _query_cases(query, write=method in WRITES):
        response = sweep.send(case, f"{path}?{query_string}", valid_body)
        if method in WRITES and response is not None and response.status_code != 400:
            # a write reads its body only: a query parameter is refused, not ignored
            sweep.problems.append(f"{case}: answered {response.status_code}, not 400")

    if method in ("POST", "PUT", "PATCH"):
        for case, (body, content_type) in HOSTILE_BODIES.items():
            response = sweep.send(f"body {case}", path, body, content_type)
            if case == "unknown_field" and response is not None and response.status_code != 400:
                # a field the endpoint does not read is refused, not dropped unsaid
                sweep.problems.append(f"body {case}: answered {response.status_code}, not 400")
        for name, kind in fields.items():
            for label, value in {**JSON_ANY, **JSON_BY_KIND.get(kind, {})}.items():
                sweep.send(f"{name}={label}", path, json.dumps({**valid, name: value}).encode())

    assert sweep.problems == [], f"{method} {template}:\n" + "\n".join(sweep.problems)


def test_no_hostile_filter_makes_a_canonical_table_fail(world, api_as, in_tenant):
    from canonical.filters import FILTERS

    sweep = Sweep(api_as(world.user, world.tenant), world, in_tenant, "GET", "/api/v1/tables/{table}/")
    swept: set[str] = set()
    for table, filterset in FILTERS.items():
        for name in filterset.base_filters.keys() - swept:  # a filter every table shares, on the first
            swept.add(name)
            for label, value in {**QUERY_ANY, "number": str(2**64), "date": "2026-13-45"}.items():
                sweep.send(f"{table}?{name}={label}", f"/api/v1/tables/{table}/?{name}={value}")
            sweep.send(f"{table}?{name} twice", f"/api/v1/tables/{table}/?{name}=1&{name}=2")

    assert sweep.problems == [], "\n".join(sweep.problems)


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_no_body_the_parser_refuses_fails_or_writes(world, api_as, in_tenant, method):
    # One endpoint each way: every body passes the same parser (ecomops.api.parsers) before its view.
    path = "/api/v1/recon/runs/" if method == "POST" else "/api/v1/tenants/current/"
    sweep = Sweep(api_as(world.user, world.tenant), world, in_tenant, method, path)

    for case, (body, content_type) in PARSER_BODIES.items():
        response = sweep.send(f"body {case}", path, body, content_type)
        if response is not None and response.status_code not in (400, 415):
            sweep.problems.append(f"body {case}: answered {response.status_code}, not a refusal")

    assert sweep.problems == [], "\n".join(sweep.problems)


HOSTILE_HEADERS = {
    "HTTP_X_TENANT": ["acme\x00", "x" * 10_000, "../beta", "00000000-0000-0000-0000-000000000000", ""],
    "HTTP_AUTHORIZATION": ["Bearer \x00", "Bearer " + "a" * 10_000, "Bearer a.b.c", "Basic Og==", "Bearer"],
    "HTTP_HOST": ["a\x00b", "x" * 300, "elsewhere.example", "[::1"],
    "HTTP_X_CORRELATION_ID": ["\x00", "x" * 10_000, "id\r\nX-Injected: 1"],
}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_no_hostile_header_makes_the_api_fail_or_write(world, api_as, in_tenant, method):
    # The headers the API reads before any view: the tenant named, the token, the host, the correlation id.
    path = "/api/v1/recon/runs/"
    sweep = Sweep(api_as(world.user, world.tenant), world, in_tenant, method, path)
    signed = dict(sweep.client._credentials)
    body = b'{"payout_ids": ["po_hostile_1"]}' if method == "POST" else None

    for header, values in HOSTILE_HEADERS.items():
        for value in values:
            if header == "HTTP_AUTHORIZATION":
                sweep.client.credentials(HTTP_AUTHORIZATION=value)
            response = sweep.send(
                f"{header}={short(value)}", path, body, **({} if header == "HTTP_AUTHORIZATION" else {header: value})
            )
            if header == "HTTP_X_CORRELATION_ID" and response is not None:
                echoed = response["X-Correlation-ID"]
                if echoed == value or not echoed.isalnum():  # a value it cannot vouch for is replaced
                    sweep.problems.append(f"{header}={short(value)}: echoed back as {short(echoed)}")
        sweep.client.credentials(**signed)

    assert sweep.problems == [], "\n".join(sweep.problems)


# Text at the edge of what the fields take, with what a hostile eye would try in it: it is
# accepted, and stored as sent (not cut, escaped or re-encoded).
EDGY = 'Ünïcødé 😀 <script>alert(1)</script> \'; DROP TABLE x; -- \t"quoted"\r\n=SUM(A1) ‮rtl'


def _edgy(length: int) -> str:
    text = (EDGY * (length // len(EDGY) + 1))[:length]
    return text.strip() + "x" * (length - len(text.strip()))  # trimmed ends are the one change DRF makes


def test_what_hostile_looking_input_is_accepted_is_stored_exactly(world, api_as, in_tenant):
    from connections.models import Connection
    from recon.models import ReconException
    from tenants.models import Tenant

    client = api_as(world.user, world.tenant)
    note, name, tenant_name, secret = _edgy(4000), _edgy(200), _edgy(200), "sk_test_" + _edgy(10_000)

    acknowledged = client.post(f"/api/v1/recon/exceptions/{world.exception.pk}/acknowledge/", {"note": note})
    created = client.post(
        "/api/v1/connections/", {"name": name, "provider": "stripe", "credentials": {"api_key": secret}}
    )
    renamed = client.patch("/api/v1/tenants/current/", {"name": tenant_name})

    assert (acknowledged.status_code, created.status_code, renamed.status_code) == (200, 201, 200)
    assert acknowledged.json()["note"] == note
    assert acknowledged.json()["history"][-1]["note"] == note
    assert created.json()["name"] == name
    assert renamed.json()["name"] == tenant_name
    assert Tenant.objects.get(pk=world.tenant.pk).name == tenant_name
    with in_tenant(world.tenant):
        assert ReconException.objects.get(pk=world.exception.pk).note == note
        stored = Connection.objects.get(pk=created.json()["id"])
        assert (stored.name, stored.credentials["api_key"]) == (name, secret)
