"""Session login/logout, the tenant switcher, and the admin's two views (platform, tenant)."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.services import audit_record
from conftest import PASSWORD
from tenants.models import User


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=False)


def _login(client: Client, email: str) -> None:
    response = client.post("/login/", {"email": email, "password": PASSWORD})
    assert response.status_code == 302, response.content


def test_login_page_signs_in_and_lands_on_the_tenant_dashboard(browser, tenant_a):
    assert browser.get("/").status_code == 302  # signed out: sent to login

    _login(browser, "owner@acme.example.com")
    page = browser.get("/")

    assert page.status_code == 200
    assert "Acme Ltd" in page.content.decode()


def test_login_page_wrong_password_shows_an_error(browser, tenant_a):
    response = browser.post("/login/", {"email": "owner@acme.example.com", "password": "wrong"})
    assert response.status_code == 400
    assert "Email or password is incorrect." in response.content.decode()


def test_logout_ends_the_session(browser, tenant_a):
    _login(browser, "owner@acme.example.com")
    assert browser.post("/logout/").status_code == 302
    assert browser.get("/").status_code == 302


def test_login_page_needs_csrf(tenant_a):
    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/login/", {"email": "owner@acme.example.com", "password": PASSWORD})
    assert response.status_code == 403


def test_tenant_switcher_moves_the_session(browser, worlds, tenant_a, tenant_b):
    _login(browser, "both@example.com")
    first = browser.get("/").content.decode()
    response = browser.post("/tenants/switch/", {"tenant": "beta" if "Acme Ltd</h1>" in first else "acme"})
    second = browser.get("/").content.decode()

    assert response.status_code == 302
    assert ("Beta GmbH</h1>" in second) != ("Beta GmbH</h1>" in first)


@pytest.mark.parametrize(
    ("next_url", "lands_on"),
    [
        ("/recon/?state=open", "/recon/?state=open"),
        ("https://evil.example/phish", "/"),
        ("//evil.example", "/"),
        ("nosuchview", "/"),
        ("", "/"),
    ],
)
def test_tenant_switcher_goes_back_only_to_a_page_of_this_site(browser, worlds, tenant_a, tenant_b, next_url, lands_on):
    _login(browser, "both@example.com")

    response = browser.post("/tenants/switch/", {"tenant": "beta", "next": next_url})

    assert (response.status_code, response["Location"]) == (302, lands_on)


def test_tenant_switcher_refuses_a_foreign_tenant(browser, tenant_a, tenant_b):
    _login(browser, "owner@acme.example.com")
    assert browser.post("/tenants/switch/", {"tenant": "beta"}).status_code == 404
    assert "Acme Ltd" in browser.get("/").content.decode()


@pytest.mark.parametrize("reference", ["beta\x00", "\x00"])
def test_tenant_switcher_refuses_a_name_no_tenant_can_have_like_a_foreign_one(browser, tenant_a, reference):
    _login(browser, "owner@acme.example.com")
    assert browser.post("/tenants/switch/", {"tenant": reference}).status_code == 404
    assert "Acme Ltd" in browser.get("/").content.decode()


def test_admin_platform_view_for_staff(browser, tenant_a):
    User.objects.create_superuser(email="ops@ecomops.example.com", password=PASSWORD)
    _login(browser, "ops@ecomops.example.com")

    tenants = browser.get("/admin/tenants/tenant/")

    assert tenants.status_code == 200
    assert "Acme Ltd" in tenants.content.decode()


def test_admin_tenant_view_shows_only_own_tenants_events(browser, tenant_a, tenant_b, in_tenant):
    with in_tenant(tenant_a.tenant):
        audit_record(action="test.visible_in_a")
    with in_tenant(tenant_b.tenant):
        audit_record(action="test.hidden_from_a")
    _login(browser, "accountant@acme.example.com")

    events = browser.get("/admin/audit/auditevent/")
    platform = browser.get("/admin/tenants/tenant/")

    assert events.status_code == 200
    body = events.content.decode()
    assert "test.visible_in_a" in body
    assert "test.hidden_from_a" not in body
    assert platform.status_code == 403


def test_admin_hides_audit_from_viewers(browser, tenant_a):
    _login(browser, "viewer@acme.example.com")
    assert browser.get("/admin/").status_code == 200
    assert browser.get("/admin/audit/auditevent/").status_code == 403


def test_openapi_schema_and_docs(api, db):
    schema = api.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/auth/switch-tenant/" in schema.content
    assert api.get("/api/v1/docs/").status_code == 200


def test_admin_shows_connections_masked_and_canonical_rows_read_only(browser, tenant_a, in_tenant):
    from canonical.models import PayoutLine
    from canonical.tests.factories import payout_line_row
    from canonical.upsert import upsert_rows
    from connections.services import connection_create

    with in_tenant(tenant_a.tenant):
        conn = connection_create(
            actor=tenant_a.admin,
            name="Stripe EU",
            provider="stripe",
            credentials={"api_key": "sk_test_AdminPageSecret_7f3e"},
        )
        upsert_rows([payout_line_row("txn_admin_1")], connection_id=conn.pk, tenant_id=conn.tenant_id)
        line = PayoutLine.objects.get(source_id="txn_admin_1")
    _login(browser, "admin@acme.example.com")

    change = browser.get(f"/admin/connections/connection/{conn.pk}/change/").content.decode()
    lines = browser.get("/admin/canonical/payoutline/")
    line_page = browser.get(f"/admin/canonical/payoutline/{line.pk}/change/").content.decode()

    assert "****7f3e" in change
    assert "AdminPageSecret" not in change
    assert lines.status_code == 200
    assert "txn_admin_1" in lines.content.decode()
    assert 'name="_save"' not in line_page  # read only: no save button


@pytest.mark.parametrize(
    ("current_url", "back_to"),
    [
        ("http://testserver/recon/?state=open", "/login/?next=%2Frecon%2F%3Fstate%3Dopen"),
        ("https://evil.example/phish", "/login/?next=%2F"),
    ],
)
def test_an_htmx_action_after_the_session_ended_sends_the_window_to_sign_in(tenant_a, current_url, back_to):
    response = Client().post(
        "/recon/exceptions/00000000-0000-0000-0000-000000000000/acknowledge/",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=current_url,
    )
    plain = Client().get("/recon/?state=open")

    assert (response.status_code, response["HX-Redirect"]) == (401, back_to)
    assert (plain.status_code, plain["Location"]) == (302, "/login/?next=/recon/%3Fstate%3Dopen")


@pytest.mark.parametrize(
    ("next_url", "lands_on"),
    [("/recon/?state=open", "/recon/?state=open"), ("https://evil.example/phish", "/"), ("nosuchview", "/")],
)
def test_signing_in_goes_back_only_to_a_page_of_this_site(browser, tenant_a, next_url, lands_on):
    response = browser.post(f"/login/?next={next_url}", {"email": "owner@acme.example.com", "password": PASSWORD})

    assert (response.status_code, response["Location"]) == (302, lands_on)
