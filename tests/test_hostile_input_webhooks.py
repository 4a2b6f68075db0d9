"""No signed body makes a webhook fail or record what it cannot: the signature is valid (the
sender holds the secret, or the processor itself sends something odd) and the JSON is
hostile: ids with NUL, lone surrogates, 10,000 characters or the wrong type, types and
topics likewise, numbers beyond 64 bits, deeply nested documents. Each answer is JSON below
500; a refusal records nothing but its audit line; an accepted event is recorded as sent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from connections.services import connection_create
from connections.shopify.sandbox.server import sign_webhook as shopify_sign
from connections.stripe.sandbox.server import sign_webhook as stripe_sign
from tests.hostile import LONG, NUL, SURROGATE, WriteWatch, short

STRIPE_SECRET = "whsec_hostile_signing_secret"
SHOPIFY_SECRET = "shpss_hostile_app_secret"

# Values for an id, a type or a topic a body or header carries.
HOSTILE_IDS: dict[str, Any] = {
    "nul": NUL,
    "lone_surrogate": SURROGATE,
    "long": LONG,
    "empty": "",
    "null": None,
    "number": 2**64,
    "huge_number": 10**4000,
    "float": 1e308,
    "list": ["ch_1"],
    "object": {"id": "ch_1"},
    "nested": {"a": [{"b": [NUL]}]},
    "control": "ch_\x1b[2J\r\n",
}
DEEP = 100_000


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def stripe_bodies() -> dict[str, bytes]:
    """Stripe events, each hostile in one place."""
    bodies: dict[str, bytes] = {}

    def event(**overrides: Any) -> dict[str, Any]:
        obj = {"id": "ch_1", "object": "charge", "payment_intent": "pi_1"}
        base = {"id": "evt_hostile", "object": "event", "type": "charge.refunded", "data": {"object": obj}}
        return {**base, **overrides}

    for label, value in HOSTILE_IDS.items():
        bodies[f"id={label}"] = _json(event(id=value))
        bodies[f"type={label}"] = _json(event(type=value))
        bodies[f"object.id={label}"] = _json(event(data={"object": {"id": value, "object": "charge"}}))
        bodies[f"object.charge={label}"] = _json(event(data={"object": {"id": "re_1", "charge": value}}))
        if isinstance(value, str):
            prefixed = "ch_" + value
            bodies[f"object.id=ch_+{label}"] = _json(event(data={"object": {"id": prefixed, "object": "charge"}}))
    bodies["data=deeply_nested"] = (
        b'{"id": "evt_deep", "type": "charge.refunded", "data": ' + _deep(DEEP).encode() + b"}"
    )
    bodies["whole=deeply_nested"] = _deep(DEEP).encode()
    bodies["whole=array"] = b"[]"
    bodies["whole=invalid_utf8"] = b'{"id": "evt_\xff", "type": "charge.refunded", "data": {"object": {}}}'
    bodies["whole=nan"] = b'{"id": "evt_nan", "type": "charge.refunded", "data": {"object": {"amount": NaN}}}'
    return bodies


def shopify_bodies() -> dict[str, bytes]:
    bodies: dict[str, bytes] = {}
    for label, value in HOSTILE_IDS.items():
        bodies[f"id={label}"] = _json({"id": value})
        bodies[f"admin_graphql_api_id={label}"] = _json({"id": 1, "admin_graphql_api_id": value})
        if isinstance(value, str):
            gid = "gid://shopify/Order/" + value
            bodies[f"admin_graphql_api_id=gid+{label}"] = _json({"id": 1, "admin_graphql_api_id": gid})
    bodies["id=unicode_digits"] = _json({"id": "١٢٣"})
    bodies["whole=deeply_nested"] = _deep(DEEP).encode()
    bodies["whole=deeply_nested_object"] = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    bodies["whole=invalid_utf8"] = b'{"id": "\xff"}'
    return bodies


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()  # a lone surrogate as its escape, as a JSON encoder sends it


HOSTILE_HEADERS = {"nul": NUL, "long": LONG, "control": "orders/updated\x1b[2J", "latin1": "orders/\xe9"}


@pytest.fixture
def hooks(tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        stripe = connection_create(
            actor=tenant_a.admin,
            name="Stripe",
            provider="stripe",
            credentials={"api_key": "sk_test_hostile_1234", "webhook_secret": STRIPE_SECRET},
        )
        shopify = connection_create(
            actor=tenant_a.admin,
            name="Shop",
            provider="shopify",
            credentials={"access_token": "shpat_hostile_1234", "webhook_secret": SHOPIFY_SECRET},
            account_id="hostile.myshopify.com",
        )
    return stripe, shopify


class Sweep:
    def __init__(self, tenant, in_tenant) -> None:
        self.watch = WriteWatch(tenant, in_tenant, ignore=("audit_auditevent",))
        self.problems: list[str] = []

    def send(self, case: str, path: str, body: bytes, **headers: str) -> None:
        try:
            response = Client().post(path, body, content_type="application/json", **headers)
        except Exception as exc:  # the test client re-raises what no handler answered
            self.problems.append(f"{case}: raised {type(exc).__name__}: {short(str(exc))}")
            return
        status = response.status_code
        if status >= 500:
            self.problems.append(f"{case}: {status}")
        elif response["Content-Type"] != "application/json" or not response.json().get("detail", response.json()):
            self.problems.append(f"{case}: {status} answered {short(response.content[:200])}")
        written = self.watch.changed()
        if written and status >= 400:
            self.problems.append(f"{case}: refused with {status} but wrote {written}")


def test_no_signed_stripe_body_makes_the_webhook_fail_or_record_what_it_cannot(hooks, tenant_a, in_tenant):
    stripe, _ = hooks
    sweep = Sweep(tenant_a.tenant, in_tenant)

    for case, body in stripe_bodies().items():
        signature = stripe_sign(body, STRIPE_SECRET)
        sweep.send(case, f"/webhooks/stripe/{stripe.pk}/", body, HTTP_STRIPE_SIGNATURE=signature)

    assert sweep.problems == [], "\n".join(sweep.problems)


def test_no_signed_shopify_body_or_header_makes_the_webhook_fail_or_record_what_it_cannot(hooks, tenant_a, in_tenant):
    _, shopify = hooks
    sweep = Sweep(tenant_a.tenant, in_tenant)
    path = f"/webhooks/shopify/{shopify.pk}/"

    for n, (case, body) in enumerate(shopify_bodies().items()):
        headers = {"HTTP_X_SHOPIFY_TOPIC": "orders/updated", "HTTP_X_SHOPIFY_EVENT_ID": f"evt-{n}"}
        sweep.send(case, path, body, HTTP_X_SHOPIFY_HMAC_SHA256=shopify_sign(body, SHOPIFY_SECRET), **headers)
    body = _json({"id": 1})
    for label, value in HOSTILE_HEADERS.items():
        for header in ("HTTP_X_SHOPIFY_TOPIC", "HTTP_X_SHOPIFY_EVENT_ID"):
            headers = {
                "HTTP_X_SHOPIFY_TOPIC": "orders/updated",
                "HTTP_X_SHOPIFY_EVENT_ID": f"evt-{label}",
                header: value,
            }
            sweep.send(
                f"{header}={label}",
                path,
                body,
                HTTP_X_SHOPIFY_HMAC_SHA256=shopify_sign(body, SHOPIFY_SECRET),
                **headers,
            )

    assert sweep.problems == [], "\n".join(sweep.problems)


def test_an_odd_but_printable_event_id_and_type_are_recorded_as_sent(hooks, tenant_a, in_tenant):
    from connections.models import WebhookEvent

    stripe, _ = hooks
    event_id, event_type = "evt_é😀'\"<x>" + "e" * 240, "charge.refunded"
    body = _json({"id": event_id, "type": event_type, "data": {"object": {"id": "ch_1", "object": "charge"}}})

    response = Client().post(
        f"/webhooks/stripe/{stripe.pk}/",
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=stripe_sign(body, STRIPE_SECRET),
    )

    assert response.status_code == 202, response.content
    with in_tenant(tenant_a.tenant):
        assert list(WebhookEvent.objects.values_list("event_id", "event_type", "target_ids")) == [
            (event_id, event_type, ["ch_1"])
        ]
