"""The recon API: thin views over ``recon.selectors`` and ``recon.services``.

Permissions per method (``TenantPermission``): reading needs the model's ``view_`` permission,
starting a run ``recon.run_recon``, working exceptions ``recon.work_exception``. Ids of
another tenant (in the URL or the body) answer 404, like ids that do not exist.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from ecomops.api.filters import StrictFilterBackend, whole_number
from ecomops.api.permissions import TenantPermission
from recon import selectors, services
from recon.api import serializers as s
from recon.close import month_close, month_close_list, parse_month
from recon.filters import PayoutStatusFilter, ReconExceptionFilter, ReconRunFilter
from recon.models import RunTrigger


def _not_found(exc: services.ScopeNotFound) -> NotFound:
    error = NotFound({"detail": str(exc), exc.field: [str(exc)]} if exc.field else str(exc))
    return error


class RunListView(ListAPIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"GET": ["recon.view_reconrun"], "POST": ["recon.run_recon"]}
    serializer_class = s.RunOutput
    filter_backends = [StrictFilterBackend]
    filterset_class = ReconRunFilter

    def get_queryset(self):
        return selectors.recon_run_list(user=self.request.user)

    @extend_schema(
        request=s.RunCreateInput,
        responses={202: s.RunOutput, 404: OpenApiResponse(description="A connection or payout not in this tenant.")},
    )
    def post(self, request):
        data = s.RunCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            run = services.recon_run_start(actor=request.user, trigger=RunTrigger.API, **data.validated_data)
        except services.ScopeNotFound as exc:
            raise _not_found(exc) from exc
        return Response(s.RunOutput(run).data, status=status.HTTP_202_ACCEPTED)


class RunDetailView(RetrieveAPIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"GET": ["recon.view_reconrun"]}
    serializer_class = s.RunOutput

    def get_queryset(self):
        return selectors.recon_run_list(user=self.request.user)


def _exception_output(request, exception) -> dict:
    """One exception as the API lists it (read again after a change), its history included."""
    exception = selectors.exception_get(user=request.user, pk=exception.pk)
    return s.ExceptionOutput(selectors.with_history(user=request.user, exceptions=[exception])[0]).data


class ExceptionListView(ListAPIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"GET": ["recon.view_reconexception"]}
    serializer_class = s.ExceptionOutput
    filter_backends = [StrictFilterBackend]
    filterset_class = ReconExceptionFilter

    def get_queryset(self):
        return selectors.exception_list(user=self.request.user)

    def paginate_queryset(self, queryset):
        # the page's histories in one query, not one per row
        return selectors.with_history(user=self.request.user, exceptions=super().paginate_queryset(queryset))


class ExceptionDetailView(RetrieveAPIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"GET": ["recon.view_reconexception"]}
    serializer_class = s.ExceptionOutput

    def get_queryset(self):
        return selectors.exception_list(user=self.request.user)

    def get_object(self):
        return selectors.with_history(user=self.request.user, exceptions=[super().get_object()])[0]


class ExceptionAcknowledgeView(APIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"POST": ["recon.work_exception"]}

    @extend_schema(request=s.AcknowledgeInput, responses={200: s.ExceptionOutput})
    def post(self, request, pk):
        exception = selectors.exception_get(user=request.user, pk=pk)
        data = s.AcknowledgeInput(data=request.data)
        data.is_valid(raise_exception=True)
        exception = services.exception_acknowledge(actor=request.user, exception=exception, **data.validated_data)
        return Response(_exception_output(request, exception))


class ExceptionResolveView(APIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"POST": ["recon.work_exception"]}

    @extend_schema(request=s.ResolveInput, responses={200: s.ExceptionOutput})
    def post(self, request, pk):
        exception = selectors.exception_get(user=request.user, pk=pk)
        data = s.ResolveInput(data=request.data)
        data.is_valid(raise_exception=True)
        exception = services.exception_resolve(actor=request.user, exception=exception, **data.validated_data)
        return Response(_exception_output(request, exception))


class ExceptionBulkView(APIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"POST": ["recon.work_exception"]}

    @extend_schema(
        request=s.BulkInput,
        responses={
            200: s.BulkOutput,
            404: OpenApiResponse(description="An exception not in this tenant: nothing was changed."),
        },
    )
    def post(self, request):
        data = s.BulkInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            result = services.exception_bulk(actor=request.user, **data.validated_data)
        except services.ScopeNotFound as exc:
            raise _not_found(exc) from exc
        return Response({"changed": result.changed, "skipped": result.skipped})


class PayoutListView(ListAPIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"GET": ["recon.view_reconpayout"]}
    serializer_class = s.PayoutOutput
    filter_backends = [StrictFilterBackend]
    filterset_class = PayoutStatusFilter

    def get_queryset(self):
        return selectors.payout_list(user=self.request.user)


class PayoutDetailView(RetrieveAPIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"GET": ["recon.view_reconpayout"]}
    serializer_class = s.PayoutOutput

    def get_queryset(self):
        return selectors.payout_list(user=self.request.user)


class PayoutExplainView(APIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"GET": ["recon.view_reconpayout"]}

    @extend_schema(
        parameters=[OpenApiParameter("line_limit", int, description="At most this many lines (1-10000, default 1000)")],
        responses={200: s.ExplainOutput},
    )
    def get(self, request, pk):
        raw = request.query_params.get("line_limit", "1000")
        limit = whole_number(raw)
        if limit is None:
            raise ValidationError({"line_limit": [f"{raw[:20]!r} is not a whole number."]})
        if not 1 <= limit <= 10_000:
            raise ValidationError({"line_limit": ["line_limit must be between 1 and 10000."]})
        return Response(selectors.payout_explain(user=request.user, payout_id=pk, line_limit=limit))


class MonthCloseView(APIView):
    """``GET ?month=YYYY-MM``: the month's close checklist, payouts and totals, and its close
    if it is closed. ``POST {"month", "note"}``: close it (only when the checklist holds)."""

    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"GET": ["recon.view_reconpayout"], "POST": ["recon.close_month"]}

    @extend_schema(
        parameters=[OpenApiParameter("month", str, required=True, description="The month to close, as YYYY-MM")],
        responses={200: s.MonthCloseStatus},
    )
    def get(self, request):
        try:
            month = parse_month(request.query_params.get("month"))
        except DjangoValidationError as exc:
            raise ValidationError({"month": exc.messages}) from None
        return Response(month_close(user=request.user, month=month))

    @extend_schema(request=s.MonthInput, responses={201: s.MonthCloseOutput})
    def post(self, request):
        data = s.MonthInput(data=request.data)
        data.is_valid(raise_exception=True)
        record = services.month_close_record(actor=request.user, **data.validated_data)
        return Response(s.MonthCloseOutput(record).data, status=status.HTTP_201_CREATED)


class MonthReopenView(APIView):
    """``POST {"month", "note"}``: reopen a closed month, saying why (the note is required)."""

    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"POST": ["recon.close_month"]}

    @extend_schema(request=s.MonthInput, responses={200: s.MonthCloseOutput})
    def post(self, request):
        data = s.MonthInput(data=request.data)
        data.is_valid(raise_exception=True)
        record = services.month_reopen(actor=request.user, **data.validated_data)
        return Response(s.MonthCloseOutput(record).data)


class MonthCloseListView(ListAPIView):
    """``GET``: the months closed (and reopened), newest first: what downstream books may treat
    as final."""

    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"GET": ["recon.view_monthclose"]}
    serializer_class = s.MonthCloseOutput

    def get_queryset(self):
        closes = month_close_list(user=self.request.user)
        # Paged: its order ends with the primary key, as every recon list's does (recon.selectors).
        return closes.order_by(*closes.query.order_by, "pk")
