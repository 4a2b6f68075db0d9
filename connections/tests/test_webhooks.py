"""Webhooks: only a valid signature does anything; duplicates and replays are harmless."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from audit.models import AuditEvent
from connections.models import SyncJob, WebhookEvent
from connections.services import connection_create
from connections.shopify.sandbox.server import sign_webhook as shopify_sign
from connections.stripe.sandbox.server import sign_webhook as stripe_sign

STRIPE_SECRET = "whsec_test_signing_secret_abc"
SHOPIFY_SECRET = "shpss_test_app_secret_xyz"


@pytest.fixture
def hooks(tenant_a, in_tenant):
    with in_tenant(tenant_a.tenant):
        stripe_conn = connection_create(
            actor=tenant_a.admin,
            name="Stripe",
            provider="stripe",
            credentials={"api_key": "sk_test_x_1234567890", "webhook_secret": STRIPE_SECRET},
        )
        shop_conn = connection_create(
            actor=tenant_a.admin,
            name="Shop",
            provider="shopify",
            credentials={"access_token": "shpat_x_1234567890", "webhook_secret": SHOPIFY_SECRET},
            account_id="demo.myshopify.com",
        )
    return stripe_conn, shop_conn


def stripe_event(event_id: str = "evt_1", obj_id: str = "ch_123", **extra) -> bytes:
    obj = {"id": obj_id, "object": "charge", "amount": 999999, "payment_intent": "pi_777", **extra}
    return json.dumps({"id": event_id, "object": "event", "type": "charge.refunded", "data": {"object": obj}}).encode()


def post_stripe(client: Client, conn, body: bytes, signature: str | None):
    headers = {"HTTP_STRIPE_SIGNATURE": signature} if signature is not None else {}
    return client.post(f"/webhooks/stripe/{conn.pk}/", body, content_type="application/json", **headers)


def _state(tenant, in_tenant):
    with in_tenant(tenant):
        return (
            list(SyncJob.objects.values_list("trigger", "target_ids")),
            WebhookEvent.objects.count(),
            sorted(AuditEvent.objects.filter(action__startswith="webhook.").values_list("action", "outcome")),
        )


def test_valid_stripe_webhook_queues_a_targeted_sync_of_the_named_ids(hooks, tenant_a, in_tenant):
    stripe_conn, _ = hooks
    body = stripe_event()

    response = post_stripe(Client(), stripe_conn, body, stripe_sign(body, STRIPE_SECRET))

    assert response.status_code == 202, response.content
    jobs, events, audits = _state(tenant_a.tenant, in_tenant)
    assert jobs == [("webhook", ["ch_123", "pi_777"])]  # ids only: the amount in the body is ignored
    assert events == 1
    assert audits == [("webhook.received", "success")]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("forged", "signature mismatch"),
        ("missing", "Missing Stripe-Signature"),
        ("old", "tolerance"),
        ("garbled", "malformed header"),
        ("no_v1", "malformed header"),
        ("non_ascii", "malformed header"),
    ],
)
def test_bad_stripe_signatures_are_400_and_do_nothing(hooks, tenant_a, in_tenant, case, reason):
    stripe_conn, _ = hooks
    body = stripe_event()
    signature = {
        "forged": stripe_sign(body, "whsec_someone_else"),
        "missing": None,
        "old": stripe_sign(body, STRIPE_SECRET, timestamp=int(time.time()) - 3600),
        "garbled": "t=abc",
        "no_v1": f"t={int(time.time())}",
        "non_ascii": f"t={int(time.time())},v1=\xe9",
    }[case]

    response = post_stripe(Client(), stripe_conn, body, signature)

    assert response.status_code == 400
    assert reason in response.json()["detail"]
    jobs, events, audits = _state(tenant_a.tenant, in_tenant)
    assert (jobs, events) == ([], 0)
    assert audits == [("webhook.rejected", "denied")]


def test_tampered_body_with_a_valid_signature_is_refused(hooks, tenant_a, in_tenant):
    stripe_conn, _ = hooks
    signature = stripe_sign(stripe_event(), STRIPE_SECRET)

    response = post_stripe(Client(), stripe_conn, stripe_event(obj_id="ch_evil"), signature)

    assert response.status_code == 400
    assert _state(tenant_a.tenant, in_tenant)[:2] == ([], 0)


def test_a_replayed_or_redelivered_event_syncs_once(hooks, tenant_a, in_tenant):
    stripe_conn, _ = hooks
    body = stripe_event(event_id="evt_replayed")
    signature = stripe_sign(body, STRIPE_SECRET)
    client = Client()

    first = post_stripe(client, stripe_conn, body, signature)
    again = post_stripe(client, stripe_conn, body, signature)

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["status"] == "duplicate"
    jobs, events, _ = _state(tenant_a.tenant, in_tenant)
    assert len(jobs) == 1
    assert events == 1


def test_a_redelivered_event_whose_sync_failed_is_synced_again(hooks, tenant_a, in_tenant):
    stripe_conn, _ = hooks
    body = stripe_event(event_id="evt_failed_first")
    signature = stripe_sign(body, STRIPE_SECRET)
    client = Client()
    first = post_stripe(client, stripe_conn, body, signature)
    with in_tenant(tenant_a.tenant):
        SyncJob.objects.filter(pk=first.json()["sync_job"]).update(status="failed", error_message="Stripe HTTP 503")

    again = post_stripe(client, stripe_conn, body, signature)

    assert again.status_code == 200
    with in_tenant(tenant_a.tenant):
        jobs = list(SyncJob.objects.order_by("queued_at").values_list("status", "target_ids"))
        assert jobs == [("failed", ["ch_123", "pi_777"]), ("queued", ["ch_123", "pi_777"])]
        event = WebhookEvent.objects.get(event_id="evt_failed_first")
        assert str(event.sync_job_id) != first.json()["sync_job"]

    # a third delivery while that job is still queued (or waiting) queues nothing more
    post_stripe(client, stripe_conn, body, signature)
    with in_tenant(tenant_a.tenant):
        assert SyncJob.objects.count() == 2


def test_unknown_webhook_endpoint_is_404(db):
    response = Client().post(
        "/webhooks/stripe/00000000-0000-0000-0000-000000000000/", b"{}", content_type="application/json"
    )
    assert response.status_code == 404


def test_stripe_url_does_not_accept_a_shopify_connection(hooks):
    _, shop_conn = hooks
    assert post_stripe(Client(), shop_conn, stripe_event(), "t=1,v1=x").status_code == 404


def _post_shopify(conn, body: bytes, hmac_value: str | None, webhook_id: str = "wh-1"):
    headers = {"HTTP_X_SHOPIFY_TOPIC": "orders/updated", "HTTP_X_SHOPIFY_WEBHOOK_ID": webhook_id}
    if hmac_value is not None:
        headers["HTTP_X_SHOPIFY_HMAC_SHA256"] = hmac_value
    return Client().post(f"/webhooks/shopify/{conn.pk}/", body, content_type="application/json", **headers)


def test_valid_shopify_webhook_queues_the_order(hooks, tenant_a, in_tenant):
    _, shop_conn = hooks
    body = json.dumps(
        {
            "id": 820982911946154508,
            "admin_graphql_api_id": "gid://shopify/Order/820982911946154508",
            "total_price": "1.00",
        }
    ).encode()

    response = _post_shopify(shop_conn, body, shopify_sign(body, SHOPIFY_SECRET))
    duplicate = _post_shopify(shop_conn, body, shopify_sign(body, SHOPIFY_SECRET))

    assert (response.status_code, duplicate.status_code) == (202, 200)
    jobs, events, _ = _state(tenant_a.tenant, in_tenant)
    assert jobs == [("webhook", ["gid://shopify/Order/820982911946154508"])]
    assert events == 1


@pytest.mark.parametrize("hmac_value", [None, "bm90IHRoZSByaWdodCBobWFj", "\xe9"])
def test_bad_shopify_hmac_is_400(hooks, tenant_a, in_tenant, hmac_value):
    _, shop_conn = hooks

    response = _post_shopify(shop_conn, b'{"id": 1}', hmac_value)

    assert response.status_code == 400
    assert _state(tenant_a.tenant, in_tenant)[:2] == ([], 0)


def test_a_signed_body_that_is_not_shaped_like_a_stripe_event_is_400(hooks, tenant_a, in_tenant):
    stripe_conn, _ = hooks
    body = json.dumps({"id": "evt_odd", "type": "charge.updated", "data": [1]}).encode()

    response = post_stripe(Client(), stripe_conn, body, stripe_sign(body, STRIPE_SECRET))

    assert response.status_code == 400
    assert response.json()["detail"] == "Signed body is not a Stripe event (no data.object)."
    assert _state(tenant_a.tenant, in_tenant)[:2] == ([], 0)


def test_a_body_over_the_limit_is_413_and_does_nothing(hooks, tenant_a, in_tenant, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    stripe_conn, shop_conn = hooks
    body = stripe_event(padding="x" * 2000)

    stripe = post_stripe(Client(), stripe_conn, body, stripe_sign(body, STRIPE_SECRET))
    shopify = _post_shopify(shop_conn, body, shopify_sign(body, SHOPIFY_SECRET))

    assert (stripe.status_code, shopify.status_code) == (413, 413)
    assert stripe.json()["detail"] == "The body is larger than this endpoint accepts."
    assert _state(tenant_a.tenant, in_tenant)[:2] == ([], 0)


def test_one_shopify_event_through_two_subscriptions_syncs_once(hooks, tenant_a, in_tenant):
    _, shop_conn = hooks
    body = json.dumps({"id": 1, "admin_graphql_api_id": "gid://shopify/Order/1"}).encode()
    signature = shopify_sign(body, SHOPIFY_SECRET)

    def deliver(webhook_id: str):
        return Client().post(
            f"/webhooks/shopify/{shop_conn.pk}/",
            body,
            content_type="application/json",
            HTTP_X_SHOPIFY_TOPIC="orders/updated",
            HTTP_X_SHOPIFY_WEBHOOK_ID=webhook_id,
            HTTP_X_SHOPIFY_EVENT_ID="98880550-7158-44d4-b7cd-2c97c8a091b5",
            HTTP_X_SHOPIFY_HMAC_SHA256=signature,
        )

    first, second = deliver("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"), deliver("c9a1e1e0-0000-4b37-8a5f-bf7d70bcd043")

    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["status"] == "duplicate"
    jobs, events, _ = _state(tenant_a.tenant, in_tenant)
    assert (len(jobs), events) == (1, 1)


def test_a_delivery_whose_sync_could_not_be_queued_is_processed_when_retried(hooks, tenant_a, in_tenant, monkeypatch):
    # Fault injection (a monkeypatch): the queue fails once, as a broker outage would.
    from connections import webhooks

    stripe_conn, _ = hooks
    body = stripe_event(event_id="evt_retried")
    signature = stripe_sign(body, STRIPE_SECRET)
    real_sync_start = webhooks.sync_start

    def broker_down(**kwargs):
        raise ConnectionError("the job queue is unreachable")

    monkeypatch.setattr(webhooks, "sync_start", broker_down)
    failed = post_stripe(Client(raise_request_exception=False), stripe_conn, body, signature)
    after_failure = _state(tenant_a.tenant, in_tenant)[:2]
    monkeypatch.setattr(webhooks, "sync_start", real_sync_start)
    retried = post_stripe(Client(), stripe_conn, body, signature)

    assert failed.status_code == 500
    assert after_failure == ([], 0)  # nothing recorded: the retry is not a "duplicate"
    assert retried.status_code == 202
    jobs, events, _ = _state(tenant_a.tenant, in_tenant)
    assert (jobs, events) == ([("webhook", ["ch_123", "pi_777"])], 1)


def test_a_flood_of_forged_calls_is_audited_once_a_minute_per_connection(hooks, tenant_a, in_tenant, monkeypatch):
    from connections import webhooks

    stripe_conn, shop_conn = hooks
    body = stripe_event()
    client = Client()

    answers = {post_stripe(client, stripe_conn, body, "t=1,v1=forged").status_code for _ in range(30)}
    shop = client.post(f"/webhooks/shopify/{shop_conn.pk}/", b"{}", content_type="application/json")

    assert (answers, shop.status_code) == ({400}, 400)  # every forged call is refused
    with in_tenant(tenant_a.tenant):
        audited = list(AuditEvent.objects.filter(action="webhook.rejected").values_list("target_id", flat=True))
    assert sorted(audited) == sorted([str(stripe_conn.pk), str(shop_conn.pk)])  # once per connection

    monkeypatch.setattr(webhooks, "REJECTION_AUDIT_SECONDS", 0)  # a minute later
    post_stripe(client, stripe_conn, body, "t=1,v1=forged")
    with in_tenant(tenant_a.tenant):
        assert AuditEvent.objects.filter(action="webhook.rejected", target_id=str(stripe_conn.pk)).count() == 2


def _synced_once(conn, in_tenant, tenant) -> None:
    """The connection's first full sync is behind it: its ordinary sync is an incremental one."""
    from django.utils import timezone

    from connections.models import Connection

    with in_tenant(tenant):
        Connection.objects.filter(pk=conn.pk).update(last_sync_succeeded_at=timezone.now())


