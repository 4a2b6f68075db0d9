"""The one pipeline every MCP tool call goes through (DESIGN §8).

In this order: rate limit (per tenant, per tool; a call let in is recorded at once, see
``admit_call``) -> parameter allowlist (unknown parameters dropped and reported back) ->
default and maximum row limits -> permission check (the tenant's plan, ``tenants.use_mcp``
and the tool's codenames, read again on every call) -> execute inside ``tenant_context`` ->
redact secret-named keys at any depth -> audit event (actor kind ``mcp``, with the call's
correlation id).

A tool's work and the audit event of its success commit together: a call that fails leaves
nothing of itself behind but its audit events, that it started and that it failed, unless its
refusal says the tool's writes stand (``ToolRefusal(writes_stand=True)``: a schedule run that
queued nothing is still a run, which the schedule keeps). Whatever goes wrong, the caller gets
a tool error with a message in words, never a stack trace (that goes to the log, on stderr,
under the same correlation id).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jsonschema
import structlog
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import close_old_connections, connection, transaction
from django.http import Http404
from django.utils import timezone

from audit.models import AuditEvent, Outcome
from audit.services import audit_record
from ecomops.logging import redact
from ecomops.tenancy import current_tenant_id, tenant_context
from ecomops.text import holds, storable
from tenants.entitlements import EntitlementError, check_entitlement
from tenants.models import Tenant, User
from tenants.permissions import active_membership, forget_cached_permissions
from tenants.services import ServiceError

logger = structlog.get_logger(__name__)

USE_MCP = "tenants.use_mcp"
AUDIT_ACTION = "mcp.tool_called"  # how a call ended (or that it was refused)
AUDIT_START_ACTION = "mcp.tool_call_started"  # a call the rate limit let in: what the limit counts
AUDIT_TARGET_TYPE = "mcp.tool"  # target_id is the tool's name: one tool's calls through one index
RATE_LIMITED = "rate_limited"


class AccessRefused(Exception):
    """The user may not use MCP tools in this tenant; ``str()`` says why, for the operator."""


class ToolRefusal(Exception):
    """A call refused or failed for a reason the caller can act on.

    ``param`` names the parameter at fault, if one is; ``code`` is a stable word for programs;
    ``outcome`` is what the audit event records (``denied`` for rate limits and permissions).
    ``writes_stand``: what the tool wrote before refusing is committed, with the audit event of
    the refusal, instead of rolled back; for a failure the tool's service has itself recorded.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        param: str | None = None,
        outcome: str = Outcome.FAILURE,
        writes_stand: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.param = param
        self.outcome = outcome
        self.writes_stand = writes_stand


def bad_param(param: str, message: str) -> ToolRefusal:
    return ToolRefusal(f"{param}: {message}", code="invalid_param", param=param)


@dataclass(frozen=True)
class RowLimit:
    """A list or query tool's row limit: the parameter that carries it and the settings that
    give its default and its ceiling."""

    param: str = "limit"
    default_setting: str = "MCP_DEFAULT_ROWS"
    max_setting: str = "MCP_MAX_ROWS"

    @property
    def default(self) -> int:
        return min(int(getattr(settings, self.default_setting)), self.maximum)

    @property
    def maximum(self) -> int:
        return int(getattr(settings, self.max_setting))


@dataclass
class ToolCall:
    """What a tool's ``run`` gets: who calls, in which tenant, with which (allowed) parameters.

    A tool that takes nested parameters (a filter dict) reports the unknown ones it drops in
    ``ignored``, and anything else the caller should know in ``notices``.
    """

    tool: Tool
    user: User
    tenant: Tenant
    params: dict[str, Any]
    ignored: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Tool:
    """One MCP tool: its parameters (JSON Schema, also what ``tools/list`` shows), the
    permission codenames it needs, and the function that does the work through the app's
    selectors and services."""

    name: str
    description: str
    run: Callable[[ToolCall], dict[str, Any]]
    properties: dict[str, dict[str, Any]]
    required: tuple[str, ...] = ()
    # The codenames every call needs; ``extra_permissions`` adds those its parameters need
    # (report.export: the table's view permission).
    permissions: tuple[str, ...] = ()
    extra_permissions: Callable[[dict[str, Any]], list[str]] | None = None
    row_limit: RowLimit | None = None
    read_only: bool = True

    def input_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "object", "properties": self.properties}
        if self.required:
            schema["required"] = list(self.required)
        return schema

    def needed_permissions(self, params: dict[str, Any]) -> list[str]:
        return [*self.permissions, *(self.extra_permissions(params) if self.extra_permissions else [])]


