from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from audit import views as audit_views
from canonical import views as canonical_views
from connections import webhooks
from ecomops.api.health import LivenessView, ReadinessView
from ecomops.api.not_found import api_not_found
from tenants import views as tenant_views

api_v1 = [
    path("health/", LivenessView.as_view(), name="api-health"),
    path("health/ready/", ReadinessView.as_view(), name="api-health-ready"),
    path("", include("tenants.api.urls")),
    path("", include("audit.api.urls")),
    path("", include("connections.api.urls")),
    path("", include("recon.api.urls")),
    path("", include("canonical.api.urls")),
    path("", include("netsuite.api.urls")),
    path("", include("mcp_bridge.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

# What fails before a view (a Host not allowed, a middleware): JSON under /api/, Django's pages elsewhere.
handler400 = "ecomops.api.handlers.bad_request"
handler500 = "ecomops.api.handlers.server_error"

urlpatterns = [
    path("webhooks/stripe/<uuid:connection_id>/", webhooks.stripe_webhook, name="webhook-stripe"),
    path("webhooks/shopify/<uuid:connection_id>/", webhooks.shopify_webhook, name="webhook-shopify"),
    path("", tenant_views.dashboard, name="dashboard"),
    path("login/", tenant_views.login_page, name="login"),
    path("logout/", tenant_views.logout_page, name="logout"),
    path("set-password/<uidb64>/<token>/", tenant_views.PasswordSetView.as_view(), name="password-set"),
    path("forgot-password/", tenant_views.password_forgot_page, name="password-forgot"),
    path("tenants/switch/", tenant_views.switch_tenant_page, name="switch-tenant"),
    path("", include("connections.urls")),
    path("", include("recon.urls")),
    path("", include("netsuite.urls")),
    path("", include("mcp_bridge.urls")),
    path("data/", canonical_views.table_page, name="data"),
    path("audit/", audit_views.audit_page, name="audit"),
    path("admin/login/", tenant_views.login_page),  # one login page for console and admin
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    re_path(r"^api/", api_not_found),  # the rest of /api/: JSON, not the HTML 404 page
]
