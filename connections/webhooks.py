"""Webhook endpoints: verify the signature, record the event once, queue a targeted sync.

The body is trusted for nothing beyond the ids it names: the sync fetches those objects
from the provider's API. A delivery about objects the sync reads that names none it can use
(a ``refunds/create`` without ``order_id``, a Stripe ``balance.available``) queues the
connection's ordinary sync instead, which reads everything changed since its cursor. A missing
or bad signature gets 400 and nothing else happens (beyond an audit line in the connection's
tenant).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import stripe
import structlog
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from audit.models import AuditEvent, Outcome
from audit.services import audit_record
from connections.models import Connection, Provider, SyncJob, SyncJobKind, SyncJobStatus, WebhookEvent
from connections.sync.runner import sync_start
from ecomops.tenancy import tenant_context
from tenants.models import WebhookRoute

logger = structlog.get_logger(__name__)
STRIPE_TOLERANCE_SECONDS = 300
STRIPE_ID_FIELDS = ("id", "charge", "payment_intent", "payout")
STRIPE_ID_PREFIXES = ("ch_", "py_", "pi_", "re_", "pyr_", "dp_", "du_", "po_", "txn_")
# Event types and topics about objects the sync reads: one that names no usable id still says
# that something it reads changed. Stripe's dispute and charge-refund events are ``charge.*``.
STRIPE_SYNCED_TYPES = ("payment_intent.", "charge.", "refund.", "payout.", "balance.")
SHOPIFY_SYNCED_TOPICS = ("orders/", "order_transactions/", "tender_transactions/", "refunds/", "disputes/", "payouts/")
UNNAMED_NOTE = "names no object by a usable id: the connection's own sync reads everything changed since its cursor"
# The ids a body may name, as the processors write them: Stripe's a prefix and letters and
# digits, Shopify's numeric (64-bit) ids and the GIDs made of them. Anything else (a NUL, a
# control character, 10,000 characters) names nothing the sync could fetch, nor can be stored.
STRIPE_ID = re.compile(r"[a-z]+_[A-Za-z0-9_]{1,250}")
SHOPIFY_LEGACY_ID = re.compile(r"[0-9]{1,20}")
SHOPIFY_ORDER_GID = re.compile(r"gid://shopify/Order/[0-9]{1,20}")


def _refuse(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


NOT_JSON = object()


def _parse_json(body: bytes) -> Any:
    """The body's JSON, or ``NOT_JSON``: not JSON, not UTF-8, or nested deeper than the decoder
    goes (which raises RecursionError, not the ValueError of the others)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return NOT_JSON


def _event_text(value: Any, field: str) -> str | None:
    """An event's id or type (a Shopify topic, its event id) as it is recorded: text that fits
    its column, of printable characters; None for anything else (a number or an object that
    ``str()`` would turn into some other id, a NUL or lone surrogate the database refuses)."""
    limit = WebhookEvent._meta.get_field(field).max_length
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        return None
    return value


def _connection_for(connection_id: Any, provider: str):
    route = WebhookRoute.objects.filter(connection_id=connection_id, provider=provider).select_related("tenant").first()
    return route


