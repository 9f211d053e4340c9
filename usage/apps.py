from django.apps import AppConfig


class UsageConfig(AppConfig):
    """Metered usage, product events and limit enforcement."""

    name = "usage"

    def ready(self) -> None:
        from usage import signals  # noqa: F401 - connects the cache invalidation receivers
