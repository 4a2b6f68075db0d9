"""The NetSuite API: GL mappings, postings (approve, retry), SuiteQL, the posting mode.

Views are thin: parse input, call one selector or service, render. Each states its
permissions per method; ids of another tenant answer 404 like missing ones.
"""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from connections.models import Connection
from ecomops.api.filters import check_list_query
from ecomops.api.pagination import Pagination
from ecomops.api.parsers import JSONParser
from ecomops.api.permissions import TenantPermission
from ecomops.api.serializers import NoInput
from ecomops.tenancy import current_tenant, current_tenant_id
from netsuite import selectors, services
from netsuite.api import serializers as s
from netsuite.filters import GlMappingFilter, PostingFilter
from tenants.services import ServiceError


def _connection_or_404(pk: uuid.UUID, field: str) -> Connection:
    """The tenant's connection named in the body's ``field``; a 404 that names the field."""
    connection = Connection.objects.filter(tenant_id=current_tenant_id(), pk=pk).first()
    if connection is None:
        message = f"No connection {pk} in this tenant."
        raise NotFound({"detail": message, "code": "not_found", field: [message]})
    return connection


def _netsuite_failed(exc: ServiceError) -> Response:
    """A call to NetSuite that failed: 400 naming the connection field when its own settings are
    at fault (``netsuite_config``), else 502 with what NetSuite answered or that it did not."""
    answer = {"detail": str(exc), "code": exc.code}
    if exc.code == "netsuite_config":
        return Response({**answer, (exc.field or "connection"): [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
    return Response(answer, status=status.HTTP_502_BAD_GATEWAY)


class GlMappingListView(APIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"GET": ["netsuite.view_glmapping"], "POST": ["netsuite.add_glmapping"]}
    filterset_class = GlMappingFilter  # applied by the selector

    @extend_schema(responses={200: s.GlMappingOutput(many=True)})
    def get(self, request):
        check_list_query(request.query_params, self, self.filterset_class)
        try:
            mappings = selectors.gl_mapping_list(user=request.user, filters=request.query_params)
        except selectors.FilterError as exc:
            raise ValidationError(exc.errors) from exc
        return Response(s.GlMappingOutput(mappings, many=True).data)

    @extend_schema(request=s.GlMappingCreateInput, responses={201: s.GlMappingOutput})
    def post(self, request):
        data = s.GlMappingCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        mapping = services.gl_mapping_create(
            actor=request.user,
            connection=_connection_or_404(values.pop("connection"), "connection"),
            netsuite_connection=_connection_or_404(values.pop("netsuite_connection"), "netsuite_connection"),
            subsidiary_id=values.pop("subsidiary_id"),
            **values,
        )
        return Response(s.GlMappingOutput(mapping).data, status=status.HTTP_201_CREATED)


class GlMappingDetailView(APIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {
        "GET": ["netsuite.view_glmapping"],
        "PATCH": ["netsuite.change_glmapping"],
        "DELETE": ["netsuite.delete_glmapping"],
    }

    @extend_schema(responses={200: s.GlMappingOutput})
    def get(self, request, pk):
        return Response(s.GlMappingOutput(selectors.gl_mapping_get(user=request.user, pk=pk)).data)

    @extend_schema(request=s.GlMappingUpdateInput, responses={200: s.GlMappingOutput})
    def patch(self, request, pk):
        mapping = selectors.gl_mapping_get(user=request.user, pk=pk)
        data = s.GlMappingUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        if "netsuite_connection" in changes:
            changes["netsuite_connection"] = _connection_or_404(changes["netsuite_connection"], "netsuite_connection")
        mapping = services.gl_mapping_update(actor=request.user, mapping=mapping, **changes)
        return Response(s.GlMappingOutput(mapping).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        services.gl_mapping_delete(actor=request.user, mapping=selectors.gl_mapping_get(user=request.user, pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class GlMappingCheckView(APIView):
    """Look the mapping's subsidiary, accounts and currency ids up in NetSuite; keep the answer."""

    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"POST": ["netsuite.change_glmapping"]}

    @extend_schema(request=NoInput, responses={200: s.MappingCheckOutput})
    def post(self, request, pk):
        mapping = selectors.gl_mapping_get(user=request.user, pk=pk)
        NoInput(data=request.data).is_valid(raise_exception=True)
        try:
            result = services.gl_mapping_check(actor=request.user, mapping=mapping)
        except ServiceError as exc:
            return _netsuite_failed(exc)
        return Response(s.MappingCheckOutput({**result.as_data(), "checked_at": result.checked_at}).data)


class EntriesVerifyView(APIView):
    """``POST {"month"}``: whether NetSuite still holds each entry posted with a date in the
    month as it was sent (none deleted, none edited there)."""

    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"POST": ["netsuite.view_netsuiteposting"]}

    @extend_schema(request=s.EntriesVerifyInput, responses={200: s.EntriesVerifiedOutput})
    def post(self, request):
        data = s.EntriesVerifyInput(data=request.data)
        data.is_valid(raise_exception=True)
        month = data.validated_data["month"]
        try:
            result = services.posted_entries_verify(actor=request.user, first=month.first, last=month.last)
        except ServiceError as exc:
            return _netsuite_failed(exc)
        return Response(s.EntriesVerifiedOutput({"month": month.label, **result.as_data()}).data)


class PostingListView(APIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"GET": ["netsuite.view_netsuiteposting"]}
    filterset_class = PostingFilter  # applied by the selector
    pagination_class = Pagination

    @extend_schema(responses={200: s.PostingOutput(many=True)})
    def get(self, request):
        check_list_query(request.query_params, self, self.filterset_class)
        try:
            postings = selectors.posting_list(user=request.user, filters=request.query_params)
        except selectors.FilterError as exc:
            raise ValidationError(exc.errors) from exc
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(postings, request, view=self)
        return paginator.get_paginated_response(s.PostingOutput(page, many=True).data)


class PostingDetailView(APIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"GET": ["netsuite.view_netsuiteposting"]}

    @extend_schema(responses={200: s.PostingDetailOutput})
    def get(self, request, pk):
        return Response(s.PostingDetailOutput(selectors.posting_get(user=request.user, pk=pk)).data)


class PostingEntryView(APIView):
    """The posting's journal entry: what NetSuite holds, or what approving or retrying would send."""

    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"GET": ["netsuite.view_netsuiteposting"]}

    @extend_schema(responses={200: s.PostingEntryOutput})
    def get(self, request, pk):
        posting = selectors.posting_get(user=request.user, pk=pk)
        return Response(s.PostingEntryOutput(services.posting_entry(posting=posting).as_data(posting)).data)


class PostingApproveView(APIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"POST": ["netsuite.approve_posting"]}

    @extend_schema(request=None, responses={200: s.PostingOutput})
    def post(self, request, pk):
        posting = selectors.posting_get(user=request.user, pk=pk)
        NoInput(data=request.data).is_valid(raise_exception=True)
        return Response(s.PostingOutput(services.posting_approve(posting=posting, actor=request.user)).data)


BULK_PERMS = {"approve": "netsuite.approve_posting", "retry": "netsuite.retry_posting"}


class PostingsBulkView(APIView):
    """Approve or retry many postings in one request; each is checked and queued on its own."""

    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"POST": ["netsuite.view_netsuiteposting"]}  # and the action's own, below

    @extend_schema(
        request=s.PostingsBulkInput,
        responses={
            200: s.PostingsBulkOutput,
            403: OpenApiResponse(description="The role may not approve (or retry) postings: nothing was done."),
            404: OpenApiResponse(description="An id that is no posting of this tenant: nothing was done."),
        },
    )
    def post(self, request):
        data = s.PostingsBulkInput(data=request.data)
        data.is_valid(raise_exception=True)
        action = data.validated_data["action"]
        if not request.user.has_perm(BULK_PERMS[action]):
            raise PermissionDenied(f"Your role may not {action} postings.")
        try:
            result = services.postings_bulk_act(actor=request.user, **data.validated_data)
        except ServiceError as exc:
            if exc.code != "not_found":
                raise
            raise NotFound({"detail": str(exc), "code": "not_found", "ids": [str(exc)]}) from exc
        return Response({"changed": result.changed, "skipped": result.skipped})


class PostingRetryView(APIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"POST": ["netsuite.retry_posting"]}

    @extend_schema(request=None, responses={202: s.PostingOutput})
    def post(self, request, pk):
        posting = selectors.posting_get(user=request.user, pk=pk)
        NoInput(data=request.data).is_valid(raise_exception=True)
        posting = services.posting_retry(posting=posting, actor=request.user)
        return Response(s.PostingOutput(posting).data, status=status.HTTP_202_ACCEPTED)


class PostingComputeView(APIView):
    """Create the postings that reconciled payouts call for (what a recon run does on its own)."""

    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"POST": ["netsuite.add_netsuiteposting"]}

    @extend_schema(request=None, responses={200: s.PostingsComputedOutput})
    def post(self, request):
        # It takes no input; anything sent (a misspelt payout_ids) is refused, not ignored.
        NoInput(data=request.data).is_valid(raise_exception=True)
        # Not settling unknown outcomes here: that waits on NetSuite (retries and all) while a
        # person waits on this answer; the task after each reconciliation, and a retry, do it.
        result = services.postings_after_recon(settle=False)
        return Response(
            {
                "drafts": result.drafts,
                "approved": result.approved,
                "reversals": result.reversals,
                "skipped_reason": result.skipped_reason,
            }
        )


class PostingSettingsView(APIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"GET": ["netsuite.view_netsuiteposting"], "PATCH": ["tenants.manage_settings"]}

    @extend_schema(responses={200: s.PostingSettings})
    def get(self, request):
        return Response({"posting_mode": current_tenant().posting_mode})

    @extend_schema(request=s.PostingSettings, responses={200: s.PostingSettings})
    def patch(self, request):
        data = s.PostingSettings(data=request.data)
        data.is_valid(raise_exception=True)
        mode = services.posting_mode_set(actor=request.user, mode=data.validated_data["posting_mode"])
        return Response({"posting_mode": mode})


class SuiteQLView(APIView):
    """One read-only SELECT against a NetSuite connection; rows come back as NetSuite sends them."""

    permission_classes = [IsAuthenticated, TenantPermission]
    parser_classes = [JSONParser]  # typed fields (a number, a boolean): a form's text is refused as such, 415
    required_perms = {"POST": ["netsuite.run_suiteql"]}

    @extend_schema(request=s.SuiteQLInput, responses={200: s.SuiteQLOutput})
    def post(self, request):
        data = s.SuiteQLInput(data=request.data)
        data.is_valid(raise_exception=True)
        query, limit = data.validated_data["q"], data.validated_data["limit"]
        connection = _connection_or_404(data.validated_data["connection"], "connection")
        try:
            answer = services.suiteql_run(actor=request.user, connection=connection, query=query, limit=limit)
        except ServiceError as exc:
            if exc.code in ("invalid", "query_refused"):  # the query, or the connection asked for
                raise ValidationError({"q" if exc.field == "query" else exc.field: [str(exc)]}) from exc
            return _netsuite_failed(exc)
        return Response(
            {
                "rows": answer.rows,
                "count": len(answer.rows),
                "total_results": answer.total_results,
                "truncated": answer.truncated,
                "truncation_reason": answer.truncation_reason,
                "warnings": answer.warnings,
            }
        )
