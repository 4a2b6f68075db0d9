"""Writes for tenants, users and memberships. Each runs in a transaction and is audited."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from functools import partial
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.validators import slug_re
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from audit.models import Outcome
from audit.services import audit_record
from ecomops.tenancy import public_context
from tenants.models import EMAIL_MAX_LENGTH, RECON_SETTING_BOUNDS, Membership, Plan, Role, Tenant, User
from tenants.permissions import forget_cached_permissions


class ServiceError(Exception):
    """A refusal with a message for the user; ``field`` names the input at fault, if any."""

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid") -> None:
        super().__init__(message)
        self.field = field
        self.code = code


def parse_ids(values: Iterable[Any], *, field: str, what: str = "an id") -> list[uuid.UUID]:
    """The values as uuids, in their order; the first that is not one is refused, named (cut short)."""
    result = []
    for value in values:
        try:
            result.append(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError:
            raise ServiceError(f"{str(value)[:64]!r} is not {what}.", field=field) from None
    return result


def _slug_taken(slug: str) -> bool:
    """Whether the slug, or the schema it would name, is in use: "probe-co" and "probe_co"
    are two slugs but one schema (``t_probe_co``)."""
    return Tenant.objects.filter(Q(slug=slug) | Q(schema_name=Tenant.schema_name_for(slug))).exists()


def _unique_slug(name: str) -> str:
    base = slugify(name).replace("_", "-")[:40].strip("-") or "tenant"
    slug, n = base, 1
    while _slug_taken(slug):
        n += 1
        slug = f"{base}-{n}"
    return slug


def tenant_create(*, name: str, plan: str = "trial", slug: str | None = None) -> Tenant:
    """Create a tenant and its schema (migrated, with row-level security installed)."""
    name = (name or "").strip()
    if not name:
        raise ServiceError("A tenant name is required.", field="tenant_name")
    with public_context():
        slug = slug or _unique_slug(name)
        if _slug_taken(slug):
            raise ServiceError(f"The tenant slug {slug!r} is taken.", field="slug")
        if not Plan.objects.filter(code=plan).exists():
            raise ServiceError(f"Unknown plan {plan!r}.", field="plan")
        tenant = Tenant(name=name, slug=slug, plan_id=plan, schema_name=Tenant.schema_name_for(slug))
        tenant.save(verbosity=0)  # creates and migrates the schema
    return tenant


def _clean_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not email or "@" not in email or len(email) > EMAIL_MAX_LENGTH:
        raise ServiceError(
            f"A valid email address of at most {EMAIL_MAX_LENGTH} characters is required.", field="email"
        )
    return email


def _check_password(password: str, email: str) -> None:
    from django.core.exceptions import ValidationError

    try:
        validate_password(password, user=User(email=email))
    except ValidationError as exc:
        raise ServiceError(" ".join(exc.messages), field="password") from exc


def user_register(*, email: str, password: str, tenant_name: str) -> tuple[User, Tenant]:
    """Sign-up: a user, a tenant on the trial plan, and the user as its owner."""
    email = _clean_email(email)
    if User.objects.filter(email=email).exists():
        raise ServiceError("An account with this email already exists.", field="email", code="exists")
    _check_password(password, email)
    tenant = tenant_create(name=tenant_name, plan="trial")
    # The tenant's schema is created (and migrated) outside any transaction, so a sign-up that
    # fails after it (the same email registered at the same moment) drops it again.
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password)
            Membership.objects.create(user=user, tenant=tenant, role=Role.OWNER, last_used_at=timezone.now())
    except Exception as exc:
        with public_context():
            tenant.delete(force_drop=True)
        if isinstance(exc, IntegrityError) and User.objects.filter(email=email).exists():
            raise ServiceError("An account with this email already exists.", field="email", code="exists") from exc
        raise
    audit_record(action="auth.register", actor=user, target=tenant, tenant=tenant, detail={"plan": "trial"})
    return user, tenant


def membership_for_login(*, user: User, tenant: Tenant | None = None) -> Membership | None:
    """The membership a login or switch lands in: the named tenant, else the last used one."""
    memberships = Membership.objects.filter(user=user, is_active=True, tenant__is_active=True).select_related(
        "tenant", "tenant__plan"
    )
    if tenant is not None:
        memberships = memberships.filter(tenant=tenant)
    membership = memberships.order_by("-last_used_at", "created_at").first()
    if membership is not None:
        Membership.objects.filter(pk=membership.pk).update(last_used_at=timezone.now())
    return membership


def find_tenant(reference: str) -> Tenant | None:
    """A tenant by slug or by id; None when neither matches.

    A reference that is neither an id nor a slug's shape matches nothing, and is not looked up:
    it comes from headers, forms and command lines, and one holding a NUL would fail the query.
    """
    import uuid

    reference = (reference or "").strip()
    try:
        return Tenant.objects.filter(pk=uuid.UUID(reference)).first()
    except ValueError:
        if not slug_re.fullmatch(reference):
            return None
        return Tenant.objects.filter(slug=reference).first()


def membership_invite(*, actor: User, tenant: Tenant, email: str, role: str) -> Membership:
    """Add a user (created if new) to the tenant with a role, and tell them by email.

    An invitation never sets a password: a tenant's owner choosing the password of an
    account that is global would hold that account, and with it every tenant that later
    invites the same address. A new account is created without a usable password; its
    holder chooses one from the link the invitation email carries (``password_link_send``),
    which only the owner of the address can read.
    """
    if role not in Role.values:
        raise ServiceError(f"Unknown role {role!r}; choose one of {', '.join(Role.values)}.", field="role")
    email = _clean_email(email)
    with transaction.atomic():
        user = User.objects.filter(email=email).first()
        new = user is None
        if new:
            user = User.objects.create_user(email=email, password=None)
        membership, created = Membership.objects.get_or_create(user=user, tenant=tenant, defaults={"role": role})
        if not created:
            raise ServiceError("This user is already a member.", field="email", code="exists")
        audit_record(action="membership.invited", actor=actor, target=user, tenant=tenant, detail={"role": role})
        inviter = getattr(actor, "email", "")
        if new or not user.has_usable_password():  # someone who has not chosen a password yet
            notify = partial(password_link_send, user=user, invited_to=tenant, invited_by=inviter)
        else:
            notify = partial(_added_notice_send, user=user, tenant=tenant, invited_by=inviter)
        transaction.on_commit(notify)  # an email about a rolled-back invitation would lie
    return membership


def password_link(user: User) -> str:
    """The one-time address where ``user`` chooses a password (valid until one is set, or for
    ``PASSWORD_RESET_TIMEOUT``), on the site's public address (``PUBLIC_URL``, never the
    request's Host header, which a caller chooses)."""
    from django.conf import settings
    from django.contrib.auth.tokens import default_token_generator
    from django.urls import reverse
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    path = reverse(
        "password-set",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return settings.PUBLIC_URL.rstrip("/") + path


def password_link_send(*, user: User, invited_to: Tenant | None = None, invited_by: str = "") -> None:
    """Email ``user`` the link where they choose a password: for an invitation, or because
    they asked (forgot it)."""
    from django.conf import settings
    from django.core.mail import send_mail

    link = password_link(user)
    if invited_to is not None:
        subject = f"You are invited to {invited_to.name} on EcomOps"
        body = (
            f"{invited_by or 'A member'} invited you to {invited_to.name} on EcomOps.\n\n"
            f"Choose your password here to sign in:\n{link}\n\n"
            "The link works once. If you did not expect this, ignore this email."
        )
    else:
        subject = "Choose a new EcomOps password"
        body = (
            f"Someone (we hope you) asked to choose a new password for {user.email}.\n\n"
            f"Choose it here:\n{link}\n\n"
            "The link works once. If it was not you, ignore this email: your password stays as it is."
        )
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])


