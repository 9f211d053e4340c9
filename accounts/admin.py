"""Django admin for accounts. Staff see what their group's permissions allow."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import ApiKey, AuditEvent, Invitation, Membership, User, Workspace


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_staff", "is_active", "date_joined"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
    search_fields = ["email", "full_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["full_name"]}),
        (
            "Permissions",
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]}),
    ]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = ["user", "role", "created_at"]
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # memberships are created by services (seat rules), not by hand


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "company_domain", "created_at", "activated_at", "is_demo"]
    search_fields = ["name", "slug", "company_domain", "former_slugs__slug"]
    list_filter = [
        ("activated_at", admin.EmptyFieldListFilter),
        ("deleted_at", admin.EmptyFieldListFilter),
        "is_demo",
    ]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at", "activated_at", "created_by", "is_demo", "deleted_at"]
    inlines = [MembershipInline]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "workspace", "role", "sent_at", "expires_at", "accepted_at"]
    list_select_related = ["workspace"]
    search_fields = ["email", "workspace__name"]
    exclude = ["token_hash"]
    readonly_fields = ["workspace", "email", "role", "invited_by", "accepted_by"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "prefix", "last_used_at", "revoked_at"]
    list_select_related = ["workspace"]
    search_fields = ["name", "prefix", "workspace__name"]
    exclude = ["secret_hash"]
    readonly_fields = ["workspace", "prefix", "created_by", "last_used_at"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "subject", "workspace", "actor"]
    list_filter = ["action"]
    list_select_related = ["workspace", "actor"]
    search_fields = ["subject", "workspace__name", "actor__email"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
