from django.apps import AppConfig


class PqlConfig(AppConfig):
    """PQL scoring and the sales handoff queue."""

    name = "pql"
    verbose_name = "PQL"
