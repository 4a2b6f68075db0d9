"""Fixtures shared by every test: two tenants with users in each role, and API clients.

Tenants (and their schemas) are created once per test session and committed; each test
then runs in a transaction that is rolled back, so rows a test writes never leak into the
next one. Everything runs against real PostgreSQL (embedded, or DATABASE_URL).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

PASSWORD = "correct-horse-battery-staple"  # noqa: S105 - test users only


def signed_in(email: str):  # -> django.test.Client
    """A browser session (Django's test client) signed in through the login page."""
    from django.test import Client

    client = Client()
    assert client.post("/login/", {"email": email, "password": PASSWORD}).status_code == 302
    return client


@pytest.fixture(scope="session")
def django_db_setup(
    request,
    django_test_environment,
    django_db_blocker,
    django_db_keepdb,
    django_db_createdb,
    django_db_modify_db_settings,
):
    """Always create the test database, whatever the selected tests declare.

    pytest-django sets up only the databases that the collected tests ask for through its
    own fixtures and markers; a session of ``live_db`` tests alone would otherwise run
    against the development database.
    """
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        config = setup_databases(
            verbosity=request.config.option.verbose,
            interactive=False,
            aliases={"default"},
            keepdb=django_db_keepdb and not django_db_createdb,
        )
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock():
            teardown_databases(config, verbosity=request.config.option.verbose)


@dataclass
class TenantWorld:
    tenant: object
    owner: object
    admin: object
    accountant: object
    viewer: object

    def user(self, role: str):
        return getattr(self, role)


def _make_world(slug: str, name: str, plan: str) -> TenantWorld:
    from tenants.models import Membership, Role, Tenant, User
    from tenants.services import tenant_create

    tenant = Tenant.objects.filter(slug=slug).first() or tenant_create(name=name, plan=plan, slug=slug)
    users = {}
    for role in Role.values:
        user, _ = User.objects.get_or_create(email=f"{role}@{slug}.example.com")
        user.set_password(PASSWORD)
        user.save()
        Membership.objects.update_or_create(user=user, tenant=tenant, defaults={"role": role})
        users[role] = user
    return TenantWorld(tenant=tenant, **users)


@pytest.fixture(scope="session", autouse=True)
def _close_slot_providers(django_db_setup):  # type: ignore[no-untyped-def]
    """The NetSuite client's PostgreSQL slot provider keeps a connection per process (any test
    that sends to NetSuite opens it): close it before the test database is dropped (an open
    session would block the drop)."""
    yield
    from netsuite.connection import close_slot_providers, forget_shared_clients

    forget_shared_clients()
    close_slot_providers()


@pytest.fixture(scope="session")
def worlds(django_db_setup, django_db_blocker):
    """Tenant A (pro plan) and tenant B (trial), plus a user who belongs to both."""
    with django_db_blocker.unblock():
        from tenants.models import Membership, Role, User

        a = _make_world("acme", "Acme Ltd", "pro")
        b = _make_world("beta", "Beta GmbH", "trial")
        both, _ = User.objects.get_or_create(email="both@example.com")
        both.set_password(PASSWORD)
        both.save()
        Membership.objects.update_or_create(user=both, tenant=a.tenant, defaults={"role": Role.ACCOUNTANT})
        Membership.objects.update_or_create(user=both, tenant=b.tenant, defaults={"role": Role.VIEWER})
    return {"a": a, "b": b, "both": both}


@pytest.fixture(autouse=True)
def _users_without_cached_permissions(request):
    """The worlds' users are session-wide objects: a permission a test cached on one (a role it
    changed, a grant it made and rolled back) must not answer in the next test."""
    if "worlds" in request.fixturenames:
        from tenants.permissions import forget_cached_permissions

        worlds = request.getfixturevalue("worlds")
        users = [worlds["both"]]
        for world in (worlds["a"], worlds["b"]):
            users += [world.owner, world.admin, world.accountant, world.viewer]
        for user in users:
            forget_cached_permissions(user)
            for attr in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
                user.__dict__.pop(attr, None)


@pytest.fixture
def tenant_a(worlds, db) -> TenantWorld:
    return worlds["a"]


@pytest.fixture
def tenant_b(worlds, db) -> TenantWorld:
    return worlds["b"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters live in the cache; each test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def tokens_for(user, tenant) -> dict[str, str]:
    from tenants.authentication import tokens_for as issue

    return issue(user, tenant)


@pytest.fixture
def api_as():
    """``api_as(user, tenant)`` → an APIClient with that user's bearer token for that tenant."""

    def make(user, tenant) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(user, tenant)['access']}")
        return client

    return make


@pytest.fixture
def in_tenant():
    """``with in_tenant(tenant):`` — the project's own tenant_context, for test set-up."""
    from ecomops.tenancy import tenant_context

    return tenant_context


@pytest.fixture
def live_db(django_db_setup, django_db_blocker):
    """Database access without the per-test transaction: writes commit, so other processes
    (a django-q2 worker, a second web process) see them. Clean up what you create."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def committed_tenant(live_db):
    """``committed_tenant(slug)`` → a committed tenant with an owner; dropped (schema too) afterwards."""
    from tenants.models import Membership, Role, Tenant, User
    from tenants.services import tenant_create

    made: list = []

    def make(slug: str, plan: str = "pro"):
        tenant = tenant_create(name=slug.title(), plan=plan, slug=slug)
        owner, _ = User.objects.get_or_create(email=f"owner@{slug}.example.com")
        Membership.objects.create(user=owner, tenant=tenant, role=Role.OWNER)
        made.append(tenant)
        return TenantWorld(tenant=tenant, owner=owner, admin=owner, accountant=owner, viewer=owner)

    yield make
    from ecomops.tenancy import public_context

    with public_context():
        for tenant in made:
            Tenant.objects.get(pk=tenant.pk).delete(force_drop=True)


@pytest.fixture
def web(tmp_path, live_db):
    """The console served by its own process (``manage.py runserver``) on a loopback port."""
    from tests.browser import web_server

    with web_server(tmp_path) as url:
        yield url


@pytest.fixture
def browser_page():
    """A Chromium page (Playwright); request it after every fixture that writes to the database."""
    from tests.browser import chromium_page

    with chromium_page() as page:
        yield page
