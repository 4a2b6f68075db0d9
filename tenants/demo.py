"""The demo tenant that `make run` sets up. Never available under production settings."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEMO_EMAIL = "demo@example.com"
DEMO_SLUG = "demo"


def demo_allowed() -> bool:
    return bool(getattr(settings, "ECOMOPS_ALLOW_DEMO_USER", False))


def demo_ensure(*, password: str) -> tuple[object, object, bool]:
    """Create (or repair) the demo tenant on the pro plan with its owner. Idempotent."""
    if not demo_allowed():
        raise ImproperlyConfigured("The demo user is refused under production settings.")
    from tenants.models import Membership, Role, Tenant, User
    from tenants.services import tenant_create

    tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
    created = tenant is None
    if created:
        tenant = tenant_create(name="Demo Store", plan="pro", slug=DEMO_SLUG)
    user = User.objects.filter(email=DEMO_EMAIL).first() or User.objects.create_user(email=DEMO_EMAIL)
    user.set_password(password)
    user.full_name = user.full_name or "Demo Owner"
    user.save()
    Membership.objects.update_or_create(user=user, tenant=tenant, defaults={"role": Role.OWNER, "is_active": True})
    return tenant, user, created