def _deliver_shopify(conn, topic: str, body: dict, event_id: str):
    raw = json.dumps(body).encode()
    return Client().post(
        f"/webhooks/shopify/{conn.pk}/",
        raw,
        content_type="application/json",
        HTTP_X_SHOPIFY_TOPIC=topic,
        HTTP_X_SHOPIFY_EVENT_ID=event_id,
        HTTP_X_SHOPIFY_HMAC_SHA256=shopify_sign(raw, SHOPIFY_SECRET),
    )


def _received(tenant, in_tenant) -> list[dict]:
    with in_tenant(tenant):
        return list(
            AuditEvent.objects.filter(action="webhook.received").order_by("created_at").values_list("detail", flat=True)
        )


@pytest.mark.parametrize(
    ("topic", "body"),
    [
        ("refunds/create", {"id": 509562969, "note": "Item returned", "order_id": None}),  # no usable order_id
        ("order_transactions/create", {"id": 389404469, "kind": "sale"}),  # no order_id at all
        ("orders/updated", {"name": "#1001", "total_price": "1.00"}),  # no id
        ("orders/edited", {"order_edit": {"id": 78912328, "order_id": 450789469}}),  # the id is not at the top
        ("disputes/update", {"id": "not-a-number", "status": "won"}),
    ],
)
def test_a_shopify_delivery_naming_no_object_queues_the_connections_incremental_sync(
    hooks, tenant_a, in_tenant, topic, body
):
    _, shop_conn = hooks
    _synced_once(shop_conn, in_tenant, tenant_a.tenant)

    response = _deliver_shopify(shop_conn, topic, body, event_id=f"evt-{topic}")

    assert response.status_code == 202, response.content
    with in_tenant(tenant_a.tenant):
        job = SyncJob.objects.get()
        assert (job.trigger, job.kind, job.target_ids, job.status) == ("webhook", "incremental", [], "queued")
        assert str(job.pk) == response.json()["sync_job"]
        assert WebhookEvent.objects.get().sync_job_id == job.pk
    [detail] = _received(tenant_a.tenant, in_tenant)
    assert (detail["type"], detail["targets"], detail["sync_job"]) == (topic, [], str(job.pk))
    assert detail["sync"] == "incremental"
    assert detail["note"] == (
        "names no object by a usable id: the connection's own sync reads everything changed since its cursor"
    )


