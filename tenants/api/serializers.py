from __future__ import annotations

from rest_framework import serializers

from ecomops.api.serializers import StrictInput
from tenants.models import EMAIL_MAX_LENGTH, RECON_SETTING_BOUNDS, Membership, Role, Tenant


class RegisterInput(StrictInput):
    email = serializers.EmailField(max_length=EMAIL_MAX_LENGTH)
    password = serializers.CharField(write_only=True, trim_whitespace=False)
    tenant_name = serializers.CharField(max_length=200)


class LoginInput(StrictInput):
    email = serializers.EmailField(max_length=EMAIL_MAX_LENGTH)
    password = serializers.CharField(write_only=True, trim_whitespace=False)


class TokenPairOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class SwitchTenantInput(StrictInput):
    tenant = serializers.CharField(help_text="The tenant's id or slug")


class TenantOutput(serializers.ModelSerializer):
    plan = serializers.CharField(source="plan_id")

    class Meta:
        model = Tenant
        fields = ["id", "slug", "name", "plan", *RECON_SETTING_BOUNDS]


def _recon_setting(name: str, help_text: str) -> serializers.IntegerField:
    """A JSON integer in its bounds (StrictInput refuses "5", 5.0 and true)."""
    low, high = RECON_SETTING_BOUNDS[name]
    return serializers.IntegerField(
        required=False, min_value=low, max_value=high, help_text=f"{help_text} ({low}..{high})."
    )


class TenantUpdateInput(StrictInput):
    """A partial update: any subset of the fields (at least one)."""

    require_one = True

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


class MemberOutput(serializers.ModelSerializer):
    user_id = serializers.IntegerField(source="user.id")
    email = serializers.EmailField(source="user.email")

    class Meta:
        model = Membership
        fields = ["user_id", "email", "role", "is_active", "created_at"]


class MemberInviteInput(StrictInput):
    email = serializers.EmailField(max_length=EMAIL_MAX_LENGTH)
    role = serializers.ChoiceField(choices=Role.choices)
    # Named, to be refused in words: the invited person chooses their own password.
    password = serializers.CharField(write_only=True, required=False, trim_whitespace=False)

    def validate_password(self, value: str) -> str:
        raise serializers.ValidationError(
            "An invitation cannot set a password: the invited person chooses it from the link in the invitation email."
        )


class MemberRoleInput(StrictInput):
    role = serializers.ChoiceField(choices=Role.choices)
