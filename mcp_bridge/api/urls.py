from django.urls import path

from mcp_bridge.api import views

urlpatterns = [
    path("schedules/", views.ScheduleListView.as_view(), name="api-schedules"),
    path("schedules/<uuid:pk>/", views.ScheduleDetailView.as_view(), name="api-schedule-detail"),
    path("schedules/<uuid:pk>/enable/", views.ScheduleEnableView.as_view(), name="api-schedule-enable"),
    path("schedules/<uuid:pk>/disable/", views.ScheduleDisableView.as_view(), name="api-schedule-disable"),
    path("schedules/<uuid:pk>/run/", views.ScheduleRunView.as_view(), name="api-schedule-run"),
]
