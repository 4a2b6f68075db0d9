"""OpenAPI description of the tenant-bound JWT scheme (imported in TenantsConfig.ready)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class TenantJWTScheme(SimpleJWTScheme):
    target_class = "tenants.authentication.TenantJWTAuthentication"
    name = "tenantJWT"

    def get_security_definition(self, auto_schema):
        definition = super().get_security_definition(auto_schema)
        definition["description"] = (
            "Access token from /api/v1/auth/login/. It carries its tenant and is refused on any other; "
            "name a tenant explicitly with the X-Tenant header (slug or id)."
        )
        return definition
