from django.contrib import admin

from metrics.models import ExchangeRate, MetricsSettings


@admin.register(MetricsSettings)
class MetricsSettingsAdmin(admin.ModelAdmin):
    """The one settings row: never added twice or deleted."""

    fields = [
        "churn_counted_at",
        "count_same_month_cancel",
        "reactivation_window_days",
        "trials_count_as_mrr",
        "reporting_currency",
        "updated_at",
    ]
    readonly_fields = ["updated_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    list_display = ["currency", "rate", "recorded_at"]
