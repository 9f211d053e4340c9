from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from notifications.models import AlertThreshold, Notification, UsageAlert


@admin.register(AlertThreshold)
class AlertThresholdAdmin(admin.ModelAdmin):
    """Billing admins choose at which shares of a limit owners and admins are told."""

    list_display = ["percent", "is_active"]
    list_editable = ["is_active"]

    def changelist_view(self, request, extra_context=None):
        extra_context = (extra_context or {}) | {
            "subtitle": format_html(
                'What the messages say: <a href="{}">the message templates</a>.',
                reverse("notification_templates"),
            )
        }
        return super().changelist_view(request, extra_context)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(UsageAlert)
class UsageAlertAdmin(ReadOnlyAdmin):
    list_display = [
        "workspace",
        "metric",
        "threshold",
        "period_start",
        "used",
        "limit",
        "created_at",
    ]
    list_filter = ["metric", "threshold"]
    list_select_related = ["workspace"]
    search_fields = ["workspace__name", "workspace__slug"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["subject", "recipient", "workspace", "kind", "channel", "created_at", "sent_at"]
    list_filter = ["kind", "channel"]
    list_select_related = ["recipient", "workspace"]
    search_fields = ["recipient__email", "workspace__name", "cause"]
