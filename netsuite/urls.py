from django.urls import path

from netsuite import views

urlpatterns = [
    path("postings/", views.posting_list, name="postings"),
    path("postings/bulk/", views.posting_bulk_act, name="postings-bulk"),
    path("postings/<uuid:pk>/<str:action>/", views.posting_act, name="posting-act"),
]
