from django.apps import AppConfig


class UsageConfig(AppConfig):
    """Metered usage, product events and limit enforcement."""

    name = "usage"
