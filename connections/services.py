"""Writes for connections: create, update, test, delete. Each checks the plan and is audited."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from audit.models import Outcome
from audit.services import audit_record
from connections.models import CREDENTIAL_FIELDS, Connection, ConnectionStatus, Provider
from ecomops.tenancy import current_tenant
from tenants.entitlements import check_entitlement
from tenants.models import WebhookRoute
from tenants.services import ServiceError


def _clean_credentials(provider: str, credentials: dict[str, Any] | None, *, partial: bool) -> dict[str, str]:
    allowed = CREDENTIAL_FIELDS[provider]
    credentials = credentials or {}
    if not isinstance(credentials, dict):
        raise ServiceError("Credentials must be an object of named fields.", field="credentials")
    unknown = sorted(set(credentials) - set(allowed))
    if unknown:
        raise ServiceError(
            f"Unknown credential field(s) for {provider}: {', '.join(unknown)}. "
            f"Expected: {', '.join(sorted(allowed))}.",
            field="credentials",
        )
    cleaned = {k: str(v).strip() for k, v in credentials.items() if v not in (None, "")}
    if not partial:
        missing = [name for name, required in allowed.items() if required and name not in cleaned]
        if missing:
            raise ServiceError(f"Missing credential field(s): {', '.join(missing)}.", field="credentials")
    if provider == Provider.NETSUITE and not partial:
        tba = {"consumer_key", "consumer_secret", "token_id", "token_secret"}
        oauth2 = {"client_id", "certificate_id", "private_key"}
        if not (tba <= set(cleaned) or oauth2 <= set(cleaned)):
            raise ServiceError(
                "NetSuite needs either token-based authentication (consumer_key, consumer_secret, token_id, "
                "token_secret) or OAuth 2.0 client credentials (client_id, certificate_id, private_key).",
                field="credentials",
            )
    return cleaned


def _check_netsuite_settings(*, account_id: str, base_url: str, credentials: dict[str, Any]) -> None:
    """Refuse NetSuite settings that could never make a client (checked again when one is built)."""
    from netsuite.connection import settings_problem

    problem = settings_problem(account_id=account_id, base_url=base_url, credentials=credentials)
    if problem is not None:
        # The API's input names the key inside ``credentials``; the message names the key itself.
        raise ServiceError(
            str(problem), field="credentials" if problem.field == "private_key" else problem.field, code="invalid"
        )


def _check_base_url(base_url: str) -> None:
    """Refuse an address that carries a user name or password (``https://user:pass@host``): the
    address is shown on pages, in "could not reach ..." messages and in the logs, while
    credentials belong in their own fields, which are never read back. The refusal does not
    repeat the address."""
    if base_url and "@" in urlsplit(base_url).netloc:
        raise ServiceError(
            "The base URL must not carry a user name or password (user:password@host); "
            "give credentials in their own fields.",
            field="base_url",
        )


def connection_create(
    *,
    actor: Any,
    name: str,
    provider: str,
    credentials: dict[str, Any],
    base_url: str = "",
    account_id: str = "",
    backfill_start: date | None = None,
    subsidiary_id: str = "",
    enabled: bool = True,
    netsuite_concurrency: int = 2,
) -> Connection:
    """Add a connection, within the plan's connection limit."""
    tenant = current_tenant()
    if provider not in Provider.values:
        raise ServiceError(
            f"Unknown provider {provider!r}; choose one of {', '.join(Provider.values)}.", field="provider"
        )
    if not (name or "").strip():
        raise ServiceError("A name is required.", field="name")
    if not 1 <= int(netsuite_concurrency) <= 20:
        raise ServiceError("NetSuite concurrency must be between 1 and 20.", field="netsuite_concurrency")
    _check_base_url(base_url or "")
    cleaned = _clean_credentials(provider, credentials, partial=False)
    if provider == Provider.NETSUITE:
        _check_netsuite_settings(account_id=account_id or "", base_url=base_url or "", credentials=cleaned)
    with transaction.atomic():
        # Lock the tenant's connections so two concurrent creates cannot both pass the limit.
        in_use = Connection.objects.select_for_update().filter(tenant_id=tenant.pk).count()
        check_entitlement(tenant, "connections", in_use=in_use)
        connection = Connection.objects.create(
            name=name.strip(),
            provider=provider,
            credentials=cleaned,
            base_url=base_url or "",
            account_id=account_id or "",
            backfill_start=backfill_start,
            subsidiary_id=subsidiary_id or "",
            enabled=enabled,
            netsuite_concurrency=netsuite_concurrency,
            created_by_id=getattr(actor, "pk", None),
        )
        WebhookRoute.objects.create(connection_id=connection.pk, tenant_id=tenant.pk, provider=provider)
    audit_record(
        action="connection.created",
        actor=actor,
        target=connection,
        detail={"provider": provider, "name": connection.name, "credential_fields": sorted(cleaned)},
    )
    return connection


EDITABLE_FIELDS = (
    "name",
    "enabled",
    "base_url",
    "account_id",
    "backfill_start",
    "subsidiary_id",
    "netsuite_concurrency",
)


def connection_update(
    *, actor: Any, connection: Connection, credentials: dict[str, Any] | None = None, **changes: Any
) -> Connection:
    """Change settings; credentials given are merged in (write-only: never read back).

    A change of the address the credentials are sent to (``CREDENTIAL_ADDRESS_FIELDS``) must
    bring a complete new set of credentials, which replaces the stored one: otherwise anyone
    allowed to edit a connection could point it at their own server and have the next test or
    sync send it the stored key.
    """
    from connections.providers import CREDENTIAL_ADDRESS_FIELDS

    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ServiceError(f"Cannot change {', '.join(sorted(unknown))}.")
    # The API's serializer checks these too; the admin's model form does not.
    if "name" in changes and not (changes["name"] or "").strip():
        raise ServiceError("A name is required.", field="name")
    if "netsuite_concurrency" in changes and not 1 <= int(changes["netsuite_concurrency"] or 0) <= 20:
        raise ServiceError("NetSuite concurrency must be between 1 and 20.", field="netsuite_concurrency")
    if "base_url" in changes:
        _check_base_url(changes["base_url"] or "")
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        moved = [
            name
            for name in CREDENTIAL_ADDRESS_FIELDS[locked.provider]
            if name in changes and (changes[name] or "") != getattr(locked, name)
        ]
        if moved and not credentials:
            raise ServiceError(
                f"Changing {moved[0]} changes where this connection's credentials are sent; "
                "re-enter the credentials to send them to a new address.",
                field=moved[0],
                code="credentials_required",
            )
        for name, value in changes.items():
            setattr(locked, name, value if value is not None or name == "backfill_start" else "")
        changed_credentials: list[str] = []
        if credentials:
            # A new address takes a whole new set: nothing stored is carried over to it.
            cleaned = _clean_credentials(locked.provider, credentials, partial=not moved)
            if moved:
                # The webhook signing secret is never sent anywhere (it checks what arrives),
                # so it stays unless a new one is given; everything sent out is replaced.
                kept = {k: v for k, v in locked.credentials.items() if k == "webhook_secret"}
                locked.credentials = {**kept, **cleaned}
            else:
                locked.credentials = {**locked.credentials, **cleaned}
            changed_credentials = sorted(cleaned)
            locked.status = ConnectionStatus.UNTESTED
            locked.status_message = "Credentials changed; not tested yet."
        if locked.provider == Provider.NETSUITE and ({"account_id", "base_url"} & set(changes) or credentials):
            # Only what this update touches is checked against the merged result: an unrelated
            # edit (a rename) of a connection saved before the check existed still goes through.
            _check_netsuite_settings(
                account_id=locked.account_id,
                base_url=locked.base_url,
                credentials=cleaned if credentials else {},
            )
        locked.save()
    audit_record(
        action="connection.updated",
        actor=actor,
        target=locked,
        detail={
            "fields": sorted(changes),
            "credential_fields": changed_credentials,
            "address_changed": moved,  # its credentials were replaced, not carried over
        },
    )
    return locked


def connection_mark(*, connection: Connection, ok: bool, message: str, auth_failure: bool = False) -> None:
    """Record the outcome of a call: ok, broken (credentials refused) or failing."""
    status = ConnectionStatus.OK if ok else (ConnectionStatus.BROKEN if auth_failure else ConnectionStatus.ERROR)
    Connection.objects.filter(pk=connection.pk).update(
        status=status, status_message=message[:500], status_checked_at=timezone.now()
    )
    connection.status, connection.status_message = status, message[:500]


def connection_credentials_accepted(*, connection: Connection, by: str) -> bool:
    """A call with the stored credentials succeeded: a connection marked broken is broken no
    more. Returns whether it was.

    ``by`` names the call (e.g. "a webhook's sync"). Only the broken mark goes: the call proves
    the credentials, not that the connection is synced, so a connection whose last full sync
    failed is left failing (it is synced again on schedule, which a broken one is not).
    """
    with transaction.atomic():
        locked = Connection.objects.select_for_update().filter(pk=connection.pk).first()
        if locked is None or locked.status != ConnectionStatus.BROKEN:
            return False
        succeeded, failed = locked.last_sync_succeeded_at, locked.last_sync_failed_at
        if failed is not None and (succeeded is None or failed > succeeded):
            status = ConnectionStatus.ERROR
            message = f"Credentials accepted again by {by}; the last full sync failed: {locked.status_message}"
        else:
            status, message = ConnectionStatus.OK, f"Credentials accepted again by {by}."
        Connection.objects.filter(pk=locked.pk).update(
            status=status, status_message=message[:500], status_checked_at=timezone.now()
        )
    connection.status, connection.status_message = status, message[:500]
    return True


def connection_test(*, actor: Any, connection: Connection) -> tuple[bool, str]:
    """Make one real call with the stored credentials; report the provider's answer in words."""
    from connections.providers import client_for, is_auth_failure

    try:
        client = client_for(connection, fast_fail=True)
        ok, message = client.test_connection()
        last_error = getattr(client, "last_error", None)
        auth_failure = not ok and last_error is not None and is_auth_failure(last_error)
    except Exception as exc:  # the user must get an answer in words, never a stack trace
        ok, message, auth_failure = False, f"{type(exc).__name__}: {exc}", is_auth_failure(exc)
    connection_mark(connection=connection, ok=ok, message=message, auth_failure=auth_failure)
    audit_record(
        action="connection.tested",
        actor=actor,
        target=connection,
        outcome=Outcome.SUCCESS if ok else Outcome.FAILURE,
        detail={"message": message},
    )
    return ok, message


def connection_delete(*, actor: Any, connection: Connection) -> None:
    from django.db.models import ProtectedError

    target_id, name = str(connection.pk), connection.name
    try:
        with transaction.atomic():
            WebhookRoute.objects.filter(connection_id=connection.pk).delete()
            connection.delete()
    except ProtectedError as exc:
        raise ServiceError(
            "This connection has synced data; disable it instead of deleting it.", code="has_data"
        ) from exc
    audit_record(
        action="connection.deleted",
        actor=actor,
        target_type="connections.connection",
        target_id=target_id,
        detail={"name": name},
    )