def _stripe_object(event: Any) -> dict[str, Any] | None:
    """The event's ``data.object``, or None if the body is not shaped like a Stripe event."""
    data = event.get("data") if isinstance(event, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    return obj if isinstance(obj, dict) else None


def stripe_target_ids(event: dict[str, Any]) -> list[str]:
    obj = _stripe_object(event) or {}
    ids = []
    for name in STRIPE_ID_FIELDS:
        value = obj.get(name)
        if (
            isinstance(value, str)
            and value.startswith(STRIPE_ID_PREFIXES)
            and STRIPE_ID.fullmatch(value)
            and value not in ids
        ):
            ids.append(value)
    return ids


def stripe_syncs(event_type: str) -> bool:
    """Whether the sync reads the objects of a Stripe event type (charges, refunds, disputes, ...)."""
    return event_type.startswith(STRIPE_SYNCED_TYPES)


def shopify_syncs(topic: str) -> bool:
    """Whether the sync reads the objects of a Shopify webhook topic (orders, disputes, ...)."""
    return topic.startswith(SHOPIFY_SYNCED_TOPICS)


def _shopify_gid(kind: str, legacy_id: Any) -> str | None:
    """``gid://shopify/{kind}/{id}`` for a numeric id from a body; anything else names nothing."""
    if isinstance(legacy_id, bool) or not isinstance(legacy_id, int | str):
        return None
    if not SHOPIFY_LEGACY_ID.fullmatch(str(legacy_id)):  # str.isdigit() takes "١٢٣" too
        return None
    return f"gid://shopify/{kind}/{legacy_id}"


def shopify_target_ids(topic: str, body: dict[str, Any]) -> list[str]:
    """The objects a Shopify webhook names. An order's sync reads its transactions and refunds,
    so every topic whose object belongs to an order (``order_transactions/create``,
    ``refunds/create``, ``tender_transactions/create``, ...) names that order by ``order_id``."""
    if topic.startswith("orders/"):
        gid = body.get("admin_graphql_api_id")
        if not (isinstance(gid, str) and SHOPIFY_ORDER_GID.fullmatch(gid)):
            gid = _shopify_gid("Order", body.get("id"))
        return [gid] if gid else []
    if topic.startswith("disputes/"):
        gid = _shopify_gid("ShopifyPaymentsDispute", body.get("id"))
        return [gid] if gid else []
    if topic.startswith("payouts/"):
        gid = _shopify_gid("ShopifyPaymentsPayout", body.get("id"))
        return [gid] if gid else []
    gid = _shopify_gid("Order", body.get("order_id"))
    return [gid] if gid else []


def _accept(
    connection: Connection, event_id: str, event_type: str, target_ids: list[str], *, synced_kind: bool
) -> JsonResponse:
    """Record the event and queue its sync in one transaction: a failure in between leaves
    neither, so the processor's retry is processed, not answered as a duplicate of nothing.

    ``synced_kind``: the event is about objects the sync reads. Named ones get a targeted sync;
    if it names none, the connection's ordinary sync reads the change (``_unnamed_sync``).
    Anything else is only recorded."""
    wants_sync = connection.enabled and (bool(target_ids) or synced_kind)
    with transaction.atomic():
        try:
            with transaction.atomic():
                event = WebhookEvent.objects.create(
                    connection=connection, event_id=event_id, event_type=event_type, target_ids=target_ids
                )
        except IntegrityError:
            return _duplicate(connection, event_id, event_type)
        job, shared = None, False
        if wants_sync and target_ids:
            job = sync_start(connection=connection, trigger="webhook", target_ids=target_ids)
        elif wants_sync:
            job, shared = _unnamed_sync(connection)
        if job is not None:
            WebhookEvent.objects.filter(pk=event.pk).update(sync_job=job)
        detail = {
            "event_id": event_id,
            "type": event_type,
            "targets": target_ids,
            "sync_job": str(job.pk) if job else None,
        }
        if job is not None and not target_ids:
            detail["sync"] = job.kind
            detail["note"] = UNNAMED_NOTE + ("; it was queued already and reads this change too" if shared else "")
        audit_record(action="webhook.received", actor_kind="webhook", target=connection, detail=detail)
    return JsonResponse(
        {"status": "accepted", "event_id": event_id, "sync_job": str(job.pk) if job else None}, status=202
    )


def _unnamed_sync(connection: Connection) -> tuple[SyncJob, bool]:
    """The connection's ordinary (incremental, or first backfill) sync for a delivery that names
    no object, and whether it was queued already.

    A full sync queued and not started yet reads this change when it starts, so it is shared
    rather than another queued beside it: a burst of such deliveries queues one sync, not one
    each. A running one is not shared: it may have read past the changed object already."""
    queued = (
        SyncJob.objects.filter(connection=connection, status=SyncJobStatus.QUEUED)
        .exclude(kind=SyncJobKind.TARGETED)
        .order_by("queued_at", "pk")
        .first()
    )
    if queued is not None:
        return queued, True
    return sync_start(connection=connection, trigger="webhook", target_ids=[]), False


def _duplicate(connection: Connection, event_id: str, event_type: str) -> JsonResponse:
    """A redelivery: nothing new, unless the first delivery's sync never ran or did not get
    through. Then the sync is queued now: the first delivery was recorded without one (the
    connection was disabled then, since enabled again), or its job failed (the provider
    answered 5xx, say), and the processor's retry is the only other chance to read it."""
    event = WebhookEvent.objects.filter(connection=connection, event_id=event_id).select_related("sync_job").first()
    job = None
    retry = event is not None and (event.sync_job is None or event.sync_job.status == SyncJobStatus.FAILED)
    if retry and event.target_ids and connection.enabled:
        job = sync_start(connection=connection, trigger="webhook", target_ids=list(event.target_ids))
        WebhookEvent.objects.filter(pk=event.pk).update(sync_job=job)
    audit_record(
        action="webhook.duplicate",
        actor_kind="webhook",
        target=connection,
        detail={"event_id": event_id, "type": event_type, "sync_job": str(job.pk) if job else None},
    )
    return JsonResponse({"status": "duplicate", "event_id": event_id}, status=200)


# Rejections are audited at most once a minute per connection: anyone who knows an endpoint's
# URL can post to it, and the audit log is append-only, so a flood of forged calls must not
# grow it without bound. Every rejection is still logged.
REJECTION_AUDIT_SECONDS = 60


def _rejected(connection: Connection, reason: str) -> JsonResponse:
    recently = AuditEvent.objects.filter(
        tenant_id=connection.tenant_id,
        created_at__gte=timezone.now() - timedelta(seconds=REJECTION_AUDIT_SECONDS),
        action="webhook.rejected",
        target_id=str(connection.pk),
    ).exists()
    if not recently:
        audit_record(
            action="webhook.rejected",
            actor_kind="webhook",
            target=connection,
            outcome=Outcome.DENIED,
            detail={"reason": reason, "note": f"later rejections within {REJECTION_AUDIT_SECONDS} s are only logged"},
        )
    logger.warning("webhook_rejected", connection_id=str(connection.pk), reason=reason, audited=not recently)
    return _refuse(reason)


def _receive(
    request: HttpRequest, connection_id: Any, provider: str, verify: Callable[[Connection, str], JsonResponse]
) -> JsonResponse:
    """What every webhook shares: find the tenant, enter it, require a signing secret, verify."""
    route = _connection_for(connection_id, provider)
    if route is None:
        return _refuse("Unknown webhook endpoint.", status=404)
    with tenant_context(route.tenant):
        connection = Connection.objects.filter(pk=connection_id).first()
        if connection is None:
            return _refuse("Unknown webhook endpoint.", status=404)
        secret = (connection.credentials or {}).get("webhook_secret")
        if not secret:
            return _rejected(connection, "This connection has no webhook signing secret configured.")
        return verify(connection, secret)


def _body(request: HttpRequest) -> bytes | None:
    try:
        return request.body
    except RequestDataTooBig:
        return None


TOO_LARGE = "The body is larger than this endpoint accepts."


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest, connection_id: Any) -> JsonResponse:
    payload = _body(request)
    if payload is None:
        return _refuse(TOO_LARGE, status=413)

    def verify(connection: Connection, secret: str) -> JsonResponse:
        header = request.headers.get("Stripe-Signature")
        if not header:
            return _rejected(connection, "Missing Stripe-Signature header.")
        if not header.isascii():
            return _rejected(connection, "Invalid Stripe signature (malformed header).")
        try:
            stripe.WebhookSignature.verify_header(payload.decode("utf-8"), header, secret, STRIPE_TOLERANCE_SECONDS)
        except stripe.SignatureVerificationError as exc:
            text = str(exc).lower()
            if "tolerance" in text:
                reason = "timestamp outside the tolerance zone"
            elif "unable to extract" in text or "expected scheme" in text:
                reason = "malformed header"
            else:
                reason = "signature mismatch"
            return _rejected(connection, f"Invalid Stripe signature ({reason}).")
        except UnicodeDecodeError:
            return _rejected(connection, "Body is not UTF-8.")
        event = _parse_json(payload)
        if not isinstance(event, dict) or "id" not in event or "type" not in event:
            return _rejected(connection, "Signed body is not a Stripe event.")
        event_id, event_type = _event_text(event["id"], "event_id"), _event_text(event["type"], "event_type")
        if event_id is None or event_type is None:
            return _rejected(connection, "Signed body is not a Stripe event (its id or type is not an id or type).")
        if _stripe_object(event) is None:
            return _rejected(connection, "Signed body is not a Stripe event (no data.object).")
        return _accept(connection, event_id, event_type, stripe_target_ids(event), synced_kind=stripe_syncs(event_type))

    return _receive(request, connection_id, Provider.STRIPE, verify)