@dataclass
class CallResult:
    """What goes back to the client: a JSON object, and whether it is a tool error."""

    payload: dict[str, Any]
    is_error: bool

    @property
    def text(self) -> str:
        if self.is_error:
            return self.payload["error"]
        return json.dumps(self.payload, ensure_ascii=False, sort_keys=False)


# ---------------------------------------------------------------------- access


def check_access(*, tenant: Tenant, user: User) -> None:
    """Raise AccessRefused unless ``user`` may use MCP tools in ``tenant``: an active member,
    on a plan with MCP tools, holding ``tenants.use_mcp`` there."""
    if not tenant.is_active:
        raise AccessRefused(f"Tenant {tenant.slug} is not active.")
    if active_membership(user, tenant) is None:
        raise AccessRefused(f"{user.email} is not an active member of tenant {tenant.slug}.")
    try:
        check_entitlement(tenant, "mcp_tools")
    except EntitlementError as exc:
        raise AccessRefused(f"Tenant {tenant.slug}: {exc}") from exc
    forget_cached_permissions(user)
    with tenant_context(tenant):
        if not user.has_perm(USE_MCP):
            raise AccessRefused(f"{user.email}'s role in tenant {tenant.slug} does not allow MCP tools ({USE_MCP}).")


# ---------------------------------------------------------------------- rate limits

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$", re.I)
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(text: str) -> tuple[int, timedelta]:
    """``"60/min"`` -> (60, one minute). A bad setting is a startup error, not a silent default."""
    match = _RATE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a rate: write N/sec, N/min, N/hour or N/day")
    return int(match.group(1)), timedelta(seconds=_PERIODS[match.group(2)[0].lower()])


def rate_for(tool_name: str) -> tuple[int, timedelta]:
    return parse_rate(settings.MCP_RATE_LIMITS.get(tool_name, settings.MCP_RATE_LIMIT))


def admit_call(tool: Tool, *, user: User) -> None:
    """Let a call of ``tool`` in, recording that it was, or refuse it when the tenant's calls of
    the tool within the window already reach its rate.

    The budget is counted over the audit trail, so every runmcp process of the tenant shares it.
    Count and record are one step: a short transaction takes a PostgreSQL advisory lock on
    (tenant, tool), counts the ``mcp.tool_call_started`` events within the window, and writes
    this call's one. Of N calls arriving at once, from any number of processes, exactly the
    rate's number get in; without the lock each would count the same events and all would pass.

    The lock is held for the count and the insert only, never while the tool runs (an export or
    a SuiteQL query takes seconds, and holding it would queue every other call of the tool
    behind the slow one). That is why the call is recorded when it starts, by an event of its
    own: the ``mcp.tool_called`` event says how the call ended, so it can only be written at the
    end, and audit events are append-only in the database (it cannot be written first and
    completed later). A call still running therefore counts from the moment it was let in.
    Calls the limit refuses get no started event, so they never count against it.
    """
    allowed, window = rate_for(tool.name)
    tenant_id = current_tenant_id()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_rate_lock_key(tenant_id, tool.name)])
        # Counted after the lock is ours, in a statement of its own: under READ COMMITTED it sees
        # every call let in by the transactions that held the lock before.
        since = timezone.now() - window
        recent = AuditEvent.objects.filter(
            tenant_id=tenant_id,
            action=AUDIT_START_ACTION,
            target_type=AUDIT_TARGET_TYPE,
            target_id=tool.name,
            created_at__gte=since,
        ).count()
        if recent >= allowed:
            raise ToolRefusal(
                f"Rate limit: {tool.name} takes {allowed} calls per {_window_words(window)} in this tenant, and "
                f"{recent} were made in the last one. Try again later.",
                code=RATE_LIMITED,
                outcome=Outcome.DENIED,
            )
        _audit(action=AUDIT_START_ACTION, tool_name=tool.name, user=user, outcome=Outcome.SUCCESS, detail={})


