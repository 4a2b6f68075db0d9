from django.urls import path

from netsuite import views

urlpatterns = [
    path("postings/", views.posting_list, name="postings"),
    path("postings/<uuid:pk>/<str:action>/", views.posting_act, name="posting-act"),
]
