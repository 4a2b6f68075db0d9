"""Settings shared by every environment. Everything that differs comes from the environment.

See the configuration table in README.md. Development needs no configuration at all: with
no ``DATABASE_URL`` the embedded PostgreSQL server in ``.data/pg`` is started and used.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import environ

from ecomops import dbsetup

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

# Development default; prod.py refuses to start with it.
INSECURE_DEV_SECRET_KEY = "dev-insecure-secret-key-change-me-for-production-0123456789"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_DEV_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The site's public address, for links in emails (an invitation's set-password link): taken
# from here, never from a request's Host header.
PUBLIC_URL = env.str("PUBLIC_URL", default=f"http://127.0.0.1:{env.int('PORT', default=8000)}")

# --- email (invitations, password links) ---------------------------------------------------
# Development prints them to the console (the link to follow is there); production sends
# through SMTP (prod.py), configured by EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER,
# EMAIL_HOST_PASSWORD, EMAIL_USE_TLS.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="EcomOps <no-reply@localhost>")

# --- applications -------------------------------------------------------------------------
# django-tenants: SHARED_APPS live in the public schema, TENANT_APPS in every tenant schema.
SHARED_APPS = [
    "ecomops",
    "tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "ecomops.admin_apps.EcomOpsAdminConfig",
    # After the admin: its admin templates assume django-tenants' own middleware, and ours
    # are the admin's own. Its `migrate` override still wins over Django's.
    "django_tenants",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "guardian",
    "axes",
    "django_q",
    "django_htmx",
    "django_tables2",
    "django_structlog",
]
TENANT_APPS = [
    "audit",
    "connections",
    "canonical",
    "recon",
    "netsuite",
    "mcp_bridge",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
# Issue `SET search_path` (and the RLS tenant id with it) once per tenant switch, not
# before every query; the backend re-issues it after a rollback.
TENANT_LIMIT_SET_CALLS = True
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]

MIDDLEWARE = [
    # First: it sees what every other middleware answers (a 500 under /api/ is JSON, DEBUG or not).
    "ecomops.api.middleware.JsonErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "ecomops.middleware.CorrelationIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    "ecomops.middleware.TenantMiddleware",
    "ecomops.api.middleware.WriteQueryMiddleware",  # an API write with a query string is a 400
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "ecomops.urls"
WSGI_APPLICATION = "ecomops.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ecomops.context_processors.tenancy",
            ],
        },
    },
]

# --- database -----------------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default="")
if not DATABASE_URL:
    DATABASE_URL, _ = dbsetup.embedded_start()
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
# django-environ leaves a socket directory given as ?host= in OPTIONS; HOST is where Django
# (and anything deriving a URL from the settings) looks for it.
if not DATABASES["default"]["HOST"] and DATABASES["default"].get("OPTIONS", {}).get("host"):
    DATABASES["default"]["HOST"] = DATABASES["default"]["OPTIONS"].pop("host")
DATABASES["default"]["ENGINE"] = "ecomops.db"
# Which process a database session belongs to, in pg_stat_activity: "ecomops qcluster", ...
DATABASES["default"].setdefault("OPTIONS", {})["application_name"] = (
    "ecomops " + (sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else Path(sys.argv[0]).name)
)[:63]
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_ecomops")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
FORMS_URLFIELD_ASSUME_HTTPS = True  # Django 6 behaviour now; silences the transition warning

# --- auth ---------------------------------------------------------------------------------
AUTH_USER_MODEL = "tenants.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # login throttling first, as axes requires
    "tenants.backends.TenantRoleBackend",  # password login + the per-tenant role check
    "guardian.backends.ObjectPermissionBackend",
]
GUARDIAN_ANONYMOUS_USER_NAME = None
ANONYMOUS_USER_NAME = None
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# django-axes: lock an (email, IP) pair out after repeated failures.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_CALLABLE = "tenants.views.lockout_response"

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "ALGORITHM": "HS256",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.authentication.TenantJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["ecomops.api.filters.StrictFilterBackend"],  # an unknown filter is a 400
    # JSON only: "every answer under /api/ is JSON", a browser's included (no browsable API pages,
    # whose forms would post what a script cannot see). The schema and its docs have their own.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "ecomops.api.negotiation.FirstRendererFallback",  # JSON, not a 406
    "DEFAULT_PARSER_CLASSES": [
        "ecomops.api.parsers.JSONParser",  # DRF's, refusing what would fail later (too deep, lone surrogates)
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "ecomops.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "ecomops.api.schema.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {
        "login": env.str("LOGIN_THROTTLE_RATE", default="10/min"),
        "register": env.str("REGISTER_THROTTLE_RATE", default="20/hour"),
    },
    "EXCEPTION_HANDLER": "ecomops.api.exceptions.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "URL_FORMAT_OVERRIDE": None,  # ?format=csv on the tables endpoint is ours, not a renderer switch
}
SPECTACULAR_SETTINGS = {
    "TITLE": "EcomOps API",
    "DESCRIPTION": "Payments to NetSuite operations: connections, canonical data, reconciliation, postings.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- secrets at rest ----------------------------------------------------------------------
# Credential encryption keys, newest first. Rotation: put the new key first and keep the old
# ones until `manage.py rotate_credentials` has re-encrypted every row.
CREDENTIAL_KEYS = env.list("CREDENTIAL_KEYS", default=["dev-insecure-credential-key-0123456789abcdef"])

# --- jobs ---------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
TASK_QUEUES = env.str("TASK_QUEUES", default="single")  # "separate": one django-q2 cluster per queue
Q_CLUSTER: dict = {
    "name": "ecomops",
    "workers": env.int("WORKER_PROCESSES", default=2),
    "timeout": env.int("TASK_TIMEOUT_SECONDS", default=1800),
    "retry": env.int("TASK_RETRY_SECONDS", default=1900),
    "max_attempts": 1,
    "queue_limit": 50,
    "catch_up": False,
    "label": "Jobs",
    "poll": 0.2,
}
# Every enabled Stripe/Shopify connection is synced again (incrementally) once its last sync
# is this old; 0 turns the schedule off (connections.schedule).
SYNC_INTERVAL_MINUTES = env.int("SYNC_INTERVAL_MINUTES", default=60)
# Postings nobody else would pick up again (netsuite.schedule, every minute; False removes it):
# one left "sending" by a worker that died is resumed once its send started a lease ago and no
# live worker holds it, that many times at most (then it is failed for a person: its send kills
# the worker); one approved but never claimed since its send was queued a queue lease ago (its
# task was lost with a worker) is queued again, once the queue is idle or past it; one whose send
# had no definite answer is looked up in NetSuite by its external id, first an interval after the
# send, then at doubling intervals, until that many lookups went unanswered (then a person
# decides: the posting says so).
POSTING_RECOVERY = env.bool("POSTING_RECOVERY", default=True)
POSTING_SEND_LEASE_MINUTES = env.int("POSTING_SEND_LEASE_MINUTES", default=5)
POSTING_MAX_RESUMES = env.int("POSTING_MAX_RESUMES", default=3)
POSTING_QUEUE_LEASE_MINUTES = env.int("POSTING_QUEUE_LEASE_MINUTES", default=60)
POSTING_SETTLE_INTERVAL_MINUTES = env.int("POSTING_SETTLE_INTERVAL_MINUTES", default=5)
POSTING_SETTLE_MAX_ATTEMPTS = env.int("POSTING_SETTLE_MAX_ATTEMPTS", default=8)
# Tenants' own schedules (mcp_bridge.schedule, every minute; False removes the tick): each due
# reconciliation run or sync a tenant scheduled is queued once per due time.
TENANT_SCHEDULES = env.bool("TENANT_SCHEDULES", default=True)
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- MCP tools (manage.py runmcp, mcp_bridge) ------------------------------------------------
# Calls each tool may take per tenant within a window ("N/sec|min|hour|day"), counted over the
# audit trail (the calls let in, mcp.tool_call_started), so every runmcp process of a tenant
# shares one budget. MCP_RATE_LIMITS overrides it per tool: "recon.run=6/min,netsuite.suiteql=30/min".
MCP_RATE_LIMIT = env.str("MCP_RATE_LIMIT", default="60/min")
MCP_RATE_LIMITS = env.dict("MCP_RATE_LIMITS", default={"recon.run": "6/min", "report.export": "20/min"})
# Rows a list or query tool returns when the caller gives no limit, and the most it returns
# (a larger limit is lowered to it, and the result says so); exports have their own ceiling.
MCP_DEFAULT_ROWS = env.int("MCP_DEFAULT_ROWS", default=50)
MCP_MAX_ROWS = env.int("MCP_MAX_ROWS", default=500)
MCP_EXPORT_MAX_ROWS = env.int("MCP_EXPORT_MAX_ROWS", default=5000)

# --- i18n, static -------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".data" / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request without it
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- security headers ---------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "style-src": ["'self'"],
        "script-src": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- logging ------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FILE = env.str("LOG_FILE", default="")
DJANGO_STRUCTLOG_TRUST_UPSTREAM_CORRELATION_ID = True  # CorrelationIdMiddleware vouches for it
DJANGO_STRUCTLOG_USER_ID_FIELD = "pk"
from ecomops.logging import configure_logging  # noqa: E402

LOGGING = configure_logging(level=LOG_LEVEL, log_file=LOG_FILE)

# --- product settings ---------------------------------------------------------------------
ECOMOPS_DEMO_PASSWORD = env.str("ECOMOPS_DEMO_PASSWORD", default="demo-password")
ECOMOPS_ALLOW_DEMO_USER = True
ECOMOPS_SANDBOXES_ALLOWED = True
