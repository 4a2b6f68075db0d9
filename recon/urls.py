from django.urls import path

from recon import views

urlpatterns = [
    path("recon/", views.exception_queue, name="recon"),
    path("recon/run/", views.run_now, name="recon-run"),
    path("recon/exceptions/bulk/", views.exception_bulk_act, name="recon-exception-bulk"),
    path(
        "recon/exceptions/<uuid:pk>/<str:action>/",
        views.exception_act,
        name="recon-exception-act",
    ),
    path("recon/payouts/<uuid:pk>/", views.payout_page, name="recon-payout"),
    path("close/", views.close_page, name="close"),
    path("close/netsuite-check/", views.close_netsuite_check, name="close-netsuite-check"),
    path("close/<str:action>/", views.close_act, name="close-act"),
]