def test_a_stripe_event_naming_no_object_queues_the_connections_incremental_sync(hooks, tenant_a, in_tenant):
    stripe_conn, _ = hooks
    _synced_once(stripe_conn, in_tenant, tenant_a.tenant)
    balance = {"object": "balance", "available": [{"amount": 2217713, "currency": "usd"}], "livemode": False}
    event = {"id": "evt_balance", "object": "event", "type": "balance.available", "data": {"object": balance}}
    body = json.dumps(event).encode()

    response = post_stripe(Client(), stripe_conn, body, stripe_sign(body, STRIPE_SECRET))

    assert response.status_code == 202, response.content
    with in_tenant(tenant_a.tenant):
        assert list(SyncJob.objects.values_list("trigger", "kind", "target_ids")) == [("webhook", "incremental", [])]
    [detail] = _received(tenant_a.tenant, in_tenant)
    assert (detail["type"], detail["sync"]) == ("balance.available", "incremental")


def test_a_delivery_about_what_the_sync_does_not_read_is_only_recorded(hooks, tenant_a, in_tenant):
    stripe_conn, shop_conn = hooks
    customer = json.dumps(
        {"id": "evt_customer", "object": "event", "type": "customer.created", "data": {"object": {"id": "cus_9"}}}
    ).encode()

    stripe = post_stripe(Client(), stripe_conn, customer, stripe_sign(customer, STRIPE_SECRET))
    shopify = _deliver_shopify(shop_conn, "products/update", {"id": 632910392, "title": "IPod Nano"}, "evt-product")

    assert (stripe.status_code, shopify.status_code) == (202, 202)
    assert (stripe.json()["sync_job"], shopify.json()["sync_job"]) == (None, None)
    jobs, events, _ = _state(tenant_a.tenant, in_tenant)
    assert (jobs, events) == ([], 2)
    assert [(d["type"], d["sync_job"], "note" in d) for d in _received(tenant_a.tenant, in_tenant)] == [
        ("customer.created", None, False),
        ("products/update", None, False),
    ]


