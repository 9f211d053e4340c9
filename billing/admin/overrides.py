"""Django admin for overrides of one workspace (both staff groups): granted and revoked by
their services, so each is audited."""

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone

from billing.admin.forms import WorkspaceOverrideAdminForm
from billing.admin.seats import seats_granted_beyond_paid
from billing.models import WorkspaceOverride
from billing.services import override_grant, override_revoke


@admin.register(WorkspaceOverride)
class WorkspaceOverrideAdmin(admin.ModelAdmin):
    """Overrides are granted and revoked through their services (audited, cache dropped).
    Changing one revokes it and grants the new terms, so the audit log shows both."""

    form = WorkspaceOverrideAdminForm
    list_display = [
        "workspace",
        "overrides",
        "value",
        "expires_at",
        "is_active",
        "granted_by",
        "reason",
    ]
    list_display_links = ["workspace", "overrides"]
    list_select_related = ["workspace", "granted_by"]
    list_filter = ["metric", "feature"]
    search_fields = ["workspace__name", "workspace__slug", "reason"]
    autocomplete_fields = ["workspace"]
    readonly_fields = ["granted_by", "created_at", "seats_billed"]
    fieldsets = [
        (None, {"fields": ["workspace"]}),
        ("A limit", {"fields": ["metric", "limit", "enforcement", "seats_billed"]}),
        ("Or a feature", {"fields": ["feature", "enabled"]}),
        (None, {"fields": ["reason", "expires_at", "granted_by", "created_at"]}),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: WorkspaceOverride | None = None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly.append("workspace")  # new terms for the same workspace, never another's
        return readonly

    @admin.display(description="Override of")
    def overrides(self, override: WorkspaceOverride) -> str:
        return override.metric_id or override.feature_id or ""

    @admin.display(description="Limit or feature")
    def value(self, override: WorkspaceOverride) -> str:
        if override.metric_id:
            limit = "unlimited" if override.limit is None else override.limit
            return f"{limit} ({override.enforcement})"
        return "on" if override.enabled else "off"

    @admin.display(description="Active", boolean=True)
    def is_active(self, override: WorkspaceOverride) -> bool:
        return override.is_active(timezone.now())

    @admin.display(description="Seats beyond those paid")
    def seats_billed(self, override: WorkspaceOverride) -> str:
        """A seat override raises what the workspace may use; billing still charges the
        seats paid."""
        if override.pk is None or override.metric_id != "seats":
            return "—"
        return seats_granted_beyond_paid(override.workspace_id) or "none: not above the seats paid"

    def save_model(self, request: HttpRequest, obj: WorkspaceOverride, form, change: bool) -> None:
        if change:
            if not form.has_changed():
                return
            override_revoke(override=WorkspaceOverride.objects.get(pk=obj.pk), actor=request.user)
        granted = override_grant(
            workspace=obj.workspace,
            actor=request.user,
            reason=obj.reason,
            metric=obj.metric_id,
            limit=obj.limit,
            enforcement=obj.enforcement,
            feature=obj.feature_id,
            enabled=obj.enabled,
            expires_at=obj.expires_at,
        )
        # The admin carries on with ``obj`` (change log, message, redirect): make it the
        # granted row.
        for field in WorkspaceOverride._meta.concrete_fields:
            setattr(obj, field.attname, getattr(granted, field.attname))
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: WorkspaceOverride) -> None:
        override_revoke(override=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for override in queryset.select_related("workspace"):
            override_revoke(override=override, actor=request.user)
