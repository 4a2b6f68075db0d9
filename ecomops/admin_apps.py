from django.contrib.admin.apps import AdminConfig


class EcomOpsAdminConfig(AdminConfig):
    """The admin with the EcomOps site (platform view for staff, tenant console for members)."""

    default_site = "ecomops.admin_site.EcomOpsAdminSite"