def test_deliveries_naming_no_object_share_the_sync_queued_and_not_started(hooks, tenant_a, in_tenant):
    _, shop_conn = hooks
    _synced_once(shop_conn, in_tenant, tenant_a.tenant)

    first = _deliver_shopify(shop_conn, "orders/updated", {"name": "#1001"}, "evt-a")
    second = _deliver_shopify(shop_conn, "refunds/create", {"id": 509562969}, "evt-b")
    with in_tenant(tenant_a.tenant):
        SyncJob.objects.update(status="running")  # a worker started it: it may have read past the next change
    third = _deliver_shopify(shop_conn, "orders/updated", {"name": "#1002"}, "evt-c")

    assert first.json()["sync_job"] == second.json()["sync_job"] != third.json()["sync_job"]
    with in_tenant(tenant_a.tenant):
        assert SyncJob.objects.count() == 2
        assert WebhookEvent.objects.count() == 3
    notes = [d["note"] for d in _received(tenant_a.tenant, in_tenant)]
    assert [note.endswith("; it was queued already and reads this change too") for note in notes] == [
        False,
        True,
        False,
    ]


def test_a_delivery_naming_no_object_keeps_duplicates_and_disabled_connections_as_they_were(hooks, tenant_a, in_tenant):
    from connections.services import connection_update

    _, shop_conn = hooks
    _synced_once(shop_conn, in_tenant, tenant_a.tenant)
    first = _deliver_shopify(shop_conn, "orders/updated", {"name": "#1001"}, "evt-once")
    with in_tenant(tenant_a.tenant):
        SyncJob.objects.update(status="failed")

    again = _deliver_shopify(shop_conn, "orders/updated", {"name": "#1001"}, "evt-once")
    with in_tenant(tenant_a.tenant):
        connection_update(actor=tenant_a.admin, connection=shop_conn, enabled=False)
    disabled = _deliver_shopify(shop_conn, "orders/updated", {"name": "#1002"}, "evt-disabled")

    assert (first.status_code, again.status_code, disabled.status_code) == (202, 200, 202)
    assert again.json()["status"] == "duplicate"
    assert disabled.json()["sync_job"] is None  # recorded, nothing queued
    jobs, events, _ = _state(tenant_a.tenant, in_tenant)
    assert (jobs, events) == ([("webhook", [])], 2)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "evt_\x00"),  # PostgreSQL text cannot hold a NUL
        ("id", "evt_\ud800"),  # a lone surrogate: no character, no encoding
        ("id", "e" * 256),  # longer than an event id is kept
        ("id", 12345),  # not Stripe's: str() would record "12345" as if it were
        ("id", None),
        ("type", {"name": "charge.refunded"}),
        ("type", "charge." + "x" * 100),
    ],
)
def test_a_signed_stripe_event_whose_id_or_type_is_no_id_is_400_and_records_nothing(
    hooks, tenant_a, in_tenant, field, value
):
    stripe_conn, _ = hooks
    event = {"id": "evt_ok", "type": "charge.refunded", "data": {"object": {"id": "ch_1"}}, field: value}
    body = json.dumps(event).encode()

    response = post_stripe(Client(), stripe_conn, body, stripe_sign(body, STRIPE_SECRET))

    assert response.status_code == 400, response.content
    assert response.json() == {"detail": "Signed body is not a Stripe event (its id or type is not an id or type)."}
    assert _state(tenant_a.tenant, in_tenant)[:2] == ([], 0)


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_a_signed_body_nested_too_deeply_is_400_and_records_nothing(hooks, tenant_a, in_tenant, depth):
    stripe_conn, shop_conn = hooks
    body = ('{"id": "evt_deep", "type": "charge.refunded", "data": ' + "[" * depth + "]" * depth + "}").encode()

    stripe = post_stripe(Client(), stripe_conn, body, stripe_sign(body, STRIPE_SECRET))
    shopify = _post_shopify(shop_conn, body, shopify_sign(body, SHOPIFY_SECRET))

    assert (stripe.status_code, stripe.json()) == (400, {"detail": "Signed body is not a Stripe event."})
    assert (shopify.status_code, shopify.json()) == (400, {"detail": "Signed body is not JSON."})
    assert _state(tenant_a.tenant, in_tenant)[:2] == ([], 0)