def shopify_hmac(body: bytes, secret: str) -> str:
    """Shopify's webhook signature: base64 of HMAC-SHA256 of the raw body with the app secret.

    (ShopifyAPI 12 verifies OAuth query-string HMACs only, not webhook bodies.)
    """
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@csrf_exempt
@require_POST
def shopify_webhook(request: HttpRequest, connection_id: Any) -> JsonResponse:
    body = _body(request)
    if body is None:
        return _refuse(TOO_LARGE, status=413)

    def verify(connection: Connection, secret: str) -> JsonResponse:
        supplied = request.headers.get("X-Shopify-Hmac-Sha256", "")
        expected = shopify_hmac(body, secret)
        # as bytes: compare_digest refuses str with non-ASCII characters (a 500 otherwise)
        if not supplied or not hmac.compare_digest(supplied.encode("utf-8", "replace"), expected.encode()):
            return _rejected(connection, "Invalid or missing X-Shopify-Hmac-Sha256.")
        # The event id is what Shopify documents as the duplicate indicator: the same event
        # delivered again, or through two subscriptions, carries the same one.
        event_id = request.headers.get("X-Shopify-Event-Id") or request.headers.get("X-Shopify-Webhook-Id")
        topic = request.headers.get("X-Shopify-Topic", "")
        if not event_id or not topic:
            return _rejected(connection, "Missing X-Shopify-Event-Id (or X-Shopify-Webhook-Id) or X-Shopify-Topic.")
        event_id, topic = _event_text(event_id, "event_id"), _event_text(topic, "event_type")
        if event_id is None or topic is None:
            return _rejected(connection, "Malformed X-Shopify-Event-Id (or X-Shopify-Webhook-Id) or X-Shopify-Topic.")
        parsed = _parse_json(body)
        if parsed is NOT_JSON:
            return _rejected(connection, "Signed body is not JSON.")
        target_ids = shopify_target_ids(topic, parsed if isinstance(parsed, dict) else {})
        return _accept(connection, event_id, topic, target_ids, synced_kind=shopify_syncs(topic))

    return _receive(request, connection_id, Provider.SHOPIFY, verify)
