from django.urls import path

from connections.api import views

urlpatterns = [
    path("connections/", views.ConnectionListView.as_view(), name="api-connections"),
    path("connections/<uuid:pk>/", views.ConnectionDetailView.as_view(), name="api-connection-detail"),
    path("connections/<uuid:pk>/test/", views.ConnectionTestView.as_view(), name="api-connection-test"),
    path("connections/<uuid:pk>/sync/", views.ConnectionSyncView.as_view(), name="api-connection-sync"),
    path("jobs/", views.SyncJobListView.as_view(), name="api-jobs"),
    path("jobs/<uuid:pk>/", views.SyncJobDetailView.as_view(), name="api-job-detail"),
]
