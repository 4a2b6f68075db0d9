"""The schedules API: thin views over ``mcp_bridge.selectors`` and ``mcp_bridge.services``.

Permissions per method (``TenantPermission``), as the ``schedule.*`` tools and the admin ask:
reading needs ``mcp_bridge.view_schedule``, creating ``mcp_bridge.add_schedule``, turning one on
or off ``mcp_bridge.change_schedule``; creating or running one also needs the permission of
what it starts (``recon.run_recon``, ``connections.sync_connection``), which the service decides
and refuses with ``code="forbidden"``: a 403 here (``ecomops.api.exceptions``). Another tenant's
schedule (in the URL) or connection (in the body) answers 404, like one that does not exist.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from ecomops.api.filters import StrictFilterBackend
from ecomops.api.parsers import JSONParser
from ecomops.api.permissions import TenantPermission
from ecomops.api.serializers import NoInput
from mcp_bridge import selectors, services
from mcp_bridge.api import serializers as s
from mcp_bridge.filters import ScheduleFilter
from mcp_bridge.models import Schedule
from tenants.services import ServiceError


class ScheduleQueuedNothing(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "schedule_failed"


class ScheduleListView(ListAPIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    parser_classes = [JSONParser]  # typed fields (a number, a boolean): a form's text is refused as such, 415
    required_perms = {"GET": [selectors.VIEW_SCHEDULE], "POST": ["mcp_bridge.add_schedule"]}
    serializer_class = s.ScheduleOutput
    filter_backends = [StrictFilterBackend]
    filterset_class = ScheduleFilter

    def get_queryset(self):
        return selectors.schedule_list(user=self.request.user)

    @extend_schema(
        request=s.ScheduleCreateInput,
        responses={
            201: s.ScheduleOutput,
            403: OpenApiResponse(description="The role may not create schedules, or not start what this one would."),
            404: OpenApiResponse(description="A connection not in this tenant: nothing was created."),
        },
    )
    def post(self, request):
        data = s.ScheduleCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            schedule = services.schedule_create(
                actor=request.user,
                kind=values["kind"],
                every_hours=values.get("every_hours"),
                daily_at=values.get("daily_at"),
                time_zone=values.get("time_zone"),
                connection_ids=[str(pk) for pk in values.get("connection_ids", [])],
            )
        except ServiceError as exc:
            if exc.code != "not_found":
                raise
            raise NotFound({"detail": str(exc), "code": "not_found", exc.field: [str(exc)]}) from exc
        return Response(s.ScheduleOutput(schedule).data, status=status.HTTP_201_CREATED)


class ScheduleDetailView(RetrieveAPIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"GET": [selectors.VIEW_SCHEDULE]}
    serializer_class = s.ScheduleOutput

    def get_object(self) -> Schedule:
        return selectors.schedule_get(user=self.request.user, schedule_id=self.kwargs["pk"])


class _ScheduleSetEnabledView(APIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"POST": ["mcp_bridge.change_schedule"]}
    enabled: bool

    @extend_schema(request=None, responses={200: s.ScheduleOutput})
    def post(self, request, pk):
        schedule = selectors.schedule_get(user=request.user, schedule_id=pk)
        NoInput(data=request.data).is_valid(raise_exception=True)
        schedule = services.schedule_set_enabled(schedule=schedule, actor=request.user, enabled=self.enabled)
        return Response(s.ScheduleOutput(schedule).data)


class ScheduleEnableView(_ScheduleSetEnabledView):
    """Turn the schedule on: it is next due one period from now (the times missed while off are not made up)."""

    enabled = True


class ScheduleDisableView(_ScheduleSetEnabledView):
    """Turn the schedule off: the tick passes it by until it is turned on again."""

    enabled = False


class ScheduleRunView(APIView):
    """Run the schedule now, as it would run when due; its next run time stays where it was.

    What it queued is on the schedule it answers (``last_recon_run_id``, ``last_sync_job_ids``).
    When it could queue nothing (a connection it names is gone or disabled) the answer is a 409
    saying why, and the schedule keeps that outcome as a run of its tick would.
    """

    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"POST": [selectors.VIEW_SCHEDULE]}  # and the permission of what it starts: the service's

    @extend_schema(
        request=None,
        responses={
            202: s.ScheduleOutput,
            403: OpenApiResponse(description="The role may not start what this schedule starts."),
            409: OpenApiResponse(description="The schedule queued nothing; `detail` says why."),
        },
    )
    def post(self, request, pk):
        schedule = selectors.schedule_get(user=request.user, schedule_id=pk)
        NoInput(data=request.data).is_valid(raise_exception=True)
        ran = services.schedule_run_now(schedule=schedule, actor=request.user)
        if ran.last_error:
            message = f"The schedule queued nothing: {ran.last_error}"
            raise ScheduleQueuedNothing({"detail": message, "code": "schedule_failed"})
        return Response(s.ScheduleOutput(ran).data, status=status.HTTP_202_ACCEPTED)
