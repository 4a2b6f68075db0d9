from django.urls import path

from canonical.api import views

urlpatterns = [
    path("tables/", views.TableListView.as_view(), name="api-tables"),
    path("tables/<str:table>/", views.TableView.as_view(), name="api-table"),
]
