from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from tenants.models import EMAIL_MAX_LENGTH, RECON_SETTING_BOUNDS, Membership, Role, Tenant


class RegisterInput(serializers.Serializer):
    email = serializers.EmailField(max_length=EMAIL_MAX_LENGTH)
    password = serializers.CharField(write_only=True, trim_whitespace=False)
    tenant_name = serializers.CharField(max_length=200)


class LoginInput(serializers.Serializer):
    email = serializers.EmailField(max_length=EMAIL_MAX_LENGTH)
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
        fields = ["id", "slug", "name", "plan", *RECON_SETTING_BOUNDS]


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer and nothing else: DRF's IntegerField would also take "5", 5.0 and true."""

    default_error_messages = {"invalid": "A whole number is required (a JSON integer, not a string or decimal)."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return data


def _recon_setting(name: str, help_text: str) -> StrictIntegerField:
    low, high = RECON_SETTING_BOUNDS[name]
    return StrictIntegerField(required=False, min_value=low, max_value=high, help_text=f"{help_text} ({low}..{high}).")


class TenantUpdateInput(serializers.Serializer):
    """A partial update: any subset of the fields. Unknown fields are refused, not ignored,
    so a misspelt setting is a 400 rather than a silent no-op."""

    name = serializers.CharField(max_length=200, required=False)
    recon_amount_tolerance_minor = _recon_setting(
        "recon_amount_tolerance_minor", "How far a payment may differ from its order, in minor units"
    )
    recon_freshness_hours = _recon_setting(
        "recon_freshness_hours", "A source not synced within this many hours makes a recon run stale"
    )
    recon_unpaid_grace_days = _recon_setting(
        "recon_unpaid_grace_days", "Days a paid order may wait for its payout before it is an exception"
    )

    def to_internal_value(self, data: Any) -> dict:
        if not isinstance(data, Mapping):
            return super().to_internal_value(data)  # DRF's own "expected a dictionary" error
        # Reported together with the known fields' errors, so one round trip shows them all.
        errors: dict[str, list[str]] = {name: ["Unknown field."] for name in sorted(set(data) - set(self.fields))}
        try:
            attrs = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({**exc.detail, **errors}) from exc
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError(f"Send at least one of: {', '.join(self.fields)}.")
        return attrs


class MemberOutput(serializers.ModelSerializer):
    user_id = serializers.IntegerField(source="user.id")
    email = serializers.EmailField(source="user.email")

    class Meta:
        model = Membership
        fields = ["user_id", "email", "role", "is_active", "created_at"]


class MemberInviteInput(serializers.Serializer):
    email = serializers.EmailField(max_length=EMAIL_MAX_LENGTH)
    role = serializers.ChoiceField(choices=Role.choices)
    password = serializers.CharField(write_only=True, required=False, trim_whitespace=False)


class MemberRoleInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)
