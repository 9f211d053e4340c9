"""Admin of usage: metric definitions (read-only), the activation rule, product events."""

from django.contrib import admin

from usage.models import ActivationRule, Metric, ProductEvent


@admin.register(Metric)
class MetricAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "unit", "aggregation", "reset_period", "is_metered"]
    readonly_fields = ["key"]  # the code, the limits and the API name a metric by its key

    def has_add_permission(self, request) -> bool:
        return False  # metrics are part of the product's code paths, added by migrations

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ActivationRule)
class ActivationRuleAdmin(admin.ModelAdmin):
    """The one rule that says when a workspace reached value (billing admins edit it)."""

    list_display = ["__str__", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return not ActivationRule.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ProductEvent)
class ProductEventAdmin(admin.ModelAdmin):
    list_display = ["occurred_at", "name", "workspace", "user_email"]
    list_filter = ["name"]
    list_select_related = ["workspace"]
    search_fields = ["workspace__name", "user_email", "name"]
    date_hierarchy = "occurred_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
