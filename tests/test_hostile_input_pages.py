"""No input makes a console page fail or lose anything.

Every page the URL configuration serves outside the API, the admin and the webhooks is opened
as the tenant's owner; what a person (or a script posing as the browser) can send is read
from the page itself: each form's fields (filters, actions, notes), the links' query
parameters, and the ``hx-post`` of each row's buttons. Each field is then sent with values
hostile to it. An answer is below 500 and a refusal writes nothing. Every path parameter is
swept with hostile values too (an id that is none, an action no page takes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from django.core.cache import cache
from django.urls import URLPattern, URLResolver, get_resolver

from conftest import signed_in
from tests.hostile import LONG, World, WriteWatch, short

# What every form field and query parameter gets, percent-encoded as it arrives.
FIELD_VALUES: dict[str, str] = {
    "nul": "a%00b",
    "invalid_utf8": "%ED%A0%80%FF",
    "long": LONG,
    "empty": "",
    "beyond_64_bit": str(2**64),
    "not_a_uuid": "not-a-uuid",
    "bad_date": "2026-13-45",
}
GET_VALUES = {label: value for label, value in FIELD_VALUES.items() if label != "empty"}  # filters nothing
# Query parameters a page reads that no form or link of it may name: the pager's (its links show
# only past 50 rows) and where signing in leads back to.
PAGE_PARAMETERS = ("page", "next")
OUTSIDE = ("api/", "admin/", "webhooks/", "logout/")

# What a refused post may write by design: a failed login's audit trail and throttling count.
MAY_WRITE_WHEN_REFUSED = {"/login/": ("audit_auditevent", "axes_accessattempt", "django_session")}


@dataclass
class Form:
    method: str
    action: str
    fields: dict[str, str] = field(default_factory=dict)
    htmx: bool = False


# Forms a page shows only in some states (a month is closed only once ready, reopened once
# closed): posted as the page would post them.
STATE_FORMS = {
    "/close/": [
        Form("post", "/close/close/", {"month": "2026-03", "note": ""}),
        Form("post", "/close/reopen/", {"month": "2026-03", "note": "late refund"}),
    ],
}


class FormReader(HTMLParser):
    """The forms of a page (with the fields that name them by ``form=``), its buttons that post
    on their own (``hx-post``), and the query parameters of its links."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.forms: list[Form] = []
        self.by_id: dict[str, Form] = {}
        self.current: Form | None = None
        self.select: str | None = None
        self.link_parameters: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for url in (a.get("href"), a.get("hx-get")):
            if url and urlsplit(url).query:
                self.link_parameters.update(name for name, _ in parse_qsl(urlsplit(url).query))
        if tag == "form":
            post = a.get("hx-post") or (a.get("action") if a.get("method", "get").lower() == "post" else "")
            target = post or a.get("hx-get") or a.get("action") or self.path
            self.current = Form("post" if post else "get", target, htmx=bool(a.get("hx-post") or a.get("hx-get")))
            self.forms.append(self.current)
            if a.get("id"):
                self.by_id[a["id"]] = self.current
            return
        if "hx-post" in a and tag != "form":
            # a button that posts on its own; inside a form, htmx sends that form's fields with it
            fields = self.current.fields if self.current is not None else {}
            self.forms.append(Form("post", a["hx-post"], fields, htmx=True))
        name = a.get("name")
        owner = self.by_id.get(a.get("form", ""), self.current)
        if owner is None or not name or (a.get("type") == "hidden" and name == "csrfmiddlewaretoken"):
            return
        if tag in ("input", "textarea", "button"):
            if a.get("type") in ("checkbox", "radio") and name in owner.fields:
                return
            owner.fields.setdefault(name, a.get("value", ""))
        elif tag == "select":
            self.select = name
            owner.fields.setdefault(name, "")
        elif tag == "option" and self.select and not owner.fields.get(self.select):
            owner.fields[self.select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.current = None
        elif tag == "select":
            self.select = None


def _routes(patterns: list[Any], prefix: str = "") -> list[str]:
    routes = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes += _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and not route.startswith(("^", *OUTSIDE)):
            routes.append(route)
    return sorted(set(routes))


ROUTES = _routes(get_resolver().url_patterns)
PAGES = [route for route in ROUTES if "<" not in route]
WITH_PARAMETERS = [route for route in ROUTES if "<" in route]


def _ids(world: World) -> dict[str, Any]:
    return {
        "connections/": world.connection.pk,
        "recon/exceptions/": world.exception.pk,
        "recon/payouts/": world.payout.pk,
        "postings/": world.posting.pk,
        "schedules/": world.schedule.pk,
    }


@pytest.fixture
def world(hostile_world, db) -> World:
    return hostile_world


class Sweep:
    def __init__(self, client, world: World, in_tenant, path: str = "") -> None:
        self.client = client
        self.watch = WriteWatch(world.tenant, in_tenant, ignore=MAY_WRITE_WHEN_REFUSED.get(path, ()))
        self.problems: list[str] = []

    def send(self, case: str, method: str, path: str, body: str = "", htmx: bool = False):
        cache.clear()
        extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        try:
            if method == "get":
                response = self.client.get(path, **extra)
            else:
                response = self.client.post(path, body, content_type="application/x-www-form-urlencoded", **extra)
        except Exception as exc:  # the test client re-raises what no handler answered
            self.problems.append(f"{case}: raised {type(exc).__name__}: {short(str(exc))}")
            return None
        if response.status_code >= 500:
            self.problems.append(f"{case}: {response.status_code}")
        elif response.status_code == 405:  # a post-only action asked with a GET: Allow says how
            if not response.has_header("Allow"):
                self.problems.append(f"{case}: 405 without Allow")
        elif response.status_code >= 400 and not response.content.strip():
            self.problems.append(f"{case}: {response.status_code} with nothing said")
        written = self.watch.changed()
        if written and response.status_code >= 400:
            self.problems.append(f"{case}: refused with {response.status_code} but wrote {written}")
        return response


def _encode(fields: dict[str, str], name: str, value: str, *, twice: bool = False) -> str:
    """The form as a browser posts it, ``name`` holding ``value`` (already percent-encoded)."""
    parts = [f"{quote(k)}={value if k == name else quote(v)}" for k, v in fields.items()]
    if name not in fields:
        parts.append(f"{quote(name)}={value}")
    if twice:
        parts.append(f"{quote(name)}=2")
    return "&".join(parts)


@pytest.mark.parametrize("route", PAGES)
def test_no_hostile_field_makes_a_page_or_its_forms_fail_or_write(route, world, tenant_a, in_tenant):
    client = signed_in(tenant_a.owner.email)
    path = "/" + route
    sweep = Sweep(client, world, in_tenant, path)
    page = sweep.send(f"GET {path}", "get", path)
    assert page is not None
    if page.status_code == 405:
        # An action (recon/run/, postings/bulk/, ...): its fields are swept through the forms
        # of the pages that post to it, below, as a browser sends them.
        assert page["Allow"] == "POST"
        return
    assert page.status_code == 200, f"{path} answers {page.status_code}"
    reader = FormReader(path)
    reader.feed(page.content.decode())

    # the page's own query parameters: those its forms and links name, and those it reads unnamed
    parameters = {*PAGE_PARAMETERS, *reader.link_parameters}
    for form in reader.forms:
        if form.method == "get" and urlsplit(form.action).path == path:
            parameters.update(form.fields)
    for name in sorted(parameters):  # as htmx asks when a filter changes (the list alone)
        for label, value in GET_VALUES.items():
            sweep.send(f"GET {path}?{name}={label}", "get", f"{path}?{_encode({}, name, value)}", htmx=True)
        sweep.send(f"GET {path}?{name} twice", "get", f"{path}?{_encode({}, name, '1', twice=True)}", htmx=True)

    # each form it posts, one field at a time hostile, the others as the page filled them
    for form in [*reader.forms, *STATE_FORMS.get(path, [])]:
        if form.method != "post" or urlsplit(form.action).path in ("/logout/",):
            continue
        if not form.fields:  # a button: its action takes no field, and one sent is not read
            sweep.send(f"POST {form.action}", "post", form.action, "note=a%00b", form.htmx)
        for name in form.fields:
            for label, value in FIELD_VALUES.items():
                body = _encode(form.fields, name, value)
                sweep.send(f"POST {form.action} {name}={label}", "post", form.action, body, form.htmx)
            body = _encode(form.fields, name, "1", twice=True)
            sweep.send(f"POST {form.action} {name} twice", "post", form.action, body, form.htmx)

    assert sweep.problems == [], f"{path}:\n" + "\n".join(sweep.problems)


HOSTILE_PATH_VALUES = ["%00", "x" * 1000, "%FF", "not-a-uuid", "00000000-0000-0000-0000-000000000000"]


@pytest.mark.parametrize("route", WITH_PARAMETERS)
def test_no_hostile_path_makes_a_page_fail(route, world, tenant_a, in_tenant):
    import re

    sweep = Sweep(signed_in(tenant_a.owner.email), world, in_tenant)
    real = next((str(pk) for prefix, pk in _ids(world).items() if route.startswith(prefix)), "")
    parameters = re.findall(r"<(?:\w+:)?(\w+)>", route)
    for parameter in parameters:
        for value in HOSTILE_PATH_VALUES:
            path = "/" + route
            for other in parameters:
                replacement = value if other == parameter else (real if other == "pk" else "acknowledge")
                path = re.sub(rf"<(?:\w+:)?{other}>", replacement, path)
            for method in ("get", "post"):
                sweep.send(f"{method.upper()} {path[:120]}", method, path, "note=x", htmx=True)

    assert sweep.problems == [], f"{route}:\n" + "\n".join(sweep.problems)
