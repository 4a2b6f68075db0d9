from __future__ import annotations

from rest_framework import serializers

from tenants.models import Membership, Role, Tenant


class RegisterInput(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, trim_whitespace=False)
    tenant_name = serializers.CharField(max_length=200)


class LoginInput(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, trim_whitespace=False)


class TokenPairOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class SwitchTenantInput(serializers.Serializer):
    tenant = serializers.CharField(help_text="The tenant's id or slug")


class TenantOutput(serializers.ModelSerializer):
    plan = serializers.CharField(source="plan_id")

    class Meta:
        model = Tenant
        fields = ["id", "slug", "name", "plan"]


class TenantUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)


class MemberOutput(serializers.ModelSerializer):
    user_id = serializers.IntegerField(source="user.id")
    email = serializers.EmailField(source="user.email")

    class Meta:
        model = Membership
        fields = ["user_id", "email", "role", "is_active", "created_at"]


class MemberInviteInput(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)
    password = serializers.CharField(write_only=True, required=False, trim_whitespace=False)


class MemberRoleInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)