def _added_notice_send(*, user: User, tenant: Tenant, invited_by: str) -> None:
    from django.conf import settings
    from django.core.mail import send_mail

    send_mail(
        f"You were added to {tenant.name} on EcomOps",
        f"{invited_by or 'A member'} added you to {tenant.name} on EcomOps. Sign in with your usual "
        f"password and choose it from the tenant switcher:\n{settings.PUBLIC_URL.rstrip('/')}/login/",
        settings.DEFAULT_FROM_EMAIL,
        [user.email],
    )


def membership_set_role(*, actor: User, membership: Membership, role: str) -> Membership:
    """Change a member's role. The last owner cannot be demoted."""
    if role not in Role.values:
        raise ServiceError(f"Unknown role {role!r}; choose one of {', '.join(Role.values)}.", field="role")
    with transaction.atomic():
        locked = Membership.objects.select_for_update().get(pk=membership.pk)
        previous = locked.role
        if previous == Role.OWNER and role != Role.OWNER:
            owners = Membership.objects.filter(tenant=locked.tenant, role=Role.OWNER, is_active=True).count()
            if owners <= 1:
                raise ServiceError("A tenant needs at least one owner.", field="role", code="last_owner")
        locked.role = role
        locked.save(update_fields=["role"])
    forget_cached_permissions(locked.user)
    audit_record(
        action="membership.role_changed",
        actor=actor,
        target=locked.user,
        tenant=locked.tenant,
        detail={"from": previous, "to": role},
    )
    return locked


