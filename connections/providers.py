"""The client for a connection: one place that turns a Connection row into a provider client."""

from __future__ import annotations

from typing import Any

from connections.models import Connection, Provider

# Provider status codes and error codes that mean "these credentials are bad or revoked".
# A connection failing this way is marked broken (not merely erroring) and shown as such.
AUTH_FAILURE_STATUSES = {401, 403}
AUTH_FAILURE_CODES = {
    "INVALID_LOGIN",
    "INVALID_LOGIN_ATTEMPT",
    "INVALID_LOGIN_CREDENTIALS",
    "USER_ERROR_INVALID_CREDENTIALS",
    "api_key_expired",
    "platform_api_key_expired",  # Stripe Connect: the platform's key expired
    "invalid_api_key",
    "ACCESS_DENIED",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "invalid_token",  # RFC 6750: an OAuth 2.0 bearer token refused (expired or revoked)
}


# The settings that decide where a connection's credentials are sent: the host its client
# calls (see the clients below and netsuite.connection.base_url_for). Stored credentials
# must never follow a change of address nobody re-entered them for: connection_update
# refuses such a change unless new credentials come with it.
CREDENTIAL_ADDRESS_FIELDS: dict[str, tuple[str, ...]] = {
    Provider.STRIPE: ("base_url",),  # account_id is not used by the Stripe client
    Provider.SHOPIFY: ("account_id", "base_url"),  # https://{shop}, or an http:// base_url (the sandbox)
    Provider.NETSUITE: ("account_id", "base_url"),  # base_url, else {account}.suitetalk.api.netsuite.com
}


def stripe_client(connection: Connection, *, fast_fail: bool = False, **options: Any):
    from connections.stripe.client import StripeApi

    if fast_fail:
        options.setdefault("max_retries", 1)
    return StripeApi(connection.credentials["api_key"], base_url=connection.base_url or None, **options)


def shopify_client(connection: Connection, *, fast_fail: bool = False, **options: Any):
    from connections.shopify.client import RetryPolicy, ShopifyClient

    if fast_fail:
        options.setdefault("retry", RetryPolicy(max_attempts=1))
    shop = connection.account_id or connection.base_url.split("//")[-1].strip("/")
    base_url = connection.base_url if connection.base_url.startswith("http://") else None
    return ShopifyClient(shop, connection.credentials["access_token"], base_url=base_url, **options)


def client_for(connection: Connection, **options: Any):
    if connection.provider == Provider.STRIPE:
        return stripe_client(connection, **options)
    if connection.provider == Provider.SHOPIFY:
        return shopify_client(connection, **options)
    if connection.provider == Provider.NETSUITE:
        from netsuite.connection import netsuite_client

        return netsuite_client(connection, **options)
    raise ValueError(f"unknown provider {connection.provider!r}")


def is_auth_failure(exc: BaseException) -> bool:
    """True when an error means the credentials are bad or revoked, whatever the status used."""
    status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
    code = str(getattr(exc, "code", "") or "")
    # GraphQL answers 200 and names the refusal per error (Shopify: extensions.code ACCESS_DENIED
    # when the token no longer grants the scope the sync reads).
    graphql_codes = {
        str((error.get("extensions") or {}).get("code") or "")
        for error in (getattr(exc, "errors", None) or [])
        if isinstance(error, dict)
    }
    return (
        status in AUTH_FAILURE_STATUSES
        or code in AUTH_FAILURE_CODES
        or bool(graphql_codes & AUTH_FAILURE_CODES)
        or exc.__class__.__name__.endswith("AuthError")
    )
