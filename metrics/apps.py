from django.apps import AppConfig


class MetricsConfig(AppConfig):
    """Growth metrics for staff: revenue, funnel and loops, read from the other apps."""

    name = "metrics"
    verbose_name = "Growth metrics"
