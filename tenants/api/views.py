"""Auth, tenant and member endpoints under /api/v1/."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, Throttled
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenRefreshView

from audit.services import audit_record
from ecomops.api.filters import check_list_query
from ecomops.api.parsers import JSONParser
from ecomops.api.permissions import TenantPermission
from ecomops.tenancy import current_tenant
from tenants import services
from tenants.api import serializers as s
from tenants.authentication import tokens_for
from tenants.models import Membership, User
from tenants.permissions import active_membership


class RegisterView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "register"

    @extend_schema(request=s.RegisterInput, responses={201: s.TokenPairOutput})
    def post(self, request):
        data = s.RegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        user, tenant = services.user_register(**data.validated_data)
        return Response(
            {**tokens_for(user, tenant), "tenant": s.TenantOutput(tenant).data}, status=status.HTTP_201_CREATED
        )


class LoginView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(request=s.LoginInput, responses={200: s.TokenPairOutput})
    def post(self, request):
        data = s.LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        email = data.validated_data["email"].lower()
        django_request = request._request
        user = authenticate(django_request, username=email, password=data.validated_data["password"])
        if getattr(django_request, "axes_locked_out", False):
            services.login_audit(
                user=User.objects.filter(email=email).first(),
                email=email,
                tenant=None,
                success=False,
                reason="locked_out",
            )
            raise Throttled(detail="Too many failed login attempts. Try again later.")
        if user is None:
            services.login_audit(
                user=User.objects.filter(email=email).first(),
                email=email,
                tenant=None,
                success=False,
                reason="bad_credentials",
            )
            return Response({"detail": "Email or password is incorrect."}, status=status.HTTP_401_UNAUTHORIZED)
        membership = services.membership_for_login(user=user)
        if membership is None:
            raise PermissionDenied("This account is not a member of any tenant.")
        services.login_audit(user=user, email=email, tenant=membership.tenant, success=True)
        return Response(tokens_for(user, membership.tenant))


class RefreshView(TokenRefreshView):
    """Rotates the refresh token; the used one is blacklisted and refused if presented again."""

    authentication_classes: list = []


class SwitchTenantView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=s.SwitchTenantInput, responses={200: s.TokenPairOutput})
    def post(self, request):
        data = s.SwitchTenantInput(data=request.data)
        data.is_valid(raise_exception=True)
        target = services.find_tenant(data.validated_data["tenant"])
        # Unknown tenant and not-a-member look the same.
        if target is None or active_membership(request.user, target) is None:
            raise PermissionDenied("You are not a member of that tenant.")
        services.membership_for_login(user=request.user, tenant=target)
        audit_record(
            action="auth.switch_tenant",
            actor=request.user,
            target=target,
            tenant=target,
            detail={"from": str(current_tenant().pk) if current_tenant() else None},
        )
        return Response(tokens_for(request.user, target))


class CurrentTenantView(APIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    # The settings are typed JSON numbers (a form's "5" is text, refused as such): say so to
    # clients with 415 and in the schema, rather than accept a body whose fields always fail.
    parser_classes = [JSONParser]
    required_perms = {"GET": [], "PATCH": ["tenants.manage_settings"]}

    @extend_schema(responses={200: s.TenantOutput})
    def get(self, request):
        return Response(s.TenantOutput(current_tenant()).data)

    @extend_schema(request=s.TenantUpdateInput, responses={200: s.TenantOutput})
    def patch(self, request):
        data = s.TenantUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        tenant = services.tenant_update(actor=request.user, tenant=current_tenant(), **data.validated_data)
        return Response(s.TenantOutput(tenant).data)


def _member_or_404(user_id: int) -> Membership:
    membership = (
        Membership.objects.filter(tenant=current_tenant(), user_id=user_id).select_related("user", "tenant").first()
    )
    if membership is None:
        raise Http404
    return membership


class MemberListView(APIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {"GET": ["tenants.view_members"], "POST": ["tenants.manage_members"]}

    @extend_schema(responses={200: s.MemberOutput(many=True)})
    def get(self, request):
        check_list_query(request.query_params, self)
        members = Membership.objects.filter(tenant=current_tenant()).select_related("user").order_by("user__email")
        return Response(s.MemberOutput(members, many=True).data)

    @extend_schema(request=s.MemberInviteInput, responses={201: s.MemberOutput})
    def post(self, request):
        data = s.MemberInviteInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_invite(actor=request.user, tenant=current_tenant(), **data.validated_data)
        return Response(s.MemberOutput(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailView(APIView):
    permission_classes = [IsAuthenticated, TenantPermission]
    required_perms = {
        "GET": ["tenants.view_members"],
        "PATCH": ["tenants.manage_members"],
        "DELETE": ["tenants.manage_members"],
    }

    @extend_schema(responses={200: s.MemberOutput})
    def get(self, request, user_id: int):
        return Response(s.MemberOutput(_member_or_404(user_id)).data)

    @extend_schema(request=s.MemberRoleInput, responses={200: s.MemberOutput})
    def patch(self, request, user_id: int):
        data = s.MemberRoleInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_set_role(
            actor=request.user, membership=_member_or_404(user_id), role=data.validated_data["role"]
        )
        return Response(s.MemberOutput(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request, user_id: int):
        services.membership_remove(actor=request.user, membership=_member_or_404(user_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
