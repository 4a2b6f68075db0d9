from django.urls import path

from recon.api import views

urlpatterns = [
    path("recon/runs/", views.RunListView.as_view(), name="api-recon-runs"),
    path("recon/runs/<uuid:pk>/", views.RunDetailView.as_view(), name="api-recon-run-detail"),
    path("recon/exceptions/", views.ExceptionListView.as_view(), name="api-recon-exceptions"),
    path("recon/exceptions/bulk/", views.ExceptionBulkView.as_view(), name="api-recon-exceptions-bulk"),
    path("recon/exceptions/<uuid:pk>/", views.ExceptionDetailView.as_view(), name="api-recon-exception-detail"),
    path(
        "recon/exceptions/<uuid:pk>/acknowledge/",
        views.ExceptionAcknowledgeView.as_view(),
        name="api-recon-exception-acknowledge",
    ),
    path(
        "recon/exceptions/<uuid:pk>/resolve/", views.ExceptionResolveView.as_view(), name="api-recon-exception-resolve"
    ),
    path("recon/close/", views.MonthCloseView.as_view(), name="api-recon-close"),
    path("recon/close/reopen/", views.MonthReopenView.as_view(), name="api-recon-close-reopen"),
    path("recon/closes/", views.MonthCloseListView.as_view(), name="api-recon-closes"),
    path("recon/payouts/", views.PayoutListView.as_view(), name="api-recon-payouts"),
    path("recon/payouts/<uuid:pk>/", views.PayoutDetailView.as_view(), name="api-recon-payout-detail"),
    path("recon/payouts/<uuid:pk>/explain/", views.PayoutExplainView.as_view(), name="api-recon-payout-explain"),
]
