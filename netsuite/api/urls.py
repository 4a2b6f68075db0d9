from django.urls import path

from netsuite.api import views

urlpatterns = [
    path("netsuite/mappings/", views.GlMappingListView.as_view(), name="api-netsuite-mappings"),
    path("netsuite/mappings/<uuid:pk>/", views.GlMappingDetailView.as_view(), name="api-netsuite-mapping-detail"),
    path("netsuite/mappings/<uuid:pk>/check/", views.GlMappingCheckView.as_view(), name="api-netsuite-mapping-check"),
    path("netsuite/entries/verify/", views.EntriesVerifyView.as_view(), name="api-netsuite-entries-verify"),
    path("netsuite/suiteql/", views.SuiteQLView.as_view(), name="api-netsuite-suiteql"),
    path("netsuite/settings/", views.PostingSettingsView.as_view(), name="api-netsuite-settings"),
    path("postings/", views.PostingListView.as_view(), name="api-postings"),
    path("postings/compute/", views.PostingComputeView.as_view(), name="api-postings-compute"),
    path("postings/bulk/", views.PostingsBulkView.as_view(), name="api-postings-bulk"),
    path("postings/<uuid:pk>/", views.PostingDetailView.as_view(), name="api-posting-detail"),
    path("postings/<uuid:pk>/entry/", views.PostingEntryView.as_view(), name="api-posting-entry"),
    path("postings/<uuid:pk>/approve/", views.PostingApproveView.as_view(), name="api-posting-approve"),
    path("postings/<uuid:pk>/retry/", views.PostingRetryView.as_view(), name="api-posting-retry"),
]