def membership_remove(*, actor: User, membership: Membership) -> None:
    """Remove a member from the tenant. The last owner cannot be removed."""
    with transaction.atomic():
        locked = Membership.objects.select_for_update().get(pk=membership.pk)
        if locked.role == Role.OWNER:
            owners = Membership.objects.filter(tenant=locked.tenant, role=Role.OWNER, is_active=True).count()
            if owners <= 1:
                raise ServiceError("A tenant needs at least one owner.", code="last_owner")
        user, tenant = locked.user, locked.tenant
        locked.delete()
    audit_record(action="membership.removed", actor=actor, target=user, tenant=tenant)


# The bounds live on the model (``RECON_SETTING_BOUNDS``), shared with its validators and the
# API's input serializer, so every way in refuses the same values.
def _clean_recon_setting(name: str, value: object) -> int:
    low, high = RECON_SETTING_BOUNDS[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ServiceError("A whole number is required.", field=name)
    if not low <= value <= high:
        raise ServiceError(f"Must be between {low} and {high}.", field=name)
    return value


def tenant_update(
    *,
    actor: User,
    tenant: Tenant,
    name: str | None = None,
    recon_amount_tolerance_minor: int | None = None,
    recon_freshness_hours: int | None = None,
    recon_unpaid_grace_days: int | None = None,
) -> Tenant:
    """Change the tenant's name and/or reconciliation settings; ``None`` leaves a field as it is.

    Everything is checked before anything is written, so a refusal changes nothing. One
    ``tenant.updated`` event records each changed field as ``[old, new]``; it is written for
    every accepted update, even one that changes nothing, so each attempt leaves a trace.
    The next recon run notices a changed tolerance or grace period by itself (the settings
    fingerprint in ``recon.engine.RuleSettings``) and re-evaluates everything.
    """
    wanted: dict[str, object] = {}
    if name is not None:
        name = name.strip()
        if not name:
            raise ServiceError("A tenant name is required.", field="name")
        wanted["name"] = name
    for field, value in (
        ("recon_amount_tolerance_minor", recon_amount_tolerance_minor),
        ("recon_freshness_hours", recon_freshness_hours),
        ("recon_unpaid_grace_days", recon_unpaid_grace_days),
    ):
        if value is not None:
            wanted[field] = _clean_recon_setting(field, value)
    with transaction.atomic():
        # The old values come from the locked row, not from ``tenant``: the caller's instance
        # may be older than a concurrent update, and the audit must show what was replaced.
        current = Tenant.objects.select_for_update().only("pk", *wanted).get(pk=tenant.pk)
        old_values = {field: getattr(current, field) for field in wanted}
        changes = {field: [old_values[field], new] for field, new in wanted.items() if old_values[field] != new}
        if changes:
            Tenant.objects.filter(pk=tenant.pk).update(**{field: new for field, (_, new) in changes.items()})
        for field, value in wanted.items():
            setattr(tenant, field, value)
        audit_record(action="tenant.updated", actor=actor, target=tenant, tenant=tenant, detail=changes)
    return tenant


def login_audit(*, user: User | None, email: str, tenant: Tenant | None, success: bool, reason: str = "") -> None:
    """Record a login attempt in the tenant it concerns (a failed one in the user's last tenant)."""
    if tenant is None and user is not None:
        membership = Membership.objects.filter(user=user, is_active=True).order_by("-last_used_at").first()
        tenant = membership.tenant if membership else None
    if tenant is None:
        return  # an unknown email: nothing tenant-scoped to record; the log line stands
    audit_record(
        action="auth.login",
        actor=user if success else None,
        actor_kind="user",
        target=user,
        tenant=tenant,
        outcome=Outcome.SUCCESS if success else Outcome.FAILURE,
        detail={"email": email, **({"reason": reason} if reason else {})},
    )
