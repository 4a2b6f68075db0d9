"""Admin: connections are edited and deleted here through the services (the same checks and
audit events as the API); credentials are write-only and shown masked."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from connections.models import CREDENTIAL_FIELDS, Connection, SyncJob, WebhookEvent
from connections.providers import CREDENTIAL_ADDRESS_FIELDS
from connections.services import EDITABLE_FIELDS, connection_delete, connection_test, connection_update
from connections.sync.runner import sync_start
from ecomops.admin_site import ConsoleModelAdmin, ReadOnlyTenantAdmin, ServiceFormMixin, ServiceRefusal
from tenants.services import ServiceError

CREDENTIAL_INPUT_PREFIX = "new_"


class WriteOnlyTextarea(forms.Textarea):
    """A textarea (a PEM key is several lines) that, like PasswordInput(render_value=False),
    never renders a value back, not even what was typed into a refused form."""

    def format_value(self, value: Any) -> None:
        return None


def _credential_input(name: str) -> forms.CharField:
    # Never rendered back: the stored value is shown masked beside it, the input only takes
    # a replacement.
    widget = (
        WriteOnlyTextarea(attrs={"rows": 4, "autocomplete": "off"})
        if name == "private_key"
        else forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
    )
    return forms.CharField(
        label=f"New {name}",
        required=False,
        strip=True,
        widget=widget,
        help_text="Leave blank to keep the stored value.",
    )


class ConnectionForm(forms.ModelForm):
    """Settings plus write-only credential inputs; the service does the validating and writing."""

    # Set per request by ConnectionAdmin.get_form when the service refused the first attempt.
    service_error: ServiceError | None = None

    # One write-only input per credential field of any provider (CREDENTIAL_FIELDS); a form
    # keeps those of its connection's provider.
    new_api_key = _credential_input("api_key")
    new_access_token = _credential_input("access_token")
    new_webhook_secret = _credential_input("webhook_secret")
    new_consumer_key = _credential_input("consumer_key")
    new_consumer_secret = _credential_input("consumer_secret")
    new_token_id = _credential_input("token_id")
    new_token_secret = _credential_input("token_secret")
    new_client_id = _credential_input("client_id")
    new_certificate_id = _credential_input("certificate_id")
    new_private_key = _credential_input("private_key")

    class Meta:
        model = Connection
        fields = list(EDITABLE_FIELDS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        wanted = {CREDENTIAL_INPUT_PREFIX + name for name in CREDENTIAL_FIELDS.get(self.instance.provider, {})}
        for name in [f for f in self.fields if f.startswith(CREDENTIAL_INPUT_PREFIX) and f not in wanted]:
            del self.fields[name]  # another provider's credential

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        error = self.service_error
        if error is not None:  # "credentials" (the set as a whole) has no one input: shown above the form
            self.add_error(error.field if error.field in self.fields else None, str(error))
        return data

    def credentials(self) -> dict[str, str]:
        """The credential fields typed into the form (blank ones keep their stored value)."""
        prefix = CREDENTIAL_INPUT_PREFIX
        return {
            name[len(prefix) :]: value for name, value in self.cleaned_data.items() if name.startswith(prefix) and value
        }


@admin.register(Connection)
class ConnectionAdmin(ServiceFormMixin, ConsoleModelAdmin):
    """Settings and credentials are editable here; every write goes through the services, so
    it is validated and audited as the API's is. Credentials are never shown, only which fields
    are set (masked); a change of the address they are sent to needs them typed in again."""

    form = ConnectionForm
    list_display = ["name", "provider", "enabled", "status", "status_message", "last_sync_succeeded_at"]
    list_filter = ["provider", "enabled", "status"]
    search_fields = ["name", "account_id"]
    fields = [
        "name",
        "provider",
        "enabled",
        "base_url",
        "account_id",
        "backfill_start",
        "subsidiary_id",
        "netsuite_concurrency",
        "masked",
        "status",
        "status_message",
        "status_checked_at",
        "last_sync_succeeded_at",
        "last_sync_failed_at",
        "time_zone",
    ]
    readonly_fields = [
        "provider",
        "masked",
        "status",
        "status_message",
        "status_checked_at",
        "last_sync_succeeded_at",
        "last_sync_failed_at",
        "time_zone",
    ]
    actions = ["test_selected", "sync_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Created through the API: which credential fields the form needs depends on the
        # provider chosen in it, and connection_create checks the plan and the whole set.
        return False

    def get_fields(self, request: HttpRequest, obj: Connection | None = None) -> list[str]:
        fields = list(super().get_fields(request, obj))
        if obj is None or not self.has_change_permission(request, obj):
            return fields  # a read-only view has nothing to type in
        inputs = [CREDENTIAL_INPUT_PREFIX + name for name in CREDENTIAL_FIELDS.get(obj.provider, {})]
        at = fields.index("masked") + 1
        return fields[:at] + inputs + fields[at:]

    def get_form(self, request: HttpRequest, obj: Connection | None = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None and "base_url" in form.base_fields:  # (a read-only view has no inputs)
            form.base_fields["base_url"].help_text = (
                f"Changing {' or '.join(CREDENTIAL_ADDRESS_FIELDS[obj.provider])} needs the credentials typed "
                "in again: stored ones are never sent to a new address."
            )
        form.service_error = self.service_error(request)  # shown as the form's error
        return form

    def save_model(self, request: HttpRequest, obj: Connection, form: ConnectionForm, change: bool) -> None:
        # Only what the form changed goes to the service: an untouched field is not rewritten,
        # and the audit event names exactly what changed.
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in EDITABLE_FIELDS}
        credentials = form.credentials()
        if not changes and not credentials:
            return  # "Save" on an untouched form: nothing to write or to record
        try:
            connection_update(actor=request.user, connection=obj, credentials=credentials, **changes)
        except ServiceError as exc:
            raise ServiceRefusal(exc) from exc
        obj.refresh_from_db()  # as saved, for the admin's log entry and message

    def delete_view(self, request: HttpRequest, object_id: str, extra_context=None) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except ServiceRefusal as refusal:  # e.g. the connection has synced data
            self.message_user(request, str(refusal), messages.ERROR)
            return HttpResponseRedirect(request.path.removesuffix("delete/"))

    def delete_model(self, request: HttpRequest, obj: Connection) -> None:
        # The service removes the webhook route with the connection and records the deletion.
        try:
            connection_delete(actor=request.user, connection=obj)
        except ServiceError as exc:
            raise ServiceRefusal(exc) from exc

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        for connection in queryset.order_by("pk"):
            try:
                connection_delete(actor=request.user, connection=connection)
            except ServiceError as exc:
                self.message_user(request, f"{connection.name}: {exc}", messages.ERROR)

    @admin.display(description="Credentials")
    def masked(self, obj: Connection) -> str:
        return ", ".join(f"{k}: {v}" for k, v in obj.masked_credentials().items()) or "-"

    @admin.action(description="Test the selected connections", permissions=["test"])
    def test_selected(self, request: HttpRequest, queryset) -> None:
        for connection in queryset.order_by("pk"):
            ok, message = connection_test(actor=request.user, connection=connection)
            self.message_user(request, f"{connection.name}: {message}", messages.SUCCESS if ok else messages.ERROR)

    @admin.action(description="Sync the selected connections now", permissions=["sync"])
    def sync_selected(self, request: HttpRequest, queryset) -> None:
        for connection in queryset.order_by("pk"):
            try:
                job = sync_start(connection=connection, actor=request.user, trigger="admin")
            except ServiceError as exc:
                self.message_user(request, f"{connection.name}: {exc}", messages.WARNING)
                continue
            self.message_user(request, f"{connection.name}: sync queued (job {job.pk}).")

    def has_test_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("connections.test_connection")

    def has_sync_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("connections.sync_connection")


@admin.register(SyncJob)
class SyncJobAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "queued_at",
        "connection",
        "kind",
        "trigger",
        "status",
        "pages",
        "object_count",
        "created_count",
        "updated_count",
        "unchanged_count",
        "error_count",
    ]
    list_filter = ["status", "kind", "trigger", "connection"]
    date_hierarchy = "queued_at"


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyTenantAdmin):
    list_display = ["received_at", "connection", "event_type", "event_id", "sync_job"]
    list_filter = ["connection", "event_type"]
    search_fields = ["event_id"]
