from django.urls import path

from mcp_bridge import views

urlpatterns = [
    path("schedules/", views.schedule_list, name="schedules"),
    path("schedules/new/", views.schedule_new, name="schedule-new"),
    path("schedules/<uuid:pk>/<str:action>/", views.schedule_act, name="schedule-act"),
]
