from django.apps import AppConfig


class PqlConfig(AppConfig):
    """PQL scoring and the sales handoff queue."""

    name = "pql"
    verbose_name = "PQL"

    def ready(self) -> None:
        from pql import signals  # noqa: F401 - connects the lead-closing receivers
