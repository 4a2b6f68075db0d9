from __future__ import annotations

from rest_framework import serializers
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.permissions import IsAuthenticated

from audit.filters import AuditEventFilter
from audit.models import AUDIT_EVENT_FIELDS, AuditEvent
from audit.selectors import audit_event_list
from ecomops.api.permissions import TenantPermission


class AuditEventOutput(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = AUDIT_EVENT_FIELDS


class AuditEventListView(ListAPIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"GET": ["audit.view_auditevent"]}
    serializer_class = AuditEventOutput
    filterset_class = AuditEventFilter

    def get_queryset(self):
        return audit_event_list(user=self.request.user)


class AuditEventDetailView(RetrieveAPIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"GET": ["audit.view_auditevent"]}
    serializer_class = AuditEventOutput
    lookup_field = "pk"

    def get_queryset(self):
        return audit_event_list(user=self.request.user)
