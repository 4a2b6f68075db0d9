"""One FilterSet per model, shared by the API, the pages and the selectors."""

from __future__ import annotations

import django_filters
from django import forms

from connections.models import PAYMENT_PROVIDERS
from ecomops.filters import RangeForm
from netsuite.models import GlMapping, NetsuitePosting, PostingKind, PostingState


class PostingFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=PostingState.choices, widget=forms.CheckboxSelectMultiple)
    kind = django_filters.ChoiceFilter(choices=PostingKind.choices, empty_label="Any kind")
    payout = django_filters.UUIDFilter(field_name="payout_id")
    connection = django_filters.UUIDFilter(field_name="connection_id")
    # The processor: still the exact match on the code the API has always taken (any other
    # value lists nothing), offered on the page as a choice of the processors in words.
    source = django_filters.CharFilter(
        field_name="source",
        widget=forms.Select(choices=[("", "Any processor"), *((p.value, p.label) for p in PAYMENT_PROVIDERS)]),
    )
    source_id = django_filters.CharFilter(field_name="source_id")
    external_id = django_filters.CharFilter(field_name="external_id")
    arrival_after = django_filters.DateFilter(
        field_name="arrival_date", lookup_expr="gte", widget=forms.DateInput(attrs={"type": "date"})
    )
    arrival_before = django_filters.DateFilter(
        field_name="arrival_date", lookup_expr="lte", widget=forms.DateInput(attrs={"type": "date"})
    )
    ordering = django_filters.OrderingFilter(
        fields=(("created_at", "created"), ("arrival_date", "arrival_date"), ("posted_at", "posted"))
    )

    class Meta:
        model = NetsuitePosting
        fields = ["state", "kind", "payout", "connection", "source", "source_id", "external_id", "error_code"]
        form = RangeForm  # arrival_after after arrival_before is a mistake, not an empty list


class GlMappingFilter(django_filters.FilterSet):
    connection = django_filters.UUIDFilter(field_name="connection_id")
    netsuite_connection = django_filters.UUIDFilter(field_name="netsuite_connection_id")

    class Meta:
        model = GlMapping
        fields = ["connection", "netsuite_connection", "subsidiary_id"]
