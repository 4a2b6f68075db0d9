from django.urls import path

from tenants.api import views

urlpatterns = [
    path("auth/register/", views.RegisterView.as_view(), name="api-register"),
    path("auth/login/", views.LoginView.as_view(), name="api-login"),
    path("auth/refresh/", views.RefreshView.as_view(), name="api-refresh"),
    path("auth/switch-tenant/", views.SwitchTenantView.as_view(), name="api-switch-tenant"),
    path("tenants/current/", views.CurrentTenantView.as_view(), name="api-tenant-current"),
    path("users/", views.MemberListView.as_view(), name="api-members"),
    path("users/<int:user_id>/", views.MemberDetailView.as_view(), name="api-member-detail"),
]
