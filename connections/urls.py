from django.urls import path

from connections import views

urlpatterns = [
    path("connections/", views.connection_list, name="connections"),
    path("connections/<uuid:pk>/row/", views.connection_row, name="connection-row"),
    path("connections/<uuid:pk>/test/", views.connection_test, name="connection-test"),
    path("connections/<uuid:pk>/sync/", views.connection_sync, name="connection-sync"),
    path("jobs/", views.job_list, name="jobs"),
]