def _rate_lock_key(tenant_id: Any, tool_name: str) -> int:
    """The advisory lock of one tenant's calls of one tool (a signed 64-bit key, as PostgreSQL takes)."""
    digest = hashlib.blake2b(f"mcp.rate:{tenant_id}:{tool_name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _window_words(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    return {1: "second", 60: "minute", 3600: "hour", 86400: "day"}.get(seconds, f"{seconds} seconds")


# ---------------------------------------------------------------------- parameters and limits


def allow_params(tool: Tool, arguments: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The arguments the tool declares, checked against its schema; the unknown ones' names.

    A declared argument holding a NUL or a lone surrogate (``"\\ud800"``, no character) is
    refused, at any depth: no parameter takes one, and PostgreSQL refuses both wherever a tool
    would look them up. An unknown one's name is reported as its escape, cut short.
    """
    ignored = sorted(storable(str(name))[:100] for name in arguments if name not in tool.properties)
    params = {name: value for name, value in arguments.items() if name in tool.properties}
    for name, value in params.items():
        if holds(value):
            raise bad_param(name, "holds a NUL character or a lone surrogate, which no parameter takes.")
    validator = jsonschema.Draft202012Validator(tool.input_schema())
    errors = sorted(validator.iter_errors(params), key=lambda e: (list(e.path), e.message))
    if errors:
        error = errors[0]
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else "?"
            raise bad_param(missing, "is required.")
        name = ".".join(str(part) for part in error.path) or "arguments"
        raise bad_param(name, _schema_message(error))
    for name, value in params.items():  # JSON Schema counts 5.0 as an integer; Python slicing does not
        if tool.properties[name].get("type") == "integer" and isinstance(value, float):
            params[name] = int(value)
    return params, ignored


def _schema_message(error: jsonschema.ValidationError) -> str:
    """jsonschema's message without echoing a long value back."""
    if error.validator == "type":
        return f"must be {_type_words(error.validator_value)}, not {_json_type(error.instance)}."
    if error.validator == "enum":
        return f"must be one of {', '.join(map(str, error.validator_value))}."
    if error.validator in ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"):
        return error.message[:200] + "."
    return error.message[:200]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _type_words(expected: Any) -> str:
    names = {"integer": "a whole number", "string": "a string", "array": "a list", "object": "an object"}
    if isinstance(expected, list):
        return " or ".join(names.get(t, t) for t in expected)
    return names.get(expected, str(expected))


def apply_row_limit(tool: Tool, params: dict[str, Any]) -> list[str]:
    """Fill in the default row limit, lower one above the ceiling; say what was changed."""
    if tool.row_limit is None:
        return []
    limit = tool.row_limit
    given = params.get(limit.param)
    if given is None:
        params[limit.param] = limit.default
        return []
    if given < 1:
        raise bad_param(limit.param, "must be at least 1.")
    if given > limit.maximum:
        params[limit.param] = limit.maximum
        return [f"{limit.param} {given} is above the most this tool returns; {limit.maximum} used."]
    return []


def check_permissions(tool: Tool, *, tenant: Tenant, user: User, params: dict[str, Any]) -> None:
    """MCP access and the tool's codenames, from the database as they are now (a role changed
    or a plan downgraded mid-session takes effect on the next call)."""
    try:
        check_access(tenant=tenant, user=user)
    except AccessRefused as exc:
        raise ToolRefusal(str(exc), code="forbidden", outcome=Outcome.DENIED) from exc
    missing = [perm for perm in tool.needed_permissions(params) if not user.has_perm(perm)]
    if missing:
        raise ToolRefusal(
            f"Your role in this tenant does not allow {tool.name} (needs {', '.join(missing)}).",
            code="forbidden",
            outcome=Outcome.DENIED,
        )


def plain(value: Any) -> Any:
    """JSON types only (uuids, dates and Decimals as strings), as the API renders them."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


# ---------------------------------------------------------------------- the pipeline


class Pipeline:
    """One user's calls in one tenant (what ``runmcp --tenant --user`` serves)."""

    def __init__(self, *, tenant: Tenant, user: User, tools: list[Tool]) -> None:
        self.tenant_id = tenant.pk
        self.user_id = user.pk
        self.tools = {tool.name: tool for tool in tools}

    def _who(self) -> tuple[Tenant, User]:
        # Read again on every call: a long-lived server must see a deactivated user, a removed
        # membership or a changed plan at once.
        tenant = Tenant.objects.select_related("plan").get(pk=self.tenant_id)
        user = User.objects.get(pk=self.user_id)
        return tenant, user

    def visible_tools(self) -> list[Tool]:
        """The tools this user may call now (``tools/list``); none when access is gone."""
        close_old_connections()
        try:
            tenant, user = self._who()
            check_access(tenant=tenant, user=user)
            with tenant_context(tenant):
                return [t for t in self.tools.values() if all(user.has_perm(p) for p in t.permissions)]
        except AccessRefused:
            return []
        finally:
            close_old_connections()

    def call(self, name: str, arguments: dict[str, Any] | None) -> CallResult:
        correlation_id = uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id, user_id=str(self.user_id))
        close_old_connections()
        try:
            return self._call(name, dict(arguments or {}), correlation_id)
        except (Tenant.DoesNotExist, User.DoesNotExist):
            return _error(
                "The tenant or the user this server acts for no longer exists: restart runmcp.",
                code="forbidden",
                correlation_id=correlation_id,
            )
        except Exception:  # the audit itself failed, or the database is gone: still no traceback out
            logger.exception("mcp.call_failed", tool=name)
            return _error(
                "The call could not be completed and nothing was changed: an internal error "
                f"(correlation id {correlation_id}).",
                code="internal_error",
                correlation_id=correlation_id,
            )
        finally:
            close_old_connections()
            structlog.contextvars.unbind_contextvars("correlation_id", "user_id")

    def _call(self, name: str, arguments: dict[str, Any], correlation_id: str) -> CallResult:
        tenant, user = self._who()
        forget_cached_permissions(user)
        with tenant_context(tenant):
            tool = self.tools.get(name)
            detail: dict[str, Any] = {"tool": name, "params": _loggable(arguments)}
            try:
                if tool is None:
                    raise ToolRefusal(
                        f"Unknown tool {name[:80]!r}. The tools are: {', '.join(sorted(self.tools))}.",
                        code="unknown_tool",
                    )
                admit_call(tool, user=user)
                params, ignored = allow_params(tool, arguments)
                detail["ignored_params"] = ignored
                notices = apply_row_limit(tool, params)
                check_permissions(tool, tenant=tenant, user=user, params=params)
                call = ToolCall(tool=tool, user=user, tenant=tenant, params=params, ignored=ignored, notices=notices)
                with transaction.atomic():
                    try:
                        result = redact(plain(_run(tool, call)))
                    except ToolRefusal as exc:
                        if not exc.writes_stand:
                            raise  # rolls the tool's writes back; refused below
                        # returned inside the transaction: the tool's writes commit with the refusal's event
                        return _refused(exc, tool_name=name, user=user, detail=detail, correlation_id=correlation_id)
                    payload: dict[str, Any] = {"tool": name, "correlation_id": correlation_id, "result": result}
                    if call.ignored:
                        payload["ignored_params"] = sorted(call.ignored)
                    if call.notices:
                        payload["notices"] = call.notices
                    detail.update(ignored_params=sorted(call.ignored), **_result_summary(result))
                    _audit(tool_name=name, user=user, outcome=Outcome.SUCCESS, detail=detail)
                logger.info("mcp.call", tool=name, outcome="success")
                return CallResult(payload=payload, is_error=False)
            except ToolRefusal as exc:
                return _refused(exc, tool_name=name, user=user, detail=detail, correlation_id=correlation_id)
            except Exception:
                logger.exception("mcp.call_failed", tool=name)
                detail.update(code="internal_error", error="internal error")
                _audit(tool_name=name, user=user, outcome=Outcome.FAILURE, detail=detail)
                return _error(
                    f"{name} failed and nothing was changed: an internal error (correlation id {correlation_id}).",
                    code="internal_error",
                    correlation_id=correlation_id,
                )


def _refused(
    exc: ToolRefusal, *, tool_name: str, user: User, detail: dict[str, Any], correlation_id: str
) -> CallResult:
    """Audit a refused call and answer the tool error that says why."""
    detail.update(code=exc.code, error=str(exc)[:500])
    if exc.param:
        detail["param"] = exc.param
    _audit(tool_name=tool_name, user=user, outcome=exc.outcome, detail=detail)
    logger.info("mcp.call", tool=tool_name, outcome=str(exc.outcome), code=exc.code)
    return _error(str(exc), code=exc.code, correlation_id=correlation_id, param=exc.param)


def _run(tool: Tool, call: ToolCall) -> dict[str, Any]:
    """The tool's work, its anticipated failures turned into refusals that name the parameter."""
    try:
        return tool.run(call)
    except ServiceError as exc:
        if exc.code == "forbidden":  # the role, not the parameter: said as the service says it
            raise ToolRefusal(str(exc), code="forbidden", outcome=Outcome.DENIED) from exc
        code = "not_found" if exc.code == "not_found" else "invalid_param"
        raise ToolRefusal(
            f"{exc.field}: {exc}" if exc.field and not str(exc).startswith(exc.field) else str(exc),
            code=code,
            param=exc.field,
        ) from exc
    except DjangoValidationError as exc:
        errors = getattr(exc, "message_dict", None) or {"arguments": exc.messages}
        param, messages = next(iter(errors.items()))
        raise bad_param(str(param), " ".join(str(m) for m in messages)) from exc
    except Http404 as exc:
        raise ToolRefusal("Not found in this tenant.", code="not_found") from exc
    except PermissionDenied as exc:
        raise ToolRefusal(
            str(exc) or "Your role does not allow this.", code="forbidden", outcome=Outcome.DENIED
        ) from exc


def _audit(*, tool_name: str, user: User, outcome: str, detail: dict[str, Any], action: str = AUDIT_ACTION) -> None:
    audit_record(
        action=action,
        actor=user,
        actor_kind="mcp",
        target_type=AUDIT_TARGET_TYPE,
        target_id=tool_name[:200],
        outcome=outcome,
        detail=detail,
    )


def _loggable(arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments as the audit keeps them: JSON, each long value cut short (redacted later)."""
    out = {}
    for name, value in list(arguments.items())[:50]:
        text = json.dumps(value, default=str)
        out[str(name)[:100]] = value if len(text) <= 2000 else text[:2000] + "...(cut)"
    return out


def _result_summary(result: Any) -> dict[str, Any]:
    """What the audit keeps of a result: its counts, never its rows."""
    if not isinstance(result, dict):
        return {}
    keys = ("count", "rows", "total", "truncated", "run_id", "status", "payout_id")
    return {f"result_{k}": result[k] for k in keys if k in result and not isinstance(result[k], list | dict)}


def _error(message: str, *, code: str, correlation_id: str, param: str | None = None) -> CallResult:
    payload: dict[str, Any] = {"error": message, "code": code, "correlation_id": correlation_id}
    if param:
        payload["param"] = param
    return CallResult(payload=payload, is_error=True)