@pytest.mark.parametrize(
    "obj",
    [
        {"id": "ch_1\x00", "object": "charge"},  # jsonb cannot hold \u0000
        {"id": "ch_\ud800", "object": "charge"},
        {"id": "ch_" + "x" * 10_000, "object": "charge"},
        {"id": "ch_1\r\nX-Injected: 1", "object": "charge"},
    ],
)
def test_a_stripe_id_the_sync_could_not_fetch_names_nothing_and_the_incremental_sync_reads_it(
    hooks, tenant_a, in_tenant, obj
):
    stripe_conn, _ = hooks
    body = json.dumps({"id": "evt_odd_id", "type": "charge.refunded", "data": {"object": obj}}).encode()

    response = post_stripe(Client(), stripe_conn, body, stripe_sign(body, STRIPE_SECRET))

    assert response.status_code == 202, response.content
    with in_tenant(tenant_a.tenant):
        assert list(SyncJob.objects.values_list("kind", "target_ids")) == [("backfill", [])]
        assert list(WebhookEvent.objects.values_list("event_id", "target_ids")) == [("evt_odd_id", [])]


@pytest.mark.parametrize(
    "body",
    [
        {"id": "1\x00", "admin_graphql_api_id": "gid://shopify/Order/1\x00"},
        {"id": "١٢٣"},  # digits, but not Shopify's: str.isdigit() takes them
        {"id": 10**30},  # beyond the 64 bits Shopify's ids fit in
    ],
)
def test_a_shopify_id_the_sync_could_not_fetch_names_nothing(hooks, tenant_a, in_tenant, body):
    _, shop_conn = hooks
    raw = json.dumps(body).encode()

    response = _post_shopify(shop_conn, raw, shopify_sign(raw, SHOPIFY_SECRET))

    assert response.status_code == 202, response.content
    with in_tenant(tenant_a.tenant):
        assert list(SyncJob.objects.values_list("kind", "target_ids")) == [("backfill", [])]


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("HTTP_X_SHOPIFY_WEBHOOK_ID", "wh-\x00"),
        ("HTTP_X_SHOPIFY_WEBHOOK_ID", "w" * 256),
        ("HTTP_X_SHOPIFY_TOPIC", "orders/" + "x" * 100),
    ],
)
def test_a_shopify_event_id_or_topic_that_cannot_be_recorded_is_400(hooks, tenant_a, in_tenant, header, value):
    _, shop_conn = hooks
    body = b'{"id": 1}'
    headers = {"HTTP_X_SHOPIFY_TOPIC": "orders/updated", "HTTP_X_SHOPIFY_WEBHOOK_ID": "wh-1", header: value}

    response = Client().post(
        f"/webhooks/shopify/{shop_conn.pk}/",
        body,
        content_type="application/json",
        HTTP_X_SHOPIFY_HMAC_SHA256=shopify_sign(body, SHOPIFY_SECRET),
        **headers,
    )

    assert response.status_code == 400, response.content
    assert response.json() == {"detail": "Malformed X-Shopify-Event-Id (or X-Shopify-Webhook-Id) or X-Shopify-Topic."}
    assert _state(tenant_a.tenant, in_tenant)[:2] == ([], 0)
