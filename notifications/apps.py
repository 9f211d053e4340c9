from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Telling workspace owners and admins at the right moment: usage alerts, trial,
    payment and subscription e-mails, every message recorded."""

    name = "notifications"

    def ready(self) -> None:
        from notifications import receivers  # noqa: F401 - reacts to usage and billing signals
