"""Production settings refuse insecure configuration; the demo user exists only outside production."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "DJANGO_SETTINGS_MODULE": "ecomops.settings.prod",
    "SECRET_KEY": "k" * 20 + "-prod-secret-for-the-deploy-check-0123456789abcdef",
    "CREDENTIAL_KEYS": "c" * 40,
    "ALLOWED_HOSTS": "ecomops.example.com",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_under_production_settings(db):
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PROD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "dev-insecure-secret-key-change-me-for-production-0123456789"}, "SECRET_KEY must be set"),
        ({"CREDENTIAL_KEYS": ""}, "CREDENTIAL_KEYS must be set"),
    ],
)
def test_production_refuses_missing_or_default_secrets(override, message, db):
    result = _manage("check", env={**PROD_ENV, **override})
    assert result.returncode != 0
    assert message in result.stderr
    assert PROD_ENV["SECRET_KEY"] not in result.stderr


def test_demo_command_is_refused_under_production_settings(db):
    result = _manage("ensure_demo", env=PROD_ENV)
    assert result.returncode != 0
    assert "refused under production settings" in result.stderr


def test_demo_ensure_creates_pro_tenant_and_owner_idempotently(db, settings):
    from tenants.demo import demo_ensure
    from tenants.models import Membership

    tenant, user, created = demo_ensure(password="demo-password")
    again_tenant, _, created_again = demo_ensure(password="demo-password")

    assert (created, created_again) == (True, False)
    assert again_tenant.pk == tenant.pk
    assert tenant.plan_id == "pro"
    assert Membership.objects.get(user=user, tenant=tenant).role == "owner"


def test_demo_user_cannot_sign_in_under_production_settings(api, db, settings):
    from tenants.demo import demo_ensure

    demo_ensure(password="demo-password")
    ok = api.post("/api/v1/auth/login/", {"email": "demo@example.com", "password": "demo-password"}, format="json")
    settings.ECOMOPS_ALLOW_DEMO_USER = False
    refused = api.post("/api/v1/auth/login/", {"email": "demo@example.com", "password": "demo-password"}, format="json")

    assert ok.status_code == 200
    assert refused.status_code == 401


def test_sandboxes_are_refused_under_production_settings(db):
    result = _manage("sandbox", "--stripe-port", "0", "--shopify-port", "0", "--netsuite-port", "0", env=PROD_ENV)
    assert result.returncode != 0
    assert "never run under production settings" in result.stderr
