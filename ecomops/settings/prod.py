"""Production. Refuses to start with a missing or development secret."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import CREDENTIAL_KEYS, INSECURE_DEV_SECRET_KEY, SECRET_KEY, SIMPLE_JWT, env

DEBUG = False

if not SECRET_KEY or SECRET_KEY == INSECURE_DEV_SECRET_KEY or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be set to a random value of at least 50 characters in production.")
if any(key.startswith("dev-insecure") or len(key) < 32 for key in CREDENTIAL_KEYS) or not env.str(
    "CREDENTIAL_KEYS", default=""
):
    raise ImproperlyConfigured("CREDENTIAL_KEYS must be set to one or more random keys of at least 32 characters.")
if SIMPLE_JWT["SIGNING_KEY"] == INSECURE_DEV_SECRET_KEY:
    raise ImproperlyConfigured("JWT_SIGNING_KEY (or SECRET_KEY) must not be the development default.")

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# Health checks come from the load balancer over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health/"]

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")

ECOMOPS_ALLOW_DEMO_USER = False
ECOMOPS_SANDBOXES_ALLOWED = False
