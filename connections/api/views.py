from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from connections import selectors, services
from connections.api import serializers as s
from connections.filters import SyncJobFilter
from connections.sync.runner import sync_start
from ecomops.api.filters import check_list_query
from ecomops.api.pagination import Pagination
from ecomops.api.parsers import JSONParser
from ecomops.api.permissions import TenantPermission
from ecomops.api.serializers import NoInput


class ConnectionListView(APIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    parser_classes = [JSONParser]  # typed fields (a number, a boolean): a form's text is refused as such, 415
    required_perms = {"GET": ["connections.view_connection"], "POST": ["connections.add_connection"]}

    @extend_schema(responses={200: s.ConnectionOutput(many=True)})
    def get(self, request):
        check_list_query(request.query_params, self)
        connections = selectors.connection_list(user=request.user)
        return Response(s.ConnectionOutput(connections, many=True).data)

    @extend_schema(request=s.ConnectionCreateInput, responses={201: s.ConnectionOutput})
    def post(self, request):
        data = s.ConnectionCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        connection = services.connection_create(actor=request.user, **data.validated_data)
        return Response(s.ConnectionOutput(connection).data, status=status.HTTP_201_CREATED)


class ConnectionDetailView(APIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    parser_classes = [JSONParser]  # typed fields (a number, a boolean): a form's text is refused as such, 415
    required_perms = {
        "GET": ["connections.view_connection"],
        "PATCH": ["connections.change_connection"],
        "DELETE": ["connections.delete_connection"],
    }

    @extend_schema(responses={200: s.ConnectionOutput})
    def get(self, request, pk):
        return Response(s.ConnectionOutput(selectors.connection_get(user=request.user, pk=pk)).data)

    @extend_schema(request=s.ConnectionUpdateInput, responses={200: s.ConnectionOutput})
    def patch(self, request, pk):
        connection = selectors.connection_get(user=request.user, pk=pk)
        data = s.ConnectionUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        credentials = changes.pop("credentials", None)
        connection = services.connection_update(
            actor=request.user, connection=connection, credentials=credentials, **changes
        )
        return Response(s.ConnectionOutput(connection).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        services.connection_delete(actor=request.user, connection=selectors.connection_get(user=request.user, pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConnectionTestView(APIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"POST": ["connections.test_connection"]}

    @extend_schema(request=None, responses={200: s.TestResultOutput})
    def post(self, request, pk):
        connection = selectors.connection_get(user=request.user, pk=pk)
        NoInput(data=request.data).is_valid(raise_exception=True)
        ok, message = services.connection_test(actor=request.user, connection=connection)
        return Response({"ok": ok, "message": message, "status": connection.status})


class ConnectionSyncView(APIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"POST": ["connections.sync_connection"]}

    @extend_schema(request=None, responses={202: s.SyncJobOutput})
    def post(self, request, pk):
        connection = selectors.connection_get(user=request.user, pk=pk)
        NoInput(data=request.data).is_valid(raise_exception=True)
        job = sync_start(connection=connection, actor=request.user, trigger="api")
        return Response(s.SyncJobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class SyncJobListView(ListAPIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"GET": ["connections.view_syncjob"]}
    serializer_class = s.SyncJobOutput
    pagination_class = Pagination
    filterset_class = SyncJobFilter

    def get_queryset(self):
        return selectors.sync_job_list(user=self.request.user)


class SyncJobDetailView(APIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"GET": ["connections.view_syncjob"]}

    @extend_schema(responses={200: s.SyncJobOutput})
    def get(self, request, pk):
        job = selectors.sync_job_list(user=request.user).filter(pk=pk).first()
        if job is None:
            raise Http404
        return Response(s.SyncJobOutput(job).data)
